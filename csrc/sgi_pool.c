/*
 * sgi_pool.c -- the SGI STL node allocator ("second level"), as instances.
 *
 * Design
 * ------
 * Small requests (1..max_small bytes) are rounded up to a multiple of align
 * and served from one singly linked free list per size class.  A free block
 * holds the list's "next" pointer in its first word; there is no header, so
 * the caller passes the size back on free.  With the classic profile:
 *
 *     request bytes   block size   class index
 *         1..8             8            0
 *         9..16           16            1
 *          ...            ...          ...
 *       121..128         128           15
 *
 * An empty list is refilled with `refill` blocks carved from the current
 * chunk, the uncarved tail [start_free, end_free) of the last memory obtained
 * from the system.  When the tail cannot hold even one block, a new chunk of
 * 2 * request + round_up(heap_size / 16) bytes is obtained; the old tail (a
 * multiple of align, smaller than the request) goes to the list of its own
 * size.  When the system refuses, a free block of the requested size or
 * larger becomes the current chunk ("salvage").  Requests above max_small go
 * to malloc ("first level").
 *
 * The functions below follow docs/algorithm.md in its order: first level
 * (system requests), chunk_alloc, refill, allocate, deallocate, reallocate;
 * the step numbers in comments are that document's.
 *
 * What this adds to SGI (Part B of the document): every chunk and every live
 * large block is recorded, so destroy returns all memory; an optional heap
 * limit refuses system requests deterministically; a block directory beside
 * the chunks (block_directory.h: a bit per align granule where a carved
 * block starts, and in checked mode one where a live block starts) answers
 * size-less frees and ownership queries and lets checked mode refuse bad
 * frees -- it only observes: the layout and every address stay SGI's; live
 * large blocks are in a hash table (block_table.h); thread-safe mode
 * takes a spin lock (test-and-test-and-set) around each call; thread-safe
 * pools are locked across fork() so a child never inherits a held lock; an
 * optional debug fill paints new and freed blocks; and where Valgrind's
 * headers exist, its memory-pool client requests tell memcheck which blocks
 * are live (no cost outside Valgrind: each request is a few no-op
 * instructions).
 *
 * States of a block: uncarved (inside [start_free, end_free)), free (on a free
 * list), live (handed out).  A block moves uncarved -> live or free in refill,
 * free -> live in allocate, live -> free in deallocate; a free block becomes
 * uncarved again only through salvage.  Nothing is ever returned to the
 * system before destroy, except large blocks.
 */
#include "sgi_pool.h"
#include "block_directory.h"
#include "block_table.h"
#include "spin_lock.h"
#include "fork_registry.h"
#include "bias.h"

#include <assert.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "track.h"

#if defined(__GNUC__)
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define NOINLINE __attribute__((noinline)) /* keeps slow paths out of fast ones */
#define ALWAYS_INLINE __attribute__((always_inline)) inline
#else
#define ALWAYS_INLINE inline
#define LIKELY(x) (x)
#define UNLIKELY(x) (x)
#define NOINLINE
#endif

/* Arguments the header says must not be NULL: documented undefined behaviour
   in release builds (as for malloc's own entry points), an assert in debug
   builds (NDEBUG undefined) so that the mistake shows where it is made. */
#ifdef SGI_POOL_VALIDATE
#define SGI_POOL_VALIDATING 1
#else
#define SGI_POOL_VALIDATING 0
#endif

#define REQUIRE(cond) assert((cond) && "sgi_pool: argument must not be NULL (see sgi_pool.h)")

/* ---- Tunables and their invariants --------------------------------------- */

_Static_assert(SGI_POOL_DEFAULT_MAX_SMALL % SGI_POOL_DEFAULT_ALIGN == 0,
               "max_small must be a multiple of align");
_Static_assert(SGI_POOL_DEFAULT_ALIGN >= sizeof(void *),
               "a free block must hold the next pointer");
_Static_assert((uint64_t)SGI_POOL_MAX_MAX_SMALL * SGI_POOL_MAX_REFILL * 4 < SIZE_MAX / 2,
               "a chunk request must fit a size_t");


/* Marks a table entry during a batch free's check pass; real sizes never
   have the top bit (requests above PTRDIFF_MAX are refused). */
