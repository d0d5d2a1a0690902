/*
 * thread_cache.c -- per-thread caches in front of the free lists (the
 * thread_cache option; magazines, as glibc's and jemalloc's tcache).
 *
 * Such a pool starts biased (bias.h), as a thread-safe pool without caches:
 * its first thread pops and pushes on the lists with no atomic and makes no
 * cache, so one thread alone pays what it pays on a biased pool.  The first
 * other thread to take the pool's lock (any call that the bias fast path
 * does not serve) revokes the bias and leaves BIAS_CACHED in the owner word:
 * from then on, for good, every thread -- the first one too, on its next call
 * -- gets a cache, as below.  (The fast paths try the caches only where the
 * bias's entry and the try-lock fail, so the biased owner pays nothing for
 * them.)
 *
 * Each thread using a pool gets a cache: per size class a short LIFO list of
 * free blocks.  allocate pops and deallocate pushes there with no lock; an
 * empty class takes `batch` blocks from the pool's list -- or, when the list
 * is empty, carves a slab of TC_SLAB_BYTES of the class for itself alone
 * (tc_carve, where a pool without caches would refill the list, A.6), so
 * that threads do not share pages of blocks -- a push onto a full one
 * (2 x batch) first gives the `batch` oldest back, both under the pool's
 * lock.  Blocks are the same
 * blocks the lists hold, so every other call may keep using the lists
 * directly.
 *
 * The list is two magazines in one chain (Bonwick's): the newer, `loaded`
 * (count blocks, its last node `tail`), then the older, `previous` (empty, or
 * exactly batch blocks with its last node `prev_tail`).  A full previous magazine
 * goes back as a unit, spliced onto the pool's list in O(1), so a give-back
 * walks no node; swapping the magazines needs no lock.
 *
 * The depot: further full magazines continue the chain after previous, so
 * that a thread freeing a burst (FIFO: thousands of blocks, then as many
 * allocations) gets its own blocks back without the lock and without the
 * lists, where the magazines of all threads interleave (measured: 2 threads
 * each taking the other core's blocks, 0.10x glibc).  A push onto both full
 * magazines moves previous into the depot (nothing is relinked: it stays
 * where it is in the chain) when the cache's depot_room allows, else gives it
 * back to the list as before; a pop that empties loaded makes previous
 * loaded and the depot's first magazine previous.  Both are O(1): a depot
 * magazine's head block keeps the magazine's last node in its second word
 * (depot_head), so blocks of one word (8 bytes) get no depot.  The bound is
 * thread_cache_bytes per cache (a thread's, per pool), over all classes.
 *
 * Who may touch a cache: its thread, between raising and lowering `busy`
 * while `owner` is its id (bias.h's handshake, per cache), or anyone holding
 * the pool's lock after revoking the cache (bias_revoke: owner REVOKED, a
 * process-wide fence, wait for busy to drop).  A revoked cache's thread takes
 * the lock and re-arms it (owner = its id) unless the pool is closed.  So
 * close, a refusal, introspection and fork revoke other threads' caches and
 * hand their blocks back to the lists; the owners notice on their next call.
 *
 * Lifetimes: a cache is on its pool's list (under the pool lock) and on its
 * thread's list (that thread only).  A thread's exit (a pthread key
 * destructor) and a pool's destroy both run under the fork registry's mutex,
 * so whichever comes second sees the other's work: destroy marks the pool's
 * caches orphaned (pool NULL), and the thread frees orphans it finds.
 */

#include <pthread.h>

/* Blocks per exchange: refill's count, but at most TC_BATCH_BYTES of them. */
#define TC_BATCH_BYTES 8192
/* A refill that finds the class's list empty carves up to this many bytes
   of the class for this thread alone (tc_carve), so that threads sharing a
   pool do not get their blocks from the same pages (measured, two threads
   whose first bursts interleave: the fewer pages the threads' blocks share,
   the closer to one pool per thread; 16 KiB left a third of the pages
   shared, 64 KiB a twentieth; docs/performance.md). */
#define TC_SLAB_BYTES 65536
#define TC_SLOTS 4 /* pools a thread finds without a search */
#define TC_PAGES 256 /* a cache's pages -> records (a power of two; 1 MiB of 4 KiB pages) */

