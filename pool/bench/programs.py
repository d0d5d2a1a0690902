"""Whole programs under LD_PRELOAD allocators, side by side (mimalloc-bench style).

``python -m pool.bench.programs [--repeats N] [--json FILE]`` runs each workload
(CPython on an ast/json job, sqlite3 inserts, a Lua script) under glibc's
malloc (no preload), libsgipool.so, and libmimalloc.so / libjemalloc.so when
installed (Debian: libmimalloc2.0, libjemalloc2), preloaded the same way.
Runs are interleaved (every repeat runs every allocator, in a rotated order)
and the table gives the median wall time, its ratio to glibc's, and the
median peak RSS.  Wall time includes process start-up: these are whole runs.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from typing import Any

from pool import preload
from pool._atomic import atomic_open
from pool._cli import Parser, check_output, guarded, positive_int

from .common import summarize
from .machine import machine_info
from .stability import warnings

LIBDIRS = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"]
OTHERS = [("mimalloc", "libmimalloc.so.2"), ("jemalloc", "libjemalloc.so.2")]

PYTHON_JOB = textwrap.dedent("""\
    import ast, json
    source = open(ast.__file__).read() + open(json.__file__).read()
    for _ in range(6):
        tree = ast.parse(source)
        text = json.dumps([ast.dump(tree)] + [{"k": i, "v": [str(i)] * (i % 5)}
                                               for i in range(40000)])
        assert len(json.loads(text)) == 40001
""")

SQLITE_JOB = textwrap.dedent("""\
    CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER);
    CREATE INDEX t_name ON t(name);
    WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 200000)
      INSERT INTO t(name, grp) SELECT 'row-' || hex(i * 7919), i % 97 FROM c;
    SELECT grp, count(*) FROM t GROUP BY grp ORDER BY grp LIMIT 1;
""")

LUA_JOB = textwrap.dedent("""\
    local total = 0
    for r = 1, 6 do
      local t = {}
      for i = 1, 200000 do t[i] = {i, tostring(i), x = i * 0.5} end
      for i = 1, #t, 3 do t[i] = nil end
      local s = {}
      for i = 1, 50000 do s[#s + 1] = string.format("%d:%s", i, "ab") end
      total = total + #table.concat(s, ",")
    end
    print(total)
""")


def find_library(name: str) -> str | None:
    for d in LIBDIRS:
        path = os.path.join(d, name)
        if os.path.exists(path):
            return path
    return None


def allocators() -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = [("glibc", None), ("sgipool", preload.library_path())]
    for label, name in OTHERS:
        path = find_library(name)
        if path is not None:
            found.append((label, path))
    return found


def workloads(scratch: str) -> list[tuple[str, list[str], str | None, dict[str, str]]]:
    """(name, argv, stdin, extra environment) of each program that is installed."""
    jobs: list[tuple[str, list[str], str | None, dict[str, str]]] = []
    python = shutil.which("python3") or sys.executable
    # PYTHONMALLOC=malloc: CPython's objects go to malloc (pymalloc would serve them itself)
    jobs.append(
        (
            "python3 ast/json (PYTHONMALLOC=malloc)",
            [python, "-c", PYTHON_JOB],
            None,
            {"PYTHONMALLOC": "malloc"},
        )
    )
    jobs.append(("python3 ast/json (pymalloc)", [python, "-c", PYTHON_JOB], None, {}))
    if shutil.which("sqlite3"):
        jobs.append(("sqlite3 200k inserts", ["sqlite3", ":memory:"], SQLITE_JOB, {}))
    if shutil.which("lua5.4"):
        script = os.path.join(scratch, "job.lua")
        with atomic_open(script, "w") as f:
            f.write(LUA_JOB)
        jobs.append(("lua5.4 tables/strings", ["lua5.4", script], None, {}))
    return jobs


def run_once(
    argv: list[str], stdin: str | None, env: dict[str, str], library: str | None
) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in KiB, stdout of one run."""
    environ = dict(os.environ, **env)
    environ.pop("LD_PRELOAD", None)
    environ.pop("POOL_PRELOAD_STATS", None)
    if library is not None:
        environ["LD_PRELOAD"] = library
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environ,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    if stdin:
        proc.stdin.write(stdin)
    proc.stdin.close()
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} under {library or 'glibc'} failed: {err[-500:]}")
    return elapsed, usage.ru_maxrss, out


