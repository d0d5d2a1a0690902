/*
 * dir_map.c -- the block directory's address -> chunk map
 * (csrc/block_directory.h), built plain and under ThreadSanitizer by
 * tests/core/test_block_directory.py.
 *
 * The directory only records addresses, so the chunks here are made-up
 * ranges: sharing 4 KiB pages, crossing a leaf's 16 MiB and a mid node's
 * 64 GiB, beyond the map's 2^48, added out of address order, removed
 * (dir_remove) and added again.  Then readers without a lock look up
 * chunks while a writer (holding a mutex, as the pool's lock) adds more.
 */
#include "block_directory.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static int failures;
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)

static void add(block_directory *d, uintptr_t base, size_t size)
{
    CHECK(dir_prepare(d, size));
    dir_commit(d, base, size);
}

/* Both lookups agree: the chunk holding addr has this base (0: none). */
static void expect(block_directory *d, uintptr_t addr, uintptr_t base)
{
    dir_chunk *locked = dir_find(d, addr);
    const dir_chunk *unlocked = dir_find_unlocked(d, addr);
    CHECK(base == 0 ? locked == NULL : locked != NULL && locked->base == base);
    if (base >> DIR_ADDRESS_BITS) /* beyond the map: the locked lookup walks the list */
        CHECK(unlocked == NULL);
    else
        CHECK(unlocked == locked);
}

static void expect_chunk(block_directory *d, uintptr_t base, size_t size)
{
    expect(d, base, base);
    expect(d, base + size / 2, base);
    expect(d, base + size - 1, base);
}

typedef struct walked {
    uintptr_t last;
    size_t count;
    int ordered;
} walked;

static void visit(void *ctx, uintptr_t addr, size_t size, bool live)
{
    walked *w = ctx;
    (void)size;
    (void)live;
    w->ordered &= addr > w->last;
    w->last = addr;
    w->count++;
}

#define G ((uintptr_t)1 << 30)
#define M ((uintptr_t)1 << 20)

