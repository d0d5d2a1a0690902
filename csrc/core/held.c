/*
 * held.c -- held blocks (B.1): a foreign owner's blocks that may outlive
 * close() (numpy's data-memory handler: an array can outlive its pool).  The
 * pool counts them; a close() while some are live moves the memory into a
 * copy that only these calls see (lifecycle.c's retire_memory), released
 * when the last held block is freed, or at destroy.
 */
/* Where ptr's memory is, under p's lock: p while open, the retired copy after
   a close() under held blocks, none once that memory is gone. */
static sgi_pool *held_memory(sgi_pool *p)
{
    if (!p->closed)
        return p;
    return p->retired_live ? p->retired : NULL;
}

static void held_block_gone(sgi_pool *p)
{
    if (p->held != 0) /* (a held block freed through the other calls: not counted) */
        p->held--;
    if (p->held == 0 && p->retired_live)
        release_retired(p);
}

/* The sizes the held fast paths serve (held_max): the pool's locked_max once
   the room close() needs is reserved, 0 before and after close().  Read
   before the pool is entered: the biased owner needs no second look (every
   close() since it became the owner was its own: another thread's lock
   would have revoked the bias first); under the lock a free looks again
   (another thread may have closed the pool in between), an allocation need
   not (a closed pool's lists are empty). */
static inline size_t held_max(const sgi_pool *p)
{
    return atomic_load_explicit(&p->held_max, memory_order_relaxed);
}

/* class_index(p, n) for 1 <= n <= max_bytes, from n - 1, which the fast
   paths' range test has computed already: one shift. */
static inline size_t held_class(const sgi_pool *p, size_t n)
{
    return (n - 1) >> p->align_shift;
}

/* The pop of the held fast path (the pool entered): NULL on an empty list. */
static ALWAYS_INLINE free_node *held_pop(sgi_pool *p, size_t n)
{
    size_t cls = held_class(p, n);
    free_node *block = p->free_list[cls];
    if (LIKELY(block != NULL)) {
        p->free_list[cls] = block->next;
        p->held++;
    }
    return block;
}

/* Everything but the fast path: under the lock, the room close() needs
   reserved first (once), then the general allocation. */
static NOINLINE void *allocate_held_general(sgi_pool *p, size_t n)
{
    void *block = NULL;
    pool_lock(p);
    if (p->retired == NULL && !p->closed) {
        p->retired = malloc(pool_bytes(p->nlists)); /* once: close() must not fail later */
        if (p->retired != NULL) /* the fast paths may serve from now on */
            atomic_store_explicit(&p->held_max, p->locked_max, memory_order_relaxed);
    }
    if (p->retired != NULL) {
        block = allocate_locked(p, n); /* NULL on a closed pool */
        if (block != NULL)
            p->held++;
    } else {
        last_refused = 0;
    }
    pool_unlock(p);
    return block;
}

void *sgi_pool_allocate_held(sgi_pool *p, size_t n)
{
    REQUIRE(p != NULL);
    /* Fast path (locked pools without extras, numpy's default pool): the pop
       and the count, by the bias owner or under an uncontended lock; one
       compare tests the size, the mode and the reserved room. */
    if (LIKELY(n - 1 < held_max(p))) {
        uintptr_t owner = bias_word(p);
        if (LIKELY(bias_enter_as(p, owner))) { /* the owner of a biased pool: no atomic */
            free_node *block = held_pop(p, n);
            bias_leave(p);
            if (LIKELY(block != NULL))
                return block;
        } else if (LIKELY(owner == BIAS_REVOKED && spin_lock_try(&p->lock))) {
            free_node *block = held_pop(p, n);
            pool_unlock_raw(p);
            if (LIKELY(block != NULL))
                return block;
        }
    }
    return allocate_held_general(p, n); /* a tail call: the fast path saves no registers */
}

int sgi_pool_free_held(sgi_pool *p, void *ptr)
{
    REQUIRE(p != NULL);
    if (ptr == NULL)
        return SGI_POOL_OK;
    bool foreign = false;
    if (LIKELY(p->locked_max != 0) && LIKELY(free_fast(p, ptr, 0, true, &foreign)))
        return SGI_POOL_OK; /* (a closed pool's directory is empty: never here) */
    if (foreign) /* an open pool's answer: the system's block (numpy's large data) */
        return SGI_POOL_ENOTLIVE;
    pool_lock(p);
    sgi_pool *m = held_memory(p);
    size_t n = m ? known_size(m, ptr) : 0;
    if (n) {
        free_block(m, ptr, n);
        held_block_gone(p);
    }
    pool_unlock(p);
    return n ? SGI_POOL_OK : SGI_POOL_ENOTLIVE;
}

