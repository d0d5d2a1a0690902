/*
 * autotrim.c -- memory goes back without the program's help (autotrim.h),
 * and malloc_trim().
 *
 * The policy: trim when the pool's free bytes exceed a fraction of the bytes
 * its chunks hold (POOL_PRELOAD_TRIM_FRACTION) and those exceed a floor
 * (POOL_PRELOAD_TRIM_FLOOR).  Free bytes are not counted on the free path
 * (a size-less free does not know its size without a second lookup): the
 * live bytes are estimated as the process-wide count of allocations not
 * freed times their mean block size, the rest of the chunks is free.  Then
 * a trim runs when half the fraction has been freed since the last one (a
 * burst going away), else once a delay has passed since the last one (the
 * tail of a burst, a quiet phase that still frees now and then); the delay
 * doubles after each trim that released nothing, up to a minute, so that a
 * fragmented pool does not walk its free lists over and over.
 *
 * No background thread: a trim runs inside the free() that tips the balance,
 * with no lock of the library held, so fork needs nothing more than the
 * pool's own fork handling; a child inherits the counts and goes on.
 */
#include "autotrim.h"

#include "../sgi_pool.h"
#include "range.h"

#include <dlfcn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXPORT __attribute__((visibility("default")))

/* Defaults, from the measurements in docs/performance.md. */
#define FRACTION_DEFAULT 500            /* per mille of the chunks' bytes */
#define FLOOR_DEFAULT ((size_t)8 << 20) /* chunks below this are never trimmed */

bool autotrim_on = true;
_Thread_local long autotrim_net;
_Thread_local size_t autotrim_bytes;
_Thread_local size_t autotrim_allocs;

static unsigned fraction_permille = FRACTION_DEFAULT;
static size_t floor_bytes = FLOOR_DEFAULT;

static atomic_long net;              /* frees minus allocations, flushed */
static atomic_long low_water;        /* its lowest value since the last trim */
static atomic_size_t alloc_blocks, alloc_bytes; /* flushed allocations, for the mean */
static atomic_flag trimming = ATOMIC_FLAG_INIT;
/* The delay before a trim that the frees alone do not call for: doubled after
   each trim that released nothing, back to the least after one that did. */
#define DELAY_MIN_MS 100LL
#define DELAY_MAX_MS 60000LL
static long long delay_ms = DELAY_MIN_MS; /* written under `trimming` */
static _Atomic long long next_due_ms;
/* Free bytes the last trim left (in chunks it could not release): the next
   one, unless the delay has passed, waits until as many more were freed, so
   that the walks of the free lists add up to a few visits per freed block. */
static atomic_size_t free_left;
static atomic_size_t trims_automatic, trims_asked, trimmed_bytes;

sgi_pool *sgi_preload_pool(void); /* sgi_preload.c: the pool, NULL before it exists */

/* Milliseconds on the monotonic clock (vDSO: no system call). */
static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void autotrim_flush(bool freeing)
{
    long d = autotrim_net;
    size_t bytes = autotrim_bytes, allocs = autotrim_allocs;
    autotrim_net = 0;
    autotrim_bytes = autotrim_allocs = 0;
    if (allocs != 0) {
        atomic_fetch_add_explicit(&alloc_bytes, bytes, memory_order_relaxed);
        atomic_fetch_add_explicit(&alloc_blocks, allocs, memory_order_relaxed);
    }
    long now = atomic_fetch_add_explicit(&net, d, memory_order_relaxed) + d;
    long low = atomic_load_explicit(&low_water, memory_order_relaxed);
    if (!freeing) {
        while (now < low && !atomic_compare_exchange_weak_explicit(
                                &low_water, &low, now, memory_order_relaxed,
                                memory_order_relaxed)) {
        }
        return;
    }
    size_t held = range_in_chunks();
    if (held < floor_bytes || held == 0)
        return;
    size_t blocks = atomic_load_explicit(&alloc_blocks, memory_order_relaxed);
    size_t mean = blocks != 0 ? atomic_load_explicit(&alloc_bytes, memory_order_relaxed) / blocks
                              : 16;
    /* live blocks: the allocations not freed (-now); the rest of held is free
       (or uncarved, a small part) */
    size_t live = now < 0 ? (size_t)-now * mean : 0;
    size_t free_bytes = held > live ? held - live : 0;
    if (free_bytes / fraction_permille < held / 1000)
        return;
    /* due when half the fraction, and as much as the last trim left free, was
       freed since the last trim (a burst being freed), else once the delay
       has passed (the end of a burst, a quiet phase): a trim walks every free
       list, so futile ones back off */
    size_t gained = (size_t)(now > low ? now - low : 0) * mean;
    bool due = gained / fraction_permille >= held / 2000 &&
               gained >= atomic_load_explicit(&free_left, memory_order_relaxed);
    long long t = 0;
    if (!due) {
        t = now_ms();
        due = t >= atomic_load_explicit(&next_due_ms, memory_order_relaxed);
    }
    if (!due || atomic_flag_test_and_set_explicit(&trimming, memory_order_acquire))
        return; /* not yet, or another thread is at it */
    sgi_pool *p = sgi_preload_pool();
    size_t got = p != NULL ? sgi_pool_trim(p) : 0;
    atomic_store_explicit(&low_water, atomic_load_explicit(&net, memory_order_relaxed),
                          memory_order_relaxed);
    size_t held_now = range_in_chunks();
    atomic_store_explicit(&free_left, held_now > live ? held_now - live : 0,
                          memory_order_relaxed);
    delay_ms = got != 0 ? DELAY_MIN_MS : delay_ms * 2 < DELAY_MAX_MS ? delay_ms * 2 : DELAY_MAX_MS;
    atomic_store_explicit(&next_due_ms, (t != 0 ? t : now_ms()) + delay_ms, memory_order_relaxed);
    atomic_fetch_add_explicit(&trims_automatic, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&trimmed_bytes, got, memory_order_relaxed);
    atomic_flag_clear_explicit(&trimming, memory_order_release);
}

