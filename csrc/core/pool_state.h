/*
 * pool_state.h -- the pool's state: the tunables and their invariants, the
 * struct with a comment per field, the process-wide counters, and the macros
 * every part uses.  Included once, by sgi_pool.c, before the parts.
 */
#ifndef SGI_POOL_STATE_H
#define SGI_POOL_STATE_H

#include "../sgi_pool.h"
#include "../block_directory.h"
#include "../block_table.h"
#include "../spin_lock.h"
#include "../fork_registry.h"
#include "../bias.h"

#include <assert.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../track.h"

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

/* Entries of the checked fast paths' size -> class table: every size up to
   DIR_LIVE_EXTENT granules of the largest align, 16 (checked_max's bound). */
#define CHECKED_CLASS_SIZES (((size_t)DIR_LIVE_EXTENT << 4) + 1)

/* A hint that names no block: no block's address (and not NULL, so that an
   empty list never matches it). */
#define HINT_NONE ((uintptr_t)1)

/* Debug fill bytes, as CPython's debug allocator: fresh and dead memory. */
#define CLEAN_BYTE 0xCD
#define DEAD_BYTE 0xDD

/* Invariants of a pool between calls, walked by pool_is_valid() in builds
   with -DSGI_POOL_VALIDATE (scripts/sanitize.sh makes one):
     V1  heap_size - released_bytes is the sum of the recorded chunks' sizes;
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

/* How the core gives a chunk back to the system (trim, close, destroy): the
   LD_PRELOAD build defines its own (csrc/preload/sys_alloc.h).  With free(),
   a trim then asks glibc to return the freed pages: chunks below malloc's mmap
   threshold (which glibc raises after a large mapped block is freed) sit in
   its heap, and free() alone keeps them resident (measured: 91% of a 200 MiB
   burst still resident after a second burst's trim, 4% with malloc_trim). */
#ifndef POOL_CHUNK_RELEASE
#define POOL_CHUNK_RELEASE(base, size) free(base)
#if defined(__GLIBC__)
#include <malloc.h>
#define POOL_CHUNKS_RELEASED() malloc_trim(0)
#endif
#endif
#ifndef POOL_CHUNKS_RELEASED
#define POOL_CHUNKS_RELEASED() ((void)0)
#endif

/* The pages of a page trim (B.14): units of POOL_TRIM_PAGE bytes counted
   from each chunk's base; POOL_PAGES_RELEASE gives back the system pages
   wholly inside [addr, addr + len) and keeps the addresses (Linux:
   madvise(MADV_DONTNEED), which reads them as zeros afterwards; elsewhere
   nothing is given back). */
#define POOL_TRIM_PAGE ((size_t)4096)
#ifndef POOL_PAGES_RELEASE
#if defined(__linux__)
#include <sys/mman.h>
#define POOL_PAGES_RELEASE(addr, len) pages_release_linux(addr, len)
static inline void pages_release_linux(uintptr_t addr, size_t len)
{
    uintptr_t first = (addr + POOL_TRIM_PAGE - 1) & ~(uintptr_t)(POOL_TRIM_PAGE - 1);
    uintptr_t last = (addr + len) & ~(uintptr_t)(POOL_TRIM_PAGE - 1);
    if (first < last)
        (void)madvise((void *)first, last - first, MADV_DONTNEED);
}
#else
#define POOL_PAGES_RELEASE(addr, len) ((void)(addr), (void)(len))
#endif
#endif

/* ---- The pool ------------------------------------------------------------- */

typedef union free_node {
    union free_node *next; /* SGI's "union obj": the link lives in the block */
} free_node;

typedef struct chunk_record {
    uintptr_t base; /* as returned by malloc */
    size_t size;    /* bytes_to_get of that request */
} chunk_record;

/* A released span (B.14, sgi_pool_trim_pages): blocks of a kept chunk that
   left the lists with the pages they lay on; carved again, as the tail,
   before the pool asks the system for a chunk. */
typedef struct span_record {
    uintptr_t start, end;
} span_record;

/* A class's entries of the per-class arrays that the checked fast paths use
   (free_list, live_mask, live_expect, hint_block, hint_word, hint_bit), from
   one base: on 64-bit targets, where all of them have 8-byte entries, the
   pool's address plus 8 * cls, so that each entry is at a fixed
   displacement from it (one register for them all, no index to scale);
   elsewhere the class index itself.  CLASS_REF makes one, CLASS_AT reaches
   an array's entry (type: the array's element type).  A ref is into its own
   pool: retire_memory's copy gets its own (set_class_refs). */
#if UINTPTR_MAX == UINT64_MAX
typedef uintptr_t class_ref;
#define CLASS_REF(p, cls) ((uintptr_t)(p) + (uintptr_t)(cls) * 8)
#define CLASS_AT(p, r, type, field) (*(type *)(void *)((r) + offsetof(sgi_pool, field)))
#else
typedef size_t class_ref;
#define CLASS_REF(p, cls) ((size_t)(cls))
#define CLASS_AT(p, r, type, field) ((p)->field[r])
#endif

