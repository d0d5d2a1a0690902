/* bench_threads_run.c -- runs bench_threads (csrc/bench/bench_threads.c) on one
   shared thread-safe pool and on one pool per thread, every pattern, for a
   sanitizer build (test_bench_threads.py builds it with -fsanitize=thread). */
#include "bench_threads.h"

#include <stdio.h>

static int run(int kind, size_t nallocs, int pattern, size_t nthreads)
{
    static const uint32_t sizes[8] = {8, 32, 1, 128, 64, 16, 200, 24};
    bench_allocator *a[4] = {0};
    char note[256];
    int rc = 0;
    for (size_t i = 0; i < nallocs; i++)
        if ((a[i] = bench_allocator_new(kind, note, sizeof note)) == NULL)
            rc = BENCH_ENOMEM;
    bench_mt_result out;
    if (rc == 0)
        rc = bench_threads(a, nallocs, pattern, nthreads, sizes, 7, 3000, 100, 1, &out);
    for (size_t i = 0; i < nallocs; i++)
        bench_allocator_delete(a[i]);
    if (rc != 0)
        fprintf(stderr, "kind %d, %zu allocators, pattern %d, %zu threads: %d\n", kind, nallocs,
                pattern, nthreads, rc);
    return rc;
}

int main(void)
{
    int failed = 0;
    const int patterns[] = {BENCH_LIFO, BENCH_FIFO, BENCH_CHURN, BENCH_PRODCONS};
    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++) {
        failed |= run(BENCH_POOL_TS, 1, patterns[i], 4) != 0;
        failed |= run(BENCH_POOL_TS, patterns[i] == BENCH_PRODCONS ? 2 : 4, patterns[i], 4) != 0;
        failed |= run(BENCH_POOL_CHECKED, 1, patterns[i], 2) != 0;
    }
    if (failed)
        return 1;
    puts("all checks passed");
    return 0;
}
