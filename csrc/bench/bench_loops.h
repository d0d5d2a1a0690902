/*
 * bench_loops.h -- timed allocation loops for `python -m pool bench`.
 *
 * Plain C11, no Python.  Every allocator the benchmark compares sits behind
 * the same small vtable (bench_vtable), and every loop below runs the same
 * machine code for each of them: one indirect call to allocate, one to free.
 * The timed region of each loop contains no FFI, no Python and no printing;
 * the caller does the warm-up pass (an untimed call of the same loop).
 *
 * Allocators (bench_allocator_new's kind):
 *   BENCH_FLOOR         16 bare free lists (8..128 bytes), pre-filled: a pop
 *                       or a push per call, nothing else.  The lower bound.
 *   BENCH_POOL          sgi_pool, unchecked, single-thread (the SGI speed path)
 *   BENCH_POOL_TS       sgi_pool, unchecked, thread-safe (the lock, uncontended)
 *   BENCH_POOL_CHECKED  sgi_pool, checked and thread-safe (Pool()'s defaults)
 *   BENCH_POOL_TS_NOSIZE       as BENCH_POOL_TS, freeing with sgi_pool_free (no size)
 *   BENCH_POOL_CHECKED_NOSIZE  as BENCH_POOL_CHECKED, freeing with sgi_pool_free
 *                      (both reallocate with sgi_pool_realloc, without the old size)
 *   BENCH_POOL_TCACHE   as BENCH_POOL_TS, with thread caches (thread_cache = 1)
 *   BENCH_POOL_TCACHE_NOSIZE  as BENCH_POOL_TCACHE, freeing with sgi_pool_free (no size)
 *   BENCH_GLIBC         malloc/free/realloc as linked (glibc's, unless preloaded)
 *   BENCH_JEMALLOC      dlopen("libjemalloc.so.2"): malloc, sdallocx, realloc
 *   BENCH_MIMALLOC      dlopen("libmimalloc.so.2"): mi_malloc, mi_free_size, mi_realloc
 *
 * Sizes come from an array indexed cyclically (sizes[i & mask]), so fixed and
 * mixed sizes run the same code.  Every block is touched once (one byte
 * written) after it is allocated, as a program would.
 *
 * Every function returns a status or a time and never aborts or prints.
 */
#ifndef BENCH_LOOPS_H
#define BENCH_LOOPS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Allocator kinds. */
enum {
    BENCH_FLOOR = 0,
    BENCH_POOL = 1,
    BENCH_POOL_TS = 2,
    BENCH_POOL_CHECKED = 3,
    BENCH_GLIBC = 4,
    BENCH_JEMALLOC = 5,
    BENCH_MIMALLOC = 6,
    BENCH_POOL_TS_NOSIZE = 7,
    BENCH_POOL_CHECKED_NOSIZE = 8,
    BENCH_POOL_TCACHE = 9,
    BENCH_POOL_TCACHE_NOSIZE = 10,
    BENCH_NKINDS = 11
};

/* Patterns of bench_pairs. */
enum {
    BENCH_LIFO = 0,  /* allocate, touch, free at once; count pairs */
    BENCH_FIFO = 1,  /* bursts of `live` allocations, then free in the same order */
    BENCH_CHURN = 2  /* `live` blocks stay live; each step frees a random one and
                        allocates its replacement */
};

/* Trace operation codes of bench_replay. */
enum {
    BENCH_OP_ALLOC = 0,  /* a ID SIZE */
    BENCH_OP_FREE = 1,   /* f ID */
    BENCH_OP_REALLOC = 2 /* r ID NEWSIZE */
};

/* Negative results of the timed calls (a time is >= 0). */
enum {
    BENCH_EALLOC = -1,  /* the allocator returned NULL inside the loop */
    BENCH_ENOMEM = -2,  /* no memory for the loop's own scratch arrays */
    BENCH_EINVAL = -3   /* bad arguments (unknown pattern, zero live, ...) */
};

/* Clocks of the timed loops (bench_set_clock). */
enum {
    BENCH_CLOCK_CPU = 0, /* CLOCK_THREAD_CPUTIME_ID: time this thread ran (default) */
    BENCH_CLOCK_WALL = 1 /* CLOCK_MONOTONIC: elapsed time, descheduled time included */
};

