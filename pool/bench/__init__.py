"""The benchmark suite: ``python -m pool bench`` (also ``python -m pool.bench``).

Sections, each measured side by side in one run (allocators take turns in
every repeat, in a rotating order, so a noisy machine hits them alike):

C level       Loops compiled into ``pool._bench_c`` (csrc/bench/bench_loops.c): the
              timed loop runs in C with no FFI inside, after an untimed warm-up
              pass.  Patterns LIFO, FIFO burst, random churn over sizes 16, 32,
              64, 128 and mixed (uniform 1..128, fixed seed), plus the replay
              of a recorded trace.  Allocators: the bare free-list floor, this
              pool (unchecked single-thread, thread-safe, checked), glibc, and
              jemalloc / mimalloc when their libraries load.
Python level  timeit-style loops: Pool allocate+deallocate pairs against one
              bare cffi call and against malloc/free through cffi; batch calls
              per block; Arena.new and its batch path against ffi.new.
Memory        bytes obtained per requested byte for a million small blocks.
C++           std::map / std::list / std::set on std::allocator,
              __gnu_cxx::__pool_alloc and this pool (csrc/bench/containers.cpp,
              compiled with g++ at run time).

Times are the benchmark thread's CPU time by default (``--clock wall`` for
elapsed time): these machines are shared, and CPU time leaves out the time the
thread waits descheduled.  Output: a table of medians with the min-max spread
and ratios of medians to the floor and to glibc; ``--json FILE`` keeps every
sample; ``--plot FILE.png`` draws them, one figure per section (``.pdf``: one
page per section; needs matplotlib: the "plot" extra).  A figure whose spread
is above 20% of its median, and a busy machine, are reported as "may be
unstable" (stability.py); ``--baseline OLD.json --fail-above R`` compares with
a saved run and ``--from-json`` reports a saved run; ``--only numpy``,
``pool-run`` and ``programs`` run the integration rows (integrations.py).

jemalloc: Debian's libjemalloc.so.2 needs more static TLS than a dlopen gets
by default.  When its dlopen fails for that reason, the benchmark runs itself
again in a child process with ``GLIBC_TUNABLES=glibc.rtld.optional_static_tls=``
set (glibc reads tunables only at process start); ``--no-reexec`` turns that
off and the jemalloc rows are then skipped with the loader's message.
"""

from .cli import main

__all__ = ["main"]
