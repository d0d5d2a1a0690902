/*
 * tight_loop.c -- the threaded C program a user would write first: THREADS
 * threads, each doing PAIRS allocate+free pairs of SIZE bytes, all on one
 * shared pool (sgi_pool_create's default profile: thread-safe, unchecked), or
 * on malloc/free (run it under LD_PRELOAD for jemalloc or mimalloc).  Prints
 * the wall time from the common start to the last thread's end.
 *
 * Build (CORE: the .c files directly under csrc):
 *   gcc -std=c11 -O2 -D_GNU_SOURCE -DNDEBUG -Icsrc CORE csrc/bench/tight_loop.c \
 *       -o tight_loop -lpthread
 * Usage: tight_loop pool|pool-tc|malloc [THREADS [PAIRS [SIZE]]]
 *        (pool-tc: the same pool with thread_cache = 1)
 */
#include "sgi_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_THREADS 64

static sgi_pool *shared; /* NULL: malloc/free */
static size_t pairs, size;
static atomic_int ready, go;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *worker(void *arg)
{
    (void)arg;
    atomic_fetch_add(&ready, 1);
    while (!atomic_load(&go))
        ;
    for (size_t i = 0; i < pairs; i++) {
        void *b = shared ? sgi_pool_allocate(shared, size) : malloc(size);
        if (b == NULL)
            abort();
        *(volatile char *)b = (char)i; /* touch it, as a program would */
        if (shared)
            sgi_pool_deallocate(shared, b, size);
        else
            free(b);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 5)
        return 2;
    int nthreads = argc > 2 ? atoi(argv[2]) : 2;
    pairs = argc > 3 ? (size_t)strtoull(argv[3], NULL, 10) : 3000000;
    size = argc > 4 ? (size_t)strtoull(argv[4], NULL, 10) : 32;
    if (nthreads < 1 || nthreads > MAX_THREADS || size == 0)
        return 2;
    if (strcmp(argv[1], "malloc") != 0) {
        sgi_pool_options o;
        sgi_pool_options_init(&o);
        o.thread_cache = strcmp(argv[1], "pool-tc") == 0;
        shared = sgi_pool_create(&o);
        if (shared == NULL)
            return 1;
    }
    pthread_t t[MAX_THREADS];
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&t[i], NULL, worker, NULL) != 0)
            return 1;
    while (atomic_load(&ready) < nthreads)
        ;
    double start = now();
    atomic_store(&go, 1);
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    double took = now() - start;
    printf("%s %d threads x %zu pairs of %zu bytes: %.4f s\n", argv[1], nthreads, pairs, size,
           took);
    if (shared)
        sgi_pool_destroy(shared);
    return 0;
}
