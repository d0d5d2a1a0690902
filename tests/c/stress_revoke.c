/*
 * stress_revoke.c -- revoking a biased owner at random points of its pops and
 * pushes (csrc/bias.h): tests/threads/test_bias.py builds it with the core.
 *
 * Each round makes a fresh unchecked thread-safe pool (every other round with
 * thread caches, whose revocation is the switch to the caches).  The owner
 * thread allocates and frees blocks of a few classes in a tight loop (the
 * unchecked sized fast paths of sgi_pool_allocate and sgi_pool_deallocate),
 * writing a token (its tag and a serial number) into each block's first and
 * last word and checking it before the free; after a random number of the
 * owner's calls, REVOKERS other threads start the same loop on the pool,
 * revoking the bias (or switching to the caches) while the owner runs on.  A
 * block handed out twice shows as a token overwritten; a block lost or
 * pushed twice as a class whose live count (sgi_pool_class_counts) is not 0
 * once every thread has freed all it holds and exited.
 *
 * Usage: stress_revoke [ROUNDS].  Prints "bias: LOCKING" (the
 * sgi_pool_locking of the first round's pool after its owner's first calls)
 * and "all checks passed"; exit status 1 on a failure (a broken handshake may
 * also crash or hang: the caller's timeout).
 */
#include "sgi_pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define LIVE 32
#define REVOKERS 2
#define CLASSES 5

static const size_t sizes[CLASSES] = {16, 24, 32, 48, 64};

typedef struct worker {
    sgi_pool *p;
    uint64_t tag;         /* the token's high half */
    uint64_t seed;
    size_t min_calls;     /* calls before it may stop */
    const _Atomic int *stop;
    _Atomic size_t calls; /* allocations made so far */
    long bad;             /* tokens found changed */
} worker;

static uint64_t next_random(uint64_t *x)
{
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
    return *x;
}

/* Whether block b (of n bytes) still holds token t in its first and last word. */
static int holds(const void *b, size_t n, uint64_t t)
{
    const uint64_t *w = b;
    return w[0] == t && w[n / 8 - 1] == t;
}

static void *churn(void *arg)
{
    worker *w = arg;
    void *live[LIVE] = {0};
    size_t size[LIVE] = {0};
    uint64_t token[LIVE] = {0};
    uint64_t x = w->seed;
    for (uint64_t i = 1;; i++) {
        size_t calls = atomic_load_explicit(&w->calls, memory_order_relaxed);
        if (calls >= w->min_calls && atomic_load_explicit(w->stop, memory_order_relaxed))
            break;
        size_t j = (size_t)(next_random(&x) % LIVE);
        if (live[j] != NULL) {
            w->bad += !holds(live[j], size[j], token[j]);
            sgi_pool_deallocate(w->p, live[j], size[j]);
        }
        size[j] = sizes[next_random(&x) % CLASSES];
        live[j] = sgi_pool_allocate(w->p, size[j]);
        if (live[j] == NULL) {
            w->bad++;
            break;
        }
        token[j] = w->tag << 40 | i;
        uint64_t *words = live[j];
        words[0] = token[j];
        words[size[j] / 8 - 1] = token[j];
        atomic_store_explicit(&w->calls, calls + 1, memory_order_relaxed);
    }
    for (size_t j = 0; j < LIVE; j++)
        if (live[j] != NULL) {
            w->bad += !holds(live[j], size[j], token[j]);
            sgi_pool_deallocate(w->p, live[j], size[j]);
        }
    return NULL;
}

/* One round: 0 when every check held. */
static int round_ok(int r, uint64_t *x, int *handshake)
{
    sgi_pool_options o;
    sgi_pool_options_init(&o);
    o.checked = 0;
    o.thread_cache = r & 1;
    sgi_pool *p = sgi_pool_create(&o);
    _Atomic int stop = 0;
    worker owner = {p, 1, 1 + next_random(x), 0, &stop, 0, 0};
    worker others[REVOKERS];
    pthread_t t_owner, t_others[REVOKERS];
    pthread_create(&t_owner, NULL, churn, &owner);
    /* the revokers come after 0..4095 of the owner's calls */
    size_t start = (size_t)(next_random(x) % 4096);
    while (atomic_load(&owner.calls) < start + 1)
        sched_yield();
    if (*handshake < 0)
        *handshake = sgi_pool_locking(p);
    for (int k = 0; k < REVOKERS; k++) {
        others[k] = (worker){p, 2 + (uint64_t)k, next_random(x), 2000, &stop, 0, 0};
        pthread_create(&t_others[k], NULL, churn, &others[k]);
    }
    /* the owner runs on at least as long as the revokers' first calls */
    size_t until = atomic_load(&owner.calls) + 4000;
    for (int k = 0; k < REVOKERS; k++)
        while (atomic_load(&others[k].calls) < 2000)
            sched_yield();
    while (atomic_load(&owner.calls) < until)
        sched_yield();
    atomic_store(&stop, 1);
    pthread_join(t_owner, NULL);
    long bad = owner.bad;
    for (int k = 0; k < REVOKERS; k++) {
        pthread_join(t_others[k], NULL);
        bad += others[k].bad;
    }
    if (bad != 0) {
        fprintf(stderr, "FAILED: round %d: %ld blocks' tokens changed (handed out twice)\n", r,
                bad);
        return 0; /* (the lists may be corrupt: no walk) */
    }
    size_t nclasses = sgi_pool_nclasses(p);
    size_t *live = calloc(nclasses, sizeof *live);
    int ok = live != NULL;
    if (ok) {
        sgi_pool_class_counts(p, NULL, live);
        for (size_t c = 0; c < nclasses; c++)
            if (live[c] != 0) {
                fprintf(stderr, "FAILED: round %d: class %zu: %zu blocks lost\n", r, c, live[c]);
                ok = 0;
            }
    }
    free(live);
    sgi_pool_destroy(p);
    return ok;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 150;
    uint64_t x = 88172645463325252u;
    int handshake = -1, failed = 0;
    for (int r = 0; r < rounds; r++)
        failed += !round_ok(r, &x, &handshake);
    printf("bias: %d\n", handshake);
    printf("rounds: %d, failed: %d\n", rounds, failed);
    if (failed)
        return 1;
    puts("all checks passed");
    return 0;
}
