/* A program for the LD_PRELOAD tests of memory going back to the system
   (tests/integrations/test_preload.py) and its measurement
   (scripts/preload_trim_bench.py).  One mode per run; sizes in MiB of
   32-byte blocks; RSS from /proc/self/statm, in KiB.

     cycles C MIB   C times: allocates MIB, frees it all, then a quiet
                    moment (0.2 s, then a few small allocations and frees:
                    the automatic trim's delay passes); never calls
                    malloc_trim.  Prints "start S peak P end E
                    system N": N blocks came from the system allocator (the
                    pool refused: glibc's usable size of malloc(32) is 40)
     trim MIB       allocates MIB, frees it, calls malloc_trim(0) twice, then
                    glibc's own malloc_trim(0) (what the system allocator
                    answers alone); prints "first R1 second R2 system R3
                    start S end E"
     fork MIB       allocates MIB, frees it, malloc_trim(0), forks; the
                    child allocates and frees MIB again, the parent too
     drop R MIB     R times: allocates MIB, frees it all and at once
                    allocates and frees a few small blocks (no pause: only
                    a trim at the end of the run of frees, the eager one,
                    can come before the RSS is read); prints "start S peak
                    P end E system N"
     idle MIB SEC   allocates MIB, frees it all, then sleeps SEC seconds with
                    no pool call at all (only a trim thread can trim then);
                    prints "start S peak P end E system N"
     sparse R MIB   allocates 2 x MIB, then R times frees every other block
                    and allocates them again: runs of frees that leave no
                    chunk wholly free; prints "runs R"
     quiet MIB SEC  a long-running program: MIB/20 of long-lived blocks of
                    16..128 bytes, then a burst of MIB of them, all freed,
                    then SEC seconds of small steady work on the long-lived
                    ones; prints "start S peak P end E sum X"

     threads T SEC  T threads for SEC seconds: each allocates rounds of
                    blocks of 1..128 bytes, fills each with a byte of its
                    own, hands half to the next thread, checks and frees
                    what it holds; the main thread calls malloc_trim(0)
                    meanwhile.  Prints "trims N bad B" (B: blocks whose
                    bytes changed while they were live)

   Exits 2 on a usage error, 3 when the mode's premise does not hold. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long rss_kib(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

typedef struct node {
    struct node *next;
} node;

static long peak;

/* MIB of 32-byte blocks, as a list; *system: how many the system served. */
static node *burst(long mib, long *system)
{
    node *head = NULL;
    long count = mib * (1L << 20) / 32;
    for (long i = 0; i < count; i++) {
        node *n = malloc(32);
        if (n == NULL)
            exit(3);
        if (malloc_usable_size(n) != 32)
            ++*system;
        n->next = head;
        head = n;
    }
    long now = rss_kib();
    if (now > peak)
        peak = now;
    return head;
}

static void release(node *head)
{
    while (head != NULL) {
        node *next = head->next;
        free(head);
        head = next;
    }
}

static int cycles(long c, long mib)
{
    long start = rss_kib(), system = 0;
    for (long i = 0; i < c; i++) {
        release(burst(mib, &system));
        struct timespec pause = {0, 200000000};
        nanosleep(&pause, NULL);
        for (int j = 0; j < 1000; j++) {
            void *volatile small = malloc(24); /* volatile: not elided */
            free(small);
        }
    }
    printf("start %ld peak %ld end %ld system %ld\n", start, peak, rss_kib(), system);
    return 0;
}

static int drop(long rounds, long mib)
{
    long start = rss_kib(), system = 0;
    for (long i = 0; i < rounds; i++) {
        release(burst(mib, &system));
        for (int j = 0; j < 8; j++) {
            void *volatile small = malloc(24); /* volatile: not elided */
            free(small);
        }
    }
    printf("start %ld peak %ld end %ld system %ld\n", start, peak, rss_kib(), system);
    return 0;
}

static int idle(long mib, double seconds)
{
    long start = rss_kib(), system = 0;
    release(burst(mib, &system));
    struct timespec pause = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&pause, &pause) != 0) {
    }
    printf("start %ld peak %ld end %ld system %ld\n", start, peak, rss_kib(), system);
    return 0;
}

static int sparse(long rounds, long mib)
{
    long count = 2 * mib * (1L << 20) / 32;
    void **all = calloc((size_t)count, sizeof *all);
    if (all == NULL)
        return 3;
    for (long i = 0; i < count; i++)
        if ((all[i] = malloc(32)) == NULL)
            return 3;
    for (long r = 0; r < rounds; r++) {
        for (long i = 1; i < count; i += 2)
            free(all[i]);
        for (long i = 1; i < count; i += 2)
            if ((all[i] = malloc(32)) == NULL)
                return 3;
    }
    for (long i = 0; i < count; i++)
        free(all[i]);
    free(all);
    printf("runs %ld\n", rounds);
    return 0;
}

static int trim(long mib)
{
    long start = rss_kib(), system = 0;
    release(burst(mib, &system));
    int first = malloc_trim(0);
    long end = rss_kib();
    int second = malloc_trim(0);
    int (*glibc_trim)(size_t) = NULL;
    void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    void *sym = libc != NULL ? dlsym(libc, "malloc_trim") : NULL;
    memcpy(&glibc_trim, &sym, sizeof sym);
    if (glibc_trim == NULL)
        return 3;
    int alone = glibc_trim(0);
    printf("first %d second %d system %d start %ld end %ld\n", first, second, alone, start, end);
    return 0;
}

