/* Edges of the C contract: every entry point on a closed pool (run under ASan
 * with its leak check: nothing may be allocated for a closed pool), a NULL
 * bad_index in a checked batch free, and NULL pools in a debug build.
 *
 *     closed_and_null closed     every entry point on closed pools; exit 0
 *     closed_and_null bad-index  checked batch free with a bad entry, bad_index NULL
 *     closed_and_null null NAME  calls entry point NAME with a NULL pool (a debug
 *                                build must stop at an assert)
 */
#include "sgi_pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                      \
    do {                                                                 \
        if (!(cond)) {                                                   \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                     \
        }                                                                \
    } while (0)

static sgi_pool *closed_pool(int checked)
{
    sgi_pool_options o;
    sgi_pool_options_init(&o);
    o.checked = checked;
    sgi_pool *p = sgi_pool_create(&o);
    CHECK(p != NULL);
    void *keep = sgi_pool_allocate(p, 24);
    CHECK(keep != NULL);
    sgi_pool_close(p);
    return p;
}

static int on_closed_pools(void)
{
    for (int checked = 0; checked <= 1; checked++) {
        sgi_pool *p = closed_pool(checked);
        void *out[1000];
        size_t bad = 7;
        void *q = NULL;
        CHECK(sgi_pool_allocate(p, 8) == NULL);
        CHECK(sgi_pool_allocate(p, 1000) == NULL);
        for (int round = 0; round < 50; round++) /* a leak here would grow the table */
            CHECK(sgi_pool_allocate_many(p, 8, 1000, out) == 0);
        CHECK(sgi_pool_allocate_many(p, 500, 10, out) == 0);
        sgi_pool_deallocate(p, out, 8);
        CHECK(sgi_pool_deallocate_checked(p, out, 8) == SGI_POOL_ECLOSED);
        void *ptrs[2] = {out, out + 1};
        CHECK(sgi_pool_deallocate_many(p, ptrs, 2, 8, &bad) == SGI_POOL_ECLOSED);
        CHECK(sgi_pool_deallocate_many(p, ptrs, 2, 8, NULL) == SGI_POOL_ECLOSED);
        CHECK(sgi_pool_free_many(p, ptrs, 2, NULL) == SGI_POOL_ECLOSED);
        CHECK(sgi_pool_free_checked(p, out) == SGI_POOL_ECLOSED);
        CHECK(sgi_pool_usable_size(p, out) == 0 && !sgi_pool_owns(p, out));
        CHECK(sgi_pool_blocks(p, NULL, NULL, 0) == 0);
        CHECK(sgi_pool_reallocate_checked(p, out, 8, 16, &q) == SGI_POOL_ECLOSED && q == NULL);
        CHECK(sgi_pool_reallocate_checked(p, NULL, 0, 16, &q) == SGI_POOL_ENOMEM);
        CHECK(sgi_pool_reallocate(p, NULL, 0, 300) == NULL);
        sgi_pool_set_heap_limit(p, 1 << 20);
        CHECK(sgi_pool_heap_size(p) == 0);
        sgi_pool_stats st;
        sgi_pool_get_stats(p, &st);
        CHECK(st.chunks == 0 && st.large_live == 0);
        size_t freeb[16], liveb[16];
        sgi_pool_class_counts(p, freeb, liveb);
        CHECK(sgi_pool_chunks(p, NULL, NULL, 0) == 0);
        CHECK(sgi_pool_free_list(p, 0, NULL, 0) == 0);
        CHECK(sgi_pool_live_blocks(p, NULL, NULL, 0) == 0);
        size_t n;
        CHECK(sgi_pool_block_size(p, out, &n) == SGI_POOL_ENOTLIVE);
        sgi_pool_capture c;
        memset(&c, 0, sizeof c);
        c.free_lengths = freeb;
        c.live_counts = liveb;
        CHECK(sgi_pool_capture_state(p, &c) == 1 && c.nchunks == 0);
        sgi_pool_close(p); /* twice is fine */
        sgi_pool_destroy(p);
    }
    sgi_pool_close(NULL);
    sgi_pool_destroy(NULL);
    size_t blocks, bytes;
    sgi_pool_process_totals(&blocks, &bytes);
    CHECK(blocks == 0 && bytes == 0);
    return 0;
}

static int bad_index_null(void)
{
    sgi_pool_options o;
    sgi_pool_options_init(&o);
    o.checked = 1;
    sgi_pool *p = sgi_pool_create(&o);
    void *a = sgi_pool_allocate(p, 8);
    int foreign;
    void *ptrs[3] = {a, &foreign, a};
    CHECK(sgi_pool_deallocate_many(p, ptrs, 3, 8, NULL) == SGI_POOL_ENOTLIVE);
    CHECK(sgi_pool_deallocate_many(p, ptrs + 2, 1, 16, NULL) == SGI_POOL_EWRONGCLASS);
    CHECK(sgi_pool_deallocate_many(p, (void *[]){a, a}, 2, 8, NULL) == SGI_POOL_EDUPLICATE);
    CHECK(sgi_pool_deallocate_many(p, ptrs, 1, 0, NULL) == SGI_POOL_EINVAL);
    CHECK(sgi_pool_free_many(p, ptrs, 3, NULL) == SGI_POOL_ENOTLIVE); /* size-less, too */
    CHECK(sgi_pool_free_many(p, (void *[]){a, a}, 2, NULL) == SGI_POOL_EDUPLICATE);
    CHECK(sgi_pool_deallocate_many(p, ptrs, 1, 8, NULL) == SGI_POOL_OK); /* a still live */
    sgi_pool_destroy(p);
    return 0;
}

static int null_pool(const char *name)
{
    sgi_pool *p = NULL;
    size_t n = 0;
    sgi_pool_stats st;
    void *out[1];
    if (strcmp(name, "allocate") == 0)
        (void)sgi_pool_allocate(p, 8);
    else if (strcmp(name, "deallocate") == 0)
        sgi_pool_deallocate(p, out, 8);
    else if (strcmp(name, "allocate_many") == 0)
        (void)sgi_pool_allocate_many(p, 8, 1, out);
    else if (strcmp(name, "reallocate") == 0)
        (void)sgi_pool_reallocate(p, NULL, 0, 8);
    else if (strcmp(name, "get_stats") == 0)
        sgi_pool_get_stats(p, &st);
    else if (strcmp(name, "block_size") == 0)
        (void)sgi_pool_block_size(p, out, &n);
    else
        return 2;
    printf("returned\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "closed") == 0)
        return on_closed_pools() == 0 ? (printf("all checks passed\n"), 0) : 1;
    if (argc >= 2 && strcmp(argv[1], "bad-index") == 0)
        return bad_index_null() == 0 ? (printf("all checks passed\n"), 0) : 1;
    if (argc >= 3 && strcmp(argv[1], "null") == 0)
        return null_pool(argv[2]);
    return 2;
}
