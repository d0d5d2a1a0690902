/*
 * fast_paths.c -- the entry points allocate, deallocate and free with their
 * fast paths: A.5's step 2 and A.8's push alone, with no extras -- bare
 * (single-thread pools), by the owner of a biased pool with no atomic
 * (bias.h), or under an uncontended lock -- a few instructions each.  Every
 * other case goes to a named NOINLINE general path, which takes the lock
 * and runs classic.c.
 */

/* Pools without extras, under an uncontended lock: frees ptr when it is a
   small block of n's class (n 0: of any class) and returns true -- checked,
   a live block (its live bit goes); unchecked, a carved block's start (not
   the tail's); held: one held block fewer.  False when it is not (or the
   lock is busy, or the pool is closed: it has no chunks); the general path
   then decides and reports. */
static ALWAYS_INLINE bool free_fast(sgi_pool *p, void *ptr, size_t n, bool checked,
                                     bool held)
{
    bool biased = false; /* the owner of a biased pool: no lock */
    if (p->thread_safe && !(biased = bias_enter(p)) && !pool_try_lock(p))
        return false;
    uintptr_t addr = (uintptr_t)ptr;
    dir_chunk *c = dir_find(&p->dir, addr);
    bool freed = false;
    if (LIKELY(c != NULL) && (checked || addr != p->start_free || addr == p->end_free)) {
        size_t slot = dir_slot(&p->dir, c, addr);
        if (LIKELY(slot != SIZE_MAX && (checked ? dir_is_live(c, slot)
                                                 : dir_starts_in(c, slot, false)))) {
            size_t size = dir_extent_in(c, slot, checked, p->align_shift);
            if (LIKELY(n == 0 || size == round_up(p, n))) {
                if (checked)
                    dir_clear_live(c, slot);
                free_node *node = ptr;
                /* (n's class when given: the push need not wait for the bitmap) */
                size_t cls = class_index(p, n ? n : size);
                node->next = p->free_list[cls];
                p->free_list[cls] = node;
                if (held && p->held != 0) /* open pool: the count alone (held_block_gone) */
                    p->held--;
                freed = true;
            }
        }
    }
    if (biased)
        bias_leave(p);
    else
        pool_unlock(p);
    return freed;
}

/* The general path: every option, every branch of the algorithm. */
static NOINLINE void *allocate_general(sgi_pool *p, size_t n)
{
    pool_lock(p);
    void *block = allocate_locked(p, n);
    pool_unlock(p);
    return block;
}

/* The fast path of checked pools (no extras): the pop, and the live bit. */
static NOINLINE void *allocate_checked(sgi_pool *p, size_t n)
{
    if (LIKELY(!p->thread_safe || pool_try_lock(p))) {
        size_t cls = class_index(p, n);
        free_node *block = p->free_list[cls];
        if (LIKELY(block != NULL)) {
            p->free_list[cls] = block->next;
            dir_mark_live(&p->dir, block);
        }
        pool_unlock(p);
        if (LIKELY(block != NULL))
            return block;
    }
    return allocate_general(p, n);
}

void *sgi_pool_allocate(sgi_pool *p, size_t n)
{
    REQUIRE(p != NULL);
    /* Fast path: step 2 alone, bare, by a biased pool's owner (bias.h), or
       under an uncontended lock (one unsigned compare tests the size and the
       mode).  A closed pool's lists are empty,
       so it never succeeds there. */
    if (LIKELY(n - 1 < p->plain_max)) {
        size_t cls = class_index(p, n);
        free_node *block = p->free_list[cls];
        if (LIKELY(block != NULL)) {
            p->free_list[cls] = block->next;
            return block;
        }
    } else if (LIKELY(n - 1 < p->locked_max)) {
        if (LIKELY(bias_enter(p))) { /* the owner of a biased pool: no atomic */
            size_t cls = class_index(p, n);
            free_node *block = p->free_list[cls];
            if (LIKELY(block != NULL))
                p->free_list[cls] = block->next;
            bias_leave(p);
            if (LIKELY(block != NULL))
                return block;
        } else if (LIKELY(pool_try_lock(p))) {
            size_t cls = class_index(p, n);
            free_node *block = p->free_list[cls];
            if (LIKELY(block != NULL))
                p->free_list[cls] = block->next;
            pool_unlock_raw(p);
            if (LIKELY(block != NULL))
                return block;
        }
    } else if (LIKELY(n - 1 < p->checked_max)) {
        return allocate_checked(p, n); /* a tail call: the paths above stay lean */
    } else if (LIKELY(n - 1 < p->cache_max)) {
        return tcache_allocate(p, n); /* thread_cache.c */
    }
    return allocate_general(p, n);
}

/* Everything but the unchecked fast paths: checked pools' fast path, then
   the general one (whose status a void deallocate ignores). */
static NOINLINE void deallocate_slow(sgi_pool *p, void *ptr, size_t n)
{
    if (LIKELY(n - 1 < p->checked_max && ptr != NULL) && LIKELY(free_fast(p, ptr, n, true, false)))
        return;
    (void)sgi_pool_deallocate_checked(p, ptr, n);
}

void sgi_pool_deallocate(sgi_pool *p, void *ptr, size_t n)
{
    REQUIRE(p != NULL);
    free_node *node = ptr;
    if (LIKELY(n - 1 < p->plain_max && node != NULL)) {
        size_t cls = class_index(p, n);
        if (LIKELY(!p->closed)) {
            node->next = p->free_list[cls];
            p->free_list[cls] = node;
        }
        return;
    }
    if (LIKELY(n - 1 < p->locked_max && node != NULL)) {
        if (LIKELY(bias_enter(p))) { /* the owner of a biased pool: no atomic */
            size_t cls = class_index(p, n);
            if (LIKELY(!p->closed)) {
                node->next = p->free_list[cls];
                p->free_list[cls] = node;
            }
            bias_leave(p);
            return;
        }
        if (LIKELY(pool_try_lock(p))) {
            size_t cls = class_index(p, n);
            if (LIKELY(!p->closed)) {
                node->next = p->free_list[cls];
                p->free_list[cls] = node;
            }
            pool_unlock_raw(p);
            return;
        }
    }
    if (LIKELY(n - 1 < p->cache_max && node != NULL)) {
        tcache_deallocate(p, node, n); /* thread_cache.c */
        return;
    }
    deallocate_slow(p, ptr, n); /* a tail call, as before the directory */
}

void sgi_pool_free(sgi_pool *p, void *ptr)
{
    REQUIRE(p != NULL);
    /* Fast paths (no extras): find the block's size, push. */
    if (LIKELY((p->plain_max | p->locked_max) != 0 && ptr != NULL)) {
        if (LIKELY(free_fast(p, ptr, 0, false, false)))
            return;
    } else if (LIKELY(p->checked_max != 0 && ptr != NULL) &&
               LIKELY(free_fast(p, ptr, 0, true, false))) {
        return;
    }
    (void)sgi_pool_free_checked(p, ptr);
}
