"""What a pool reports about itself: PoolStats (counters, from stats()) and
PoolState (the whole observable state at one moment, from state())."""

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class SizeClassStats:
    block_size: int  # bytes per block of this class
    live: int  # blocks handed out and not returned
    free: int  # blocks on the free list


@dataclass(frozen=True)
class PoolStats:
    classes: tuple[SizeClassStats, ...]  # one per size class, smallest first
    large_live: int  # live blocks above max_small (from the system)
    large_bytes: int  # their requested bytes
    chunks: int  # chunks the pool holds
    heap_size: int  # bytes of all chunks ever obtained (sizes the next chunk; trim keeps it)
    heap_limit: Optional[int]  # None: no limit
    chunk_left: int  # bytes left uncarved in the current chunk
    requests_granted: int  # system requests granted (chunks, large blocks, large reallocs)
    requests_refused: int  # system requests refused (heap limit or the system)
    salvages: int  # chunks rebuilt from a larger free block after a refusal
    oom_handler_calls: int  # times the oom handler was called
    released_chunks: int = 0  # chunks given back to the system by trim() so far
    released_bytes: int = 0  # their bytes
    releasable_bytes: int = 0  # bytes a trim() would release now
    releasable_page_bytes: int = 0  # pages a trim(pages=True) would release beyond those (B.14)
    released_page_bytes: int = 0  # pages released by trim(pages=True) so far
    span_bytes: int = 0  # bytes of the released spans not carved again yet (B.14)

    @property
    def chunk_bytes(self) -> int:
        """Bytes of the chunks the pool holds now: heap_size less what trim() released."""
        return self.heap_size - self.released_bytes

    @property
    def held(self) -> int:
        """Bytes held from the system: chunks plus live large blocks (what the
        heap limit counts)."""
        return self.chunk_bytes + self.large_bytes


@dataclass(frozen=True)
class PoolState:
    """Everything a pool lets one observe, read at one moment: under the C
    pool's lock for a Pool, under the model's lock for a ReferencePool, so a
    state taken while other threads use the pool is still consistent."""

    chunks: tuple[tuple[int, int], ...]  # (base, size), in acquisition order
    free_lists: tuple[tuple[int, ...], ...]  # per class, head first
    current_chunk: Optional[tuple[int, int]]  # (start, end) of the uncarved tail
    live_blocks: dict[int, int]  # address -> size (small ones: checked pools, block size)
    stats: PoolStats
    block_map: dict[int, int]  # every carved small block, live or free -> its block size

    @property
    def heap_size(self) -> int:
        return self.stats.heap_size

    @property
    def heap_limit(self) -> Optional[int]:
        return self.stats.heap_limit