typedef struct tc_class {
    free_node *head;      /* the chain: loaded, then previous, NULL-ended */
    free_node *tail;      /* loaded's last node (when count != 0) */
    free_node *prev_tail; /* previous's last node; NULL: previous is empty */
    uint32_t count;       /* loaded's blocks, 0..batch (previous: batch or 0) */
    uint32_t top;         /* batch - 1 (a magazine holds batch blocks): a push's
                             one compare, count - 1 >= top, needs no subtraction */
} tc_class;

_Static_assert(sizeof(tc_class) == 32, "a class is found with a shift");

typedef struct tcache {
    /* Cold fields first, so that the owner's hot words (busy, owner) sit
       right before the classes: one cache line holds them and the first
       classes (issue 25: the cached call's lines). */
    /* Size-less frees: the directory's records last found per page (this
       thread's own, as the pool's page cache is the lock's), valid while the
       directory's removal count is dir_removals. */
    const dir_chunk *pages[TC_PAGES];
    size_t dir_removals;
    uintptr_t thread_id;     /* the owner's id, also while revoked */
    bool paused;             /* revoked by a reader, to be re-armed by it */
    sgi_pool *_Atomic pool;  /* NULL once the pool is destroyed (an orphan) */
    struct tcache *pool_prev, *pool_next; /* the pool's caches (pool lock) */
    struct tcache *thread_next;           /* the thread's caches */
    size_t depot_room; /* bytes of magazines the depot may still take */
    atomic_int busy;         /* raised by the owner around a pop or push */
    _Atomic uintptr_t owner; /* the thread's id, or BIAS_REVOKED */
    tc_class cls[]; /* nlists */
} tcache;

/* A depot magazine's head block: its link, then the magazine's last node
   (the block is free: its bytes after the link are the cache's). */
typedef struct depot_head {
    free_node *next;
    free_node *tail;
} depot_head;

typedef struct tc_slot {
    sgi_pool *pool;
    tcache *cache;
} tc_slot;

/* This thread's last used cache (one TLS compare finds it), its recently
   used caches (a direct-mapped table on the pool's address) and all its
   caches. */
static _Thread_local tc_slot tc_last BIAS_TLS;
static _Thread_local tc_slot tc_slots[TC_SLOTS] BIAS_TLS;
static _Thread_local tcache *tc_mine;
static _Thread_local bool tc_creating; /* a cache's own malloc must not recurse */

static pthread_key_t tc_key;
static pthread_once_t tc_key_once = PTHREAD_ONCE_INIT;

static inline tc_slot *tc_slot_of(const sgi_pool *p)
{
    return &tc_slots[((uintptr_t)p >> 6) % TC_SLOTS];
}

static inline size_t tc_batch(const sgi_pool *p, size_t cls)
{
    size_t size = (cls + 1) << p->align_shift;
    size_t fit = TC_BATCH_BYTES / size;
    size_t b = p->nobjs < fit ? p->nobjs : fit;
    return b ? b : 1;
}

/* ---- the owner's fast paths ----------------------------------------------- */

/* The class of a small request n (1 <= n <= max_bytes): (n - 1) >> shift
   is class_index's ((n + align - 1) >> shift) - 1, one shift from the n - 1
   that the size test has already computed. */
static inline tc_class *tc_class_of(tcache *c, const sgi_pool *p, size_t n)
{
    tc_class *k = &c->cls[(n - 1) >> p->align_shift];
#if defined(__GNUC__)
    /* an opaque copy: GCC otherwise computes the address twice (callgrind:
       2 to 3 instructions more per pop or push) */
    __asm__("" : "+r"(k));
#endif
    return k;
}

/* This thread's cache for p from its slot table (the last used one missed):
   it becomes the last used one; NULL when p has none here. */
static ALWAYS_INLINE tcache *tc_slot_find(const sgi_pool *p)
{
    tc_slot *s = tc_slot_of(p);
    if (UNLIKELY(s->pool != p))
        return NULL;
    tc_last = *s;
    return s->cache;
}

/* This thread's cache for p, entered (busy raised), or NULL.  A cache in this
   thread's slots is its own, so its owner word is this thread's id or
   REVOKED: testing for REVOKED saves reading the id.  (No test before
   raising busy: a revoked cache is rare, and one load fewer pays.) */
