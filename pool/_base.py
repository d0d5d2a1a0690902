"""What Pool and ReferencePool share: option checks and option properties.

Both validate their options here, in the same order, so that a bad option
raises the same error from either.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple, NoReturn, TypeVar

from . import _validate as v
from ._sizes import round_up
from .errors import PoolMemoryError

if TYPE_CHECKING:
    from ._types import OomHandler
    from .model.snapshot import PoolSnapshot
    from .stats import PoolState, PoolStats

_ZERO_ADDRESS = array("Q", [0])
_Self = TypeVar("_Self", bound="PoolBase")


class PoolOptions(NamedTuple):
    """A pool's validated options, as its constructor was given them (a named
    tuple, not a dataclass: pool.stats's dataclasses, and with them the
    dataclasses module, are imported at the first stats(), not by every
    `python -m pool run`)."""

    heap_limit: int | None  # None: no limit
    checked: bool
    thread_safe: bool
    align: int
    max_small: int
    refill: int
    debug: bool
    thread_cache: bool = False
    thread_cache_bytes: int = v.DEFAULT_TCACHE_BYTES


class NotCopyable:
    """Pools and arenas own memory that only one owner may return: a copy
    would share it, so copying and pickling raise TypeError."""

    __slots__ = ()

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise _not_copyable(self)

    def __copy__(self) -> NoReturn:
        raise _not_copyable(self)

    def __deepcopy__(self, memo: object) -> NoReturn:
        raise _not_copyable(self)


class PoolBase(NotCopyable):
    """Option handling common to the C-backed Pool and the reference model."""

    if TYPE_CHECKING:  # what each subclass provides, for the shared code below

        @property
        def heap_limit(self) -> int | None: ...

        def close(self) -> None: ...

        def state(self) -> PoolState: ...

        def _check_open(self) -> None: ...

        def _heap_size_if_open(self) -> int | None: ...

    def _init_options(
        self,
        *,
        heap_limit: object,
        checked: object,
        thread_safe: object,
        align: object,
        max_small: object,
        refill: object,
        oom_handler: object,
        debug: object,
        thread_cache: object = False,
        thread_cache_bytes: object = None,
    ) -> PoolOptions:
        """Validates the constructor's options, stores them, and returns them
        as a PoolOptions for the subclass to build its pool with."""
        heap_limit = v.as_heap_limit(heap_limit)
        checked = v.as_flag(checked, "checked")
        thread_safe = v.as_flag(thread_safe, "thread_safe")
        debug = v.as_flag(debug, "debug")
        thread_cache = v.as_flag(thread_cache, "thread_cache")
        thread_cache_bytes = v.as_thread_cache_bytes(thread_cache_bytes)
        if thread_cache and not thread_safe:
            raise ValueError(
                "thread_cache=True needs thread_safe=True: the caches are for pools "
                "that threads share"
            )
        align, max_small, refill = v.check_profile(align, max_small, refill)
        self._oom_handler = v.as_oom_handler(oom_handler)
        self._checked = checked
        self._debug = debug
        self._thread_safe = thread_safe
        self._thread_cache = thread_cache
        self._thread_cache_bytes = thread_cache_bytes
        self._align = align
        self._max_small = max_small
        self._refill = refill
        self._nclasses = max_small // align
        self._oom_calls = 0
        return PoolOptions(
            heap_limit,
            checked,
            thread_safe,
            align,
            max_small,
            refill,
            debug,
            thread_cache,
            thread_cache_bytes,
        )

    def __repr__(self) -> str:
        heap_size = self._heap_size_if_open()
        state = "closed" if heap_size is None else f"heap_size={heap_size}"
        return (
            f"<pool.{type(self).__name__} align={self._align} max_small={self._max_small} "
            f"refill={self._refill} checked={self._checked} {state}>"
        )

    def _address_array(self, n: int, count: int) -> array[int]:
        """The zeroed array('Q') of count addresses that allocate_many(n, count)
        fills, or the error for a count the pool cannot serve, raised before
        the pool is touched: OverflowError when the blocks' bytes do not fit a
        size_t, PoolMemoryError when the address array itself is refused."""
        usable = self._usable(n)
        if count * usable > v.SIZE_MAX:
            raise OverflowError(
                f"allocate_many({n}, {count}): {count} blocks of {usable} bytes "
                f"do not fit a C size_t"
            )
        try:
            return _ZERO_ADDRESS * count  # one allocation, zeroed
        except (MemoryError, OverflowError):
            raise PoolMemoryError(
                f"allocate_many({n}, {count}) needs {8 * count} bytes for the addresses and "
                f"{count * usable} for the blocks: refused"
            ) from None

    def __enter__(self: _Self) -> _Self:
        self._check_open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def checked(self) -> bool:
        return self._checked

    @property
    def debug(self) -> bool:
        return self._debug

    @property
    def thread_safe(self) -> bool:
        return self._thread_safe

    @property
    def thread_cache(self) -> bool:
        return self._thread_cache

    @property
    def thread_cache_bytes(self) -> int:
        """A thread's depot bound with thread caches (bytes of whole magazines
        its cache keeps beyond two per class)."""
        return self._thread_cache_bytes

    @property
    def align(self) -> int:
        return self._align

    @property
    def max_small(self) -> int:
        return self._max_small

    @property
    def refill(self) -> int:
        return self._refill

    def class_sizes(self) -> tuple[int, ...]:
        """Block size of each class, smallest first: (8, 16, ..., 128) classically."""
        return tuple(self._align * (i + 1) for i in range(self._nclasses))

    @property
    def oom_handler(self) -> OomHandler | None:
        return self._oom_handler

    @oom_handler.setter
    def oom_handler(self, handler: OomHandler | None) -> None:
        self._oom_handler = v.as_oom_handler(handler)

    def _call_oom_handler(self, nbytes: int) -> None:
        """Part B: after a refused system request of nbytes (and no salvage),
        outside any lock.  Returns when the call should be retried from the
        top; raises PoolMemoryError when there is no handler or it declines;
        an exception from the handler propagates."""
        handler = self._oom_handler
        if handler is None:
            raise PoolMemoryError(
                f"a system request of {nbytes} bytes was refused (heap_limit={self.heap_limit})"
            )
        self._oom_calls += 1
        if not handler(nbytes):
            raise PoolMemoryError(
                f"a system request of {nbytes} bytes was refused and the oom handler gave up"
            )

    def _usable(self, recorded: int) -> int:
        """Bytes a block recorded with this size really has."""
        if recorded > self._max_small:
            return recorded
        return round_up(recorded, self._align)

    def _assemble_stats(
        self,
        free: Sequence[int],
        live: Sequence[int],
        *,
        large_live: int,
        large_bytes: int,
        chunks: int,
        heap_size: int,
        heap_limit: int | None,
        chunk_left: int,
        requests_granted: int,
        requests_refused: int,
        salvages: int,
        released_chunks: int,
        released_bytes: int,
        releasable_bytes: int,
        releasable_page_bytes: int = 0,
        released_page_bytes: int = 0,
        span_bytes: int = 0,
    ) -> PoolStats:
        """The PoolStats of per-class free and live counts and the pool's
        counters (one assembly for Pool and ReferencePool)."""
        from .stats import PoolStats, SizeClassStats

        classes = tuple(
            SizeClassStats(size, live[i], free[i]) for i, size in enumerate(self.class_sizes())
        )
        return PoolStats(
            classes=classes,
            large_live=large_live,
            large_bytes=large_bytes,
            chunks=chunks,
            heap_size=heap_size,
            heap_limit=heap_limit or None,
            chunk_left=chunk_left,
            requests_granted=requests_granted,
            requests_refused=requests_refused,
            salvages=salvages,
            oom_handler_calls=self._oom_calls,
            released_chunks=released_chunks,
            released_bytes=released_bytes,
            releasable_bytes=releasable_bytes,
            releasable_page_bytes=releasable_page_bytes,
            released_page_bytes=released_page_bytes,
            span_bytes=span_bytes,
        )

    def snapshot(self) -> PoolSnapshot:
        """The full state with addresses normalised (pool.model.snapshot.PoolSnapshot):
        equal for a Pool and a ReferencePool exactly when their states are."""
        from .model.snapshot import snapshot

        return snapshot(self)


def _not_copyable(obj: object) -> TypeError:
    return TypeError(
        f"{type(obj).__name__} objects cannot be copied or pickled: a pool owns "
        "memory that only it can return (make a new one with the same options)"
    )
