"""`Watch`: a pool observed call by call.

A Watch makes the calls on a pool (Pool or ReferencePool) itself and looks at
the pool before and after each one (stats(), current_chunk(), chunks()), so it
can say which step of docs/algorithm.md the call took (a pop, refill branch
1/2/3, a leftover pushed by step 3.2, a salvage, a refusal) and keep what a
single look at the pool cannot know: every live small block with its size
(an unchecked pool does not record them) and which free blocks are leftovers.

Nothing is guessed: a step is named from the counters and the state the call
changed, checked against the algorithm (the leftover is looked up on its free
list before it is recorded).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, cast

from ..errors import PoolMemoryError
from ..model.snapshot import Normaliser
from .model import Picture, Position, chunk_label, picture, position_name

if TYPE_CHECKING:
    from .._types import PoolLike

# A trace operation (op, id, size), as in pool.traces; size is None for "f".
TraceOp = tuple[str, int, Optional[int]]
# (step of docs/algorithm.md, what happened)
Line = tuple[str, str]
# what a call did: (kind, lines, events)
Outcome = tuple[str, tuple[Line, ...], set[str]]


@dataclass(frozen=True)
class Step:
    """One call and the steps of docs/algorithm.md it took."""

    number: int  # 1-based, in the Watch's order
    call: str  # "allocate(128)"
    result: int | None  # the address returned; None for a free or a refusal
    result_name: str  # "B+0", "a large block", "-"
    kind: str  # "pop", "refill branch 1|2|3", "salvage", "refused", "first level", "push", ...
    lines: tuple[tuple[str, str], ...]  # (step of docs/algorithm.md, what happened)
    events: frozenset[str]  # of "refill", "chunk", "leftover", "salvage", "refused", "large"


class _Look:
    """What one look at the pool sees."""

    __slots__ = (
        "free",
        "live",
        "chunks",
        "salvages",
        "granted",
        "refused",
        "oom",
        "heap_size",
        "current",
        "heap_limit",
        "held",
        "released_chunks",
        "released_bytes",
    )

    def __init__(self, pool: PoolLike) -> None:
        st = pool.stats()
        self.free = tuple(c.free for c in st.classes)
        self.live = tuple(c.live for c in st.classes)
        self.chunks = st.chunks
        self.salvages = st.salvages
        self.granted = st.requests_granted
        self.refused = st.requests_refused
        self.oom = st.oom_handler_calls
        self.heap_size = st.heap_size
        self.heap_limit = st.heap_limit
        self.held = st.held
        self.released_chunks = st.released_chunks
        self.released_bytes = st.released_bytes
        self.current = pool.current_chunk()

    @property
    def left(self) -> int:
        return 0 if self.current is None else self.current[1] - self.current[0]


class Watch:
    """Makes calls on `pool` and records a Step for each (`steps`, `last`).

    Watch a pool from its start (no chunks yet) to know its leftovers; a pool
    watched later still gets its steps named, but its earlier leftovers (and,
    if unchecked, its earlier live blocks) stay unknown.  Make every call
    through the Watch: the look after one call is the look before the next
    (call resync() after calling the pool directly)."""

    def __init__(self, pool: PoolLike, keep: bool = True) -> None:
        self.pool = pool
        self.keep = keep  # keep every Step in self.steps (else only self.last)
        self.steps: list[Step] = []
        self.last: Step | None = None
        self.count = 0
        self.from_start = not pool.chunks()
        self.live: dict[int, int] = {}  # live small block -> requested size
        if not self.from_start and pool.checked:
            self.live = {a: n for a, n in pool.live_blocks().items() if n <= pool.max_small}
        self.leftovers: dict[int, int] = {}  # free block pushed by step 3.2, on its list -> bytes
        self._chunks = pool.chunks()
        self._where = Normaliser(self._chunks)
        self._ids: dict[int, tuple[int, int]] = {}  # trace ID -> (address, size), for apply()
        self.now = _Look(pool)

    def resync(self) -> None:
        """Looks at the pool again (after calls the Watch did not make)."""
        self._look()

    # ---- naming ---------------------------------------------------------------------

    def name(self, addr: int) -> str:
        """'A+304' for an address in a chunk, else 'a large block'."""
        return position_name(self._position(addr) or self._position(addr, end_inclusive=True))

    def _position(self, addr: int, end_inclusive: bool = False) -> Position | None:
        where: Position | None = self._where(addr, end_inclusive=end_inclusive)
        return where

    def _refresh_chunks(self, look: _Look) -> None:
        if look.chunks != len(self._chunks):
            self._chunks = self.pool.chunks()
            self._where = Normaliser(self._chunks)

    def _class(self, n: int) -> int:
        return (n + self.pool.align - 1) // self.pool.align - 1

    def _block(self, n: int) -> int:
        align = self.pool.align
        return (n + align - 1) & ~(align - 1)

    # ---- the calls ------------------------------------------------------------------

    def allocate(self, n: int) -> int:
        before = self.now
        try:
            addr = self.pool.allocate(n)
        except PoolMemoryError:
            after = self._look()
            self._finish(
                f"allocate({n})", None, None, before, *self._allocation(n, None, before, after)
            )
            raise
        after = self._look()
        small_n = n if n <= self.pool.max_small else None
        self._finish(
            f"allocate({n})", addr, small_n, before, *self._allocation(n, addr, before, after)
        )
        return addr

    def deallocate(self, addr: int, n: int) -> None:
        before = self.now
        name = self.name(addr)
        self.pool.deallocate(addr, n)
        self._look()
        self.live.pop(addr, None)
        self._finish(f"deallocate({name}, {n})", None, None, before, *self._free_lines(n, name))

    def trim(self) -> int:
        """pool.trim() (docs/algorithm.md B.13), recorded as a Step with the
        event "trim" when it released anything."""
        before = self.now
        released: int = cast(Any, self.pool).trim()
        after = self._look()
        # the chunk list changed under the Watch: look it up again, and forget
        # the leftovers of released chunks
        self._chunks = self.pool.chunks()
        self._where = Normaliser(self._chunks)
        self.leftovers = {a: n for a, n in self.leftovers.items() if self._where(a) is not None}
        gone = after.released_chunks - before.released_chunks
        line = (
            "B.13",
            f"trim: {gone} chunk{'' if gone == 1 else 's'} ({released} bytes) back to the system",
        )
        events = {"trim"} if released else set()
        self._finish("trim()", None, None, before, "trim", (line,), events)
        return released

    def reallocate(self, addr: int, old_n: int, new_n: int) -> int:
        pool = self.pool
        before = self.now
        name = self.name(addr)
        call = f"reallocate({name}, {old_n}, {new_n})"
        small_old, small_new = old_n <= pool.max_small, new_n <= pool.max_small
        try:
            new_addr = pool.reallocate(addr, old_n, new_n)
        except PoolMemoryError:
            after = self._look()
            if small_new:
                kind, lines, events = self._allocation(new_n, None, before, after)
                lines = (("A.9 3", f"another block size: allocate({new_n}), copy, free"),) + lines
            else:
                kind, lines, events = (
                    "refused",
                    (("A.9 1", f"realloc to {new_n} bytes refused"),),
                    {"refused", "large"},
                )
            self._finish(call, None, None, before, kind, lines, events)
            raise
        after = self._look()
        if not small_old and not small_new:
            kind, lines, events = (
                "first level",
                (("A.9 1", f"both sizes large: the system's realloc, {new_n} bytes"),),
                {"large"},
            )
        elif small_old and small_new and self._block(old_n) == self._block(new_n):
            kind, lines, events = (
                "same block",
                (("A.9 2", f"the {self._block(new_n)}-byte block already fits: the same address"),),
                set(),
            )
        else:
            kind, inner, events = self._allocation(new_n, new_addr, before, after)
            copied = min(old_n, new_n, self._block(old_n) if small_old else old_n)
            _, free_lines, free_events = self._free_lines(old_n, name)
            lines = (
                (
                    (
                        "A.9 3",
                        f"another block size: allocate({new_n}), copy {copied} bytes,"
                        f" then deallocate({name}, {old_n})",
                    ),
                )
                + inner
                + free_lines
            )
            events = set(events) | set(free_events)
        self.live.pop(addr, None)
        self._finish(call, new_addr, new_n if small_new else None, before, kind, lines, events)
        return new_addr

    def apply(self, op: TraceOp) -> Step | None:
        """One trace operation (op, id, size) as in pool.traces: "a", "f" or "r"."""
        kind, ident, given = op
        size = cast(int, given)  # read for "a" and "r" only, whose sizes are ints
        if kind == "a":
            self._ids[ident] = (self.allocate(size), size)
        elif kind == "f":
            addr, old = self._ids.pop(ident)
            self.deallocate(addr, old)
        else:
            addr, old = self._ids[ident]
            self._ids[ident] = (self.reallocate(addr, old, size), size)
        return self.last

    def run(self, ops: Iterable[TraceOp], limit: int | None = None) -> Watch:
        """Applies trace operations (the first `limit` of them, if given)."""
        for number, op in enumerate(ops, 1):
            if limit is not None and number > limit:
                break
            self.apply(op)
        return self

    # ---- what a call did ------------------------------------------------------------

    def _look(self) -> _Look:
        after = _Look(self.pool)
        self._refresh_chunks(after)
        self.now = after  # the pool after the latest call (timeline.py reads it)
        return after

    def _finish(
        self,
        call: str,
        addr: int | None,
        small_n: int | None,
        before: _Look,
        kind: str,
        lines: Iterable[Line],
        events: Iterable[str],
    ) -> None:
        """Records the Step; small_n: the size of a small block now live at addr."""
        if small_n is not None and addr is not None:
            self.live[addr] = small_n
            self.leftovers.pop(addr, None)  # popped or salvaged: no longer a free leftover
        shown = tuple(self._leftover_line(before, line) for line in lines)
        self.count += 1
        name = "-" if addr is None else self.name(addr)
        step = Step(self.count, call, addr, name, kind, shown, frozenset(events))
        self.last = step
        if self.keep:
            self.steps.append(step)

    def _leftover_line(self, before: _Look, line: Line) -> Line:
        """Confirms step 3.2 on the pool itself: the old tail is on its list."""
        step, text = line
        if step != "A.7 3.2" or before.current is None:  # 3.2 is taken with a current chunk
            return line
        start, end = before.current
        cls = self._class(end - start)
        if start in self.pool.free_list(cls)[:3]:
            self.leftovers[start] = end - start
            return line
        return step, text + " (expected, but it is not on that list)"

    def _free_lines(self, n: int, name: str) -> Outcome:
        if n > self.pool.max_small:
            return (
                "first level",
                (("A.8", f"{n} > max_small: free() gives the block back to the system"),),
                {"large"},
            )
        cls = self._class(n)
        return (
            "push",
            (
                (
                    "A.8",
                    f"push {name} on the head of free_list[{cls}] ({self._block(n)}-byte blocks)",
                ),
            ),
            set(),
        )

    def _allocation(self, n: int, addr: int | None, before: _Look, after: _Look) -> Outcome:
        """(kind, lines, events) of allocate(n) that returned addr (None: refused)."""
        pool = self.pool
        if n > pool.max_small:
            if addr is None:
                return (
                    "refused",
                    (("A.5 1", f"{n} > max_small: a system request of {n} bytes, refused"),),
                    {"large", "refused"},
                )
            return (
                "first level",
                (
                    (
                        "A.5 1",
                        f"{n} > max_small {pool.max_small}: the first"
                        f" level, a system request of {n} bytes",
                    ),
                ),
                {"large"},
            )
        size, cls, nobjs = self._block(n), self._class(n), pool.refill
        if before.free[cls]:
            return (
                "pop",
                (
                    (
                        "A.5 2",
                        f"free_list[{cls}] ({size}-byte blocks) is not empty:"
                        f" pop its head, {self.name(cast(int, addr))}",
                    ),
                ),
                set(),
            )  # popped
        total, left = size * nobjs, before.left
        lines = [
            ("A.5 3", f"free_list[{cls}] ({size}-byte blocks) is empty: refill({size})"),
            ("A.6 1", f"chunk_alloc({size}, {nobjs}): {total} bytes wanted, the tail has {left}"),
        ]
        events = {"refill"}
        kind: str
        if addr is not None and left >= total:
            kind = "refill branch 1"
            lines.append(("A.7 1", f"the tail holds them all: {total} bytes carved"))
        elif addr is not None and left >= size:
            kind, nobjs = "refill branch 2", left // size
            lines.append(
                (
                    "A.7 2",
                    f"the tail holds {nobjs}: nobjs = {left} / {size} = {nobjs},"
                    f" {nobjs * size} bytes carved",
                )
            )
        else:
            heap = before.heap_size
            want = 2 * total + self._block(heap >> 4)
            lines.append(
                (
                    "A.7 3.1",
                    f"a new chunk: bytes_to_get = 2 * {total} + round_up({heap} >> 4) = {want}",
                )
            )
            if left and before.current is not None:  # a tail is left only in a current chunk
                start = before.current[0]
                lines.append(
                    (
                        "A.7 3.2",
                        f"the leftover tail {self.name(start)} ({left} bytes)"
                        f" -> free_list[{self._class(left)}]",
                    )
                )
                events.add("leftover")
            if after.oom > before.oom:
                lines.append(
                    (
                        "B.4",
                        f"refused {after.refused - before.refused} time(s); the oom"
                        f" handler ran {after.oom - before.oom} time(s) and the call"
                        " started again",
                    )
                )
            if addr is None:
                kind = "refused"
                lines.append(
                    (
                        "A.7 3.3",
                        f"the system request of {want} bytes is refused"
                        f" (heap_limit {before.heap_limit})",
                    )
                )
                lines.append(
                    (
                        "A.7 3.5",
                        f"no free block of {size} bytes or more to salvage:"
                        " give up, no current chunk",
                    )
                )
                events.add("refused")
                return kind, tuple(lines), events
            if after.chunks > before.chunks:
                kind = "refill branch 3"
                base, got = self._chunks[-1]
                lines.append(
                    (
                        "A.7 3.3",
                        f"a system request of {got} bytes, granted:"
                        f" chunk {chunk_label(len(self._chunks) - 1)}",
                    )
                )
                lines.append(
                    (
                        "A.7 3.6",
                        f"heap_size {heap} -> {after.heap_size}; the whole"
                        " chunk is the current chunk, then branch 1",
                    )
                )
                lines.append(("A.7 1", f"{total} bytes carved from {self.name(base)}"))
                events.add("chunk")
            else:
                kind = "salvage"
                # the salvaged block is the current chunk now, and addr its first block
                salvaged = cast("tuple[int, int]", after.current)[1] - addr
                nobjs = min(nobjs, salvaged // size)
                lines.append(
                    (
                        "A.7 3.3",
                        f"the system request of {want} bytes is refused"
                        f" (heap_limit {before.heap_limit})",
                    )
                )
                lines.append(
                    (
                        "A.7 3.4",
                        f"salvage: free_list[{self._class(salvaged)}] is the"
                        f" first non-empty list of {size} bytes or more; its head"
                        f" {self.name(addr)} ({salvaged} bytes) becomes the current"
                        " chunk",
                    )
                )
                branch = "1" if salvaged >= total else "2"
                lines.append(
                    (f"A.7 {branch}", f"{nobjs * size} bytes carved from it (nobjs = {nobjs})")
                )
                events.add("salvage")
        if nobjs == 1:
            lines.append(
                (
                    "A.6 2",
                    f"one block: {self.name(addr)} to the caller; free_list[{cls}] stays empty",
                )
            )
        else:
            spare = (
                f"{self.name(addr + size)} (1 block)"
                if nobjs == 2
                else f"{self.name(addr + size)} .. {self.name(addr + (nobjs - 1) * size)}"
                f" ({nobjs - 1} blocks)"
            )
            lines.append(("A.6 3", f"{self.name(addr)} to the caller; {spare} -> free_list[{cls}]"))
        return kind, tuple(lines), events

    # ---- the picture ----------------------------------------------------------------

    def watched_picture(self) -> Picture:
        """The Picture of the pool with what the Watch knows beyond it."""
        normalise = Normaliser(self.pool.chunks())

        def where(addr: int) -> Position:
            position = normalise(addr)
            if position is None:  # live small blocks and leftovers lie in the chunks
                raise RuntimeError(f"watched block {addr:#x} lies in no chunk of the pool")
            return position

        live = sorted((where(a), n) for a, n in self.live.items())
        known_live = self.from_start or self.pool.checked
        leftovers = [where(a) for a in self.leftovers] if self.from_start else None
        return picture(
            self.pool.snapshot(),
            align=self.pool.align,
            live=live if known_live else None,
            leftovers=leftovers,
        )