typedef int (*malloc_trim_fn)(size_t);

/* glibc's malloc_trim: the pool's free chunks go back (sgi_pool_trim), then
   the system allocator's free memory (its own malloc_trim, which `pad`
   concerns).  1 when either released memory, else 0. */
EXPORT int malloc_trim(size_t pad)
{
    sgi_pool *p = sgi_preload_pool();
    size_t got = p != NULL ? sgi_pool_trim(p) : 0;
    atomic_fetch_add_explicit(&trims_asked, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&trimmed_bytes, got, memory_order_relaxed);
    if (got != 0) /* a fresh start for the policy */
        atomic_store_explicit(&low_water, atomic_load_explicit(&net, memory_order_relaxed),
                              memory_order_relaxed);
    malloc_trim_fn next = NULL;
    void *sym = dlsym(RTLD_NEXT, "malloc_trim");
    memcpy(&next, &sym, sizeof sym); /* POSIX: a function pointer from dlsym */
    int system = next != NULL ? next(pad) : 0;
    return got != 0 || system != 0;
}

/* POOL_PRELOAD_TRIM_FRACTION: a decimal above 0 and at most 1, with at most
   three decimals (0.25, .5, 1).  NULL and *out (per mille) set, or why not. */
static const char *parse_fraction(const char *text, unsigned *out)
{
    static const char *const what = "not a fraction (a decimal above 0 and at most 1, e.g. 0.25)";
    const char *c = text;
    unsigned whole = 0, part = 0, scale = 1000;
    bool digits = false;
    for (; *c >= '0' && *c <= '9'; c++, digits = true) {
        if (whole > 1)
            return what;
        whole = whole * 10 + (unsigned)(*c - '0');
    }
    if (*c == '.') {
        for (c++; *c >= '0' && *c <= '9'; c++, digits = true) {
            if (scale == 1)
                return "more than three decimals";
            scale /= 10;
            part += (unsigned)(*c - '0') * scale;
        }
    }
    if (!digits || *c != '\0')
        return what;
    unsigned value = whole * 1000 + part;
    if (value == 0)
        return "not above 0";
    if (value > 1000)
        return "above 1";
    *out = value;
    return NULL;
}

const char *autotrim_configure(const char **name, const char **value)
{
    const char *text = getenv(*name = "POOL_PRELOAD_TRIM");
    *value = text;
    if (text != NULL && text[0] != '\0') {
        if (strcmp(text, "0") == 0)
            autotrim_on = false;
        else if (strcmp(text, "1") != 0)
            return "not 0 or 1";
    }
    text = getenv(*name = "POOL_PRELOAD_TRIM_FRACTION");
    *value = text;
    if (text != NULL && text[0] != '\0') {
        const char *why = parse_fraction(text, &fraction_permille);
        if (why != NULL)
            return why;
    }
    text = getenv(*name = "POOL_PRELOAD_TRIM_FLOOR");
    *value = text;
    if (text != NULL && text[0] != '\0') {
        if (strcmp(text, "0") == 0) {
            floor_bytes = 0;
        } else {
            const char *why = parse_size(text, &floor_bytes);
            if (why != NULL)
                return strcmp(why, "below 64 KiB") == 0 ? "below 64 KiB (0: no floor)" : why;
        }
    }
    return NULL;
}

void autotrim_get_stats(autotrim_stats *out)
{
    *out = (autotrim_stats){
        .on = autotrim_on,
        .fraction_permille = fraction_permille,
        .floor = floor_bytes,
        .automatic = atomic_load(&trims_automatic),
        .asked = atomic_load(&trims_asked),
        .bytes = atomic_load(&trimmed_bytes),
    };
}
