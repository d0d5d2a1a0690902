/*
 * checked_calls.c -- the status-returning calls with a size (B.5 checked
 * mode, B.11 the C API's edge cases): each checks the block first
 * (check_block: large blocks in every pool, small ones in checked pools)
 * and changes nothing when it refuses; then classic.c does the work.
 */

/* Checks a free or reallocate of ptr as a block of n bytes (n >= 1).  Large
   blocks are checked in every pool (they are always recorded); small ones in
   checked pools.  *usable receives how many bytes the block really has. */
static int check_block(sgi_pool *p, const void *ptr, size_t n, size_t *usable)
{
    if (UNLIKELY(p->closed))
        return SGI_POOL_ECLOSED;
    *usable = is_small(p, n) ? round_up(p, n) : n;
    if (!p->checked && is_small(p, n))
        return SGI_POOL_OK;
    size_t small = live_small_size(p, ptr);
    if (small != 0) {
        *usable = small;
        return same_class(p, small, n) ? SGI_POOL_OK : SGI_POOL_EWRONGCLASS;
    }
    const block_entry *e = block_table_find(&p->blocks, (uintptr_t)ptr);
    if (e == NULL)
        return SGI_POOL_ENOTLIVE;
    size_t recorded = e->size & ~PENDING_MARK;
    if (!same_class(p, recorded, n))
        return SGI_POOL_EWRONGCLASS;
    if (!is_small(p, recorded))
        *usable = recorded;
    return SGI_POOL_OK;
}

static int deallocate_locked(sgi_pool *p, void *ptr, size_t n)
{
    size_t usable;
    int status = check_block(p, ptr, n, &usable);
    if (status == SGI_POOL_OK)
        free_block(p, ptr, n);
    return status;
}

/* sgi_pool_deallocate_checked's general path (its fast paths are in
   fast_paths.c); ptr is not NULL. */
static NOINLINE int deallocate_general(sgi_pool *p, void *ptr, size_t n)
{
    if (n == 0)
        return SGI_POOL_EINVAL;
    pool_lock(p);
    int status = deallocate_locked(p, ptr, n);
    pool_unlock(p);
    return status;
}

/* Checked pools without extras (checked_max): the granules of the live small
   block at ptr, read as the checked fast paths read it (a biased pool's
   owner, or an uncontended lock; the chunk from the directory's cache, else
   from live_granules_miss; live bit and extent from one window), or 0 when
   that does not settle it (the general path then decides).  Changes
   nothing.  The same-class reallocate (A.9 step 2: the block itself) needs
   nothing more. */
static inline size_t live_granules_at(const sgi_pool *p, const dir_chunk *c, uintptr_t addr)
{
    if (UNLIKELY(((addr - c->base) & (p->align - 1)) != 0))
        return 0;
    size_t w;
    unsigned sh;
    size_t slot = (size_t)((addr - c->base) >> p->align_shift);
    return dir_window_live_extent(dir_live_window(c, slot, &w, &sh));
}

/* The cache did not know addr's chunk (the pool entered as e): the map,
   which fills the cache (the allocate of a block whose live bit its class's
   hint set did not look), then the pool left. */
static NOINLINE size_t live_granules_miss(sgi_pool *p, uintptr_t addr, enum entry e)
{
    const dir_chunk *c = dir_find_slow(&p->dir, addr);
    size_t k = c != NULL ? live_granules_at(p, c, addr) : 0;
    entry_leave(p, e);
    return k;
}

static ALWAYS_INLINE size_t live_granules_in(sgi_pool *p, uintptr_t addr, enum entry e)
{
    const dir_chunk *c = dir_find_cached(&p->dir, addr);
    if (UNLIKELY(c == NULL))
        return live_granules_miss(p, addr, e);
    size_t k = live_granules_at(p, c, addr);
    entry_leave(p, e);
    return k;
}

static inline size_t checked_live_granules(sgi_pool *p, const void *ptr)
{
    uintptr_t addr = (uintptr_t)ptr;
    if (LIKELY(bias_enter(p))) /* the owner of a biased pool: no lock */
        return live_granules_in(p, addr, ENTRY_BIASED);
    if (!p->thread_safe)
        return live_granules_in(p, addr, ENTRY_BARE);
    if (LIKELY(pool_try_lock(p)))
        return live_granules_in(p, addr, ENTRY_LOCKED);
    return 0;
}

/* Whether a reallocate of ptr from old_n to new_n bytes is A.9's step 2 on
   a live block of old_n's class, as checked_live_granules reads it. */
static NOINLINE bool checked_same_block(sgi_pool *p, const void *ptr, size_t old_n, size_t new_n)
{
    return is_small(p, old_n) && is_small(p, new_n) && round_up(p, old_n) == round_up(p, new_n) &&
           checked_live_granules(p, ptr) == class_index(p, old_n) + 1;
}

/* reallocate with the lock held: the check, then A.9. */
static int reallocate_locked(sgi_pool *p, void *ptr, size_t old_n, size_t new_n, void **out)
{
    size_t usable;
    int status = check_block(p, ptr, old_n, &usable);
    if (status != SGI_POOL_OK)
        return status;
    return reallocate_block(p, ptr, old_n, new_n, usable, out);
}

/* A reallocate of NULL: allocate(new_n) (nothing for 0), as a status. */
static int allocate_for_null(sgi_pool *p, size_t new_n, void **out)
{
    if (new_n == 0)
        return SGI_POOL_OK;
    *out = sgi_pool_allocate(p, new_n);
    return *out ? SGI_POOL_OK : SGI_POOL_ENOMEM;
}

int sgi_pool_reallocate_checked(sgi_pool *p, void *ptr, size_t old_n, size_t new_n,
                                void **out)
{
    REQUIRE(p != NULL && out != NULL);
    *out = NULL;
    if (ptr == NULL) /* as realloc(NULL, n): allocate(n) */
        return allocate_for_null(p, new_n, out);
    if (new_n == 0)
        return sgi_pool_deallocate_checked(p, ptr, old_n);
    if (old_n == 0)
        return SGI_POOL_EINVAL;
    /* A.9 step 2 in a checked pool: a live block of old_n's class is its own
       answer, without the lock's general path (the checked fast paths' read) */
    if (p->checked_max != 0 && checked_same_block(p, ptr, old_n, new_n)) {
        *out = ptr;
        return SGI_POOL_OK;
    }
    pool_lock(p);
    int status = reallocate_locked(p, ptr, old_n, new_n, out);
    pool_unlock(p);
    return status;
}

void *sgi_pool_reallocate(sgi_pool *p, void *ptr, size_t old_n, size_t new_n)
{
    REQUIRE(p != NULL);
    void *out;
    return sgi_pool_reallocate_checked(p, ptr, old_n, new_n, &out) == SGI_POOL_OK ? out : NULL;
}
