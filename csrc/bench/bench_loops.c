/*
 * bench_loops.c -- the allocators and timed loops of bench_loops.h.
 *
 * Fairness rules this file keeps:
 *   - Every allocator is reached through the same bench_vtable, so the loops
 *     are one piece of machine code for all of them: an indirect call per
 *     allocate and per free, whatever sits behind it.
 *   - The floor is compiled here with the same flags as the pool (the pool's
 *     sources are compiled into the same extension), and its fast path is the
 *     least an SGI-style allocator can do: a size-to-class shift, an empty-list
 *     test, a pop or a push.
 *   - Competitors get their best documented entry points: jemalloc's sized
 *     free (sdallocx), mimalloc's mi_free_size.  glibc has no sized free in
 *     this version, so it gets free().
 *   - Scratch arrays are allocated before the clock starts and freed after it
 *     stops; the clock is read once before and once after the loop: by
 *     default the thread's CPU time (CLOCK_THREAD_CPUTIME_ID), which leaves
 *     out the time the thread spends descheduled on a shared machine, or
 *     CLOCK_MONOTONIC (bench_set_clock).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dladdr, mallinfo2, clock_gettime */
#endif

#include "bench_loops.h"
#include "sgi_pool.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__GLIBC__)
#include <gnu/libc-version.h>
#include <malloc.h>
#if __GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33)
#define BENCH_HAVE_MALLINFO2 1
#endif
#endif

#if defined(__GNUC__)
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define NOINLINE __attribute__((noinline))
#else
#define LIKELY(x) (x)
#define UNLIKELY(x) (x)
#define NOINLINE
#endif

/* ---- Tunables ------------------------------------------------------------- */

#define FLOOR_ALIGN 8      /* the classic profile, as the pool's */
#define FLOOR_MAX 128      /* largest size on the lists */
#define FLOOR_NLISTS 16    /* FLOOR_MAX / FLOOR_ALIGN */
#define FLOOR_PREFILL 1024 /* blocks per list at creation: never empty in a LIFO loop */
#define FLOOR_GROW 1024    /* blocks carved when a list runs dry (bursts, churn) */

_Static_assert(FLOOR_NLISTS * FLOOR_ALIGN == FLOOR_MAX, "16 lists of 8..128 bytes");

#define JEMALLOC_SONAME "libjemalloc.so.2"
#define MIMALLOC_SONAME "libmimalloc.so.2"

/* ---- Small helpers ---------------------------------------------------------- */

