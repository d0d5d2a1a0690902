"""Timelines of a trace replay: what the pool holds, operation by operation.

`collect(ops, options)` replays trace operations through a watched pool and
keeps, after every operation, each class's live and free blocks, heap_size,
the chunks obtained, the bytes held from the system and the bytes the trace
has live (its requested sizes), and the operations at which a refill, a new
chunk, a leftover, a salvage or a refusal happened (named by the Watch from
the pool's counters; see watch.py).  `figure.draw_timelines` draws them; two
option sets side by side compare (`python -m pool replay TRACE --compare
refill=20 refill=64 --plot out.png`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .._types import PoolFactory
from ..errors import PoolMemoryError
from .watch import TraceOp, Watch

EVENTS = ("refill", "chunk", "leftover", "salvage", "refused", "trim")


@dataclass
class Timeline:
    label: str  # the option set, e.g. "refill=64"
    options: dict[str, object]
    class_sizes: tuple[int, ...]
    live: list[list[int]] = field(default_factory=list)  # per class: live blocks after op i
    free: list[list[int]] = field(default_factory=list)  # per class: free blocks after op i
    heap_size: list[int] = field(default_factory=list)
    chunks: list[int] = field(default_factory=list)
    held: list[int] = field(default_factory=list)  # chunks + live large blocks
    released: list[int] = field(default_factory=list)  # bytes trim() gave back so far
    released_chunks: int = 0  # chunks trim() gave back over the replay
    live_bytes: list[int] = field(default_factory=list)  # requested bytes of live blocks
    events: dict[str, list[int]] = field(default_factory=lambda: {e: [] for e in EVENTS})
    stopped: str = ""  # why the replay stopped early (a refusal), else ""

    @property
    def operations(self) -> int:
        return len(self.held)

    def peak(self, series: str) -> int:
        values: list[int] = getattr(self, series)
        return max(values) if values else 0

    def summary(self) -> str:
        """One line: peaks, their ratio and the event counts."""
        live, held = self.peak("live_bytes"), self.peak("held")
        ratio = f"{held / live:.3f}" if live else "-"
        counts = ", ".join(f"{len(v)} {k}" for k, v in self.events.items())
        line = (
            f"{self.label:24s} {self.operations} ops; peak held {held}, peak live {live},"
            f" held/live {ratio}; final heap_size {self.heap_size[-1] if self.heap_size else 0}"
            f" in {self.chunks[-1] if self.chunks else 0} chunks; {counts}"
        )
        if self.released_chunks:
            line += f"; released {self.released_chunks} chunks, {self.released[-1]} bytes"
            line += f", final held {self.held[-1]}"

        return line + (f"; stopped: {self.stopped}" if self.stopped else "")


def parse_options(text: str) -> dict[str, object]:
    """'refill=64' or 'refill=64,align=16' -> {"refill": 64, "align": 16}; names are
    Pool options (max_small may be written max-small); values are ints, or
    true/false for checked."""
    out: dict[str, object] = {}
    for item in filter(None, text.split(",")):
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in ("align", "max_small", "refill", "heap_limit", "checked"):
            raise ValueError(
                f"an option set is NAME=VALUE[,NAME=VALUE...] with NAME one of align,"
                f" max_small, refill, heap_limit, checked; got {item!r}"
            )
        if name == "checked":
            if value.lower() not in ("true", "false"):
                raise ValueError(f"checked must be true or false, got {value!r}")
            out[name] = value.lower() == "true"
        else:
            try:
                out[name] = int(value)
            except ValueError:
                raise ValueError(f"{name} must be an integer, got {value!r}") from None
    return out


def label_of(options: dict[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in options.items())


def collect(
    ops: Iterable[TraceOp],
    options: dict[str, object],
    label: str | None = None,
    pool_factory: PoolFactory | None = None,
    trim_every: int = 0,
) -> Timeline:
    """The Timeline of trace operations replayed through pool_factory(**options)
    (default pool.Pool).  A refusal stops the replay (Timeline.stopped).
    trim_every N: trim() after every N-th operation and after the last (the
    sample after an operation is taken after its trim)."""
    if pool_factory is None:
        from ..core import Pool

        default: PoolFactory = Pool  # so that mypy checks the **options call as a PoolFactory
        pool_factory = default
    pool = pool_factory(**options)
    tl = Timeline(label or label_of(options), dict(options), pool.class_sizes())
    tl.live = [[] for _ in tl.class_sizes]
    tl.free = [[] for _ in tl.class_sizes]
    watch = Watch(pool, keep=False)
    sizes: dict[int, int] = {}
    live_bytes = 0
    ops = list(ops)
    try:
        for number, op in enumerate(ops, 1):
            kind, ident, given = op
            size = given or 0  # None for an "f", whose size is not read
            try:
                watch.apply(op)
            except PoolMemoryError as e:
                tl.events["refused"].append(number)
                tl.stopped = f"operation {number}: {e}"
                break
            if kind == "a":
                sizes[ident] = size
                live_bytes += size
            elif kind == "f":
                live_bytes -= sizes.pop(ident)
            else:
                live_bytes += size - sizes[ident]
                sizes[ident] = size
            assert watch.last is not None  # apply() records a Step for every call
            events = set(watch.last.events)
            if trim_every and (number % trim_every == 0 or number == len(ops)):
                watch.trim()
                events |= watch.last.events
            now = watch.now
            for c, (n_live, n_free) in enumerate(zip(now.live, now.free)):
                tl.live[c].append(n_live)
                tl.free[c].append(n_free)
            tl.heap_size.append(now.heap_size)
            tl.chunks.append(now.chunks)
            tl.held.append(now.held)
            tl.released.append(now.released_bytes)
            tl.released_chunks = now.released_chunks
            tl.live_bytes.append(live_bytes)
            for event in events & set(EVENTS):
                tl.events[event].append(number)
    finally:
        pool.close()
    return tl


def compare(
    ops: Iterable[TraceOp],
    base_options: dict[str, object],
    option_sets: Sequence[dict[str, object]],
    pool_factory: PoolFactory | None = None,
    trim_every: int = 0,
) -> list[Timeline]:
    """One Timeline per option set (each a dict of changes to base_options);
    with no sets, the base options alone."""
    ops = list(ops)
    sets = option_sets or [{}]
    out = []
    for changes in sets:
        options = {**base_options, **changes}
        label = ", ".join(f"{k}={v}" for k, v in changes.items()) or label_of(options)
        out.append(collect(ops, options, label, pool_factory, trim_every))
    return out