def measure(repeats: int) -> list[dict[str, Any]]:
    rows = []
    allocs = allocators()
    with tempfile.TemporaryDirectory() as scratch:
        for name, argv, stdin, env in workloads(scratch):
            times: dict[str, list[float]] = {a: [] for a, _ in allocs}
            rss: dict[str, list[int]] = {a: [] for a, _ in allocs}
            outputs: dict[str, set[str]] = {a: set() for a, _ in allocs}
            for r in range(repeats):
                order = allocs[r % len(allocs) :] + allocs[: r % len(allocs)]
                for label, library in order:
                    t, kib, out = run_once(argv, stdin, env, library)
                    times[label].append(t)
                    rss[label].append(kib)
                    outputs[label].add(out)
            reference = outputs["glibc"]
            base = statistics.median(times["glibc"])
            for label, _ in allocs:
                med = statistics.median(times[label])
                rows.append(
                    {
                        "workload": name,
                        "allocator": label,
                        "median_s": med,
                        **summarize(times[label]),  # median, min, max, samples (s)
                        "ratio": med / base,
                        "rss_kib": int(statistics.median(rss[label])),
                        "same_output": outputs[label] == reference,
                        "repeats": repeats,
                    }
                )
    return rows


def measure_pymem(repeats: int) -> dict[str, Any]:
    """The python ast/json job under plain python (pymalloc) and `python -m pool run`
    (the object domain on the pool), interleaved; medians."""
    plain: list[float] = []
    pooled: list[float] = []
    with tempfile.TemporaryDirectory() as scratch:
        script = os.path.join(scratch, "job.py")
        with atomic_open(script, "w") as f:
            f.write(PYTHON_JOB)
        for r in range(repeats):
            runs = [
                (plain, [sys.executable, script]),
                (pooled, [sys.executable, "-m", "pool", "run", script]),
            ]
            for times, argv in runs if r % 2 == 0 else runs[::-1]:
                times.append(run_once(argv, None, {}, None)[0])
    p, q = statistics.median(plain), statistics.median(pooled)
    return {
        "plain_s": p,
        "pool_run_s": q,
        "ratio": q / p,
        "repeats": repeats,
        "plain": summarize(plain),  # seconds
        "pool_run": summarize(pooled),
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| workload | allocator | median wall (s) | [min-max] | vs glibc | peak RSS (MiB) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        same = "" if row["same_output"] else " (output differs!)"
        spread = f"[{row['min']:.3f}-{row['max']:.3f}]" if "min" in row else "-"
        lines.append(
            f"| {row['workload']} | {row['allocator']}{same} | {row['median_s']:.3f} "
            f"| {spread} | {row['ratio']:.2f}x | {row['rss_kib'] / 1024:.1f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(
        prog="python -m pool.bench.programs",
        description=__doc__.split("\n\n")[0],
        epilog="example: python -m pool.bench.programs --repeats 3 --json programs.json",
    )
    parser.add_argument(
        "--repeats", type=positive_int, default=7, metavar="N", help="interleaved runs per cell"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    parser.add_argument(
        "--pymem-only",
        action="store_true",
        help="only python vs python -m pool run (the object domain)",
    )
    args = parser.parse_args(argv)
    if args.json:
        try:  # before the runs, not after them
            check_output(args.json, "--json")
        except ValueError as e:
            print(f"{parser.prog}: {e}", file=sys.stderr)
            return 2
    machine = machine_info()
    pymem = measure_pymem(args.repeats)
    print(
        f"python ast/json job: plain {pymem['plain_s']:.3f} s "
        f"[{pymem['plain']['min']:.3f}-{pymem['plain']['max']:.3f}], python -m pool run "
        f"{pymem['pool_run_s']:.3f} s [{pymem['pool_run']['min']:.3f}-"
        f"{pymem['pool_run']['max']:.3f}] ({pymem['ratio']:.2f}x), {args.repeats} interleaved "
        "repeats, medians [min-max]"
    )
    rows = [] if args.pymem_only else measure(args.repeats)
    if rows:
        print(f"{args.repeats} interleaved repeats, medians; {os.cpu_count()} CPUs")
        print(table(rows))
    run = {"machine": machine, "loadavg_end": list(os.getloadavg()), "pool_run": pymem}
    for line in warnings({**run, "programs": rows}):
        print(f"WARNING: {line}" if not line.startswith("  ") else line, file=sys.stderr)
    if args.pymem_only:
        return 0
    if args.json:
        with atomic_open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(guarded(main, sys.argv[1:]))
