/*
 * threads_cell.c -- one cell of the threads benchmark (pool/bench/threads.py)
 * as a plain C program: the same loops (csrc/bench/bench_threads.c, 32-byte
 * blocks, 10,000 live), built as pool._bench_c is, so that two cores can be
 * compared side by side (docs/performance.md, "The FIFO gap").
 *
 * Build (TREE: a checkout; run it under flock /tmp/timing.lock):
 *   gcc -std=c11 -D_GNU_SOURCE -DNDEBUG -O3 -fwrapv -fPIC -fvisibility=hidden \
 *       -ITREE/csrc -ITREE/csrc/bench TREE/csrc/[a-z]*.c TREE/csrc/bench/bench_loops.c \
 *       TREE/csrc/bench/bench_threads.c scripts/threads_cell.c -ldl -pthread -o cell
 * Usage: cell KIND PATTERN THREADS PAIRS REPEATS [PER_THREAD [SWITCH]]
 *   KIND      a bench_loops.h kind: 1 pool, 2 pool-ts, 4 glibc, 9 pool-tc, ...
 *   PATTERN   lifo | fifo | churn | prodcons
 *   PER_THREAD 1: one allocator per thread (per pair), else one shared
 *   SWITCH    1: before the run, another thread takes each pool's lock once,
 *             so a pool-tc is switched to its caches even with one thread
 * Prints a line per repeat: CPU ns per pair (all threads), million pairs per
 * second of wall time, busy (CPU seconds per wall second).
 */
#include "bench_threads.h"
#include "sgi_pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *take_lock(void *pool)
{
    (void)sgi_pool_heap_size(pool);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s KIND PATTERN THREADS PAIRS REPEATS [PER_THREAD [SWITCH]]\n",
                argv[0]);
        return 2;
    }
    int kind = atoi(argv[1]);
    int pattern = strcmp(argv[2], "lifo") == 0    ? BENCH_LIFO
                  : strcmp(argv[2], "fifo") == 0  ? BENCH_FIFO
                  : strcmp(argv[2], "churn") == 0 ? BENCH_CHURN
                                                  : BENCH_PRODCONS;
    size_t nthreads = strtoul(argv[3], NULL, 10), count = strtoul(argv[4], NULL, 10);
    int repeats = atoi(argv[5]);
    int per_thread = argc > 6 && atoi(argv[6]) != 0;
    int do_switch = argc > 7 && atoi(argv[7]) != 0;
    if (nthreads == 0 || nthreads > BENCH_MAX_THREADS) {
        fprintf(stderr, "THREADS: 1..%d\n", BENCH_MAX_THREADS);
        return 2;
    }
    uint32_t sizes[1] = {32};
    char note[1024];
    for (int r = 0; r < repeats; r++) {
        bench_allocator *a[BENCH_MAX_THREADS];
        size_t n = !per_thread ? 1 : pattern == BENCH_PRODCONS ? nthreads / 2 : nthreads;
        for (size_t i = 0; i < n; i++) {
            a[i] = bench_allocator_new(kind, note, sizeof note);
            if (a[i] == NULL) {
                fprintf(stderr, "%s\n", note);
                return 1;
            }
            if (do_switch) {
                void *pool;
                pthread_t t;
                (void)bench_allocator_vtable(a[i], &pool);
                (void)sgi_pool_heap_size(pool); /* this thread first: the bias's owner */
                if (pthread_create(&t, NULL, take_lock, pool) == 0)
                    pthread_join(t, NULL);
            }
        }
        bench_mt_result res;
        int rc = bench_threads(a, n, pattern, nthreads, sizes, 0, count, 10000, 0x5EED5EED, &res);
        for (size_t i = 0; i < n; i++)
            bench_allocator_delete(a[i]);
        if (rc != 0) {
            fprintf(stderr, "bench_threads: %d\n", rc);
            return 1;
        }
        printf("%.3f %.2f %.2f\n", (double)res.cpu_ns / (double)res.pairs,
               (double)res.pairs * 1e3 / (double)res.wall_ns,
               (double)res.cpu_ns / (double)res.wall_ns);
    }
    return 0;
}
