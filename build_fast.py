"""setuptools build of ``pool._fast``, the CPython fast path (pool/_fast.c).

Glue only: it includes csrc/sgi_pool.h for the types and calls the core
through function pointers taken from ``pool._pool_c`` at import (one copy of
the core per process), so no csrc/*.c is compiled into it.  Same optimisation
and sanitizer switches as build_pool.py (POOL_DEBUG, POOL_SANITIZE).  Not
built on PyPy, where cffi is the fast way.  ``python build_fast.py`` builds
it in place by hand (scripts/sanitize.sh does).
"""

import os
import pathlib
import platform
import sys

from setuptools import Extension

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from build_pool import compile_args, sanitize_args  # noqa: E402  (same switches)

WARNINGS = ["-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Wconversion", "-Werror=implicit"]


def wanted():
    """CPython only: PyPy uses the cffi path."""
    return platform.python_implementation() == "CPython"


def extension():
    return Extension(
        "pool._fast",
        sources=["pool/_fast.c"],
        depends=["csrc/sgi_pool.h"],
        include_dirs=["csrc"],
        extra_compile_args=compile_args() + WARNINGS,
        extra_link_args=sanitize_args(),
    )


def extensions():
    return [extension()] if wanted() else []


if __name__ == "__main__":
    import tempfile

    from setuptools import setup

    os.chdir(HERE)
    with tempfile.TemporaryDirectory() as scratch:  # no ./build left to shadow `python -m build`
        setup(name="pool-fast", ext_modules=extensions(), packages=[],
              script_args=["build_ext", "--inplace", "--build-temp", scratch,
                           "--build-lib", scratch])
