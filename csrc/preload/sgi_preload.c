/*
 * sgi_preload.c -- libsgipool.so: the malloc family on one process-wide
 * SGI pool, for any program (LD_PRELOAD=libsgipool.so PROGRAM).  No Python.
 *
 * Requests of 1..128 bytes with an alignment of at most 16 come from a
 * thread-safe pool in the align-16 profile (16 lists of 16..128-byte blocks,
 * the 16-byte alignment malloc owes on x86-64).  Everything else -- larger
 * or over-aligned requests, malloc(0), page-aligned valloc/pvalloc -- goes to
 * the allocator this library displaced (dlsym(RTLD_NEXT), normally glibc's),
 * and so does every free of a block that is not the pool's.
 *
 * Which blocks are the pool's: its chunks come from one reserved address
 * range (sys_alloc.h sends the core's chunk requests there), so a free tests
 * one range; inside it the pool's block directory tells the block's size.
 *
 * No recursion: the core's own calls to malloc & co. are renamed at compile
 * time (sys_alloc.h) to the system allocator, and while dlsym itself is
 * being resolved (glibc's dlsym may calloc) requests are served from a static
 * bootstrap buffer whose blocks are never freed.
 *
 * As in SGI's design, memory of small blocks is never given back to the
 * system before exit: freed blocks go on the pool's lists for reuse.
 * POOL_PRELOAD_STATS=1 prints the pool's statistics to stderr at exit.
 */
#undef malloc
#undef calloc
#undef realloc
#undef free

#include "../sgi_pool.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

enum { POOL_ALIGN = 16, POOL_MAX_SMALL = 128 };

/* ---- The displaced allocator ------------------------------------------------ */

static struct {
    void *(*malloc)(size_t);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void (*free)(void *);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    size_t (*usable_size)(void *);
} sys;

/* 0: nothing done; 1: resolving the system's functions; 2: done. */
static atomic_int init_state;
static _Atomic(sgi_pool *) the_pool;

/* ---- Bootstrap buffer: while dlsym runs ------------------------------------- */

static alignas(POOL_ALIGN) unsigned char boot[64 * 1024];
static atomic_size_t boot_used;

static void *boot_alloc(size_t n)
{
    size_t rounded = (n + POOL_ALIGN - 1) & ~(size_t)(POOL_ALIGN - 1);
    if (rounded < n || rounded > sizeof boot)
        return NULL;
    size_t at = atomic_fetch_add(&boot_used, rounded);
    return at + rounded <= sizeof boot ? boot + at : NULL; /* zero: never reused */
}

static inline bool in_boot(const void *ptr)
{
    return (uintptr_t)ptr - (uintptr_t)boot < sizeof boot;
}

/* ---- The chunk region -------------------------------------------------------- */

/* Reserved address space (MAP_NORESERVE: pages cost only once touched); the
   pool's chunks are carved from it in order and never returned. */
static uintptr_t region_lo, region_hi;
static atomic_uintptr_t region_next;

