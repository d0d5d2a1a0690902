"""cffi build of the C core into ``pool._pool_c`` (out-of-line, API mode).

The C sources live in ``csrc/`` as plain C; the declarations cffi parses live
in ``csrc/sgi_pool.cdef``.  Set ``POOL_DEBUG=1`` to build with asserts on and
without optimisation (Python's own flags carry -DNDEBUG, so it is undefined
explicitly), ``POOL_SANITIZE=1`` for ASan + UBSan, ``POOL_VALIDATE=1`` to check
the pool's invariants (pool_is_valid in csrc/sgi_pool.c) after its calls.  Run
``python build_pool.py`` to compile in place by hand.
"""

import os
import pathlib

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent
CSRC = "csrc"  # relative: setuptools wants relative source paths

# Every C file of the core (the allocator, its tables, the lock and fork units,
# the integer-address glue): one list, also used by build_bench.py.
CORE_SOURCES = sorted(f"{CSRC}/{p.name}" for p in (HERE / CSRC).glob("*.c"))
CORE_HEADERS = sorted(f"{CSRC}/{p.name}" for p in (HERE / CSRC).glob("*.h"))
# The parts that csrc/sgi_pool.c includes (one translation unit).
CORE_PARTS = sorted(f"{CSRC}/core/{p.name}" for p in (HERE / CSRC / "core").iterdir())
SOURCES = CORE_SOURCES
DEPENDS = [*CORE_HEADERS, *CORE_PARTS, f"{CSRC}/sgi_pool.cdef", f"{CSRC}/glue/cffi_allocator.h",
           f"{CSRC}/glue/cffi_allocator.cdef"]

# The module's own C: the declarations cffi needs (the integer-address glue
# lives in csrc/addr_glue.c).
PRELUDE = '#include "addr_glue.h"\n'


def _env_flag(name):
    return os.environ.get(name, "") not in ("", "0")


def compile_args():
    """Optimised by default; POOL_DEBUG=1: asserts on, -O0 -g; POOL_SANITIZE=1:
    AddressSanitizer + UndefinedBehaviorSanitizer (see scripts/sanitize.sh)."""
    args = ["-std=c11", "-Wall", "-Wextra"]
    args += ["-O0", "-g", "-UNDEBUG"] if _env_flag("POOL_DEBUG") else ["-O3"]
    if _env_flag("POOL_VALIDATE"):  # walk the pool's invariants after its calls
        args.append("-DSGI_POOL_VALIDATE")
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
