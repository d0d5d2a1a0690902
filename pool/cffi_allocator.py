"""`cffi_allocator(ffi, pool=None)`: cffi's ``ffi.new`` with memory from a pool.

    >>> import cffi, pool
    >>> ffi = cffi.FFI()
    >>> new = pool.cffi_allocator(ffi)
    >>> p = new("int[10]")          # zeroed, freed to the pool when p dies

The allocator is ``ffi.new_allocator`` given two C functions of
``pool._pool_c`` (csrc/glue/cffi_allocator.h) bound to the pool: no Python
code runs per allocation, and the free is size-less (the block directory).
A pool bound to an allocator keeps its small C handle for the life of the
process (cdata made by the allocator may outlive every Python reference to
the pool); close() still returns its memory, and a later free through the
allocator is then ignored.  At most 64 pools can be bound.
"""

from __future__ import annotations

from typing import Any

from . import errors
from ._forksafe import ForkSafeLock
from ._pool_c import lib
from .core import Pool, default_pool

_lock = ForkSafeLock()
_slots: list[Any] = []  # slot -> the bound pool's C handle (kept alive: see above)


def _slot_of(handle: Any) -> int:
    with _lock:
        for slot, bound in enumerate(_slots):
            if bound == handle:
                return slot
        if len(_slots) >= lib.POOL_CFFI_SLOTS:
            raise RuntimeError(f"cffi_allocator: at most {lib.POOL_CFFI_SLOTS} pools can be "
                               "bound to cffi allocators in one process")
        lib.pool_cffi_bind(len(_slots), handle)
        _slots.append(handle)
        return len(_slots) - 1


def cffi_allocator(ffi: Any, pool: Pool | None = None, *,
                   should_clear_after_alloc: bool = True) -> Any:
    """An allocator for ``ffi`` (a cffi.FFI) that behaves like ``ffi.new`` with
    memory from ``pool`` (default: pool.default_pool()).  Blocks are aligned to
    the pool's align (8 by default: give Pool(align=16) for 16-byte types).
    A refused allocation raises MemoryError, as ffi.new does."""
    if pool is None:
        pool = default_pool()
    if not isinstance(pool, Pool):
        raise TypeError(f"cffi_allocator: pool must be a pool.Pool or None, "
                        f"got {type(pool).__name__}")
    if pool.closed:
        raise errors.closed()
    slot = _slot_of(pool._handle())
    return ffi.new_allocator(lib.pool_cffi_alloc_fn(slot), lib.pool_cffi_free_fn(slot),
                             should_clear_after_alloc=should_clear_after_alloc)