#define PENDING_MARK ((size_t)1 << (sizeof(size_t) * 8 - 1))

/* Debug fill bytes, as CPython's debug allocator: fresh and dead memory. */
#define CLEAN_BYTE 0xCD
#define DEAD_BYTE 0xDD

/* Invariants of a pool between calls, walked by pool_is_valid() in builds
   with -DSGI_POOL_VALIDATE (scripts/sanitize.sh makes one):
     V1  heap_size is the sum of the recorded chunks' sizes;
     V2  the current chunk [start_free, end_free) is empty or lies inside one
         recorded chunk, and start_free is a multiple of align;
     V3  every free list is no longer than the blocks carved for its class,
         and ends (no cycle);
     V4  every free block lies in a chunk, starts a carved block of its
         class's size (the directory agrees) and is not live (checked pools);
     V5  no block is on two lists or twice on one;
     V6  checked pools: per class, live blocks plus free blocks are the
         blocks carved;
     V7  the large-block table holds large_live blocks of large_bytes bytes. */
#ifdef SGI_POOL_VALIDATE
#define VALIDATE_EVERY 64  /* past the first VALIDATE_FULL calls of a pool: a sample */
#define VALIDATE_FULL 2048 /* calls of a pool that are all checked */
#endif

/* ---- The pool ------------------------------------------------------------- */

typedef union free_node {
    union free_node *next; /* SGI's "union obj": the link lives in the block */
} free_node;

typedef struct chunk_record {
    uintptr_t base; /* as returned by malloc */
    size_t size;    /* bytes_to_get of that request */
} chunk_record;

struct sgi_pool {
    /* Options, fixed at creation. */
    size_t align;         /* 8 or 16 */
    unsigned align_shift; /* log2(align) */
    size_t max_bytes;     /* max_small: largest request served by the lists */
    size_t nobjs;         /* refill count */
    size_t nlists;        /* max_bytes / align */
    bool thread_safe;     /* take `lock` around every call */
    bool checked;         /* record live small blocks in `blocks` */
    bool debug_fill;      /* paint new blocks CLEAN_BYTE, freed ones DEAD_BYTE */
    bool closed;          /* memory returned; every call fails */
#ifdef SGI_POOL_VALIDATE
    size_t validations;   /* calls seen by pool_unlock's check */
#endif
    /* Fast paths of allocate/deallocate (a pop or push with no extras): the
       sizes each may serve, 0 when it is off.  Checked mode, debug fill,
       Valgrind and ASan take the general path. */
    size_t plain_max;     /* max_bytes for unlocked pools */
    size_t locked_max;    /* max_bytes for thread-safe pools (uncontended lock) */
    size_t checked_max;   /* max_bytes for checked pools without other extras */
    atomic_int lock;      /* spin lock: 0 free, 1 held */
    /* Biased ownership (bias.h): the owner's thread id, BIAS_UNOWNED or
       BIAS_REVOKED (locked pools only ever move UNOWNED -> id -> REVOKED, the
       first two steps under the lock); busy is raised by the owner around
       its unlocked pops and pushes. */
    _Atomic uintptr_t bias_owner;
    atomic_int bias_busy;
    fork_entry fork;      /* thread-safe pools: locked across fork (fork_registry.h) */

    /* The classic state (Part A). */
    uintptr_t start_free; /* uncarved tail of the current chunk; 0 = none */
    uintptr_t end_free;   /* its end; equal to start_free when empty */
    size_t heap_size;     /* bytes of every chunk ever obtained */

    /* Records and limits (Part B). */
    size_t heap_limit;     /* 0 = no limit */
    chunk_record *chunks;  /* every chunk, in acquisition order */
    size_t nchunks;        /* records used */
    size_t chunks_cap;     /* records allocated */
    block_table blocks;    /* live large blocks */
    block_directory dir;   /* block starts per chunk; live small blocks if checked */
    size_t large_live;     /* live blocks above max_bytes */
    size_t large_bytes;    /* their recorded sizes */
    size_t requests_granted;
    size_t requests_refused;
    size_t salvages;
    size_t *carved;        /* per class: blocks made (refill, leftover) minus salvaged */

