"""Measures what `python -m pool run SCRIPT` costs against plain `python SCRIPT`:
the CPU time (user + system, of the child, from wait4) and the peak RSS
(ru_maxrss) of whole processes, start-up included, and their wall time.
Workloads: an empty script (start-up alone), the ast/json job of
`python -m pool.bench.programs` (pool/bench/programs.py's PYTHON_JOB), and
three programs of the `pyperformance` package (pip install pyperformance):
`richards`, `deltablue` and `json_loads`, each run as a script -- a small
driver that loads the benchmark's own file (pyperformance's
data-files/benchmarks/bm_NAME/run_benchmark.py, under a name other than
__main__, so pyperf's Runner and its worker processes stay out) and calls its
benchmark function a fixed number of times (PYPERFORMANCE below); skipped,
with a note, when pyperformance is not installed.  Runs
are interleaved (the order rotates each round); the table gives medians and
the ratios to plain python's medians of the same run.

`--tree DIR` (repeatable) adds `python -m pool run` from another checkout
(built, e.g. an older commit's tree with the same compiled modules), so that
two versions are compared side by side in one run.

The script compiles the package's bytecode in each tree first (`python -m compileall -q
pool`), as an installed package has it (pip compiles at install): without .pyc files
(PYTHONDONTWRITEBYTECODE=1, a fresh checkout) every run compiles the package's sources
again, which cost about 14 ms of CPU and 1.3 MiB of peak RSS per run here (2026-12-05),
and would be measured as the pool's start-up.

Usage, from the repository root (so that this checkout's pool is the one run):
  python scripts/measure_pool_run.py [--repeats 7] [--tree /tmp/old-checkout]
                                     [--workload empty] [--workload ast/json]
                                     [--workload richards] ..."""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time

from pool.bench.programs import PYTHON_JOB

GNU_TIME = "/usr/bin/time"  # GNU time (apt-get install time)

# pyperformance's programs: what the driver does with the benchmark's module `bm`
# (the calls of its `if __name__ == "__main__"` block, without pyperf's Runner),
# and how many times; about half a second each for plain python here.
PYPERFORMANCE = {
    "richards": ("bm.Richards().run(1)", 15),
    "deltablue": ("bm.delta_blue(100)", 150),
    "json_loads": (
        "bm.bench_json_loads((json.dumps(bm.DICT), json.dumps(bm.TUPLE), "
        "json.dumps(bm.DICT_GROUP)))",
        800,
    ),
}
DRIVER = """\
import importlib.util, json
spec = importlib.util.spec_from_file_location("bm_{name}", {path!r})
bm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bm)
for _ in range({loops}):
    {call}
"""
WORKLOADS = ["empty", "ast/json", *PYPERFORMANCE]


def pyperformance_file(name: str) -> str | None:
    """The installed pyperformance's run_benchmark.py of bm_NAME (None without it)."""
    spec = importlib.util.find_spec("pyperformance")  # locates it without importing it
    if spec is None or spec.origin is None:
        return None
    path = os.path.join(
        os.path.dirname(spec.origin), "data-files", "benchmarks", f"bm_{name}", "run_benchmark.py"
    )
    return path if os.path.exists(path) else None


def run_once(argv: list[str], cwd: str, scratch: str) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (KiB) of one run.
    The peak is GNU time's %M: a child forked by this (Python) process starts with
    this process's memory, and ru_maxrss keeps that peak across exec, which would
    raise plain python's small peak to this script's own; GNU time is a small C
    program.  The CPU time is wait4's (GNU time's own is a millisecond of it)."""
    report = os.path.join(scratch, "time.out")
    start = time.perf_counter()
    proc = subprocess.Popen(
        [GNU_TIME, "-f", "%M", "-o", report, *argv],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} failed: {err[-500:]!r}")
    with open(report) as f:
        peak = int(f.read().split()[-1])
    return wall, usage.ru_utime + usage.ru_stime, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--tree", action="append", default=[], help="another checkout")
    parser.add_argument("--workload", action="append", choices=WORKLOADS, help="default: all")
    args = parser.parse_args()
    here = os.getcwd()
    for tree in [here, *args.tree]:  # the .pyc files an installed package has (see above)
        subprocess.run([sys.executable, "-m", "compileall", "-q", "pool"], cwd=tree, check=True)
        where = subprocess.run(
            [sys.executable, "-c", "import pool; print(pool.__file__)"],
            cwd=tree,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if not where.startswith(os.path.join(os.path.abspath(tree), "")):
            sys.exit(f"{tree}: `import pool` there finds {where}, not this tree's package")
    with tempfile.TemporaryDirectory() as scratch:
        scripts = {"empty": os.path.join(scratch, "empty.py")}
        scripts["ast/json"] = os.path.join(scratch, "job.py")
        with open(scripts["empty"], "w"):
            pass
        for tree in [here, *args.tree]:  # each tree's first-use glue, compiled before timing
            warm = [sys.executable, "-m", "pool", "run", scripts["empty"]]
            subprocess.run(warm, cwd=tree, check=True)
        with open(scripts["ast/json"], "w") as f:
            f.write(PYTHON_JOB)
        for name, (call, loops) in PYPERFORMANCE.items():
            path = pyperformance_file(name)
            if path is None:
                print(f"{name}: skipped (no pyperformance here: pip install pyperformance)")
                continue
            scripts[name] = os.path.join(scratch, f"bm_{name}.py")
            with open(scripts[name], "w") as f:
                f.write(DRIVER.format(name=name, path=path, loops=loops, call=call))
        for workload, script in scripts.items():
            if args.workload and workload not in args.workload:
                continue
            variants = [("python", [sys.executable, script], here)]
            run = [sys.executable, "-m", "pool", "run", script]
            variants.append(("pool run", run, here))
            variants += [(f"pool run {tree}", run, tree) for tree in args.tree]
            results: dict[str, list[tuple[float, float, int]]] = {v[0]: [] for v in variants}
            for r in range(args.repeats):
                order = variants[r % len(variants) :] + variants[: r % len(variants)]
                for label, argv, cwd in order:
                    results[label].append(run_once(argv, cwd, scratch))
            base = [statistics.median(x[i] for x in results["python"]) for i in range(3)]
            print(f"{workload}: {args.repeats} interleaved runs, medians [min-max]")
            for label, runs in results.items():
                wall, cpu, rss = (sorted(x[i] for x in runs) for i in range(3))
                mw, mc, mr = (statistics.median(v) for v in (wall, cpu, rss))
                print(
                    f"  {label:<24} wall {mw:.3f} s ({mw / base[0]:.2f}x)"
                    f"  cpu {mc:.3f} s [{cpu[0]:.3f}-{cpu[-1]:.3f}] ({mc / base[1]:.2f}x)"
                    f"  peak RSS {mr / 1024:.1f} MiB [{rss[0] / 1024:.1f}-{rss[-1] / 1024:.1f}]"
                    f" ({mr / base[2]:.2f}x)"
                )
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
