/*
 * range.c -- the preload library's chunk range (range.h).
 *
 * One range of address space is reserved at start-up (MAP_NORESERVE: pages
 * cost only once touched) and the core's chunk requests (sys_alloc.h's
 * malloc) are carved from it: first from a free extent (first fit, lowest
 * address), else from the top.  A chunk the core releases (trim, through
 * POOL_CHUNK_RELEASE) gives its whole pages back with madvise(MADV_DONTNEED)
 * -- the addresses stay reserved, so a block's owner is still one range
 * compare -- and its addresses join the free extents, merged with their
 * neighbours, or lower the top.  Repeated bursts and trims so reuse the same
 * addresses and never use the range up.
 *
 * Locking: the core asks for and releases chunks only with the pool's lock
 * held (system_request under allocate_general/refill, the trim under its
 * lock), and the library has one pool, so these calls never overlap; a flag
 * guards the extent table anyway, at no cost next to a system call, so that
 * the table stays whole should that change.  The pool's lock is held across
 * fork (fork_registry.h), so a child never inherits a half-updated table.
 */
#include "range.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

uintptr_t region_lo, region_hi;

/* Chunks are 64-byte multiples (a cache line: neighbours share none). */
#define CHUNK_ROUND ((size_t)64)
/* Free extents below the top, by address; a full table loses a released
   chunk's addresses (its pages still go back), counted in lost_bytes. */
#define EXTENTS_MAX 4096

typedef struct {
    uintptr_t lo, hi;
} extent;

static extent extents[EXTENTS_MAX];
static size_t nextents;
static uintptr_t region_top;      /* chunks end at or below it; above is untouched or released */
static atomic_size_t in_chunks;   /* read without the flag by the trim policy */
static size_t released_chunks, released_bytes, reused_chunks, lost_bytes, extent_bytes;
static atomic_flag table_busy = ATOMIC_FLAG_INIT;
static uintptr_t page_mask;

static void table_lock(void)
{
    while (atomic_flag_test_and_set_explicit(&table_busy, memory_order_acquire)) {
    }
}

static void table_unlock(void)
{
    atomic_flag_clear_explicit(&table_busy, memory_order_release);
}

/* The table's flag is taken under the pool's lock, which fork holds, except
   by range_get_stats (the report at exit): a child forked while another
   thread read the stats must not inherit the flag set. */
static void range_child(void)
{
    atomic_flag_clear(&table_busy);
}

