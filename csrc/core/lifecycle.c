/*
 * lifecycle.c -- options, creation, close and destroy (B.1): a pool's mode
 * and fast paths are fixed at creation; close returns every chunk and large
 * block to the system and leaves the pool closed (every call then fails).
 */

/* A pool's struct with its nlists heads and `carved` counters. */
static size_t pool_bytes(size_t nlists)
{
    return sizeof(sgi_pool) + nlists * (sizeof(free_node *) + sizeof(size_t));
}

/* The checked fast paths' size -> class table (checked_class): a class_ref
   into p itself for each size up to checked_max. */
static void set_class_refs(sgi_pool *p)
{
    for (size_t n = 1; n <= p->checked_max; n++)
        p->checked_class[n] = CLASS_REF(p, class_index(p, n));
}

void sgi_pool_options_init(sgi_pool_options *opts)
{
    REQUIRE(opts != NULL);
    *opts = (sgi_pool_options){
        .align = SGI_POOL_DEFAULT_ALIGN,
        .max_small = SGI_POOL_DEFAULT_MAX_SMALL,
        .refill = SGI_POOL_DEFAULT_REFILL,
        .heap_limit = 0,
        .thread_safe = 1,
        .checked = 0,
        .debug_fill = 0,
        .thread_cache = 0,
        .thread_cache_bytes = 0,
    };
}

static bool options_valid(const sgi_pool_options *o)
{
    /* malloc aligns to max_align_t; larger alignments would need aligned_alloc
       for chunks and large blocks alike. */
    if ((o->align != 8 && o->align != 16) || o->align > alignof(max_align_t))
        return false;
    if (o->max_small < o->align || o->max_small > SGI_POOL_MAX_MAX_SMALL ||
        o->max_small % o->align != 0)
        return false;
    if (o->thread_cache && !o->thread_safe) /* caches are for pools threads share */
        return false;
    return o->refill >= 1 && o->refill <= SGI_POOL_MAX_REFILL;
}

sgi_pool *sgi_pool_create(const sgi_pool_options *opts)
{
    sgi_pool_options defaults;
    if (opts == NULL) {
        sgi_pool_options_init(&defaults);
        opts = &defaults;
    }
    if (!options_valid(opts))
        return NULL;
    size_t nlists = opts->max_small / opts->align;
    sgi_pool *p = calloc(1, pool_bytes(nlists));
    if (p == NULL)
        return NULL;
    p->align = opts->align;
    p->align_shift = opts->align == 16 ? 4 : 3;
    p->max_bytes = opts->max_small;
    p->nobjs = opts->refill;
    p->nlists = nlists;
    p->thread_safe = opts->thread_safe != 0;
    p->checked = opts->checked != 0;
    p->debug_fill = opts->debug_fill != 0;
    bool fast = !(p->checked || p->debug_fill || RUNNING_ON_VALGRIND || SGI_POOL_ASAN ||
                  SGI_POOL_VALIDATING);
    p->plain_max = fast && !p->thread_safe ? p->max_bytes : 0;
    p->locked_max = fast && p->thread_safe ? p->max_bytes : 0;
    p->unchecked_max = p->plain_max | p->locked_max;
    /* Thread caches need the per-cache handshake (membarrier, as the bias).
       Such a pool starts biased as any other (locked_max stays: its first
       thread pops and pushes on the lists with no atomic); the first other
       thread to take its lock switches it to the caches for good
       (BIAS_CACHED), and from then on the fast paths take the caches. */
    p->thread_cache = opts->thread_cache != 0;
    p->cache_depot_bytes = opts->thread_cache_bytes != 0 ? opts->thread_cache_bytes
                                                         : SGI_POOL_DEFAULT_TCACHE_BYTES;
    if (p->thread_cache && p->locked_max != 0 && bias_available())
        p->cache_max = p->locked_max;
    bool checked_fast = p->checked && !(p->debug_fill || RUNNING_ON_VALGRIND || SGI_POOL_ASAN ||
                                        SGI_POOL_VALIDATING);
    /* (blocks longer than DIR_LIVE_EXTENT granules, possible with a max_small
       above 248 at align 8, take the general path: the fast paths' check
       reads one window of the bitmap, block_directory.h) */
    size_t live_extent = (size_t)DIR_LIVE_EXTENT << p->align_shift;
    p->checked_max = !checked_fast ? 0 : p->max_bytes < live_extent ? p->max_bytes : live_extent;
    set_class_refs(p); /* (the table's rest: calloc's zeros) */
    forget_hints(p); /* none yet */
    for (size_t k = 1; k <= DIR_LIVE_EXTENT; k++) {
        p->live_mask[k - 1] = dir_live_mask(k);
        p->live_expect[k - 1] = dir_live_expect(k);
    }
    dir_init(&p->dir, p->align_shift, p->checked);
    atomic_init(&p->lock, 0);
    /* Biased where the fast paths serve a thread-safe pool (locked_max, or
       checked_max with the lock) and the process can revoke a bias; every
       other pool is locked (or single-thread) from the start. */
    bool biased = p->thread_safe && (p->locked_max | p->checked_max) != 0 && bias_available();
    atomic_init(&p->bias_owner, biased ? BIAS_UNOWNED : BIAS_REVOKED);
    atomic_init(&p->bias_busy, 0);
    atomic_init(&p->held_max, 0); /* until the first held allocation (core/held.c) */
    p->heap_limit = opts->heap_limit;
    p->carved = (size_t *)(p->free_list + nlists);
    VALGRIND_CREATE_MEMPOOL(p, 0, 0);
    if (p->thread_safe) {
        p->fork.lock = &p->lock;
        p->fork.bias_owner = biased ? &p->bias_owner : NULL;
        p->fork.bias_busy = biased ? &p->bias_busy : NULL;
        p->fork.bias_revoked_to = p->cache_max != 0 ? BIAS_CACHED : BIAS_REVOKED;
        if (p->cache_max != 0) {
            p->fork.before_fork = tc_before_fork;
            p->fork.in_child = tc_in_child;
        }
        fork_registry_add(&p->fork);
    }
    return p;
}

