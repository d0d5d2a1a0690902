/*
 * test_capi.c -- the C API used from plain C, without Python.
 *
 * Built and run by tests/core/test_c_api.py (gcc -std=c11 with the sources of csrc and this file);
 * it prints one line per check and exits nonzero on the first failure.
 */
#include "sgi_pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                             \
        }                                                                           \
    } while (0)

static size_t list_len(sgi_pool *p, size_t cls)
{
    return sgi_pool_free_list(p, cls, NULL, 0);
}

/* The worked example of docs/algorithm.md, as offsets within each chunk. */
static void worked_example(void)
{
    sgi_pool *p = sgi_pool_create(NULL);
    CHECK(p != NULL);
    char *a0 = sgi_pool_allocate(p, 8);
    uintptr_t base[4];
    size_t size[4];
    CHECK(sgi_pool_chunks(p, base, size, 4) == 1 && size[0] == 320);
    char *A = (char *)base[0];
    CHECK(a0 == A && list_len(p, 0) == 19);
    CHECK(sgi_pool_allocate(p, 8) == A + 8);
    CHECK(sgi_pool_allocate(p, 24) == A + 160 && list_len(p, 2) == 5);
    void *big = sgi_pool_allocate(p, 200);
    sgi_pool_stats st;
    sgi_pool_get_stats(p, &st);
    CHECK(big != NULL && st.large_bytes == 200 && st.heap_size == 320 && st.chunk_left == 16);
    sgi_pool_deallocate(p, A, 8);
    CHECK(list_len(p, 0) == 19);
    char *b0 = sgi_pool_allocate(p, 128);
    CHECK(sgi_pool_chunks(p, base, size, 4) == 2 && size[1] == 5144);
    CHECK(b0 == (char *)base[1] && sgi_pool_heap_size(p) == 5464);
    CHECK(list_len(p, 1) == 1 && list_len(p, 15) == 19);
    CHECK(sgi_pool_allocate(p, 16) == A + 304);
    CHECK(sgi_pool_allocate(p, 8) == A);
    sgi_pool_deallocate(p, big, 200);
    sgi_pool_destroy(p);
}

/* Part B's heap-limit example: a refused chunk leaves the leftover listed. */
static void heap_limit_example(void)
{
    sgi_pool_options o;
    sgi_pool_options_init(&o);
    o.heap_limit = 400;
    sgi_pool *p = sgi_pool_create(&o);
    char *A = sgi_pool_allocate(p, 8);
    CHECK(sgi_pool_allocate(p, 120) == A + 160);
    CHECK(sgi_pool_allocate(p, 120) == NULL);
    CHECK(sgi_pool_last_refused() == 4824);
    uintptr_t start, end;
    sgi_pool_current_chunk(p, &start, &end);
    CHECK(start == 0 && end == 0 && list_len(p, 4) == 1 && sgi_pool_heap_size(p) == 320);
    CHECK(sgi_pool_allocate(p, 40) == A + 280);
    sgi_pool_destroy(p);
}

/* Checked mode refuses bad frees with a code and keeps the pool usable. */
static void checked_mode(void)
{
    sgi_pool_options o;
    sgi_pool_options_init(&o);
    o.checked = 1;
    sgi_pool *p = sgi_pool_create(&o);
    char *a = sgi_pool_allocate(p, 24);
    CHECK(sgi_pool_deallocate_checked(p, a, 40) == SGI_POOL_EWRONGCLASS);
    CHECK(sgi_pool_deallocate_checked(p, a + 8, 24) == SGI_POOL_ENOTLIVE);
    CHECK(sgi_pool_deallocate_checked(p, a, 17) == SGI_POOL_OK); /* same class */
    CHECK(sgi_pool_deallocate_checked(p, a, 24) == SGI_POOL_ENOTLIVE); /* double free */
    void *v[3];
    CHECK(sgi_pool_allocate_many(p, 8, 2, v) == 2);
    v[2] = v[0];
    size_t bad = 99;
    CHECK(sgi_pool_deallocate_many(p, v, 3, 8, &bad) == SGI_POOL_EDUPLICATE && bad == 2);
    CHECK(sgi_pool_deallocate_many(p, v, 2, 8, &bad) == SGI_POOL_OK);
    sgi_pool_destroy(p);
}

