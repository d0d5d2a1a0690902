"""Types shared by the annotations: what "a Pool or a ReferencePool" offers.

`PoolLike` is the one structural type for code that works on either pool
(pool.view, pool.traces, the demo): both classes match it without naming
it.  Only for type checkers; nothing here runs any pool code.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Callable, Protocol, TypeVar

if TYPE_CHECKING:
    from .model.snapshot import PoolSnapshot
    from .stats import PoolState, PoolStats

# An oom handler: called with the refused request's bytes; a true result
# means "retry" (see PoolBase._call_oom_handler).
OomHandler = Callable[[int], object]

_P = TypeVar("_P", bound="PoolLike")


class PoolLike(Protocol):
    """The public calls that Pool and ReferencePool share."""

    @property
    def align(self) -> int: ...

    @property
    def max_small(self) -> int: ...

    @property
    def refill(self) -> int: ...

    @property
    def checked(self) -> bool: ...

    @property
    def heap_size(self) -> int: ...

    # settable, like the pools' own properties
    heap_limit: int | None
    oom_handler: OomHandler | None

    def allocate(self, n: int) -> int: ...

    def deallocate(self, addr: int, n: int) -> None: ...

    def reallocate(self, addr: int, old_n: int, new_n: int) -> int: ...

    def allocate_many(self, n: int, count: int) -> array[int]: ...

    def deallocate_many(self, addrs: Iterable[int], n: int) -> None: ...

    def class_sizes(self) -> tuple[int, ...]: ...

    def chunks(self) -> list[tuple[int, int]]: ...

    def free_list_lengths(self) -> tuple[int, ...]: ...

    def free_list(self, cls: int) -> Sequence[int]: ...

    def current_chunk(self) -> tuple[int, int] | None: ...

    def live_blocks(self) -> dict[int, int]: ...

    def stats(self) -> PoolStats: ...

    def state(self) -> PoolState: ...

    def snapshot(self) -> PoolSnapshot: ...

    def close(self) -> None: ...

    def __enter__(self: _P) -> _P: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


# A pool class or any factory taking the pools' keyword options.
PoolFactory = Callable[..., PoolLike]
