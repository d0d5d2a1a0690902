"""setuptools build of ``pool/libsgipool.so``, the LD_PRELOAD library (csrc/preload/).

A plain shared library, not a Python module: no Python headers, no PyInit,
named ``libsgipool.so`` (``python -m pool preload`` prints its path).  It is
built with the package rather than on demand so that it needs no compiler
where it runs and is in the wheel.  It holds its own copy of the core
(build_pool.SOURCES), each file compiled with csrc/preload/sys_alloc.h
forced in, which renames the core's own malloc calls so that they cannot
come back into the library.  Not built on PyPy or outside Linux (it relies
on glibc's dlsym(RTLD_NEXT) interposition).
"""

import os
import pathlib
import platform
import sys

from setuptools import Extension
from setuptools.command.build_ext import build_ext

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from build_fast import WARNINGS  # noqa: E402
from build_pool import SOURCES, compile_args  # noqa: E402

NAME = "pool.libsgipool"
PRELOAD = "csrc/preload"

FLAGS = [
    "-include", f"{PRELOAD}/sys_alloc.h",
    "-fvisibility=hidden",          # only the malloc family is exported
    "-ftls-model=initial-exec",     # the core's thread-local: no allocation on first use
    "-fno-builtin-malloc", "-fno-builtin-calloc", "-fno-builtin-realloc", "-fno-builtin-free",
]


def wanted():
    return sys.platform.startswith("linux") and platform.python_implementation() == "CPython"


def extension():
    return Extension(
        NAME,
        sources=[f"{PRELOAD}/sgi_preload.c", *SOURCES],
        depends=[f"{PRELOAD}/sys_alloc.h", "csrc/sgi_pool.h"],
        include_dirs=["csrc"],
        define_macros=[("_GNU_SOURCE", None), ("SGI_POOL_NO_VALGRIND", None)],
        extra_compile_args=[a for a in compile_args() if not a.startswith("-fsanitize")]
        + WARNINGS + FLAGS,
        extra_link_args=["-ldl", "-lpthread"],
    )


class BuildExt(build_ext):
    """build_ext that names the preload library libsgipool.so (no ABI tag)."""

    def get_ext_filename(self, fullname):
        # distutils asks with the full name or only its last part, depending on the caller
        parts = fullname.split(".")
        if parts[-1] == NAME.rsplit(".", 1)[1]:
            return os.path.join(*parts[:-1], "libsgipool.so")
        return super().get_ext_filename(fullname)

    def get_export_symbols(self, ext):
        return [] if ext.name == NAME else super().get_export_symbols(ext)


def extensions():
    return [extension()] if wanted() else []


if __name__ == "__main__":
    import tempfile

    from setuptools import setup

    os.chdir(HERE)
    with tempfile.TemporaryDirectory() as scratch:
        setup(name="pool-preload", ext_modules=extensions(), packages=[],
              cmdclass={"build_ext": BuildExt},
              script_args=["build_ext", "--inplace", "--build-temp", scratch,
                           "--build-lib", scratch])
