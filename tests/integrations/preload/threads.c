/* A program for the LD_PRELOAD tests: threads allocating and freeing (some
   blocks freed by another thread than the one that made them), every entry
   point of the malloc family with its contract checked, and a fork while
   other threads allocate.  Prints one checksum line; exits 1 on a failure. */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 4
#define ROUNDS 20000
#define SLOTS 256

static int failures;
static void *handoff[THREADS][SLOTS]; /* blocks made by thread t, freed by t + 1 */
static pthread_mutex_t handoff_lock = PTHREAD_MUTEX_INITIALIZER;

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "FAILED: %s\n", what);
        __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
    }
}

static void *worker(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg, seed = id + 1;
    unsigned long sum = 0;
    char *live[SLOTS] = {0};
    size_t sizes[SLOTS] = {0};
    for (int i = 0; i < ROUNDS; i++) {
        unsigned s = (unsigned)rand_r(&seed) % SLOTS;
        if (live[s] != NULL) {
            for (size_t k = 0; k < sizes[s]; k++) /* the block kept its bytes */
                if (live[s][k] != (char)(sizes[s] + k))
                    { check(0, "block contents"); break; }
            sum += sizes[s];
            if (i % 3 == 0) {
                size_t grown = sizes[s] * 2 + 1;
                char *q = realloc(live[s], grown);
                check(q != NULL, "realloc");
                for (size_t k = sizes[s]; k < grown; k++)
                    q[k] = (char)(grown + k);
                for (size_t k = 0; k < sizes[s]; k++)
                    q[k] = (char)(grown + k);
                live[s] = q;
                sizes[s] = grown;
                continue;
            }
            free(live[s]);
            live[s] = NULL;
        }
        size_t n = 1 + (size_t)rand_r(&seed) % (i % 50 == 0 ? 4000 : 120);
        char *p = i % 7 == 0 ? calloc(1, n) : malloc(n);
        check(p != NULL && (uintptr_t)p % 16 == 0, "malloc: 16-byte aligned");
        if (i % 7 == 0)
            for (size_t k = 0; k < n; k++)
                if (p[k] != 0) { check(0, "calloc zeroes"); break; }
        check(malloc_usable_size(p) >= n, "malloc_usable_size >= n");
        for (size_t k = 0; k < n; k++)
            p[k] = (char)(n + k);
        live[s] = p;
        sizes[s] = n;
        if (i % 100 == 0) { /* hand a block to the next thread, free one from the previous */
            void *mine = malloc(48);
            pthread_mutex_lock(&handoff_lock);
            void *theirs = handoff[(id + THREADS - 1) % THREADS][s];
            handoff[(id + THREADS - 1) % THREADS][s] = NULL;
            void *old = handoff[id][s];
            handoff[id][s] = mine;
            pthread_mutex_unlock(&handoff_lock);
            free(theirs);
            free(old);
        }
    }
    for (int s = 0; s < SLOTS; s++)
        free(live[s]);
    return (void *)(uintptr_t)sum;
}

static void aligned_entry_points(void)
{
    size_t aligns[] = {8, 16, 32, 64, 256, 4096};
    for (size_t i = 0; i < sizeof aligns / sizeof *aligns; i++) {
        for (size_t n = 1; n <= 300; n += 37) {
            void *p = NULL;
            check(posix_memalign(&p, aligns[i], n) == 0 && (uintptr_t)p % aligns[i] == 0,
                  "posix_memalign");
            free(p);
            p = aligned_alloc(aligns[i], n);
            check(p != NULL && (uintptr_t)p % aligns[i] == 0, "aligned_alloc");
            free(p);
            p = memalign(aligns[i], n);
            check(p != NULL && (uintptr_t)p % aligns[i] == 0, "memalign");
            free(p);
        }
    }
    void *p = NULL;
    check(posix_memalign(&p, 24, 8) != 0, "posix_memalign refuses alignment 24");
    long page = sysconf(_SC_PAGESIZE);
    p = valloc(10);
    check(p != NULL && (uintptr_t)p % (uintptr_t)page == 0, "valloc");
    free(p);
    p = pvalloc(10);
    check(p != NULL && (uintptr_t)p % (uintptr_t)page == 0, "pvalloc");
    free(p);
    volatile size_t huge = SIZE_MAX / 2; /* volatile: the compiler must not see the overflow */
    check(calloc(huge, 4) == NULL, "calloc overflow refused");
    check(reallocarray(NULL, huge, 4) == NULL, "reallocarray overflow refused");
    char *r = reallocarray(NULL, 10, 3);
    check(r != NULL, "reallocarray");
    memset(r, 7, 30);
    r = realloc(r, 500); /* small block to a large one keeps its bytes */
    check(r != NULL && r[29] == 7, "realloc small -> large");
    r = realloc(r, 20); /* and back */
    check(r != NULL && r[19] == 7, "realloc large -> small");
    free(r);
    free(malloc(0));
    free(NULL);
}

int main(void)
{
    aligned_entry_points();
    pthread_t t[THREADS];
    for (unsigned i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i);
    pid_t child = fork(); /* while the workers allocate: the pool's lock must not stay held */
    if (child == 0) {
        unsigned long n = 0;
        for (int i = 0; i < 10000; i++) {
            char *p = malloc((size_t)(i % 128) + 1);
            p[0] = 1;
            n += (unsigned long)p[0];
            free(p);
        }
        _exit(n == 10000 ? 0 : 3);
    }
    unsigned long total = 0;
    for (unsigned i = 0; i < THREADS; i++) {
        void *sum;
        pthread_join(t[i], &sum);
        total += (unsigned long)(uintptr_t)sum;
    }
    for (int i = 0; i < THREADS; i++)
        for (int s = 0; s < SLOTS; s++)
            free(handoff[i][s]);
    int status = 0;
    check(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "child after fork allocates");
    printf("checksum %lu failures %d\n", total, failures);
    return failures != 0;
}
