/*
 * sgi_pool.h -- the SGI STL node allocator as a C11 library.
 *
 * A pool serves requests of 1..max_small bytes from per-size-class free lists
 * refilled in batches carved from large chunks, and passes larger requests to
 * malloc.  The algorithm is SGI STL 3.3's __default_alloc_template (see
 * docs/algorithm.md); this library adds pool
 * instances, a heap limit, a checked mode that refuses bad frees, and options
 * for the alignment, the small-size bound and the refill count.
 *
 * Ownership: the caller passes the block's size back when freeing (as with
 * C++ sized delete), or uses the size-less calls (sgi_pool_free, _realloc),
 * which read it from the pool's block directory.  In an unchecked pool a
 * wrong size, a foreign address or a double free corrupts the pool silently,
 * exactly as in SGI; in a checked pool those calls are refused with an error
 * code and change nothing.
 *
 * Nothing in this library aborts, prints or calls back into its user; only a
 * debug build (NDEBUG undefined) has asserts.
 *
 * NULL arguments.  sgi_pool_destroy(NULL) and sgi_pool_close(NULL) do nothing,
 * as free(NULL) does.  Every other function needs a pool from sgi_pool_create:
 * a NULL pool is undefined behaviour (as a NULL heap is for malloc-style
 * libraries), and a debug build asserts.  Pointers the functions write
 * results through must not be NULL either, except where a comment below says
 * so; an output array may be NULL when its capacity is 0.  Block pointers
 * may be NULL where the comment says what NULL does (deallocate, reallocate).
 */
#ifndef SGI_POOL_H
#define SGI_POOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The classic profile (SGI STL 3.3). */
#define SGI_POOL_DEFAULT_ALIGN 8      /* block and chunk granularity */
#define SGI_POOL_DEFAULT_MAX_SMALL 128 /* largest request served from the lists */
#define SGI_POOL_DEFAULT_REFILL 20     /* blocks asked for per refill */

/* Bounds on the options, so that every size computation fits a size_t. */
#define SGI_POOL_MAX_MAX_SMALL 4096 /* at most 4096 / 8 = 512 free lists */
#define SGI_POOL_MAX_REFILL 4096    /* at most 16 MiB per refill request */
#define SGI_POOL_TCACHE_MAX_THREADS 64 /* threads with a cache, per pool */
#define SGI_POOL_DEFAULT_TCACHE_BYTES ((size_t)1 << 20) /* a thread's depot, per pool */

typedef struct sgi_pool sgi_pool;

typedef struct sgi_pool_options {
    size_t align;      /* 8 or 16: every small block is a multiple of it */
    size_t max_small;  /* multiple of align, <= SGI_POOL_MAX_MAX_SMALL */
    size_t refill;     /* 1..SGI_POOL_MAX_REFILL blocks per refill */
    size_t heap_limit; /* cap on bytes held from the system; 0 = no limit */
    int thread_safe;   /* nonzero: every call takes the pool's lock */
    int checked;       /* nonzero: track live blocks, refuse bad frees */
    int debug_fill;    /* nonzero: new small blocks read 0xCD, freed ones 0xDD */
    int thread_cache;  /* nonzero (thread-safe pools): per-thread caches per class in
                          front of the free lists (see "Thread caches" below) */
    size_t thread_cache_bytes; /* thread caches: bytes of whole magazines each thread's
                                  cache keeps beyond its two per class (its depot);
                                  0 = SGI_POOL_DEFAULT_TCACHE_BYTES */
} sgi_pool_options;

/* Status codes of the checked entry points (0 is success). */
typedef enum sgi_pool_status {
    SGI_POOL_OK = 0,
    SGI_POOL_ENOMEM = 1,      /* the system (or the heap limit) refused memory */
    SGI_POOL_EINVAL = 2,      /* a size of 0 where a block is needed */
    SGI_POOL_ENOTLIVE = 3,    /* not a live block of this pool */
    SGI_POOL_EWRONGCLASS = 4, /* size of another class than the block's */
    SGI_POOL_EDUPLICATE = 5,  /* an address twice in one batch free */
    SGI_POOL_ECLOSED = 6      /* the pool was closed */
} sgi_pool_status;

