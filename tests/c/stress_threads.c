/*
 * stress_threads.c -- many threads, one thread-safe pool, content checks.
 *
 * Each thread allocates blocks of random sizes (small and large), fills each
 * with a pattern of its own, frees random ones after checking the pattern,
 * and uses the batch calls.  Exits nonzero on any overwritten block.  Built
 * plain, with ASan+UBSan and with ThreadSanitizer by tests/core/test_c_api.py.
 *
 * usage: stress_threads [threads] [operations per thread] [checked 0/1] [thread_safe 1/0]
 * (thread_safe 0 exists to show that the checks catch an unlocked pool)
 */
#include "sgi_pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIVE_MAX 512

static sgi_pool *pool;
static long ops_per_thread;

typedef struct block {
    unsigned char *p;
    size_t n;
    unsigned char tag;
} block;

static unsigned long next_random(unsigned long *s)
{
    *s = *s * 6364136223846793005UL + 1442695040888963407UL;
    return *s >> 33;
}

static int intact(const block *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->p[i] != b->tag)
            return 0;
    return 1;
}

static void *worker(void *arg)
{
    unsigned long seed = (unsigned long)(size_t)arg * 7919 + 1;
    block live[LIVE_MAX];
    size_t nlive = 0;
    long bad = 0;
    for (long i = 0; i < ops_per_thread; i++) {
        unsigned long r = next_random(&seed);
        if (nlive > 0 && (r % 100 < 45 || nlive == LIVE_MAX)) {
            size_t k = (size_t)(r / 100) % nlive;
            bad += !intact(&live[k]);
            if (r % 3 == 0) /* size-less: the directory is read under the lock too */
                sgi_pool_free(pool, live[k].p);
            else
                sgi_pool_deallocate(pool, live[k].p, live[k].n);
            live[k] = live[--nlive];
        } else if (r % 100 < 50 && nlive + 16 <= LIVE_MAX) {
            void *batch[16];
            size_t n = (size_t)(r / 100) % 128 + 1;
            size_t got = sgi_pool_allocate_many(pool, n, 16, batch);
            for (size_t j = 0; j < got; j++) {
                live[nlive] = (block){batch[j], n, (unsigned char)(r + j)};
                memset(batch[j], live[nlive].tag, n);
                nlive++;
            }
        } else {
            size_t n = (r / 100) % 10 == 0 ? (size_t)(r / 1000) % 1000 + 129
                                           : (size_t)(r / 100) % 128 + 1;
            unsigned char *p = sgi_pool_allocate(pool, n);
            if (p == NULL) {
                bad++;
                continue;
            }
            live[nlive] = (block){p, n, (unsigned char)r};
            memset(p, live[nlive].tag, n);
            nlive++;
        }
    }
    for (size_t k = 0; k < nlive; k++) {
        bad += !intact(&live[k]);
        sgi_pool_deallocate(pool, live[k].p, live[k].n);
    }
    return (void *)bad;
}

int main(int argc, char **argv)
{
    int nthreads = argc > 1 ? atoi(argv[1]) : 8;
    ops_per_thread = argc > 2 ? atol(argv[2]) : 200000;
    sgi_pool_options o;
    sgi_pool_options_init(&o);
    o.checked = argc > 3 ? atoi(argv[3]) : 0;
    o.thread_safe = argc > 4 ? atoi(argv[4]) : 1;
    pool = sgi_pool_create(&o);
    pthread_t t[64];
    if (nthreads < 1 || nthreads > 64 || pool == NULL)
        return 2;
    for (int i = 0; i < nthreads; i++)
        pthread_create(&t[i], NULL, worker, (void *)(size_t)i);
    long bad = 0;
    for (int i = 0; i < nthreads; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += (long)r;
    }
    sgi_pool_stats st;
    sgi_pool_get_stats(pool, &st);
    sgi_pool_destroy(pool);
    if (bad != 0 || st.large_live != 0) {
        fprintf(stderr, "stress: %ld damaged blocks, %zu large blocks left\n", bad, st.large_live);
        return 1;
    }
    printf("stress: %d threads x %ld operations, all blocks intact\n", nthreads, ops_per_thread);
    return 0;
}
