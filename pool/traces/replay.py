"""Replaying a trace through a Pool, optionally in lockstep with the reference model."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from .._cli import Parser, positive_int
from .._matplotlib import check_figure
from .._types import PoolFactory, PoolLike
from .format import (
    Op,
    ReplayError,
    ReplayMismatch,
    TraceError,
    _checked_ops,
    format_op,
    read_trace,
)

# ---- replay ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayResult:
    """What a replay measured.

    peak_live_bytes  the most bytes requested by blocks live at the same time
                     (the sizes in the trace, not rounded to a class).
    held_bytes       the most bytes the pool held from the system at the same
                     time: its chunks (heap_size, less what trim() released)
                     plus its live large blocks, sampled after every operation
                     (after its trim, with trim_every).
                     This is the *peak* over the replay, not the value at the
                     end: since every live block lies in a chunk or is a large
                     block, held_bytes >= peak_live_bytes always.
    ratio            held_bytes / peak_live_bytes (nan for a trace that
                     allocates nothing): the pool's memory overhead.
    final_held_bytes what the pool held after the last operation
                     (stats().held, before the pool is closed).
    final_heap_size  its chunk bytes then.
    final_live_bytes bytes still live after the last operation (leaks, or a
                     truncated recording).
    seconds          wall time of the replay loop: the pool's calls plus the
                     replayer's own bookkeeping (ID table, counters, sampling
                     heap_size); not the parsing, nor the check.
    checked          True when the check against ReferencePool ran (and passed).
    """

    operations: int
    allocations: int
    frees: int
    reallocations: int
    peak_live_bytes: int
    held_bytes: int
    ratio: float
    final_held_bytes: int
    final_heap_size: int
    final_live_bytes: int
    seconds: float
    checked: bool = False
    trim_every: int = 0  # trim() after every N-th operation and the last (0: never)
    released_bytes: int = 0  # bytes those trims gave back


def _default_pool_factory() -> PoolFactory:
    from ..core import Pool  # lazily: pool.traces itself needs no compiled code

    return Pool


def _reference_like(pool: PoolLike) -> PoolLike:
    """A ReferencePool with the same options as pool."""
    try:
        from ..model.reference import ReferencePool
    except ImportError as e:
        raise ReplayError(
            f"the check needs pool.model.reference.ReferencePool, which cannot be imported: {e}"
        ) from e
    reference_type: PoolFactory = ReferencePool
    return reference_type(
        align=pool.align,
        max_small=pool.max_small,
        refill=pool.refill,
        checked=pool.checked,
        heap_limit=pool.heap_limit,
    )


def replay(
    trace_ops: Iterable[Iterable[object]],
    pool_factory: PoolFactory | None = None,
    check: bool = False,
    reference_factory: PoolFactory | None = None,
    trim_every: int = 0,
) -> ReplayResult:
    """Replays operations (tuples (op, id, size), e.g. read_trace(path))
    through a new pool from pool_factory() (default pool.Pool): "a" ->
    allocate(size), "f" -> deallocate(addr, size), "r" -> reallocate(addr,
    old, new).  The operations are validated and listed first, then replayed
    and timed; the pool is closed at the end.

    check=True then replays them again through a fresh pool and a
    ReferencePool (pool.model.reference; reference_factory() if given, else one with
    the pool's options) in lockstep, comparing after every operation the chunk
    sizes, heap_size, free_list_lengths() and stats().large_live/large_bytes
    (addresses differ by design); ReplayMismatch names the first operation
    after which they differ.  The numbers returned are those of the timed
    replay either way.

    trim_every=N calls the pool's trim() after every N-th operation and after
    the last (docs/algorithm.md B.13), in both replays; the lockstep compares
    the bytes each trim released and what the pools hold after it.

    Raises TraceError for an invalid operation (before replaying anything)
    and ReplayError when the pool raises (out of memory under a heap limit,
    for instance)."""
    ops = list(_checked_ops(trace_ops))
    if pool_factory is None:
        pool_factory = _default_pool_factory()
    if isinstance(trim_every, bool) or not isinstance(trim_every, int) or trim_every < 0:
        raise ValueError(f"trim_every must be an int >= 0 (0: never), got {trim_every!r}")
    result = _timed_replay(ops, pool_factory, trim_every)
    if check:
        _lockstep(ops, pool_factory, reference_factory, trim_every)
        result = dataclasses.replace(result, checked=True)
    return result


def _pool_error(number: int, op: Op, exc: BaseException | None) -> ReplayError:
    return ReplayError(
        f"operation {number} ({format_op(op)!r}): the pool raised {type(exc).__name__}: {exc}"
    )


def _timed_replay(ops: list[Op], pool_factory: PoolFactory, trim_every: int = 0) -> ReplayResult:
    pool = pool_factory()
    try:
        max_small = pool.max_small
        allocate, deallocate, reallocate = pool.allocate, pool.deallocate, pool.reallocate
        pool_type = type(pool)
        heap_prop = getattr(pool_type, "heap_size", None)
        heap_size: Callable[[], int] = (
            heap_prop.fget.__get__(pool)
            if isinstance(heap_prop, property) and heap_prop.fget is not None
            else lambda: pool.heap_size
        )
        trim: Callable[[], int] = getattr(pool, "trim", lambda: 0)
        addrs: dict[int, int] = {}
        sizes: dict[int, int] = {}
        live = peak_live = large = held = released = 0
        last = len(ops)
        counts = {"a": 0, "f": 0, "r": 0}
        number = 0
        # for the checker: sizes are ints but an "f"'s (None), which the loop does not read
        sized = cast("list[tuple[str, int, int]]", ops)
        start = time.perf_counter()
        try:
            for number, (kind, ident, size) in enumerate(sized, 1):  # noqa: B007 (the error names it)
                if kind == "a":
                    addrs[ident] = allocate(size)
                    sizes[ident] = size
                    live += size
                    if size > max_small:
                        large += size
                elif kind == "f":
                    old = sizes.pop(ident)
                    deallocate(addrs.pop(ident), old)
                    live -= old
                    if old > max_small:
                        large -= old
                    if trim_every and (number % trim_every == 0 or number == last):
                        released += trim()
                    continue  # a free never raises what the pool holds
                else:
                    old = sizes[ident]
                    addrs[ident] = reallocate(addrs[ident], old, size)
                    sizes[ident] = size
                    live += size - old
                    if old > max_small:
                        large -= old
                    if size > max_small:
                        large += size
                if live > peak_live:
                    peak_live = live
                if trim_every and (number % trim_every == 0 or number == last):
                    released += trim()
                now = heap_size() - released + large
                if now > held:
                    held = now
        except Exception as e:
            raise _pool_error(number, ops[number - 1], e) from e
        seconds = time.perf_counter() - start
        for kind, _, _ in ops:
            counts[kind] += 1
        st = pool.stats()
        return ReplayResult(
            operations=len(ops),
            allocations=counts["a"],
            frees=counts["f"],
            reallocations=counts["r"],
            peak_live_bytes=peak_live,
            held_bytes=held,
            ratio=held / peak_live if peak_live else float("nan"),
            final_held_bytes=st.held,
            final_heap_size=st.heap_size,
            final_live_bytes=live,
            seconds=seconds,
            trim_every=trim_every,
            released_bytes=released,
        )
    finally:
        pool.close()


def _observe(pool: PoolLike) -> tuple[tuple[str, object], ...]:
    st = pool.stats()
    return (
        ("chunk sizes", [s for _, s in pool.chunks()]),
        ("heap_size", pool.heap_size),
        ("free_list_lengths()", tuple(pool.free_list_lengths())),
        ("stats().large_live", st.large_live),
        ("stats().large_bytes", st.large_bytes),
        ("stats().held", st.held),
    )


def _describe_difference(name: str, mine: object, theirs: object) -> str:
    if isinstance(mine, (list, tuple)) and isinstance(theirs, (list, tuple)):
        for i, (x, y) in enumerate(zip(mine, theirs)):
            if x != y:
                return (
                    f"{name} differ at index {i}: Pool {x}, ReferencePool {y}"
                    f" (lengths {len(mine)} and {len(theirs)})"
                )
        return f"{name} differ in length: Pool {len(mine)}, ReferencePool {len(theirs)}"
    return f"{name}: Pool {mine}, ReferencePool {theirs}"


def _lockstep(
    ops: Sequence[Op],
    pool_factory: PoolFactory,
    reference_factory: PoolFactory | None,
    trim_every: int = 0,
) -> int:
    """Replays ops through a fresh pool and a ReferencePool with the testing
    engine (pool.testing.diff.Lockstep), comparing after every operation."""
    from ..testing.diff import Divergence, Lockstep

    class TraceLockstep(Lockstep):
        """The engine, reporting in a trace's terms: operation numbers, the
        trace's own notation, and a pool error as the replay's error."""

        where = ""
        number: int  # the trace operation being applied (1-based)
        trace_op: Op

        def mismatch(self, op: object, outcomes: Sequence[tuple[str, object]]) -> None:
            def show(side: Any, outcome: tuple[str, object]) -> str:  # side: diff.Side
                if outcome[0] == "ok":
                    return "succeeded"
                return f"raised {outcome[1]}: {side.last_error}"

            mine, theirs = (show(s, o) for s, o in zip(self.sides, outcomes))
            raise ReplayMismatch(f"{self.where}: Pool {mine}, ReferencePool {theirs}")

        def agreed(self, op: object, outcome: tuple[str, object]) -> None:
            if outcome[0] != "ok":  # both refused: the trace cannot go on
                exc = self.sides[0].last_error
                raise _pool_error(self.number, self.trace_op, exc) from exc

        def check(self, after: object = None) -> None:
            pool, ref = (side.pool for side in self.sides)
            for (name, a), (_, b) in zip(_observe(pool), _observe(ref)):
                if a != b:
                    raise ReplayMismatch(f"after {self.where}: {_describe_difference(name, a, b)}")

    pool = pool_factory()
    ref: PoolLike | None = None
    try:
        ref = reference_factory() if reference_factory is not None else _reference_like(pool)
        step = TraceLockstep({}, lambda: pool, lambda: ref)
        engine_op = {
            "a": lambda i, n: ("alloc", i, n),
            "f": lambda i, n: ("free", i),
            "r": lambda i, n: ("realloc", i, n),
        }
        for number, op in enumerate(ops, 1):
            kind, ident, size = op
            step.number, step.trace_op = number, op
            step.where = f"operation {number} ({format_op(op)!r})"
            try:
                step.apply(engine_op[kind](ident, size))  # type: ignore[no-untyped-call]
                if trim_every and (number % trim_every == 0 or number == len(ops)):
                    step.where += " and the trim() after it"
                    step.apply(("trim",))  # the bytes released are compared too
            except Divergence as e:  # e.g. a block that lost its contents
                raise ReplayMismatch(f"after {step.where}: {e}") from e
        return len(ops)
    finally:
        pool.close()
        if ref is not None:
            ref.close()


# ---- command line ----------------------------------------------------------------------


def _report(path: str, result: ReplayResult, options: str) -> str:
    per_op = result.seconds / result.operations * 1e6 if result.operations else 0.0
    lines = [
        f"trace             {path}",
        f"pool              Pool({options})",
        f"operations        {result.operations} ({result.allocations} allocate,"
        f" {result.frees} deallocate, {result.reallocations} reallocate)",
        f"peak live bytes   {result.peak_live_bytes}"
        "  (most bytes requested by blocks live at once)",
        f"held bytes        {result.held_bytes}"
        "  (most bytes held from the system at once: chunks + live large blocks)",
        f"held / peak live  {result.ratio:.3f}",
        f"at the end        {result.final_live_bytes} bytes live, {result.final_held_bytes} held",
    ]
    if result.trim_every:
        lines.append(
            f"trim              after every {result.trim_every} operations and the last:"
            f" {result.released_bytes} bytes released in all"
        )
    lines += [
        f"time              {result.seconds:.3f} s ({per_op:.2f} us per operation)",
    ]
    if result.checked:
        lines.append(
            f"check             ReferencePool agreed after each of the"
            f" {result.operations} operations"
        )
    return "\n".join(lines)


def replay_main(argv: Sequence[str] | None = None, prog: str = "python -m pool replay") -> int:
    """`replay TRACE [--check]`: replays a trace through Pool and prints the
    report.  Returns the exit status: 0, 1 (mismatch or pool error) or 2
    (invalid trace)."""
    parser = Parser(
        prog=prog,
        description="Replay an allocation trace through pool.Pool and report"
        " operations, peak live bytes, bytes held from the system, their ratio and time.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  python -m pool replay sqlite3            a shipped trace, by its short name\n"
        "  python -m pool replay gcc-cc1 --check\n"
        "  python -m pool replay my.trace.gz --refill 64 --unchecked\n"
        "  python -m pool replay sqlite3 --trim-every 1000\n\n"
        "python -m pool traces lists the shipped traces.",
    )
    parser.add_argument(
        "trace",
        metavar="TRACE",
        help="trace file (.gz: gzipped), or the short name of a shipped trace (sqlite3)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="also replay through pool.model.reference.ReferencePool in lockstep"
        " and compare the pools' state after every operation (chunk sizes,"
        " heap_size, free-list lengths, large blocks); every block is filled"
        " with a pattern that must survive each reallocate: all of a block of"
        " up to 1 MiB, and of a larger one its first and last 4096 bytes and"
        " an 8-byte word at 254 offsets evenly between (so a trace naming huge"
        " sizes touches about 1 MiB of each block)",
    )
    parser.add_argument("--align", type=int, default=8, choices=(8, 16))
    parser.add_argument("--max-small", type=positive_int, default=128, metavar="N")
    parser.add_argument("--refill", type=positive_int, default=20, metavar="N")
    parser.add_argument(
        "--unchecked",
        action="store_true",
        help="replay through an unchecked pool (the raw SGI speed path)",
    )
    parser.add_argument(
        "--trim-every",
        type=positive_int,
        default=0,
        metavar="N",
        help="call the pool's trim() after every N operations and after the last:"
        " chunks whose blocks are all free go back to the system (held drops;"
        " the timelines mark each trim that released memory)",
    )
    parser.add_argument(
        "--plot",
        metavar="FILE.png",
        help="draw timelines: bytes held vs live, heap_size and chunks with"
        " refills/leftovers/salvages marked, live and free blocks per class"
        " (needs matplotlib)",
    )
    parser.add_argument(
        "--compare",
        nargs="+",
        metavar="OPTS",
        help="timelines of several option sets side by side, each NAME=VALUE"
        "[,NAME=VALUE] over the options above, e.g. refill=20 refill=64",
    )
    args = parser.parse_args(argv)
    from .shipped import resolve

    try:  # a file, or the short name of a shipped trace
        path = resolve(args.trace)
    except FileNotFoundError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    if args.plot or args.compare:  # what the timelines need, before the replay
        from ..view import figure
        from ..view.timeline import parse_options

        try:
            for text in args.compare or ():
                parse_options(text)
        except ValueError as e:
            print(f"{prog}: --compare: {e}", file=sys.stderr)
            return 2
        if args.plot:
            err = figure.missing_dependency()
            if err:
                print(f"{prog}: {err}", file=sys.stderr)
                return 2
            try:
                args.plot = check_figure(args.plot, "--plot", inputs=[path])
            except ValueError as e:
                print(f"{prog}: {e}", file=sys.stderr)
                return 2

    kwargs = dict(
        align=args.align, max_small=args.max_small, refill=args.refill, checked=not args.unchecked
    )
    options = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    try:
        pool_type = _default_pool_factory()
        pool_type(**kwargs).close()  # invalid options fail here, before reading the trace
        ops = read_trace(path)

        def factory() -> PoolLike:
            return pool_type(**kwargs)

        result = replay(ops, factory, check=args.check, trim_every=args.trim_every)
    except OSError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    except (TraceError, ValueError, TypeError, OverflowError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    except (ReplayMismatch, ReplayError) as e:
        print(f"{prog}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    shown = args.trace if path == args.trace else f"{args.trace} ({path})"
    print(_report(shown, result, options))
    if args.plot or args.compare:
        from ..view.cli import replay_timelines

        return replay_timelines(args, ops, kwargs, prog)
    return 0
