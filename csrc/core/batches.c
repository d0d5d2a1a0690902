/*
 * batches.c -- one call for many blocks (B.10): allocate_many takes whole
 * runs off a free list; the batch frees check every entry first (duplicates
 * and NULL included) and free nothing when one is refused.
 */

size_t sgi_pool_allocate_many(sgi_pool *p, size_t n, size_t count, void **out)
{
    REQUIRE(p != NULL && (out != NULL || count == 0));
    size_t done = 0;
    pool_lock(p);
    if (UNLIKELY(p->closed)) { /* before any bookkeeping grows: a closed pool owns nothing */
        last_refused = 0;
        pool_unlock(p);
        return 0;
    }
    /* Pools without extras take whole runs off the free list (checked ones
       set each block's live bit, as allocate_checked does). */
    bool bare = n - 1 < (p->plain_max | p->locked_max);
    bool live = n - 1 < p->checked_max;
    size_t cls = bare || live ? class_index(p, n) : 0;
    dir_chunk *c = NULL; /* the chunk of the last block (the next is often in it too) */
    while (done < count) {
        if (bare || live) {
            free_node *block = p->free_list[cls];
            for (; block != NULL && done < count; block = block->next) {
                if (live) {
                    uintptr_t addr = (uintptr_t)block;
                    if (c == NULL || addr - c->base >= c->size)
                        c = dir_find(&p->dir, addr);
                    dir_set_live(c, (size_t)((addr - c->base) >> p->align_shift));
                }
                out[done++] = block;
            }
            p->free_list[cls] = block;
            if (done == count)
                break;
        }
        void *block = allocate_locked(p, n); /* refill, or the general path */
        if (block == NULL)
            break;
        out[done++] = block;
    }
    pool_unlock(p);
    return done;
}

/* Batch frees, check pass.  Whether ptrs[i] occurs in ptrs[0..i) (only asked
   on an error, so the scan costs nothing on success). */
static bool appears_before(void *const *ptrs, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (ptrs[j] == ptrs[i])
            return true;
    return false;
}

/* The chunk of addr in a batch: *last when it holds addr (consecutive
   entries are often in one chunk: no second lookup), else the directory's,
   kept in *last; NULL when none. */
static inline dir_chunk *batch_chunk(sgi_pool *p, uintptr_t addr, dir_chunk **last)
{
    dir_chunk *c = *last;
    if (c != NULL && addr - c->base < c->size)
        return c;
    c = dir_find(&p->dir, addr);
    if (c != NULL)
        *last = c;
    return c;
}

/* Marks ptrs[i], a block of this pool, so that a later duplicate shows: a
   live small block (checked pools) loses its live bit, a large block's entry
   gets PENDING_MARK.  In unchecked pools a small block must start a carved
   block and gets no mark (a duplicate there is the caller's fault).  Returns
   OK, ENOTLIVE or EDUPLICATE (then nothing was marked for this entry).
   *last: batch_chunk's. */
static int mark_pending(sgi_pool *p, void *const *ptrs, size_t i, dir_chunk **last)
{
    uintptr_t addr = (uintptr_t)ptrs[i];
    dir_chunk *c = batch_chunk(p, addr, last);
    if (c != NULL) {
        if (!p->checked)
            return carved_size(p, c, ptrs[i]) ? SGI_POOL_OK : SGI_POOL_ENOTLIVE;
        size_t slot = dir_slot(&p->dir, c, addr);
        if (slot == SIZE_MAX || !dir_is_live(c, slot))
            return appears_before(ptrs, i) ? SGI_POOL_EDUPLICATE : SGI_POOL_ENOTLIVE;
        dir_clear_live(c, slot);
        return SGI_POOL_OK;
    }
    block_entry *e = block_table_find(&p->blocks, addr);
    if (e == NULL)
        return SGI_POOL_ENOTLIVE;
    if (e->size & PENDING_MARK)
        return SGI_POOL_EDUPLICATE;
    e->size |= PENDING_MARK;
    return SGI_POOL_OK;
}

/* Checked pools without extras, the check pass's common case: when ptr is a
   live small block of k granules (k <= DIR_LIVE_EXTENT: n's class,
   checked_max), clears its live bit (mark_pending's mark) and returns
   true; false leaves everything as it was (check_block and mark_pending then
   decide and report). */
static inline bool take_live(sgi_pool *p, const void *ptr, size_t k, dir_chunk **last)
{
    uintptr_t addr = (uintptr_t)ptr;
    dir_chunk *c = batch_chunk(p, addr, last);
    if (c == NULL || ((addr - c->base) & (p->align - 1)) != 0)
        return false;
    return dir_take_live(c, (size_t)((addr - c->base) >> p->align_shift), k);
}

/* The same without a size (free_many): true when ptr was a live small block
   of at most DIR_LIVE_EXTENT granules, its live bit now cleared. */
static inline bool take_live_any(sgi_pool *p, const void *ptr, dir_chunk **last)
{
    uintptr_t addr = (uintptr_t)ptr;
    dir_chunk *c = batch_chunk(p, addr, last);
    if (c == NULL || ((addr - c->base) & (p->align - 1)) != 0)
        return false;
    return dir_take_live_any(c, (size_t)((addr - c->base) >> p->align_shift)) != 0;
}