/* Reallocate keeps contents across classes and into and out of large blocks. */
static void reallocate_contents(void)
{
    sgi_pool *p = sgi_pool_create(NULL);
    char *b = sgi_pool_allocate(p, 10);
    memcpy(b, "0123456789", 10);
    b = sgi_pool_reallocate(p, b, 10, 16); /* same class: unchanged */
    b = sgi_pool_reallocate(p, b, 16, 100);
    b = sgi_pool_reallocate(p, b, 100, 1000);
    b = sgi_pool_reallocate(p, b, 1000, 5000);
    b = sgi_pool_reallocate(p, b, 5000, 12);
    CHECK(b != NULL && memcmp(b, "0123456789", 10) == 0);
    CHECK(sgi_pool_reallocate(p, b, 12, 0) == NULL);
    CHECK(sgi_pool_allocate(p, 0) == NULL);
    sgi_pool_deallocate(p, NULL, 8);
    sgi_pool_destroy(p);
}

/* Size-less calls: the directory supplies the size, in both modes. */
static void sizeless_calls(int checked)
{
    sgi_pool_options o;
    sgi_pool_options_init(&o);
    o.checked = checked;
    sgi_pool *p = sgi_pool_create(&o);
    char *a = sgi_pool_allocate(p, 20);
    char *big = sgi_pool_allocate(p, 300);
    CHECK(p != NULL && a != NULL && big != NULL);
    CHECK(sgi_pool_usable_size(p, a) == 24 && sgi_pool_usable_size(p, big) == 300);
    CHECK(sgi_pool_owns(p, a) && sgi_pool_owns(p, big) && !sgi_pool_owns(p, NULL));
    CHECK(!sgi_pool_owns(p, a + 8) && !sgi_pool_owns(p, a + 4) && !sgi_pool_owns(p, big + 8));
    uintptr_t start, end;
    sgi_pool_current_chunk(p, &start, &end);
    CHECK(start < end && !sgi_pool_owns(p, (void *)start)); /* the tail is no block */
    CHECK(sgi_pool_free_checked(p, (void *)start) == SGI_POOL_ENOTLIVE);
    CHECK(sgi_pool_free_checked(p, a + 8) == SGI_POOL_ENOTLIVE);
    CHECK(sgi_pool_free_checked(p, big + 16) == SGI_POOL_ENOTLIVE);
    CHECK(sgi_pool_free_checked(p, NULL) == SGI_POOL_OK);
    sgi_pool_free(p, NULL);
    memcpy(a, "abcdefghijklmnopqrst", 20);
    char *b = sgi_pool_realloc(p, a, 100); /* keeps min(24, 100) bytes */
    CHECK(b != NULL && b != a && memcmp(b, "abcdefghijklmnopqrst", 20) == 0);
    CHECK(sgi_pool_owns(p, a) == !checked); /* unchecked: a carved block, live or free */
    CHECK(sgi_pool_usable_size(p, b) == 104);
    void *q;
    CHECK(sgi_pool_realloc_checked(p, b + 8, 8, &q) == SGI_POOL_ENOTLIVE && q == NULL);
    CHECK(sgi_pool_realloc_checked(p, NULL, 8, &q) == SGI_POOL_OK && q != NULL);
    CHECK(sgi_pool_realloc(p, q, 0) == NULL && sgi_pool_owns(p, q) == !checked);
    void *v[3] = {b, big, sgi_pool_allocate(p, 8)};
    size_t bad = 99;
    void *w[2] = {v[2], (char *)v[2] + 4};
    CHECK(sgi_pool_free_many(p, w, 2, &bad) == SGI_POOL_ENOTLIVE && bad == 1);
    CHECK(sgi_pool_free_many(p, v, 3, &bad) == SGI_POOL_OK);
    CHECK(sgi_pool_usable_size(p, v[2]) == (checked ? 0 : 8));
    if (checked) {
        CHECK(sgi_pool_free_checked(p, b) == SGI_POOL_ENOTLIVE); /* double free */
        sgi_pool_stats st;
        sgi_pool_get_stats(p, &st);
        CHECK(st.large_live == 0 && sgi_pool_live_blocks(p, NULL, NULL, 0) == 0);
    }
    /* Every carved block is in the directory's map, the tail is not. */
    size_t nblocks = sgi_pool_blocks(p, NULL, NULL, 0);
    CHECK(nblocks > 0);
    sgi_pool_close(p);
    CHECK(sgi_pool_free_checked(p, b) == SGI_POOL_ECLOSED && !sgi_pool_owns(p, b));
    CHECK(sgi_pool_blocks(p, NULL, NULL, 0) == 0);
    sgi_pool_destroy(p);
}

