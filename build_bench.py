"""cffi build of the benchmark loops into ``pool._bench_c`` (out-of-line, API mode).

A separate module from ``pool._pool_c``: the C core stays free of benchmark
code.  ``bench/bench_loops.c`` (plain C11, no Python) holds the allocators
behind one vtable and the timed loops; the pool's own sources are compiled in
with the same flags, so the pool and the bare free-list floor are built alike.
The declarations cffi parses live in ``bench/bench_loops.cdef``.

``-fvisibility=hidden`` keeps this module's copy of the sgi_pool_* symbols
private (only PyInit__bench_c is exported): calls from the loops into the pool
are then direct calls, as in a C program that links the library statically,
and they can never bind to ``pool._pool_c``'s copy.

Set ``POOL_DEBUG=1`` for asserts on and no optimisation (as build_pool.py).
Run ``python build_bench.py`` to compile in place by hand.
"""

import os
import pathlib

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent
CSRC = "csrc"  # relative: setuptools wants relative source paths
BENCH = "bench"

# The pool's own sources, compiled into this module with its flags (the same
# list as build_pool.py's).  setuptools compiles each extension's sources in
# turn into one build_temp, so the two modules' objects of csrc/*.c are
# rebuilt for each module with its own flags (a parallel build_ext -j would
# race on them: not used).
CORE_SOURCES = sorted(f"{CSRC}/{p.name}" for p in (HERE / CSRC).glob("*.c"))
SOURCES = [f"{BENCH}/bench_loops.c", f"{BENCH}/bench_threads.c", *CORE_SOURCES]
DEPENDS = [f"{BENCH}/bench_loops.h", f"{BENCH}/bench_threads.h", f"{BENCH}/bench_loops.cdef",
           *sorted(f"{CSRC}/{p.name}" for p in (HERE / CSRC).glob("*.h"))]


def compile_args():
    common = ["-std=c11", "-Wall", "-Wextra", "-fvisibility=hidden"]
    if os.environ.get("POOL_DEBUG", "") not in ("", "0"):
        return common + ["-O0", "-g", "-UNDEBUG"]
    return common + ["-O3"]


ffibuilder = FFI()
ffibuilder.cdef((HERE / BENCH / "bench_loops.cdef").read_text())
ffibuilder.set_source(
    "pool._bench_c",
    '#include "bench_loops.h"\n#include "bench_threads.h"\n',
    sources=SOURCES,
    depends=DEPENDS,
    include_dirs=[CSRC, BENCH],
    define_macros=[("_GNU_SOURCE", None)],
    extra_compile_args=compile_args(),
    libraries=["dl", "pthread"],  # dlopen/dladdr, threads: part of libc since glibc 2.34
)

if __name__ == "__main__":
    os.chdir(HERE)
    ffibuilder.compile(verbose=True)
