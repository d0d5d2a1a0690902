"""numpy small arrays with the sgi_pool handler vs numpy's default handler.

``python -m pool.bench.numpy_arrays [--repeats N]``: ns per create-and-drop of
np.empty(4) (and np.empty(1000), whose 8000 bytes are a large block), the two
handlers interleaved within one process, medians of the repeats.
"""

from __future__ import annotations

import argparse
import os
import sys
import timeit
from collections.abc import Sequence

import numpy as np

import pool.numpy as pool_numpy

from .._cli import positive_int
from .common import JsonObject, summarize
from .machine import machine_info
from .stability import warnings

NUMBER = 200_000


def per_call(statement: str) -> float:
    return min(timeit.repeat(statement, globals={"np": np}, number=NUMBER, repeat=3)) / NUMBER


CELLS = ("np.empty(4)", "np.empty(1000)")
HANDLERS = ("default", "sgi_pool")


def measure(repeats: int) -> list[JsonObject]:
    """One cell per statement: {"cell", "results": {handler: summary in ns}, "ratio"},
    the two handlers interleaved in every repeat."""
    times: dict[tuple[str, str], list[float]] = {}
    for r in range(repeats):
        for handler in HANDLERS if r % 2 == 0 else HANDLERS[::-1]:
            for statement in CELLS:
                if handler == "sgi_pool":
                    with pool_numpy.allocator():
                        t = per_call(statement)
                else:
                    t = per_call(statement)
                times.setdefault((statement, handler), []).append(t * 1e9)
    cells = []
    for statement in CELLS:
        results = {h: summarize(times[(statement, h)]) for h in HANDLERS}
        d, s = results["default"]["median"], results["sgi_pool"]["median"]
        cells.append(
            {"cell": statement, "results": results, "ratio": s / d, "numpy": np.__version__}
        )
    return cells


def table(cells: list[JsonObject]) -> str:
    lines = ["| cell | default handler | sgi_pool | ratio |", "|---|---:|---:|---:|"]
    for c in cells:
        d, s = c["results"]["default"], c["results"]["sgi_pool"]
        lines.append(
            f"| {c['cell']} | {d['median']:.1f} ns [{d['min']:.1f}-{d['max']:.1f}] "
            f"| {s['median']:.1f} ns [{s['min']:.1f}-{s['max']:.1f}] | {c['ratio']:.2f}x |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pool.bench.numpy_arrays", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--repeats", type=positive_int, default=7)
    args = parser.parse_args(argv)
    machine = machine_info()
    cells = measure(args.repeats)
    print(
        f"numpy {np.__version__}; {args.repeats} interleaved repeats, median [min-max] of "
        f"best-of-3 x {NUMBER}"
    )
    print(table(cells))
    run = {"machine": machine, "loadavg_end": list(os.getloadavg()), "numpy": cells}
    for line in warnings(run):
        print(f"WARNING: {line}" if not line.startswith("  ") else line, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
