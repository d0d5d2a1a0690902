/*
 * bias.h -- biased ownership of a thread-safe pool (internal).
 *
 * The first thread to take a pool's lock becomes its owner and from then on
 * runs the allocate/deallocate fast paths with no atomic read-modify-write:
 * it raises the pool's `busy` flag (a plain store), checks it is still the
 * owner, pops or pushes, and lowers the flag.  Any other thread that takes
 * the lock revokes the bias once: it marks the pool revoked, issues
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) -- every running thread of
 * the process executes a full fence, which orders the owner's flag store
 * before its owner re-check -- then waits for the flag to drop.  Either the
 * owner's re-check saw the revocation (it takes the lock), or the revoker saw
 * the flag (it waits): an asymmetric Dekker handshake.  After that the pool
 * is locked as before, for good.  A pool with thread caches (core/thread_cache.c)
 * starts biased too; its revocation switches it to the caches for good
 * (owner BIAS_CACHED: the lock for their exchanges, never a bias again).
 *
 * Threads are told apart by a per-thread id (an initial-exec TLS word, one
 * load), never by an address that could be reused once a thread exits; an
 * owner that has exited leaves its id behind and a lowered flag, so the
 * next thread revokes at once.  Where membarrier's expedited command cannot
 * be registered (old kernels, seccomp), pools start revoked: the lock alone.
 */
#ifndef SGI_POOL_BIAS_H
#define SGI_POOL_BIAS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Values of a pool's owner word besides a thread id (ids count from 1). */
#define BIAS_UNOWNED UINTPTR_MAX       /* no thread has used the pool yet */
#define BIAS_REVOKED (UINTPTR_MAX - 1) /* locked for good */
#define BIAS_CACHED (UINTPTR_MAX - 2)  /* revoked, and thread caches serve (for good) */

/* Whether an owner word is settled for good (REVOKED or CACHED): no thread
   owns the pool nor ever will. */
static inline bool bias_settled(uintptr_t owner)
{
    return owner - BIAS_CACHED <= BIAS_REVOKED - BIAS_CACHED;
}

#if defined(__GNUC__)
#define BIAS_TLS __attribute__((tls_model("initial-exec")))
#else
#define BIAS_TLS
#endif

/* This thread's id; 0 until bias_self_id assigns it (0 owns nothing). */
extern _Thread_local uintptr_t bias_thread_id BIAS_TLS;

/* True when the process can revoke a bias (membarrier's private expedited
   command registered); the first call registers. */
bool bias_available(void);

/* The calling thread's id, assigned on first use. */
uintptr_t bias_self_id(void);

/* Revokes the bias of a pool whose owner word is *owner and in-operation flag
   *busy (called with the pool's lock held, by a thread other than the owner):
   afterwards no owner fast path is running or will run. */
void bias_revoke(_Atomic uintptr_t *owner, const atomic_int *busy);

/* The same, leaving `settled` (BIAS_REVOKED or BIAS_CACHED) in *owner. */
void bias_revoke_to(_Atomic uintptr_t *owner, const atomic_int *busy, uintptr_t settled);

#endif /* SGI_POOL_BIAS_H */