static ALWAYS_INLINE tcache *tc_armed(sgi_pool *p)
{
    tcache *c;
    if (LIKELY(tc_last.pool == p)) {
        c = tc_last.cache;
#if defined(__GNUC__)
        if (c == NULL) /* a slot naming a pool always names its cache: no test */
            __builtin_unreachable();
#endif
    } else if ((c = tc_slot_find(p)) == NULL) {
        return NULL;
    }
    atomic_store_explicit(&c->busy, 1, memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst);
    /* acquire: a reader that paused the cache (tc_resume_others) read it first */
    if (LIKELY(atomic_load_explicit(&c->owner, memory_order_acquire) != BIAS_REVOKED))
        return c;
    atomic_store_explicit(&c->busy, 0, memory_order_release);
    return NULL;
}

static inline void tc_leave(tcache *c)
{
    atomic_store_explicit(&c->busy, 0, memory_order_release);
}

static void *tcache_allocate_slow(sgi_pool *p, size_t n);
static void tcache_deallocate_slow(sgi_pool *p, free_node *node, size_t n);

/* A magazine's bytes in class k of cache c. */
static inline size_t tc_magazine_bytes(const tcache *c, const tc_class *k, const sgi_pool *p)
{
    return ((size_t)(k - c->cls) + 1) * ((size_t)k->top + 1) << p->align_shift;
}

/* Loaded has just taken previous's blocks (its tail is previous's last
   node): the depot's first magazine, if any, becomes previous; returns its
   last node, or NULL (previous empty). */
static inline free_node *tc_depot_pop(tcache *c, tc_class *k, const sgi_pool *p)
{
    depot_head *h = (depot_head *)(void *)k->tail->next;
    if (h == NULL)
        return NULL;
    c->depot_room += tc_magazine_bytes(c, k, p);
    return h->tail;
}

/* Both magazines are full: previous goes into the depot if the bound lets
   it (it stays in the chain; its head notes its last node). */
static inline bool tc_depot_push(tcache *c, tc_class *k, const sgi_pool *p)
{
    size_t bytes = tc_magazine_bytes(c, k, p);
    if (((size_t)(k - c->cls) + 1) << p->align_shift < sizeof(depot_head) ||
        c->depot_room < bytes)
        return false;
    depot_head *h = (depot_head *)(void *)k->tail->next;
    h->tail = k->prev_tail;
    c->depot_room -= bytes;
    return true;
}

/* The cache's own moves (its owner, inside, or a holder of the lock).  The
   count is read into a local and written once, so that the compiler keeps
   the class's address in one register. */
static ALWAYS_INLINE free_node *tc_pop(tcache *c, tc_class *k, const sgi_pool *p)
{
    free_node *block = k->head;
    uint32_t count = k->count;
    if (UNLIKELY(count == 0)) {
        if (block == NULL) /* (loaded empty, the chain not: previous holds it) */
            return NULL;
        count = k->top + 1; /* previous becomes loaded: head stays */
        k->tail = k->prev_tail;
        k->prev_tail = tc_depot_pop(c, k, p);
    }
    k->head = block->next;
    k->count = count - 1;
    return block;
}

/* A push onto a loaded magazine with room, or onto a full one while
   previous is empty (loaded becomes previous); false: both are full (the
   depot is tried out of line, tc_turn: the common path keeps its few
   registers). */
static ALWAYS_INLINE bool tc_push(tc_class *k, free_node *node)
{
    uint32_t count = k->count;
    /* one compare for count == 0 (node becomes loaded's tail) or count == batch */
    if (UNLIKELY(count - 1u >= k->top)) {
        if (count != 0) {
            if (k->prev_tail != NULL)
                return false;
            k->prev_tail = k->tail;
            count = 0;
        }
        k->tail = node;
    }
    node->next = k->head;
    k->head = node;
    k->count = count + 1;
    return true;
}

/* A push, moving a full previous into the depot first when both magazines
   are full; false (nothing changed): the depot cannot take it. */
static inline bool tc_turn(tcache *c, tc_class *k, const sgi_pool *p, free_node *node)
{
    if (tc_push(k, node))
        return true;
    if (!tc_depot_push(c, k, p))
        return false;
    k->prev_tail = k->tail; /* loaded becomes previous */
    k->count = 0;
    return tc_push(k, node);
}

/* A push that found both magazines full (the cache left since): the cache
   entered again, the push through the depot, with no lock; false: not
   pushed (no room in the depot, or the cache was revoked meanwhile). */