/* destroy returns every chunk and large block. */
static void destroy_returns_memory(void)
{
    size_t blocks0, bytes0, blocks1, bytes1;
    sgi_pool_process_totals(&blocks0, &bytes0);
    sgi_pool *p = sgi_pool_create(NULL);
    for (int i = 0; i < 10000; i++)
        CHECK(sgi_pool_allocate(p, (size_t)(i % 300) + 1) != NULL);
    sgi_pool_process_totals(&blocks1, &bytes1);
    CHECK(bytes1 > bytes0);
    sgi_pool_destroy(p);
    sgi_pool_process_totals(&blocks1, &bytes1);
    CHECK(blocks1 == blocks0 && bytes1 == bytes0);
}

/* Held blocks (numpy's handler): a close() under live held blocks keeps the
   memory, which no other call sees, until the last held block goes. */
static void held_blocks(int checked)
{
    size_t blocks0, bytes0, blocks1, bytes1, blocks2, bytes2;
    sgi_pool_process_totals(&blocks0, &bytes0);
    sgi_pool_options o;
    sgi_pool_options_init(&o);
    o.checked = checked;
    sgi_pool *p = sgi_pool_create(&o);
    char *a = sgi_pool_allocate_held(p, 20);
    char *b = sgi_pool_allocate_held(p, 8);
    char *c = sgi_pool_allocate_held(p, 8);
    char *mine = malloc(64);
    CHECK(a != NULL && b != NULL && c != NULL && mine != NULL);
    memcpy(a, "abcdefghijklmnopqrst", 20);
    memcpy(b, "held", 5);
    CHECK(sgi_pool_free_held(p, sgi_pool_allocate_held(p, 8)) == SGI_POOL_OK); /* uncounted */
    CHECK(sgi_pool_free_held(p, mine) == SGI_POOL_ENOTLIVE); /* not the pool's: untouched */
    void *q = NULL;
    CHECK(sgi_pool_realloc_held(p, mine, 8, &q) == SGI_POOL_ENOTLIVE && q == NULL);
    /* the sized held free: the block back on its size's list, the count with it */
    char *d = sgi_pool_allocate_held(p, 24);
    CHECK(d != NULL && sgi_pool_deallocate_held(p, d, 24) == SGI_POOL_OK);
    CHECK(sgi_pool_allocate_held(p, 24) == d && sgi_pool_deallocate_held(p, d, 20) == SGI_POOL_OK);
    CHECK(sgi_pool_deallocate_held(p, NULL, 8) == SGI_POOL_OK);
    CHECK(sgi_pool_deallocate_held(p, mine, 0) == SGI_POOL_ENOTLIVE); /* 0: size-less */
    /* the same with free() for what is not the pool's (numpy's handler's one call) */
    CHECK(sgi_pool_allocate_held(p, 24) == d);
    CHECK(sgi_pool_deallocate_held_or_free(p, d, 24) == SGI_POOL_OK);
    CHECK(sgi_pool_allocate_held(p, 17) == d && sgi_pool_deallocate_held_or_free(p, d, 0) == SGI_POOL_OK);
    CHECK(sgi_pool_deallocate_held_or_free(p, NULL, 8) == SGI_POOL_OK);
    CHECK(sgi_pool_deallocate_held_or_free(p, malloc(200), 200) == SGI_POOL_ENOTLIVE); /* freed */
    CHECK(sgi_pool_deallocate_held_or_free(p, malloc(8), 0) == SGI_POOL_ENOTLIVE);
    CHECK(sgi_pool_realloc_held(p, c, 200, &q) == SGI_POOL_OK && sgi_pool_owns(p, q));
    c = q; /* still held: a large block of the pool now */
    sgi_pool_process_totals(&blocks1, &bytes1);
    sgi_pool_close(p);
    sgi_pool_process_totals(&blocks2, &bytes2);
    CHECK(blocks2 == blocks1 && bytes2 == bytes1); /* kept for the held blocks */
    CHECK(sgi_pool_allocate_held(p, 8) == NULL && sgi_pool_allocate(p, 8) == NULL);
    CHECK(!sgi_pool_owns(p, a) && sgi_pool_free_checked(p, a) == SGI_POOL_ECLOSED);
    sgi_pool_free(p, b);           /* refused: only the held calls see the memory */
    sgi_pool_deallocate(p, b, 8);
    CHECK(sgi_pool_blocks(p, NULL, NULL, 0) == 0 && sgi_pool_heap_size(p) == 0);
    CHECK(sgi_pool_realloc_held(p, a, 40, &q) == SGI_POOL_OK); /* moves to malloc */
    CHECK(q != NULL && memcmp(q, "abcdefghijklmnopqrst", 20) == 0);
    CHECK(sgi_pool_free_held(p, q) == SGI_POOL_ENOTLIVE); /* the system's now */
    CHECK(sgi_pool_deallocate_held(p, q, 40) == SGI_POOL_ENOTLIVE); /* closed: size-less */
    CHECK(sgi_pool_deallocate_held_or_free(p, q, 40) == SGI_POOL_ENOTLIVE); /* freed */
    CHECK(sgi_pool_deallocate_held_or_free(p, c, 200) == SGI_POOL_OK); /* retired: no free() */
    CHECK(strcmp(b, "held") == 0);
    sgi_pool_process_totals(&blocks2, &bytes2);
    CHECK(bytes2 > bytes0);
    CHECK(sgi_pool_deallocate_held(p, b, 8) == SGI_POOL_OK); /* the last: the memory goes */
    sgi_pool_process_totals(&blocks2, &bytes2);
    CHECK(blocks2 == blocks0 && bytes2 == bytes0);
    CHECK(sgi_pool_free_held(p, b) == SGI_POOL_ENOTLIVE);
    sgi_pool_destroy(p);
    free(mine);
    /* destroy releases everything, held blocks or not */
    p = sgi_pool_create(&o);
    CHECK(sgi_pool_allocate_held(p, 8) != NULL);
    sgi_pool_close(p);
    sgi_pool_destroy(p);
    sgi_pool_process_totals(&blocks2, &bytes2);
    CHECK(blocks2 == blocks0 && bytes2 == bytes0);
}

