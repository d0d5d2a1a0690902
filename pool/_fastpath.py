"""Chooses how Pool's hot methods run: the C-API fast path (pool._fast) on
CPython, or the pure-cffi methods written in pool/core.py.

``POOL_NO_FAST=1`` in the environment forces the cffi path; so does PyPy, or
an interpreter for which pool._fast was not built.  The choice is made once,
at import, and is the same for every Pool of the process.

The fast path calls the one copy of the C core, cffi's (pool._pool_c),
through a table of its function addresses: the per-thread last refused
request, the process totals and the fork registry stay shared with every
cffi caller.
"""

from __future__ import annotations

import os
from array import array
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from . import _validate as v
from ._pool_c import ffi

# The methods pool._fast implements; the rest of Pool stays Python.
HOT_METHODS = (
    "allocate",
    "allocate_zeroed",
    "deallocate",
    "reallocate",
    "resize",
    "allocate_many",
    "deallocate_many",
    "buffer",
)


def _load() -> tuple[ModuleType | None, str | None]:
    """(pool._fast, None), or (None, why the cffi path is used)."""
    if os.environ.get("POOL_NO_FAST", "") not in ("", "0"):
        return None, "POOL_NO_FAST is set"
    try:
        from . import _fast
    except ImportError as e:
        return None, f"pool._fast is not built for this interpreter ({e})"
    return _fast, None


class CffiBase:
    """Pool's first base on the cffi path: its state is plain attributes."""

    __slots__ = ()


_fast, WHY_NOT = _load()
ACTIVE = _fast is not None  # True: Pool's hot methods are pool._fast's

if TYPE_CHECKING:

    class Base:
        """What type checkers see of Pool's first base (pool._fast.FastPool or
        CffiBase): the state both keep, whichever is chosen at run time."""

        _p: Any  # the cffi 'sgi_pool *' handle, None once closed
        _checked: bool
        _align: int
        _max_small: int
        _trusted_max: int  # deallocate trusts small frees up to this size
else:
    Base = _fast.FastPool if ACTIVE else CffiBase  # Pool's first base class

# The cffi path's methods, as written in core.py (filled by install()): the
# fast path's buffer() lets the cffi one raise its errors; tests compare docs.
CFFI_METHODS: dict[str, Callable[..., Any]] = {}


_HANDLE = ffi.typeof("sgi_pool *")


def _address_of(handle: object) -> int:
    """The address of a pool's cffi handle, for the fast path's C state."""
    if not isinstance(handle, ffi.CData) or ffi.typeof(handle) is not _HANDLE:
        raise TypeError(f"a pool handle must be a cffi 'sgi_pool *', not {handle!r}")
    return int(ffi.cast("uintptr_t", handle))


def install(cls: type) -> None:
    """Makes cls (Pool) use the fast path's hot methods, keeping the cffi
    ones in CFFI_METHODS.  Does nothing on the cffi path."""
    CFFI_METHODS.update((name, cls.__dict__[name]) for name in HOT_METHODS)
    if _fast is None:  # not ACTIVE
        return
    from . import _capi  # noqa: F401  (the capsule that configure() imports)

    _fast.configure(
        v.as_size,
        v.as_address,
        v.as_count,
        v.addresses_array,
        _address_of,
        array("Q", [0]),
        array,
        CFFI_METHODS["buffer"],
    )
    for name in HOT_METHODS:
        setattr(cls, name, Base.__dict__[name])


_T = TypeVar("_T")
_twins: dict[type, type] = {}


def cffi_twin(cls: type[_T]) -> type[_T]:
    """A class with cls's methods but the cffi path's hot methods and plain
    attributes for its state, exactly what POOL_NO_FAST=1 makes of cls: for
    comparing the two paths in one process (tests, benchmarks).  cls itself
    when the fast path is not active."""
    if not ACTIVE:
        return cls
    if cls not in _twins:
        body = {k: v for k, v in cls.__dict__.items() if k not in ("__dict__", "__weakref__")}
        body.update(CFFI_METHODS)
        body["__doc__"] = f"{cls.__name__} on the cffi path (pool._fastpath.cffi_twin)."
        bases = tuple(CffiBase if b is Base else b for b in cls.__bases__)
        _twins[cls] = type(f"Cffi{cls.__name__}", bases, body)
    return _twins[cls]
