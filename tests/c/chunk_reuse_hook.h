/*
 * chunk_reuse_hook.h -- forced (-include) into sgi_pool.c alone by
 * tests/core/test_trim_c.py: the core's chunks come from the test's slots
 * (tests/c/checked_hints.c), and a released chunk's slot is the next one
 * handed out, so a chunk after a trim starts where a released one did.
 */
#include <stddef.h>
#include <stdlib.h> /* declared before the macro, so the declarations keep their names */

void *test_chunk(size_t n);
void test_chunk_release(void *base, size_t size);
#define malloc(n) test_chunk(n)
#define POOL_CHUNK_RELEASE(base, size) test_chunk_release(base, size)
