"""pool: the SGI STL node allocator as a C library with a Python API.

    >>> from pool import Pool
    >>> with Pool() as p:
    ...     a = p.allocate(24)
    ...     p.buffer(a)[:5] = b"hello"
    ...     p.deallocate(a, 24)
"""

from ._pool_c import ffi
from .core import Pool, default_pool, process_totals
from .errors import (
    InvalidBlockError,
    PoolClosedError,
    PoolError,
    PoolMemoryError,
    SizeClassError,
)
from .stats import PoolStats, SizeClassStats

__all__ = [
    "Pool",
    "default_pool",
    "process_totals",
    "ffi",
    "PoolStats",
    "SizeClassStats",
    "PoolError",
    "PoolClosedError",
    "InvalidBlockError",
    "SizeClassError",
    "PoolMemoryError",
]
