/*
 * forward.c -- sgi_pool_forward_malloc / sgi_pool_forward_free: a hook's
 * malloc and free with the allocator it replaced behind the pool, for hooks
 * that register them directly (the PyMem hook, csrc/python/pymem_hook.c), so
 * that no call sits between the hooked program and the pool.  Their fast
 * paths are the bare pool's (plain_max: unchecked, single-thread, no extras)
 * pop of sgi_pool_allocate (copied here) and sizeless_push, inlined so that
 * they save no registers; every other case is a tail call to a NOINLINE
 * function that goes through the entry points themselves, so a forwarded
 * call hands out and takes back exactly the blocks they do, on the same lists.
 */

/* Everything but the bare pop: the pool's allocate, else the replaced malloc. */
static NOINLINE void *forward_malloc_slow(const sgi_pool_forward *fw, size_t n)
{
    void *block = sgi_pool_allocate(fw->pool, n);
    return block != NULL ? block : fw->malloc_fn(fw->ctx, n);
}

void *sgi_pool_forward_malloc(void *ctx, size_t n)
{
    const sgi_pool_forward *fw = ctx;
    if (LIKELY(n - 1 < fw->serve_max)) {
        sgi_pool *p = fw->pool;
        if (LIKELY(n - 1 < p->plain_max)) { /* sgi_pool_allocate's first fast path */
            size_t cls = class_index(p, n);
            free_node *block = p->free_list[cls];
            if (LIKELY(block != NULL)) {
                p->free_list[cls] = block->next;
                return block;
            }
        }
        return forward_malloc_slow(fw, n);
    }
    return fw->malloc_fn(fw->ctx, n);
}

/* Everything but the bare push: sgi_pool_free_checked decides (in a bare
   pool, its own next step after the push: sizeless_free_miss, the full
   lookup); what is no block of the pool (ENOTLIVE) is the replaced
   allocator's: objects made before the hook, and its larger blocks. */
static NOINLINE void forward_free_slow(const sgi_pool_forward *fw, void *ptr)
{
    sgi_pool *p = fw->pool;
    int status = p->plain_max != 0 && ptr != NULL ? sizeless_free_miss(p, ptr, ENTRY_BARE)
                                                  : sgi_pool_free_checked(p, ptr);
    if (status == SGI_POOL_ENOTLIVE)
        fw->free_fn(fw->ctx, ptr);
}

void sgi_pool_forward_free(void *ctx, void *ptr)
{
    const sgi_pool_forward *fw = ctx;
    sgi_pool *p = fw->pool;
    /* sizeless_free_in(p, ptr, ENTRY_BARE), its other exits to forward_free_slow */
    if (LIKELY(p->plain_max != 0 && ptr != NULL) && LIKELY(sizeless_push(p, ptr)))
        return;
    forward_free_slow(fw, ptr); /* a tail call */
}
