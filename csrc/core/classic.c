/*
 * classic.c -- SGI's second level, top to bottom: docs/algorithm.md Part A
 * (A.2 size classes, A.3 free lists, A.10 the first level, A.7 chunk_alloc,
 * A.6 refill, A.5 allocate, A.8 deallocate, A.9 reallocate).  The step
 * numbers in comments are the document's, and the reference model's
 * (pool/model/reference.py).  Everything here runs with the pool locked
 * (thread-safe pools) and knows nothing of the lock; the entry points and
 * their lock-free fast paths are in fast_paths.c, the status-returning calls
 * in checked_calls.c.
 *
 * What Part B adds touches this file at marked points only: chunk records
 * and the block directory (chunk_alloc, refill), the heap limit (the first
 * level), the table of live large blocks, and a block's birth and death
 * (block_born, block_died: memcheck, checked mode's live bit, the debug
 * fill; defined in block_life.c).
 */

static void block_born(sgi_pool *p, void *block, size_t n);
static void block_died(sgi_pool *p, void *block, size_t n);
static bool tcache_flush_all(sgi_pool *p, bool revoke_own); /* thread_cache.c */

/* ---- A.2 size classes, A.3 free lists ---------------------------------------- */

/* round_up(n) = (n + ALIGN - 1) & ~(ALIGN - 1) */
static inline size_t round_up(const sgi_pool *p, size_t n)
{
    return (n + p->align - 1) & ~(p->align - 1);
}

/* index(n) = (n + ALIGN - 1) / ALIGN - 1, for 1 <= n <= max_bytes */
static inline size_t class_index(const sgi_pool *p, size_t n)
{
    return ((n + p->align - 1) >> p->align_shift) - 1;
}

/* True for sizes the lists serve; one unsigned compare covers n == 0 too. */
static inline bool is_small(const sgi_pool *p, size_t n)
{
    return n - 1 < p->max_bytes;
}

/* Two recorded/requested sizes are of one class: the same list, or both large. */
static inline bool same_class(const sgi_pool *p, size_t a, size_t b)
{
    if (a > p->max_bytes || b > p->max_bytes)
        return a > p->max_bytes && b > p->max_bytes;
    return class_index(p, a) == class_index(p, b);
}

/* The link word of a free block is no-access to memcheck (the block is not
   live); the pool opens it only for its own reads and writes. */
static inline free_node *read_link(const free_node *node)
{
    MEM_READABLE(node, sizeof *node);
    free_node *next = node->next;
    MEM_NOACCESS(node, sizeof *node);
    return next;
}

static inline void write_link(free_node *node, free_node *next)
{
    MEM_WRITABLE(node, sizeof *node);
    node->next = next;
    MEM_NOACCESS(node, sizeof *node);
}

static inline void push_free(sgi_pool *p, size_t cls, void *block)
{
    write_link(block, p->free_list[cls]);
    p->free_list[cls] = block;
}

static inline free_node *pop_free(sgi_pool *p, size_t cls)
{
    free_node *head = p->free_list[cls];
    if (LIKELY(head != NULL))
        p->free_list[cls] = read_link(head);
    return head;
}

/* ---- A.10 the first level: system requests (B.2: the heap limit) ------------- */

/* Bytes held from the system: the chunks not released by a trim (B.13), and
   the live large blocks. */
static inline size_t held(const sgi_pool *p)
{
    return p->heap_size - p->released_bytes + p->large_bytes;
}

/* Whether the heap limit lets the pool hold `more` bytes beyond `base`. */
static inline bool limit_allows(const sgi_pool *p, size_t base, size_t more)
{
    return p->heap_limit == 0 || (base <= p->heap_limit && more <= p->heap_limit - base);
}

static void refuse(sgi_pool *p, size_t n)
{
    p->requests_refused++;
    last_refused = n;
}

static inline void totals_add(size_t blocks, size_t bytes)
{
    atomic_fetch_add_explicit(&total_blocks, blocks, memory_order_relaxed);
    atomic_fetch_add_explicit(&total_bytes, bytes, memory_order_relaxed);
}

static inline void totals_sub(size_t blocks, size_t bytes)
{
    atomic_fetch_sub_explicit(&total_blocks, blocks, memory_order_relaxed);
    atomic_fetch_sub_explicit(&total_bytes, bytes, memory_order_relaxed);
}

/* Asks the system for n bytes, refused as if malloc had returned NULL when
   the heap limit does not allow them.  Returns NULL when refused (counted). */
static void *system_request(sgi_pool *p, size_t n)
{
    void *mem = NULL;
    if (n <= PTRDIFF_MAX && limit_allows(p, held(p), n))
        mem = malloc(n);
    if (mem == NULL) {
        refuse(p, n);
        return NULL;
    }
    p->requests_granted++;
    totals_add(1, n);
    return mem;
}

static void system_release(void *mem, size_t n)
{
    free(mem);
    totals_sub(1, n);
}

/* ---- A.7 chunk_alloc(size, nobjs) -------------------------------------------- */

