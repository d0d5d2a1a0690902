/*
 * bench_threads.c -- the contended runs of bench_threads.h.
 *
 * The own-pattern threads call bench_pairs, so they run exactly the loops
 * (and the scratch arrays outside the clock) of the single-thread cells.
 * The producer-consumer pairs share a bounded ring: the producer publishes
 * a slot with a release store of its head, the consumer acquires it; a full
 * or empty ring (and the common start) is waited out with sched_yield (with more threads than CPUs
 * the other side may need this CPU to make progress).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* clock_gettime */
#endif

#include "bench_threads.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RING_SLOTS 256 /* blocks in flight per producer-consumer pair */
#define SPINS_BEFORE_YIELD 64

_Static_assert((RING_SLOTS & (RING_SLOTS - 1)) == 0, "the ring index is masked");

typedef struct ring {
    _Alignas(64) _Atomic size_t head; /* slots published by the producer */
    _Alignas(64) _Atomic size_t tail; /* slots taken by the consumer */
    _Alignas(64) void *block[RING_SLOTS];
    uint32_t size[RING_SLOTS];
} ring;

typedef struct worker {
    pthread_t thread;
    _Atomic int *go; /* 0: wait, 1: run, -1: give up (a thread could not start) */
    bench_allocator *alloc;
    int pattern;
    const uint32_t *sizes;
    size_t mask, count, live;
    uint64_t seed;
    ring *ring;      /* producer-consumer: the pair's ring */
    bool producer;
    int64_t began, ended, cpu; /* CLOCK_MONOTONIC at start and end, CPU time */
    int64_t status;            /* >= 0, or a BENCH_E* code */
} worker;

