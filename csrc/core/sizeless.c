/*
 * sizeless.c -- the calls without a size (B.12): the block directory
 * (lookup.c) supplies it.  The fast paths of sgi_pool_free and
 * sgi_pool_free_checked are in fast_paths.c.
 */

/* sgi_pool_free_checked's general path (its fast paths are in
   fast_paths.c); ptr is not NULL. */
static NOINLINE int free_general(sgi_pool *p, void *ptr)
{
    pool_lock(p);
    int status = SGI_POOL_ECLOSED;
    if (LIKELY(!p->closed)) {
        size_t n = known_size(p, ptr);
        status = n ? SGI_POOL_OK : SGI_POOL_ENOTLIVE;
        if (n)
            free_block(p, ptr, n);
    }
    pool_unlock(p);
    return status;
}

/* Whether ptr is a live block of new_n's class (A.9 step 2 for a size-less
   reallocate), as checked_live_granules reads it. */
static NOINLINE bool checked_same_class(sgi_pool *p, const void *ptr, size_t new_n)
{
    return is_small(p, new_n) && checked_live_granules(p, ptr) == class_index(p, new_n) + 1;
}

int sgi_pool_realloc_checked(sgi_pool *p, void *ptr, size_t new_n, void **out)
{
    REQUIRE(p != NULL && out != NULL);
    *out = NULL;
    if (ptr == NULL) /* as realloc(NULL, n): allocate(n) */
        return allocate_for_null(p, new_n, out);
    if (new_n == 0)
        return sgi_pool_free_checked(p, ptr);
    /* A.9 step 2 in a checked pool, as sgi_pool_reallocate_checked: a live
       block of new_n's class is its own answer */
    if (p->checked_max != 0 && checked_same_class(p, ptr, new_n)) {
        *out = ptr;
        return SGI_POOL_OK;
    }
    pool_lock(p);
    int status = SGI_POOL_ECLOSED;
    if (LIKELY(!p->closed)) {
        size_t old_n = known_size(p, ptr);
        status = old_n ? reallocate_locked(p, ptr, old_n, new_n, out) : SGI_POOL_ENOTLIVE;
    }
    pool_unlock(p);
    return status;
}

void *sgi_pool_realloc(sgi_pool *p, void *ptr, size_t new_n)
{
    REQUIRE(p != NULL);
    void *out;
    return sgi_pool_realloc_checked(p, ptr, new_n, &out) == SGI_POOL_OK ? out : NULL;
}

size_t sgi_pool_usable_size(sgi_pool *p, const void *ptr)
{
    REQUIRE(p != NULL);
    if (ptr == NULL)
        return 0;
    /* (the PyMem hook asks on every realloc: a biased pool's owner reads
       without the lock's atomic, as its fast paths do) */
    bool biased = p->thread_safe && bias_enter(p);
    if (!biased)
        pool_lock(p);
    size_t n = p->closed ? 0 : known_size(p, ptr);
    if (biased)
        bias_leave(p);
    else
        pool_unlock(p);
    return n;
}

int sgi_pool_owns(sgi_pool *p, const void *ptr)
{
    return sgi_pool_usable_size(p, ptr) != 0;
}
