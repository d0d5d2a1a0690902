"""C++: std::map/list/set on std::allocator, __gnu_cxx::__pool_alloc and this pool."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .._progress import Progress
from .common import REPO, JsonObject, ratio, skipped, summarize

# ---- C++ containers ----------------------------------------------------------------------


# the checkout's csrc/ first (edits show at once), else the copy an installed
# package ships (build_pool.py's BuildPy), in the same layout
SHIPPED = Path(__file__).resolve().parent / "csrc"
SOURCE_DIRS = (REPO / "csrc", SHIPPED)


def find_sources() -> Path | None:
    """The folder holding the core's sources and, under it, the benchmark's
    containers.cpp (csrc/ and csrc/bench/ of a checkout), or None."""
    for csrc in SOURCE_DIRS:
        if (csrc / "bench" / "containers.cpp").is_file() and (csrc / "sgi_pool.c").is_file():
            return csrc
    return None


def run_containers(cfg: dict[str, int], clock: str, progress: Progress) -> JsonObject:
    csrc = find_sources()
    if csrc is None:
        return skipped(
            "its sources are missing: neither a checkout's csrc/ nor the installed"
            f" package's copy ({SHIPPED}); reinstall the package"
        )
    src = csrc / "bench" / "containers.cpp"
    gxx, gcc = shutil.which("g++"), shutil.which("gcc") or shutil.which("cc")
    if gxx is None or gcc is None:
        return skipped("g++ (and gcc) not found")
    with tempfile.TemporaryDirectory(prefix="pool-bench-") as tmp:
        objs = []
        cflags = ["-std=c11", "-O3", "-DNDEBUG", "-D_GNU_SOURCE", f"-I{csrc}"]
        try:
            for name in sorted(p.name for p in csrc.glob("*.c")):
                obj = os.path.join(tmp, name.replace(".c", ".o"))
                subprocess.run(
                    [gcc, *cflags, "-c", str(csrc / name), "-o", obj],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                objs.append(obj)
            exe = os.path.join(tmp, "containers")
            subprocess.run(
                [gxx, "-std=c++17", "-O2", f"-I{csrc}", str(src), *objs, "-o", exe, "-lpthread"],
                check=True,
                capture_output=True,
                text=True,
            )
        except subprocess.CalledProcessError as e:
            return skipped(f"compiling {src.name} failed: {(e.stderr or '').strip()[:500]}")
        progress.step("C++ containers: compiled")
        env = dict(os.environ)
        env.pop("GLIBCXX_FORCE_NEW", None)  # would turn __pool_alloc into plain new
        proc = subprocess.run(
            [exe, str(cfg["repeat"]), str(cfg["cxx_rounds"]), str(cfg["cxx_n"]), clock],
            check=False,
            capture_output=True,
            text=True,
            env=env,
        )
    progress.step("C++ containers: ran")
    if proc.returncode != 0:
        return skipped(f"containers exited {proc.returncode}: {proc.stderr.strip()[:500]}")
    raw = json.loads(proc.stdout)
    out: JsonObject = {
        k: raw[k] for k in ("repeats", "rounds", "n", "clock", "compiler", "glibcxx_force_new")
    }
    out["unit"] = "ns/element"
    out["cells"] = []
    for container, by_alloc in raw["results"].items():
        res = {name: summarize(s) for name, s in by_alloc.items()}
        out["cells"].append(
            {
                "container": container,
                "results": res,
                "ratio_to_pool_alloc": {
                    n: ratio(c, res.get("__pool_alloc")) for n, c in res.items()
                },
                "ratio_to_std_allocator": {
                    n: ratio(c, res.get("std::allocator")) for n, c in res.items()
                },
            }
        )
    return out