static void reserve_region(void)
{
    for (size_t size = (size_t)64 << 30; size >= ((size_t)64 << 20); size /= 4) {
        void *at = mmap(NULL, size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (at != MAP_FAILED) {
            region_lo = (uintptr_t)at;
            region_hi = region_lo + size;
            atomic_store(&region_next, region_lo);
            return;
        }
    }
}

static inline bool in_region(const void *ptr)
{
    return (uintptr_t)ptr - region_lo < region_hi - region_lo;
}

/* The core's chunk requests (sys_alloc.h); NULL when the region is used up,
   which the pool treats as the system refusing (the request then goes to the
   system allocator). */
void *sgi_preload_chunk(size_t n)
{
    size_t rounded = (n + 63) & ~(size_t)63;
    if (rounded < n || rounded > region_hi - region_lo)
        return NULL;
    uintptr_t at = atomic_fetch_add(&region_next, rounded);
    return at - region_lo <= (region_hi - region_lo) - rounded ? (void *)at : NULL;
}

void *sgi_preload_sys_calloc(size_t count, size_t n)
{
    return sys.calloc(count, n);
}

void *sgi_preload_sys_realloc(void *ptr, size_t n)
{
    return sys.realloc(ptr, n);
}

void sgi_preload_sys_free(void *ptr)
{
    if (!in_region(ptr)) /* a chunk given back on an error path stays reserved */
        sys.free(ptr);
}

/* ---- Statistics (POOL_PRELOAD_STATS=1) ------------------------------------- */

static bool stats_on;
static atomic_size_t pool_allocs, pool_frees, sys_allocs, sys_frees;

#define COUNT(counter)                                                     \
    do {                                                                   \
        if (UNLIKELY(stats_on))                                            \
            atomic_fetch_add_explicit(&(counter), 1, memory_order_relaxed); \
    } while (0)

/* Formats into a stack buffer and write(2)s it: no stdio buffer, no malloc. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (len > 0) {
        size_t todo = (size_t)len < sizeof line ? (size_t)len : sizeof line - 1;
        ssize_t written = write(STDERR_FILENO, line, todo);
        (void)written;
    }
}

static void print_stats(void)
{
    sgi_pool *p = atomic_load(&the_pool);
    long pid = (long)getpid();
    if (p == NULL) {
        say("sgi_pool preload [%ld]: no pool (every request went to the system)\n", pid);
        return;
    }
    sgi_pool_stats s;
    sgi_pool_get_stats(p, &s);
    size_t free_blocks[POOL_MAX_SMALL / POOL_ALIGN], live_blocks[POOL_MAX_SMALL / POOL_ALIGN];
    sgi_pool_class_counts(p, free_blocks, live_blocks);
    say("sgi_pool preload [%ld]: align 16, max_small 128, thread-safe\n", pid);
    say("  heap %zu bytes in %zu chunks (%zu uncarved), %zu salvages, %zu refused\n",
        s.heap_size, s.chunks, s.chunk_left, s.salvages, s.requests_refused);
    say("  pool: %zu allocations, %zu frees; system allocator: %zu allocations, %zu frees\n",
        atomic_load(&pool_allocs), atomic_load(&pool_frees), atomic_load(&sys_allocs),
        atomic_load(&sys_frees));
    char classes[200];
    size_t used = 0;
    for (size_t i = 0; i < POOL_MAX_SMALL / POOL_ALIGN && used < sizeof classes; i++) {
        int len = snprintf(classes + used, sizeof classes - used, " %zu:%zu/%zu",
                           (i + 1) * POOL_ALIGN, live_blocks[i], free_blocks[i]);
        used += len > 0 ? (size_t)len : 0;
    }
    say("  blocks live/free per class:%s\n", classes);
}

/* ---- Initialisation ---------------------------------------------------------- */

/* POSIX: a function pointer's bytes may be copied from dlsym's void *
   (ISO C has no cast between the two). */
static void lookup(void *slot, const char *name)
{
    void *sym = dlsym(RTLD_NEXT, name);
    memcpy(slot, &sym, sizeof sym);
}

static void resolve(void)
{
    lookup(&sys.malloc, "malloc");
    lookup(&sys.calloc, "calloc");
    lookup(&sys.realloc, "realloc");
    lookup(&sys.free, "free");
    lookup(&sys.posix_memalign, "posix_memalign");
    lookup(&sys.aligned_alloc, "aligned_alloc");
    lookup(&sys.memalign, "memalign");
    lookup(&sys.valloc, "valloc");
    lookup(&sys.pvalloc, "pvalloc");
    lookup(&sys.usable_size, "malloc_usable_size");
}

/* Once, from the constructor or the first call, whichever is first.  A call
   made while it runs (dlsym's own, or another thread's) is served from the
   bootstrap buffer (allocations) or by the system once resolved. */
static void init(void)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&init_state, &expected, 1))
        return;
    resolve();
    const char *flag = getenv("POOL_PRELOAD_STATS");
    stats_on = flag != NULL && flag[0] != '\0' && strcmp(flag, "0") != 0;
    atomic_store(&init_state, 2); /* from here on the system allocator serves */
    if (sys.malloc == NULL || sys.free == NULL || sys.calloc == NULL || sys.realloc == NULL)
        return; /* no next allocator: stay on the bootstrap buffer */
    reserve_region();
    sgi_pool_options o;
    sgi_pool_options_init(&o);
    o.align = POOL_ALIGN;
    o.max_small = POOL_MAX_SMALL;
    o.thread_safe = 1;
    if (region_hi != region_lo)
        atomic_store(&the_pool, sgi_pool_create(&o)); /* its calloc goes to the system */
}

__attribute__((constructor(101))) static void preload_start(void)
{
    init();
}

/* The pool is never destroyed: destructors and atexit handlers that run
   after this one may still free pool blocks. */
__attribute__((destructor(101))) static void preload_end(void)
{
    if (stats_on)
        print_stats();
}

static inline bool resolved(void)
{
    if (UNLIKELY(sys.malloc == NULL))
        init();
    return sys.malloc != NULL;
}

/* ---- The malloc family --------------------------------------------------------- */

static inline void *pool_small(size_t n)
{
    sgi_pool *p = atomic_load_explicit(&the_pool, memory_order_acquire);
    if (LIKELY(p != NULL)) {
        void *block = sgi_pool_allocate(p, n);
        if (LIKELY(block != NULL)) {
            COUNT(pool_allocs);
            return block;
        }
    }
    return NULL;
}

