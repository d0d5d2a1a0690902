"""The threads benchmark's 2- and 4-thread cells (pool._bench_c, the bench's own build and
loops) for issue 25's targets, RUNS independent runs in one process, rows trimmed to the three
the targets use (the cached shared pool, one pool per thread, glibc): per run and pattern,
the cached pool's throughput x glibc and x one pool per thread, 7 interleaved repeats each,
wall clock.  Prints a line of JSON per run, then per pattern the median [min-max] over the
runs of 4 threads' ratio to glibc divided by 2 threads' (the "no worse with 4" target) and of
2 threads x one pool per thread; OUT gets every run.

Usage (under flock -x /tmp/timing.lock): python scripts/threads_runs.py RUNS OUT.json"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from typing import Any

from pool.bench import threads as bench_threads
from pool.bench.common import PROFILES, _load_bench_c

ROWS = (bench_threads.CACHED, bench_threads.PER_THREAD, "glibc")


class _Quiet:
    def step(self, *_: Any) -> None:
        pass


def one_run(ffi: Any, lib: Any, cfg: dict[str, Any]) -> dict[str, Any]:
    start, load = time.time(), os.getloadavg()[0]
    cells = bench_threads.run_threads(ffi, lib, cfg, _Quiet(), 2)
    row: dict[str, Any] = {"load": round(load, 2), "secs": round(time.time() - start, 1)}
    for c in cells:
        key = f"{c['pattern']}x{c['threads']}"
        row[key] = [
            round(c["x_glibc"][bench_threads.CACHED], 3),
            round(c["x_per_thread"][bench_threads.CACHED], 3),
        ]
    return row


def summary(rows: list[dict[str, Any]]) -> list[str]:
    def spread(xs: list[float]) -> str:
        return f"{statistics.median(xs):.2f} [{min(xs):.2f}-{max(xs):.2f}]"

    out = []
    for pattern, *_ in bench_threads.THREAD_PATTERNS:
        four_vs_two = [r[f"{pattern}x4"][0] / r[f"{pattern}x2"][0] for r in rows]
        per_thread = [r[f"{pattern}x2"][1] for r in rows]
        out.append(
            f"{pattern:9} 4 vs 2 threads (x glibc): {spread(four_vs_two)}, >= 1 in "
            f"{sum(x >= 1 for x in four_vs_two)}/{len(rows)};  2 threads x one pool per "
            f"thread: {spread(per_thread)}"
        )
    return out


def main() -> int:
    runs, out = int(sys.argv[1]), sys.argv[2]
    bench_threads.THREAD_ALLOCATORS = [r for r in bench_threads.THREAD_ALLOCATORS if r[0] in ROWS]
    bench_threads.THREAD_PATTERNS = [
        (p, c, tuple(n for n in counts if n > 1), d)
        for p, c, counts, d in bench_threads.THREAD_PATTERNS
    ]
    ffi, lib = _load_bench_c()
    if lib is None or lib.bench_set_clock(lib.BENCH_CLOCK_WALL) != 0:
        print("pool._bench_c is not built, or has no wall clock", file=sys.stderr)
        return 2
    cfg = dict(PROFILES["full"])
    cfg["repeat"] = 7
    rows = []
    for _ in range(runs):
        rows.append(one_run(ffi, lib, cfg))
        print(json.dumps(rows[-1]), flush=True)
    print("\n".join(summary(rows)))
    with open(out, "w") as f:
        json.dump(rows, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
