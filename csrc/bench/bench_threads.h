/*
 * bench_threads.h -- contended runs of the benchmark allocators.
 *
 * Several threads run at once against the allocators of bench_loops.h:
 *   - each thread its own pattern (BENCH_LIFO, BENCH_FIFO, BENCH_CHURN of
 *     bench_pairs, a different churn seed per thread), or
 *   - BENCH_PRODCONS: threads in pairs, a producer allocating blocks and
 *     handing them through a bounded single-producer single-consumer ring to
 *     its consumer, which checks their contents and frees them (every block
 *     freed by a thread other than the one that allocated it).
 * Thread t uses allocs[t % nallocs] (a producer-consumer pair p uses
 * allocs[p % nallocs]): one allocator for every thread (nallocs == 1: the
 * shared pool, or a global malloc), or one per thread or pair.
 *
 * The clock is CLOCK_MONOTONIC from the moment every thread is released at
 * once (a start flag) to the moment the last one has finished: throughput is
 * pairs / wall time, the threads' descheduled time included (more threads
 * than CPUs shows as no gain).  Each thread's own CPU time is summed too.
 */
#ifndef BENCH_THREADS_H
#define BENCH_THREADS_H

#include "bench_loops.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    BENCH_PRODCONS = 3,     /* pattern: pairs of producer and consumer threads */
    BENCH_MAX_THREADS = 64, /* threads of one run */
    BENCH_ECONTENT = -4     /* a block handed over did not hold what its producer wrote */
};

typedef struct bench_mt_result {
    int64_t wall_ns;  /* release of the threads to the end of the last */
    int64_t cpu_ns;   /* sum of the threads' CPU times */
    uint64_t pairs;   /* allocate+free pairs done by all threads */
} bench_mt_result;

/* Runs nthreads threads, each doing count pairs (a producer: count blocks
   handed over).  Returns 0 and fills *out, or a negative BENCH_E* code (the
   first failing thread's).  live is bench_pairs's; BENCH_PRODCONS needs an
   even nthreads.  The allocators must be thread-safe where shared. */
int bench_threads(bench_allocator *const *allocs, size_t nallocs, int pattern, size_t nthreads,
                  const uint32_t *sizes, size_t mask, size_t count, size_t live, uint64_t seed,
                  bench_mt_result *out);

#ifdef __cplusplus
}
#endif

#endif /* BENCH_THREADS_H */