/* Per-pool counters; see sgi_pool_get_stats. */
typedef struct sgi_pool_stats {
    size_t heap_size;          /* bytes of all chunks ever obtained */
    size_t heap_limit;         /* 0 = no limit */
    size_t chunks;             /* number of chunks */
    size_t chunk_left;         /* bytes left uncarved in the current chunk */
    size_t large_live;         /* live blocks above max_small */
    size_t large_bytes;        /* their requested bytes */
    size_t requests_granted;   /* system requests granted (chunks, large, grown large) */
    size_t requests_refused;   /* system requests refused (limit or malloc) */
    size_t salvages;           /* chunks rebuilt from a larger free block */
} sgi_pool_stats;

/* Fills *opts with the classic profile: align 8, max_small 128, refill 20,
   no heap limit, thread-safe, unchecked, no debug fill, no thread caches.

   Thread caches (thread_cache = 1; needs thread_safe), on from a second
   thread: the pool starts biased, as one without caches (its first thread
   runs on the lists with no atomic, in SGI's order); the first other thread
   to take its lock revokes the bias and switches it to the caches for good
   (sgi_pool_locking: BIASED, then THREAD_CACHE).  From then on each thread
   using the pool, the first one too, keeps, per size class, up to 2 x batch
   free blocks of its own (batch =
   refill, at most 8 KiB of blocks), taken from and given back to the free
   lists `batch` blocks at a time under the lock, so that most allocate and
   deallocate calls take no lock.  Beyond those two magazines a thread's cache
   keeps further full ones (its depot, at most thread_cache_bytes of blocks of
   16 bytes or more, over all classes), so that a thread freeing a burst gets
   the same blocks back without the lists; only a push past that bound gives a
   magazine back to the lists.  A block freed by another thread goes to the
   freeing thread's cache.  At most SGI_POOL_TCACHE_MAX_THREADS threads get a
   cache per pool (later ones take the lock), which bounds what caches hold in
   total.  Caches go back to the lists when their thread exits, on close and
   destroy, in a fork child (the other threads' caches), before a refused
   system request gives up (salvage).  The calls that report free blocks
   (class_counts, free_list, capture_state) count cached blocks as free: a
   class's list, then each cache's blocks of the class (other threads'
   caches paused meanwhile); nothing moves.  Addresses then differ from the
   classic order (while one thread alone uses the pool they do not).
   The caches serve the unchecked sized calls (allocate, deallocate) of pools
   without extras; checked or debug-fill pools, the size-less and batch calls,
   and builds under Valgrind or ASan use the lists, and so does a system
   without membarrier (the caches' handshake; see sgi_pool_locking). */
void sgi_pool_options_init(sgi_pool_options *opts);

/* Creates a pool; opts NULL means sgi_pool_options_init's profile.
   Returns NULL on invalid options or when memory is short. */
sgi_pool *sgi_pool_create(const sgi_pool_options *opts);

/* Returns every chunk and every live large block to the system.  NULL is a no-op. */
void sgi_pool_destroy(sgi_pool *p);

/* Returns the pool's memory like destroy but keeps the (small) handle valid:
   every later call fails (allocate NULL, checked calls SGI_POOL_ECLOSED) until
   sgi_pool_destroy.  Safe while other threads are inside calls on a
   thread-safe pool: they either finish first or see the pool closed.  NULL
   is a no-op.  While held blocks are live (below), the pool closes at once
   for every call but its memory stays until the last of them is freed. */
void sgi_pool_close(sgi_pool *p);

/* Held blocks, for an owner whose blocks may outlive sgi_pool_close() (numpy's
   data-memory handler: an array can outlive its pool).  The pool counts them;
   a close() while some are live keeps the memory (no other call sees it) until
   the last is freed through these calls, or sgi_pool_destroy.  Size-less, as
   sgi_pool_free.  allocate_held: as sgi_pool_allocate (NULL on a closed pool;
   also when the first call cannot reserve the room close() needs).
   free_held: OK, or ENOTLIVE when ptr is no block of the pool (nothing done:
   the caller's own, say the system's).  realloc_held: as
   sgi_pool_realloc_checked (OK, ENOMEM, ENOTLIVE); after close() a held block
   moves to malloc, the pool serving nothing more, and is then no block of the
   pool.  Hand each held block back through free_held/realloc_held only. */
