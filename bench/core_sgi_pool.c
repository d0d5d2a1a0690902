/* The pool's own source, compiled into pool._bench_c under a name of its own:
   an in-place build of pool._pool_c (build_pool.py) writes csrc/sgi_pool.o, and
   setuptools builds both extensions in one build_temp, so compiling
   csrc/sgi_pool.c directly here would share (and race on) that object file.
   Nothing is added or changed: this is csrc/sgi_pool.c, byte for byte. */
#include "sgi_pool.c"
