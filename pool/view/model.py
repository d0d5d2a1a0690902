"""A pool's state as plain data for pictures: chunk strips and free lists.

`picture(source)` turns a `Pool`, a `ReferencePool`, a `Watch` (a pool
observed call by call) or a `PoolSnapshot` into a `Picture`: every chunk as a
`Strip` of segments that cover it from offset 0 to its end, each segment in
one state, and every free list head first.  Nothing here draws; `text.py` and
`figure.py` draw a Picture.

States of a segment:
  live      a block owned by the caller
  free      a block on its free list
  leftover  a free block that step 3.2 pushed (an old chunk tail); known only
            when the pool was watched from its start (see `Watch`); an
            unwatched pool shows its leftovers as plain "free"
  uncarved  the current chunk's tail [start_free, end_free)

What is known depends on the pool.  A free block is always known (the free
lists).  A live small block is known with its size in a checked pool (its
block table) and in a watched pool; an unchecked pool seen once knows only
that the bytes between free blocks and the tail are live (every byte of a
chunk is uncarved, free or live), so such a run is one "live" segment whose
block size is None.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..model.snapshot import PoolSnapshot

if TYPE_CHECKING:
    from .._types import PoolLike


class Watched(Protocol):
    """What knows more of a pool than its snapshot (a watch.Watch)."""

    def watched_picture(self) -> Picture: ...


Position = tuple[int, int]  # (chunk index, offset)

STATES = ("live", "free", "leftover", "uncarved")


def chunk_label(index: int) -> str:
    """A, B, ..., Z, then #26, #27, ... (the worked example's names)."""
    return chr(ord("A") + index) if index < 26 else f"#{index}"


def position_name(position: Position | None) -> str:
    """'A+304' for (0, 304); 'a large block' for None."""
    if position is None:
        return "a large block"
    chunk, offset = position
    return f"{chunk_label(chunk)}+{offset}"


@dataclass(frozen=True)
class Segment:
    offset: int  # from the chunk's base
    size: int  # bytes
    state: str  # one of STATES
    block_size: int | None  # the class's block size; None for the tail or an unknown run


