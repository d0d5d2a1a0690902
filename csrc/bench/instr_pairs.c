/*
 * instr_pairs.c -- allocate+free pairs of sgi_pool for instruction counts
 * (scripts/callgrind_pairs.sh runs it under callgrind; no timing here).
 *
 * Usage: instr_pairs MODE PATTERN COUNT
 *   MODE     ts | checked | ts-nosize | checked-nosize (all thread-safe; the
 *            -nosize modes free with sgi_pool_free) | single (unchecked,
 *            single-thread: the pool with no lock, for the ts/single ratio)
 *   PATTERN  lifo (allocate, touch, free) | churn (10000 live blocks, free a
 *            pseudo-random one and allocate its replacement)
 * Sizes cycle through 16, 32, 64, 128 and a fixed list of mixed sizes.  The
 * set-up (the live set, a warm-up) is the same for every COUNT, so the
 * instructions of COUNT pairs are I(COUNT) - I(0).
 */
#include "sgi_pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIVE 10000
#define WARM 100000

static size_t size_at(size_t i)
{
    static const size_t sizes[] = {16, 32, 64, 128, 8, 24, 40, 100, 72, 120, 1, 56};
    return sizes[i % (sizeof sizes / sizeof sizes[0])];
}

static void release(sgi_pool *p, void *b, size_t n, int nosize)
{
    if (nosize)
        sgi_pool_free(p, b);
    else
        sgi_pool_deallocate(p, b, n);
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    int checked = strstr(argv[1], "checked") != NULL;
    int single = strcmp(argv[1], "single") == 0; /* unchecked, single-thread: no lock */
    int nosize = strstr(argv[1], "nosize") != NULL;
    int churn = strcmp(argv[2], "churn") == 0;
    size_t count = (size_t)strtoull(argv[3], NULL, 10);
    sgi_pool_options o;
    sgi_pool_options_init(&o);
    o.checked = checked;
    o.thread_safe = !single;
    sgi_pool *p = sgi_pool_create(&o);
    static void *live[LIVE];
    static size_t held[LIVE];
    for (size_t j = 0; j < LIVE; j++) {
        held[j] = size_at(j);
        live[j] = sgi_pool_allocate(p, held[j]);
    }
    unsigned long long x = 88172645463325252ull, sum = 0;
    for (size_t i = 0; i < WARM + count; i++) {
        size_t n = size_at(i);
        if (churn) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t j = (size_t)(x % LIVE);
            release(p, live[j], held[j], nosize);
            live[j] = sgi_pool_allocate(p, n);
            held[j] = n;
            *(volatile char *)live[j] = 1;
        } else {
            void *b = sgi_pool_allocate(p, n);
            *(volatile char *)b = 1;
            release(p, b, n, nosize);
        }
        sum += (unsigned long long)i;
    }
    for (size_t j = 0; j < LIVE; j++)
        release(p, live[j], held[j], nosize);
    sgi_pool_destroy(p);
    printf("%llu\n", sum);
    return 0;
}