static NOINLINE bool tcache_depot_push(sgi_pool *p, free_node *node, size_t n)
{
    tcache *c = tc_armed(p);
    if (c == NULL)
        return false;
    bool pushed = tc_turn(c, tc_class_of(c, p, n), p, node);
    tc_leave(c);
    return pushed;
}

/* The exchanges of a cache this thread has just had armed (its class empty,
   or both magazines full): under the lock, with no search for the cache. */
static void *tcache_refill(sgi_pool *p, tcache *c, size_t n);
static void tcache_give_back(sgi_pool *p, tcache *c, free_node *node, size_t n);

static ALWAYS_INLINE void *tcache_allocate(sgi_pool *p, size_t n)
{
    tcache *c = tc_armed(p);
    if (LIKELY(c != NULL)) {
        free_node *block = tc_pop(c, tc_class_of(c, p, n), p);
        tc_leave(c);
        if (LIKELY(block != NULL))
            return block;
        return tcache_refill(p, c, n);
    }
    return tcache_allocate_slow(p, n);
}

static void tcache_push_full(sgi_pool *p, tcache *c, tc_class *k, free_node *node, size_t n);

static ALWAYS_INLINE void tcache_deallocate(sgi_pool *p, free_node *node, size_t n)
{
    tcache *c = tc_armed(p);
    if (LIKELY(c != NULL)) {
        tc_class *k = tc_class_of(c, p, n);
        if (UNLIKELY(!tc_push(k, node))) {
            tcache_push_full(p, c, k, node, n); /* a tail call, still inside */
            return;
        }
        tc_leave(c);
        return;
    }
    tcache_deallocate_slow(p, node, n);
}

/* A size-less free (sgi_pool_free) without the lock: the block's size from
   the directory's map (block_directory.h: its readers without the lock),
   read while this thread's cache is entered -- so close, which revokes every
   cache before it frees the directory, cannot free it meanwhile -- then the
   push.  Returns 0 when pushed; the size when the block is a small block but
   its class is full (the caller gives back under the lock); SIZE_MAX when
   anything is unclear (no armed cache, not a carved block's start, the
   tail's start, not small): the caller takes the locked path, which decides
   as before. */
static ALWAYS_INLINE size_t tcache_free_unlocked(sgi_pool *p, void *ptr)
{
    tcache *c = tc_armed(p);
    if (UNLIKELY(c == NULL))
        return SIZE_MAX;
    uintptr_t addr = (uintptr_t)ptr;
    size_t size = 0;
    size_t removals = atomic_load_explicit(&p->dir.removals, memory_order_acquire);
    if (UNLIKELY(removals != c->dir_removals)) { /* a chunk went: forget them all */
        memset(c->pages, 0, sizeof c->pages);
        c->dir_removals = removals;
    }
    const dir_chunk **page = &c->pages[(addr >> DIR_PAGE_SHIFT) & (TC_PAGES - 1)];
    const dir_chunk *chunk = *page;
    if (chunk == NULL || addr - chunk->base >= chunk->size) {
        chunk = dir_find_unlocked(&p->dir, addr);
        if (chunk != NULL)
            *page = chunk;
    }
    if (LIKELY(chunk != NULL) &&
        LIKELY(addr != atomic_load_explicit(&p->open_tail, memory_order_relaxed))) {
        /* the start bit and the next one from one window (dir_start_window,
           as the locked size-less free): a block longer than the window, or
           no block's start, is left to the locked path (size 0) */
        uintptr_t off = addr - chunk->base;
        if (LIKELY((off & (p->align - 1)) == 0)) {
            uint64_t window = dir_start_window(chunk, (size_t)(off >> p->align_shift));
            uint64_t later = window >> 1; /* the next slots' start bits */
            if (LIKELY((window & 1) && later != 0))
                size = (size_t)(dir_ctz(later) + 1) << p->align_shift;
        }
    }
    size_t result = SIZE_MAX;
    if (LIKELY(size - 1 < p->cache_max)) { /* (size 0 wraps: not small) */
        tc_class *k = tc_class_of(c, p, size);
        result = size;
        if (LIKELY(tc_push(k, ptr))) /* the magazines' push (it keeps their tails) */
            result = 0;
    }
    tc_leave(c);
    return result;
}

/* ---- exchanges with the lists (pool lock held) ----------------------------- */

/* Moves every block of c back to p's lists (nothing when p is closed: its
   memory is gone). */
