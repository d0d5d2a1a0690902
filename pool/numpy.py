"""numpy's array data on a pool (NEP 49 data-memory handler named "sgi_pool").

    >>> import numpy as np, pool.numpy
    >>> with pool.numpy.allocator():
    ...     a = np.empty(4)           # a's data comes from the pool
    >>> np._core.multiarray.get_handler_name(a)
    'sgi_pool'

install(pool=None) / uninstall() / allocator(pool=None).  The handler glue
(pool/_numpy_handler.c) is compiled at first use against the installed
numpy's headers, with gcc, into a cache directory ($POOL_CACHE_DIR, else
~/.cache/pool), so neither numpy nor its headers are needed to build or use
the rest of the package (extra: pool[numpy]).  numpy keeps each array's
handler: arrays made under it stay valid after uninstall().  numpy's handler
is a context variable: install() affects the calling thread's context (new
threads start with numpy's default handler).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy

from . import _jit
from ._forksafe import ForkSafeLock
from ._pool_c import ffi, lib
from .core import Pool

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "_numpy_handler.c"

_lock = ForkSafeLock()  # default_pool()'s creation
_module: Any = None
_default: Pool | None = None
_previous: list[Any] = []  # handlers replaced by install(), for uninstall()


def _configure(module: Any) -> None:
    module.configure(_jit.address("sgi_pool_allocate"), _jit.address("sgi_pool_free_checked"),
                     _jit.address("sgi_pool_realloc"), _jit.address("sgi_pool_usable_size"))


def _glue() -> Any:
    global _module
    if _module is None:  # compiled with no lock held (pool/_jit.py)
        _module = _jit.glue(SOURCE, "_numpy_handler", [numpy.get_include()], _configure,
                            key_text=numpy.__version__)
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
        raise TypeError(f"pool.numpy: pool must be a pool.Pool or None, got "
                        f"{type(pool).__name__}")
    handle = pool._handle()
    opts = ffi.new("sgi_pool_options *")
    lib.sgi_pool_get_options(handle, opts)
    if not opts.thread_safe:
        raise ValueError("pool.numpy: the pool must be thread-safe (numpy may allocate "
                         "without the GIL); got a Pool(thread_safe=False)")
    return _glue().make_handler(int(ffi.cast("uintptr_t", handle)), handle)


def install(pool: Pool | None = None) -> None:
    """Makes numpy allocate array data from pool (in the calling context)."""
    _previous.append(_glue().set_handler(handler(pool)))


def uninstall() -> None:
    """Restores the handler that the last install() replaced."""
    if not _previous:
        raise RuntimeError("pool.numpy.uninstall(): no handler installed")
    _glue().set_handler(_previous.pop())


@contextlib.contextmanager
def allocator(pool: Pool | None = None) -> Iterator[None]:
    """with pool.numpy.allocator(): arrays made inside get their data from pool."""
    install(pool)
    try:
        yield
    finally:
        uninstall()
