"""numpy small arrays with the sgi_pool handler vs numpy's default handler.

``python -m pool.bench.numpy_arrays [--repeats N]``: ns per create-and-drop of
np.empty(4) (and np.empty(1000), whose 8000 bytes are a large block), and of
one step of a small-array workload (``(v * 2.0 + 1.0).sum()`` on a 3-element
array: two temporaries and a scalar), the two handlers interleaved within one
process, medians of the repeats.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit
from collections.abc import Sequence

import numpy as np

import pool.numpy as pool_numpy

NUMBER = 200_000


def per_call(statement: str) -> float:
    names = {"np": np, "v": np.ones(3)}
    return min(timeit.repeat(statement, globals=names, number=NUMBER, repeat=3)) / NUMBER


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pool.bench.numpy_arrays", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    cells = {
        "np.empty(4)": "np.empty(4)",
        "np.empty(1000)": "np.empty(1000)",
        "(v * 2.0 + 1.0).sum(), v 3 floats": "(v * 2.0 + 1.0).sum()",
    }
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeats):
        for handler in ("default", "sgi_pool"):
            for name, statement in cells.items():
                if handler == "sgi_pool":
                    with pool_numpy.allocator():
                        t = per_call(statement)
                else:
                    t = per_call(statement)
                times.setdefault((name, handler), []).append(t)
    print(
        f"numpy {np.__version__}; {args.repeats} interleaved repeats, median of best-of-3 "
        f"x {NUMBER}"
    )
    print("| cell | default handler | sgi_pool | ratio |\n|---|---:|---:|---:|")
    for name in cells:
        d = statistics.median(times[(name, "default")]) * 1e9
        s = statistics.median(times[(name, "sgi_pool")]) * 1e9
        print(f"| {name} | {d:.1f} ns | {s:.1f} ns | {s / d:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
