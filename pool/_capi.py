"""The core's C API for C extensions: the versioned table of function pointers
of csrc/python/sgi_pool_capi.h, filled by pool._pool_c and exported here as
the PyCapsule ``pool._capi._C_API`` (as numpy exports ``_ARRAY_API``).

The fast path (pool._fast) and the glue compiled at first use (pool.numpy,
pool.pymem) take the core's functions from it with sgi_pool_capi_import(), so
the process has one copy of the core.  CPython only: PyPy's C extensions are
not served (there, cffi is the way in).

The capsule is made by pool._fast.capi_capsule (ctypes.pythonapi only where
pool._fast is missing: importing ctypes costs every `python -m pool run` about
1.3 ms).  handle_capsule() makes the capsules of Pool.capsule(): a pool's ``sgi_pool *``
named SGI_POOL_CAPI_HANDLE_NAME, whose context holds the Pool and its cffi
handle, so the pointer stays valid while an extension holds the capsule.
"""

from __future__ import annotations

import sys
from typing import Any

from ._pool_c import ffi, lib

try:  # the capsule destructor is C: pool._fast's (CPython only)
    from . import _fast
except ImportError:
    _fast = None

NAME = b"pool._capi._C_API"  # kept alive here: the capsule points at these bytes


def _make_capsule() -> object:
    table = int(ffi.cast("uintptr_t", lib.sgi_pool_capi_table()))
    if _fast is not None and hasattr(_fast, "capi_capsule"):  # without importing ctypes
        made: object = _fast.capi_capsule(table)
        return made
    import ctypes

    new = ctypes.pythonapi.PyCapsule_New
    new.restype = ctypes.py_object
    new.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)
    capsule: object = new(table, NAME, None)
    return capsule


# sys.implementation rather than platform.python_implementation(): the same answer
# without importing platform (1.4 ms of every `python -m pool run`'s start-up)
_C_API: object | None = _make_capsule() if sys.implementation.name == "cpython" else None


HANDLE_NAME = "pool.sgi_pool"  # SGI_POOL_CAPI_HANDLE_NAME of sgi_pool_capi.h


def handle_capsule(pool: object, handle: Any) -> object:
    """A capsule of handle (pool's cffi 'sgi_pool *') keeping pool and handle alive."""
    if _C_API is None or _fast is None:
        import platform

        raise RuntimeError(
            "Pool.capsule(): C extensions reach a pool through CPython's C API; "
            f"this interpreter is {platform.python_implementation()} or pool._fast "
            "is not built (use cffi and pool.ffi instead)"
        )
    capsule: object = _fast.handle_capsule(int(ffi.cast("uintptr_t", handle)), (pool, handle))
    return capsule
