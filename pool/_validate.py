"""Argument checks shared by Pool and ReferencePool.

Every check runs before the pool is touched, so a bad argument leaves the
pool exactly as it was.
"""

from __future__ import annotations

import operator
import sys
from array import array
from collections.abc import Iterable
from typing import SupportsIndex, cast

from ._types import OomHandler

SIZE_MAX = sys.maxsize * 2 + 1  # C size_t and uintptr_t on the platforms we build for
ALIGNS = (8, 16)
MAX_MAX_SMALL = 4096  # mirrors SGI_POOL_MAX_MAX_SMALL; a test checks they agree
MAX_REFILL = 4096  # mirrors SGI_POOL_MAX_REFILL


def as_int(value: object, name: str) -> int:
    """value as an int; TypeError (naming it) for bools, floats and non-numbers."""
    if type(value) is int:
        return value
    if isinstance(value, bool) or not hasattr(type(value), "__index__"):
        raise TypeError(f"{name} must be an int, not {type(value).__name__} ({value!r})")
    return operator.index(cast(SupportsIndex, value))


def as_size(value: object, name: str = "size") -> int:
    """A block size: an int in 1..SIZE_MAX."""
    value = as_int(value, name)
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    if value > SIZE_MAX:
        raise OverflowError(f"{name} {value} does not fit a C size_t (at most {SIZE_MAX})")
    return value


def as_address(value: object, name: str = "address") -> int:
    """A block address: an int in 1..UINTPTR_MAX (whether the pool handed it
    out is the pool's own check)."""
    value = as_int(value, name)
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}")
    if value > SIZE_MAX:
        raise OverflowError(f"{name} {value:#x} does not fit a C uintptr_t")
    return value


def as_count(value: object, name: str = "count") -> int:
    """A number of blocks: an int in 0..SIZE_MAX."""
    value = as_int(value, name)
    if value < 0:
        raise ValueError(f"{name} must be at least 0, got {value}")
    if value > SIZE_MAX // 8:
        raise OverflowError(f"{name} {value} is too large")
    return value


def as_heap_limit(value: object) -> int | None:
    """None (no limit) or an int in 1..SIZE_MAX."""
    if value is None:
        return None
    return as_size(value, "heap_limit")


DEFAULT_TCACHE_BYTES = 1 << 20  # C's SGI_POOL_DEFAULT_TCACHE_BYTES (a test checks)


def as_thread_cache_bytes(value: object) -> int:
    """None (the default, 1 MiB) or an int in 1..SIZE_MAX: a thread's depot bound."""
    if value is None:
        return DEFAULT_TCACHE_BYTES
    return as_size(value, "thread_cache_bytes")


def as_flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")
    return value


def as_oom_handler(value: object) -> OomHandler | None:
    if value is None or callable(value):
        return value
    raise TypeError(f"oom_handler must be callable or None, not {value!r}")


def check_profile(align: object, max_small: object, refill: object) -> tuple[int, int, int]:
    """Validates the size-class options; returns them as ints."""
    align = as_int(align, "align")
    if align not in ALIGNS:
        raise ValueError(f"align must be 8 or 16, got {align}")
    max_small = as_int(max_small, "max_small")
    if not align <= max_small <= MAX_MAX_SMALL or max_small % align:
        raise ValueError(
            f"max_small must be a multiple of align ({align}) between {align} and "
            f"{MAX_MAX_SMALL}, got {max_small}"
        )
    refill = as_int(refill, "refill")
    if not 1 <= refill <= MAX_REFILL:
        raise ValueError(f"refill must be between 1 and {MAX_REFILL}, got {refill}")
    return align, max_small, refill


def addresses_array(addrs: Iterable[object]) -> array[int]:
    """A private array('Q') copy of addrs, each entry checked like a single
    address (an int, not a bool, in range), naming the first bad entry.

    Always a copy: the C batch call reads the addresses more than once with
    the GIL released, so another thread must not be able to change them
    between the check and the free.  An array('Q') is copied as raw memory;
    anything else is read once and checked entry by entry.  (Address 0 is
    left to the pool: a checked pool refuses it as not live, with its index;
    an unchecked one skips it, as C's deallocate(NULL, n).)"""
    if isinstance(addrs, array) and addrs.typecode == "Q":
        return addrs[:]
    if isinstance(addrs, (bytes, bytearray, memoryview, str)):
        raise TypeError(
            f"addresses must be ints, not {type(addrs).__name__}; "
            "use array('Q') for packed addresses"
        )
    items = list(addrs)
    for i, a in enumerate(items):
        if type(a) is not int or not 0 <= a <= SIZE_MAX:
            if a != 0:
                as_address(a, f"address {i} in batch")
            if type(a) is not int:  # 0 as a float, a bool, ...
                as_int(a, f"address {i} in batch")
    return array("Q", cast("list[int]", items))  # every entry checked above
