"""A pool's full state with addresses normalised, so that a `Pool` (real
memory) and a `ReferencePool` (simulated memory) compare equal exactly when
their states are the same.

A small block's address becomes (chunk index, offset) in the pool's chunk
list, which both keep in acquisition order.  Large blocks come from malloc
(or the simulated system) at unrelated addresses, so they are compared as
the sorted multiset of their recorded sizes; the differential tests also
compare each block by the identity the test gave it.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol, cast

if TYPE_CHECKING:
    from ..stats import PoolState

# (chunk index, offset) of an address inside one of the pool's chunks
Location = tuple[int, int]


@dataclass(frozen=True)
class PoolSnapshot:
    free_lists: tuple[tuple[Location, ...], ...]  # per class, head first
    current_chunk: tuple[int, int, int] | None  # (chunk index, start offset, end offset)
    heap_size: int
    heap_limit: int | None
    chunk_sizes: tuple[int, ...]  # in acquisition order
    live_small: tuple[tuple[Location, int], ...]  # sorted ((chunk, offset), size)
    #                                                       (checked pools only)
    large_sizes: tuple[int, ...]  # sorted recorded sizes of live large blocks
    block_map: tuple[tuple[Location, int], ...]  # sorted ((chunk, offset), block size)
    #                                  of every carved small block (C: its block directory)
    counters: tuple[tuple[str, int | tuple[tuple[int, int], ...]], ...]  # stats() fields,
    #                     by name ("classes": (live, free) per class)

    def differences(self, other: PoolSnapshot) -> list[str]:
        """Names of the fields in which two snapshots differ."""
        return [
            name
            for name in self.__dataclass_fields__
            if getattr(self, name) != getattr(other, name)
        ]


class Normaliser:
    """Maps addresses of one pool to (chunk index, offset)."""

    def __init__(self, chunks: Sequence[tuple[int, int]]) -> None:
        order = sorted(range(len(chunks)), key=lambda i: chunks[i][0])
        self._bases = [chunks[i][0] for i in order]
        self._ends = [chunks[i][0] + chunks[i][1] for i in order]
        self._index = order

    def __call__(self, addr: int, end_inclusive: bool = False) -> Location | None:
        """(chunk index, offset), or None if addr lies in no chunk.  With
        end_inclusive, a chunk's end address maps to that chunk."""
        i = bisect.bisect_right(self._bases, addr - 1 if end_inclusive else addr) - 1
        if i >= 0 and (addr < self._ends[i] or (end_inclusive and addr == self._ends[i])):
            return self._index[i], addr - self._bases[i]
        return None


class _HasState(Protocol):
    """What snapshot() reads of a pool (a Pool, a ReferencePool)."""

    @property
    def max_small(self) -> int: ...

    def state(self) -> PoolState: ...


def snapshot(pool: _HasState) -> PoolSnapshot:
    """The PoolSnapshot of a Pool or ReferencePool, from one consistent
    pool.state() (taken under the pool's lock)."""
    return normalise(pool.state(), pool.max_small)


def normalise(state: PoolState, max_small: int) -> PoolSnapshot:
    """The PoolSnapshot of a PoolState."""
    where = Normaliser(state.chunks)
    # the blocks of a pool's lists and maps lie in its chunks (only an unchecked
    # pool corrupted by misuse can list others: those stay None, unchecked)
    located = cast(Callable[[int], Location], where)
    free_lists = tuple(tuple(located(a) for a in lst) for lst in state.free_lists)
    tail = state.current_chunk
    current = None
    if tail is not None:
        start, end = tail
        # an empty tail may sit at its chunk's very end (the tail always lies
        # in a chunk: a None here fails to unpack, as it always did)
        start_chunk, start_off = cast(Location, where(start) or where(start, end_inclusive=True))
        current = (start_chunk, start_off, start_off + (end - start))
    live = state.live_blocks
    live_small = tuple(sorted((located(a), n) for a, n in live.items() if n <= max_small))
    large_sizes = tuple(sorted(n for n in live.values() if n > max_small))
    block_map = tuple(sorted((located(a), n) for a, n in state.block_map.items()))
    st = state.stats
    counters: tuple[tuple[str, int | tuple[tuple[int, int], ...]], ...] = (
        ("classes", tuple((c.live, c.free) for c in st.classes)),
        ("large_live", st.large_live),
        ("large_bytes", st.large_bytes),
        ("chunks", st.chunks),
        ("chunk_left", st.chunk_left),
        ("requests_granted", st.requests_granted),
        ("requests_refused", st.requests_refused),
        ("salvages", st.salvages),
        ("oom_handler_calls", st.oom_handler_calls),
        ("released_chunks", st.released_chunks),
        ("released_bytes", st.released_bytes),
        ("releasable_bytes", st.releasable_bytes),
        ("releasable_page_bytes", st.releasable_page_bytes),
        ("released_page_bytes", st.released_page_bytes),
        ("span_bytes", st.span_bytes),
    )
    return PoolSnapshot(
        free_lists,
        current,
        st.heap_size,
        st.heap_limit,
        tuple(size for _, size in state.chunks),
        live_small,
        large_sizes,
        block_map,
        counters,
    )