/* The push of the held fast path (the pool entered, open): the block onto n's
   list, and one held block fewer -- the list effect of free_held's free_fast
   for a block of n's class.  (The count stays at 0 when a held block was
   freed through the other calls: held_block_gone.) */
static ALWAYS_INLINE void held_push(sgi_pool *p, void *ptr, size_t n)
{
    free_node *node = ptr;
    size_t cls = held_class(p, n);
    node->next = p->free_list[cls];
    p->free_list[cls] = node;
    p->held -= p->held != 0;
}

/* The fast path of the sized held frees: on an open pool with the locked
   lists (the pools numpy's handler uses), the push onto n's list by the bias
   owner or under an uncontended lock, with no directory lookup; true when
   done.  False (a closed pool's retired memory, a busy lock, checked or
   single-thread pools, thread caches, n 0, NULL): free_held decides. */
static ALWAYS_INLINE bool deallocate_held_fast(sgi_pool *p, void *ptr, size_t n)
{
    if (LIKELY(n - 1 < held_max(p) && ptr != NULL)) {
        uintptr_t owner = bias_word(p);
        if (LIKELY(bias_enter_as(p, owner))) { /* open: held_max says so (above) */
            held_push(p, ptr, n);
            bias_leave(p);
            return true;
        }
        if (LIKELY(owner == BIAS_REVOKED && spin_lock_try(&p->lock))) {
            bool open = !p->closed; /* (another thread may have closed it since) */
            if (LIKELY(open))
                held_push(p, ptr, n);
            pool_unlock_raw(p);
            return open;
        }
    }
    return false;
}

/* sgi_pool_free_held with the block's size, as sgi_pool_deallocate trusts it. */
int sgi_pool_deallocate_held(sgi_pool *p, void *ptr, size_t n)
{
    REQUIRE(p != NULL);
    if (LIKELY(deallocate_held_fast(p, ptr, n)))
        return SGI_POOL_OK;
    return sgi_pool_free_held(p, ptr); /* a tail call, as above */
}

/* What the fast path left: the pool's block (free_held), else the system's. */
static NOINLINE int held_or_free_rest(sgi_pool *p, void *ptr)
{
    int status = sgi_pool_free_held(p, ptr);
    if (status == SGI_POOL_ENOTLIVE)
        free(ptr);
    return status;
}

/* sgi_pool_deallocate_held, then free() for a block that is none of the
   pool's: one call for an owner that mixes the two (numpy's handler). */
int sgi_pool_deallocate_held_or_free(sgi_pool *p, void *ptr, size_t n)
{
    REQUIRE(p != NULL);
    if (LIKELY(deallocate_held_fast(p, ptr, n)))
        return SGI_POOL_OK;
    return held_or_free_rest(p, ptr);
}

/* A held block of a closed pool, resized: it moves to malloc (the pool serves
   nothing more), and its old block goes as by sgi_pool_free_held. */
static int move_out(sgi_pool *p, sgi_pool *r, void *ptr, size_t old_n, size_t new_n,
                    void **out)
{
    void *q = malloc(new_n);
    if (q == NULL)
        return SGI_POOL_ENOMEM;
    memcpy(q, ptr, old_n < new_n ? old_n : new_n);
    free_block(r, ptr, old_n);
    held_block_gone(p);
    *out = q;
    return SGI_POOL_OK;
}

int sgi_pool_realloc_held(sgi_pool *p, void *ptr, size_t new_n, void **out)
{
    REQUIRE(p != NULL && out != NULL);
    *out = NULL;
    if (ptr == NULL) { /* as realloc(NULL, n): allocate(n) */
        if (new_n == 0)
            return SGI_POOL_OK;
        *out = sgi_pool_allocate_held(p, new_n);
        return *out ? SGI_POOL_OK : SGI_POOL_ENOMEM;
    }
    if (new_n == 0)
        return sgi_pool_free_held(p, ptr);
    pool_lock(p);
    int status = SGI_POOL_ENOTLIVE;
    sgi_pool *m = held_memory(p);
    size_t old_n = m ? known_size(m, ptr) : 0;
    if (old_n != 0)
        status = m == p ? reallocate_locked(p, ptr, old_n, new_n, out)
                        : move_out(p, m, ptr, old_n, new_n, out);
    pool_unlock(p);
    return status;
}