EXPORT void *malloc(size_t n)
{
    if (LIKELY(n - 1 < POOL_MAX_SMALL)) { /* 1..128: one compare */
        void *block = pool_small(n);
        if (LIKELY(block != NULL))
            return block;
    }
    if (UNLIKELY(!resolved()))
        return boot_alloc(n);
    COUNT(sys_allocs);
    return sys.malloc(n);
}

EXPORT void free(void *ptr)
{
    if (LIKELY(in_region(ptr))) {
        COUNT(pool_frees);
        sgi_pool_free(atomic_load_explicit(&the_pool, memory_order_relaxed), ptr);
        return;
    }
    if (ptr == NULL || in_boot(ptr) || !resolved())
        return;
    COUNT(sys_frees);
    sys.free(ptr);
}

EXPORT void *calloc(size_t count, size_t n)
{
    size_t total;
    if (UNLIKELY(__builtin_mul_overflow(count, n, &total))) {
        errno = ENOMEM;
        return NULL;
    }
    if (LIKELY(total - 1 < POOL_MAX_SMALL)) {
        void *block = pool_small(total);
        if (LIKELY(block != NULL))
            return memset(block, 0, total); /* reused blocks hold old data */
    }
    if (UNLIKELY(!resolved()))
        return boot_alloc(total); /* the buffer is zero and never reused */
    COUNT(sys_allocs);
    return sys.calloc(count, n);
}

EXPORT void *realloc(void *ptr, size_t n)
{
    if (ptr == NULL)
        return malloc(n);
    if (in_region(ptr)) {
        sgi_pool *p = atomic_load_explicit(&the_pool, memory_order_relaxed);
        size_t old = sgi_pool_usable_size(p, ptr);
        if (n == 0) { /* glibc's realloc(p, 0): frees, returns NULL */
            free(ptr);
            return NULL;
        }
        if (n <= old) /* shrinking, or growing within the block: stays */
            return ptr;
        void *moved = malloc(n);
        if (moved == NULL)
            return NULL; /* ptr untouched */
        memcpy(moved, ptr, old);
        free(ptr);
        return moved;
    }
    if (in_boot(ptr)) {
        void *moved = malloc(n);
        if (moved != NULL) {
            size_t room = sizeof boot - (size_t)((unsigned char *)ptr - boot);
            memcpy(moved, ptr, n < room ? n : room);
        }
        return moved;
    }
    if (UNLIKELY(!resolved()))
        return NULL;
    return sys.realloc(ptr, n);
}

EXPORT void *reallocarray(void *ptr, size_t count, size_t n)
{
    size_t total;
    if (__builtin_mul_overflow(count, n, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(ptr, total);
}

/* Pool blocks are 16-byte aligned, so alignments up to 16 are the pool's. */
static inline void *aligned_small(size_t alignment, size_t n)
{
    return alignment <= POOL_ALIGN && n - 1 < POOL_MAX_SMALL ? pool_small(n) : NULL;
}

EXPORT int posix_memalign(void **out, size_t alignment, size_t n)
{
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0)
        return EINVAL;
    void *block = aligned_small(alignment, n);
    if (block != NULL) {
        *out = block;
        return 0;
    }
    if (!resolved() || sys.posix_memalign == NULL)
        return ENOMEM;
    COUNT(sys_allocs);
    return sys.posix_memalign(out, alignment, n);
}

EXPORT void *aligned_alloc(size_t alignment, size_t n)
{
    void *block = aligned_small(alignment, n);
    if (block != NULL)
        return block;
    if (!resolved() || sys.aligned_alloc == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    COUNT(sys_allocs);
    return sys.aligned_alloc(alignment, n);
}

EXPORT void *memalign(size_t alignment, size_t n)
{
    void *block = aligned_small(alignment, n);
    if (block != NULL)
        return block;
    if (!resolved() || sys.memalign == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    COUNT(sys_allocs);
    return sys.memalign(alignment, n);
}

EXPORT void *valloc(size_t n)
{
    if (!resolved() || sys.valloc == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    COUNT(sys_allocs);
    return sys.valloc(n);
}

EXPORT void *pvalloc(size_t n)
{
    if (!resolved() || sys.pvalloc == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    COUNT(sys_allocs);
    return sys.pvalloc(n);
}

EXPORT size_t malloc_usable_size(void *ptr)
{
    if (in_region(ptr))
        return sgi_pool_usable_size(atomic_load(&the_pool), ptr);
    if (ptr == NULL || in_boot(ptr) || !resolved() || sys.usable_size == NULL)
        return 0;
    return sys.usable_size(ptr);
}
