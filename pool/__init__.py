"""pool: the SGI STL node allocator as a C library with a Python API.

    >>> from pool import Pool
    >>> with Pool() as p:
    ...     a = p.allocate(24)
    ...     p.buffer(a)[:5] = b"hello"
    ...     p.deallocate(a, 24)

The C-backed names (Pool, Arena, ffi, ...) are imported on first use, so the
pure-Python reference model (pool.ReferencePool) works without the compiled
module.
"""

__version__ = "0.2.0"

from typing import TYPE_CHECKING, Any

from .errors import (
    InvalidBlockError,
    PoolClosedError,
    PoolError,
    PoolMemoryError,
    SizeClassError,
)

if TYPE_CHECKING:  # the lazy names below, for type checkers
    from ._pool_c import ffi
    from .arena import Arena
    from .cffi_allocator import cffi_allocator
    from .core import Pool, default_pool, process_totals
    from .model.reference import ReferencePool
    from .stats import PoolState, PoolStats, SizeClassStats
    from .view import show
_FROM_C = {
    # (the model is pure Python, imported on first use too: `python -m pool run`
    # starts every program, and the model is a third of `import pool`)
    "ReferencePool": ".model.reference",
    "Pool": ".core",
    "default_pool": ".core",
    "process_totals": ".core",
    "Arena": ".arena",
    "cffi_allocator": ".cffi_allocator",
    "ffi": "._pool_c",
    "show": ".view",  # drawing code: imported on first use too
    # dataclasses (with inspect, ast, dis, tokenize: about 1 MiB of RSS and 7 ms) are
    # imported by the first stats() or the first of these names, not by `import pool`
    "PoolStats": ".stats",
    "PoolState": ".stats",
    "SizeClassStats": ".stats",
}

__all__ = [
    "__version__",
    "Pool",
    "ReferencePool",
    "Arena",
    "default_pool",
    "process_totals",
    "cffi_allocator",
    "ffi",
    "get_include",
    "show",
    "PoolStats",
    "PoolState",
    "SizeClassStats",
    "PoolError",
    "PoolClosedError",
    "InvalidBlockError",
    "SizeClassError",
    "PoolMemoryError",
]


def get_include() -> str:
    """The folder of the C headers for C extensions that use the pool:
    sgi_pool_capi.h (the versioned C API capsule) and sgi_pool.h (the core).
    Pass it to the compiler (``include_dirs=[pool.get_include()]``)."""
    from ._jit import include_folder

    return str(include_folder())


def __getattr__(name: str) -> Any:  # typed above (TYPE_CHECKING); cffi modules are Any
    import importlib

    # submodules looked up as attributes: _capi, the C API capsule's module, which
    # PyCapsule_Import finds here; stats, which `import pool` no longer imports itself
    if name in ("_capi", "stats"):
        return importlib.import_module(f".{name}", __name__)
    module = _FROM_C.get(name)
    if module is None:
        raise AttributeError(f"module 'pool' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
