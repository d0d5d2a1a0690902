"""Issue 23's timed checked pair: the bench's C loops (pool._bench_c's
bench_pairs) for the unchecked thread-safe pool and the checked one, in thread
CPU time, side by side in one process: for each cell (LIFO, FIFO, churn at 16,
128 and mixed sizes, as `python -m pool bench`), a warm-up pass, then REPEAT
rounds that alternate the pools (the order rotating each round); the median
ns per pair of each pool and their ratio to `ts`.  The pools are made once and
run every cell in turn, as in the bench (so a cell's heap is what the cells
before it left).

Usage, from the repository root (so that this checkout's pool is imported),
under the exclusive timing lock:
  flock -x /tmp/timing.lock env PYTHONPATH=. python scripts/timed_pairs.py \\
      [--pools ts,checked] [--cells churn:16,lifo:mixed] [--repeat 7]
Pools: ts, checked, ts-nosize, checked-nosize, single."""

from __future__ import annotations

import argparse
import os
import statistics
from typing import Any

from pool._bench_c import ffi, lib

from pool.bench.common import CHURN_SEED, LIVE, _sizes_array

KINDS = {
    "single": "BENCH_POOL",
    "ts": "BENCH_POOL_TS",
    "checked": "BENCH_POOL_CHECKED",
    "ts-nosize": "BENCH_POOL_TS_NOSIZE",
    "checked-nosize": "BENCH_POOL_CHECKED_NOSIZE",
}
PATTERNS = {"lifo": "BENCH_LIFO", "fifo": "BENCH_FIFO", "churn": "BENCH_CHURN"}
CELLS = [f"{p}:{s}" for p in PATTERNS for s in ("16", "128", "mixed")]


def measure_cell(
    allocs: dict[str, Any], names: list[str], cell: str, repeat: int, pairs: int
) -> str:
    """One cell ("pattern:size"): a warm-up pass, then `repeat` alternating
    rounds; the row of medians."""
    pattern, size = cell.split(":")
    sizes = _sizes_array(size)
    buf = ffi.from_buffer("uint32_t[]", sizes)
    pat = getattr(lib, PATTERNS[pattern])

    def run(name: str) -> float:
        t = lib.bench_pairs(allocs[name], pat, buf, len(sizes) - 1, pairs, LIVE, CHURN_SEED)
        if t < 0:
            raise SystemExit(f"{name} {cell}: error {t}")
        return float(t) / pairs

    for name in names:  # warm-up pass
        run(name)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeat):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            samples[name].append(run(name))
    med = {name: statistics.median(v) for name, v in samples.items()}
    base = med.get("ts")
    row = [f"{pattern:6} {size:6}"]
    for name in names:
        ratio = f" ({med[name] / base:.2f}x)" if base and name != "ts" else ""
        row.append(f"{name} {med[name]:6.2f}{ratio}")
    return "  ".join(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pools", default="ts,checked")
    parser.add_argument("--cells", default=",".join(CELLS))
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--pairs", type=int, default=1_000_000)
    args = parser.parse_args()
    names = args.pools.split(",")
    note = ffi.new("char[256]")
    allocs = {}
    for name in names:
        a = lib.bench_allocator_new(getattr(lib, KINDS[name]), note, 256)
        if a == ffi.NULL:
            raise SystemExit(f"{name}: {ffi.string(note).decode()}")
        allocs[name] = a
    lib.bench_set_clock(lib.BENCH_CLOCK_CPU)
    print(f"load average {os.getloadavg()[0]:.2f}; ns per pair, median of {args.repeat}")
    for cell in args.cells.split(","):
        print(measure_cell(allocs, names, cell, args.repeat, args.pairs), flush=True)
    for a in allocs.values():
        lib.bench_allocator_delete(a)


if __name__ == "__main__":
    main()
