"""Builds every compiled artefact of pool, from one table of sources and flags.

Built with the package (``pip install .``; ``setup.py`` is only cffi's
setuptools hook and takes everything from here):

=====================  =========  ==============================================
artefact               how        sources
=====================  =========  ==============================================
pool._pool_c           cffi       the core (csrc/*.c; csrc/sgi_pool.c includes
                                  csrc/core/) and the Python bindings' C
                                  (csrc/python/cffi_allocator.h, and the C API
                                  table of csrc/python/sgi_pool_capi.h)
pool._fast             C API      csrc/python/fast.c (CPython only: the fast
                                  path; calls cffi's copy of the core)
pool._bench_c          cffi       csrc/bench/bench_loops.c, bench_threads.c and
                                  a private copy of the core
pool/libsgipool.so     shared     csrc/preload/sgi_preload.c and its own copy
                       library    of the core (Linux, CPython: LD_PRELOAD)
=====================  =========  ==============================================

Compiled later, by the code that needs them (named here so every C file has a
home): csrc/bench/containers.cpp (g++, by ``pool.bench.containers`` when the
benchmark runs; the wheel ships it with the core's sources under
``pool/bench/csrc``), csrc/preload/trace_recorder.c (``python build_pool.py
recorder OUT``: the LD_PRELOAD trace recorder, docs/recording-traces.md), and
the first-use glue csrc/python/numpy_handler.c and pymem_hook.c (compiled by
``pool/_jit.py`` at first use against the installed numpy or Python; the
wheel ships them with the core's header under ``pool/include``).

Switches (environment): ``POOL_DEBUG=1`` asserts on, ``-O0 -g`` (Python's own
flags carry -DNDEBUG, so it is undefined explicitly); ``POOL_SANITIZE=1``
ASan + UBSan; ``POOL_VALIDATE=1`` walks the pool's invariants after its calls
(csrc/core/validate.c).  By hand: ``python build_pool.py [NAME ...]`` builds
the named artefacts (core, fast, bench, preload; all by default) in place.
"""

from __future__ import annotations

import os
import pathlib
import platform
import shutil
import subprocess
import sys

from cffi import FFI
from setuptools import Extension
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = pathlib.Path(__file__).resolve().parent
CSRC = "csrc"  # relative: setuptools wants relative source paths
PYGLUE = f"{CSRC}/python"
BENCH = f"{CSRC}/bench"
PRELOAD = f"{CSRC}/preload"


def _files(folder: str, pattern: str) -> list[str]:
    return sorted(f"{folder}/{p.name}" for p in (HERE / folder).glob(pattern))


# The core: every top-level csrc/*.c is one unit to compile; csrc/core/ holds
# the parts that sgi_pool.c includes.
CORE_SOURCES = _files(CSRC, "*.c")
CORE_DEPENDS = [*_files(CSRC, "*.h"), *_files(f"{CSRC}/core", "*"), f"{CSRC}/sgi_pool.cdef"]

WARNINGS = ["-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Wconversion", "-Werror=implicit"]

# The first-use glue and the headers it includes, shipped in the wheel under
# pool/include (pool.get_include() in a later release names that folder).
SHIPPED_GLUE = [
    f"{PYGLUE}/numpy_handler.c",
    f"{PYGLUE}/pymem_hook.c",
    f"{CSRC}/sgi_pool.h",
    f"{PYGLUE}/sgi_pool_capi.h",
]


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def sanitize_args() -> list[str]:
    if not _env_flag("POOL_SANITIZE"):
        return []
    return [
        "-fsanitize=address,undefined",
        "-fno-sanitize-recover=undefined",
        "-fno-omit-frame-pointer",
        "-g",
    ]


def compile_args() -> list[str]:
    """Optimised by default; POOL_DEBUG, POOL_VALIDATE, POOL_SANITIZE as above."""
    args = ["-std=c11", "-Wall", "-Wextra"]
    args += ["-O0", "-g", "-UNDEBUG"] if _env_flag("POOL_DEBUG") else ["-O3"]
    if _env_flag("POOL_VALIDATE"):
        args.append("-DSGI_POOL_VALIDATE")
    return args + sanitize_args()


# ---- pool._pool_c: the core, exposed through cffi --------------------------------------