void *sgi_pool_allocate_held(sgi_pool *p, size_t n);
int sgi_pool_free_held(sgi_pool *p, void *ptr);
int sgi_pool_realloc_held(sgi_pool *p, void *ptr, size_t new_n, void **out);

/* Returns a block of at least n bytes aligned to the pool's align, or NULL
   when n == 0 or memory is refused (then sgi_pool_last_refused() tells how
   many bytes the refused system request asked for). */
void *sgi_pool_allocate(sgi_pool *p, size_t n);

/* Frees a block of n bytes.  ptr NULL or n == 0 does nothing.  A checked pool
   ignores a bad free (sgi_pool_deallocate_checked reports it). */
void sgi_pool_deallocate(sgi_pool *p, void *ptr, size_t n);

/* Resizes a block from old_n to new_n bytes, keeping min(old_n, new_n) bytes.
   ptr NULL: allocate(new_n).  new_n 0: frees ptr and returns NULL.  Returns
   NULL when memory is refused; the original block is then untouched. */
void *sgi_pool_reallocate(sgi_pool *p, void *ptr, size_t old_n, size_t new_n);

/* Checked variants: the same operations returning a status.  In a checked
   pool, a free or reallocate of an address that is not live, or with a size
   of another class, returns an error and changes nothing.  In an unchecked
   pool only ENOMEM and EINVAL are reported. */
int sgi_pool_deallocate_checked(sgi_pool *p, void *ptr, size_t n);
int sgi_pool_reallocate_checked(sgi_pool *p, void *ptr, size_t old_n, size_t new_n,
                                void **out);

/* Batch calls.  allocate_many performs up to count allocate(n) calls in order,
   stores the blocks in out[] and returns how many succeeded (fewer than count
   only when memory was refused; nothing is rolled back).  deallocate_many frees
   ptrs[0..count) in order; an unchecked pool skips NULL entries.  In a checked
   pool every address is checked first (NULL and duplicates included) and on
   an error nothing is freed and *bad_index tells which entry failed
   (bad_index may be NULL: the index is then not reported).  ptrs must not
   change during the call (it is read once to check, once to free).  On a
   closed pool allocate_many returns 0 and allocates nothing, not even
   bookkeeping. */
size_t sgi_pool_allocate_many(sgi_pool *p, size_t n, size_t count, void **out);
int sgi_pool_deallocate_many(sgi_pool *p, void *const *ptrs, size_t count, size_t n,
                             size_t *bad_index);

/* Size-less calls.  The pool keeps a directory beside its chunks (a bit per
   `align` bytes where a carved block starts; checked pools also a bit where
   a live block starts), so it knows a small block's size from its address;
   large blocks are found in their table.  The sizes these calls see are
   block sizes: a small block is round_up(n) bytes whatever n it was
   allocated with, a large block the size it was allocated (or last
   reallocated) with.

   sgi_pool_free: frees ptr, any size.  NULL does nothing.  Checked pool: an
   address that is not a live block (foreign, interior, already freed) is
   refused and nothing changes.  Unchecked pool: an address that starts no
   carved block and is no large block (a foreign or interior address, the
   uncarved tail) is refused as well; the free of a carved block that is
   already free is the caller's error, as every unchecked misuse is (the
   block goes on its list twice).  sgi_pool_free_checked returns the status
   (OK, ENOTLIVE, ECLOSED). */
void sgi_pool_free(sgi_pool *p, void *ptr);
int sgi_pool_free_checked(sgi_pool *p, void *ptr);

/* sgi_pool_realloc: reallocate(ptr, usable size of ptr, new_n): keeps
   min(usable, new_n) bytes.  ptr NULL: allocate(new_n); new_n 0: free(ptr)
   and NULL.  Returns NULL when ptr is no block (as for sgi_pool_free) or
   memory is refused; ptr is then untouched.  The checked variant stores the
   result in *out and returns OK, ENOMEM, ENOTLIVE or ECLOSED. */