    /* Held blocks (sgi_pool_allocate_held): numpy's arrays may outlive close(). */
    size_t held;           /* live held blocks */
    struct sgi_pool *retired; /* room for a copy of the pool, reserved by the first held
                                 allocation so that close() cannot fail; after a close()
                                 under live held blocks it holds the memory (retire) */
    bool retired_live;     /* the room holds the memory of a closed pool */
    free_node *free_list[]; /* nlists heads, then nlists `carved` counters */
};

/* Size of the system request this thread last saw refused. */
static _Thread_local size_t last_refused;

/* Memory held from the system by all pools of the process. */
static atomic_size_t total_blocks;
static atomic_size_t total_bytes;

/* ---- Locking (spin_lock.h) ----------------------------------------------- */

/* With the lock held: the first thread to lock a biased pool becomes its
   owner; any other revokes the bias (once; the pool is locked from then on). */
static NOINLINE void bias_settle(sgi_pool *p)
{
    uintptr_t owner = atomic_load_explicit(&p->bias_owner, memory_order_relaxed);
    uintptr_t self = bias_self_id();
    if (owner == BIAS_UNOWNED)
        atomic_store_explicit(&p->bias_owner, self, memory_order_relaxed);
    else if (owner != self)
        bias_revoke(&p->bias_owner, &p->bias_busy);
}

static inline bool bias_revoked(const sgi_pool *p)
{
    return atomic_load_explicit(&p->bias_owner, memory_order_relaxed) == BIAS_REVOKED;
}

static inline void pool_lock(sgi_pool *p)
{
    if (p->thread_safe) {
        spin_lock_acquire(&p->lock);
        if (UNLIKELY(!bias_revoked(p)))
            bias_settle(p);
    }
}

/* One attempt, for the fast paths: on failure they take the general path,
   which waits in pool_lock (so nothing stays live across a call).  Fails
   while the pool is biased: pool_lock settles the bias first. */
static inline bool pool_try_lock(sgi_pool *p)
{
    return bias_revoked(p) && spin_lock_try(&p->lock);
}

/* The owner's side of bias.h's handshake: raises busy and reports whether
   this thread still owns p (if not, busy is lowered again).  The signal
   fence keeps the compiler from moving the re-check above the store; the
   revoker's membarrier makes it a full fence on the CPU. */
static inline bool bias_enter(sgi_pool *p)
{
    uintptr_t self = bias_thread_id;
    if (UNLIKELY(atomic_load_explicit(&p->bias_owner, memory_order_relaxed) != self))
        return false;
    atomic_store_explicit(&p->bias_busy, 1, memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst);
    if (LIKELY(atomic_load_explicit(&p->bias_owner, memory_order_relaxed) == self))
        return true;
    atomic_store_explicit(&p->bias_busy, 0, memory_order_release);
    return false;
}

static inline void bias_leave(sgi_pool *p)
{
    atomic_store_explicit(&p->bias_busy, 0, memory_order_release);
}

static inline void pool_unlock_raw(sgi_pool *p)
{
    spin_lock_release(&p->lock);
}

#ifdef SGI_POOL_VALIDATE
static void validate_or_abort(sgi_pool *p);
#endif

static inline void pool_unlock(sgi_pool *p)
{
#ifdef SGI_POOL_VALIDATE
    validate_or_abort(p); /* every call ends here: the fast paths are off in this build */
#endif
    if (p->thread_safe)
        pool_unlock_raw(p);
}

/* ---- Size classes ---------------------------------------------------------- */

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

/* ---- First level: system requests ----------------------------------------- */

static inline size_t held(const sgi_pool *p)
{
    return p->heap_size + p->large_bytes;
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

/* ---- chunk_alloc(size, nobjs) ---------------------------------------------- */

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
            return result;
        }
        if (left >= size) { /* 2. the tail holds at least one */
            *nobjs = left / size;
            p->start_free += size * *nobjs;
            return result;
        }

        /* 3. a new chunk is needed */
        if (UNLIKELY(!reserve_chunk_record(p))) {
            last_refused = 0; /* our bookkeeping, not the system request */
            return NULL;
        }
        size_t bytes_to_get = 2 * total + round_up(p, p->heap_size >> 4); /* 3.1 */
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
            /* 3.4: salvage a free block of this size or larger */
            bool salvaged = false;
            for (size_t i = size; i <= p->max_bytes; i += p->align) {
                size_t cls = class_index(p, i);
                free_node *head = pop_free(p, cls);
                if (head != NULL) {
                    p->carved[cls]--;
                    p->start_free = (uintptr_t)head;
                    p->end_free = (uintptr_t)head + i;
                    p->salvages++;
                    salvaged = true;
                    break;
                }
            }
            if (salvaged)
                continue; /* the recursion: takes branch 1 or 2 */
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