bool reserve_region(size_t size, bool shrink)
{
    (void)pthread_atfork(NULL, NULL, range_child); /* fails only short of memory */
    page_mask = (uintptr_t)sysconf(_SC_PAGESIZE) - 1;
    for (;;) {
        void *at = mmap(NULL, size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (at != MAP_FAILED) {
            region_lo = (uintptr_t)at;
            region_hi = region_lo + size;
            region_top = region_lo;
            return true;
        }
        if (!shrink || size / 4 < RANGE_FLOOR)
            return false;
        size /= 4;
    }
}

/* The core's chunk requests (sys_alloc.h); NULL when no extent and not the
   rest of the range fits, which the pool treats as the system refusing (the
   request then goes to the system allocator). */
void *sgi_preload_chunk(size_t n)
{
    size_t rounded = (n + CHUNK_ROUND - 1) & ~(CHUNK_ROUND - 1);
    if (rounded < n || region_hi == region_lo)
        return NULL;
    void *at = NULL;
    table_lock();
    for (size_t i = 0; i < nextents; i++) {
        extent *e = &extents[i];
        if (e->hi - e->lo < rounded)
            continue;
        at = (void *)e->lo;
        e->lo += rounded;
        extent_bytes -= rounded;
        if (e->lo == e->hi) {
            nextents--;
            for (size_t j = i; j < nextents; j++)
                extents[j] = extents[j + 1];
        }
        reused_chunks++;
        break;
    }
    if (at == NULL && rounded <= region_hi - region_top) {
        at = (void *)region_top;
        region_top += rounded;
    }
    if (at != NULL)
        atomic_fetch_add_explicit(&in_chunks, rounded, memory_order_relaxed);
    table_unlock();
    return at;
}

/* Gives the whole pages of [lo, hi) back, within [from, to) (the extent the
   range joined: its partly covered end pages may now be wholly free). */
static void release_pages(uintptr_t lo, uintptr_t hi, uintptr_t from, uintptr_t to)
{
    uintptr_t a_lo = lo & ~page_mask, a_from = (from + page_mask) & ~page_mask;
    uintptr_t b_hi = (hi + page_mask) & ~page_mask, b_to = to & ~page_mask;
    uintptr_t a = a_lo > a_from ? a_lo : a_from, b = b_hi < b_to ? b_hi : b_to;
    if (a < b)
        (void)madvise((void *)a, b - a, MADV_DONTNEED); /* may fail only on bad arguments */
}

/* POOL_CHUNK_RELEASE (sys_alloc.h): a chunk the core no longer holds, as
   sgi_preload_chunk returned it; `size` is the size asked for then. */
void sgi_preload_chunk_release(void *base, size_t size)
{
    uintptr_t lo = (uintptr_t)base;
    size_t rounded = (size + CHUNK_ROUND - 1) & ~(CHUNK_ROUND - 1);
    uintptr_t hi = lo + rounded;
    table_lock();
    released_chunks++;
    released_bytes += rounded;
    atomic_fetch_sub_explicit(&in_chunks, rounded, memory_order_relaxed);
    size_t at = 0; /* the first extent above the chunk */
    while (at < nextents && extents[at].lo < lo)
        at++;
    bool with_prev = at > 0 && extents[at - 1].hi == lo;
    bool with_next = at < nextents && extents[at].lo == hi;
    uintptr_t from = with_prev ? extents[at - 1].lo : lo;
    uintptr_t to = with_next ? extents[at].hi : hi;
    if (to == region_top) {
        /* the top comes down (no extent ends at the top: with_next is false);
           everything above it is free, to the range's end */
        if (with_prev) {
            extent_bytes -= extents[at - 1].hi - extents[at - 1].lo;
            nextents--;
            for (size_t j = at - 1; j < nextents; j++)
                extents[j] = extents[j + 1];
        }
        region_top = from;
        release_pages(lo, hi, from, region_hi);
    } else if (with_prev && with_next) {
        extent_bytes += rounded;
        extents[at - 1].hi = extents[at].hi;
        nextents--;
        for (size_t j = at; j < nextents; j++)
            extents[j] = extents[j + 1];
        release_pages(lo, hi, from, to);
    } else if (with_prev || with_next) {
        extent_bytes += rounded;
        if (with_prev)
            extents[at - 1].hi = hi;
        else
            extents[at].lo = lo;
        release_pages(lo, hi, from, to);
    } else if (nextents < EXTENTS_MAX) {
        extent_bytes += rounded;
        for (size_t j = nextents; j > at; j--)
            extents[j] = extents[j - 1];
        extents[at] = (extent){lo, hi};
        nextents++;
        release_pages(lo, hi, lo, hi);
    } else {
        lost_bytes += rounded;
        release_pages(lo, hi, lo, hi);
    }
    table_unlock();
}

size_t range_in_chunks(void)
{
    return atomic_load_explicit(&in_chunks, memory_order_relaxed);
}

void range_get_stats(range_stats *out)
{
    table_lock();
    *out = (range_stats){
        .top = (size_t)(region_top - region_lo),
        .in_chunks = atomic_load_explicit(&in_chunks, memory_order_relaxed),
        .extents = nextents,
        .extent_bytes = extent_bytes,
        .released_chunks = released_chunks,
        .released_bytes = released_bytes,
        .reused_chunks = reused_chunks,
        .lost_bytes = lost_bytes,
    };
    table_unlock();
}

/* POOL_PRELOAD_RANGE (and POOL_PRELOAD_TRIM_FLOOR): digits, then optionally
   K, M, G or T (powers of 1024) optionally followed by B or iB, in either
   case (mimalloc's syntax).  NULL and *out set, or why the text is refused. */
const char *parse_size(const char *text, size_t *out)
{
    const char *c = text;
    size_t value = 0;
    bool huge = false;
    if (*c < '0' || *c > '9')
        return "not a size (digits, then K, M, G or T, e.g. 4G)";
    for (; *c >= '0' && *c <= '9'; c++) {
        unsigned digit = (unsigned)(*c - '0');
        if (value > (SIZE_MAX - digit) / 10)
            huge = true;
        else
            value = value * 10 + digit;
    }
    unsigned shift = 0;
    switch (*c | 0x20) { /* ASCII lower case; '\0' becomes ' ' */
    case 'k': shift = 10; break;
    case 'm': shift = 20; break;
    case 'g': shift = 30; break;
    case 't': shift = 40; break;
    default: break;
    }
    if (shift != 0) {
        c++;
        if ((c[0] | 0x20) == 'i' && (c[1] | 0x20) == 'b')
            c += 2;
        else if ((c[0] | 0x20) == 'b')
            c++;
    }
    if (*c != '\0')
        return "not a size (digits, then K, M, G or T, e.g. 4G)";
    if (huge || value > RANGE_MAX >> shift)
        return "above 64 TiB";
    value <<= shift;
    if (value < RANGE_MIN)
        return "below 64 KiB";
    *out = value;
    return NULL;
}
