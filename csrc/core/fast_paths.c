/*
 * fast_paths.c -- the entry points allocate, deallocate and free with their
 * fast paths: A.5's step 2 and A.8's push alone, with no extras -- bare
 * (single-thread pools), by the owner of a biased pool with no atomic
 * (bias.h), or under an uncontended lock -- a few instructions each.  Every
 * other case goes to a named NOINLINE general path, which takes the lock
 * and runs classic.c.
 */

/* Unchecked pools without extras, under an uncontended lock: frees ptr when
   it is a small block of n's class (n 0: of any class) and returns true -- a
   carved block's start (not the tail's); held: one held block fewer.  False
   when it is not (or the lock is busy, or the pool is closed: it has no
   chunks); the general path then decides and reports.  With `foreign`
   (size-less status calls), an open pool also says there whether ptr is no
   block of the pool at all (in no chunk, not a large block): the caller's
   ENOTLIVE, without a second lock and lookup (the system's blocks that the
   PyMem hook and numpy's handler pass on).  (Checked pools: checked_free.) */
static ALWAYS_INLINE bool free_fast(sgi_pool *p, void *ptr, size_t n, bool held, bool *foreign)
{
    bool biased = false; /* the owner of a biased pool: no lock */
    if (p->thread_safe && !(biased = bias_enter(p)) && !pool_try_lock(p))
        return false;
    uintptr_t addr = (uintptr_t)ptr;
    dir_chunk *c = dir_find(&p->dir, addr);
    bool freed = false;
    if (LIKELY(c != NULL) && (addr != p->start_free || addr == p->end_free)) {
        size_t slot = dir_slot(&p->dir, c, addr);
        if (LIKELY(slot != SIZE_MAX && dir_starts_in(c, slot, false))) {
            size_t size = dir_extent_in(c, slot, false, p->align_shift);
            if (LIKELY(n == 0 || size == round_up(p, n))) {
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
    } else if (foreign != NULL && c == NULL && LIKELY(!p->closed)) {
        *foreign = block_table_find(&p->blocks, addr) == NULL;
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

/* How a fast path entered the pool (a constant in each copy of it). */
enum entry { ENTRY_BARE, ENTRY_BIASED, ENTRY_LOCKED };

static ALWAYS_INLINE void entry_leave(sgi_pool *p, enum entry e)
{
    if (e == ENTRY_BIASED)
        bias_leave(p);
    else if (e == ENTRY_LOCKED)
        pool_unlock_raw(p); /* (the validating build has no fast paths) */
}

/* ---- Checked pools without extras: allocate's fast path ---------------------
   The pop, and the block's live bit.  The fast free leaves per class where
   the live bit of the block it pushed is (pool_state.h's hints), so when
   the head is that block -- a free followed by an allocate of its class --
   the bit is set with no lookup; otherwise the directory finds the chunk. */

/* Forgets every hint (trim, close: the chunk a hint names may be gone). */
static void forget_hints(sgi_pool *p)
{
    for (size_t cls = 0; cls < DIR_LIVE_EXTENT; cls++)
        p->hint_block[cls] = HINT_NONE;
}

/* The head of list cls (not empty, the pool entered as e) is not the hinted
   block: its chunk from the directory, the pop, the live bit. */
static NOINLINE void *allocate_checked_lookup(sgi_pool *p, class_ref r, enum entry e)
{
    free_node *block = CLASS_AT(p, r, free_node *, free_list);
    dir_chunk *c = dir_find(&p->dir, (uintptr_t)block); /* a listed block: in a chunk */
    CLASS_AT(p, r, free_node *, free_list) = block->next;
    dir_set_live(c, (size_t)(((uintptr_t)block - c->base) >> p->align_shift));
    entry_leave(p, e);
    return block;
}

static ALWAYS_INLINE void *allocate_checked_in(sgi_pool *p, size_t n, enum entry e)
{
    class_ref r = p->checked_class[n]; /* class_index(p, n): n <= checked_max */
    free_node *block = CLASS_AT(p, r, free_node *, free_list);
    if (UNLIKELY(CLASS_AT(p, r, uintptr_t, hint_block) != (uintptr_t)block)) { /* (never NULL:
                                                                                 HINT_NONE) */
        if (UNLIKELY(block == NULL)) {
            entry_leave(p, e);
            return allocate_general(p, n);
        }
        /* the head's chunk from the directory's cache (no call), or the full lookup */
        dir_chunk *c = dir_find_cached(&p->dir, (uintptr_t)block);
        if (UNLIKELY(c == NULL))
            return allocate_checked_lookup(p, r, e);
        CLASS_AT(p, r, free_node *, free_list) = block->next;
        dir_set_live(c, (size_t)(((uintptr_t)block - c->base) >> p->align_shift));
        entry_leave(p, e);
        return block;
    }
    CLASS_AT(p, r, free_node *, free_list) = block->next;
    /* (the lock's holder alone writes) */
    dir_word_or(CLASS_AT(p, r, dir_word *, hint_word), CLASS_AT(p, r, uint64_t, hint_bit));
    entry_leave(p, e);
    return block;
}

/* The fast path of checked pools (no extras), entered by a biased pool's
   owner, bare, or under an uncontended lock; anything else: the general
   path. */
static NOINLINE void *allocate_checked(sgi_pool *p, size_t n)
{
    if (LIKELY(bias_enter(p))) /* the owner of a biased pool: no lock */
        return allocate_checked_in(p, n, ENTRY_BIASED);
    if (!p->thread_safe)
        return allocate_checked_in(p, n, ENTRY_BARE);
    if (LIKELY(pool_try_lock(p)))
        return allocate_checked_in(p, n, ENTRY_LOCKED);
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
        uintptr_t owner = bias_word(p);
        if (LIKELY(bias_enter_as(p, owner))) { /* the owner of a biased pool: no atomic */
            size_t cls = class_index(p, n);
            free_node *block = p->free_list[cls];
            if (LIKELY(block != NULL))
                p->free_list[cls] = block->next;
            bias_leave(p);
            if (LIKELY(block != NULL))
                return block;
        } else if (owner != BIAS_REVOKED) {
            /* switched to thread caches, or another thread than the owner of
               a thread-cache pool (whose slow path switches it).  Laid out
               so that the cached call takes no branch here (measured: one
               taken branch fewer per call, 5.7 -> 4.0 ns per FIFO pair;
               the instructions the same) */
            if (LIKELY(owner == BIAS_CACHED) || p->cache_max != 0)
                return tcache_allocate(p, n); /* thread_cache.c */
        } else if (LIKELY(spin_lock_try(&p->lock))) {
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
    }
    return allocate_general(p, n);
}

/* calloc: allocate, then zero the whole block (a small block's round_up(n)
   bytes, which usable_size reports, not only the n asked for).  Kept apart
   from sgi_pool_allocate so that its fast path stays as it is. */
void *sgi_pool_calloc(sgi_pool *p, size_t count, size_t size)
{
    REQUIRE(p != NULL);
    if (UNLIKELY(size != 0 && count > SIZE_MAX / size)) {
        last_refused = SIZE_MAX; /* count * size is no size_t: refused before any request */
        return NULL;
    }
    size_t n = count * size;
    void *block = sgi_pool_allocate(p, n);
    if (block != NULL)
        memset(block, 0, is_small(p, n) ? round_up(p, n) : n);
    return block;
}

/* Unchecked pools without extras: pushes ptr as a block of n bytes (A.8)
   and returns true, bare, by the bias owner or under an uncontended lock;
   false on a busy lock or a closed pool (the general path decides). */
static ALWAYS_INLINE bool push_fast(sgi_pool *p, void *ptr, size_t n)
{
    bool biased = false;
    if (p->thread_safe && !(biased = bias_enter(p)) && !pool_try_lock(p))
        return false;
    bool open = !p->closed;
    if (LIKELY(open)) {
        free_node *node = ptr;
        size_t cls = class_index(p, n);
        node->next = p->free_list[cls];
        p->free_list[cls] = node;
    }
    if (biased)
        bias_leave(p);
    else
        pool_unlock(p);
    return open;
}

/* The general paths of the frees (checked_calls.c, sizeless.c): the check
   under the lock, then classic.c; a status for every outcome. */
static int deallocate_general(sgi_pool *p, void *ptr, size_t n);
static int free_general(sgi_pool *p, void *ptr);

/* ---- Checked pools without extras: the frees' fast path ---------------------
   n: 0 (size-less), or a size below checked_max, which bounds blocks at
   DIR_LIVE_EXTENT granules.  The chunk comes from the directory's cache and
   the check (live, and of n's class) from one window of its bitmap, with one
   and and one compare (the pool's live_mask and live_expect), so the common
   case calls nothing; a cache miss takes checked_free_miss (the full
   lookup), and what neither frees, the general path decides and reports,
   changing nothing on a refusal.  A freed block leaves its class's hint
   (where its live bit is) for the allocate that takes it next. */

static inline int checked_free_general(sgi_pool *p, void *ptr, size_t n)
{
    if (ptr == NULL) /* (the status calls leave NULL to the checked paths: a no-op) */
        return SGI_POOL_OK;
    return n != 0 ? deallocate_general(p, ptr, n) : free_general(p, ptr);
}

/* With the pool entered (e) and ptr in chunk c: frees ptr when it is a live
   small block (of n's class when sized; n is 0 when not), its live bit
   cleared, and returns SGI_POOL_OK; otherwise the general path decides.
   Leaves the pool either way. */
static ALWAYS_INLINE int checked_free_slot(sgi_pool *p, void *ptr, size_t n, bool sized,
                                           dir_chunk *c, size_t slot, enum entry e)
{
    uintptr_t addr = (uintptr_t)ptr;
    class_ref r = sized ? p->checked_class[n] : 0; /* class_index(p, n): n <= checked_max */
    /* slot's start bit (its live bit: i + 1) */
    size_t i = slot * 2;
    dir_word *w = c->bits + (slot >> 5);
    uint64_t lo = dir_word_at(w, 0);
    uint64_t window = dir_window_of(lo, dir_word_at(w, 1), i);
    if (sized) {
        if (UNLIKELY((window & CLASS_AT(p, r, uint64_t, live_mask)) !=
                     CLASS_AT(p, r, uint64_t, live_expect)))
            goto refuse;
    } else {
        size_t cls = dir_window_live_extent(window) - 1; /* 0 granules: SIZE_MAX */
        if (UNLIKELY(cls == SIZE_MAX))
            goto refuse;
        r = CLASS_REF(p, cls);
    }
    uint64_t bit = dir_live_bit(i); /* the live bit, set: the xor clears it */
    dir_word_xor(w, bit); /* (the lock's holder alone writes; lo is not kept) */
    free_node *node = ptr;
    node->next = CLASS_AT(p, r, free_node *, free_list);
    CLASS_AT(p, r, free_node *, free_list) = node;
    CLASS_AT(p, r, uintptr_t, hint_block) = addr;
    CLASS_AT(p, r, dir_word *, hint_word) = w;
    CLASS_AT(p, r, uint64_t, hint_bit) = bit;
    entry_leave(p, e);
    return SGI_POOL_OK;
refuse:
    entry_leave(p, e);
    return checked_free_general(p, ptr, n);
}

/* checked_free_slot for ptr in chunk c, found by the full lookup: its
   granule when ptr is aligned, else the general path. */
static ALWAYS_INLINE int checked_free_at(sgi_pool *p, void *ptr, size_t n, bool sized,
                                         dir_chunk *c, enum entry e)
{
    uintptr_t off = (uintptr_t)ptr - c->base;
    if (UNLIKELY((off & (p->align - 1)) != 0)) {
        entry_leave(p, e);
        return checked_free_general(p, ptr, n);
    }
    return checked_free_slot(p, ptr, n, sized, c, (size_t)(off >> p->align_shift), e);
}

/* The cache's first two ways did not know ptr's chunk (the pool entered):
   its other ways (no call: small early chunks, more than two to a page),
   else the full lookup, which fills the cache.  In no chunk and no large block: ENOTLIVE at once,
   without a second lock (the system's blocks that the PyMem hook and numpy's
   handler pass on). */
static NOINLINE int checked_free_miss(sgi_pool *p, void *ptr, size_t n, enum entry e)
{
    if (ptr == NULL) { /* (in no chunk: the callers' NULL, a no-op, comes here) */
        entry_leave(p, e);
        return SGI_POOL_OK;
    }
    uintptr_t addr = (uintptr_t)ptr;
    size_t slot; /* the cache's other ways first (no call) */
    dir_chunk *c = dir_find_cached_slot_far(&p->dir, addr, p->align_shift, &slot);
    if (c != NULL)
        return checked_free_slot(p, ptr, n, n != 0, c, slot, e);
    c = dir_find_slow(&p->dir, addr);
    if (c != NULL)
        return checked_free_at(p, ptr, n, n != 0, c, e);
    bool foreign = !p->closed && block_table_find(&p->blocks, addr) == NULL;
    entry_leave(p, e);
    return foreign ? SGI_POOL_ENOTLIVE : checked_free_general(p, ptr, n);
}

static ALWAYS_INLINE int checked_free_in(sgi_pool *p, void *ptr, size_t n, bool sized,
                                         enum entry e)
{
    size_t slot;
    dir_chunk *c = dir_find_cached_slot(&p->dir, (uintptr_t)ptr, p->align_shift, &slot);
    if (UNLIKELY(c == NULL)) /* (a misaligned ptr too: the miss path refuses it) */
        return checked_free_miss(p, ptr, n, e);
    return checked_free_slot(p, ptr, n, sized, c, slot, e);
}

/* Checked pools' free of ptr, sized (n below checked_max) or not (n 0): the
   status of the call.  NULL, which is in no chunk, reaches the miss path or
   the general one, which return SGI_POOL_OK for it (so the callers need no
   test of their own). */
static ALWAYS_INLINE int checked_free(sgi_pool *p, void *ptr, size_t n, bool sized)
{
    if (LIKELY(bias_enter(p))) /* the owner of a biased pool: no lock */
        return checked_free_in(p, ptr, n, sized, ENTRY_BIASED);
    if (!p->thread_safe)
        return checked_free_in(p, ptr, n, sized, ENTRY_BARE);
    if (LIKELY(pool_try_lock(p)))
        return checked_free_in(p, ptr, n, sized, ENTRY_LOCKED);
    return checked_free_general(p, ptr, n);
}

static NOINLINE int checked_deallocate(sgi_pool *p, void *ptr, size_t n)
{
    return checked_free(p, ptr, n, true);
}

/* The same for sgi_pool_deallocate, which has no status to return (one
   instruction fewer on its path). */
static NOINLINE void checked_deallocate_void(sgi_pool *p, void *ptr, size_t n)
{
    (void)checked_free(p, ptr, n, true);
}

static NOINLINE int checked_free_sizeless(sgi_pool *p, void *ptr)
{
    return checked_free(p, ptr, 0, false);
}

/* What sgi_pool_deallocate's fast paths (checked pools' included) left: the
   general path (whose status a void deallocate ignores). */
static NOINLINE void deallocate_slow(sgi_pool *p, void *ptr, size_t n)
{
    if (ptr != NULL)
        (void)deallocate_general(p, ptr, n);
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
        uintptr_t owner = bias_word(p);
        if (LIKELY(bias_enter_as(p, owner))) { /* the owner of a biased pool: no atomic */
            size_t cls = class_index(p, n);
            if (LIKELY(!p->closed)) {
                node->next = p->free_list[cls];
                p->free_list[cls] = node;
            }
            bias_leave(p);
            return;
        }
        if (owner != BIAS_REVOKED) { /* as in sgi_pool_allocate, laid out alike */
            if (LIKELY(owner == BIAS_CACHED) || p->cache_max != 0) {
                tcache_deallocate(p, node, n); /* thread_cache.c */
                return;
            }
        } else if (LIKELY(spin_lock_try(&p->lock))) {
            size_t cls = class_index(p, n);
            if (LIKELY(!p->closed)) {
                node->next = p->free_list[cls];
                p->free_list[cls] = node;
            }
            pool_unlock_raw(p);
            return;
        }
    } else if (LIKELY(n - 1 < p->checked_max)) {
        /* a tail call: checked pools' fast path (NULL is in no chunk nor the
           large-block table: checked_free_miss refuses it, changing nothing) */
        checked_deallocate_void(p, ptr, n);
        return;
    }
    deallocate_slow(p, ptr, n); /* a tail call, as before the directory */
}

/* Thread-cache pools: a size-less free that the unlocked path left unclear
   (known SIZE_MAX), or whose class is full (known: the size it found).
   Under the lock the directory decides as in free_general; a small block
   then goes to this thread's cache (which the slow push makes or re-arms),
   anything else to free_general, which reports. */
static NOINLINE int tcache_free_slow(sgi_pool *p, void *ptr, size_t known)
{
    if (known == SIZE_MAX) {
        pool_lock(p);
        bool closed = p->closed;
        known = closed ? 0 : known_size(p, ptr);
        pool_unlock(p);
        if (known == 0) /* free_general's answer, without a second lock (foreign frees) */
            return closed ? SGI_POOL_ECLOSED : SGI_POOL_ENOTLIVE;
    }
    if (known - 1 >= p->cache_max) /* a large block */
        return free_general(p, ptr);
    if (tcache_depot_push(p, ptr, known)) /* both magazines full: the depot, no lock */
        return SGI_POOL_OK;
    tcache_deallocate_slow(p, ptr, known);
    return SGI_POOL_OK;
}

/* Thread-cache pools where free_fast did not free (switched to the caches,
   or not the bias owner): the push into this thread's cache with no lock
   (thread_cache.c), else tcache_free_slow. */
static ALWAYS_INLINE int tcache_free(sgi_pool *p, void *ptr)
{
    size_t known = tcache_free_unlocked(p, ptr);
    return LIKELY(known == 0) ? SGI_POOL_OK : tcache_free_slow(p, ptr, known);
}

/* ---- Unchecked pools without extras: the size-less frees' fast path --------
   (sgi_pool_free, sgi_pool_free_checked: the PyMem hook's every free.)  The
   chunk comes from the directory's cache and the class from one window of
   its bitmap (dir_start_granules), with no call: every way out but the push
   is a tail call to a NOINLINE function, so the fast path saves no
   registers.  It frees exactly the blocks free_fast(p, ptr, 0, ..) frees, on
   the same list. */

/* With the pool entered and addr in chunk c: the class of the carved block
   starting at addr, or SIZE_MAX (not granule-aligned, no block's start, or
   the start of the non-empty uncarved tail). */
static ALWAYS_INLINE size_t carved_class(const sgi_pool *p, const dir_chunk *c, uintptr_t addr)
{
    uintptr_t off = addr - c->base;
    if (UNLIKELY((off & (p->align - 1)) != 0) ||
        UNLIKELY(addr == p->start_free && addr != p->end_free))
        return SIZE_MAX;
    return dir_start_granules(c, (size_t)(off >> p->align_shift)) - 1; /* 0 granules: SIZE_MAX */
}

/* A size-less free in a pool switched to thread caches (the owner word
   BIAS_CACHED, so cache_max != 0): this thread's cache, as
   sizeless_free_rest would reach it, without its tests. */
static NOINLINE int sizeless_free_cached(sgi_pool *p, void *ptr)
{
    return tcache_free(p, ptr);
}

/* What the fast path did not free (the pool left, nothing changed): this
   thread's cache, or the general path; `foreign` (in no chunk and no large
   block of an open pool) is ENOTLIVE at once, without a second lock and
   lookup (the system's blocks that the PyMem hook and numpy's handler pass
   on). */
static NOINLINE int sizeless_free_rest(sgi_pool *p, void *ptr, bool foreign)
{
    if (p->cache_max != 0 && !foreign) /* the same block, the same cache */
        return tcache_free(p, ptr);
    return foreign ? SGI_POOL_ENOTLIVE : free_general(p, ptr);
}

/* The cache did not know ptr's chunk, or the window no class (the pool
   entered): the full lookup, which fills the cache. */
static NOINLINE int sizeless_free_miss(sgi_pool *p, void *ptr, enum entry e)
{
    uintptr_t addr = (uintptr_t)ptr;
    dir_chunk *c = dir_find(&p->dir, addr);
    bool foreign = false;
    if (c != NULL) {
        size_t cls = carved_class(p, c, addr);
        if (LIKELY(cls != SIZE_MAX)) {
            free_node *node = ptr;
            node->next = p->free_list[cls];
            p->free_list[cls] = node;
            entry_leave(p, e);
            return SGI_POOL_OK;
        }
    } else {
        foreign = !p->closed && block_table_find(&p->blocks, addr) == NULL;
    }
    entry_leave(p, e);
    return sizeless_free_rest(p, ptr, foreign);
}

/* The pool entered (e): the cache's chunk, the class from one window of
   its bitmap, the push; anything else to sizeless_free_miss. */
/* The push of a size-less free when the cache knows ptr's chunk and the
   start bits show a carved block no longer than the window (not the tail's
   start): true when pushed; false changes nothing (the caller's miss path
   decides).  Shared with csrc/core/forward.c's hook free. */
static ALWAYS_INLINE bool sizeless_push(sgi_pool *p, void *ptr)
{
    uintptr_t addr = (uintptr_t)ptr;
    dir_chunk *c = dir_find_cached(&p->dir, addr);
    if (UNLIKELY(c == NULL))
        return false;
    uintptr_t off = addr - c->base;
    if (UNLIKELY((off & (p->align - 1)) != 0) ||
        UNLIKELY(addr == p->start_free && addr != p->end_free))
        return false;
    /* dir_start_granules, its long case left to the miss path */
    uint64_t window = dir_start_window(c, (size_t)(off >> p->align_shift));
    uint64_t later = window >> 1; /* the next slots' start bits: the first is the block's end */
    if (UNLIKELY(!(window & 1) || later == 0))
        return false;
    size_t cls = dir_ctz(later);
    free_node *node = ptr;
    node->next = p->free_list[cls];
    p->free_list[cls] = node;
    return true;
}

static ALWAYS_INLINE int sizeless_free_in(sgi_pool *p, void *ptr, enum entry e)
{
    if (UNLIKELY(!sizeless_push(p, ptr)))
        return sizeless_free_miss(p, ptr, e);
    entry_leave(p, e);
    return SGI_POOL_OK;
}

/* Thread-safe unchecked pools without extras (locked_max): the size-less
   free of ptr (not NULL) by the bias owner or under an uncontended lock; its
   status.  (Bare pools, plain_max: sizeless_free_in(.., ENTRY_BARE).) */
static ALWAYS_INLINE int sizeless_free_locked(sgi_pool *p, void *ptr)
{
    uintptr_t owner = bias_word(p);
    if (LIKELY(bias_enter_as(p, owner))) /* the owner of a biased pool: no lock */
        return sizeless_free_in(p, ptr, ENTRY_BIASED);
    if (LIKELY(owner == BIAS_REVOKED && spin_lock_try(&p->lock))) /* pool_try_lock */
        return sizeless_free_in(p, ptr, ENTRY_LOCKED);
    if (owner == BIAS_CACHED) /* switched to the caches: this thread's, at once */
        return sizeless_free_cached(p, ptr);
    return sizeless_free_rest(p, ptr, false);
}

void sgi_pool_free(sgi_pool *p, void *ptr)
{
    REQUIRE(p != NULL);
    /* Fast paths (no extras): find the block's size, push. */
    if (LIKELY(p->plain_max != 0 && ptr != NULL)) {
        (void)sizeless_free_in(p, ptr, ENTRY_BARE);
        return;
    } else if (LIKELY(p->locked_max != 0 && ptr != NULL)) {
        (void)sizeless_free_locked(p, ptr);
        return;
    } else if (LIKELY(p->checked_max != 0)) {
        (void)checked_free_sizeless(p, ptr); /* (NULL: a no-op there) */
        return;
    }
    if (ptr != NULL)
        (void)free_general(p, ptr);
}

/* The status-returning frees take the fast paths of their void twins: a
   block those paths accept is one the general path would free with
   SGI_POOL_OK (the same checks, on the same directory); everything else,
   a refusal included, is decided there and changes nothing. */
NOINLINE int sgi_pool_deallocate_checked(sgi_pool *p, void *ptr, size_t n)
{
    REQUIRE(p != NULL);
    if (LIKELY(n - 1 < p->unchecked_max)) {
        if (ptr == NULL)
            return SGI_POOL_OK;
        if (LIKELY(push_fast(p, ptr, n)))
            return SGI_POOL_OK;
    } else if (LIKELY(n - 1 < p->checked_max)) {
        return checked_deallocate(p, ptr, n); /* (NULL: SGI_POOL_OK there) */
    } else if (ptr == NULL) {
        return SGI_POOL_OK;
    }
    return deallocate_general(p, ptr, n);
}

int sgi_pool_free_checked(sgi_pool *p, void *ptr)
{
    REQUIRE(p != NULL);
    /* as sgi_pool_free: the same block, the same list */
    if (LIKELY(p->plain_max != 0))
        return ptr == NULL ? SGI_POOL_OK : sizeless_free_in(p, ptr, ENTRY_BARE);
    if (LIKELY(p->locked_max != 0))
        return ptr == NULL ? SGI_POOL_OK : sizeless_free_locked(p, ptr);
    if (LIKELY(p->checked_max != 0))
        return checked_free_sizeless(p, ptr); /* (NULL: SGI_POOL_OK there) */
    return ptr == NULL ? SGI_POOL_OK : free_general(p, ptr);
}
