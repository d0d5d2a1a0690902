/*
 * hot_block_layout.c -- does the place of each thread's hot block alone make
 * a LIFO loop slow?  A calibration for the cached pool's slow mode
 * (docs/performance.md, "Threads: the slow mode is not false sharing").
 *
 * Each thread runs the cached pool's LIFO steady state with no allocator
 * around it: pop its one block from a private list head (the block's link
 * read), write a byte into it (the benchmark's touch), push it back (the
 * link written), 1,000,000 times.  The heads sit on pages of their own; the
 * blocks sit at the given byte offsets of one zeroed 64 MiB area, so the
 * offsets decide which blocks share a cache line or a page.
 *
 * Build: gcc -O2 -pthread scripts/hot_block_layout.c -o hot_block_layout
 * Usage: hot_block_layout REPEATS OFFSET...   (one thread per offset, at most 8;
 *        offsets in C notation, e.g. 0xcf0 0xd10)
 * Prints each repeat's thread CPU time, ms per thread (the mean of the threads).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AREA ((size_t)64 << 20)
#define PAIRS 1000000L
#define MAX_THREADS 8

typedef struct node {
    struct node *next;
} node;

typedef struct head {
    node *first;
    uint32_t count;
} head;

typedef struct worker {
    pthread_t thread;
    head *head;
    node *block;
    long cpu_ns;
} worker;

static atomic_int go;

static long cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void *run(void *arg)
{
    worker *w = arg;
    head *h = w->head;
    h->first = w->block;
    h->first->next = NULL;
    h->count = 1;
    while (!atomic_load(&go))
        sched_yield();
    long start = cpu_ns();
    for (long i = 0; i < PAIRS; i++) {
        node *b = h->first; /* pop */
        h->first = b->next;
        h->count--;
        __asm__ volatile("" : : "r"(b) : "memory");
        *(volatile unsigned char *)b = 32; /* touch */
        b->next = h->first;                /* push */
        h->first = b;
        h->count++;
        __asm__ volatile("" : : : "memory");
    }
    w->cpu_ns = cpu_ns() - start;
    return NULL;
}

int main(int argc, char **argv)
{
    int nthreads = argc - 2;
    if (argc < 3 || nthreads > MAX_THREADS) {
        fprintf(stderr, "usage: %s REPEATS OFFSET... (1 to %d offsets)\n", argv[0], MAX_THREADS);
        return 2;
    }
    int repeats = atoi(argv[1]);
    size_t offset[MAX_THREADS];
    for (int i = 0; i < nthreads; i++) {
        char *end;
        offset[i] = strtoul(argv[i + 2], &end, 0);
        if (*end != '\0' || offset[i] % sizeof(node) != 0 || offset[i] + sizeof(node) > AREA) {
            fprintf(stderr, "bad offset %s (a multiple of 8 below 64 MiB)\n", argv[i + 2]);
            return 2;
        }
    }
    char *area = aligned_alloc(1 << 20, AREA);
    char *heads = aligned_alloc(4096, 4096 * MAX_THREADS); /* a page per thread's head */
    if (area == NULL || heads == NULL)
        return 1;
    memset(area, 0, AREA);
    memset(heads, 0, 4096 * MAX_THREADS);
    for (int r = 0; r < repeats; r++) {
        worker w[MAX_THREADS];
        atomic_store(&go, 0);
        for (int i = 0; i < nthreads; i++) {
            /* heads at different offsets of their pages, as separately allocated caches */
            w[i].head = (head *)(void *)(heads + 4096 * i + 64 * i);
            w[i].block = (node *)(void *)(area + offset[i]);
            if (pthread_create(&w[i].thread, NULL, run, &w[i]) != 0)
                return 1;
        }
        atomic_store(&go, 1);
        double total = 0;
        for (int i = 0; i < nthreads; i++) {
            pthread_join(w[i].thread, NULL);
            total += (double)w[i].cpu_ns;
        }
        printf("%.2f ", total / nthreads / 1e6);
        fflush(stdout);
    }
    printf("\n");
    free(area);
    free(heads);
    return 0;
}
