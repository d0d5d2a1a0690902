/*
 * chunk_release.c -- the core returns every chunk through POOL_CHUNK_RELEASE
 * (trim and destroy alike), once each, with its size.  Built by
 * tests/core/test_trim_c.py with tests/c/chunk_release_hook.h forced in.
 */
#include "sgi_pool.h"

#include <stdio.h>
#include <stdlib.h>

static size_t released_chunks, released_bytes;

void test_chunk_release(void *base, size_t size)
{
    released_chunks++;
    released_bytes += size;
    free(base);
}

int main(void)
{
    sgi_pool *p = sgi_pool_create(NULL);
    enum { N = 50000 };
    static void *got[N];
    for (int i = 0; i < N; i++)
        got[i] = sgi_pool_allocate(p, 16);
    for (int i = 0; i < N; i++)
        sgi_pool_deallocate(p, got[i], 16);
    sgi_pool_stats st;
    sgi_pool_get_stats(p, &st);
    size_t trimmed = sgi_pool_trim(p);
    sgi_pool_trim_stats t;
    sgi_pool_get_trim_stats(p, &t);
    int ok = trimmed > 0 && released_bytes == trimmed && released_chunks == t.released_chunks &&
             released_chunks == st.chunks - 1;
    sgi_pool_destroy(p);
    ok = ok && released_chunks == st.chunks && released_bytes == st.heap_size;
    printf("%s: %zu chunks, %zu bytes through POOL_CHUNK_RELEASE\n", ok ? "ok" : "FAILED",
           released_chunks, released_bytes);
    return !ok;
}