struct sgi_pool {
    /* Options, fixed at creation. */
    size_t align;         /* 8 or 16 */
    unsigned align_shift; /* log2(align) */
    size_t max_bytes;     /* max_small: largest request served by the lists */
    size_t nobjs;         /* refill count */
    size_t nlists;        /* max_bytes / align */
    bool thread_safe;     /* guard every call: `lock`, or the biased owner (bias.h) */
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
    size_t checked_max;   /* max_bytes for checked pools without other extras, at most
                             DIR_LIVE_EXTENT granules (block_directory.h) */
    size_t unchecked_max; /* plain_max | locked_max (one of them is 0): the status
                             calls' first test */
    _Atomic size_t held_max; /* locked_max once the first held allocation has reserved
                                `retired`, 0 before and once closed: the held calls' fast
                                paths (core/held.c); relaxed loads, written under the lock */
    atomic_int lock;      /* spin lock: 0 free, 1 held */
    /* Biased ownership (bias.h): the owner's thread id, BIAS_UNOWNED or
       BIAS_REVOKED (locked pools only ever move UNOWNED -> id -> REVOKED, the
       first two steps under the lock); busy is raised by the owner around
       its unlocked pops and pushes. */
    _Atomic uintptr_t bias_owner;
    atomic_int bias_busy;
    fork_entry fork;      /* thread-safe pools: locked across fork (fork_registry.h) */
    /* Thread caches (thread_cache.c): the sizes the caches serve (0: off), the
       caches of the threads using the pool (under the lock), how many. */
    bool thread_cache;    /* the option as given */
    size_t cache_max;
    size_t cache_depot_bytes; /* each cache's depot bound (thread_cache_bytes) */
    struct tcache *caches;
    size_t ncaches;
    /* start_free while the tail is not empty, else 0: a copy that readers
       without the lock may load (the tail's start bit is no block's). */
    _Atomic uintptr_t open_tail;

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
    size_t released_chunks; /* chunks given back by sgi_pool_trim (trim.c) */
    size_t released_bytes;  /* their bytes: the chunks held (the growth term of 3.1) are
                               heap_size - this */
    size_t *carved;        /* per class: blocks made (refill, leftover) minus salvaged
                              (and minus those a page trim took off the lists) */
    span_record *spans;    /* released spans, in the order released (B.14) */
    size_t nspans, spans_cap;
    size_t span_bytes;     /* their bytes */
    size_t released_page_bytes; /* pages released by sgi_pool_trim_pages since creation */

    /* Held blocks (sgi_pool_allocate_held, core/held.c): numpy's arrays may
       outlive close(). */
    size_t held;           /* live held blocks */
    struct sgi_pool *retired; /* room for a copy of the pool, reserved by the first held
                                 allocation so that close() cannot fail; after a close()
                                 under live held blocks it holds the memory (retire) */
    bool retired_live;     /* the room holds the memory of a closed pool */

    /* Checked pools' fast paths (fast_paths.c), per class below
       DIR_LIVE_EXTENT: a live block's test on its bitmap window (the window
       masked by live_mask equals live_expect: the live bit, and the next
       start bit exactly the class's granules on), and the live bit of the
       block that the fast free pushed last (its address, bitmap word, bit):
       an allocate that pops that block sets the bit with no lookup.  A
       block's live bit stays where it is while its chunk is recorded, so the
       hint holds until the chunk goes: trim and close clear every hint
       (forget_hints).  Written and read with the pool entered. */
    uint64_t live_mask[DIR_LIVE_EXTENT];
    uint64_t live_expect[DIR_LIVE_EXTENT];
    uintptr_t hint_block[DIR_LIVE_EXTENT]; /* HINT_NONE: none */
    dir_word *hint_word[DIR_LIVE_EXTENT];
    uint64_t hint_bit[DIR_LIVE_EXTENT];
    /* Checked pools' fast paths: the class of each size they serve
       (class_index(n) for 1 <= n <= checked_max) as a class_ref (below), one
       load instead of the round-up, the shift and the scaling. */
    class_ref checked_class[CHECKED_CLASS_SIZES];
    /* (Unused: with it the handle is 4096 bytes longer than with the byte
       table checked_class was and no unchecked_max, so the chunks malloc places after a handle
       fall on the directory cache's 4 KiB pages as they did, and the
       instruction counts of docs/performance.md compare code, not a new
       heap layout.  Measured: without it the unchecked size-less FIFO mixed
       pair went from 120.6 to 135.2 instructions, more page-cache misses.) */
    char layout_pad[616];
    free_node *free_list[]; /* nlists heads, then nlists `carved` counters */
};

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(free_node *) == 8 && sizeof(uintptr_t) == 8 && sizeof(dir_word *) == 8 &&
                   sizeof(uint64_t) == 8,
               "CLASS_AT: every per-class array of the checked fast paths has 8-byte entries");
#endif

/* retire_memory copies a pool but the fields from held_max to thread_cache,
   which other threads may write during a close(). */
_Static_assert(offsetof(sgi_pool, held_max) < offsetof(sgi_pool, lock) &&
                   offsetof(sgi_pool, bias_busy) < offsetof(sgi_pool, fork) &&
                   offsetof(sgi_pool, fork) < offsetof(sgi_pool, thread_cache),
               "the fields written without the pool's lock lie between held_max and thread_cache");

/* Size of the system request this thread last saw refused. */
static _Thread_local size_t last_refused;

/* Memory held from the system by all pools of the process. */
static atomic_size_t total_blocks;
static atomic_size_t total_bytes;

#endif /* SGI_POOL_STATE_H */
