"""tracemalloc and the pool: blocks handed out by `Pool` while tracemalloc
traces are reported in a domain of their own, DOMAIN, with the Python
traceback of the allocating call (the CPython fast path, pool._fast, does it;
the pure-cffi path, POOL_NO_FAST=1 and PyPy, does not report).

Every way memory leaves a pool untracks it, so tracemalloc's counts stay
exact: frees, reallocate and resize (the old block), close(), and the
destructor of a pool dropped without close() (an arena's region closes its
pool).

    >>> import tracemalloc, pool
    >>> tracemalloc.start()
    >>> p = pool.Pool(); a = p.allocate(64)
    >>> [t.size for t in pool.tracing.pool_traces(tracemalloc.take_snapshot()).traces]
    [64]
    >>> p.close()
    >>> len(pool.tracing.pool_traces(tracemalloc.take_snapshot()).traces)
    0
    >>> tracemalloc.stop()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from . import _fastpath

if TYPE_CHECKING:
    import tracemalloc


def _never_tracing() -> bool:
    return False


try:  # the C module: tracemalloc.is_tracing is this function, without the Python
    # module's imports (pickle, fnmatch, linecache) in every process that imports pool.core
    from _tracemalloc import is_tracing as _is_tracing
except ImportError:  # PyPy has no tracemalloc: nothing is traced there
    _is_tracing = _never_tracing

DOMAIN = 0x53474950  # "SGIP"; csrc/python/fast.c's POOL_TRACE_DOMAIN

# pool._fast.untrack_pool(handle), or None on the cffi path (nothing is tracked there)
_untrack_pool: Callable[[Any], bool] | None = (
    None if _fastpath._fast is None else _fastpath._fast.untrack_pool
)


def pool_traces(snapshot: tracemalloc.Snapshot) -> tracemalloc.Snapshot:
    """The snapshot's traces of pool blocks only."""
    import tracemalloc

    return snapshot.filter_traces([tracemalloc.DomainFilter(True, DOMAIN)])


def reported() -> bool:
    """True when this process's Pool reports to tracemalloc (the fast path is in use)."""
    return bool(_fastpath.ACTIVE)


def forget(handle: Any, is_tracing: Callable[[], bool] = _is_tracing) -> None:
    """Untracks every block of the pool behind handle (a cffi 'sgi_pool *'),
    just before its memory goes back: afterwards another pool may hand out
    the same addresses, and their traces must not be the ones removed.
    Costs nothing per block while tracemalloc is not tracing (stop() clears
    every trace, so there is none to remove).  is_tracing is bound at
    definition: cffi destructors may run while the interpreter tears modules
    down."""
    untrack = _untrack_pool
    if untrack is not None and is_tracing():
        untrack(handle)
