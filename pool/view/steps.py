"""`python -m pool demo --steps`: the algorithm one call at a time.

Runs the worked example of docs/algorithm.md, a heap-limit example (salvage,
a leftover and a refusal) and the start of a recorded trace through a Watch,
and after each call prints the steps of docs/algorithm.md it took, then the
chunk map and the free lists.  On a terminal it waits for Enter between calls;
when stdin is not a terminal (a pipe, a test) it prints every step.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from dataclasses import dataclass

from .._types import PoolFactory
from ..errors import PoolMemoryError
from .text import render, render_step
from .watch import TraceOp, Watch

# The worked example: trace IDs 0..6 for the calls 1..8 of the table.
WORKED_EXAMPLE_OPS = (
    ("a", 0, 8),
    ("a", 1, 8),
    ("a", 2, 24),
    ("a", 3, 200),
    ("f", 0, None),
    ("a", 4, 128),
    ("a", 5, 16),
    ("a", 6, 8),
)

# The picture "Salvage" (heap_limit 400), then a request that must be refused:
# allocate(120) finds the 8-byte tail left by salvage too small (3.2 pushes
# it), its chunk is refused and no list of 120 bytes or more has a block.
HEAP_LIMIT_OPS = (
    ("a", 0, 8),
    ("a", 1, 40),
    ("a", 2, 16),
    ("a", 3, 120),
    ("f", 1, None),
    ("a", 4, 40),
)

SMALL_TRACE = "sqlite3.trace.gz"  # shipped in pool/traces/data
SMALL_TRACE_OPS = 16


@dataclass(frozen=True)
class Example:
    title: str
    options: dict[str, object]
    ops: tuple[TraceOp, ...]


def shipped_trace(name: str = SMALL_TRACE, count: int = SMALL_TRACE_OPS) -> tuple[TraceOp, ...]:
    """The first `count` operations of a trace in pool/traces/data."""
    from pathlib import Path

    from ..traces import iter_trace

    path = Path(__file__).resolve().parent.parent / "traces" / "data" / name
    return tuple(itertools.islice(iter_trace(str(path)), count))


def examples() -> tuple[Example, ...]:
    return (
        Example(
            "The worked example of docs/algorithm.md (classic profile)", {}, WORKED_EXAMPLE_OPS
        ),
        Example(
            "Salvage, a leftover and a refusal under heap_limit=400",
            {"heap_limit": 400},
            HEAP_LIMIT_OPS,
        ),
        Example(
            f"The first {SMALL_TRACE_OPS} operations of the recorded trace {SMALL_TRACE}"
            " (sqlite3 :memory:)",
            {},
            shipped_trace(),
        ),
    )


def run_example(
    example: Example,
    out: Callable[[str], object] = print,
    pause: Callable[[], bool] | None = None,
    pool_factory: PoolFactory | None = None,
    width: int = 64,
) -> Watch:
    """Runs one Example through a Watch, printing each step and the picture after
    it; pause() is called between steps and returns False to stop.  Returns
    the Watch."""
    if pool_factory is None:
        from ..core import Pool

        default: PoolFactory = Pool  # so that mypy checks the **options call as a PoolFactory
        pool_factory = default
    pool = pool_factory(**example.options)
    watch = Watch(pool)
    shown = ", ".join(f"{k}={v}" for k, v in example.options.items()) or "default options"
    out(f"== {example.title}: {len(example.ops)} calls, {shown}")
    try:
        for op in example.ops:
            try:
                watch.apply(op)
                refusal = ""
            except PoolMemoryError as exc:
                refusal = f"      -> PoolMemoryError: {exc}"
            out("")
            if watch.last is not None:  # apply() always records its Step
                out(render_step(watch.last))
            if refusal:
                out(refusal)
            out(render(watch.watched_picture(), width=width))
            if pause is not None and not pause():
                return watch
    finally:
        pool.close()
    out("")
    return watch


def _terminal_pause() -> bool:
    try:
        answer = input("-- Enter: next call, q: quit -- ")
    except EOFError:
        return False
    return answer.strip().lower() not in ("q", "quit")


def main(out: Callable[[str], object] = print, interactive: bool | None = None) -> int:
    """Steps through every example; interactive (default: stdin is a terminal)
    waits for Enter between calls."""
    if interactive is None:
        interactive = sys.stdin.isatty()
    quit_asked: list[bool] = []

    def pause() -> bool:
        go_on = _terminal_pause()
        if not go_on:
            quit_asked.append(True)
        return go_on

    out(
        "Each call shows the steps of docs/algorithm.md it took (A.5 allocate, A.6 refill,"
        " A.7 chunk_alloc with its branches 1, 2, 3.1 ... 3.6, A.8 deallocate, A.9"
        " reallocate), then the chunk map and the free lists."
    )
    for example in examples():
        run_example(example, out=out, pause=pause if interactive else None)
        if quit_asked:
            break
    return 0
