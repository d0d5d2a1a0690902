/* A program for the LD_PRELOAD tests of the thread caches (test_preload.py).

   exits N   N threads, four at a time, each allocating and freeing 210 blocks of
             three classes and leaving one 80-byte block to main, then
             exiting: a thread's cache must go back to the lists at its exit,
             so later threads reuse those blocks instead of carving new ones.
   fork      four threads allocate and free while main forks three times; each
             child allocates 30 000 blocks of every class, checks that no two
             overlap and that main's own blocks kept their bytes (a block of a
             dead thread's cache handed out twice would break one of both),
             frees them and exits through exit() (its stats report).

   Prints one line ("exits N" / "fork children 3"); exits 1 on a failure. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAVE 4
#define PER_CLASS 210 /* not a multiple of the refill: caches hold blocks at exit */
#define MAX_THREADS 1024

static int failures;
static void *left_to_main[MAX_THREADS];

static void fail(const char *what)
{
    fprintf(stderr, "FAILED: %s\n", what);
    __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
}

static void *short_lived(void *arg)
{
    static const size_t sizes[] = {24, 64, 100};
    size_t id = (size_t)(uintptr_t)arg;
    char *blocks[3 * PER_CLASS];
    for (size_t i = 0; i < 3 * PER_CLASS; i++) {
        size_t n = sizes[i % 3];
        blocks[i] = malloc(n);
        if (blocks[i] == NULL) {
            fail("malloc");
            return NULL;
        }
        memset(blocks[i], (int)(id + i), n);
    }
    for (size_t i = 0; i < 3 * PER_CLASS; i++) {
        if (blocks[i][0] != (char)(id + i) || blocks[i][sizes[i % 3] - 1] != (char)(id + i))
            fail("block contents");
        free(blocks[i]);
    }
    left_to_main[id] = malloc(80); /* one live block per thread, freed by nobody */
    return NULL;
}

static int exits(size_t n)
{
    if (n > MAX_THREADS)
        n = MAX_THREADS;
    for (size_t first = 0; first < n; first += WAVE) {
        pthread_t t[WAVE];
        size_t k = 0;
        for (; k < WAVE && first + k < n; k++)
            if (pthread_create(&t[k], NULL, short_lived, (void *)(uintptr_t)(first + k)) != 0)
                fail("pthread_create");
        while (k-- > 0)
            pthread_join(t[k], NULL);
    }
    for (size_t i = 0; i < n; i++)
        if (left_to_main[i] == NULL)
            fail("a thread's last block");
    printf("exits %zu\n", n);
    return failures != 0;
}

/* ---- fork ---------------------------------------------------------------------- */

static int stop; /* read and written with __atomic builtins */

static void *churner(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg + 1;
    char *live[64] = {0};
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
        unsigned s = (unsigned)rand_r(&seed) % 64;
        free(live[s]);
        live[s] = malloc(1 + (size_t)rand_r(&seed) % 128);
        if (live[s] != NULL)
            live[s][0] = 1;
    }
    for (int i = 0; i < 64; i++)
        free(live[i]);
    return NULL;
}

static int compare_addresses(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return (x > y) - (x < y);
}

#define MAIN_BLOCKS 1000
#define CHILD_BLOCKS 30000

static char *mine[MAIN_BLOCKS];

static int child(void)
{
    static uintptr_t addrs[CHILD_BLOCKS];
    static char *blocks[CHILD_BLOCKS];
    for (size_t i = 0; i < CHILD_BLOCKS; i++) {
        size_t n = 16 * (1 + i % 8); /* every class of the align-16 profile */
        blocks[i] = malloc(n);
        if (blocks[i] == NULL) {
            fail("malloc in the child");
            return 1;
        }
        memset(blocks[i], 0x5A, n);
        addrs[i] = (uintptr_t)blocks[i];
    }
    qsort(addrs, CHILD_BLOCKS, sizeof addrs[0], compare_addresses);
    for (size_t i = 1; i < CHILD_BLOCKS; i++)
        if (addrs[i] - addrs[i - 1] < 16)
            fail("two blocks overlap in the child");
    for (size_t i = 0; i < MAIN_BLOCKS; i++)
        for (size_t k = 0; k < 48; k++)
            if (mine[i][k] != (char)(i + k)) {
                fail("a live block of main changed in the child");
                break;
            }
    for (size_t i = 0; i < CHILD_BLOCKS; i++)
        free(blocks[i]);
    return failures != 0;
}

static int forks(void)
{
    for (size_t i = 0; i < MAIN_BLOCKS; i++) {
        mine[i] = malloc(48);
        for (size_t k = 0; k < 48; k++)
            mine[i][k] = (char)(i + k);
    }
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, churner, (void *)(uintptr_t)i);
    int children = 0;
    for (int round = 0; round < 3; round++) {
        usleep(20000); /* the threads' caches fill meanwhile */
        pid_t pid = fork();
        if (pid == 0)
            exit(child()); /* exit, not _exit: the child's stats report */
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            fail("a fork child");
        else
            children++;
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (size_t i = 0; i < MAIN_BLOCKS; i++)
        free(mine[i]);
    printf("fork children %d\n", children);
    return failures != 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "exits") == 0)
        return exits((size_t)strtoul(argv[2], NULL, 10));
    if (argc == 2 && strcmp(argv[1], "fork") == 0)
        return forks();
    fprintf(stderr, "usage: %s exits N | fork\n", argv[0]);
    return 2;
}