/* The clock of every timed loop: BENCH_CLOCK_CPU (default) or BENCH_CLOCK_WALL. */
static int bench_clock = BENCH_CLOCK_CPU;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(bench_clock == BENCH_CLOCK_WALL ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One byte written per new block, as a program would; volatile so it stays. */
static inline void touch(void *p, size_t n)
{
    *(volatile unsigned char *)p = (unsigned char)n;
}

/* snprintf into a note buffer that may be NULL or empty. */
static void note_set(char *note, size_t cap, const char *fmt, ...)
{
    if (note == NULL || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(note, cap, fmt, ap);
    va_end(ap);
}

/* The file a code address belongs to, as the dynamic loader says. */
static const char *library_of(const void *fn)
{
    Dl_info info;
    if (fn != NULL && dladdr(fn, &info) && info.dli_fname != NULL)
        return info.dli_fname;
    return "?";
}

/* The library a function pointer points into.  Function and data pointers
   convert through uintptr_t (POSIX guarantees it for dlsym's results). */
#define LIBRARY_OF(fn) library_of((const void *)(uintptr_t)(fn))

/* ---- The floor: 16 bare free lists ---------------------------------------- */

typedef union floor_node {
    union floor_node *next; /* the link lives in the free block, as in SGI */
} floor_node;

typedef struct floor_slab {
    struct floor_slab *next; /* every slab, for delete */
    size_t pad;              /* keeps the blocks 16-byte aligned */
} floor_slab;

typedef struct bench_floor {
    floor_node *head[FLOOR_NLISTS]; /* one list per 8-byte class */
    floor_slab *slabs;              /* memory obtained, freed by delete */
} bench_floor;

/* Carves FLOOR_GROW blocks of class cls: the first is returned, the rest
   become the (empty) list in ascending address order.  NULL when malloc
   refuses. */
static NOINLINE void *floor_grow(bench_floor *f, size_t cls)
{
    size_t size = (cls + 1) * FLOOR_ALIGN;
    floor_slab *slab = malloc(sizeof *slab + size * FLOOR_GROW);
    if (slab == NULL)
        return NULL;
    slab->next = f->slabs;
    f->slabs = slab;
    char *base = (char *)(slab + 1);
    for (size_t k = 1; k + 1 < FLOOR_GROW; k++)
        ((floor_node *)(base + k * size))->next = (floor_node *)(base + (k + 1) * size);
    ((floor_node *)(base + (FLOOR_GROW - 1) * size))->next = f->head[cls];
    f->head[cls] = (floor_node *)(base + size);
    return base;
}

static void *floor_alloc(void *ctx, size_t n)
{
    bench_floor *f = ctx;
    if (LIKELY(n - 1 < FLOOR_MAX)) {
        size_t cls = (n - 1) >> 3;
        floor_node *b = f->head[cls];
        if (LIKELY(b != NULL)) {
            f->head[cls] = b->next;
            return b;
        }
        return floor_grow(f, cls);
    }
    return malloc(n);
}

static void floor_free(void *ctx, void *p, size_t n)
{
    bench_floor *f = ctx;
    if (LIKELY(n - 1 < FLOOR_MAX)) {
        size_t cls = (n - 1) >> 3;
        floor_node *b = p;
        b->next = f->head[cls];
        f->head[cls] = b;
        return;
    }
    free(p);
}

static void *floor_realloc(void *ctx, void *p, size_t old_n, size_t new_n)
{
    if (old_n > FLOOR_MAX && new_n > FLOOR_MAX)
        return realloc(p, new_n);
    if (old_n <= FLOOR_MAX && new_n <= FLOOR_MAX && (old_n - 1) >> 3 == (new_n - 1) >> 3)
        return p;
    void *q = floor_alloc(ctx, new_n);
    if (q == NULL)
        return NULL;
    memcpy(q, p, old_n < new_n ? old_n : new_n);
    floor_free(ctx, p, old_n);
    return q;
}

static const bench_vtable floor_vtable = {floor_alloc, floor_free, floor_realloc};

static bench_floor *floor_create(void)
{
    bench_floor *f = calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    /* Pre-fill: FLOOR_PREFILL blocks per list (grow makes FLOOR_GROW, hands
       out one, which goes straight back). */
    for (size_t cls = 0; cls < FLOOR_NLISTS; cls++) {
        void *b = floor_grow(f, cls);
        if (b == NULL)
            return f; /* a smaller pre-fill: the lists grow on demand */
        floor_free(f, b, (cls + 1) * FLOOR_ALIGN);
    }
    return f;
}

static void floor_destroy(bench_floor *f)
{
    if (f == NULL)
        return;
    for (floor_slab *s = f->slabs, *next; s != NULL; s = next) {
        next = s->next;
        free(s);
    }
    free(f);
}

_Static_assert(FLOOR_PREFILL == FLOOR_GROW, "the pre-fill is one grow per list");

/* ---- sgi_pool ------------------------------------------------------------------- */

static void *pool_alloc(void *ctx, size_t n)
{
    return sgi_pool_allocate(ctx, n);
}

static void pool_free(void *ctx, void *p, size_t n)
{
    sgi_pool_deallocate(ctx, p, n);
}

static void *pool_realloc(void *ctx, void *p, size_t old_n, size_t new_n)
{
    return sgi_pool_reallocate(ctx, p, old_n, new_n);
}

static const bench_vtable pool_vtable = {pool_alloc, pool_free, pool_realloc};

/* The size-less calls: the size the loops pass is ignored. */
static void pool_free_nosize(void *ctx, void *p, size_t n)
{
    (void)n;
    sgi_pool_free(ctx, p);
}

static void *pool_realloc_nosize(void *ctx, void *p, size_t old_n, size_t new_n)
{
    (void)old_n;
    return sgi_pool_realloc(ctx, p, new_n);
}

static const bench_vtable pool_nosize_vtable = {pool_alloc, pool_free_nosize,
                                                pool_realloc_nosize};

/* ---- glibc (the malloc this process links) -------------------------------- */

static void *libc_alloc(void *ctx, size_t n)
{
    (void)ctx;
    return malloc(n);
}

static void libc_free(void *ctx, void *p, size_t n)
{
    (void)ctx;
    (void)n;
    free(p);
}

static void *libc_realloc(void *ctx, void *p, size_t old_n, size_t new_n)
{
    (void)ctx;
    (void)old_n;
    return realloc(p, new_n);
}

static const bench_vtable libc_vtable = {libc_alloc, libc_free, libc_realloc};

/* ---- dlopened allocators (jemalloc, mimalloc) ------------------------------- */

typedef struct dl_funcs {
    void *(*malloc)(size_t n);
    void (*sized_free)(void *p, size_t n);         /* mi_free_size */
    void (*sized_free_flags)(void *p, size_t n, int flags); /* jemalloc sdallocx */
    void *(*realloc)(void *p, size_t n);
} dl_funcs;

static void *je_alloc(void *ctx, size_t n)
{
    return ((const dl_funcs *)ctx)->malloc(n);
}

static void je_free(void *ctx, void *p, size_t n)
{
    ((const dl_funcs *)ctx)->sized_free_flags(p, n, 0);
}

static void *dl_realloc(void *ctx, void *p, size_t old_n, size_t new_n)
{
    (void)old_n;
    return ((const dl_funcs *)ctx)->realloc(p, new_n);
}

static void *mi_alloc(void *ctx, size_t n)
{
    return ((const dl_funcs *)ctx)->malloc(n);
}

static void mi_free(void *ctx, void *p, size_t n)
{
    ((const dl_funcs *)ctx)->sized_free(p, n);
}

static const bench_vtable je_vtable = {je_alloc, je_free, dl_realloc};
static const bench_vtable mi_vtable = {mi_alloc, mi_free, dl_realloc};

/* ---- The allocator handle ----------------------------------------------------- */

struct bench_allocator {
    int kind;                /* BENCH_* */
    const bench_vtable *vt;  /* what the loops call */
    void *ctx;               /* sgi_pool *, bench_floor *, or &fns */
    dl_funcs fns;            /* dlopened entry points */
    char desc[400];          /* bench_allocator_describe's text */
};

/* dlsym that reports the missing name. */
static void *need_symbol(void *dl, const char *name, const char *soname, char *note, size_t cap)
{
    dlerror();
    void *sym = dlsym(dl, name);
    if (sym == NULL)
        note_set(note, cap, "%s has no %s: %s", soname, name, dlerror());
    return sym;
}

/* Loads jemalloc.  The library stays loaded for the life of the process
   (unloading an allocator with thread caches is not safe). */
static bool open_jemalloc(bench_allocator *a, char *note, size_t cap)
{
    void *dl = dlopen(JEMALLOC_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        note_set(note, cap, "dlopen(\"%s\") failed: %s", JEMALLOC_SONAME, dlerror());
        return false;
    }
    void *m = need_symbol(dl, "malloc", JEMALLOC_SONAME, note, cap);
    void *s = m ? need_symbol(dl, "sdallocx", JEMALLOC_SONAME, note, cap) : NULL;
    void *r = s ? need_symbol(dl, "realloc", JEMALLOC_SONAME, note, cap) : NULL;
    if (r == NULL)
        return false;
    a->fns.malloc = (void *(*)(size_t))(uintptr_t)m;
    a->fns.sized_free_flags = (void (*)(void *, size_t, int))(uintptr_t)s;
    a->fns.realloc = (void *(*)(void *, size_t))(uintptr_t)r;
    const char *version = "unknown version";
    int (*mallctl)(const char *, void *, size_t *, void *, size_t) =
        (int (*)(const char *, void *, size_t *, void *, size_t))(uintptr_t)dlsym(dl, "mallctl");
    const char *v = NULL;
    size_t vlen = sizeof v;
    if (mallctl != NULL && mallctl("version", &v, &vlen, NULL, 0) == 0 && v != NULL)
        version = v;
    snprintf(a->desc, sizeof a->desc, "jemalloc %s: malloc/sdallocx/realloc from %s", version,
             LIBRARY_OF(a->fns.malloc));
    a->vt = &je_vtable;
    a->ctx = &a->fns;
    return true;
}

static bool open_mimalloc(bench_allocator *a, char *note, size_t cap)
{
    void *dl = dlopen(MIMALLOC_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        note_set(note, cap, "dlopen(\"%s\") failed: %s", MIMALLOC_SONAME, dlerror());
        return false;
    }
    void *m = need_symbol(dl, "mi_malloc", MIMALLOC_SONAME, note, cap);
    void *s = m ? need_symbol(dl, "mi_free_size", MIMALLOC_SONAME, note, cap) : NULL;
    void *r = s ? need_symbol(dl, "mi_realloc", MIMALLOC_SONAME, note, cap) : NULL;
    if (r == NULL)
        return false;
    a->fns.malloc = (void *(*)(size_t))(uintptr_t)m;
    a->fns.sized_free = (void (*)(void *, size_t))(uintptr_t)s;
    a->fns.realloc = (void *(*)(void *, size_t))(uintptr_t)r;
    int (*mi_version)(void) = (int (*)(void))(uintptr_t)dlsym(dl, "mi_version");
    int v = mi_version != NULL ? mi_version() : 0;
    snprintf(a->desc, sizeof a->desc,
             "mimalloc %d.%d.%d: mi_malloc/mi_free_size/mi_realloc from %s", v / 100,
             (v / 10) % 10, v % 10, LIBRARY_OF(a->fns.malloc));
    a->vt = &mi_vtable;
    a->ctx = &a->fns;
    return true;
}

static bool open_pool(bench_allocator *a, int thread_safe, int checked, int nosize, char *note,
                      size_t cap, int thread_cache)
{
    sgi_pool_options o;
    sgi_pool_options_init(&o);
    o.thread_safe = thread_safe;
    o.checked = checked;
    o.thread_cache = thread_cache;
    sgi_pool *p = sgi_pool_create(&o);
    if (p == NULL) {
        note_set(note, cap, "sgi_pool_create failed");
        return false;
    }
    a->vt = nosize ? &pool_nosize_vtable : &pool_vtable;
    a->ctx = p;
    snprintf(a->desc, sizeof a->desc,
             "sgi_pool compiled into this module (csrc/sgi_pool.c): %s, %s, %s%s; align %zu, "
             "max_small %zu, refill %zu",
             checked ? "checked" : "unchecked", thread_safe ? "thread-safe" : "single-thread",
             nosize ? "size-less sgi_pool_free/sgi_pool_realloc" : "sized free",
             thread_cache ? ", thread caches" : "", o.align, o.max_small, o.refill);
    return true;
}

bench_allocator *bench_allocator_new(int kind, char *note, size_t note_cap)
{
    note_set(note, note_cap, "%s", "");
    bench_allocator *a = calloc(1, sizeof *a);
    if (a == NULL) {
        note_set(note, note_cap, "out of memory");
        return NULL;
    }
    a->kind = kind;
    bool ok = false;
    switch (kind) {
    case BENCH_FLOOR:
        a->ctx = floor_create();
        a->vt = &floor_vtable;
        ok = a->ctx != NULL;
        if (!ok)
            note_set(note, note_cap, "out of memory");
        snprintf(a->desc, sizeof a->desc,
                 "bench_loops.c: 16 bare free lists of 8..128 bytes, pre-filled with %d blocks "
                 "each; a pop or a push per call",
                 FLOOR_PREFILL);
        break;
    case BENCH_POOL:
        ok = open_pool(a, 0, 0, 0, note, note_cap, 0);
        break;
    case BENCH_POOL_TS:
        ok = open_pool(a, 1, 0, 0, note, note_cap, 0);
        break;
    case BENCH_POOL_CHECKED:
        ok = open_pool(a, 1, 1, 0, note, note_cap, 0);
        break;
    case BENCH_POOL_TS_NOSIZE:
        ok = open_pool(a, 1, 0, 1, note, note_cap, 0);
        break;
    case BENCH_POOL_CHECKED_NOSIZE:
        ok = open_pool(a, 1, 1, 1, note, note_cap, 0);
        break;
    case BENCH_POOL_TCACHE:
        ok = open_pool(a, 1, 0, 0, note, note_cap, 1);
        break;
    case BENCH_POOL_TCACHE_NOSIZE:
        ok = open_pool(a, 1, 0, 1, note, note_cap, 1);
        break;
    case BENCH_GLIBC:
        a->vt = &libc_vtable;
        ok = true;
#if defined(__GLIBC__)
        snprintf(a->desc, sizeof a->desc, "malloc/free/realloc from %s (glibc %s)",
                 LIBRARY_OF(&malloc), gnu_get_libc_version());
#else
        snprintf(a->desc, sizeof a->desc, "malloc/free/realloc from %s", LIBRARY_OF(&malloc));
#endif
        break;
    case BENCH_JEMALLOC:
        ok = open_jemalloc(a, note, note_cap);
        break;
    case BENCH_MIMALLOC:
        ok = open_mimalloc(a, note, note_cap);
        break;
    default:
        note_set(note, note_cap, "unknown allocator kind %d", kind);
        break;
    }
    if (!ok) {
        bench_allocator_delete(a);
        return NULL;
    }
    return a;
}

static bool is_pool(const bench_allocator *a)
{
    return a->kind == BENCH_POOL || a->kind == BENCH_POOL_TS || a->kind == BENCH_POOL_CHECKED ||
           a->kind == BENCH_POOL_TS_NOSIZE || a->kind == BENCH_POOL_CHECKED_NOSIZE ||
           a->kind == BENCH_POOL_TCACHE || a->kind == BENCH_POOL_TCACHE_NOSIZE;
}

void bench_allocator_delete(bench_allocator *a)
{
    if (a == NULL)
        return;
    if (a->kind == BENCH_FLOOR)
        floor_destroy(a->ctx);
    else if (is_pool(a))
        sgi_pool_destroy(a->ctx);
    free(a);
}

void bench_allocator_describe(const bench_allocator *a, char *out, size_t cap)
{
    note_set(out, cap, "%s", a->desc);
}

const bench_vtable *bench_allocator_vtable(const bench_allocator *a, void **ctx)
{
    if (ctx != NULL)
        *ctx = a->ctx;
    return a->vt;
}

/* ---- The loops ---------------------------------------------------------------- */

/* Each loop copies the two entry points and the context into locals, so the
   timed code is: load a size, indirect call, one byte store, indirect call. */

static NOINLINE int64_t loop_lifo(const bench_vtable *vt, void *ctx, const uint32_t *sizes,
                                  size_t mask, size_t count)
{
    void *(*alloc)(void *, size_t) = vt->alloc;
    void (*release)(void *, void *, size_t) = vt->free;
    int64_t t0 = now_ns();
    for (size_t i = 0; i < count; i++) {
        size_t n = sizes[i & mask];
        void *p = alloc(ctx, n);
        if (UNLIKELY(p == NULL))
            return BENCH_EALLOC;
        touch(p, n);
        release(ctx, p, n);
    }
    return now_ns() - t0;
}

static NOINLINE int64_t loop_fifo(const bench_vtable *vt, void *ctx, const uint32_t *sizes,
                                  size_t mask, size_t count, size_t live, void **ptrs)
{
    void *(*alloc)(void *, size_t) = vt->alloc;
    void (*release)(void *, void *, size_t) = vt->free;
    size_t k = 0;
    int64_t t0 = now_ns();
    for (size_t burst = 0; burst < count / live; burst++) {
        for (size_t i = 0; i < live; i++) {
            size_t n = sizes[(k + i) & mask];
            void *p = alloc(ctx, n);
            if (UNLIKELY(p == NULL)) {
                while (i-- > 0)
                    release(ctx, ptrs[i], sizes[(k + i) & mask]);
                return BENCH_EALLOC;
            }
            touch(p, n);
            ptrs[i] = p;
        }
        for (size_t i = 0; i < live; i++)
            release(ctx, ptrs[i], sizes[(k + i) & mask]);
        k += live;
    }
    return now_ns() - t0;
}

static inline uint64_t xorshift64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static NOINLINE int64_t loop_churn(const bench_vtable *vt, void *ctx, const uint32_t *sizes,
                                   size_t mask, size_t count, size_t live, void **ptrs,
                                   uint32_t *held, uint64_t seed)
{
    void *(*alloc)(void *, size_t) = vt->alloc;
    void (*release)(void *, void *, size_t) = vt->free;
    int64_t result = 0;
    size_t filled = 0;
    for (; filled < live; filled++) { /* the live set, before the clock */
        size_t n = sizes[filled & mask];
        ptrs[filled] = alloc(ctx, n);
        if (ptrs[filled] == NULL) {
            result = BENCH_EALLOC;
            goto out;
        }
        touch(ptrs[filled], n);
        held[filled] = (uint32_t)n;
    }
    uint64_t state = seed ? seed : 0x9E3779B97F4A7C15u;
    int64_t t0 = now_ns();
    for (size_t i = 0; i < count; i++) {
        size_t j = (size_t)(((xorshift64(&state) >> 32) * (uint64_t)live) >> 32);
        release(ctx, ptrs[j], held[j]);
        size_t n = sizes[(live + i) & mask];
        void *p = alloc(ctx, n);
        if (UNLIKELY(p == NULL)) {
            ptrs[j] = ptrs[--filled]; /* keep the rest freeable */
            held[j] = held[filled];
            result = BENCH_EALLOC;
            goto out;
        }
        touch(p, n);
        ptrs[j] = p;
        held[j] = (uint32_t)n;
    }
    result = now_ns() - t0;
out:
    for (size_t j = 0; j < filled; j++) /* after the clock */
        release(ctx, ptrs[j], held[j]);
    return result;
}

int64_t bench_pairs(bench_allocator *a, int pattern, const uint32_t *sizes, size_t mask,
                    size_t count, size_t live, uint64_t seed)
{
    if (a == NULL || sizes == NULL || ((mask + 1) & mask) != 0)
        return BENCH_EINVAL;
    for (size_t i = 0; i <= mask; i++)
        if (sizes[i] == 0)
            return BENCH_EINVAL;
    if (pattern == BENCH_LIFO)
        return loop_lifo(a->vt, a->ctx, sizes, mask, count);
    if (pattern != BENCH_FIFO && pattern != BENCH_CHURN)
        return BENCH_EINVAL;
    if (live == 0 || (pattern == BENCH_FIFO && count % live != 0))
        return BENCH_EINVAL;
    void **ptrs = malloc(live * sizeof *ptrs);
    uint32_t *held = pattern == BENCH_CHURN ? malloc(live * sizeof *held) : NULL;
    int64_t result = BENCH_ENOMEM;
    if (ptrs != NULL && (pattern == BENCH_FIFO || held != NULL)) {
        if (pattern == BENCH_FIFO)
            result = loop_fifo(a->vt, a->ctx, sizes, mask, count, live, ptrs);
        else
            result = loop_churn(a->vt, a->ctx, sizes, mask, count, live, ptrs, held, seed);
    }
    free(held);
    free(ptrs);
    return result;
}

static NOINLINE int64_t loop_replay(const bench_vtable *vt, void *ctx, const uint8_t *ops,
                                    const uint32_t *ids, const uint32_t *sizes, size_t nops,
                                    size_t nslots, size_t passes, void **slots, uint32_t *held)
{
    void *(*alloc)(void *, size_t) = vt->alloc;
    void (*release)(void *, void *, size_t) = vt->free;
    void *(*resize)(void *, void *, size_t, size_t) = vt->realloc;
    int64_t result = 0;
    int64_t t0 = now_ns();
    for (size_t pass = 0; pass < passes; pass++) {
        for (size_t i = 0; i < nops; i++) {
            uint32_t id = ids[i];
            switch (ops[i]) {
            case BENCH_OP_ALLOC: {
                void *p = alloc(ctx, sizes[i]);
                if (UNLIKELY(p == NULL)) {
                    result = BENCH_EALLOC;
                    goto out;
                }
                touch(p, sizes[i]);
                slots[id] = p;
                held[id] = sizes[i];
                break;
            }
            case BENCH_OP_FREE:
                release(ctx, slots[id], held[id]);
                slots[id] = NULL;
                break;
            default: {
                void *p = resize(ctx, slots[id], held[id], sizes[i]);
                if (UNLIKELY(p == NULL)) {
                    result = BENCH_EALLOC;
                    goto out;
                }
                slots[id] = p;
                held[id] = sizes[i];
                break;
            }
            }
        }
        for (size_t s = 0; s < nslots; s++) { /* the survivors: part of the pass */
            if (slots[s] != NULL) {
                release(ctx, slots[s], held[s]);
                slots[s] = NULL;
            }
        }
    }
    result = now_ns() - t0;
out:
    for (size_t s = 0; s < nslots; s++)
        if (slots[s] != NULL)
            release(ctx, slots[s], held[s]);
    return result;
}

int64_t bench_replay(bench_allocator *a, const uint8_t *ops, const uint32_t *ids,
                     const uint32_t *sizes, size_t nops, size_t nslots, size_t passes)
{
    if (a == NULL || (nops > 0 && (ops == NULL || ids == NULL || sizes == NULL)))
        return BENCH_EINVAL;
    /* Validate before the clock: every op names a slot, sizes are >= 1, and
       f / r name a live slot (a valid trace guarantees it; check anyway). */
    unsigned char *live = calloc(nslots ? nslots : 1, 1);
    if (live == NULL)
        return BENCH_ENOMEM;
    int64_t status = 0;
    for (size_t i = 0; i < nops && status == 0; i++) {
        if (ids[i] >= nslots || ops[i] > BENCH_OP_REALLOC)
            status = BENCH_EINVAL;
        else if (ops[i] == BENCH_OP_ALLOC)
            status = (live[ids[i]] || sizes[i] == 0) ? BENCH_EINVAL : (live[ids[i]] = 1, 0);
        else if (ops[i] == BENCH_OP_FREE)
            status = live[ids[i]] ? (live[ids[i]] = 0, 0) : BENCH_EINVAL;
        else
            status = (live[ids[i]] && sizes[i] != 0) ? 0 : BENCH_EINVAL;
    }
    free(live);
    if (status != 0)
        return status;
    void **slots = calloc(nslots ? nslots : 1, sizeof *slots);
    uint32_t *held = calloc(nslots ? nslots : 1, sizeof *held);
    int64_t result = BENCH_ENOMEM;
    if (slots != NULL && held != NULL)
        result = loop_replay(a->vt, a->ctx, ops, ids, sizes, nops, nslots, passes, slots, held);
    free(held);
    free(slots);
    return result;
}

/* ---- Memory held ------------------------------------------------------------- */

static int64_t malloc_in_use(void)
{
#ifdef BENCH_HAVE_MALLINFO2
    struct mallinfo2 mi = mallinfo2();
    return (int64_t)(mi.uordblks + mi.hblkhd);
#else
    return 0;
#endif
}

static int64_t pool_heap(const bench_allocator *a)
{
    if (!is_pool(a))
        return 0;
    sgi_pool_stats st;
    sgi_pool_get_stats(a->ctx, &st);
    return (int64_t)st.heap_size;
}

int bench_measure_memory(bench_allocator *a, const uint32_t *sizes, size_t mask, size_t count,
                         bench_memory *out)
{
    if (a == NULL || sizes == NULL || out == NULL || ((mask + 1) & mask) != 0)
        return BENCH_EINVAL;
    memset(out, 0, sizeof *out);
    void **ptrs = malloc((count ? count : 1) * sizeof *ptrs);
    if (ptrs == NULL)
        return BENCH_ENOMEM;
    int64_t used0 = malloc_in_use(), heap0 = pool_heap(a);
    uint64_t requested = 0;
    size_t done = 0;
    int status = 0;
    for (; done < count; done++) {
        size_t n = sizes[done & mask];
        ptrs[done] = a->vt->alloc(a->ctx, n);
        if (ptrs[done] == NULL) {
            status = BENCH_EALLOC;
            break;
        }
        touch(ptrs[done], n);
        requested += n;
    }
    int64_t used1 = malloc_in_use(), heap1 = pool_heap(a);
    while (done-- > 0)
        a->vt->free(a->ctx, ptrs[done], sizes[done & mask]);
    free(ptrs);
    out->requested = requested;
    out->malloc_in_use = used1 - used0;
    out->pool_heap_size = heap1 - heap0;
#ifdef BENCH_HAVE_MALLINFO2
    out->have_mallinfo2 = 1;
#endif
    return status;
}

/* ---- Clock --------------------------------------------------------------------- */

int bench_set_clock(int which)
{
    if (which != BENCH_CLOCK_CPU && which != BENCH_CLOCK_WALL)
        return BENCH_EINVAL;
    struct timespec ts;
    if (clock_gettime(which == BENCH_CLOCK_WALL ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &ts))
        return BENCH_EINVAL;
    bench_clock = which;
    return 0;
}

/* ---- Python-level baselines ---------------------------------------------------- */

int bench_noop(int x)
{
    return x;
}

uintptr_t bench_malloc(size_t n)
{
    return (uintptr_t)malloc(n);
}

void bench_free(uintptr_t p)
{
    free((void *)p);
}
