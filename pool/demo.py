"""`python -m pool demo`: the SGI algorithm at work, step by step, on a real pool."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Optional, TypeVar

from ._cli import Parser
from ._types import PoolFactory, PoolLike
from .core import Pool
from .errors import InvalidBlockError, PoolMemoryError, SizeClassError

# the demo uses only what Pool shares with ReferencePool
_new_pool: PoolFactory = Pool
Out = Callable[[str], object]  # print, or a collector in tests
_Result = TypeVar("_Result", bound=Optional[int])  # a demo call returns an address or None

NOTATION = (
    "  Notation: A+304 is offset 304 in chunk A, the pool's first chunk (B the second,"
    " ...);\n  a free list is shown as block size: length."
)


def _where(addr: int, chunks: Sequence[tuple[int, int]]) -> str:
    for i, (base, size) in enumerate(chunks):
        if base <= addr < base + size:
            return f"{'ABCDEFGH'[i] if i < 8 else i}+{addr - base}"
    return "a large block"


def _lists(pool: PoolLike) -> str:
    return (
        ", ".join(
            f"{size}: {n}" for size, n in zip(pool.class_sizes(), pool.free_list_lengths()) if n
        )
        or "none"
    )


def worked_example(out: Out = print) -> None:
    """The worked example of docs/algorithm.md, run live."""
    out("The worked example (empty pool, classic profile):")
    out(NOTATION)
    out(f"  {'call':<20} {'returns':<28} {'heap_size':>9}  non-empty free lists (size: length)")
    with _new_pool() as pool:
        live: dict[str, int] = {}

        def step(label: str, fn: Callable[[], _Result]) -> _Result:
            result = fn()
            shown = "-" if result is None else _where(result, pool.chunks())
            out(f"  {label:<20} {shown:<28} {pool.heap_size:>9}  {_lists(pool)}")
            return result

        live["a0"] = step("allocate(8)", lambda: pool.allocate(8))
        step("allocate(8)", lambda: pool.allocate(8))
        step("allocate(24)", lambda: pool.allocate(24))
        big = step("allocate(200)", lambda: pool.allocate(200))

        def free_a0() -> None:
            pool.deallocate(live["a0"], 8)

        step("deallocate(A+0, 8)", free_a0)
        step("allocate(128)", lambda: pool.allocate(128))
        step("allocate(16)", lambda: pool.allocate(16))
        step("allocate(8)", lambda: pool.allocate(8))
        out(
            f"  chunks: {[size for _, size in pool.chunks()]} bytes; "
            f"large blocks: {pool.stats().large_bytes} bytes"
        )
        pool.deallocate(big, 200)


def checked_mode(out: Out = print) -> None:
    out("\nChecked mode refuses bad frees and changes nothing:")
    with _new_pool() as pool:
        a = pool.allocate(24)
        calls: list[tuple[str, Callable[[], None]]] = [
            ("deallocate(a, 100)", lambda: pool.deallocate(a, 100)),
            ("deallocate(a + 8, 24)", lambda: pool.deallocate(a + 8, 24)),
        ]
        for label, call in calls:
            try:
                call()
            except (SizeClassError, InvalidBlockError) as exc:
                out(f"  {label}: {type(exc).__name__}: {exc}")
        pool.deallocate(a, 24)


def heap_limit(out: Out = print) -> None:
    out("\nA heap limit of 400 bytes (docs/algorithm.md's refusal example):")
    with _new_pool(heap_limit=400) as pool:
        pool.allocate(8)
        pool.allocate(120)
        try:
            pool.allocate(120)
        except PoolMemoryError as exc:
            out(f"  allocate(120): PoolMemoryError: {exc}")
        out(
            f"  afterwards: heap_size {pool.heap_size}, lists {_lists(pool)}, "
            f"current chunk {pool.current_chunk()}"
        )

        def raise_limit(nbytes: int) -> bool:
            limit = pool.heap_limit
            assert limit is not None  # 400, set above
            pool.heap_limit = limit + nbytes
            return True

        pool.oom_handler = raise_limit
        pool.allocate(120)
        out(
            f"  with an oom handler that raises the limit: allocate(120) succeeds; "
            f"heap_size {pool.heap_size}, handler calls {pool.stats().oom_handler_calls}"
        )


def batch(out: Out = print, count: int = 100_000) -> None:
    out(f"\nBatch calls: {count} blocks of 32 bytes")
    with _new_pool(checked=False) as pool:
        t0 = time.perf_counter()
        addrs = pool.allocate_many(32, count)
        t1 = time.perf_counter()
        pool.deallocate_many(addrs, 32)
        t2 = time.perf_counter()
        single = [pool.allocate(32) for _ in range(count)]
        t3 = time.perf_counter()
        st = pool.stats()
        out(
            f"  allocate_many: {(t1 - t0) / count * 1e9:.0f} ns/block; deallocate_many: "
            f"{(t2 - t1) / count * 1e9:.0f} ns/block; allocate() in a Python loop: "
            f"{(t3 - t2) / count * 1e9:.0f} ns/block (measured just now, one run)"
        )
        out(
            f"  held {st.held} bytes for {count * 32} requested "
            f"({st.held / (count * 32):.3f} bytes per byte)"
        )
        pool.deallocate_many(single, 32)


DESCRIPTION = """Runs the worked example of docs/algorithm.md on a real Pool, one call per line:
what each call returns, heap_size after it, and the non-empty free lists.  Then checked
mode refusing bad frees, the heap-limit example of Part B with an oom handler, and batch
calls with their measured time.

Notation: A+304 is the address at offset 304 in chunk A, the pool's first chunk (B is the
second chunk, and so on); "a large block" is one served by malloc (above max_small); a
free list is shown as "block size: length", e.g. "8: 19" is 19 blocks on the 8-byte list."""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m pool demo",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  python -m pool demo\n  python -m pool            (the same: demo is"
        " the default)\n  python -m pool demo --steps    (Enter: next call, q: quit)",
    )
    parser.add_argument(
        "--steps",
        action="store_true",
        help="one call at a time, redrawing the chunk map and free lists and "
        "naming the step of docs/algorithm.md taken",
    )
    return parser


def cli(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.steps:
        from .view import steps

        return steps.main()
    main()
    return 0


def main(out: Out = print) -> None:
    worked_example(out)
    checked_mode(out)
    heap_limit(out)
    batch(out)