/* ---- refill(size) ----------------------------------------------------------- */

/* Returns one block of `size` bytes (a multiple of align) and puts the other
   blocks carved with it on the (empty) free list of that size; NULL when
   memory is refused. */
static void *refill(sgi_pool *p, size_t size)
{
    size_t nobjs = p->nobjs; /* 1 */
    char *chunk = chunk_alloc(p, size, &nobjs);
    if (chunk == NULL)
        return NULL;
    size_t cls = class_index(p, size);
    p->carved[cls] += nobjs;
    dir_mark_carved(&p->dir, (uintptr_t)chunk, size, nobjs);
    if (nobjs == 1) /* 2 */
        return chunk;

    /* 3. blocks 1..nobjs-1 become the list, lowest address at the head */
    assert(p->free_list[cls] == NULL);
    free_node *node = (free_node *)(chunk + size);
    p->free_list[cls] = node;
    for (size_t k = 2; k < nobjs; k++) {
        free_node *next = (free_node *)(chunk + k * size);
        write_link(node, next);
        node = next;
    }
    write_link(node, NULL);
    return chunk;
}

/* ---- What the directory knows of an address ----------------------------------- */

/* Checked pools: the size of the live small block at ptr, or 0. */
static inline size_t live_small_size(sgi_pool *p, const void *ptr)
{
    if (!p->checked)
        return 0;
    dir_chunk *c = dir_find(&p->dir, (uintptr_t)ptr);
    if (c == NULL)
        return 0;
    size_t slot = dir_slot(&p->dir, c, (uintptr_t)ptr);
    if (slot == SIZE_MAX || !dir_is_live(c, slot))
        return 0;
    return dir_extent(&p->dir, c, slot);
}

/* The size of the carved block (live or free) starting at ptr in chunk c,
   or 0: not a block start, or the start of the (non-empty) uncarved tail. */
static inline size_t carved_size(const sgi_pool *p, const dir_chunk *c, const void *ptr)
{
    uintptr_t addr = (uintptr_t)ptr;
    if (addr == p->start_free && addr != p->end_free)
        return 0;
    size_t slot = dir_slot(&p->dir, c, addr);
    if (slot == SIZE_MAX || !dir_starts(&p->dir, c, slot))
        return 0;
    return dir_extent(&p->dir, c, slot);
}

/* What a size-less call knows of ptr: a small block's size (checked: a live
   block; unchecked: a carved block's start), or a large block's recorded
   size; 0 when it is no block of this pool. */
static size_t known_size(sgi_pool *p, const void *ptr)
{
    dir_chunk *c = dir_find(&p->dir, (uintptr_t)ptr);
    if (c != NULL)
        return p->checked ? live_small_size(p, ptr) : carved_size(p, c, ptr);
    const block_entry *e = block_table_find(&p->blocks, (uintptr_t)ptr);
    return e ? e->size & ~PENDING_MARK : 0;
}

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

/* ---- allocate(n) ------------------------------------------------------------- */

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

