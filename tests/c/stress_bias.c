/*
 * stress_bias.c -- biased ownership of the default profile (csrc/bias.h),
 * checked from C (tests/threads/test_bias.py builds it plain and under TSan).
 *
 *   same-addresses  a default pool used by one thread hands out the same
 *                   addresses, in the same order, as a single-thread pool
 *                   (sized and size-less frees mixed)
 *   takeover        a second thread first touches the pool while its owner
 *                   is mid-stream (both write and check every block); again
 *                   with checked pools, also biased, whose status-returning
 *                   frees must all report SGI_POOL_OK
 *   close           another thread closes the pool while the owner runs
 *   destroy         another thread destroys a pool whose owner is alive, idle
 *   fork            the main thread forks while the owner runs; the child
 *                   uses the pool (content checks) and must exit 0
 *   held            the held calls (numpy's handler): the owner alone, then
 *                   a second thread taking over, while a third closes the
 *                   pool; every block's contents checked, and the memory
 *                   goes back exactly when the last held block is freed
 * Prints "bias: LOCKING" (the sgi_pool_locking of a fresh pool after one
 * call) and "all checks passed".  Exit status 1 on any failure.
 */
#include "sgi_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define LIVE 64

static int failures;

static void fail(const char *what)
{
    fprintf(stderr, "FAILED: %s\n", what);
    failures++;
}

static size_t size_of(uint64_t *x)
{
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
    return (size_t)(*x % 128) + 1;
}

/* Random allocations and frees with every block filled with its tag and
   checked before it is freed; returns the number of bad blocks. */
static int churn(sgi_pool *p, uint64_t seed, size_t steps, unsigned char tag,
                 const _Atomic int *stop)
{
    void *live[LIVE] = {0};
    size_t size[LIVE] = {0};
    int bad = 0;
    uint64_t x = seed;
    for (size_t i = 0; i < steps && !(stop && atomic_load(stop)); i++) {
        size_t j = (size_t)(x % LIVE);
        if (live[j] != NULL) {
            for (size_t k = 0; k < size[j]; k++)
                bad += ((unsigned char *)live[j])[k] != tag;
            if ((i & 3) == 1) /* the size-less free has its own fast path */
                sgi_pool_free(p, live[j]);
            else if ((i & 3) == 3) /* the status-returning frees take the same paths */
                bad += sgi_pool_free_checked(p, live[j]) != SGI_POOL_OK;
            else if ((i & 7) == 2)
                bad += sgi_pool_deallocate_checked(p, live[j], size[j]) != SGI_POOL_OK;
            else
                sgi_pool_deallocate(p, live[j], size[j]);
            live[j] = NULL;
        }
        size[j] = size_of(&x);
        live[j] = sgi_pool_allocate(p, size[j]);
        if (live[j] == NULL)
            return bad + 1;
        memset(live[j], tag, size[j]);
    }
    for (size_t j = 0; j < LIVE; j++)
        if (live[j] != NULL) {
            for (size_t k = 0; k < size[j]; k++)
                bad += ((unsigned char *)live[j])[k] != tag;
            sgi_pool_deallocate(p, live[j], size[j]);
        }
    return bad;
}

/* A block's place: (its chunk's index in acquisition order, its offset),
   the same in two pools that carve alike whatever malloc returned. */
static uint64_t where(sgi_pool *p, const void *block)
{
    uintptr_t bases[256];
    size_t sizes[256];
    size_t n = sgi_pool_chunks(p, bases, sizes, 256);
    for (size_t i = 0; i < n && i < 256; i++)
        if ((uintptr_t)block >= bases[i] && (uintptr_t)block < bases[i] + sizes[i])
            return ((uint64_t)i << 32) | ((uintptr_t)block - bases[i]);
    return UINT64_MAX;
}

static void same_addresses(void)
{
    sgi_pool_options o;
    sgi_pool_options_init(&o);
    o.thread_safe = 0;
    sgi_pool *plain = sgi_pool_create(&o);
    sgi_pool *biased = sgi_pool_create(NULL);
    void *a[LIVE] = {0}, *b[LIVE] = {0};
    size_t n[LIVE] = {0};
    uint64_t x = 12345;
    for (int i = 0; i < 20000; i++) {
        size_t j = (size_t)(x % LIVE);
        if (a[j] != NULL) {
            sgi_pool_deallocate(plain, a[j], n[j]);
            if (i & 1)
                sgi_pool_free(biased, b[j]);
            else
                sgi_pool_deallocate(biased, b[j], n[j]);
        }
        n[j] = size_of(&x);
        a[j] = sgi_pool_allocate(plain, n[j]);
        b[j] = sgi_pool_allocate(biased, n[j]);
        if (where(plain, a[j]) != where(biased, b[j])) {
            fail("same-addresses: a different block than the single-thread pool's");
            break;
        }
    }
    sgi_pool_stats sa, sb;
    sgi_pool_get_stats(plain, &sa);
    sgi_pool_get_stats(biased, &sb);
    if (sa.heap_size != sb.heap_size || sa.chunks != sb.chunks)
        fail("same-addresses: different chunks");
    printf("bias: %d\n", sgi_pool_locking(biased));
    if (sgi_pool_locking(plain) != SGI_POOL_LOCKING_NONE)
        fail("a single-thread pool reports a lock");
    sgi_pool_destroy(plain);
    sgi_pool_destroy(biased);
}