static void tc_drain(sgi_pool *p, tcache *c)
{
    for (size_t cls = 0; cls < p->nlists; cls++) {
        tc_class *k = &c->cls[cls];
        if (k->head != NULL && !p->closed) {
            free_node *tail = k->prev_tail != NULL ? k->prev_tail : k->tail;
            while (tail->next != NULL) /* the depot's magazines, by their heads' notes */
                tail = ((depot_head *)(void *)tail->next)->tail;
            tail->next = p->free_list[cls];
            p->free_list[cls] = k->head;
        }
        k->head = NULL;
        k->count = 0;
        k->prev_tail = NULL;
    }
    c->depot_room = p->cache_depot_bytes;
}

/* Hands every cache's blocks back to the lists, revoking the other threads'
   caches first (their owners re-arm them on their next call unless the pool
   is closed); revoke_own: this thread's too (close, destroy).  Returns
   whether any block moved. */
static bool tcache_flush_all(sgi_pool *p, bool revoke_own)
{
    bool moved = false;
    uintptr_t self = bias_self_id();
    for (tcache *c = p->caches; c != NULL; c = c->pool_next) {
        if (atomic_load_explicit(&c->owner, memory_order_relaxed) == BIAS_REVOKED) {
            /* nothing to wait for */
        } else if (c->thread_id != self) {
            bias_revoke(&c->owner, &c->busy);
        } else if (revoke_own) { /* this thread is not inside its cache: no fence */
            atomic_store_explicit(&c->owner, BIAS_REVOKED, memory_order_relaxed);
        }
        for (size_t cls = 0; cls < p->nlists && !moved; cls++)
            moved = c->cls[cls].head != NULL;
        tc_drain(p, c);
    }
    return moved;
}

/* For the calls that report free blocks, with the lock held: the other
   threads' caches stop changing (revoked) until tc_resume_others re-arms
   them, still under the lock, so that reading them moves no block. */
static void tc_pause_others(sgi_pool *p)
{
    uintptr_t self = bias_self_id();
    for (tcache *c = p->caches; c != NULL; c = c->pool_next) {
        if (c->thread_id != self &&
            atomic_load_explicit(&c->owner, memory_order_relaxed) != BIAS_REVOKED) {
            bias_revoke(&c->owner, &c->busy);
            c->paused = true;
        }
    }
}

static void tc_resume_others(sgi_pool *p)
{
    for (tcache *c = p->caches; c != NULL; c = c->pool_next) {
        if (c->paused) { /* its thread, if waiting for the lock, re-arms it too */
            c->paused = false;
            atomic_store_explicit(&c->owner, c->thread_id, memory_order_release);
        }
    }
}

static void tc_unlink(sgi_pool *p, tcache *c)
{
    if (c->pool_prev != NULL)
        c->pool_prev->pool_next = c->pool_next;
    else
        p->caches = c->pool_next;
    if (c->pool_next != NULL)
        c->pool_next->pool_prev = c->pool_prev;
    p->ncaches--;
}

/* ---- a thread's caches ------------------------------------------------------ */

/* A thread's exit: every cache goes back to its pool (if the pool still
   exists) and is freed. */
static void tc_thread_exit(void *unused)
{
    (void)unused;
    fork_registry_lock();
    tcache *c = tc_mine;
    tc_mine = NULL;
    memset(tc_slots, 0, sizeof tc_slots);
    tc_last = (tc_slot){NULL, NULL};
    while (c != NULL) {
        tcache *next = c->thread_next;
        sgi_pool *p = atomic_load_explicit(&c->pool, memory_order_acquire);
        if (p != NULL) {
            pool_lock(p);
            tc_drain(p, c);
            tc_unlink(p, c);
            pool_unlock(p);
        }
        free(c);
        c = next;
    }
    fork_registry_unlock();
}

static void tc_make_key(void)
{
    if (pthread_key_create(&tc_key, tc_thread_exit) != 0)
        abort(); /* no key, no flush at exit: caches would leak their blocks */
}

/* This thread's cache for p, or NULL; frees the orphans it passes. */
static tcache *tc_find(sgi_pool *p)
{
    tcache **link = &tc_mine;
    while (*link != NULL) {
        tcache *c = *link;
        sgi_pool *owner = atomic_load_explicit(&c->pool, memory_order_acquire);
        if (owner == NULL) { /* its pool was destroyed */
            *link = c->thread_next;
            for (size_t i = 0; i < TC_SLOTS; i++)
                if (tc_slots[i].cache == c)
                    tc_slots[i] = (tc_slot){NULL, NULL};
            if (tc_last.cache == c)
                tc_last = (tc_slot){NULL, NULL};
            free(c);
            continue;
        }
        if (owner == p)
            return c;
        link = &c->thread_next;
    }
    return NULL;
}

