"""The core's C API for C extensions: the versioned table of function pointers
of csrc/python/sgi_pool_capi.h, filled by pool._pool_c and exported here as
the PyCapsule ``pool._capi._C_API`` (as numpy exports ``_ARRAY_API``).

The fast path (pool._fast) and the glue compiled at first use (pool.numpy,
pool.pymem) take the core's functions from it with sgi_pool_capi_import(), so
the process has one copy of the core.  CPython only: PyPy's C extensions are
not served (there, cffi is the way in).
"""

from __future__ import annotations

import ctypes
import platform

from ._pool_c import ffi, lib

NAME = b"pool._capi._C_API"  # kept alive here: the capsule points at these bytes


def _make_capsule() -> object:
    new = ctypes.pythonapi.PyCapsule_New
    new.restype = ctypes.py_object
    new.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)
    table = int(ffi.cast("uintptr_t", lib.sgi_pool_capi_table()))
    capsule: object = new(table, NAME, None)
    return capsule


_C_API: object | None = _make_capsule() if platform.python_implementation() == "CPython" else None
