"""Measures trim() on the README's burst: 200 MiB of 32-byte blocks in an
unchecked pool, all freed, then trimmed.  Prints the process's RSS before the
burst, after it, after the frees and after the trim, and, over interleaved
rounds, the time of a trim against a bare walk of the same free lists
(sgi_pool_class_counts, which only follows the links) taken just before it.

Usage, from the repository root (so that this checkout's pool is imported):
  PYTHONPATH=. python scripts/measure_trim.py [--mib 200] [--rounds 5]"""

from __future__ import annotations

import argparse
import statistics
import time
from array import array

from pool._pool_c import ffi, lib

from pool import Pool


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    count = (args.mib << 20) // 32
    mib = 1 << 20
    walks, trims = [], []
    with Pool(checked=False) as pool:
        p = pool._handle()
        free = ffi.new("size_t[]", len(pool.class_sizes()))
        for r in range(args.rounds):
            before = rss()
            blocks: array[int] | None = pool.allocate_many(32, count)
            grown = rss()
            pool.deallocate_many(blocks, 32)
            blocks = None  # the address array's own memory goes back to the system
            freed = rss()
            t0 = time.perf_counter_ns()
            lib.sgi_pool_class_counts(p, free, ffi.NULL)  # a bare walk of the lists
            t1 = time.perf_counter_ns()
            released = pool.trim()
            t2 = time.perf_counter_ns()
            after = rss()
            walks.append(t1 - t0)
            trims.append(t2 - t1)
            st = pool.stats()
            print(
                f"round {r}: RSS before {before / mib:.1f} MiB,"
                f" burst +{(grown - before) / mib:.1f},"
                f" freed +{(freed - before) / mib:.1f}, trimmed +{(after - before) / mib:.1f}"
                f" ({100 * (after - before) / (count * 32):.2f}% of the burst);"
                f" released {released / mib:.1f} MiB in {st.released_chunks} chunks so far,"
                f" held {st.held / mib:.1f} MiB, heap_size {st.heap_size / mib:.1f} MiB;"
                f" walk {(t1 - t0) / 1e6:.1f} ms, trim {(t2 - t1) / 1e6:.1f} ms"
            )
    ratios = [t / w for t, w in zip(trims, walks)]
    print(
        f"trim / walk: median {statistics.median(ratios):.2f}"
        f" (min {min(ratios):.2f}, max {max(ratios):.2f}, {len(ratios)} rounds);"
        f" walk median {statistics.median(walks) / 1e6:.1f} ms,"
        f" trim median {statistics.median(trims) / 1e6:.1f} ms"
    )


if __name__ == "__main__":
    main()