/* With p's lock held: this thread's cache for p, armed, or NULL (none, and
   no room for one; `fresh` is a new one to link in, freed by the caller when
   not used). */
static tcache *tc_take(sgi_pool *p, tcache *found, tcache **fresh)
{
    uintptr_t self = bias_self_id();
    tcache *c = found;
    if (c == NULL && *fresh != NULL && p->ncaches < SGI_POOL_TCACHE_MAX_THREADS) {
        c = *fresh;
        *fresh = NULL;
        c->thread_id = self;
        atomic_store_explicit(&c->pool, p, memory_order_release);
        c->pool_next = p->caches;
        if (p->caches != NULL)
            p->caches->pool_prev = c;
        p->caches = c;
        p->ncaches++;
        c->thread_next = tc_mine;
        tc_mine = c;
    }
    if (c != NULL) {
        atomic_store_explicit(&c->owner, self, memory_order_relaxed);
        *tc_slot_of(p) = (tc_slot){p, c};
        tc_last = (tc_slot){p, c};
    }
    return c;
}

static tcache *tc_new(sgi_pool *p)
{
    if (tc_creating)
        return NULL;
    tc_creating = true;
    (void)pthread_once(&tc_key_once, tc_make_key);
    tcache *c = NULL;
    /* the key's value only makes the destructor run; the list is tc_mine */
    if (pthread_getspecific(tc_key) != NULL || pthread_setspecific(tc_key, &tc_key) == 0)
        c = calloc(1, sizeof *c + p->nlists * sizeof(tc_class));
    tc_creating = false;
    if (c == NULL)
        return NULL;
    atomic_init(&c->owner, BIAS_REVOKED);
    atomic_init(&c->busy, 0);
    for (size_t cls = 0; cls < p->nlists; cls++)
        c->cls[cls].top = (uint32_t)tc_batch(p, cls) - 1;
    c->depot_room = p->cache_depot_bytes;
    return c;
}

/* Whether p has switched to its caches (a second thread took its lock);
   until then its owner uses the lists, as a biased pool's. */
static inline bool tc_switched(const sgi_pool *p)
{
    return atomic_load_explicit(&p->bias_owner, memory_order_relaxed) == BIAS_CACHED;
}

/* Locks p and returns this thread's armed cache for it (NULL: none, the
   caller uses the lists).  The pool stays locked.  No cache is made while
   the pool is unowned or this thread owns its bias: pool_lock then keeps
   (or makes) it the owner, which uses the lists. */
static tcache *tc_lock_own(sgi_pool *p, tcache **fresh)
{
    tcache *found = tc_find(p);
    *fresh = NULL;
    uintptr_t owner = atomic_load_explicit(&p->bias_owner, memory_order_relaxed);
    if (found == NULL && owner != BIAS_UNOWNED && owner != bias_self_id())
        *fresh = tc_new(p);
    pool_lock(p); /* a second thread's first lock: the switch (bias_settle) */
    if (p->closed || !tc_switched(p))
        return NULL;
    return tc_take(p, found, fresh);
}

/* ---- the slow paths ---------------------------------------------------------- */

/* With the lock held, class cls of c (this thread's armed cache) and the
   class's list both empty: a slab for this thread alone (docs/algorithm.md
   B.15).  Refill's count is raised to TC_SLAB_BYTES of whole magazines (at
   least loaded's and previous's, the depot's only while its room allows and
   its blocks hold two words), carved at once by chunk_alloc (A.7: the tail,
   else a new chunk); when that is refused, refill's own count is tried
   before giving up (a smaller chunk may fit the heap limit).  Block 0 goes
   to the caller; blocks 1..batch-1 are loaded, then whole magazines:
   previous, then the depot's; what is left goes onto the list, lowest
   first, as refill's blocks (before any a flush at 3.4 put there).  Every
   block is carved (counted, marked in the directory) and free: in the cache
   as any cached block.  NULL when memory is refused. */
