/*
 * introspection.c -- what a pool can tell about itself: the heap limit (B.2),
 * options, counters, chunks, free lists, the directory's blocks, live blocks,
 * and sgi_pool_capture_state, one consistent copy of all of it under the lock
 * (what Pool.state(), snapshot() and the lockstep read).
 */

size_t sgi_pool_last_refused(void)
{
    return last_refused;
}


void sgi_pool_set_heap_limit(sgi_pool *p, size_t limit)
{
    REQUIRE(p != NULL);
    pool_lock(p);
    p->heap_limit = limit;
    pool_unlock(p);
}

size_t sgi_pool_heap_limit(sgi_pool *p)
{
    REQUIRE(p != NULL);
    pool_lock(p);
    size_t limit = p->heap_limit;
    pool_unlock(p);
    return limit;
}

size_t sgi_pool_heap_size(sgi_pool *p)
{
    REQUIRE(p != NULL);
    pool_lock(p);
    size_t size = p->heap_size;
    pool_unlock(p);
    return size;
}

int sgi_pool_locking(sgi_pool *p)
{
    REQUIRE(p != NULL);
    if (!p->thread_safe)
        return SGI_POOL_LOCKING_NONE;
    if (p->fork.bias_owner == NULL)
        return SGI_POOL_LOCKING_LOCK;
    uintptr_t owner = atomic_load_explicit(&p->bias_owner, memory_order_relaxed);
    if (owner == BIAS_CACHED) /* a second thread switched it to its caches */
        return SGI_POOL_LOCKING_THREAD_CACHE;
    return owner == BIAS_REVOKED ? SGI_POOL_LOCKING_BIAS_REVOKED : SGI_POOL_LOCKING_BIASED;
}

void sgi_pool_get_options(sgi_pool *p, sgi_pool_options *out)
{
    REQUIRE(p != NULL && out != NULL);
    pool_lock(p);
    *out = (sgi_pool_options){p->align,        p->max_bytes,   p->nobjs,
                              p->heap_limit,   p->thread_safe, p->checked,
                              p->debug_fill,   p->thread_cache, p->cache_depot_bytes};
    pool_unlock(p);
}

size_t sgi_pool_nclasses(const sgi_pool *p)
{
    REQUIRE(p != NULL);
    return p->nlists;
}

/* The counters, read with the lock held. */
static sgi_pool_stats stats_of(const sgi_pool *p)
{
    return (sgi_pool_stats){
        .heap_size = p->heap_size,
        .heap_limit = p->heap_limit,
        .chunks = p->nchunks,
        .chunk_left = p->end_free - p->start_free,
        .large_live = p->large_live,
        .large_bytes = p->large_bytes,
        .requests_granted = p->requests_granted,
        .requests_refused = p->requests_refused,
        .salvages = p->salvages,
    };
}

void sgi_pool_get_stats(sgi_pool *p, sgi_pool_stats *out)
{
    REQUIRE(p != NULL && out != NULL);
    pool_lock(p);
    *out = stats_of(p);
    pool_unlock(p);
}

/* Length of list cls, walking at most `carved` nodes (a list cannot be longer
   unless an unchecked caller corrupted it, and then this still terminates).
   Thread caches' blocks of the class count as free: they follow the list,
   cache by cache (the other threads' caches paused: tc_pause_others). */
static size_t walk_free_list(const sgi_pool *p, size_t cls, uintptr_t *out, size_t cap)
{
    size_t len = 0;
    for (const free_node *n = p->free_list[cls]; n != NULL && len <= p->carved[cls]; n = read_link(n)) {
        if (len < cap)
            out[len] = (uintptr_t)n;
        len++;
    }
    for (const tcache *c = p->caches; c != NULL; c = c->pool_next) {
        for (const free_node *n = c->cls[cls].head; n != NULL && len <= p->carved[cls]; n = n->next) {
            if (len < cap)
                out[len] = (uintptr_t)n;
            len++;
        }
    }
    return len;
}

/* The directory's blocks, for the walks below. */
typedef struct block_listing {
    const sgi_pool *p;
    bool live_only;   /* only live small blocks (checked pools) */
    uintptr_t *addrs; /* up to cap entries, or NULL */
    size_t *sizes;
    size_t cap;
    size_t count;     /* blocks seen */
    size_t *per_class; /* or NULL: live blocks per class */
} block_listing;

static void list_block(void *ctx, uintptr_t addr, size_t size, bool live)
{
    block_listing *l = ctx;
    if ((l->live_only && !live) || size > l->p->max_bytes) /* (larger: a released span) */
        return;
    if (l->per_class != NULL)
        l->per_class[class_index(l->p, size)]++;
    if (l->addrs != NULL && l->count < l->cap) {
        l->addrs[l->count] = addr;
        l->sizes[l->count] = size;
    }
    l->count++;
}

/* The uncarved tail's start, which is no block (0 when the tail is empty). */
static uintptr_t tail_start(const sgi_pool *p)
{
    return p->start_free != p->end_free ? p->start_free : 0;
}

/* Per class: free-list lengths and live blocks (either array may be NULL). */
static void count_classes(const sgi_pool *p, size_t *free_blocks, size_t *live_blocks)
{
    for (size_t cls = 0; cls < p->nlists; cls++) {
        size_t len = walk_free_list(p, cls, NULL, 0);
        if (free_blocks)
            free_blocks[cls] = len;
        if (live_blocks) /* an unchecked caller's wrong-class frees can overfill a list */
            live_blocks[cls] = p->carved[cls] > len ? p->carved[cls] - len : 0;
    }
    if (live_blocks && p->checked) { /* a checked pool's live bits say it directly */
        memset(live_blocks, 0, p->nlists * sizeof *live_blocks);
        block_listing l = {p, true, NULL, NULL, 0, 0, live_blocks};
        dir_walk(&p->dir, tail_start(p), list_block, &l);
    }
}