@dataclass(frozen=True)
class Strip:
    """One chunk, its segments in address order covering [0, size)."""

    index: int
    size: int
    segments: tuple[Segment, ...]
    current: tuple[int, int] | None  # (start, end) offsets of the tail, if it lies here

    @property
    def label(self) -> str:
        return chunk_label(self.index)

    def granules(self, align: int) -> tuple[tuple[str, int | None], ...]:
        """(state, block_size) for every `align`-byte granule, in address order."""
        out: list[tuple[str, int | None]] = []
        for seg in self.segments:
            out.extend([(seg.state, seg.block_size)] * (seg.size // align))
        return tuple(out)


@dataclass(frozen=True)
class FreeList:
    """Free list `index` (block size `block_size`), head first."""

    index: int
    block_size: int
    blocks: tuple[tuple[int, int], ...]  # (chunk index, offset), head first
    leftovers: tuple[bool, ...]  # per block: pushed by step 3.2 (as far as known)

    @property
    def length(self) -> int:
        return len(self.blocks)

    def names(self) -> tuple[str, ...]:
        return tuple(position_name(b) for b in self.blocks)


@dataclass(frozen=True)
class Picture:
    align: int
    max_small: int
    heap_size: int
    heap_limit: int | None
    strips: tuple[Strip, ...]
    free_lists: tuple[FreeList, ...]  # every class, smallest first
    current: tuple[int, int, int] | None  # (chunk index, start offset, end offset)
    large_sizes: tuple[int, ...]  # recorded sizes of the live large blocks, sorted
    live_sizes_known: bool  # every live small block known with its size
    leftovers_known: bool  # leftovers told apart from other free blocks
    live_per_class: tuple[int, ...]  # stats().classes[i].live
    released_chunks: int = 0  # chunks trim() gave back (not drawn: they are gone)
    released_bytes: int = 0

    @property
    def held(self) -> int:
        return self.heap_size - self.released_bytes + sum(self.large_sizes)

    def released(self) -> str:
        """'; released N chunks (B bytes) by trim()', or '' when none were."""
        if not self.released_chunks:
            return ""
        s = "" if self.released_chunks == 1 else "s"
        return f"; released {self.released_chunks} chunk{s} ({self.released_bytes} bytes) by trim()"

    def notes(self) -> list[str]:
        """What the picture cannot tell, in words."""
        out = []
        if not self.live_sizes_known:
            out.append(
                "unchecked pool seen once: live blocks are known as runs of bytes, not one"
                " by one (watch the pool from its start, or use a checked pool)"
            )
        if not self.leftovers_known:
            out.append(
                "leftovers (step 3.2) are not told apart from other free blocks: the pool"
                " was not watched from its start"
            )
        return out


def _round_up(n: int, align: int) -> int:
    return (n + align - 1) & ~(align - 1)


def picture(
    source: PoolLike | Watched | PoolSnapshot,
    *,
    align: int | None = None,
    live: Iterable[tuple[Position, int]] | None = None,
    leftovers: Iterable[Position] | None = None,
) -> Picture:
    """The Picture of a Pool, ReferencePool, Watch or PoolSnapshot.

    For a snapshot pass `align` (default 8: the classic profile).  `live`
    ((chunk, offset), requested size) pairs and `leftovers` ((chunk, offset)
    positions) add what an observer knows beyond the snapshot (a Watch passes
    both itself)."""
    if hasattr(source, "watched_picture"):  # a Watch, or anything that knows more
        return source.watched_picture()
    if isinstance(source, PoolSnapshot):
        snap = source
        align = 8 if align is None else align
    else:
        snap = source.snapshot()
        align = source.align
    # ("classes", ((live, free), ...)) among the ints: PoolSnapshot.counters says ints only
    counters: dict[str, Any] = dict(snap.counters)
    nclasses = len(snap.free_lists)
    max_small = align * nclasses
    leftover_set = set(leftovers or ())
    live_small = tuple(live) if live is not None else snap.live_small
    sizes_known = live is not None or bool(snap.live_small) or _all_carved_free(snap, counters)

    per_chunk: list[list[Segment]] = [[] for _ in snap.chunk_sizes]
    free_lists = []
    for cls, blocks in enumerate(snap.free_lists):
        block_size = align * (cls + 1)
        marks = tuple(b in leftover_set for b in blocks)
        free_lists.append(FreeList(cls, block_size, tuple(blocks), marks))
        for b, is_leftover in zip(blocks, marks):
            per_chunk[b[0]].append(
                Segment(b[1], block_size, "leftover" if is_leftover else "free", block_size)
            )
    for (chunk, offset), n in live_small:
        size = _round_up(n, align)
        per_chunk[chunk].append(Segment(offset, size, "live", size))
    if snap.current_chunk is not None:
        chunk, start, end = snap.current_chunk
        if end > start:
            per_chunk[chunk].append(Segment(start, end - start, "uncarved", None))

    strips = []
    for index, size in enumerate(snap.chunk_sizes):
        segs = sorted(per_chunk[index], key=lambda s: s.offset)
        filled: list[Segment] = []
        at = 0
        for seg in segs:
            if seg.offset < at:
                raise ValueError(
                    f"blocks overlap at {position_name((index, seg.offset))}:"
                    " the pool's lists are corrupt (misuse of an unchecked pool?)"
                )
            if seg.offset > at:  # carved, not free: live (sizes unknown)
                filled.append(Segment(at, seg.offset - at, "live", None))
            filled.append(seg)
            at = seg.offset + seg.size
        if at < size:
            filled.append(Segment(at, size - at, "live", None))
        current = None
        if snap.current_chunk is not None and snap.current_chunk[0] == index:
            current = (snap.current_chunk[1], snap.current_chunk[2])
        strips.append(Strip(index, size, tuple(filled), current))

    return Picture(
        align=align,
        max_small=max_small,
        heap_size=snap.heap_size,
        heap_limit=snap.heap_limit,
        strips=tuple(strips),
        free_lists=tuple(free_lists),
        current=snap.current_chunk,
        large_sizes=snap.large_sizes,
        live_sizes_known=sizes_known,
        leftovers_known=leftovers is not None,
        live_per_class=tuple(live_n for live_n, _ in counters["classes"]),
        released_chunks=counters.get("released_chunks", 0),
        released_bytes=counters.get("released_bytes", 0),
    )


def _all_carved_free(snap: PoolSnapshot, counters: dict[str, Any]) -> bool:
    """True when no small block is live: then nothing is unknown."""
    return all(live_n == 0 for live_n, _ in counters["classes"])


__all__ = [
    "STATES",
    "Segment",
    "Strip",
    "FreeList",
    "Picture",
    "picture",
    "chunk_label",
    "position_name",
]