static free_node *tc_carve(sgi_pool *p, tcache *c, size_t cls, size_t size)
{
    tc_class *k = &c->cls[cls];
    size_t batch = (size_t)k->top + 1, mag = batch * size;
    size_t mags = 2;
    if (size >= sizeof(depot_head) && TC_SLAB_BYTES / mag > mags) {
        size_t more = TC_SLAB_BYTES / mag - mags, room = c->depot_room / mag;
        mags += more < room ? more : room;
    }
    size_t nobjs = mags * batch > p->nobjs ? mags * batch : p->nobjs;
    char *chunk = carve_blocks(p, size, &nobjs); /* classic.c */
    if (chunk == NULL && nobjs > p->nobjs) {
        nobjs = p->nobjs;
        chunk = carve_blocks(p, size, &nobjs);
    }
    if (chunk == NULL)
        return NULL;
#define TC_BLOCK(i) ((free_node *)(void *)(chunk + (i) * size))
    /* (a flush at 3.4 may have emptied the cache and raised its room) */
    size_t left = nobjs - 1;
    size_t load = left < batch - 1 ? left : batch - 1;
    size_t whole = (left - load) / batch; /* full magazines carved after loaded */
    size_t depot = size >= sizeof(depot_head) ? c->depot_room / mag : 0;
    if (whole > 1 + depot)
        whole = 1 + depot;
    size_t cached = load + whole * batch;
    for (size_t i = 1; i < cached; i++)
        TC_BLOCK(i)->next = TC_BLOCK(i + 1);
    k->head = cached != 0 ? TC_BLOCK(1) : NULL;
    k->tail = load != 0 ? TC_BLOCK(load) : NULL;
    k->count = (uint32_t)load;
    k->prev_tail = whole != 0 ? TC_BLOCK(load + batch) : NULL;
    for (size_t j = 1; j < whole; j++) { /* the depot's magazines: their heads note their ends */
        ((depot_head *)(void *)TC_BLOCK(load + j * batch + 1))->tail =
            TC_BLOCK(load + (j + 1) * batch);
        c->depot_room -= mag;
    }
    if (cached != 0)
        TC_BLOCK(cached)->next = NULL;
    if (cached < left) /* the rest onto the list, lowest first */
        list_carved(p, cls, chunk, size, cached + 1, left);
#undef TC_BLOCK
    return (free_node *)(void *)chunk;
}

/* With the lock held, c this thread's armed cache for p (open): the
   exchanges.  An empty class takes a block from the list and up to
   batch - 1 more into the cache, or, when the list is empty too, a slab of
   its own (tc_carve, where SGI's refill would carve 20 blocks for the list);
   a push onto both full magazines first gives previous, the batch oldest,
   back whole. */
static free_node *tc_refill_locked(sgi_pool *p, tcache *c, size_t n)
{
    size_t cls = class_index(p, n);
    tc_class *k = &c->cls[cls];
    free_node *block = tc_pop(c, k, p); /* re-armed with blocks */
    if (block != NULL)
        return block;
    if ((block = pop_free(p, cls)) == NULL)
        return tc_carve(p, c, cls, round_up(p, n));
    /* the cache is empty: the taken blocks are loaded */
    free_node *head = p->free_list[cls];
    size_t want = k->top; /* batch - 1 */
    if (head != NULL && want != 0) {
        free_node *last = head, *next;
        uint32_t got = 1;
        while (got < want && (next = last->next) != NULL) {
            last = next;
            got++;
        }
        p->free_list[cls] = last->next;
        last->next = NULL;
        k->head = head;
        k->tail = last;
        k->count = got;
    }
    return block;
}

static void tc_give_back_locked(sgi_pool *p, tcache *c, free_node *node, size_t n)
{
    size_t cls = class_index(p, n);
    tc_class *k = &c->cls[cls];
    /* both magazines full and no depot room (the fast path's rule, so that
       which path runs never changes an address): previous goes back whole
       onto the list (the batch oldest when the depot is empty), and loaded
       becomes previous, followed by the depot */
    if (!tc_turn(c, k, p, node)) {
        free_node *give = k->tail->next;
        k->tail->next = k->prev_tail->next;
        k->prev_tail->next = p->free_list[cls];
        p->free_list[cls] = give;
        k->prev_tail = k->tail;
        k->count = 0;
        (void)tc_push(k, node);
    }
}

/* A cache revoked meanwhile (a flush by another thread: close, a refusal,
   introspection) is re-armed, as tc_take does, unless the pool is closed. */
