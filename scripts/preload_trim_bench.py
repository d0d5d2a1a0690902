"""RSS at the end and wall time of whole programs under libsgipool.so, with and
without its automatic trim, against glibc's malloc (docs/performance.md).

``python scripts/preload_trim_bench.py [--repeats N]`` runs the whole-program
workloads of pool/bench/programs.py (python3 with PYTHONMALLOC=malloc, sqlite3,
lua5.4) and a long-running program with a burst then a quiet phase
(tests/integrations/preload/trim_probe.c, mode quiet), each under glibc, the
pool with its trim (the default, pages included: docs/algorithm.md B.14), with
POOL_PRELOAD_TRIM=0, with the eager trim and with whole chunks only
(POOL_PRELOAD_TRIM_PAGES=0),
interleaved in a rotated order.  Each program reports its own RSS just before
it ends; peak RSS is the kernel's (ru_maxrss).  Prints medians and the spread
(min..max) of the repeats.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from pool import preload  # noqa: E402
from pool.bench.programs import LUA_JOB, PYTHON_JOB, SQLITE_JOB  # noqa: E402

END_RSS = re.compile(r"VmRSS:\s+(\d+) kB")  # /proc/PID/status, printed by the program


def workloads(scratch: str) -> list[tuple[str, list[str], str | None, dict[str, str]]]:
    python = shutil.which("python3") or sys.executable
    py = PYTHON_JOB + "print(open('/proc/self/status').read())\n"
    jobs = [("python3 (PYTHONMALLOC=malloc)", [python, "-c", py], None, {"PYTHONMALLOC": "malloc"})]
    if shutil.which("sqlite3"):
        sql = SQLITE_JOB + ".shell grep VmRSS /proc/$PPID/status\n"  # $PPID: sqlite3
        jobs.append(("sqlite3 200k inserts", ["sqlite3", ":memory:"], sql, {}))
    if shutil.which("lua5.4"):
        script = os.path.join(scratch, "job.lua")
        with open(script, "w") as f:
            f.write(LUA_JOB + 'print(io.open("/proc/self/status"):read("a"))\n')
        jobs.append(("lua5.4 tables/strings", ["lua5.4", script], None, {}))
    probe = os.path.join(scratch, "trim_probe")
    source = HERE / "tests" / "integrations" / "preload" / "trim_probe.c"
    subprocess.run(["gcc", "-std=c11", "-O2", str(source), "-o", probe, "-ldl"], check=True)
    quiet = f'{probe} quiet 200 2 | awk \'{{print "VmRSS:", $6, "kB"}}\''
    jobs.append(("burst 200 MiB, 2 s quiet", ["sh", "-c", quiet], None, {}))
    return jobs


def run_once(
    argv: list[str], stdin: str | None, env: dict[str, str]
) -> tuple[float, int, int, float]:
    """Wall seconds, peak RSS (KiB, of the process and its children), RSS at the end (KiB),
    CPU seconds (user + system)."""
    environ = dict(os.environ, **env)
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=environ,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    if stdin:
        proc.stdin.write(stdin)
    proc.stdin.close()
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    found = END_RSS.search(out)
    if proc.returncode != 0 or found is None:
        raise RuntimeError(f"{argv} failed ({proc.returncode}): {out[-300:]!r}")
    return elapsed, usage.ru_maxrss, int(found.group(1)), usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--only", metavar="TEXT", help="only the workloads whose name contains TEXT"
    )
    parser.add_argument(
        "--before",
        metavar="LIB",
        help="also run another build of libsgipool.so (e.g. the previous version's), "
        "with its trim, interleaved with the others",
    )
    args = parser.parse_args()
    library = preload.library_path()
    allocators = [
        ("glibc", {}),
        ("pool, trim", {"LD_PRELOAD": library}),
        ("pool, no trim", {"LD_PRELOAD": library, "POOL_PRELOAD_TRIM": "0"}),
        ("pool, eager", {"LD_PRELOAD": library, "POOL_PRELOAD_TRIM_EAGER": "1"}),
        ("trim, no pages", {"LD_PRELOAD": library, "POOL_PRELOAD_TRIM_PAGES": "0"}),
    ]
    if args.before:
        allocators.append(("before, trim", {"LD_PRELOAD": os.path.abspath(args.before)}))
    print(f"load average at start: {os.getloadavg()[0]:.1f}; {args.repeats} repeats")
    with tempfile.TemporaryDirectory() as scratch:
        for name, argv, stdin, env in workloads(scratch):
            if args.only and args.only not in name:
                continue
            runs: dict[str, list[tuple[float, int, int, float]]] = {a: [] for a, _ in allocators}
            for r in range(args.repeats):
                turn = r % len(allocators)
                order = allocators[turn:] + allocators[:turn]
                for label, extra in order:
                    runs[label].append(run_once(argv, stdin, {**env, **extra}))
            print(f"\n{name}")
            for label, _ in allocators:
                wall = [w for w, _, _, _ in runs[label]]
                peak = [p / 1024 for _, p, _, _ in runs[label]]
                end = [e / 1024 for _, _, e, _ in runs[label]]
                cpu = [c for _, _, _, c in runs[label]]
                print(
                    f"  {label:15} wall {statistics.median(wall):6.3f} s "
                    f"({min(wall):.3f}..{max(wall):.3f})  "
                    f"cpu {statistics.median(cpu):6.3f} s ({min(cpu):.3f}..{max(cpu):.3f})  "
                    f"peak {statistics.median(peak):6.1f} MiB  "
                    f"end {statistics.median(end):6.1f} MiB ({min(end):.1f}..{max(end):.1f})"
                )
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