void sgi_pool_class_counts(sgi_pool *p, size_t *free_blocks, size_t *live_blocks)
{
    REQUIRE(p != NULL);
    pool_lock(p);
    tc_pause_others(p);
    count_classes(p, free_blocks, live_blocks);
    tc_resume_others(p);
    pool_unlock(p);
}

size_t sgi_pool_blocks(sgi_pool *p, uintptr_t *addrs, size_t *sizes, size_t cap)
{
    REQUIRE(p != NULL && ((addrs != NULL && sizes != NULL) || cap == 0));
    pool_lock(p);
    block_listing l = {p, false, addrs, sizes, cap, 0, NULL};
    dir_walk(&p->dir, tail_start(p), list_block, &l);
    pool_unlock(p);
    return l.count;
}

size_t sgi_pool_chunks(sgi_pool *p, uintptr_t *bases, size_t *sizes, size_t cap)
{
    REQUIRE(p != NULL && ((bases != NULL && sizes != NULL) || cap == 0));
    pool_lock(p);
    size_t n = p->nchunks;
    for (size_t i = 0; i < n && i < cap; i++) {
        bases[i] = p->chunks[i].base;
        sizes[i] = p->chunks[i].size;
    }
    pool_unlock(p);
    return n;
}

size_t sgi_pool_free_list(sgi_pool *p, size_t cls, uintptr_t *out, size_t cap)
{
    REQUIRE(p != NULL && (out != NULL || cap == 0));
    if (cls >= p->nlists)
        return 0;
    pool_lock(p);
    tc_pause_others(p);
    size_t len = walk_free_list(p, cls, out, cap);
    tc_resume_others(p);
    pool_unlock(p);
    return len;
}

void sgi_pool_current_chunk(sgi_pool *p, uintptr_t *start, uintptr_t *end)
{
    REQUIRE(p != NULL && start != NULL && end != NULL);
    pool_lock(p);
    *start = p->start_free;
    *end = p->end_free;
    pool_unlock(p);
}

int sgi_pool_block_size(sgi_pool *p, const void *ptr, size_t *n)
{
    REQUIRE(p != NULL && n != NULL);
    pool_lock(p);
    size_t small = live_small_size(p, ptr);
    const block_entry *e = small ? NULL : block_table_find(&p->blocks, (uintptr_t)ptr);
    if (small || e != NULL)
        *n = small ? small : e->size;
    pool_unlock(p);
    return small || e ? SGI_POOL_OK : SGI_POOL_ENOTLIVE;
}

/* The live blocks, up to cap of them; returns how many there are. */
static size_t collect_live_blocks(const sgi_pool *p, uintptr_t *addrs, size_t *sizes, size_t cap)
{
    block_listing l = {p, true, addrs, sizes, cap, 0, NULL};
    if (p->checked) /* small blocks first, from the directory's live bits */
        dir_walk(&p->dir, tail_start(p), list_block, &l);
    size_t n = l.count;
    for (size_t i = 0; i < p->blocks.capacity; i++) {
        const block_entry *e = &p->blocks.slots[i];
        if (e->addr == 0)
            continue;
        if (n < cap) {
            addrs[n] = e->addr;
            sizes[n] = e->size;
        }
        n++;
    }
    return n;
}

size_t sgi_pool_live_blocks(sgi_pool *p, uintptr_t *addrs, size_t *sizes, size_t cap)
{
    REQUIRE(p != NULL && ((addrs != NULL && sizes != NULL) || cap == 0));
    pool_lock(p);
    size_t n = collect_live_blocks(p, addrs, sizes, cap);
    pool_unlock(p);
    return n;
}

int sgi_pool_capture_state(sgi_pool *p, sgi_pool_capture *c)
{
    REQUIRE(p != NULL && c != NULL && c->free_lengths != NULL && c->live_counts != NULL);
    pool_lock(p);
    tc_pause_others(p);
    c->nchunks = p->nchunks;
    for (size_t i = 0; i < p->nchunks && i < c->chunk_cap; i++) {
        c->chunk_bases[i] = p->chunks[i].base;
        c->chunk_sizes[i] = p->chunks[i].size;
    }
    c->nfree = 0;
    for (size_t cls = 0; cls < p->nlists; cls++) {
        size_t room = c->nfree < c->free_cap ? c->free_cap - c->nfree : 0;
        size_t len = walk_free_list(p, cls, room ? c->free_blocks + c->nfree : NULL, room);
        c->nfree += len;
    }
    count_classes(p, c->free_lengths, c->live_counts);
    c->nlive = collect_live_blocks(p, c->live_addrs, c->live_sizes, c->live_cap);
    block_listing l = {p, false, c->block_addrs, c->block_sizes, c->block_cap, 0, NULL};
    dir_walk(&p->dir, tail_start(p), list_block, &l);
    c->nblocks = l.count;
    c->start_free = p->start_free;
    c->end_free = p->end_free;
    c->stats = stats_of(p);
    tc_resume_others(p);
    pool_unlock(p);
    return c->nchunks <= c->chunk_cap && c->nfree <= c->free_cap && c->nlive <= c->live_cap &&
           c->nblocks <= c->block_cap;
}

void sgi_pool_process_totals(size_t *blocks, size_t *bytes)
{
    REQUIRE(blocks != NULL && bytes != NULL);
    *blocks = atomic_load_explicit(&total_blocks, memory_order_relaxed);
    *bytes = atomic_load_explicit(&total_bytes, memory_order_relaxed);
}