static inline void tc_rearm(tcache *c)
{
    if (atomic_load_explicit(&c->owner, memory_order_relaxed) == BIAS_REVOKED)
        atomic_store_explicit(&c->owner, c->thread_id, memory_order_relaxed);
}

static NOINLINE void *tcache_refill(sgi_pool *p, tcache *c, size_t n)
{
    pool_lock(p);
    void *block;
    if (UNLIKELY(p->closed)) {
        block = allocate_locked(p, n); /* (refuses, as tcache_allocate_slow's) */
    } else {
        tc_rearm(c);
        block = tc_refill_locked(p, c, n);
    }
    pool_unlock(p);
    return block;
}

/* tcache_deallocate's push found both magazines full, c still entered:
   the depot with no lock and no second entry, else the give-back. */
static NOINLINE void tcache_push_full(sgi_pool *p, tcache *c, tc_class *k, free_node *node,
                                      size_t n)
{
    bool pushed = tc_depot_push(c, k, p);
    if (pushed) {
        k->prev_tail = k->tail; /* loaded becomes previous (tc_turn) */
        k->count = 0;
        (void)tc_push(k, node);
    }
    tc_leave(c);
    if (!pushed)
        tcache_give_back(p, c, node, n);
}

static NOINLINE void tcache_give_back(sgi_pool *p, tcache *c, free_node *node, size_t n)
{
    if (tcache_depot_push(p, node, n))
        return;
    pool_lock(p);
    if (LIKELY(!p->closed)) { /* a closed pool has no memory: nothing to free */
        tc_rearm(c);
        tc_give_back_locked(p, c, node, n);
    }
    pool_unlock(p);
}

/* No armed cache for p in this thread (none yet, revoked, or another pool
   in its slot): find, make or re-arm it under the lock. */
static NOINLINE void *tcache_allocate_slow(sgi_pool *p, size_t n)
{
    tcache *fresh;
    tcache *c = tc_lock_own(p, &fresh);
    void *block = c == NULL ? allocate_locked(p, n) : tc_refill_locked(p, c, n);
    pool_unlock(p);
    free(fresh);
    return block;
}

static NOINLINE void tcache_deallocate_slow(sgi_pool *p, free_node *node, size_t n)
{
    tcache *fresh;
    tcache *c = tc_lock_own(p, &fresh);
    if (p->closed) {
        /* a closed pool has no memory: nothing to free */
    } else if (c == NULL) {
        push_free(p, class_index(p, n), node);
    } else {
        tc_give_back_locked(p, c, node, n);
    }
    pool_unlock(p);
    free(fresh);
}

/* ---- close, destroy, fork ---------------------------------------------------- */

/* destroy: every cache goes back and is orphaned (its thread frees it). */
static void tcache_orphan_all(sgi_pool *p)
{
    if (p->cache_max == 0 && p->caches == NULL)
        return;
    fork_registry_lock();
    pool_lock(p);
    (void)tcache_flush_all(p, true);
    while (p->caches != NULL) {
        tcache *c = p->caches;
        tc_unlink(p, c);
        atomic_store_explicit(&c->pool, NULL, memory_order_release);
    }
    pool_unlock(p);
    fork_registry_unlock();
}

static sgi_pool *tc_pool_of_fork_entry(fork_entry *e)
{
    return (sgi_pool *)((char *)e - offsetof(sgi_pool, fork));
}

/* Before fork, with the lock held: no other thread is inside its cache. */
static void tc_before_fork(fork_entry *e)
{
    sgi_pool *p = tc_pool_of_fork_entry(e);
    uintptr_t self = bias_self_id();
    for (tcache *c = p->caches; c != NULL; c = c->pool_next)
        if (c->thread_id != self &&
            atomic_load_explicit(&c->owner, memory_order_relaxed) != BIAS_REVOKED)
            bias_revoke(&c->owner, &c->busy);
}

/* In the child, with the lock held: the other threads are gone, so their
   caches go back to the lists and are freed. */
static void tc_in_child(fork_entry *e)
{
    sgi_pool *p = tc_pool_of_fork_entry(e);
    uintptr_t self = bias_self_id();
    tcache *c = p->caches;
    while (c != NULL) {
        tcache *next = c->pool_next;
        if (c->thread_id != self) {
            tc_drain(p, c);
            tc_unlink(p, c);
            free(c);
        }
        c = next;
    }
}
