"""`python -m pool show`: a picture of a pool's state.

    python -m pool show --example [--at N] [--text] [-o chunks.png]
    python -m pool show TRACE [--at N] [--text] [-o chunks.png] [pool options]

--example runs the worked example of docs/algorithm.md (8 calls); a TRACE is
replayed (its first N operations with --at N) through a watched Pool, so the
picture knows every live block and every leftover.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from .._cli import Parser, guarded, non_negative_int, positive_int
from .._matplotlib import check_figure
from .steps import WORKED_EXAMPLE_OPS

if TYPE_CHECKING:
    from .._types import PoolFactory
    from .watch import TraceOp


def build_parser(prog: str = "python -m pool show") -> argparse.ArgumentParser:
    p = Parser(
        prog=prog,
        description="Draw a pool's chunk map (every chunk granule by granule: live,"
        " free, leftover, uncarved tail, by size class; the current chunk marked) and its free"
        " lists, after the worked example or after N operations of a trace.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  python -m pool show --example --at 6 -o chunks.png\n"
        "  python -m pool show sqlite3 --at 500 --text     a shipped trace, by its short name\n"
        "  python -m pool show --example --align 16 --text\n"
        "  python -m pool show sqlite3 --trim --text       the whole trace, then a trim",
    )
    p.add_argument(
        "trace",
        nargs="?",
        metavar="TRACE",
        help="trace file (.gz: gzipped), or the short name of a shipped trace (sqlite3)",
    )
    p.add_argument(
        "--example",
        action="store_true",
        help="the worked example of docs/algorithm.md (the default without TRACE)",
    )
    p.add_argument(
        "--at", type=non_negative_int, metavar="N", help="stop after the first N operations"
    )
    p.add_argument(
        "--text", action="store_true", help="print the picture as text instead of drawing a figure"
    )
    p.add_argument(
        "-o",
        "--output",
        default="chunks.png",
        metavar="FILE",
        help="where the figure goes (PNG, SVG, PDF... by suffix, PNG without one;"
        " default chunks.png)",
    )
    p.add_argument(
        "--width", type=positive_int, default=64, help="granules per text row (default 64)"
    )
    p.add_argument("--align", type=int, default=8, choices=(8, 16))
    p.add_argument("--max-small", type=positive_int, default=128, metavar="N")
    p.add_argument("--refill", type=positive_int, default=20, metavar="N")
    p.add_argument("--heap-limit", type=int, metavar="BYTES")
    p.add_argument("--unchecked", action="store_true", help="an unchecked pool")
    p.add_argument(
        "--trim",
        action="store_true",
        help="call trim() after the operations: chunks whose blocks are all free go back"
        " to the system (the picture names how many, and what the pool still holds)",
    )
    p.add_argument(
        "--reference",
        action="store_true",
        help="replay through ReferencePool (pure Python) instead of Pool",
    )
    return p


def main(argv: Sequence[str] | None = None, prog: str = "python -m pool show") -> int:
    args = build_parser(prog).parse_args(argv)
    from ..errors import PoolMemoryError
    from ..traces import TraceError, iter_trace
    from . import figure, text
    from .watch import Watch

    if args.trace and args.example:
        print(f"{prog}: give TRACE or --example, not both", file=sys.stderr)
        return 2
    if args.trace:
        from ..traces.shipped import resolve

        try:  # a file, or the short name of a shipped trace
            args.trace = resolve(args.trace)
        except FileNotFoundError as e:
            print(f"{prog}: {e}", file=sys.stderr)
            return 2
    output = None
    if not args.text:
        err = figure.missing_dependency()
        if err:
            print(err, file=sys.stderr)
            return 2
        try:  # before the replay, not after it
            output = check_figure(args.output, "-o", inputs=[args.trace])
        except ValueError as e:
            print(f"{prog}: {e}", file=sys.stderr)
            return 2
    ops: Iterable[TraceOp]
    if args.trace:
        source, ops = args.trace, iter_trace(args.trace)
    else:
        source, ops = "the worked example", WORKED_EXAMPLE_OPS
    options = dict(
        align=args.align,
        max_small=args.max_small,
        refill=args.refill,
        checked=not args.unchecked,
        heap_limit=args.heap_limit,
    )
    try:
        pool_type: PoolFactory
        if args.reference:
            from ..model.reference import ReferencePool

            pool_type = ReferencePool
        else:
            from ..core import Pool

            pool_type = Pool
        pool = pool_type(**options)
    except (TypeError, ValueError, OverflowError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    with pool:
        watch = Watch(pool, keep=False)
        try:
            watch.run(ops, limit=args.at)
        except (OSError, TraceError) as e:  # the trace file: unreadable or not a trace
            print(f"{prog}: {e}", file=sys.stderr)
            return 2
        except PoolMemoryError as e:
            # a refusal is a Step of its own: watch.count is the operation's number
            print(f"{prog}: operation {watch.count}: PoolMemoryError: {e}", file=sys.stderr)
            return 1
        except (ValueError, TypeError, OverflowError, MemoryError) as e:
            # the pool refused an operation of a valid trace (as replay reports it)
            print(
                f"{prog}: operation {watch.count + 1}: the pool raised {type(e).__name__}: {e}",
                file=sys.stderr,
            )
            return 1
        title = f"{source} after {watch.count} operations"
        if args.trim:
            title += f", then trim() released {watch.trim()} bytes"
        pic = watch.watched_picture()
        if args.text:
            print(title)
            print(text.render(pic, width=args.width))
            return 0
        assert output is not None  # checked above, unless --text
        written = figure.draw_picture(pic, output, title=title)
    print(f"{title}: picture written to {written}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(guarded(main, sys.argv[1:]))


def replay_timelines(
    args: argparse.Namespace, ops: Iterable[TraceOp], base_options: dict[str, object], prog: str
) -> int:
    """`replay TRACE [--compare OPTS...] [--plot FILE]`: prints one summary line
    per option set and draws them; returns the exit status."""
    from . import figure
    from .timeline import compare, parse_options

    try:
        sets = [parse_options(text) for text in args.compare or ()]
    except ValueError as e:
        print(f"{prog}: --compare: {e}", file=sys.stderr)
        return 2
    if args.plot and figure.missing_dependency():
        print(f"{prog}: {figure.missing_dependency()}", file=sys.stderr)
        return 2
    try:
        timelines = compare(ops, base_options, sets, trim_every=getattr(args, "trim_every", 0))
    except (TypeError, ValueError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    print("timelines (sampled after every operation):")
    for tl in timelines:
        print("  " + tl.summary())
    if args.plot:
        written = figure.draw_timelines(
            timelines,
            args.plot,
            title=f"{args.trace}: the pool over the replay ({timelines[0].operations} operations)",
        )
        print(f"timelines written to {written}", file=sys.stderr)
    return 0