ffibuilder = FFI()
ffibuilder.cdef((HERE / CSRC / "sgi_pool.cdef").read_text())
ffibuilder.cdef((HERE / PYGLUE / "cffi_allocator.cdef").read_text())  # ffi.new_allocator's C
ffibuilder.cdef((HERE / PYGLUE / "capi_table.cdef").read_text())  # the C API capsule's table
ffibuilder.set_source(
    "pool._pool_c",
    '#include "addr_glue.h"\n#include "python/cffi_allocator.h"\n#include "python/capi_table.h"\n',
    sources=CORE_SOURCES,
    depends=[*CORE_DEPENDS, *_files(PYGLUE, "*.h"), *_files(PYGLUE, "*.cdef")],
    include_dirs=[CSRC],
    define_macros=[("_GNU_SOURCE", None)],
    extra_compile_args=compile_args(),
    extra_link_args=sanitize_args(),
)

# ---- pool._bench_c: the benchmark loops, with a private copy of the core ---------------
# -fvisibility=hidden keeps this copy's sgi_pool_* symbols private, so the loops
# call it directly, as a C program linked statically would, and never bind to
# pool._pool_c's copy.  (setuptools builds extensions one after the other in one
# build_temp, so the two copies of csrc/*.c are compiled each with its own flags.)

bench_ffibuilder = FFI()
bench_ffibuilder.cdef((HERE / BENCH / "bench_loops.cdef").read_text())
bench_ffibuilder.set_source(
    "pool._bench_c",
    '#include "bench_loops.h"\n#include "bench_threads.h"\n',
    sources=[f"{BENCH}/bench_loops.c", f"{BENCH}/bench_threads.c", *CORE_SOURCES],
    depends=[*_files(BENCH, "*.h"), f"{BENCH}/bench_loops.cdef", *CORE_DEPENDS],
    include_dirs=[CSRC, BENCH],
    define_macros=[("_GNU_SOURCE", None)],
    extra_compile_args=[a for a in compile_args() if a not in sanitize_args()]
    + ["-fvisibility=hidden"],
    libraries=["dl", "pthread"],  # dlopen/dladdr, threads: part of libc since glibc 2.34
)


# ---- pool._fast: the CPython fast path (glue over cffi's copy of the core) -------------


def fast_extension() -> Extension:
    return Extension(
        "pool._fast",
        sources=[f"{PYGLUE}/fast.c"],
        depends=[f"{CSRC}/sgi_pool.h", f"{PYGLUE}/sgi_pool_capi.h"],
        include_dirs=[CSRC, PYGLUE],
        extra_compile_args=compile_args() + WARNINGS,
        extra_link_args=sanitize_args(),
    )


# ---- pool/libsgipool.so: the LD_PRELOAD library ----------------------------------------
# A plain shared library (no Python), with its own copy of the core, each file
# compiled with sys_alloc.h forced in so that the core's own malloc calls go to
# the real malloc and never come back into the library.

PRELOAD_NAME = "pool.libsgipool"
PRELOAD_FLAGS = [
    "-include",
    f"{PRELOAD}/sys_alloc.h",
    "-fvisibility=hidden",  # only the malloc family is exported
    "-ftls-model=initial-exec",  # the core's thread-local: no allocation on first use
    "-fno-builtin-malloc",
    "-fno-builtin-calloc",
    "-fno-builtin-realloc",
    "-fno-builtin-free",
    # each function and object in its own section, so that the link drops what the
    # preload never reaches (the Python-only calls, the recorder's hooks): less text
    # mapped into every program it is preloaded into
    "-ffunction-sections",
    "-fdata-sections",
]


# the malloc family; the chunk range (reuse of released chunks); the automatic trim;
# whether the C++ sized deletes may free with their size
PRELOAD_SOURCES = [
    f"{PRELOAD}/sgi_preload.c",
    f"{PRELOAD}/range.c",
    f"{PRELOAD}/autotrim.c",
    f"{PRELOAD}/cxx_delete.c",
]


def preload_extension() -> Extension:
    return Extension(
        PRELOAD_NAME,
        sources=[*PRELOAD_SOURCES, *CORE_SOURCES],
        depends=[*_files(PRELOAD, "*.h"), *CORE_DEPENDS],
        include_dirs=[CSRC],
        define_macros=[("_GNU_SOURCE", None), ("SGI_POOL_NO_VALGRIND", None)],
        extra_compile_args=[a for a in compile_args() if not a.startswith("-fsanitize")]
        + WARNINGS
        + PRELOAD_FLAGS,
        extra_link_args=["-ldl", "-lpthread", "-Wl,--gc-sections"],
    )


def _cpython() -> bool:
    return platform.python_implementation() == "CPython"