typedef struct job {
    sgi_pool *p;
    uint64_t seed;
    size_t steps;
    unsigned char tag;
    _Atomic int *stop;
    _Atomic int started;
    int bad;
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    atomic_store(&j->started, 1);
    j->bad = churn(j->p, j->seed, j->steps, j->tag, j->stop);
    return NULL;
}

static void wait_started(job *j)
{
    while (!atomic_load(&j->started))
        sched_yield();
}

static void takeover(int rounds, int checked)
{
    for (int r = 0; r < rounds; r++) {
        sgi_pool_options o;
        sgi_pool_options_init(&o);
        o.checked = checked;
        sgi_pool *p = sgi_pool_create(&o);
        job owner = {p, 1 + (uint64_t)r, 200000, 0xA5, NULL, 0, 0};
        job other = {p, 99 + (uint64_t)r, 20000, 0x5A, NULL, 0, 0};
        pthread_t t1, t2;
        pthread_create(&t1, NULL, run_job, &owner);
        wait_started(&owner);
        pthread_create(&t2, NULL, run_job, &other);
        pthread_join(t1, NULL);
        pthread_join(t2, NULL);
        if (owner.bad || other.bad)
            fail("takeover: a block's contents changed");
        int locking = sgi_pool_locking(p);
        if (locking == SGI_POOL_LOCKING_BIASED)
            fail("takeover: the bias survived a second thread");
        sgi_pool_destroy(p);
    }
}

/* The owner allocates and frees without touching blocks: after the other
   thread's close its allocations fail and its frees are ignored. */
static void *alloc_until_closed(void *arg)
{
    job *j = arg;
    atomic_store(&j->started, 1);
    for (size_t i = 0; i < j->steps; i++) {
        void *b = sgi_pool_allocate(j->p, 32);
        if (b == NULL)
            return NULL;
        sgi_pool_deallocate(j->p, b, 32);
    }
    j->bad = 1; /* never saw the close */
    return NULL;
}

static void close_from_another_thread(void)
{
    sgi_pool *p = sgi_pool_create(NULL);
    job owner = {p, 0, SIZE_MAX, 0, NULL, 0, 0};
    pthread_t t;
    pthread_create(&t, NULL, alloc_until_closed, &owner);
    wait_started(&owner);
    usleep(2000);
    sgi_pool_close(p);
    pthread_join(t, NULL);
    if (owner.bad)
        fail("close: the owner never saw the pool closed");
    if (sgi_pool_allocate(p, 16) != NULL)
        fail("close: a closed pool allocated");
    sgi_pool_destroy(p);
}

/* The owner uses the pool and stays alive but idle; another thread destroys
   the pool (revoking the bias on the way), then lets the owner go. */
static void *use_then_idle(void *arg)
{
    job *j = arg;
    j->bad = churn(j->p, j->seed, j->steps, j->tag, NULL);
    atomic_store(&j->started, 1);
    while (!atomic_load(j->stop))
        sched_yield();
    return NULL;
}

static void destroy_from_another_thread(void)
{
    sgi_pool *p = sgi_pool_create(NULL);
    _Atomic int stop = 0;
    job owner = {p, 3, 5000, 0x77, &stop, 0, 0};
    pthread_t t;
    pthread_create(&t, NULL, use_then_idle, &owner);
    wait_started(&owner);
    if (sgi_pool_locking(p) != SGI_POOL_LOCKING_BIASED &&
        sgi_pool_locking(p) != SGI_POOL_LOCKING_LOCK)
        fail("destroy: the owner's pool is not biased");
    sgi_pool_destroy(p);
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    if (owner.bad)
        fail("destroy: the owner's blocks changed");
}