static int forks(long mib)
{
    long system = 0;
    release(burst(mib, &system));
    malloc_trim(0);
    pid_t child = fork();
    if (child < 0)
        return 3;
    release(burst(mib, &system)); /* both processes: reused addresses, fresh pages */
    if (child == 0)
        exit(system == 0 ? 0 : 3);
    int status;
    return waitpid(child, &status, 0) == child && WIFEXITED(status) &&
                   WEXITSTATUS(status) == 0 && system == 0
               ? 0 : 3;
}

static int quiet(long mib, double seconds)
{
    long start = rss_kib();
    long count = mib * (1L << 20) / 72; /* mean block of 16..128 bytes */
    long kept = count / 20;             /* long-lived, allocated before the burst */
    void **all = calloc((size_t)(count + kept), sizeof *all);
    if (all == NULL)
        return 3;
    unsigned seed = 12345;
    for (long i = 0; i < count + kept; i++) {
        seed = seed * 1103515245u + 12345u;
        all[i] = malloc(16 + (seed >> 16) % 113);
        if (all[i] == NULL)
            return 3;
        memset(all[i], 1, 16);
    }
    peak = rss_kib();
    for (long i = kept; i < count + kept; i++)
        free(all[i]);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned long sum = 0;
    do { /* steady work: a few allocations and frees a step */
        for (long i = 0; i < kept; i += 97) {
            void *volatile p = malloc(48); /* volatile: not elided */
            sum += (unsigned long)((char *)all[i])[0] + (p != NULL);
            free(p);
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
    printf("start %ld peak %ld end %ld sum %lu\n", start, peak, rss_kib(), sum % 2);
    for (long i = 0; i < kept; i++)
        free(all[i]);
    free(all);
    return 0;
}

enum { ROUND = 50000, SLOTS = 64 };

typedef struct {
    unsigned char *block;
    size_t n;
} held_block;

/* Blocks handed from thread i to thread i + 1: a ring of slots per thread. */
static _Atomic(held_block *) handoff[SLOTS][SLOTS];
static atomic_bool stop;
static atomic_long bad;
static long nthreads;

static void check_and_free(held_block *b)
{
    for (size_t k = 0; k < b->n; k++)
        if (b->block[k] != (unsigned char)b->n) {
            atomic_fetch_add(&bad, 1);
            break;
        }
    free(b->block);
}

static void *worker(void *arg)
{
    long self = (long)(intptr_t)arg;
    unsigned seed = (unsigned)self * 2654435761u + 1;
    held_block *mine = calloc(ROUND, sizeof *mine);
    if (mine == NULL)
        return NULL;
    for (long round = 0; !atomic_load(&stop); round++) {
        for (int i = 0; i < ROUND; i++) {
            seed = seed * 1103515245u + 12345u;
            size_t n = 1 + (seed >> 16) % 128;
            mine[i] = (held_block){malloc(n), n};
            if (mine[i].block == NULL)
                exit(3);
            memset(mine[i].block, (int)n, n);
        }
        /* half to the next thread, through a slot it empties */
        long next = (self + 1) % nthreads;
        for (int i = 0; i < ROUND; i += 2) {
            held_block *box = malloc(sizeof *box);
            *box = mine[i];
            box = atomic_exchange(&handoff[next][i % SLOTS], box);
            if (box != NULL) {
                check_and_free(box);
                free(box);
            }
        }
        for (int i = 1; i < ROUND; i += 2)
            check_and_free(&mine[i]);
        for (int i = 0; i < SLOTS; i++) {
            held_block *box = atomic_exchange(&handoff[self][i], NULL);
            if (box != NULL) {
                check_and_free(box);
                free(box);
            }
        }
    }
    free(mine);
    return NULL;
}

static int threads(long t, double seconds)
{
    if (t < 1 || t > SLOTS)
        return 2;
    nthreads = t;
    pthread_t ids[SLOTS];
    for (long i = 0; i < t; i++)
        if (pthread_create(&ids[i], NULL, worker, (void *)(intptr_t)i) != 0)
            return 3;
    struct timespec t0, now, pause = {0, 2000000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long trims = 0;
    do {
        malloc_trim(0);
        trims++;
        nanosleep(&pause, NULL);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
    atomic_store(&stop, true);
    for (long i = 0; i < t; i++)
        pthread_join(ids[i], NULL);
    for (long i = 0; i < t; i++)
        for (int j = 0; j < SLOTS; j++) {
            held_block *box = atomic_exchange(&handoff[i][j], NULL);
            if (box != NULL) {
                check_and_free(box);
                free(box);
            }
        }
    printf("trims %ld bad %ld\n", trims, atomic_load(&bad));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "cycles") == 0)
        return cycles(atol(argv[2]), atol(argv[3]));
    if (argc == 4 && strcmp(argv[1], "drop") == 0)
        return drop(atol(argv[2]), atol(argv[3]));
    if (argc == 4 && strcmp(argv[1], "idle") == 0)
        return idle(atol(argv[2]), atof(argv[3]));
    if (argc == 4 && strcmp(argv[1], "sparse") == 0)
        return sparse(atol(argv[2]), atol(argv[3]));
    if (argc == 3 && strcmp(argv[1], "trim") == 0)
        return trim(atol(argv[2]));
    if (argc == 3 && strcmp(argv[1], "fork") == 0)
        return forks(atol(argv[2]));
    if (argc == 4 && strcmp(argv[1], "quiet") == 0)
        return quiet(atol(argv[2]), atof(argv[3]));
    if (argc == 4 && strcmp(argv[1], "threads") == 0)
        return threads(atol(argv[2]), atof(argv[3]));
    fprintf(stderr, "usage: trim_probe cycles C MIB | drop R MIB | idle MIB SEC | "
                    "sparse R MIB | trim MIB | fork MIB | quiet MIB SEC | threads T SEC\n");
    return 2;
}
