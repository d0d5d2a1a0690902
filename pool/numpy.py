"""numpy's array data on a pool (NEP 49 data-memory handler named "sgi_pool").

    >>> import numpy as np, pool.numpy
    >>> with pool.numpy.allocator():
    ...     a = np.empty(4)           # a's data comes from the pool
    >>> pool.numpy.handles(a)     # its data block is a pool's
    True

install(pool=None) / uninstall() / allocator(pool=None) / handles(array, pool=None).
The handler glue
(csrc/python/numpy_handler.c) is compiled at first use against the installed
numpy's headers, with gcc, into a cache directory ($POOL_CACHE_DIR, else
~/.cache/pool), so neither numpy nor its headers are needed to build or use
the rest of the package (extra: pool[numpy]); a new numpy version compiles it
anew.  numpy keeps each array's
handler: arrays made under it stay valid after uninstall().  numpy's handler
is a context variable (NEP 49): install() affects the calling context only (a
thread's own, an asyncio task's copy; new threads start with numpy's default
handler), and uninstall() restores what *this* context had.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy

from . import _jit
from ._forksafe import ForkSafeLock
from ._pool_c import ffi, lib
from .core import Pool

HERE = Path(__file__).resolve().parent
SOURCE = _jit.glue_source("numpy_handler.c")

_lock = ForkSafeLock()  # default_pool()'s creation
_module: Any = None
_default: Pool | None = None
# The handlers install() replaced, innermost last, for uninstall(): a context
# variable beside numpy's own, so that each context restores its own handler
# (a process-wide stack let one thread's uninstall() restore another's).
_previous: contextvars.ContextVar[tuple[Any, ...]] = contextvars.ContextVar(
    "pool.numpy.previous_handlers", default=()
)


def _glue() -> Any:
    global _module
    if _module is None:  # compiled with no lock held (pool/_jit.py)
        # (the glue takes the core from the C API capsule when it loads)
        _module = _jit.glue(
            SOURCE, "_numpy_handler", [numpy.get_include()], key_text=numpy.__version__
        )
    return _module


def default_pool() -> Pool:
    """The pool numpy arrays use when install() is given none: align 16 (as
    malloc), unchecked, thread-safe (numpy may allocate without the GIL)."""
    global _default
    with _lock:
        if _default is None or _default.closed:
            _default = Pool(align=16, checked=False, thread_safe=True)
        return _default


def handler(pool: Pool | None = None) -> Any:
    """A "mem_handler" capsule serving array data from pool (default: default_pool())."""
    if pool is None:
        pool = default_pool()
    if not isinstance(pool, Pool):
        raise TypeError(f"pool.numpy: pool must be a pool.Pool or None, got {type(pool).__name__}")
    handle = pool._handle()
    opts = ffi.new("sgi_pool_options *")
    lib.sgi_pool_get_options(handle, opts)
    if not opts.thread_safe:
        raise ValueError(
            "pool.numpy: the pool must be thread-safe (numpy may allocate "
            "without the GIL); got a Pool(thread_safe=False)"
        )
    return _glue().make_handler(int(ffi.cast("uintptr_t", handle)), handle)


def handles(array: numpy.ndarray[Any, Any], pool: Pool | None = None) -> bool:
    """True when array's data block is a block of pool (of any pool served
    through pool.numpy when pool is None): the array that owns the data (a
    view's base) got it from a pool.numpy handler, and it is small enough to
    be the pool's (larger data goes to the system's allocator, see above)."""
    if pool is not None and not isinstance(pool, Pool):
        raise TypeError(
            f"pool.numpy.handles: pool must be a pool.Pool or None, got {type(pool).__name__}"
        )
    found = _glue().owner(array)  # raises TypeError for a non-array
    if found is None:
        return False
    if pool is None:
        return True
    handle = pool._p  # a closed pool owns no block any more
    return handle is not None and found[0] == int(ffi.cast("uintptr_t", handle))


def install(pool: Pool | None = None) -> None:
    """Makes numpy allocate array data from pool in the calling context."""
    _install(pool)


def _install(pool: Pool | None) -> tuple[Any, contextvars.Token[tuple[Any, ...]]]:
    """install(), returning the handler replaced and the token of its record."""
    new = handler(pool)  # first: a refused pool changes nothing
    old = _glue().set_handler(new)
    _pin_errstate()
    return old, _previous.set(_previous.get() + (old,))


# numpy 2's error state (np.errstate, np.seterr): a context variable.  Older
# numpy keeps it per thread (no variable: nothing to pin).
_errstate: Any = getattr(
    getattr(getattr(numpy, "_core", None), "umath", None), "_extobj_contextvar", None
)


def _pin_errstate() -> None:
    """Sets numpy's error state in this context to what it is.  Installing a
    handler gives the thread a context; from then on every lookup of a
    variable *unset* in it walks the context's map (the lookup of a set one is
    cached), and numpy looks its error state up on every ufunc call: about 120
    instructions each, 2% of `(v * 2.0 + 1.0).sum()`.  The value is the same
    object, so np.errstate and np.seterr behave as before.  (The public
    np.setbufsize(np.getbufsize()) would do the same, but made each
    allocator() enter and exit 1.8 us slower; this, 0.2 us.)"""
    if _errstate is not None:
        _errstate.set(_errstate.get())


def uninstall() -> None:
    """Restores the handler that the last install() in this context replaced."""
    stack = _previous.get()
    if not stack:
        raise RuntimeError(
            "pool.numpy.uninstall(): no handler installed in this context "
            "(numpy's handler is per context: each thread has its own)"
        )
    _glue().set_handler(stack[-1])
    _previous.set(stack[:-1])


@contextlib.contextmanager
def allocator(pool: Pool | None = None) -> Iterator[None]:
    """with pool.numpy.allocator(): arrays made inside get their data from pool.

    On exit the context's handler and install()'s record are what they were on
    entry (also after an unbalanced install() or uninstall() inside)."""
    old, token = _install(pool)
    try:
        yield
    finally:
        _previous.reset(token)  # first: raises (changing nothing) in another context
        _glue().set_handler(old)