static void fork_mid_use(int rounds)
{
    for (int r = 0; r < rounds; r++) {
        sgi_pool *p = sgi_pool_create(NULL);
        _Atomic int stop = 0;
        job owner = {p, 7 + (uint64_t)r, SIZE_MAX, 0xC3, &stop, 0, 0};
        pthread_t t;
        pthread_create(&t, NULL, run_job, &owner);
        wait_started(&owner);
        usleep(500);
        pid_t pid = fork();
        if (pid == 0) {
            int bad = churn(p, 555, 20000, 0x3C, NULL);
            _exit(bad != 0 || sgi_pool_locking(p) == SGI_POOL_LOCKING_BIASED ? 3 : 0);
        }
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            fail("fork: the child could not use the pool");
        atomic_store(&stop, 1);
        pthread_join(t, NULL);
        if (owner.bad)
            fail("fork: the owner's blocks changed");
        sgi_pool_destroy(p);
    }
}

/* The held calls as numpy's handler makes them, with content checks: the
   sized frees (with and without free() for the system's blocks) and the
   size-less one, mixed with system blocks; after a close() allocations fail
   and the blocks still live go back to the retired memory.  Returns the
   number of bad blocks or statuses. */
static int held_churn(sgi_pool *p, uint64_t seed, size_t steps, unsigned char tag,
                      const _Atomic int *stop)
{
    void *live[LIVE] = {0};
    size_t size[LIVE] = {0};
    int bad = 0;
    uint64_t x = seed;
    for (size_t i = 0; i < steps && !(stop && atomic_load(stop)); i++) {
        size_t j = (size_t)(x % LIVE);
        if (live[j] != NULL) {
            for (size_t k = 0; k < size[j]; k++)
                bad += ((unsigned char *)live[j])[k] != tag;
            int status = (i & 3) == 0   ? sgi_pool_deallocate_held(p, live[j], size[j])
                         : (i & 3) == 1 ? sgi_pool_deallocate_held_or_free(p, live[j], size[j])
                         : (i & 3) == 2 ? sgi_pool_free_held(p, live[j])
                                        : sgi_pool_deallocate_held_or_free(p, live[j], 0);
            bad += status != SGI_POOL_OK;
            live[j] = NULL;
        }
        if ((i & 15) == 5) /* a system block, size-less: refused, and freed by the call */
            bad += sgi_pool_deallocate_held_or_free(p, malloc(size_of(&x)), 0) !=
                   SGI_POOL_ENOTLIVE;
        size[j] = size_of(&x);
        live[j] = sgi_pool_allocate_held(p, size[j]);
        if (live[j] != NULL)
            memset(live[j], tag, size[j]);
    }
    for (size_t j = 0; j < LIVE; j++)
        if (live[j] != NULL) {
            for (size_t k = 0; k < size[j]; k++)
                bad += ((unsigned char *)live[j])[k] != tag;
            bad += sgi_pool_deallocate_held(p, live[j], size[j]) != SGI_POOL_OK;
        }
    return bad;
}

static void *run_held_job(void *arg)
{
    job *j = arg;
    atomic_store(&j->started, 1);
    j->bad = held_churn(j->p, j->seed, j->steps, j->tag, j->stop);
    return NULL;
}

static void held_close_mid_use(int rounds)
{
    for (int r = 0; r < rounds; r++) {
        size_t blocks0, bytes0, blocks1, bytes1;
        sgi_pool_process_totals(&blocks0, &bytes0);
        sgi_pool *p = sgi_pool_create(NULL);
        job owner = {p, 11 + (uint64_t)r, 300000, 0x96, NULL, 0, 0};
        job other = {p, 71 + (uint64_t)r, 30000, 0x69, NULL, 0, 0};
        pthread_t t1, t2;
        pthread_create(&t1, NULL, run_held_job, &owner);
        wait_started(&owner);
        if (r & 1) { /* odd rounds: a second thread takes over first */
            pthread_create(&t2, NULL, run_held_job, &other);
            wait_started(&other);
        }
        usleep(1000);
        sgi_pool_close(p);
        pthread_join(t1, NULL);
        if (r & 1)
            pthread_join(t2, NULL);
        if (owner.bad || other.bad)
            fail("held: a block's contents or a status changed");
        sgi_pool_process_totals(&blocks1, &bytes1);
        if (blocks1 != blocks0 || bytes1 != bytes0)
            fail("held: the memory outlived the last held block");
        sgi_pool_destroy(p);
    }
}

int main(void)
{
    same_addresses();
    takeover(20, 0);
    takeover(10, 1);
    close_from_another_thread();
    destroy_from_another_thread();
    fork_mid_use(10);
    held_close_mid_use(6);
    if (failures)
        return 1;
    puts("all checks passed");
    return 0;
}
