/* bias.c -- the slow half of biased ownership (bias.h): ids, membarrier. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* syscall */
#endif

#include "bias.h"

#include <sched.h>
#include <stdlib.h>

#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

_Thread_local uintptr_t bias_thread_id BIAS_TLS;

static atomic_uintptr_t next_thread_id = 1;

/* 0 not asked yet, 1 registered, -1 unavailable */
static atomic_int registered;

bool bias_available(void)
{
    int state = atomic_load_explicit(&registered, memory_order_acquire);
    if (state == 0) {
        /* SGI_POOL_NO_BIAS=1 (any value but "" or "0") keeps every pool on
           the lock: the fallback on demand, and how the tests reach it. */
        const char *off = getenv("SGI_POOL_NO_BIAS");
        bool refused = off != NULL && off[0] != '\0' && !(off[0] == '0' && off[1] == '\0');
#if defined(__linux__) && defined(SYS_membarrier)
        long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
        bool ok = !refused && cmds >= 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
                  syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
#else
        bool ok = false;
        (void)refused;
#endif
        state = ok ? 1 : -1; /* registering twice is harmless: no race to guard */
        atomic_store_explicit(&registered, state, memory_order_release);
    }
    return state > 0;
}

uintptr_t bias_self_id(void)
{
    if (bias_thread_id == 0)
        bias_thread_id = atomic_fetch_add_explicit(&next_thread_id, 1, memory_order_relaxed);
    return bias_thread_id;
}

static atomic_int fence_word;

static void process_wide_fence(void)
{
#if defined(__linux__) && defined(SYS_membarrier)
    /* Registered when the first pool was created (bias_available); should a
       process ever lose the registration, register again: without the fence
       on the owner's side the handshake would not hold, so never go on. */
    if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0 &&
        (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) != 0 ||
         syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0))
        abort();
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
    atomic_store_explicit(owner, settled, memory_order_seq_cst);
    process_wide_fence();
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