/* Makes room for one more chunk record; false when memory is short. */
static bool reserve_chunk_record(sgi_pool *p)
{
    if (p->nchunks < p->chunks_cap)
        return true;
    size_t cap = p->chunks_cap ? 2 * p->chunks_cap : 16;
    chunk_record *grown = realloc(p->chunks, cap * sizeof *grown);
    if (grown == NULL)
        return false;
    p->chunks = grown;
    p->chunks_cap = cap;
    return true;
}

/* Every change of the tail ends in branch 1 or 2 of chunk_alloc, under the
   lock, before any block carved with it is handed out. */
static inline void publish_tail(sgi_pool *p)
{
    uintptr_t open = p->start_free != p->end_free ? p->start_free : 0;
    atomic_store_explicit(&p->open_tail, open, memory_order_relaxed);
}

/* 3.4: makes a free block of `size` bytes or larger the current chunk. */
static bool salvage(sgi_pool *p, size_t size)
{
    for (size_t i = size; i <= p->max_bytes; i += p->align) {
        size_t cls = class_index(p, i);
        free_node *head = pop_free(p, cls);
        if (head != NULL) {
            p->carved[cls]--;
            p->start_free = (uintptr_t)head;
            p->end_free = (uintptr_t)head + i;
            p->salvages++;
            return true;
        }
    }
    return false;
}

/* Returns memory for *nobjs blocks of `size` bytes (lowering *nobjs to what
   fits, at least 1), or NULL when the system refused and salvage found
   nothing; last_refused then holds the refused request. */
static char *chunk_alloc(sgi_pool *p, size_t size, size_t *nobjs)
{
    for (;;) {
        size_t total = size * *nobjs;
        size_t left = p->end_free - p->start_free;
        char *result = (char *)p->start_free;

        if (left >= total) { /* 1. the tail holds them all */
            p->start_free += total;
            publish_tail(p);
            return result;
        }
        if (left >= size) { /* 2. the tail holds at least one */
            *nobjs = left / size;
            p->start_free += size * *nobjs;
            publish_tail(p);
            return result;
        }

        /* 3. a new chunk is needed */
        if (UNLIKELY(p->nspans != 0)) { /* B.14: the last released span first */
            if (left > 0) { /* as 3.2 */
                push_free(p, class_index(p, left), result);
                p->carved[class_index(p, left)]++;
            }
            span_record s = p->spans[--p->nspans];
            p->span_bytes -= s.end - s.start;
            p->start_free = s.start;
            p->end_free = s.end;
            continue; /* takes branch 1 or 2: a span is larger than any block */
        }
        if (UNLIKELY(!reserve_chunk_record(p))) {
            last_refused = 0; /* our bookkeeping, not the system request */
            return NULL;
        }
        /* 3.1 (B.13: with the chunks held; heap_size itself after no trim) */
        size_t bytes_to_get = 2 * total + round_up(p, (p->heap_size - p->released_bytes) >> 4);
        if (UNLIKELY(!dir_prepare(&p->dir, bytes_to_get))) {
            last_refused = 0; /* the directory's bitmaps: our bookkeeping too */
            return NULL;
        }
        if (left > 0) { /* 3.2: the leftover fits its own class exactly */
            push_free(p, class_index(p, left), result);
            p->carved[class_index(p, left)]++;
        }
        p->start_free = p->end_free = 0;

        char *chunk = system_request(p, bytes_to_get); /* 3.3 */
        if (chunk == NULL) {
            dir_cancel(&p->dir);
            /* 3.4: salvage a free block of this size or larger (B: with
               thread caches, once more after they are handed back) */
            if (salvage(p, size) || (p->caches != NULL && tcache_flush_all(p, false) &&
                                     salvage(p, size)))
                continue; /* the recursion: takes branch 1 or 2 */
            publish_tail(p);
            return NULL; /* 3.5: no current chunk; the caller reports ENOMEM */
        }

        /* 3.6 */
        MEM_NOACCESS(chunk, bytes_to_get); /* uncarved */
        p->chunks[p->nchunks++] = (chunk_record){(uintptr_t)chunk, bytes_to_get};
        dir_commit(&p->dir, (uintptr_t)chunk, bytes_to_get); /* its tail start is marked */
        p->heap_size += bytes_to_get;
        p->start_free = (uintptr_t)chunk;
        p->end_free = (uintptr_t)chunk + bytes_to_get;
    }
}

/* ---- A.6 refill(size) -------------------------------------------------------- */

/* Returns one block of `size` bytes (a multiple of align) and puts the other
   blocks carved with it on the (empty) free list of that size; NULL when
   memory is refused. */
/* 1's carving: *nobjs blocks of size at once (chunk_alloc may lower the
   count), counted as carved and marked in the directory; NULL when refused
   (nothing counted).  Shared with thread caches' slabs (thread_cache.c). */
static char *carve_blocks(sgi_pool *p, size_t size, size_t *nobjs)
{
    char *chunk = chunk_alloc(p, size, nobjs);
    if (chunk != NULL) {
        p->carved[class_index(p, size)] += *nobjs;
        dir_mark_carved(&p->dir, (uintptr_t)chunk, size, *nobjs);
    }
    return chunk;
}