/* Selects the clock of every later timed call; 0, or BENCH_EINVAL when the
   clock is unknown or unavailable (the previous one stays). */
int bench_set_clock(int which);

/* The vtable every loop calls through.  ctx is the allocator's state. */
typedef struct bench_vtable {
    void *(*alloc)(void *ctx, size_t n);                               /* NULL when refused */
    void (*free)(void *ctx, void *p, size_t n);                        /* sized free */
    void *(*realloc)(void *ctx, void *p, size_t old_n, size_t new_n);  /* keeps min(old, new) */
} bench_vtable;

typedef struct bench_allocator bench_allocator;

/* Creates an allocator of the given kind.  Returns NULL when it cannot run
   here, with the reason (a dlerror, say) in note[0..note_cap). */
bench_allocator *bench_allocator_new(int kind, char *note, size_t note_cap);

/* Frees the allocator's state (a pool is destroyed, a floor's slabs freed).
   A dlopened library stays loaded.  NULL is a no-op. */
void bench_allocator_delete(bench_allocator *a);

/* What really runs: the functions called and the library they come from
   (as dladdr reports it), with its version where the library tells it. */
void bench_allocator_describe(const bench_allocator *a, char *out, size_t cap);

/* The vtable and context, for C callers that want to run their own loops. */
const bench_vtable *bench_allocator_vtable(const bench_allocator *a, void **ctx);

/* Runs one timed loop and returns its elapsed nanoseconds (bench_set_clock's clock),
   or a negative BENCH_E* code.
     BENCH_LIFO:  count pairs; live and seed unused.
     BENCH_FIFO:  count / live bursts of live blocks (count a multiple of live).
     BENCH_CHURN: live blocks are allocated before the clock starts and freed
                  after it stops; count timed steps, each freeing the block of
                  a random slot (xorshift seeded by seed) and allocating the
                  next size into it.
   sizes[i & mask] is the i-th request size (mask + 1 a power of two). */
int64_t bench_pairs(bench_allocator *a, int pattern, const uint32_t *sizes, size_t mask,
                    size_t count, size_t live, uint64_t seed);

/* Replays a trace `passes` times and returns the elapsed nanoseconds (or a
   negative code).  ops[i] is a BENCH_OP_*, ids[i] a dense slot index below
   nslots, sizes[i] the size of an alloc or realloc.  Each pass ends by freeing
   the blocks still live (timed: part of the pass). */
int64_t bench_replay(bench_allocator *a, const uint8_t *ops, const uint32_t *ids,
                     const uint32_t *sizes, size_t nops, size_t nslots, size_t passes);

/* Memory held for `count` live blocks. */
typedef struct bench_memory {
    uint64_t requested;      /* sum of the requested sizes */
    int64_t malloc_in_use;   /* mallinfo2 (uordblks + hblkhd) after - before: bytes of
                                malloc chunks (headers and page rounding included) */
    int64_t pool_heap_size;  /* sgi_pool heap_size after - before (pools only, else 0) */
    int have_mallinfo2;      /* 0: malloc_in_use is not measured (not glibc >= 2.33) */
} bench_memory;

/* Allocates count blocks (sizes cyclic as in bench_pairs), measures, then
   frees them.  Returns 0, or a negative BENCH_E* code.  Meaningful for
   allocators whose memory comes from glibc's malloc (pools, glibc). */
int bench_measure_memory(bench_allocator *a, const uint32_t *sizes, size_t mask,
                         size_t count, bench_memory *out);

/* A 24-byte linked-list node: the compiled (API-mode) struct that the
   Python-level Arena rows compare with ffi.new. */
struct bench_node {
    struct bench_node *next;
    int64_t value;
    int64_t pad;
};

/* Python-level baselines: the cheapest possible cffi call, and malloc/free
   with integer addresses. */
int bench_noop(int x);
uintptr_t bench_malloc(size_t n);
void bench_free(uintptr_t p);

#ifdef __cplusplus
}
#endif

#endif /* BENCH_LOOPS_H */
