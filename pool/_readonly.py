"""Read-only views of pools that the package owns and must not let anyone
close: `ArenaPoolView` (what `Arena.pool` is) and `HookPoolView` (what
`pool.pymem.hook_pool()` is).

The arena's region dies only when nothing it handed out is referenced, and
the pool behind CPython's allocator holds live Python objects until the
process ends; a pool that anyone could close() or allocate from would free or
corrupt memory under live objects.  So the package never hands out these
Pools: a view exposes the options and statistics and nothing that changes
the pool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from .core import Pool

# Pool attributes that only read (options, statistics, layout pictures).
_READ_ONLY = (
    "align",
    "max_small",
    "checked",
    "thread_safe",
    "heap_size",
    "heap_limit",
    "stats",
    "chunks",
    "free_list_lengths",
    "free_list",
    "current_chunk",
    "state",
)


class PoolView:
    """Read-only view of a pool the package owns: options and statistics.
    No close(), allocate() or deallocate().  `closed` is True once the pool's
    memory has been returned to the system; reading anything else then raises
    PoolClosedError, as on a closed Pool."""

    __slots__ = ("_pool",)
    _pool: Pool  # set once, through object.__setattr__
    _what: ClassVar[str] = "this pool"  # for the messages
    _instead: ClassVar[str] = ""

    def __init__(self, pool: Pool) -> None:
        object.__setattr__(self, "_pool", pool)

    def __getattr__(self, name: str) -> Any:
        if name in _READ_ONLY:
            return getattr(self._pool, name)
        raise AttributeError(f"{self._what} is read-only: {name!r} is not available{self._instead}")

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{self._what} is read-only: cannot set {name!r}")

    def __dir__(self) -> list[str]:
        return sorted(_READ_ONLY + ("closed",))

    @property
    def closed(self) -> bool:
        return self._pool.closed

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._pool!r}>"


class ArenaPoolView(PoolView):
    """Read-only view of an arena's private pool: the arena alone decides
    when its memory goes back (see help(pool.Arena))."""

    __slots__ = ()
    _what = "an arena's pool"
    _instead = " (close the arena instead of its pool)"


class HookPoolView(PoolView):
    """Read-only view of the pool behind CPython's allocator (pool.pymem):
    its blocks are Python objects, so it is never closed."""

    __slots__ = ()
    _what = "the pool behind CPython's allocator (pool.pymem.hook_pool())"
    _instead = (
        " (its blocks are live Python objects: it is never closed, and only "
        "CPython allocates from it)"
    )
