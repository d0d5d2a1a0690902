"""numpy small arrays with the sgi_pool handler vs numpy's default handler.

``python -m pool.bench.numpy_arrays [--repeats N]``: ns per create-and-drop of
np.empty(4) (and np.empty(1000), whose 8000 bytes are a large block), the two
handlers interleaved within one process, medians of the repeats.
"""

from __future__ import annotations

import statistics
import sys
import timeit
from collections.abc import Sequence

from pool._cli import Parser, guarded, positive_int

NUMBER = 200_000


def per_call(statement: str) -> float:
    import numpy as np

    return min(timeit.repeat(statement, globals={"np": np}, number=NUMBER, repeat=3)) / NUMBER


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(
        prog="python -m pool.bench.numpy_arrays",
        description=__doc__.split("\n\n")[0],
        epilog="example: python -m pool.bench.numpy_arrays --repeats 3 (needs numpy)",
    )
    parser.add_argument(
        "--repeats", type=positive_int, default=7, metavar="N", help="interleaved repeats"
    )
    args = parser.parse_args(argv)
    try:  # after --help, which needs no numpy
        import numpy as np

        import pool.numpy as pool_numpy
    except ImportError as e:
        print(f"{parser.prog}: needs numpy ({e}): pip install numpy", file=sys.stderr)
        return 2
    cells = {"np.empty(4)": "np.empty(4)", "np.empty(1000)": "np.empty(1000)"}
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
    sys.exit(guarded(main, sys.argv[1:]))