/* sgi_pool_trim: a burst freed goes back but for the current chunk; the
   pool grows again; totals, stats and a closed pool. */
static void trim_calls(int checked)
{
    sgi_pool_options o;
    sgi_pool_options_init(&o);
    o.checked = checked;
    size_t blocks0, bytes0, blocks1, bytes1;
    sgi_pool_process_totals(&blocks0, &bytes0);
    sgi_pool *p = sgi_pool_create(&o);
    enum { N = 20000 };
    static void *got[N];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++)
            got[i] = sgi_pool_allocate(p, 24);
        void *keep = got[N - 1]; /* the newest block: in the current chunk */
        for (int i = 0; i < N - 1; i++)
            sgi_pool_deallocate(p, got[i], 24);
        sgi_pool_stats before;
        sgi_pool_trim_stats t0, t1;
        sgi_pool_get_stats(p, &before);
        sgi_pool_get_trim_stats(p, &t0);
        CHECK(t0.releasable_chunks == before.chunks - 1 && t0.releasable_bytes > 0);
        size_t released = sgi_pool_trim(p);
        sgi_pool_stats after;
        sgi_pool_get_stats(p, &after);
        sgi_pool_get_trim_stats(p, &t1);
        CHECK(released == t0.releasable_bytes);
        CHECK(after.chunks == 1 && after.heap_size == before.heap_size);
        CHECK(t1.released_bytes - t0.released_bytes == released && t1.releasable_bytes == 0);
        CHECK(sgi_pool_trim(p) == 0);
        sgi_pool_deallocate(p, keep, 24);
    }
    sgi_pool_process_totals(&blocks1, &bytes1);
    CHECK(blocks1 == blocks0 + 1); /* the current chunk */

    /* sgi_pool_trim_pages (B.14): one block of every 500 kept, the pages
       between them go back; they are carved again before any new chunk */
    for (int i = 0; i < N; i++)
        got[i] = sgi_pool_allocate(p, 24);
    for (int i = 0; i < N; i++)
        if (i % 500 != 0)
            sgi_pool_deallocate(p, got[i], 24);
    sgi_pool_stats s0, s1;
    sgi_pool_trim_stats t2;
    sgi_pool_page_stats g0, g1;
    sgi_pool_get_trim_stats(p, &t2);
    sgi_pool_get_page_stats(p, &g0);
    CHECK(g0.releasable_page_bytes >= 4096 && g0.spans == 0 && g0.span_bytes == 0);
    size_t page_released = sgi_pool_trim_pages(p);
    CHECK(page_released == t2.releasable_bytes + g0.releasable_page_bytes);
    sgi_pool_get_page_stats(p, &g1);
    CHECK(g1.releasable_page_bytes == 0 && g1.spans > 0 && g1.span_bytes > 0);
    CHECK(g1.released_page_bytes == g0.releasable_page_bytes);
    sgi_pool_get_stats(p, &s0);
    sgi_pool_page_stats g2 = g1;
    for (int i = 0; i < N && g2.spans > 0; i++) { /* the spans first: no new chunk */
        CHECK(sgi_pool_allocate(p, 24) != NULL);
        sgi_pool_get_stats(p, &s1);
        CHECK(s1.chunks == s0.chunks && s1.heap_size == s0.heap_size);
        sgi_pool_get_page_stats(p, &g2);
    }
    CHECK(g2.spans == 0 && g2.span_bytes == 0 && g2.released_page_bytes == g1.released_page_bytes);
    sgi_pool_close(p);
    CHECK(sgi_pool_trim(p) == 0);
    CHECK(sgi_pool_trim_pages(p) == 0);
    sgi_pool_destroy(p);
    sgi_pool_process_totals(&blocks1, &bytes1);
    CHECK(blocks1 == blocks0 && bytes1 == bytes0);
}