void *sgi_pool_realloc(sgi_pool *p, void *ptr, size_t new_n);
int sgi_pool_realloc_checked(sgi_pool *p, void *ptr, size_t new_n, void **out);

/* The bytes the block at ptr really has (a small block's block size, a large
   block's recorded size); 0 when ptr is no block in the sense of
   sgi_pool_free (NULL, foreign, interior, a closed pool; checked: not live). */
size_t sgi_pool_usable_size(sgi_pool *p, const void *ptr);

/* 1 when ptr is a block of this pool: checked, a live block (small or large);
   unchecked, the start of a carved block in one of its chunks (live or free:
   an unchecked pool keeps no live bits) or a live large block.  NULL: 0. */
int sgi_pool_owns(sgi_pool *p, const void *ptr);

/* Frees ptrs[0..count) of any sizes (mixed), like sgi_pool_deallocate_many:
   every entry is checked first (checked pools: NULL and duplicates refused;
   unchecked pools skip NULL and check that each entry is a block, as
   sgi_pool_free does), and on an error nothing is freed and *bad_index tells
   which entry failed (bad_index may be NULL: the index is then not reported). */
int sgi_pool_free_many(sgi_pool *p, void *const *ptrs, size_t count, size_t *bad_index);

/* The size of the system request this thread last saw refused (0 when the
   failure was memory for the pool's own bookkeeping). */
size_t sgi_pool_last_refused(void);

/* Heap limit: 0 means none.  Lowering it below what the pool holds is allowed;
   later system requests are then refused. */
void sgi_pool_set_heap_limit(sgi_pool *p, size_t limit);
size_t sgi_pool_heap_limit(sgi_pool *p);
size_t sgi_pool_heap_size(sgi_pool *p);

/* Introspection.  Options as in effect; the number of size classes. */
void sgi_pool_get_options(sgi_pool *p, sgi_pool_options *out);
size_t sgi_pool_nclasses(const sgi_pool *p);

/* How a pool synchronises its calls (it can change once: BIASED ->
   BIAS_REVOKED, or BIASED -> THREAD_CACHE with thread_cache, when a second
   thread first takes the pool's lock).
     NONE          single-thread pool (thread_safe = 0)
     LOCK          the spin lock on every call (checked or debug-fill pools, a
                   build under Valgrind/ASan, or no membarrier on this system)
     BIASED        the first thread to use the pool (its owner) runs the
                   allocate/deallocate fast paths with no atomic instruction
                   (a thread_cache pool too, until a second thread comes)
     BIAS_REVOKED  another thread has used it: the spin lock, as LOCK
     THREAD_CACHE  a thread_cache pool that a second thread has used: thread
                   caches serve allocate and deallocate with no lock (every
                   thread's, the first one's too); the lock for their
                   exchanges and every other call */
enum {
    SGI_POOL_LOCKING_NONE = 0,
    SGI_POOL_LOCKING_LOCK = 1,
    SGI_POOL_LOCKING_BIASED = 2,
    SGI_POOL_LOCKING_BIAS_REVOKED = 3,
    SGI_POOL_LOCKING_THREAD_CACHE = 4
};
int sgi_pool_locking(sgi_pool *p);
void sgi_pool_get_stats(sgi_pool *p, sgi_pool_stats *out);

/* Per class: free-list length, and blocks handed out and not yet returned
   (out arrays have sgi_pool_nclasses entries; either may be NULL: not reported). */
void sgi_pool_class_counts(sgi_pool *p, size_t *free_blocks, size_t *live_blocks);

/* Copies up to cap chunk records (base, size) in acquisition order; returns
   the number of chunks. */
size_t sgi_pool_chunks(sgi_pool *p, uintptr_t *bases, size_t *sizes, size_t cap);

/* Copies up to cap addresses of free list cls, head first; returns its length. */
size_t sgi_pool_free_list(sgi_pool *p, size_t cls, uintptr_t *out, size_t cap);

/* The current chunk's uncarved tail [*start, *end); both 0 when there is none. */
void sgi_pool_current_chunk(sgi_pool *p, uintptr_t *start, uintptr_t *end);

