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
 * The classic algorithm -- the first level (system requests), chunk_alloc,
 * refill, and the general allocate, deallocate and reallocate -- reads top to
 * bottom in core/classic.c, in the order and with the step numbers of
 * docs/algorithm.md.
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
 * uncarved again only through salvage.  Nothing is returned to the system
 * before destroy, except large blocks and, when sgi_pool_trim is called,
 * chunks whose blocks are all free (trim.c).
 */

/*
 * One translation unit, read in this order (as mimalloc's static.c: the
 * parts are separate files for the reader, one unit for the compiler, so
 * the fast paths inline across them).  The parts live in core/ so that
 * the top-level csrc .c files name exactly the units to compile.
 */
#if defined(__linux__) && !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE /* madvise, for the page trim (B.14), under -std=c11 */
#endif
#include "core/pool_state.h"   /* tunables, the struct, invariants V1..V7 */
#include "core/locking.c"      /* the spin lock and biased ownership (B.7) */
#include "core/classic.c"      /* Part A: SGI's algorithm, steps numbered */
#include "core/block_life.c"   /* a block's birth and death: memcheck, live bit, fill */
#include "core/lookup.c"       /* what the block directory knows of an address */
#include "core/thread_cache.c" /* per-thread caches in front of the lists */
#include "core/fast_paths.c"   /* the entry points allocate, deallocate, free */
#include "core/checked_calls.c" /* status-returning sized calls: check, then classic */
#include "core/sizeless.c"     /* calls without a size (B.12) */
#include "core/batches.c"      /* allocate_many, deallocate_many, free_many (B.10) */
#include "core/introspection.c" /* heap limit, stats, walks, the state capture */
#include "core/trim.c"         /* fully free chunks back to the system (B.13) */
#include "core/validate.c"     /* pool_is_valid (SGI_POOL_VALIDATE builds) */
#include "core/lifecycle.c"    /* options, create, close, destroy (B.1) */
#include "core/held.c"         /* blocks that may outlive close() (numpy's handler) */
#include "core/forward.c"      /* a hook's malloc and free, the replaced allocator behind */
