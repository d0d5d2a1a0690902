"""tracemalloc and the pool: blocks handed out by `Pool` while tracemalloc
traces are reported in a domain of their own, DOMAIN, with the Python
traceback of the allocating call (the CPython fast path, pool._fast, does it;
the pure-cffi path, POOL_NO_FAST=1 and PyPy, does not report).

    >>> import tracemalloc, pool
    >>> tracemalloc.start()
    >>> p = pool.Pool(); a = p.allocate(64)
    >>> [t.size for t in pool.tracing.pool_traces(tracemalloc.take_snapshot()).traces]
    [64]
"""

from __future__ import annotations

import tracemalloc

DOMAIN = 0x53474950  # "SGIP"; csrc/python/fast.c's POOL_TRACE_DOMAIN


def pool_traces(snapshot: tracemalloc.Snapshot) -> tracemalloc.Snapshot:
    """The snapshot's traces of pool blocks only."""
    return snapshot.filter_traces([tracemalloc.DomainFilter(True, DOMAIN)])


def reported() -> bool:
    """True when this process's Pool reports to tracemalloc (the fast path is in use)."""
    from . import _fastpath
    return bool(_fastpath.ACTIVE)
