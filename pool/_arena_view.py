"""`ArenaPoolView`: what `Arena.pool` is, a read-only window on the arena's pool.

The arena's region dies only when nothing it handed out is referenced; a pool
that anyone could close() or allocate from would free or corrupt memory under
live objects.  So the arena never hands out its Pool: this view exposes the
options and statistics and nothing that changes the pool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core import Pool

# Pool attributes that only read (options, statistics, layout pictures).
_READ_ONLY = ("align", "max_small", "checked", "thread_safe", "heap_size", "heap_limit",
              "stats", "chunks", "free_list_lengths", "free_list", "current_chunk", "state")


class ArenaPoolView:
    """Read-only view of an arena's private pool: options and statistics.

    No close(), allocate() or deallocate(): the arena alone decides when its
    memory goes back (see help(pool.Arena)).  `closed` is True once the region
    has been returned to the system; reading anything else then raises
    PoolClosedError, as on a closed Pool."""

    __slots__ = ("_pool",)
    _pool: Pool  # set once, through object.__setattr__

    def __init__(self, pool: Pool) -> None:
        object.__setattr__(self, "_pool", pool)

    def __getattr__(self, name: str) -> Any:
        if name in _READ_ONLY:
            return getattr(self._pool, name)
        raise AttributeError(f"an arena's pool is read-only: {name!r} is not available "
                             f"(close the arena instead of its pool)")

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"an arena's pool is read-only: cannot set {name!r}")

    def __dir__(self) -> list[str]:
        return sorted(_READ_ONLY + ("closed",))

    @property
    def closed(self) -> bool:
        return self._pool.closed

    def __repr__(self) -> str:
        return f"<ArenaPoolView of {self._pool!r}>"