/* Checked pools: the size of a live block, or ENOTLIVE (a small block's
   block size, a large block's recorded size).  Large blocks are known in
   every pool. */
int sgi_pool_block_size(sgi_pool *p, const void *ptr, size_t *n);

/* Copies up to cap live blocks (address, size as sgi_pool_block_size) in no
   fixed order; returns how many there are.  Small blocks are listed only by
   checked pools. */
size_t sgi_pool_live_blocks(sgi_pool *p, uintptr_t *addrs, size_t *sizes, size_t cap);

/* The directory's block map: copies up to cap carved small blocks (address,
   block size), live or free, in address order within each chunk; returns
   how many there are.  The uncarved tail is not listed. */
size_t sgi_pool_blocks(sgi_pool *p, uintptr_t *addrs, size_t *sizes, size_t cap);

/* One consistent picture of a pool's whole state, taken under its lock (the
   calls above each take the lock on their own, so several of them can see
   different moments of a pool that other threads use).  The caller provides
   the arrays and their capacities; free_lengths and live_counts must have
   sgi_pool_nclasses entries, the other arrays may be NULL with capacity 0. */
typedef struct sgi_pool_capture {
    /* In: where to copy, and how much room there is. */
    uintptr_t *chunk_bases; /* chunk records, in acquisition order */
    size_t *chunk_sizes;
    size_t chunk_cap;
    uintptr_t *free_blocks; /* every free list, smallest class first, each head first */
    size_t free_cap;
    size_t *free_lengths;   /* per class: free-list length */
    size_t *live_counts;    /* per class: blocks handed out and not returned */
    uintptr_t *live_addrs;  /* as sgi_pool_live_blocks */
    size_t *live_sizes;
    size_t live_cap;
    uintptr_t *block_addrs; /* the block map, as sgi_pool_blocks */
    size_t *block_sizes;
    size_t block_cap;
    /* Out: how many records there are (even beyond the room given). */
    size_t nchunks;
    size_t nfree;
    size_t nlive;
    size_t nblocks;
    uintptr_t start_free; /* the current chunk's tail, as sgi_pool_current_chunk */
    uintptr_t end_free;
    sgi_pool_stats stats;
} sgi_pool_capture;

/* Fills *c.  Returns 1 when every record fitted (the capture is complete),
   0 when some array was too small: the counts then tell how much room to give
   on the next try. */
int sgi_pool_capture_state(sgi_pool *p, sgi_pool_capture *c);

/* Process-wide totals of memory all pools hold from the system (chunks and
   large blocks), for leak checks. */
void sgi_pool_process_totals(size_t *blocks, size_t *bytes);

/* Zeroed allocation, as calloc: a block of count * size bytes, every byte 0
   (a small block's whole round_up(count * size) bytes).  NULL when
   count * size is 0, when it overflows a size_t (then sgi_pool_last_refused()
   is SIZE_MAX and nothing is requested), or when memory is refused (as
   sgi_pool_allocate).  Declared last: the C API table only ever appends. */
void *sgi_pool_calloc(sgi_pool *p, size_t count, size_t size);

/* Trim (an addition to SGI's design, docs/algorithm.md B.13): returns to the
   system every chunk whose carved blocks are all free, except the current
   chunk (the one holding the uncarved tail); their blocks leave the free
   lists, whose other blocks keep their order.  Thread caches are handed back
   to the lists first.  Returns the bytes released (0 on a closed pool, or
   when memory for the walk's scratch tables is short).  heap_size (every
   chunk ever obtained) is unchanged; what the pool holds (for the heap limit)
   and the chunk bytes that size the next chunk drop by the bytes released.
   On glibc it then calls malloc_trim(0): free() alone keeps chunks below
   malloc's mmap threshold resident. */
size_t sgi_pool_trim(sgi_pool *p);

/* What a trim would release now, and what trims released so far. */
typedef struct sgi_pool_trim_stats {
    size_t releasable_bytes;  /* bytes sgi_pool_trim would release now */
    size_t releasable_chunks; /* in so many chunks */
    size_t released_chunks;   /* chunks released by trims since creation */
    size_t released_bytes;    /* their bytes */
} sgi_pool_trim_stats;
void sgi_pool_get_trim_stats(sgi_pool *p, sgi_pool_trim_stats *out);

