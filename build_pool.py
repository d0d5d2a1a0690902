"""cffi build of the C core into ``pool._pool_c`` (out-of-line, API mode).

The C sources live in ``csrc/`` as plain C; the declarations cffi parses live
in ``csrc/sgi_pool.cdef``.  Set ``POOL_DEBUG=1`` to build with asserts on and
without optimisation (Python's own flags carry -DNDEBUG, so it is undefined
explicitly), ``POOL_SANITIZE=1`` for ASan + UBSan.  Run ``python build_pool.py``
to compile in place by hand.
"""

import os
import pathlib

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent
CSRC = "csrc"  # relative: setuptools wants relative source paths

SOURCES = [f"{CSRC}/sgi_pool.c", f"{CSRC}/block_table.c", f"{CSRC}/block_directory.c"]
DEPENDS = [f"{CSRC}/sgi_pool.h", f"{CSRC}/block_table.h", f"{CSRC}/block_directory.h",
           f"{CSRC}/sgi_pool.cdef", f"{CSRC}/glue/cffi_allocator.h",
           f"{CSRC}/glue/cffi_allocator.cdef"]

# Integer-address wrappers: a uintptr_t crosses the FFI more cheaply than a
# void * cdata, and Python code holds addresses as ints.
PRELUDE = r"""
#include "sgi_pool.h"
static uintptr_t pool_allocate(sgi_pool *p, size_t n)
{ return (uintptr_t)sgi_pool_allocate(p, n); }
static void pool_deallocate(sgi_pool *p, uintptr_t addr, size_t n)
{ sgi_pool_deallocate(p, (void *)addr, n); }
static int pool_deallocate_checked(sgi_pool *p, uintptr_t addr, size_t n)
{ return sgi_pool_deallocate_checked(p, (void *)addr, n); }
static int pool_reallocate(sgi_pool *p, uintptr_t addr, size_t old_n, size_t new_n, uintptr_t *out)
{ void *q; int s = sgi_pool_reallocate_checked(p, (void *)addr, old_n, new_n, &q);
  *out = (uintptr_t)q; return s; }
static int pool_block_size(sgi_pool *p, uintptr_t addr, size_t *n)
{ return sgi_pool_block_size(p, (const void *)addr, n); }
static int pool_free(sgi_pool *p, uintptr_t addr)
{ return sgi_pool_free_checked(p, (void *)addr); }
static int pool_realloc(sgi_pool *p, uintptr_t addr, size_t new_n, uintptr_t *out)
{ void *q; int s = sgi_pool_realloc_checked(p, (void *)addr, new_n, &q);
  *out = (uintptr_t)q; return s; }
static size_t pool_usable_size(sgi_pool *p, uintptr_t addr)
{ return sgi_pool_usable_size(p, (const void *)addr); }
static int pool_owns(sgi_pool *p, uintptr_t addr)
{ return sgi_pool_owns(p, (const void *)addr); }
"""


def _env_flag(name):
    return os.environ.get(name, "") not in ("", "0")


def compile_args():
    """Optimised by default; POOL_DEBUG=1: asserts on, -O0 -g; POOL_SANITIZE=1:
    AddressSanitizer + UndefinedBehaviorSanitizer (see scripts/sanitize.sh)."""
    args = ["-std=c11", "-Wall", "-Wextra"]
    args += ["-O0", "-g", "-UNDEBUG"] if _env_flag("POOL_DEBUG") else ["-O3"]
    return args + sanitize_args()


def sanitize_args():
    if not _env_flag("POOL_SANITIZE"):
        return []
    return ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
            "-fno-omit-frame-pointer", "-g"]


ffibuilder = FFI()
ffibuilder.cdef((HERE / CSRC / "sgi_pool.cdef").read_text())
# ffi.new_allocator's C functions (pool/cffi_allocator.py)
ffibuilder.cdef((HERE / CSRC / "glue" / "cffi_allocator.cdef").read_text())
ffibuilder.set_source(
    "pool._pool_c",
    PRELUDE + '#include "glue/cffi_allocator.h"\n',
    sources=SOURCES,
    depends=DEPENDS,
    include_dirs=[CSRC],
    define_macros=[("_GNU_SOURCE", None)],
    extra_compile_args=compile_args(),
    extra_link_args=sanitize_args(),
)

if __name__ == "__main__":
    os.chdir(HERE)
    ffibuilder.compile(verbose=True)
