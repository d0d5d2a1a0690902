/*
 * instr_pairs.c -- allocate+free pairs of sgi_pool for instruction counts
 * (scripts/callgrind_pairs.sh runs it under callgrind; no timing here).
 *
 * Usage: instr_pairs MODE PATTERN COUNT [SIZE]
 *   MODE     ts | checked | ts-nosize | checked-nosize (all thread-safe; the
 *            -nosize modes free with sgi_pool_free) | ts-status |
 *            checked-status | ts-nosize-status | checked-nosize-status (the
 *            same, freed by the status-returning calls the bindings use:
 *            sgi_pool_deallocate_checked, sgi_pool_free_checked) | single
 *            (unchecked, single-thread: the pool with no lock, for the
 *            ts/single ratio) | single-nosize | single-nosize-status (the
 *            bare pool freed size-less, as the PyMem hook's pool on
 *            CPython 3.11) | tc | tc-nosize | tc-nosize-status (unchecked,
 *            thread_cache: one thread alone, so the pool stays biased and
 *            uses its lists), and any mode with -shared appended (ts-shared,
 *            tc-shared, tc-nosize-shared, ...): a second thread takes the
 *            pool's lock once before the pairs (sgi_pool_heap_size), so the
 *            bias is revoked -- a thread-cache pool then serves the pairs
 *            from this thread's cache, a plain one under the lock
 *   PATTERN  lifo (allocate, touch, free) | fifo (a queue of 64 blocks: free
 *            the oldest, allocate the newest) | churn (10000 live blocks, free
 *            a pseudo-random one and allocate its replacement) | burst
 *            (allocate 10000 blocks, then free them in order: with thread
 *            caches, an exchange with the lists every batch) | resize
 *            (allocate, reallocate to the same class, free) | batch (64
 *            blocks at a time: allocate_many, then deallocate_many or, in the
 *            -nosize modes, free_many; COUNT a multiple of 64)
 *   SIZE     a request size in bytes, or mixed (the default): sizes cycle
 *            through 16, 32, 64, 128 and a fixed list of mixed sizes.
 * The set-up (the live set, a warm-up) is the same for every COUNT, so the
 * instructions of COUNT pairs are I(COUNT) - I(0).
 */
#include "sgi_pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIVE 10000
#define QUEUE 64
#define WARM 100000

static size_t fixed_size; /* 0: mixed */

static size_t size_at(size_t i)
{
    static const size_t sizes[] = {16, 32, 64, 128, 8, 24, 40, 100, 72, 120, 1, 56};
    if (fixed_size != 0)
        return fixed_size;
    return sizes[i % (sizeof sizes / sizeof sizes[0])];
}

static int nosize, status;

static void release(sgi_pool *p, void *b, size_t n)
{
    if (nosize && status)
        (void)sgi_pool_free_checked(p, b);
    else if (nosize)
        sgi_pool_free(p, b);
    else if (status)
        (void)sgi_pool_deallocate_checked(p, b, n);
    else
        sgi_pool_deallocate(p, b, n);
}

/* burst: pair i is the allocation of slot i % LIVE; the slots are freed in
   order when all are live.  (Its own loop: the other patterns' loop, whose
   instructions every row includes, stays as it was.) */
static unsigned long long run_burst(sgi_pool *p, size_t count)
{
    static void *slot[LIVE];
    static size_t size[LIVE];
    unsigned long long sum = 0;
    for (size_t i = 0; i < WARM + count; i++) {
        size_t j = i % LIVE;
        size[j] = size_at(i);
        slot[j] = sgi_pool_allocate(p, size[j]);
        *(volatile char *)slot[j] = 1;
        if (j == LIVE - 1)
            for (size_t k = 0; k < LIVE; k++)
                release(p, slot[k], size[k]);
        sum += (unsigned long long)i;
    }
    return sum;
}

/* resize: allocate, reallocate to the same class (A.9 step 2: the block
   itself; sgi_pool_realloc_checked in the -nosize modes), free -- the
   reallocate's cost is this row's minus the lifo row's.  (Its own loop, as
   burst's.) */