def extensions() -> list[Extension]:
    """The setuptools extensions: the fast path on CPython (PyPy uses the cffi
    path), the preload library on Linux CPython (glibc's dlsym(RTLD_NEXT))."""
    out = [fast_extension()] if _cpython() else []
    if _cpython() and sys.platform.startswith("linux"):
        out.append(preload_extension())
    return out


class BuildExt(build_ext):
    """build_ext that names the preload library libsgipool.so (no ABI tag, no PyInit)."""

    def get_ext_filename(self, fullname: str) -> str:
        # distutils asks with the full name or only its last part, depending on the caller
        parts = fullname.split(".")
        if parts[-1] == PRELOAD_NAME.rsplit(".", 1)[1]:
            return os.path.join(*parts[:-1], "libsgipool.so")
        return str(super().get_ext_filename(fullname))

    def get_export_symbols(self, ext: Extension) -> list[str]:
        return [] if ext.name == PRELOAD_NAME else list(super().get_export_symbols(ext))


# What the benchmark's C++ rows compile at run time (pool.bench.containers,
# pool.bench.preload_threads): containers.cpp, threads_containers.cpp and the
# core's sources, shipped under pool/bench/csrc in the csrc/ layout so that an
# installed package needs no checkout.
SHIPPED_BENCH_SOURCES = [
    f"{BENCH}/containers.cpp",
    f"{BENCH}/threads_containers.cpp",
    *CORE_SOURCES,
    *_files(CSRC, "*.h"),
    *_files(f"{CSRC}/core", "*"),
]


class BuildPy(build_py):
    """build_py that ships the first-use glue and the core's header in
    pool/include, and the C++ benchmark's sources in pool/bench/csrc."""

    def run(self) -> None:
        super().run()
        include = pathlib.Path(self.build_lib) / "pool" / "include"
        include.mkdir(parents=True, exist_ok=True)
        for source in SHIPPED_GLUE:
            shutil.copyfile(HERE / source, include / pathlib.Path(source).name)
        bench_csrc = pathlib.Path(self.build_lib) / "pool" / "bench" / "csrc"
        for source in SHIPPED_BENCH_SOURCES:
            target = bench_csrc / pathlib.Path(source).relative_to(CSRC)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(HERE / source, target)


def cmdclass() -> dict[str, type]:
    return {"build_ext": BuildExt, "build_py": BuildPy}


# ---- compiled later ----------------------------------------------------------------------

RECORDER_SOURCE = f"{PRELOAD}/trace_recorder.c"


def recorder_command(out: str | os.PathLike[str], cc: str | None = None) -> list[str]:
    """The gcc command that builds the trace recorder (an LD_PRELOAD shim)."""
    return [
        cc or os.environ.get("CC", "gcc"),
        "-std=gnu11",
        "-O2",
        "-g",
        "-Wall",
        "-Wextra",
        "-shared",
        "-fPIC",
        "-o",
        str(out),
        str(HERE / RECORDER_SOURCE),
        "-ldl",
        "-pthread",
    ]


def _build_in_place(names: list[str]) -> None:
    import tempfile

    from setuptools import setup

    os.chdir(HERE)
    if "core" in names:
        ffibuilder.compile(verbose=True)
    if "bench" in names:
        bench_ffibuilder.compile(verbose=True)
    wanted = {"fast": "pool._fast", "preload": PRELOAD_NAME}
    exts = [e for e in extensions() if any(wanted.get(n) == e.name for n in names)]
    if exts:
        with tempfile.TemporaryDirectory() as scratch:  # no ./build left behind
            setup(
                name="pool-build",
                ext_modules=exts,
                packages=[],
                cmdclass=cmdclass(),
                script_args=[
                    "build_ext",
                    "--inplace",
                    "--build-temp",
                    scratch,
                    "--build-lib",
                    scratch,
                ],
            )


ARTEFACTS = ("core", "fast", "bench", "preload")

if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["recorder"]:
        if len(args) != 2:
            sys.exit("usage: python build_pool.py recorder OUT.so")
        sys.exit(subprocess.run(recorder_command(args[1])).returncode)
    unknown = [a for a in args if a not in ARTEFACTS]
    if unknown:
        sys.exit(
            f"usage: python build_pool.py [{' | '.join(ARTEFACTS)} ...] | recorder OUT.so"
            f" (unknown: {' '.join(unknown)})"
        )
    _build_in_place(args or list(ARTEFACTS))
