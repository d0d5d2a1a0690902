"""`cffi_allocator(ffi, pool=None)`: cffi's ``ffi.new`` with memory from a pool.

    >>> import cffi, pool
    >>> ffi = cffi.FFI()
    >>> new = pool.cffi_allocator(ffi)
    >>> p = new("int[10]")          # zeroed, freed to the pool when p dies

The allocator is ``ffi.new_allocator`` given two C functions of
``pool._pool_c`` (csrc/python/cffi_allocator.h) bound to the pool through one of
64 slots: no Python code runs per allocation, and the free is size-less (the
block directory).

Lifetime: the slot's binding holds the pool's C handle, and it is held by the
two function objects given to cffi (``ffi.gc`` objects whose destructor is a
method of the binding).  The allocator holds both, and cffi keeps the free
function with every object it allocated, so the pool lives exactly as long as
the `Pool`, the allocator or any object made by it is referenced: a bound pool
dropped with all of them is freed as an unbound one, and its slot is reused.
close() still returns the memory at once; a later free through the allocator
is then ignored.
"""

from __future__ import annotations

import gc
import weakref
from typing import Any

from . import errors
from ._forksafe import ForkSafeLock
from ._pool_c import ffi as _ffi
from ._pool_c import lib
from .core import Pool, default_pool


class _Binding:
    """A slot bound to one pool's C handle, alive while anything that can call
    the slot's functions is referenced."""

    __slots__ = ("slot", "handle", "__weakref__")

    def __init__(self, slot: int, handle: Any) -> None:
        self.slot = slot
        self.handle = handle  # the cffi 'sgi_pool *': the pool lives while the binding does

    def keep(self, _function: Any) -> None:
        """The ffi.gc destructor of the slot's function objects: nothing to do;
        being their destructor is what makes them hold the binding."""


_lock = ForkSafeLock()
# slot -> its binding while that lives; a dead or absent one is a free slot
_bindings: list[weakref.ref[_Binding] | None] = [None] * lib.POOL_CFFI_SLOTS


def _binding_for(handle: Any) -> _Binding:
    """The live binding of handle's pool, or a new one in a free slot."""
    for attempt in range(2):
        with _lock:
            free = None
            for slot, ref in enumerate(_bindings):
                binding = None if ref is None else ref()
                if binding is None:
                    free = slot if free is None else free
                elif binding.handle == handle:
                    return binding
            if free is not None:
                binding = _Binding(free, handle)
                lib.pool_cffi_bind(free, handle)
                _bindings[free] = weakref.ref(binding)
                return binding
        if attempt == 0:
            gc.collect()  # outside the lock: allocators kept only by garbage cycles
    raise RuntimeError(
        f"cffi_allocator: at most {lib.POOL_CFFI_SLOTS} pools can be bound to "
        "cffi allocators at once in one process (a pool is bound while it, "
        "an allocator for it or an object made by one is referenced)"
    )


def cffi_allocator(
    ffi: Any, pool: Pool | None = None, *, should_clear_after_alloc: bool = True
) -> Any:
    """An allocator for ``ffi`` (a cffi.FFI) that behaves like ``ffi.new`` with
    memory from ``pool`` (default: pool.default_pool()).  Blocks are aligned to
    the pool's align (8 by default: give Pool(align=16) for 16-byte types).
    A refused allocation raises MemoryError, as ffi.new does."""
    if pool is None:
        pool = default_pool()
    if not isinstance(pool, Pool):
        raise TypeError(
            f"cffi_allocator: pool must be a pool.Pool or None, got {type(pool).__name__}"
        )
    if pool.closed:
        raise errors.closed()
    binding = _binding_for(pool._handle())
    alloc = _ffi.gc(lib.pool_cffi_alloc_fn(binding.slot), binding.keep)
    free = _ffi.gc(lib.pool_cffi_free_fn(binding.slot), binding.keep)
    return ffi.new_allocator(alloc, free, should_clear_after_alloc=should_clear_after_alloc)
