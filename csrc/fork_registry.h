/*
 * fork_registry.h -- thread-safe pools are locked across fork() (internal).
 *
 * A child of a multi-threaded process has only the forking thread; a pool
 * lock held by another thread at that moment would stay held forever in the
 * child.  So every thread-safe pool registers its lock here, and a
 * pthread_atfork handler takes every registered lock before fork() (the
 * registry's own mutex first, then the pools' locks: no other code nests
 * them the other way) and releases them after it, in parent and child.
 * A biased pool (bias.h) owned by another thread has its bias revoked too,
 * with its lock held, so no unlocked pop or push is half done at the fork
 * (as any other thread's locking would: a pool with thread caches switches
 * to them).
 */
#ifndef SGI_POOL_FORK_REGISTRY_H
#define SGI_POOL_FORK_REGISTRY_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct fork_entry {
    atomic_int *lock; /* the pool's spin lock */
    /* A biased pool's owner word and in-operation flag (bias.h), else NULL:
       its owner runs without the lock, so the bias is revoked before fork. */
    _Atomic uintptr_t *bias_owner;
    const atomic_int *bias_busy;
    uintptr_t bias_revoked_to; /* what the revocation leaves (BIAS_REVOKED, or BIAS_CACHED:
                                  a pool with thread caches switches to them) */
    /* Called with the lock held: before fork (after the bias is revoked), and
       in the child before the lock is released; NULL: nothing to do.  Thread
       caches (core/thread_cache.c) quiesce other threads' caches and, in the
       child, hand back those of the threads that are gone. */
    void (*before_fork)(struct fork_entry *e);
    void (*in_child)(struct fork_entry *e);
    struct fork_entry *prev;
    struct fork_entry *next;
} fork_entry;

/* Adds e (whose lock is set) to the registry; installs the fork handlers on
   first use. */
void fork_registry_add(fork_entry *e);

/* Removes e; after this no fork takes its lock. */
void fork_registry_remove(fork_entry *e);

/* The registry's mutex, for code that must not run across a fork and nests a
   pool lock inside it (thread caches: a thread's exit against a destroy). */
void fork_registry_lock(void);
void fork_registry_unlock(void);

#endif /* SGI_POOL_FORK_REGISTRY_H */
