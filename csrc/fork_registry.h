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
 * with its lock held, so no unlocked pop or push is half done at the fork.
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
    struct fork_entry *prev;
    struct fork_entry *next;
} fork_entry;

/* Adds e (whose lock is set) to the registry; installs the fork handlers on
   first use. */
void fork_registry_add(fork_entry *e);

/* Removes e; after this no fork takes its lock. */
void fork_registry_remove(fork_entry *e);

#endif /* SGI_POOL_FORK_REGISTRY_H */