static unsigned long long run_resize(sgi_pool *p, size_t count)
{
    unsigned long long sum = 0;
    for (size_t i = 0; i < WARM + count; i++) {
        size_t n = size_at(i);
        void *b = sgi_pool_allocate(p, n);
        void *out = NULL;
        size_t same = n - (n - 1) % 8; /* of n's class at align 8 and 16 */
        int s = nosize ? sgi_pool_realloc_checked(p, b, same, &out)
                       : sgi_pool_reallocate_checked(p, b, n, same, &out);
        if (s != SGI_POOL_OK || out != b)
            abort();
        *(volatile char *)b = 1;
        release(p, b, n);
        sum += (unsigned long long)i;
    }
    return sum;
}

/* batch: blocks allocated and freed BATCH at a time (sgi_pool_allocate_many,
   then sgi_pool_deallocate_many, or sgi_pool_free_many in the -nosize
   modes); a pair is one block of a batch (COUNT: a multiple of BATCH).  (Its
   own loop, as burst's.) */
#define BATCH 64
static unsigned long long run_batch(sgi_pool *p, size_t count)
{
    static void *out[BATCH];
    unsigned long long sum = 0;
    for (size_t i = 0; i < (WARM + count) / BATCH; i++) {
        size_t n = size_at(i);
        if (sgi_pool_allocate_many(p, n, BATCH, out) != BATCH)
            abort();
        *(volatile char *)out[i % BATCH] = 1;
        int s = nosize ? sgi_pool_free_many(p, out, BATCH, NULL)
                       : sgi_pool_deallocate_many(p, out, BATCH, n, NULL);
        if (s != SGI_POOL_OK)
            abort();
        sum += (unsigned long long)i;
    }
    return sum;
}

/* -shared: another thread's call takes the lock (the bias goes). */
static void *second_thread(void *p)
{
    (void)sgi_pool_heap_size(p);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5)
        return 2;
    int checked = strncmp(argv[1], "checked", 7) == 0;
    int single = strncmp(argv[1], "single", 6) == 0; /* unchecked, single-thread: no lock */
    nosize = strstr(argv[1], "nosize") != NULL;
    status = strstr(argv[1], "status") != NULL;
    int churn = strcmp(argv[2], "churn") == 0;
    int fifo = strcmp(argv[2], "fifo") == 0;
    size_t count = (size_t)strtoull(argv[3], NULL, 10);
    if (argc == 5 && strcmp(argv[4], "mixed") != 0)
        fixed_size = (size_t)strtoull(argv[4], NULL, 10);
    sgi_pool_options o;
    sgi_pool_options_init(&o);
    o.checked = checked;
    o.thread_safe = !single;
    o.thread_cache = strncmp(argv[1], "tc", 2) == 0;
    sgi_pool *p = sgi_pool_create(&o);
    if (strstr(argv[1], "-shared") != NULL) { /* this thread first (the owner), then another */
        pthread_t t;
        (void)sgi_pool_heap_size(p);
        if (pthread_create(&t, NULL, second_thread, p) != 0 || pthread_join(t, NULL) != 0)
            return 1;
    }
    if (strcmp(argv[2], "burst") == 0) { /* COUNT: a multiple of LIVE */
        printf("%llu\n", run_burst(p, count));
        sgi_pool_destroy(p);
        return 0;
    }
    if (strcmp(argv[2], "batch") == 0) {
        printf("%llu\n", run_batch(p, count));
        sgi_pool_destroy(p);
        return 0;
    }
    if (strcmp(argv[2], "resize") == 0) {
        printf("%llu\n", run_resize(p, count));
        sgi_pool_destroy(p);
        return 0;
    }
    static void *live[LIVE];
    static size_t held[LIVE];
    size_t nlive = fifo ? QUEUE : LIVE;
    for (size_t j = 0; j < nlive; j++) {
        held[j] = size_at(j);
        live[j] = sgi_pool_allocate(p, held[j]);
    }
    unsigned long long x = 88172645463325252ull, sum = 0;
    for (size_t i = 0; i < WARM + count; i++) {
        size_t n = size_at(i);
        if (churn || fifo) {
            size_t j = i % QUEUE; /* fifo: the oldest of the queue */
            if (churn) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                j = (size_t)(x % LIVE);
            }
            release(p, live[j], held[j]);
            live[j] = sgi_pool_allocate(p, n);
            held[j] = n;
            *(volatile char *)live[j] = 1;
        } else {
            void *b = sgi_pool_allocate(p, n);
            *(volatile char *)b = 1;
            release(p, b, n);
        }
        sum += (unsigned long long)i;
    }
    for (size_t j = 0; j < nlive; j++)
        release(p, live[j], held[j]);
    sgi_pool_destroy(p);
    printf("%llu\n", sum);
    return 0;
}
