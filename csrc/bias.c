/* bias.c -- the slow half of biased ownership (bias.h): ids, membarrier. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* syscall */
#endif

#include "bias.h"

#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>

#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#ifdef BIAS_RSEQ
#include <sys/rseq.h>
#endif

_Thread_local uintptr_t bias_thread_id BIAS_TLS;
_Thread_local uintptr_t bias_owner_self BIAS_TLS;
_Thread_local uintptr_t bias_rseq_self BIAS_TLS;

static atomic_uintptr_t next_thread_id = 1;

/* 0 not asked yet, 1 registered, -1 unavailable */
static atomic_int registered;
/* whether the RSEQ membarrier is registered too (read after `registered`) */
static bool rseq_registered;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

#ifdef BIAS_RSEQ
ptrdiff_t bias_rseq_cs_at;
/* Where a thread that does not enter by rseq arms its sections when the
   process has no rseq (its compare inside then fails at once): a word of
   its own, never the kernel's. */
static _Thread_local uint64_t rseq_cs_scratch BIAS_TLS;
#endif

/* Whether switch NAME is set (any value but "" or "0"). */
static bool switch_set(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' && !(v[0] == '0' && v[1] == '\0');
}

static void register_membarrier(void)
{
    /* SGI_POOL_NO_BIAS=1 (any value but "" or "0") keeps every pool on
       the lock: the fallback on demand, and how the tests reach it;
       SGI_POOL_NO_RSEQ=1 keeps the flag's handshake everywhere (the
       measurements' twin, and the tests' second path). */
    bool refused = switch_set("SGI_POOL_NO_BIAS");
    bool rseq_refused = switch_set("SGI_POOL_NO_RSEQ");
#ifdef BIAS_RSEQ
    bias_rseq_cs_at = (char *)&rseq_cs_scratch - (char *)__builtin_thread_pointer();
#endif
#if defined(__linux__) && defined(SYS_membarrier)
    long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    bool ok = !refused && cmds >= 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
              syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
#ifdef BIAS_RSEQ
    /* rseq: glibc registered this thread's area (__rseq_size covers rseq_cs),
       and the RSEQ membarrier registers */
    if (ok && !rseq_refused && __rseq_size >= offsetof(struct rseq, rseq_cs) + 8 &&
        (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ) &&
        syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ, 0, 0) == 0) {
        bias_rseq_cs_at = __rseq_offset + (ptrdiff_t)offsetof(struct rseq, rseq_cs);
        rseq_registered = true;
    }
#endif
#else
    bool ok = false;
    (void)refused;
#endif
    (void)rseq_refused;
    atomic_store_explicit(&registered, ok ? 1 : -1, memory_order_release);
}

bool bias_available(void)
{
    pthread_once(&init_once, register_membarrier);
    return atomic_load_explicit(&registered, memory_order_acquire) > 0;
}

/* Whether this thread's own rseq area is registered (glibc registers every
   thread it makes, unless told not to; not under Valgrind, nor in a thread
   made by a bare clone). */
static bool own_rseq_registered(void)
{
#ifdef BIAS_RSEQ
    if (!rseq_registered)
        return false;
    const struct rseq *area =
        (const struct rseq *)(void *)((char *)__builtin_thread_pointer() + __rseq_offset);
    return (int32_t)area->cpu_id >= 0;
#else
    return false;
#endif
}

uintptr_t bias_self_id(void)
{
    if (bias_thread_id == 0) {
        uintptr_t id = atomic_fetch_add_explicit(&next_thread_id, 1, memory_order_relaxed);
        /* (rseq_registered is read after `registered`: set before any pool
           was made, so before any thread reaches here for a pool) */
        bool rseq = bias_available() && own_rseq_registered();
        bias_owner_self = rseq ? id | BIAS_RSEQ_BIT : id;
        bias_rseq_self = rseq ? bias_owner_self : 0;
        bias_thread_id = id;
    }
    return bias_thread_id;
}

uintptr_t bias_self_owner(void)
{
    if (bias_thread_id == 0)
        (void)bias_self_id();
    return bias_owner_self;
}

bool bias_self_rseq(void)
{
    return (bias_self_owner() & BIAS_RSEQ_BIT) != 0;
}

static atomic_int fence_word;

/* A full fence on every running thread of the process; with `rseq`, every
   rseq critical section running is also restarted (the RSEQ command). */
static void process_wide_fence(bool rseq)
{
#if defined(__linux__) && defined(SYS_membarrier)
    /* Registered when the first pool was created (bias_available); should a
       process ever lose the registration, register again: without the fence
       on the owner's side the handshake would not hold, so never go on. */
    int cmd = MEMBARRIER_CMD_PRIVATE_EXPEDITED;
    int reg = MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED;
#ifdef BIAS_RSEQ
    if (rseq) {
        cmd = MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ;
        reg = MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ;
    }
#endif
    (void)rseq;
    if (syscall(SYS_membarrier, cmd, 0, 0) != 0 &&
        (syscall(SYS_membarrier, reg, 0, 0) != 0 || syscall(SYS_membarrier, cmd, 0, 0) != 0))
        abort();
#else
    (void)rseq;
#endif
    /* membarrier is a full fence on the caller too; this locked no-op says so
       in C11 terms (ThreadSanitizer models it; it does not model fences). */
    atomic_fetch_add_explicit(&fence_word, 0, memory_order_seq_cst);
}

void bias_revoke(_Atomic uintptr_t *owner, const atomic_int *busy)
{
    bias_revoke_to(owner, busy, BIAS_REVOKED);
}

void bias_revoke_to(_Atomic uintptr_t *owner, const atomic_int *busy, uintptr_t settled)
{
    uintptr_t was = atomic_exchange_explicit(owner, settled, memory_order_seq_cst);
    /* an owner entering by rseq: its sections restarted (and fenced) */
    process_wide_fence(!bias_settled(was) && was != BIAS_UNOWNED && (was & BIAS_RSEQ_BIT) != 0);
    /* The acquire load that reads the owner's release of the flag orders its
       last unlocked pop or push before everything the lock holders do next
       (and is what ThreadSanitizer sees; it cannot see the membarrier). */
    unsigned spins = 0;
    while (atomic_load_explicit(busy, memory_order_acquire) != 0) {
        if (++spins >= 64) {
            spins = 0;
            sched_yield(); /* the owner may be descheduled mid-operation */
        }
    }
}