/* 3's linking: carved blocks first..last (indices from chunk, last >= first)
   become the head of list cls, lowest address first, in front of what the
   list held. */
static void list_carved(sgi_pool *p, size_t cls, char *chunk, size_t size, size_t first,
                        size_t last)
{
    free_node *rest = p->free_list[cls];
    free_node *node = (free_node *)(chunk + first * size);
    p->free_list[cls] = node;
    for (size_t k = first + 1; k <= last; k++) {
        free_node *next = (free_node *)(chunk + k * size);
        write_link(node, next);
        node = next;
    }
    write_link(node, rest);
}

static void *refill(sgi_pool *p, size_t size)
{
    size_t nobjs = p->nobjs; /* 1 */
    char *chunk = carve_blocks(p, size, &nobjs);
    if (chunk == NULL)
        return NULL;
    if (nobjs == 1) /* 2 */
        return chunk;

    /* 3. blocks 1..nobjs-1 become the list, lowest address at the head (the
       list is empty, unless thread caches were handed back to it at 3.4) */
    size_t cls = class_index(p, size);
    assert(p->free_list[cls] == NULL || p->caches != NULL);
    list_carved(p, cls, chunk, size, 1, nobjs - 1);
    return chunk;
}

/* ---- A.5 allocate(n) --------------------------------------------------------- */

static void *allocate_large(sgi_pool *p, size_t n)
{
    if (UNLIKELY(!block_table_reserve(&p->blocks, 1))) {
        last_refused = 0;
        return NULL;
    }
    void *mem = system_request(p, n);
    if (mem == NULL)
        return NULL;
    block_table_insert(&p->blocks, (uintptr_t)mem, n);
    p->large_live++;
    p->large_bytes += n;
    return mem;
}

/* allocate(n) with the lock held. */
static void *allocate_locked(sgi_pool *p, size_t n)
{
    if (UNLIKELY(!is_small(p, n) || p->closed)) {
        if (n == 0 || p->closed) {
            last_refused = 0;
            return NULL;
        }
        return allocate_large(p, n); /* 1. first level */
    }
    size_t cls = class_index(p, n);
    free_node *block = pop_free(p, cls); /* 2. pop the head (LIFO) */
    if (UNLIKELY(block == NULL)) {
        block = refill(p, round_up(p, n)); /* 3. */
        if (block == NULL)
            return NULL;
    }
    block_born(p, block, n);
    return block;
}

/* ---- A.8 deallocate(p, n) ---------------------------------------------------- */

/* deallocate(ptr, n), with the block already checked (checked_calls.c). */
static void free_block(sgi_pool *p, void *ptr, size_t n)
{
    if (LIKELY(is_small(p, n))) { /* push on the head of its list */
        block_died(p, ptr, n);
        push_free(p, class_index(p, n), ptr);
        return;
    }
    /* 1. first level (B.1: large blocks are recorded, so the size is known) */
    block_entry *e = block_table_find(&p->blocks, (uintptr_t)ptr);
    size_t recorded = e->size & ~PENDING_MARK;
    block_table_remove(&p->blocks, e);
    p->large_live--;
    p->large_bytes -= recorded;
    system_release(ptr, recorded);
}

/* ---- A.9 reallocate(p, old_n, new_n) ----------------------------------------- */

/* 1. large to large: the system's realloc, within the heap limit. */
static int reallocate_large(sgi_pool *p, void *ptr, size_t new_n, void **out)
{
    block_entry *e = block_table_find(&p->blocks, (uintptr_t)ptr);
    size_t recorded = e->size;
    void *mem = NULL;
    if (new_n <= PTRDIFF_MAX && limit_allows(p, held(p) - recorded, new_n))
        mem = realloc(ptr, new_n);
    if (mem == NULL) {
        refuse(p, new_n);
        return SGI_POOL_ENOMEM;
    }
    block_table_remove(&p->blocks, e);
    block_table_insert(&p->blocks, (uintptr_t)mem, new_n); /* count unchanged: no growth */
    p->large_bytes = p->large_bytes - recorded + new_n;
    p->requests_granted++;
    totals_sub(0, recorded);
    totals_add(0, new_n);
    *out = mem;
    return SGI_POOL_OK;
}

/* reallocate(ptr, old_n, new_n), with the block already checked; `usable` is
   how many bytes it really has (a checked pool knows them exactly). */
static int reallocate_block(sgi_pool *p, void *ptr, size_t old_n, size_t new_n, size_t usable,
                            void **out)
{
    if (!is_small(p, old_n) && !is_small(p, new_n)) /* 1. */
        return reallocate_large(p, ptr, new_n, out);
    if (is_small(p, old_n) && is_small(p, new_n) && round_up(p, old_n) == round_up(p, new_n)) {
        *out = ptr; /* 2. same block */
        return SGI_POOL_OK;
    }
    void *q = allocate_locked(p, new_n); /* 3. */
    if (q == NULL)
        return SGI_POOL_ENOMEM;
    size_t keep = old_n < new_n ? old_n : new_n;
    memcpy(q, ptr, keep < usable ? keep : usable);
    free_block(p, ptr, old_n);
    *out = q;
    return SGI_POOL_OK;
}