/* NULL to every free is a no-op with SGI_POOL_OK, in every kind of pool,
   open and closed (the checked fast paths take NULL to their miss path, which
   answers it), and changes nothing. */
static void null_frees(void)
{
    for (int kind = 0; kind < 4; kind++) {
        sgi_pool_options o;
        sgi_pool_options_init(&o);
        o.checked = kind & 1;
        o.thread_safe = (kind & 2) != 0;
        sgi_pool *p = sgi_pool_create(&o);
        CHECK(p != NULL);
        void *a = sgi_pool_allocate(p, 8); /* (a biased pool now has its owner) */
        CHECK(a != NULL);
        size_t heap = sgi_pool_heap_size(p), free0 = list_len(p, 0);
        for (int closed = 0; closed <= 1; closed++) {
            CHECK(sgi_pool_deallocate_checked(p, NULL, 8) == SGI_POOL_OK);
            CHECK(sgi_pool_deallocate_checked(p, NULL, 1000) == SGI_POOL_OK);
            CHECK(sgi_pool_free_checked(p, NULL) == SGI_POOL_OK);
            sgi_pool_deallocate(p, NULL, 8);
            sgi_pool_free(p, NULL);
            CHECK(sgi_pool_heap_size(p) == (closed ? 0 : heap) && list_len(p, 0) == (closed ? 0 : free0));
            if (!closed) {
                CHECK(sgi_pool_usable_size(p, a) == 8); /* still live */
                sgi_pool_close(p);
            }
        }
        sgi_pool_destroy(p);
    }
}

int main(void)
{
    worked_example();
    heap_limit_example();
    checked_mode();
    reallocate_contents();
    sizeless_calls(0);
    sizeless_calls(1);
    destroy_returns_memory();
    held_blocks(0);
    held_blocks(1);
    trim_calls(0);
    trim_calls(1);
    null_frees();
    sgi_pool_options bad;
    sgi_pool_options_init(&bad);
    bad.align = 12;
    CHECK(sgi_pool_create(&bad) == NULL);
    if (failures == 0)
        printf("c api: all checks passed\n");
    return failures != 0;
}