/* Marks a small block live: for memcheck, the checked-mode record, the fill. */
static void small_block_born(sgi_pool *p, void *block, size_t n)
{
    BLOCK_BORN(p, block, round_up(p, n));
    if (p->checked)
        dir_mark_live(&p->dir, block);
    if (UNLIKELY(p->debug_fill))
        memset(block, CLEAN_BYTE, round_up(p, n));
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
    small_block_born(p, block, n);
    return block;
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
    }
    return allocate_general(p, n);
}

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
    /* Unchecked pools without extras take whole runs off the free list. */
    bool bare = n - 1 < (p->plain_max | p->locked_max);
    size_t cls = bare ? class_index(p, n) : 0;
    while (done < count) {
        if (bare) {
            free_node *block = p->free_list[cls];
            for (; block != NULL && done < count; block = block->next)
                out[done++] = block;
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

/* ---- deallocate(p, n) --------------------------------------------------------- */

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

/* Frees a block that check_block accepted. */
static void free_block(sgi_pool *p, void *ptr, size_t n)
{
    if (LIKELY(is_small(p, n))) {
        if (p->checked)
            dir_unmark_live(&p->dir, ptr);
        if (UNLIKELY(p->debug_fill)) /* the link word is written next */
            memset((char *)ptr + sizeof(free_node), DEAD_BYTE,
                   round_up(p, n) - sizeof(free_node));
        BLOCK_DIED(p, ptr, round_up(p, n));
        push_free(p, class_index(p, n), ptr);
        return;
    }
    block_entry *e = block_table_find(&p->blocks, (uintptr_t)ptr);
    size_t recorded = e->size & ~PENDING_MARK;
    block_table_remove(&p->blocks, e);
    p->large_live--;
    p->large_bytes -= recorded;
    system_release(ptr, recorded);
}

static int deallocate_locked(sgi_pool *p, void *ptr, size_t n)
{
    size_t usable;
    int status = check_block(p, ptr, n, &usable);
    if (status == SGI_POOL_OK)
        free_block(p, ptr, n);
    return status;
}

NOINLINE int sgi_pool_deallocate_checked(sgi_pool *p, void *ptr, size_t n)
{
    REQUIRE(p != NULL);
    if (ptr == NULL)
        return SGI_POOL_OK;
    if (n == 0)
        return SGI_POOL_EINVAL;
    pool_lock(p);
    int status = deallocate_locked(p, ptr, n);
    pool_unlock(p);
    return status;
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
    deallocate_slow(p, ptr, n); /* a tail call, as before the directory */
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

/* Marks ptrs[i], a block of this pool, so that a later duplicate shows: a
   live small block (checked pools) loses its live bit, a large block's entry
   gets PENDING_MARK.  In unchecked pools a small block must start a carved
   block and gets no mark (a duplicate there is the caller's fault).  Returns
   OK, ENOTLIVE or EDUPLICATE (then nothing was marked for this entry). */
static int mark_pending(sgi_pool *p, void *const *ptrs, size_t i)
{
    uintptr_t addr = (uintptr_t)ptrs[i];
    dir_chunk *c = dir_find(&p->dir, addr);
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
    if (p->checked || !is_small(p, n)) {
        /* Check pass: mark each entry so that a duplicate shows. */
        size_t usable;
        for (; i < count; i++) {
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
                status = mark_pending(p, ptrs, i);
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
    if (n - 1 < (p->plain_max | p->locked_max)) { /* unchecked, no extras: pushes */
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

/* ---- Size-less calls: the directory supplies the size ------------------------------ */

int sgi_pool_free_checked(sgi_pool *p, void *ptr)
{
    REQUIRE(p != NULL);
    if (ptr == NULL)
        return SGI_POOL_OK;
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
    for (; i < count && status == SGI_POOL_OK; i++) /* check pass, as deallocate_many */
        if (ptrs[i] != NULL || p->checked)
            status = ptrs[i] ? mark_pending(p, ptrs, i) : SGI_POOL_ENOTLIVE;
    if (status != SGI_POOL_OK) {
        unmark_pending(p, ptrs, i - 1);
        *bad_index = i - 1;
        pool_unlock(p);
        return status;
    }
    for (i = 0; i < count; i++) { /* the live bits are gone already: sizes from the starts */
        if (ptrs[i] == NULL)
            continue;
        dir_chunk *c = dir_find(&p->dir, (uintptr_t)ptrs[i]);
        size_t n = c ? dir_extent(&p->dir, c, dir_slot(&p->dir, c, (uintptr_t)ptrs[i]))
                     : p->max_bytes + 1; /* large: free_block reads the recorded size */
        free_block(p, ptrs[i], n);
    }
    pool_unlock(p);
    return SGI_POOL_OK;
}

/* ---- reallocate(p, old_n, new_n) ----------------------------------------------- */

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

static int reallocate_locked(sgi_pool *p, void *ptr, size_t old_n, size_t new_n, void **out)
{
    size_t usable;
    int status = check_block(p, ptr, old_n, &usable);
    if (status != SGI_POOL_OK)
        return status;
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

int sgi_pool_realloc_checked(sgi_pool *p, void *ptr, size_t new_n, void **out)
{
    REQUIRE(p != NULL && out != NULL);
    *out = NULL;
    if (ptr == NULL) /* as realloc(NULL, n): allocate(n) */
        return allocate_for_null(p, new_n, out);
    if (new_n == 0)
        return sgi_pool_free_checked(p, ptr);
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
    pool_lock(p);
    size_t n = p->closed ? 0 : known_size(p, ptr);
    pool_unlock(p);
    return n;
}

int sgi_pool_owns(sgi_pool *p, const void *ptr)
{
    return sgi_pool_usable_size(p, ptr) != 0;
}

size_t sgi_pool_last_refused(void)
{
    return last_refused;
}

/* ---- Heap limit and introspection ------------------------------------------------ */

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
    return bias_revoked(p) ? SGI_POOL_LOCKING_BIAS_REVOKED : SGI_POOL_LOCKING_BIASED;
}

void sgi_pool_get_options(sgi_pool *p, sgi_pool_options *out)
{
    REQUIRE(p != NULL && out != NULL);
    pool_lock(p);
    *out = (sgi_pool_options){p->align, p->max_bytes, p->nobjs, p->heap_limit,
                              p->thread_safe, p->checked, p->debug_fill};
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
   unless an unchecked caller corrupted it, and then this still terminates). */
static size_t walk_free_list(const sgi_pool *p, size_t cls, uintptr_t *out, size_t cap)
{
    size_t len = 0;
    for (const free_node *n = p->free_list[cls]; n != NULL && len <= p->carved[cls]; n = read_link(n)) {
        if (len < cap)
            out[len] = (uintptr_t)n;
        len++;
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
    if (l->live_only && !live)
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
    count_classes(p, free_blocks, live_blocks);
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
    size_t len = walk_free_list(p, cls, out, cap);
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
    pool_unlock(p);
    return c->nchunks <= c->chunk_cap && c->nfree <= c->free_cap && c->nlive <= c->live_cap &&
           c->nblocks <= c->block_cap;
}

/* ---- pool_is_valid: the invariants above, walked -------------------------------- */

#ifdef SGI_POOL_VALIDATE
#include <stdio.h>

static int compare_addresses(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return (x > y) - (x < y);
}

static bool inside_a_chunk(const sgi_pool *p, uintptr_t start, uintptr_t end)
{
    for (size_t i = 0; i < p->nchunks; i++)
        if (start >= p->chunks[i].base && end <= p->chunks[i].base + p->chunks[i].size)
            return true;
    return false;
}

/* The first invariant broken (its number, V1..V7), or 0; called with the lock
   held.  The walk is O(free blocks x log) and allocates a scratch array
   (with the system's malloc, never the pool's). */
static int pool_is_valid(sgi_pool *p)
{
    if (p->closed)
        return 0;
    size_t heap = 0;
    for (size_t i = 0; i < p->nchunks; i++)
        heap += p->chunks[i].size;
    if (heap != p->heap_size)
        return 1;
    if (p->start_free > p->end_free || p->start_free % p->align != 0 ||
        (p->start_free != p->end_free && !inside_a_chunk(p, p->start_free, p->end_free)))
        return 2;
    size_t total = 0;
    for (size_t cls = 0; cls < p->nlists; cls++) {
        size_t len = walk_free_list(p, cls, NULL, 0);
        if (len > p->carved[cls])
            return 3;
        total += len;
    }
    uintptr_t *all = total ? malloc(total * sizeof *all) : NULL;
    if (total && all == NULL)
        return 0; /* no memory to check with: not a finding */
    int broken = 0;
    size_t k = 0;
    for (size_t cls = 0; cls < p->nlists && !broken; cls++) {
        size_t size = (cls + 1) * p->align;
        for (const free_node *n = p->free_list[cls]; n != NULL; n = read_link(n)) {
            uintptr_t addr = (uintptr_t)n;
            dir_chunk *c = dir_find(&p->dir, addr);
            if (c == NULL || carved_size(p, c, n) != size || live_small_size(p, n) != 0) {
                broken = 4;
                break;
            }
            all[k++] = addr;
        }
    }
    if (!broken && k > 1) {
        qsort(all, k, sizeof *all, compare_addresses);
        for (size_t i = 1; i < k; i++)
            if (all[i] == all[i - 1])
                broken = 5;
    }
    free(all);
    if (broken)
        return broken;
    if (p->checked) {
        size_t *live = calloc(p->nlists, sizeof *live);
        size_t *free_len = calloc(p->nlists, sizeof *free_len);
        if (live != NULL && free_len != NULL) {
            count_classes(p, free_len, live);
            for (size_t cls = 0; cls < p->nlists; cls++)
                if (live[cls] + free_len[cls] != p->carved[cls])
                    broken = 6;
        }
        free(live);
        free(free_len);
        if (broken)
            return broken;
    }
    size_t large = 0, large_bytes = 0;
    for (size_t i = 0; i < p->blocks.capacity; i++) {
        const block_entry *e = &p->blocks.slots[i];
        if (e->addr != 0 && !is_small(p, e->size & ~PENDING_MARK)) {
            large++;
            large_bytes += e->size & ~PENDING_MARK;
        }
    }
    if (large != p->large_live || large_bytes != p->large_bytes)
        return 7;
    return 0;
}

static void validate_or_abort(sgi_pool *p)
{
    size_t n = ++p->validations;
    if (n > VALIDATE_FULL && n % VALIDATE_EVERY != 0)
        return;
    int broken = pool_is_valid(p);
    if (broken) {
        fprintf(stderr, "sgi_pool: invariant V%d broken (pool %p, call %zu; see sgi_pool.c)\n",
                broken, (void *)p, n);
        abort();
    }
}
#endif /* SGI_POOL_VALIDATE */

void sgi_pool_process_totals(size_t *blocks, size_t *bytes)
{
    REQUIRE(blocks != NULL && bytes != NULL);
    *blocks = atomic_load_explicit(&total_blocks, memory_order_relaxed);
    *bytes = atomic_load_explicit(&total_bytes, memory_order_relaxed);
}

/* ---- Creation and destruction ------------------------------------------------------ */

/* A pool's struct with its nlists heads and `carved` counters. */
static size_t pool_bytes(size_t nlists)
{
    return sizeof(sgi_pool) + nlists * (sizeof(free_node *) + sizeof(size_t));
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
    return o->refill >= 1 && o->refill <= SGI_POOL_MAX_REFILL;
}

/* ---- Creation and destruction ------------------------------------------------------ */

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
    bool checked_fast = p->checked && !(p->debug_fill || RUNNING_ON_VALGRIND || SGI_POOL_ASAN ||
                                        SGI_POOL_VALIDATING);
    p->checked_max = checked_fast ? p->max_bytes : 0;
    dir_init(&p->dir, p->align_shift, p->checked);
    atomic_init(&p->lock, 0);
    /* Biased where the unlocked fast paths serve (locked_max) and the
       process can revoke a bias; every other pool is locked (or
       single-thread) from the start. */
    bool biased = p->locked_max != 0 && bias_available();
    atomic_init(&p->bias_owner, biased ? BIAS_UNOWNED : BIAS_REVOKED);
    atomic_init(&p->bias_busy, 0);
    p->heap_limit = opts->heap_limit;
    p->carved = (size_t *)(p->free_list + nlists);
    VALGRIND_CREATE_MEMPOOL(p, 0, 0);
    if (p->thread_safe) {
        p->fork.lock = &p->lock;
        p->fork.bias_owner = biased ? &p->bias_owner : NULL;
        p->fork.bias_busy = biased ? &p->bias_busy : NULL;
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
    memset(p->free_list, 0, p->nlists * (sizeof(free_node *) + sizeof(size_t)));
    p->start_free = p->end_free = 0;
    p->heap_size = p->large_bytes = p->large_live = 0;
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
        system_release((void *)p->chunks[i].base, p->chunks[i].size);
    }
    block_table_free(&p->blocks);
    dir_free(&p->dir);
    free(p->chunks);
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
    memcpy(r, p, pool_bytes(p->nlists));
    r->carved = (size_t *)(r->free_list + r->nlists); /* its own counters */
    r->retired = NULL;
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
    if (p->thread_safe)
        fork_registry_remove(&p->fork);
    sgi_pool_close(p);
    release_retired(p); /* the handle's end: held blocks or not, everything goes */
    free(p);
}

/* ---- Held blocks: a foreign owner's (numpy's handler), which may outlive close() ------ */

/* Where ptr's memory is, under p's lock: p while open, the retired copy after
   a close() under held blocks, none once that memory is gone. */
static sgi_pool *held_memory(sgi_pool *p)
{
    if (!p->closed)
        return p;
    return p->retired_live ? p->retired : NULL;
}

static void held_block_gone(sgi_pool *p)
{
    if (p->held != 0) /* (a held block freed through the other calls: not counted) */
        p->held--;
    if (p->held == 0 && p->retired_live)
        release_retired(p);
}

void *sgi_pool_allocate_held(sgi_pool *p, size_t n)
{
    REQUIRE(p != NULL);
    /* Fast path of sgi_pool_allocate's locked pools (numpy's default pool):
       the pop and the count, by the bias owner or under an uncontended lock;
       a closed pool's lists are empty. */
    if (LIKELY(n - 1 < p->locked_max)) {
        bool biased = bias_enter(p);
        if (biased || pool_try_lock(p)) {
            size_t cls = class_index(p, n);
            free_node *block = p->retired != NULL ? p->free_list[cls] : NULL;
            if (LIKELY(block != NULL)) {
                p->free_list[cls] = block->next;
                p->held++;
            }
            if (biased)
                bias_leave(p);
            else
                pool_unlock_raw(p);
            if (LIKELY(block != NULL))
                return block;
        }
    }
    void *block = NULL;
    pool_lock(p);
    if (p->retired == NULL && !p->closed)
        p->retired = malloc(pool_bytes(p->nlists)); /* once: close() must not fail later */
    if (p->retired != NULL) {
        block = allocate_locked(p, n); /* NULL on a closed pool */
        if (block != NULL)
            p->held++;
    } else {
        last_refused = 0;
    }
    pool_unlock(p);
    return block;
}

int sgi_pool_free_held(sgi_pool *p, void *ptr)
{
    REQUIRE(p != NULL);
    if (ptr == NULL)
        return SGI_POOL_OK;
    if (LIKELY(p->locked_max != 0) && LIKELY(free_fast(p, ptr, 0, false, true)))
        return SGI_POOL_OK; /* (a closed pool's directory is empty: never here) */
    pool_lock(p);
    sgi_pool *m = held_memory(p);
    size_t n = m ? known_size(m, ptr) : 0;
    if (n) {
        free_block(m, ptr, n);
        held_block_gone(p);
    }
    pool_unlock(p);
    return n ? SGI_POOL_OK : SGI_POOL_ENOTLIVE;
}

/* A held block of a closed pool, resized: it moves to malloc (the pool serves
   nothing more), and its old block goes as by sgi_pool_free_held. */
static int move_out(sgi_pool *p, sgi_pool *r, void *ptr, size_t old_n, size_t new_n,
                    void **out)
{
    void *q = malloc(new_n);
    if (q == NULL)
        return SGI_POOL_ENOMEM;
    memcpy(q, ptr, old_n < new_n ? old_n : new_n);
    free_block(r, ptr, old_n);
    held_block_gone(p);
    *out = q;
    return SGI_POOL_OK;
}

int sgi_pool_realloc_held(sgi_pool *p, void *ptr, size_t new_n, void **out)
{
    REQUIRE(p != NULL && out != NULL);
    *out = NULL;
    if (ptr == NULL) { /* as realloc(NULL, n): allocate(n) */
        if (new_n == 0)
            return SGI_POOL_OK;
        *out = sgi_pool_allocate_held(p, new_n);
        return *out ? SGI_POOL_OK : SGI_POOL_ENOMEM;
    }
    if (new_n == 0)
        return sgi_pool_free_held(p, ptr);
    pool_lock(p);
    int status = SGI_POOL_ENOTLIVE;
    sgi_pool *m = held_memory(p);
    size_t old_n = m ? known_size(m, ptr) : 0;
    if (old_n != 0)
        status = m == p ? reallocate_locked(p, ptr, old_n, new_n, out)
                        : move_out(p, m, ptr, old_n, new_n, out);
    pool_unlock(p);
    return status;
}