/* Page trim (docs/algorithm.md B.14, an addition of ours taken only when
   asked): sgi_pool_trim, then in the chunks it keeps every unit of 4096
   bytes from the chunk's base (8192 when max_small exceeds 2048) that free
   blocks cover wholly: the blocks starting in such units leave the free
   lists (the others keep their order), each run of units becomes a released
   span (from the first of those blocks to the end of the last) and its
   system pages go back (Linux: madvise(MADV_DONTNEED); the addresses stay).
   The pool carves the last released span again, as its tail, before it asks
   the system for a chunk; a chunk whose spans and free blocks cover it is
   released whole by the next trim.  heap_size and what the pool holds are
   unchanged by the pages.  Returns the bytes released: the chunks' and the
   units'. */
size_t sgi_pool_trim_pages(sgi_pool *p);

/* What a page trim would release now beyond the chunks, and the spans. */
typedef struct sgi_pool_page_stats {
    size_t releasable_page_bytes; /* units sgi_pool_trim_pages would release now */
    size_t released_page_bytes;   /* units released by page trims since creation */
    size_t spans;                 /* released spans now (not carved again yet) */
    size_t span_bytes;            /* their bytes */
} sgi_pool_page_stats;
void sgi_pool_get_page_stats(sgi_pool *p, sgi_pool_page_stats *out);

/* sgi_pool_free_held with the size the block was allocated or last
   reallocated with (by sgi_pool_allocate_held / sgi_pool_realloc_held; 0 is
   taken as unknown): as sgi_pool_deallocate, the size is trusted -- on an open
   pool with the default locked lists the block goes onto n's list with no
   lookup of its chunk (the bias owner's push, or under an uncontended lock).
   A wrong size there, or a pointer that is no held block of the pool, is
   undefined.  Every other case (a closed pool's held blocks, checked pools,
   a busy lock) is free_held's, with its statuses.  (Appended: the C API
   table only ever appends.) */
int sgi_pool_deallocate_held(sgi_pool *p, void *ptr, size_t n);

/* sgi_pool_deallocate_held for an owner whose blocks are either the pool's
   held blocks or the system allocator's (numpy's handler: small data from the
   pool, large from malloc): a block that is none of the pool's, by
   sgi_pool_free_held's answer (ENOTLIVE), goes to free().  Returns OK when
   the pool took the block (or ptr is NULL), ENOTLIVE when free() did.  The
   size is trusted as there: on an open pool a size of 1 to max_small bytes
   must be the held block's own (a system block then needs n 0, size-less, or
   its size above max_small).  Appended: the C API table only ever appends. */
int sgi_pool_deallocate_held_or_free(sgi_pool *p, void *ptr, size_t n);
/* A hook's allocator with the pool in front of the one it replaced (the PyMem
   hook of `python -m pool run`): requests of 1..serve_max bytes come from
   pool (serve_max at most its max_small; 0: none), and when the pool refuses,
   everything else, and every free of an address that is no block of the pool
   (sgi_pool_free_checked's ENOTLIVE), go to malloc_fn / free_fn with ctx.
   sgi_pool_forward_malloc and sgi_pool_forward_free take a sgi_pool_forward *
   as ctx, so that a hook registers them as its own functions, with no call
   in between; they hand out and take back exactly the blocks that
   sgi_pool_allocate and sgi_pool_free_checked do.  Declared last: the C API
   table only ever appends. */
typedef struct sgi_pool_forward {
    sgi_pool *pool;                       /* serves 1..serve_max bytes */
    size_t serve_max;                     /* 0: nothing new from the pool */
    void *ctx;                            /* the replaced allocator's context */
    void *(*malloc_fn)(void *ctx, size_t n); /* its malloc */
    void (*free_fn)(void *ctx, void *ptr);   /* its free */
} sgi_pool_forward;
void *sgi_pool_forward_malloc(void *fw, size_t n);
void sgi_pool_forward_free(void *fw, void *ptr);

#ifdef __cplusplus
}
#endif

#endif /* SGI_POOL_H */
