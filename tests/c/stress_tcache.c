/*
 * stress_tcache.c -- thread caches (sgi_pool_options.thread_cache) under
 * several threads, built plain and under ThreadSanitizer by
 * tests/threads/test_thread_cache.py.
 *
 * A pool with caches starts biased: one thread alone gets the addresses
 * of a pool without them, and a second thread switches it to the caches.
 * Every block is stamped with its holder's tag and checked before it is
 * freed, so a block handed out twice at once shows as a changed stamp.
 * Blocks also cross threads (one thread allocates, another frees).  After
 * the threads exit, or before they do (introspection, close, fork), every
 * block must be back: per class, live counts 0.  Size-less frees
 * (sgi_pool_free, sgi_pool_free_checked) find the size without the pool's
 * lock: threads free each other's blocks so while others keep carving new
 * chunks, so the directory's map grows under its readers.
 */
#include "sgi_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 4
#define ROUNDS 300
#define BATCH 64
#define RING 256

static int failures;
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)

static sgi_pool *make_pool(size_t heap_limit, int checked)
{
    sgi_pool_options o;
    sgi_pool_options_init(&o);
    o.thread_cache = 1;
    o.heap_limit = heap_limit;
    o.checked = checked;
    return sgi_pool_create(&o);
}

static size_t live_small(sgi_pool *p)
{
    size_t n = sgi_pool_nclasses(p), live = 0;
    size_t *counts = calloc(n, sizeof *counts);
    sgi_pool_class_counts(p, NULL, counts);
    for (size_t i = 0; i < n; i++)
        live += counts[i];
    free(counts);
    return live;
}

/* ---- blocks stamped with their holder ------------------------------------ */

typedef struct held {
    unsigned char *ptr;
    size_t n;
} held;

static void stamp(held h, uint64_t tag)
{
    for (size_t i = 0; i < h.n; i++)
        h.ptr[i] = (unsigned char)(tag + i);
}

static int intact(held h, uint64_t tag)
{
    for (size_t i = 0; i < h.n; i++)
        if (h.ptr[i] != (unsigned char)(tag + i))
            return 0;
    return 1;
}

/* A ring of blocks passed from producers to consumers (a mutex: the test's
   own synchronisation, not the pool's). */
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static held ring[RING];
static uint64_t ring_tag[RING];
static size_t ring_len;

static sgi_pool *shared;
static pthread_barrier_t parked, released;
static atomic_int bad;

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void *worker(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    uint64_t seed = 0x9E3779B97F4A7C15u * (id + 1);
    held mine[BATCH];
    uint64_t tags[BATCH];
    for (int round = 0; round < ROUNDS; round++) {
        size_t count = 1 + next_rand(&seed) % BATCH;
        for (size_t i = 0; i < count; i++) {
            size_t n = 1 + next_rand(&seed) % (next_rand(&seed) % 8 ? 128 : 300);
            mine[i] = (held){sgi_pool_allocate(shared, n), n};
            if (mine[i].ptr == NULL) {
                atomic_fetch_add(&bad, 1);
                count = i;
                break;
            }
            tags[i] = (id << 40) | ((uint64_t)round << 16) | i;
            stamp(mine[i], tags[i]);
        }
        for (size_t i = 0; i < count; i++) {
            if (!intact(mine[i], tags[i]))
                atomic_fetch_add(&bad, 1);
            if (next_rand(&seed) % 3 == 0) { /* to the ring: another thread frees it */
                pthread_mutex_lock(&ring_lock);
                if (ring_len < RING) {
                    ring[ring_len] = mine[i];
                    ring_tag[ring_len++] = tags[i];
                    mine[i].ptr = NULL;
                }
                pthread_mutex_unlock(&ring_lock);
            }
            if (mine[i].ptr != NULL)
                sgi_pool_deallocate(shared, mine[i].ptr, mine[i].n);
        }
        for (int k = 0; k < 8; k++) { /* free some of the others' blocks */
            held h = {NULL, 0};
            uint64_t tag = 0;
            pthread_mutex_lock(&ring_lock);
            if (ring_len > 0) {
                h = ring[--ring_len];
                tag = ring_tag[ring_len];
            }
            pthread_mutex_unlock(&ring_lock);
            if (h.ptr == NULL)
                break;
            if (!intact(h, tag))
                atomic_fetch_add(&bad, 1);
            sgi_pool_deallocate(shared, h.ptr, h.n);
        }
    }
    /* park with a full cache until the main thread has looked */
    for (size_t i = 0; i < 40; i++)
        sgi_pool_deallocate(shared, sgi_pool_allocate(shared, 8 * (1 + i % 16)), 8 * (1 + i % 16));
    pthread_barrier_wait(&parked);
    pthread_barrier_wait(&released);
    return NULL;
}

