"""numpy small arrays with the sgi_pool handler vs numpy's default handler.

``python -m pool.bench.numpy_arrays [--repeats N]``: ns per create-and-drop of
np.empty(4) (and np.empty(1000), whose 8000 bytes are a large block), and of
one step of a small-array workload (``(v * 2.0 + 1.0).sum()`` on a 3-element
array: two temporaries and a scalar), the two handlers interleaved within one
process, medians of the repeats.  ``--clock cpu`` times with this thread's CPU
time (time.thread_time) instead of the wall clock: on a loaded machine a
descheduled thread then adds nothing.
"""

from __future__ import annotations

import os
import sys
import time
import timeit
from collections.abc import Sequence
from typing import Any

from .._cli import Parser, guarded, positive_int
from .common import JsonObject, summarize
from .machine import machine_info
from .stability import warnings

NUMBER = 200_000


def _numpy() -> tuple[Any, Any]:
    """numpy and pool.numpy, imported when a measurement starts (so that --help
    and the rest of the benchmark need no numpy)."""
    import numpy as np

    import pool.numpy as pool_numpy

    return np, pool_numpy


CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


def per_call(statement: str, clock: str = "wall") -> float:
    np, _ = _numpy()
    names = {"np": np, "v": np.ones(3)}  # v: the small-array workload's operand
    timer = CLOCKS[clock]
    return (
        min(timeit.repeat(statement, timer=timer, globals=names, number=NUMBER, repeat=3)) / NUMBER
    )


# create-and-drop of a small and a large array, and a small-array workload
# (arithmetic on 3 floats: every temporary is a small block)
CELLS = ("np.empty(4)", "np.empty(1000)", "(v * 2.0 + 1.0).sum()")
HANDLERS = ("default", "sgi_pool")


def measure(repeats: int, clock: str = "wall") -> list[JsonObject]:
    """One cell per statement: {"cell", "results": {handler: summary in ns}, "ratio"},
    the two handlers interleaved in every repeat."""
    np, pool_numpy = _numpy()
    times: dict[tuple[str, str], list[float]] = {}
    for r in range(repeats):
        for handler in HANDLERS if r % 2 == 0 else HANDLERS[::-1]:
            for statement in CELLS:
                if handler == "sgi_pool":
                    with pool_numpy.allocator():
                        t = per_call(statement, clock)
                else:
                    t = per_call(statement, clock)
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
    parser = Parser(
        prog="python -m pool.bench.numpy_arrays",
        description=__doc__.split("\n\n")[0],
        epilog="example: python -m pool.bench.numpy_arrays --repeats 3 (needs numpy)",
    )
    parser.add_argument(
        "--repeats", type=positive_int, default=7, metavar="N", help="interleaved repeats"
    )
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall (default) or cpu: this thread's CPU time, steadier on a loaded machine",
    )
    args = parser.parse_args(argv)
    try:  # after --help, which needs no numpy
        np, _ = _numpy()
    except ImportError as e:
        print(f"{parser.prog}: needs numpy ({e}): pip install numpy", file=sys.stderr)
        return 2
    machine = machine_info()
    cells = measure(args.repeats, args.clock)
    print(
        f"numpy {np.__version__}; {args.repeats} interleaved repeats, median [min-max] of "
        f"best-of-3 x {NUMBER}, {args.clock} clock"
    )
    print(table(cells))
    run = {"machine": machine, "loadavg_end": list(os.getloadavg()), "numpy": cells}
    for line in warnings(run):
        print(f"WARNING: {line}" if not line.startswith("  ") else line, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(guarded(main, sys.argv[1:]))