/* Undoes mark_pending for ptrs[0..i), which were all marked. */
static void unmark_pending(sgi_pool *p, void *const *ptrs, size_t i)
{
    for (size_t j = 0; j < i; j++) {
        if (ptrs[j] == NULL)
            continue;
        dir_chunk *c = dir_find(&p->dir, (uintptr_t)ptrs[j]);
        if (c != NULL) {
            if (p->checked)
                dir_set_live(c, dir_slot(&p->dir, c, (uintptr_t)ptrs[j]));
            continue;
        }
        block_entry *e = block_table_find(&p->blocks, (uintptr_t)ptrs[j]);
        if (e != NULL)
            e->size &= ~PENDING_MARK;
    }
}

int sgi_pool_deallocate_many(sgi_pool *p, void *const *ptrs, size_t count, size_t n,
                             size_t *bad_index)
{
    REQUIRE(p != NULL && (ptrs != NULL || count == 0));
    int status = SGI_POOL_OK;
    size_t i = 0;
    size_t unreported;
    if (bad_index == NULL) /* the caller does not want the index */
        bad_index = &unreported;
    if (n == 0 && count > 0)
        return *bad_index = 0, SGI_POOL_EINVAL;
    pool_lock(p);
    if (UNLIKELY(p->closed)) {
        pool_unlock(p);
        return *bad_index = 0, SGI_POOL_ECLOSED;
    }
    bool live = n - 1 < p->checked_max; /* checked, small, no extras */
    size_t k = live ? class_index(p, n) + 1 : 0; /* granules */
    if (p->checked || !is_small(p, n)) {
        /* Check pass: mark each entry so that a duplicate shows. */
        size_t usable;
        dir_chunk *last = NULL;
        for (; i < count; i++) {
            if (live && ptrs[i] != NULL && take_live(p, ptrs[i], k, &last))
                continue;
            if (ptrs[i] == NULL) {
                if (!p->checked)
                    continue;
                status = SGI_POOL_ENOTLIVE; /* a checked pool never handed out NULL */
                break;
            }
            status = check_block(p, ptrs[i], n, &usable);
            if (status == SGI_POOL_ENOTLIVE && appears_before(ptrs, i))
                status = SGI_POOL_EDUPLICATE; /* its mark took its live bit */
            if (status == SGI_POOL_OK)
                status = mark_pending(p, ptrs, i, &last);
            if (status != SGI_POOL_OK)
                break;
        }
        if (status != SGI_POOL_OK) { /* unmark what was marked; ptrs must not change */
            unmark_pending(p, ptrs, i);
            *bad_index = i;
            pool_unlock(p);
            return status;
        }
        /* On success the marks go with the entries, which the frees remove. */
    }
    /* No extras: pushes (a checked pool's live bits went in the check pass) */
    if (n - 1 < (p->plain_max | p->locked_max) || live) {
        size_t cls = class_index(p, n);
        for (i = 0; i < count; i++) {
            free_node *node = ptrs[i];
            if (node != NULL) { /* as deallocate(NULL, n): nothing */
                node->next = p->free_list[cls];
                p->free_list[cls] = node;
            }
        }
    } else {
        for (i = 0; i < count; i++)
            if (ptrs[i] != NULL)
                free_block(p, ptrs[i], n);
    }
    pool_unlock(p);
    return SGI_POOL_OK;
}

int sgi_pool_free_many(sgi_pool *p, void *const *ptrs, size_t count, size_t *bad_index)
{
    REQUIRE(p != NULL && (ptrs != NULL || count == 0));
    size_t unreported;
    if (bad_index == NULL) /* the caller does not want the index */
        bad_index = &unreported;
    pool_lock(p);
    if (UNLIKELY(p->closed)) {
        pool_unlock(p);
        return *bad_index = 0, SGI_POOL_ECLOSED;
    }
    int status = SGI_POOL_OK;
    size_t i = 0;
    bool live = p->checked_max != 0; /* checked, no extras */
    dir_chunk *last = NULL;
    if (live) { /* check pass, as deallocate_many */
        for (; i < count && status == SGI_POOL_OK; i++)
            if (ptrs[i] == NULL || !take_live_any(p, ptrs[i], &last))
                status = ptrs[i] ? mark_pending(p, ptrs, i, &last) : SGI_POOL_ENOTLIVE;
    } else {
        for (; i < count && status == SGI_POOL_OK; i++)
            if (ptrs[i] != NULL || p->checked)
                status = ptrs[i] ? mark_pending(p, ptrs, i, &last) : SGI_POOL_ENOTLIVE;
    }
    if (status != SGI_POOL_OK) {
        unmark_pending(p, ptrs, i - 1);
        *bad_index = i - 1;
        pool_unlock(p);
        return status;
    }
    bool bare = (p->plain_max | p->locked_max | p->checked_max) != 0; /* no extras */
    last = NULL;
    for (i = 0; i < count; i++) { /* the live bits are gone already: sizes from the starts */
        if (ptrs[i] == NULL)
            continue;
        dir_chunk *c = batch_chunk(p, (uintptr_t)ptrs[i], &last);
        size_t n = c ? dir_extent(&p->dir, c, dir_slot(&p->dir, c, (uintptr_t)ptrs[i]))
                     : p->max_bytes + 1; /* large: free_block reads the recorded size */
        if (c != NULL && bare) /* free_block's push, without a second lookup */
            push_free(p, class_index(p, n), ptrs[i]);
        else
            free_block(p, ptrs[i], n);
    }
    pool_unlock(p);
    return SGI_POOL_OK;
}