static void drain_ring(void)
{
    while (ring_len > 0) {
        held h = ring[--ring_len];
        CHECK(intact(h, ring_tag[ring_len]));
        sgi_pool_deallocate(shared, h.ptr, h.n);
    }
}

/* Threads exit with blocks in their caches: the caches go back. */
static void test_stress_then_exit(int close_while_parked)
{
    shared = make_pool(0, 0);
    CHECK(shared != NULL);
    pthread_t t[THREADS];
    pthread_barrier_init(&parked, NULL, THREADS + 1);
    pthread_barrier_init(&released, NULL, THREADS + 1);
    for (uintptr_t i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    /* readers pause the caches while the threads run: nothing may break */
    size_t n = sgi_pool_nclasses(shared), free_blocks[16], live_blocks[16];
    uintptr_t list[64];
    for (int i = 0; i < 200; i++) {
        sgi_pool_class_counts(shared, free_blocks, live_blocks);
        (void)sgi_pool_free_list(shared, (size_t)i % n, list, 64);
    }
    pthread_barrier_wait(&parked);
    drain_ring();
    /* the threads' caches are full, yet every block counts as free */
    CHECK(live_small(shared) == 0);
    if (close_while_parked)
        sgi_pool_close(shared); /* the threads exit after: their caches find it closed */
    pthread_barrier_wait(&released);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    CHECK(atomic_load(&bad) == 0);
    if (!close_while_parked) {
        CHECK(live_small(shared) == 0);
        /* all blocks are on the lists: a fresh allocation reuses one */
        sgi_pool_stats before, after;
        sgi_pool_get_stats(shared, &before);
        for (int i = 0; i < 1000; i++)
            sgi_pool_deallocate(shared, sgi_pool_allocate(shared, 48), 48);
        sgi_pool_get_stats(shared, &after);
        CHECK(after.heap_size == before.heap_size);
    }
    CHECK(sgi_pool_allocate(shared, 16) == NULL || !close_while_parked);
    sgi_pool_destroy(shared);
    pthread_barrier_destroy(&parked);
    pthread_barrier_destroy(&released);
    size_t blocks, bytes;
    sgi_pool_process_totals(&blocks, &bytes);
    CHECK(blocks == 0 && bytes == 0);
}

/* ---- size-less frees while the map grows ----------------------------------- */

#define GROW 1500 /* blocks each thread keeps per round, so new chunks keep coming */

static void *sizeless_worker(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    uint64_t seed = 0xD1B54A32D192ED03u * (id + 1);
    held *kept = malloc(GROW * sizeof *kept);
    uint64_t *kept_tag = malloc(GROW * sizeof *kept_tag);
    for (int round = 0; round < 6; round++) {
        for (size_t i = 0; i < GROW; i++) { /* allocate and keep: the heap grows */
            size_t n = 1 + next_rand(&seed) % (next_rand(&seed) % 16 ? 128 : 400);
            kept[i] = (held){sgi_pool_allocate(shared, n), n};
            kept_tag[i] = (id << 40) | ((uint64_t)round << 20) | i;
            if (kept[i].ptr == NULL) {
                atomic_fetch_add(&bad, 1);
                continue;
            }
            stamp(kept[i], kept_tag[i]);
            if (i % 4 == 1) { /* to the ring: another thread frees it, size-less */
                pthread_mutex_lock(&ring_lock);
                if (ring_len < RING) {
                    ring[ring_len] = kept[i];
                    ring_tag[ring_len++] = kept_tag[i];
                    kept[i].ptr = NULL;
                }
                pthread_mutex_unlock(&ring_lock);
            }
            if (i % 8 == 2) { /* free some of the others' */
                held h = {NULL, 0};
                uint64_t tag = 0;
                pthread_mutex_lock(&ring_lock);
                if (ring_len > 0) {
                    h = ring[--ring_len];
                    tag = ring_tag[ring_len];
                }
                pthread_mutex_unlock(&ring_lock);
                if (h.ptr != NULL) {
                    if (!intact(h, tag))
                        atomic_fetch_add(&bad, 1);
                    if (i % 16 == 2)
                        sgi_pool_free(shared, h.ptr);
                    else if (sgi_pool_free_checked(shared, h.ptr) != SGI_POOL_OK)
                        atomic_fetch_add(&bad, 1);
                }
            }
        }
        for (size_t i = 0; i < GROW; i++) { /* then free our own, size-less */
            if (kept[i].ptr == NULL)
                continue;
            if (!intact(kept[i], kept_tag[i]))
                atomic_fetch_add(&bad, 1);
            sgi_pool_free(shared, kept[i].ptr);
        }
    }
    free(kept);
    free(kept_tag);
    return NULL;
}

static void test_sizeless_frees(void)
{
    /* a small depot bound: the slabs a thread carves (B.15) stay small, so
       the chunks stay small and many come while the threads free */
    sgi_pool_options o;
    sgi_pool_options_init(&o);
    o.thread_cache = 1;
    o.thread_cache_bytes = 4096;
    shared = sgi_pool_create(&o);
    sgi_pool_stats before, after;
    sgi_pool_get_stats(shared, &before);
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, sizeless_worker, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    drain_ring();
    CHECK(atomic_load(&bad) == 0);
    CHECK(live_small(shared) == 0);
    sgi_pool_get_stats(shared, &after);
    CHECK(after.chunks > 10); /* the map grew while the threads freed */
    CHECK(after.large_live == 0);
    /* misuse stays refused, with no lock and no change: the uncarved tail's
       start, an interior address, an address in no chunk */
    static void *extra[4000];
    size_t nextra = 0;
    uintptr_t start = 0, end = 0;
    while (nextra < 4000 && (start == end || nextra == 0)) { /* until a refill leaves a tail */
        extra[nextra++] = sgi_pool_allocate(shared, 24);
        sgi_pool_current_chunk(shared, &start, &end);
    }
    CHECK(start != end);
    void *b = extra[0];
    CHECK(sgi_pool_free_checked(shared, (void *)start) == SGI_POOL_ENOTLIVE);
    CHECK(sgi_pool_free_checked(shared, (char *)b + 8) == SGI_POOL_ENOTLIVE);
    CHECK(sgi_pool_free_checked(shared, &before) == SGI_POOL_ENOTLIVE);
    sgi_pool_free(shared, (void *)start); /* refused: the next refill still carves there */
    sgi_pool_free(shared, (char *)b + 8);
    sgi_pool_free(shared, &before);
    uintptr_t start2, end2;
    sgi_pool_current_chunk(shared, &start2, &end2);
    CHECK(start2 == start && end2 == end);
    CHECK(live_small(shared) == nextra);
    for (size_t i = 0; i < nextra; i++)
        sgi_pool_free(shared, extra[i]);
    CHECK(live_small(shared) == 0);
    sgi_pool_destroy(shared);
    size_t blocks, bytes;
    sgi_pool_process_totals(&blocks, &bytes);
    CHECK(blocks == 0 && bytes == 0);
}

/* ---- a refusal hands the caches back before it gives up ------------------- */

static sgi_pool *limited;
static void *fill_cache(void *arg)
{
    (void)arg;
    void *b[20];
    for (int i = 0; i < 20; i++)
        b[i] = sgi_pool_allocate(limited, 64);
    for (int i = 0; i < 20; i++)
        sgi_pool_deallocate(limited, b[i], 64);
    pthread_barrier_wait(&parked); /* alive, its slab of 64-byte blocks in its cache */
    pthread_barrier_wait(&released);
    return NULL;
}

static void test_refusal_flushes(void)
{
    limited = make_pool(0, 0);
    (void)sgi_pool_heap_size(limited); /* this thread owns it: the helper's calls switch it */
    pthread_t t;
    pthread_barrier_init(&parked, NULL, 2);
    pthread_barrier_init(&released, NULL, 2);
    pthread_create(&t, NULL, fill_cache, NULL);
    pthread_barrier_wait(&parked);
    sgi_pool_stats s;
    sgi_pool_get_stats(limited, &s);
    sgi_pool_set_heap_limit(limited, s.heap_size); /* no more chunks */
    /* this thread's 8-byte blocks come from the tail until it is gone (the
       helper's slab of 64-byte blocks left it large); then only the other
       thread's cached 64-byte blocks can serve, by salvage */
    void *got = NULL;
    for (int i = 0; i < 1000000 && (got = sgi_pool_allocate(limited, 8)) != NULL; i++)
        ;
    sgi_pool_get_stats(limited, &s);
    CHECK(s.salvages > 0);
    pthread_barrier_wait(&released);
    pthread_join(t, NULL);
    sgi_pool_destroy(limited);
    pthread_barrier_destroy(&parked);
    pthread_barrier_destroy(&released);
}

/* ---- fork: the child gets the other threads' cached blocks back ------------ */

static void test_fork(void)
{
    shared = make_pool(0, 0);
    pthread_t t[2];
    pthread_barrier_init(&parked, NULL, 3);
    pthread_barrier_init(&released, NULL, 3);
    for (uintptr_t i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    pthread_barrier_wait(&parked);
    drain_ring();
    pid_t pid = fork();
    if (pid == 0) {
        int ok = live_small(shared) == 0;
        void *b = sgi_pool_allocate(shared, 24);
        ok = ok && b != NULL;
        sgi_pool_deallocate(shared, b, 24);
        sgi_pool_destroy(shared);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    pthread_barrier_wait(&released);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK(live_small(shared) == 0);
    sgi_pool_destroy(shared);
    pthread_barrier_destroy(&parked);
    pthread_barrier_destroy(&released);
}

/* ---- one thread alone: biased, on the lists; a second thread switches ------ */

static void *one_pair(void *arg)
{
    sgi_pool *p = arg;
    sgi_pool_deallocate(p, sgi_pool_allocate(p, 56), 56);
    return NULL;
}

/* addr as its chunk's index (in acquisition order) and offset there */
static uint64_t place(sgi_pool *p, uintptr_t addr)
{
    uintptr_t bases[256];
    size_t sizes[256];
    size_t n = sgi_pool_chunks(p, bases, sizes, 256);
    for (size_t i = 0; i < n && i < 256; i++)
        if (addr - bases[i] < sizes[i])
            return ((uint64_t)i << 40) | (addr - bases[i]);
    return UINT64_MAX;
}

/* The same calls on a thread-cache pool and on one without give the same
   addresses while one thread uses them (the lists, in SGI's order); after a
   second thread's call the first pool reports THREAD_CACHE and serves this
   thread from its cache (blocks handed out twice would show as changed
   stamps); its blocks all come back. */
static void test_biased_until_a_second_thread(void)
{
    sgi_pool_options o;
    sgi_pool_options_init(&o);
    sgi_pool *plain = sgi_pool_create(&o);
    sgi_pool *cached = make_pool(0, 0);
    (void)sgi_pool_heap_size(cached); /* this thread owns it: one_pair's call then switches */
    int alone = sgi_pool_locking(cached);
    CHECK(alone == SGI_POOL_LOCKING_BIASED || alone == SGI_POOL_LOCKING_LOCK);
    static held a[3000], b[3000];
    uint64_t seed = 42;
    for (int round = 0; round < 4; round++) {
        for (size_t i = 0; i < 3000; i++) {
            size_t n = 1 + next_rand(&seed) % 128;
            a[i] = (held){sgi_pool_allocate(plain, n), n};
            b[i] = (held){sgi_pool_allocate(cached, n), n};
            CHECK(a[i].ptr != NULL && b[i].ptr != NULL);
            stamp(b[i], i);
        }
        for (size_t i = 0; i < 3000; i += 1 + (size_t)round) { /* some stay live */
            sgi_pool_deallocate(plain, a[i].ptr, a[i].n);
            if (round % 2)
                sgi_pool_free(cached, b[i].ptr);
            else
                sgi_pool_deallocate(cached, b[i].ptr, b[i].n);
            a[i].ptr = b[i].ptr = NULL;
        }
        /* the same lists, as places (chunk, offset) */
        size_t nfree = 0, same = 1;
        for (size_t cls = 0; cls < sgi_pool_nclasses(plain); cls++) {
            uintptr_t x[64], y[64];
            size_t lx = sgi_pool_free_list(plain, cls, x, 64);
            size_t ly = sgi_pool_free_list(cached, cls, y, 64);
            nfree += lx;
            same = same && lx == ly;
            for (size_t k = 0; k < lx && k < 64 && same; k++)
                same = place(plain, x[k]) == place(cached, y[k]);
        }
        CHECK(same && nfree > 0);
        for (size_t i = 0; i < 3000; i++) {
            if (a[i].ptr != NULL)
                sgi_pool_deallocate(plain, a[i].ptr, a[i].n);
            if (b[i].ptr != NULL) {
                CHECK(intact(b[i], i));
                sgi_pool_deallocate(cached, b[i].ptr, b[i].n);
            }
        }
        CHECK(sgi_pool_locking(cached) == alone); /* one thread: as it was */
    }
    pthread_t t;
    pthread_create(&t, NULL, one_pair, cached);
    pthread_join(t, NULL);
    CHECK(sgi_pool_locking(cached) ==
          (alone == SGI_POOL_LOCKING_BIASED ? SGI_POOL_LOCKING_THREAD_CACHE : alone));
    for (int round = 0; round < 4; round++) {
        for (size_t i = 0; i < 3000; i++) {
            size_t n = 1 + next_rand(&seed) % 128;
            b[i] = (held){sgi_pool_allocate(cached, n), n};
            CHECK(b[i].ptr != NULL);
            stamp(b[i], i ^ 0x55);
        }
        for (size_t i = 0; i < 3000; i++) {
            CHECK(intact(b[i], i ^ 0x55));
            if (i % 3 == 0)
                sgi_pool_free(cached, b[i].ptr);
            else
                sgi_pool_deallocate(cached, b[i].ptr, b[i].n);
        }
    }
    CHECK(live_small(cached) == 0);
    CHECK(sgi_pool_locking(cached) ==
          (alone == SGI_POOL_LOCKING_BIASED ? SGI_POOL_LOCKING_THREAD_CACHE : alone));
    sgi_pool_destroy(plain);
    sgi_pool_destroy(cached);
}

/* ---- checked pools still refuse a double free; pools come and go ---------- */

static void test_checked_and_churn(void)
{
    sgi_pool *p = make_pool(0, 1);
    void *b = sgi_pool_allocate(p, 32);
    CHECK(sgi_pool_deallocate_checked(p, b, 32) == SGI_POOL_OK);
    CHECK(sgi_pool_deallocate_checked(p, b, 32) == SGI_POOL_ENOTLIVE);
    sgi_pool_options o;
    sgi_pool_get_options(p, &o);
    CHECK(o.thread_cache == 1);
    sgi_pool_destroy(p);
    /* many pools, one after another at perhaps the same address: no cache of
       a destroyed pool serves a new one */
    for (int i = 0; i < 2000; i++) {
        p = make_pool(0, 0);
        void *x = sgi_pool_allocate(p, 40);
        sgi_pool_deallocate(p, x, 40);
        CHECK(live_small(p) == 0);
        sgi_pool_destroy(p);
    }
    sgi_pool_options_init(&o);
    o.thread_cache = 1;
    o.thread_safe = 0;
    CHECK(sgi_pool_create(&o) == NULL); /* caches are for shared pools */
}

int main(void)
{
    test_stress_then_exit(0);
    test_stress_then_exit(1);
    test_sizeless_frees();
    test_refusal_flushes();
    test_fork();
    test_checked_and_churn();
    test_biased_until_a_second_thread();
    sgi_pool *probe = make_pool(0, 0);
    (void)sgi_pool_heap_size(probe); /* this thread owns it */
    int alone = sgi_pool_locking(probe); /* 2 where membarrier works */
    pthread_t t;
    pthread_create(&t, NULL, one_pair, probe);
    pthread_join(t, NULL);
    printf("locking: alone %d, shared %d\n", alone, sgi_pool_locking(probe)); /* then 4 */
    sgi_pool_destroy(probe);
    if (failures != 0) {
        printf("%d checks failed\n", failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