/* The fields of a pool that owns no memory (after release_memory or retire). */
static void forget_memory(sgi_pool *p)
{
    p->blocks = (block_table){0};
    dir_init(&p->dir, p->align_shift, p->checked);
    p->chunks = NULL;
    p->nchunks = p->chunks_cap = 0;
    p->spans = NULL; /* (freed by release_memory, or the retired copy's now) */
    p->nspans = p->spans_cap = 0;
    p->span_bytes = p->released_page_bytes = 0;
    memset(p->free_list, 0, p->nlists * (sizeof(free_node *) + sizeof(size_t)));
    p->start_free = p->end_free = 0;
    atomic_store_explicit(&p->open_tail, 0, memory_order_relaxed);
    p->heap_size = p->large_bytes = p->large_live = 0;
    p->released_chunks = p->released_bytes = 0;
    atomic_store_explicit(&p->held_max, 0, memory_order_relaxed); /* the held fast paths end */
    forget_hints(p);
    p->closed = true;
}

/* Returns every chunk and large block; the pool is left empty and closed. */
static void release_memory(sgi_pool *p)
{
    VALGRIND_DESTROY_MEMPOOL(p);
    for (size_t i = 0; i < p->blocks.capacity; i++) {
        const block_entry *e = &p->blocks.slots[i];
        if (e->addr != 0 && !is_small(p, e->size))
            system_release((void *)e->addr, e->size);
    }
    for (size_t i = 0; i < p->nchunks; i++) {
        MEM_WRITABLE((void *)p->chunks[i].base, p->chunks[i].size); /* back to malloc's */
        POOL_CHUNK_RELEASE((void *)p->chunks[i].base, p->chunks[i].size);
        totals_sub(1, p->chunks[i].size);
    }
    block_table_free(&p->blocks);
    dir_free(&p->dir);
    free(p->chunks);
    free(p->spans);
    forget_memory(p);
}

/* close() under live held blocks: the memory moves into the reserved room, a
   copy of the pool that only the held calls see (under p's lock), and p is
   left as release_memory leaves it, so that no other call -- the lock-free
   fast paths included -- can find a block of it.  The copy's memory goes
   when the last held block is freed (release_retired), or at destroy. */
static void retire_memory(sgi_pool *p)
{
    sgi_pool *r = p->retired;
    /* Every field but those other threads may write meanwhile (the lock and
       the bias words, tried and lowered without p's lock; the fork registry's
       links): r is never locked, biased nor registered, and its held calls
       run under p's lock. */
    size_t gap = offsetof(sgi_pool, held_max), rest = offsetof(sgi_pool, thread_cache);
    memcpy(r, p, gap);
    memset((char *)r + gap, 0, rest - gap);
    memcpy((char *)r + rest, (char *)p + rest, pool_bytes(p->nlists) - rest);
    r->carved = (size_t *)(r->free_list + r->nlists); /* its own counters */
    set_class_refs(r); /* its own, not p's */
    r->retired = NULL;
    r->caches = NULL; /* they stay p's (emptied by close) */
    r->ncaches = 0;
    VALGRIND_MOVE_MEMPOOL(p, r); /* the blocks' records follow the memory */
    p->retired_live = true;
    forget_memory(p);
}

static void release_retired(sgi_pool *p)
{
    if (p->retired_live)
        release_memory(p->retired);
    p->retired_live = false;
    free(p->retired);
    p->retired = NULL;
}

void sgi_pool_close(sgi_pool *p)
{
    if (p == NULL)
        return;
    pool_lock(p);
    if (!p->closed) {
        if (p->caches != NULL) /* every thread's cache: back to the lists, revoked */
            (void)tcache_flush_all(p, true);
        if (p->held != 0)
            retire_memory(p);
        else
            release_memory(p);
    }
    pool_unlock(p);
}

void sgi_pool_destroy(sgi_pool *p)
{
    if (p == NULL)
        return;
    tcache_orphan_all(p); /* before the pool goes: the threads' exits must not find it */
    if (p->thread_safe)
        fork_registry_remove(&p->fork);
    sgi_pool_close(p);
    release_retired(p); /* the handle's end: held blocks or not, everything goes */
    free(p);
}
