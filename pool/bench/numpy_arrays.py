"""numpy small arrays with the sgi_pool handler vs numpy's default handler.

``python -m pool.bench.numpy_arrays [--repeats N]``: ns per create-and-drop of
np.empty(4) (and np.empty(1000), whose 8000 bytes are a large block), and of
one step of a small-array workload (``(v * 2.0 + 1.0).sum()`` on a 3-element
array: two temporaries and a scalar), the handlers interleaved within one
process, medians of the repeats.  Three handlers: numpy's default as a fresh
thread has it (no context), numpy's default set explicitly in the context
(``default-set``: what any installed handler pays in numpy's lookup of the
context's handler, the handler itself unchanged), and the pool's.
``--clock cpu`` times with this thread's CPU time (time.thread_time) instead
of the wall clock: on a loaded machine a descheduled thread then adds nothing.
"""

from __future__ import annotations

import contextvars
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
# numpy's default as a thread without a context has it; numpy's default set in
# the context (numpy's cost of an installed handler, ours or any); the pool's
HANDLERS = ("default", "default-set", "sgi_pool")


def _set_default_then(glue: Any, statement: str, clock: str) -> float:
    glue.set_handler(None)  # numpy's PyDataMem_SetHandler(NULL): its default, set
    return per_call(statement, clock)


def measure(repeats: int, clock: str = "wall") -> list[JsonObject]:
    """One cell per statement: {"cell", "results": {handler: summary in ns}, "ratio"
    (sgi_pool / default), "ratio_to_set" (sgi_pool / default-set)}, the handlers
    interleaved in a rotated order in every repeat."""
    np, pool_numpy = _numpy()
    glue = pool_numpy._glue()
    times: dict[tuple[str, str], list[float]] = {}
    for r in range(repeats):
        turn = r % len(HANDLERS)
        for handler in HANDLERS[turn:] + HANDLERS[:turn]:
            for statement in CELLS:
                if handler == "sgi_pool":
                    with pool_numpy.allocator():
                        t = per_call(statement, clock)
                elif handler == "default-set":
                    # numpy's own default, set in a copy of this context (the run
                    # returns, the context as it was): its handler unchanged
                    t = contextvars.copy_context().run(_set_default_then, glue, statement, clock)
                else:
                    t = per_call(statement, clock)
                times.setdefault((statement, handler), []).append(t * 1e9)
    cells = []
    for statement in CELLS:
        results = {h: summarize(times[(statement, h)]) for h in HANDLERS}
        d, s = results["default"]["median"], results["sgi_pool"]["median"]
        cells.append(
            {
                "cell": statement,
                "results": results,
                "ratio": s / d,
                "ratio_to_set": s / results["default-set"]["median"],
                "numpy": np.__version__,
            }
        )
    return cells


def table(cells: list[JsonObject]) -> str:
    lines = [
        "| cell | default handler | default, set | sgi_pool | x default | x default-set |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for c in cells:
        row = " | ".join(
            f"{r['median']:.1f} ns [{r['min']:.1f}-{r['max']:.1f}]"
            for r in (c["results"][h] for h in HANDLERS)
        )
        lines.append(f"| {c['cell']} | {row} | {c['ratio']:.3f}x | {c['ratio_to_set']:.3f}x |")
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
