/*
 * locking.c -- thread-safe pools (B.7): a spin lock (spin_lock.h) around a
 * call, except while a pool is biased (bias.h): the one thread using it then
 * runs the fast paths with no atomic, until another thread arrives.
 */

/* With the lock held: the first thread to lock a biased pool becomes its
   owner; any other revokes the bias (once; the pool is locked from then on,
   or, with thread caches, switched to them: BIAS_CACHED). */
static NOINLINE void bias_settle(sgi_pool *p)
{
    uintptr_t owner = atomic_load_explicit(&p->bias_owner, memory_order_relaxed);
    uintptr_t self = bias_self_id();
    if (owner == BIAS_UNOWNED)
        atomic_store_explicit(&p->bias_owner, self, memory_order_relaxed);
    else if (owner != self)
        bias_revoke_to(&p->bias_owner, &p->bias_busy, p->fork.bias_revoked_to);
}

static inline bool bias_revoked(const sgi_pool *p)
{
    return atomic_load_explicit(&p->bias_owner, memory_order_relaxed) == BIAS_REVOKED;
}

static inline void pool_lock(sgi_pool *p)
{
    if (p->thread_safe) {
        spin_lock_acquire(&p->lock);
        if (UNLIKELY(!bias_settled(atomic_load_explicit(&p->bias_owner, memory_order_relaxed))))
            bias_settle(p);
    }
}

/* One attempt, for the fast paths: on failure they take the general path,
   which waits in pool_lock (so nothing stays live across a call).  Fails
   while the pool is biased: pool_lock settles the bias first; and once a
   pool has switched to its thread caches (BIAS_CACHED): those paths then
   take the caches. */
static inline bool pool_try_lock(sgi_pool *p)
{
    return bias_revoked(p) && spin_lock_try(&p->lock);
}

/* The owner's side of bias.h's handshake: raises busy and reports whether
   this thread still owns p (if not, busy is lowered again).  The signal
   fence keeps the compiler from moving the re-check above the store; the
   revoker's membarrier makes it a full fence on the CPU. */
static inline bool bias_enter_as(sgi_pool *p, uintptr_t owner);

static inline bool bias_enter(sgi_pool *p)
{
    return bias_enter_as(p, atomic_load_explicit(&p->bias_owner, memory_order_relaxed));
}

/* The owner word, read once by the fast paths of allocate and deallocate:
   bias_enter_as's first test, then which way a failed entry goes (a value
   read once stays true enough: REVOKED and CACHED are for good, and an id
   or UNOWNED sends the call to a path that takes the lock). */
static inline uintptr_t bias_word(const sgi_pool *p)
{
    return atomic_load_explicit(&p->bias_owner, memory_order_relaxed);
}

/* bias_enter, with the owner word already read (bias_word). */
static inline bool bias_enter_as(sgi_pool *p, uintptr_t owner)
{
    uintptr_t self = bias_thread_id;
    if (UNLIKELY(owner != self))
        return false;
    atomic_store_explicit(&p->bias_busy, 1, memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst);
    if (LIKELY(atomic_load_explicit(&p->bias_owner, memory_order_relaxed) == self))
        return true;
    atomic_store_explicit(&p->bias_busy, 0, memory_order_release);
    return false;
}

static inline void bias_leave(sgi_pool *p)
{
    atomic_store_explicit(&p->bias_busy, 0, memory_order_release);
}

static inline void pool_unlock_raw(sgi_pool *p)
{
    spin_lock_release(&p->lock);
}

#ifdef SGI_POOL_VALIDATE
static void validate_or_abort(sgi_pool *p);
#endif

static inline void pool_unlock(sgi_pool *p)
{
#ifdef SGI_POOL_VALIDATE
    validate_or_abort(p); /* every call ends here: the fast paths are off in this build */
#endif
    if (p->thread_safe)
        pool_unlock_raw(p);
}
