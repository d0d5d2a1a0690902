/*
 * spin_lock.h -- the pool's lock: a test-and-test-and-set spin lock on one
 * atomic int (internal).  0 is free, 1 held.
 *
 * A pool call holds it for a free-list pop or push, or at worst a refill that
 * calls malloc, so spinning beats sleeping; a waiter spins on a plain load
 * (no cache-line ping-pong while the holder works) and yields the CPU after
 * a short spin, since on a 2-core machine the holder may be descheduled.
 */
#ifndef SGI_POOL_SPIN_LOCK_H
#define SGI_POOL_SPIN_LOCK_H

#include <stdatomic.h>
#include <stdbool.h>

/* Waits until the lock is free and takes it (out of line: the slow path). */
void spin_lock_contended(atomic_int *lock);

/* One attempt; true when taken. */
static inline bool spin_lock_try(atomic_int *lock)
{
    return !atomic_exchange_explicit(lock, 1, memory_order_acquire);
}

static inline void spin_lock_acquire(atomic_int *lock)
{
    if (__builtin_expect(!spin_lock_try(lock), 0))
        spin_lock_contended(lock);
}

static inline void spin_lock_release(atomic_int *lock)
{
    atomic_store_explicit(lock, 0, memory_order_release);
}

#endif /* SGI_POOL_SPIN_LOCK_H */
