/*
 * chunk_release_hook.h -- forced (-include) into a build of the core by
 * tests/core/test_trim_c.py: the core gives chunks back through
 * POOL_CHUNK_RELEASE, which this build sends to the test's counter
 * (tests/c/chunk_release.c), as the LD_PRELOAD build sends it to its range.
 */
#include <stddef.h>

void test_chunk_release(void *base, size_t size);
#define POOL_CHUNK_RELEASE(base, size) test_chunk_release(base, size)