static int64_t clock_ns(clockid_t which)
{
    struct timespec ts;
    clock_gettime(which, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void wait_a_little(unsigned *spins)
{
    if (++*spins >= SPINS_BEFORE_YIELD) {
        *spins = 0;
        sched_yield();
    }
}

/* What a producer writes into block number seq of n bytes (its first and,
   from 16 bytes, its last 8 bytes), and the consumer checks. */
static void stamp(unsigned char *p, size_t n, uint64_t seq)
{
    if (n < sizeof seq) {
        p[0] = (unsigned char)seq;
        return;
    }
    memcpy(p, &seq, sizeof seq);
    if (n >= 2 * sizeof seq) {
        uint64_t inverse = ~seq;
        memcpy(p + n - sizeof inverse, &inverse, sizeof inverse);
    }
}

static bool stamp_holds(const unsigned char *p, size_t n, uint64_t seq)
{
    if (n < sizeof seq)
        return p[0] == (unsigned char)seq;
    uint64_t got, inverse;
    memcpy(&got, p, sizeof got);
    if (got != seq)
        return false;
    if (n < 2 * sizeof seq)
        return true;
    memcpy(&inverse, p + n - sizeof inverse, sizeof inverse);
    return inverse == ~seq;
}

static int64_t produce(worker *w, const bench_vtable *vt, void *ctx)
{
    ring *r = w->ring;
    size_t head = 0;
    for (size_t i = 0; i < w->count; i++) {
        size_t n = w->sizes[i & w->mask];
        unsigned char *p = vt->alloc(ctx, n);
        if (p == NULL) {
            /* tell the consumer: a NULL block ends its loop */
            n = 0;
        } else {
            stamp(p, n, i);
        }
        unsigned spins = 0;
        while (head - atomic_load_explicit(&r->tail, memory_order_acquire) == RING_SLOTS)
            wait_a_little(&spins);
        r->block[head & (RING_SLOTS - 1)] = p;
        r->size[head & (RING_SLOTS - 1)] = (uint32_t)n;
        atomic_store_explicit(&r->head, ++head, memory_order_release);
        if (p == NULL)
            return BENCH_EALLOC;
    }
    return 0;
}

static int64_t consume(worker *w, const bench_vtable *vt, void *ctx)
{
    ring *r = w->ring;
    size_t tail = 0;
    int64_t status = 0;
    for (size_t i = 0; i < w->count; i++) {
        unsigned spins = 0;
        while (atomic_load_explicit(&r->head, memory_order_acquire) == tail)
            wait_a_little(&spins);
        unsigned char *p = r->block[tail & (RING_SLOTS - 1)];
        size_t n = r->size[tail & (RING_SLOTS - 1)];
        atomic_store_explicit(&r->tail, ++tail, memory_order_release);
        if (p == NULL)
            return BENCH_EALLOC; /* the producer stopped */
        if (!stamp_holds(p, n, i))
            status = BENCH_ECONTENT;
        vt->free(ctx, p, n);
    }
    return status;
}

static void *run_worker(void *arg)
{
    worker *w = arg;
    unsigned spins = 0;
    int go;
    while ((go = atomic_load_explicit(w->go, memory_order_acquire)) == 0)
        wait_a_little(&spins);
    if (go < 0)
        return NULL;
    w->began = clock_ns(CLOCK_MONOTONIC);
    int64_t cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    if (w->pattern == BENCH_PRODCONS) {
        void *ctx;
        const bench_vtable *vt = bench_allocator_vtable(w->alloc, &ctx);
        w->status = w->producer ? produce(w, vt, ctx) : consume(w, vt, ctx);
    } else {
        int64_t t = bench_pairs(w->alloc, w->pattern, w->sizes, w->mask, w->count, w->live,
                                w->seed);
        w->status = t < 0 ? t : 0;
    }
    w->cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    w->ended = clock_ns(CLOCK_MONOTONIC);
    return NULL;
}

int bench_threads(bench_allocator *const *allocs, size_t nallocs, int pattern, size_t nthreads,
                  const uint32_t *sizes, size_t mask, size_t count, size_t live, uint64_t seed,
                  bench_mt_result *out)
{
    if (allocs == NULL || nallocs == 0 || out == NULL || sizes == NULL || nthreads == 0 ||
        nthreads > BENCH_MAX_THREADS || ((mask + 1) & mask) != 0)
        return BENCH_EINVAL;
    for (size_t i = 0; i < nallocs; i++)
        if (allocs[i] == NULL)
            return BENCH_EINVAL;
    for (size_t i = 0; i <= mask; i++)
        if (sizes[i] == 0)
            return BENCH_EINVAL;
    bool pairs = pattern == BENCH_PRODCONS;
    if (pairs ? nthreads % 2 != 0
              : pattern != BENCH_LIFO && pattern != BENCH_FIFO && pattern != BENCH_CHURN)
        return BENCH_EINVAL;
    worker *w = calloc(nthreads, sizeof *w);
    ring *rings = pairs ? aligned_alloc(64, nthreads / 2 * sizeof *rings) : NULL;
    if (w == NULL || (pairs && rings == NULL)) {
        free(w);
        free(rings);
        return BENCH_ENOMEM;
    }
    for (size_t p = 0; pairs && p < nthreads / 2; p++) {
        atomic_init(&rings[p].head, 0);
        atomic_init(&rings[p].tail, 0);
    }
    _Atomic int go;
    atomic_init(&go, 0);
    size_t started = 0;
    int result = 0;
    for (; started < nthreads; started++) {
        worker *t = &w[started];
        size_t group = pairs ? started / 2 : started;
        t->go = &go;
        t->alloc = allocs[group % nallocs];
        t->pattern = pattern;
        t->sizes = sizes;
        t->mask = mask;
        t->count = count;
        t->live = live;
        t->seed = seed + 0x9E3779B97F4A7C15u * started; /* its own churn */
        t->ring = pairs ? &rings[group] : NULL;
        t->producer = pairs && started % 2 == 0;
        if (pthread_create(&t->thread, NULL, run_worker, t) != 0)
            break;
    }
    /* Every thread exists before any starts: they start together. */
    if (started < nthreads)
        result = BENCH_ENOMEM;
    atomic_store_explicit(&go, result == 0 ? 1 : -1, memory_order_release);
    int64_t began = INT64_MAX, ended = 0, cpu = 0;
    for (size_t i = 0; i < started; i++) {
        pthread_join(w[i].thread, NULL);
        if (w[i].status < 0 && result == 0)
            result = (int)w[i].status;
        began = w[i].began < began ? w[i].began : began;
        ended = w[i].ended > ended ? w[i].ended : ended;
        cpu += w[i].cpu;
    }
    free(w);
    free(rings);
    if (result != 0)
        return result;
    out->wall_ns = ended - began;
    out->cpu_ns = cpu;
    out->pairs = (uint64_t)(pairs ? nthreads / 2 : nthreads) * count;
    return 0;
}
