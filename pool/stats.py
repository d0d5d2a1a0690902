"""Statistics snapshots returned by Pool.stats() and ReferencePool.stats()."""

from dataclasses import dataclass
from typing import Optional, Tuple


@dataclass(frozen=True)
class SizeClassStats:
    block_size: int  # bytes per block of this class
    live: int  # blocks handed out and not returned
    free: int  # blocks on the free list


@dataclass(frozen=True)
class PoolStats:
    classes: Tuple[SizeClassStats, ...]  # one per size class, smallest first
    large_live: int  # live blocks above max_small (from the system)
    large_bytes: int  # their requested bytes
    chunks: int  # chunks obtained from the system
    heap_size: int  # bytes of all chunks
    heap_limit: Optional[int]  # None: no limit
    chunk_left: int  # bytes left uncarved in the current chunk
    requests_granted: int  # system requests granted (chunks, large blocks, large reallocs)
    requests_refused: int  # system requests refused (heap limit or the system)
    salvages: int  # chunks rebuilt from a larger free block after a refusal
    oom_handler_calls: int  # times the oom handler was called

    @property
    def held(self) -> int:
        """Bytes held from the system: chunks plus live large blocks."""
        return self.heap_size + self.large_bytes