static void test_map(void)
{
    block_directory d;
    dir_init(&d, 3, false);
    expect(&d, 0x10000, 0); /* empty: no map yet */
    /* three small chunks sharing pages, added out of order */
    uintptr_t a = 0x7f0000001000, b = a + 640, c = a + 640 + 1000;
    add(&d, c, 3000);
    add(&d, a, 640);
    add(&d, b, 1000);
    /* a chunk across a leaf (16 MiB) and one across a mid node (64 GiB) */
    uintptr_t leaf_cross = 0x7f0001000000 - 8192, mid_cross = ((uintptr_t)1 << 36) * 5 - 4096;
    add(&d, leaf_cross, 3 * 4096);
    add(&d, mid_cross, 2 * M);
    uintptr_t high = (uintptr_t)1 << 50; /* beyond 2^48: unmapped, walked */
    add(&d, high, 4096);
    CHECK(d.unmapped);
    CHECK(d.count == 6);
    expect_chunk(&d, a, 640);
    expect_chunk(&d, b, 1000);
    expect_chunk(&d, c, 3000);
    expect_chunk(&d, leaf_cross, 3 * 4096);
    expect_chunk(&d, mid_cross, 2 * M);
    expect_chunk(&d, high, 4096);
    expect(&d, c + 3000, 0); /* just past a chunk, same page */
    expect(&d, a - 8, 0);
    expect(&d, leaf_cross - 1, 0);
    expect(&d, mid_cross + 2 * M, 0);
    expect(&d, 4096, 0);
    expect(&d, ~(uintptr_t)0, 0);

    /* the locked callers' cache: two ways per set, so the chunks sharing a
       page stay cached side by side (the checked fast paths use the cache
       alone: a record it does not hold sends them to the full lookup) */
    CHECK(dir_find_cached(&d, a) == NULL || dir_find_cached(&d, a)->base == a);
    dir_find(&d, a);
    dir_find(&d, b);
    CHECK(dir_find_cached(&d, a) != NULL && dir_find_cached(&d, a)->base == a);
    CHECK(dir_find_cached(&d, b + 8) != NULL && dir_find_cached(&d, b + 8)->base == b);
    CHECK(dir_find_cached(&d, b + 1000) == NULL || dir_find_cached(&d, b + 1000)->base == c);
    dir_find(&d, c + 8); /* a third record for the page: the least recent one (a) goes */
    CHECK(dir_find_cached(&d, a) == NULL);
    CHECK(dir_find_cached(&d, b) != NULL && dir_find_cached(&d, c + 8) != NULL);
    CHECK(dir_find_cached(&d, a + 4 * DIR_CACHE_SIZE * 4096) == NULL); /* another page, same set */

    /* start bits and sizes */
    dir_mark_carved(&d, b, 40, 5); /* five blocks of 40 and the tail start at b + 200 */
    dir_chunk *cb = dir_find(&d, b);
    CHECK(dir_extent(&d, cb, 0) == 40 && dir_extent(&d, cb, 20) == 40);
    CHECK(dir_extent(&d, cb, 25) == 800); /* the tail: to the chunk end */

    /* remove the middle of three chunks sharing a page: its neighbours stay */
    dir_remove(&d, b);
    CHECK(dir_find_cached(&d, b) == NULL); /* removed: out of the cache too */
    CHECK(d.count == 5);
    CHECK(atomic_load(&d.removals) == 1); /* readers' own caches of records go stale */
    expect(&d, b, 0);
    expect(&d, b + 999, 0);
    expect_chunk(&d, a, 640);
    expect_chunk(&d, c, 3000);
    dir_remove(&d, b); /* no chunk there now: nothing happens */
    dir_remove(&d, b + 8);
    CHECK(d.count == 5 && atomic_load(&d.removals) == 1);
    /* the first of a page, then a chunk across a leaf, then the unmapped one */
    dir_remove(&d, a);
    expect(&d, a, 0);
    expect_chunk(&d, c, 3000);
    dir_remove(&d, leaf_cross);
    expect(&d, leaf_cross + 4096, 0);
    expect(&d, leaf_cross + 2 * 4096, 0);
    dir_remove(&d, high);
    expect(&d, high, 0);
    CHECK(d.count == 2);
    /* the range again, as one chunk: a fresh record */
    add(&d, a, 1500);
    expect_chunk(&d, a, 1500);
    expect(&d, a + 1500, 0);
    expect_chunk(&d, c, 3000);

    walked w = {0, 0, 1};
    dir_walk(&d, 0, visit, &w);
    CHECK(w.ordered && w.count == 3); /* a, c, mid_cross: each its start bit */
    dir_free(&d);
    CHECK(d.count == 0 && d.head == NULL && d.retired == NULL);
    expect(&d, c, 0);
}

/* ---- readers without a lock while a writer adds and removes chunks ------- */

#define ADDED 3000
static block_directory shared;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_size_t published; /* chunks [0, published) are in the map */
static atomic_int stop, wrong;

static uintptr_t base_of(size_t i)
{
    /* pages shared by neighbours, leaves and mid nodes crossed as it grows */
    return 0x100000000000 + (uintptr_t)i * 1536 + (uintptr_t)(i / 500) * 40 * G;
}

static void *reader(void *arg)
{
    (void)arg;
    uint64_t s = 88172645463325252u;
    while (!atomic_load(&stop)) {
        size_t n = atomic_load_explicit(&published, memory_order_acquire);
        if (n == 0)
            continue;
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        size_t i = (size_t)(s % n);
        if (i % 7 == 3)
            continue; /* removed ones may be found or not */
        const dir_chunk *c = dir_find_unlocked(&shared, base_of(i) + 1000);
        if (c == NULL || c->base != base_of(i) ||
            !dir_starts_in(c, 0, false)) /* its bitmap, whole */
            atomic_fetch_add(&wrong, 1);
    }
    return NULL;
}

static void test_readers_while_growing(void)
{
    dir_init(&shared, 3, false);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, reader, NULL);
    for (size_t i = 0; i < ADDED; i++) {
        pthread_mutex_lock(&lock);
        add(&shared, base_of(i), 1200);
        if (i >= 7 && (i - 7) % 7 == 3)
            dir_remove(&shared, base_of(i - 7));
        pthread_mutex_unlock(&lock);
        atomic_store_explicit(&published, i + 1 >= 7 ? i + 1 - 7 : 0, memory_order_release);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK(atomic_load(&wrong) == 0);
    dir_free(&shared);
}

int main(void)
{
    test_map();
    test_readers_while_growing();
    if (failures != 0) {
        printf("%d checks failed\n", failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
