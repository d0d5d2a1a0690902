/*
 * autotrim.c -- memory goes back without the program's help (autotrim.h),
 * and malloc_trim().
 *
 * The policy: trim when the pool's free bytes exceed a fraction of the bytes
 * its chunks hold (POOL_PRELOAD_TRIM_FRACTION) and those exceed a floor
 * (POOL_PRELOAD_TRIM_FLOOR).  Free bytes are not counted on the free path
 * (a size-less free does not know its size without a second lookup): the
 * live bytes are estimated as the process-wide count of allocations not
 * freed times their mean block size, the rest of the chunks is free.  Each
 * thread hands its counts over every AUTOTRIM_BATCH pool calls; only then is
 * the policy looked at.
 *
 * With POOL_PRELOAD_TRIM_EAGER=1 a trim also runs, with no delay, when a
 * thread's run of frees that dropped a large part of the pool ends (see
 * "Eager trim" below): memory first, at a cost in CPU time measured in
 * docs/performance.md (each run the program builds again faults its pages
 * in again).
 *
 * No background thread unless asked for: a trim runs inside a malloc() or
 * free() once the delay is over, with no lock of the library held, so fork
 * needs nothing more than the pool's own fork handling; a child inherits the
 * counts and goes on.  With POOL_PRELOAD_TRIM_THREAD=1 a thread, started the
 * first time free bytes are above the fraction, trims when the program has
 * gone quiet (no pool calls handed over) for the delay; a forked child has
 * no such thread until its own free bytes are above the fraction again.
 */
#include "autotrim.h"

#include "../sgi_pool.h"
#include "range.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
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
_Thread_local unsigned autotrim_calls;
_Thread_local size_t autotrim_bytes;
_Thread_local size_t autotrim_allocs;

static unsigned fraction_permille = FRACTION_DEFAULT;
/* POOL_PRELOAD_TRIM_PAGES: trims give back the pages of kept chunks that free
   blocks cover too (sgi_pool_trim_pages, docs/algorithm.md B.14). */
static bool pages = true;

static size_t pool_trim(sgi_pool *p)
{
    return p == NULL ? 0 : pages ? sgi_pool_trim_pages(p) : sgi_pool_trim(p);
}
static size_t floor_bytes = FLOOR_DEFAULT;

static atomic_long net;                         /* frees minus allocations, flushed */
static atomic_size_t alloc_blocks, alloc_bytes; /* flushed allocations, for the mean */
static atomic_flag trimming = ATOMIC_FLAG_INIT;
/* A trim runs once free bytes have stayed above the fraction for the delay
   (mimalloc's purge delay, jemalloc's decay): memory a program frees and soon
   takes again (a loop of build and drop) is not released and faulted in again
   in between.  The delay doubles after each trim that released nothing, up to
   a minute, back to the least after one that did: a trim walks every free
   list (about one cache miss per free block), which a fragmented pool would
   otherwise pay over and over. */
#define DELAY_MIN_MS 100LL
#define DELAY_MAX_MS 60000LL
static _Atomic long long delay_ms = DELAY_MIN_MS;
static _Atomic long long above_since; /* 0: free bytes below the fraction */
static atomic_size_t trims_automatic, trims_eager, trims_asked, trimmed_bytes;

sgi_pool *sgi_preload_pool(void); /* sgi_preload.c: the pool, NULL before it exists */

/* Milliseconds on the monotonic clock (vDSO: no system call). */
static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Eager trim (POOL_PRELOAD_TRIM_EAGER=1): a thread's batch of pool calls
   that is at least 7/8 frees continues its run of frees; once the run has
   freed STREAK_SHARE-th of the chunks' bytes, the thread's next allocation
   hands its counts over at once, and the first batch that is not mostly
   frees ends the run: if free bytes are then above the fraction, the trim
   runs with no delay.  A program that drops a large structure so gives it
   back before it goes on (or ends), at the cost of a walk of the free lists
   and, if it builds the structure again, of faulting the pages in again. */
#define STREAK_SHARE 8

_Thread_local unsigned autotrim_alloc_limit = AUTOTRIM_BATCH;
static _Thread_local long streak; /* blocks freed by this thread's run of frees */
static bool eager;
/* Runs that end without a trim after eager trims that released nothing:
   after k such trims in a row, 2^k - 1 runs are let pass (at most 63), so a
   pool whose runs free no whole chunk pays a few walks, not one per run. */
static atomic_uint eager_misses, eager_skip;

/* Quiet trim (POOL_PRELOAD_TRIM_THREAD=1).  `handovers` counts the threads'
   hand-overs of their counts; the trim thread wakes every delay while free
   bytes are above the fraction (every second otherwise), and trims when no
   hand-over came since it last woke and the spell above the fraction has
   lasted the delay.  One thread per process, detached, started from a
   hand-over (pthread_create's own allocations come back here and find it
   started). */
#define QUIET_IDLE_MS 1000LL
static bool thread_wanted;
static atomic_bool thread_started;
static atomic_size_t handovers, trims_quiet;

static void sleep_ms(long long ms)
{
    struct timespec t = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {
    }
}

static bool trim_now(bool by_run);

static void *quiet_main(void *arg)
{
    (void)arg;
    size_t seen = atomic_load_explicit(&handovers, memory_order_relaxed);
    for (;;) {
        long long since = atomic_load_explicit(&above_since, memory_order_relaxed);
        sleep_ms(since != 0 ? atomic_load_explicit(&delay_ms, memory_order_relaxed)
                            : QUIET_IDLE_MS);
        size_t now = atomic_load_explicit(&handovers, memory_order_relaxed);
        since = atomic_load_explicit(&above_since, memory_order_relaxed);
        if (now == seen && since != 0 &&
            now_ms() - since >= atomic_load_explicit(&delay_ms, memory_order_relaxed) &&
            trim_now(false)) {
            atomic_fetch_add_explicit(&trims_quiet, 1, memory_order_relaxed);
            /* nothing more to do until a hand-over finds free bytes above the
               fraction again */
            atomic_store_explicit(&above_since, 0, memory_order_relaxed);
        }
        seen = now;
    }
    return NULL;
}

static void start_thread(void)
{
    if (atomic_exchange_explicit(&thread_started, true, memory_order_relaxed))
        return; /* running, or its start failed: not tried again */
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0)
        return;
    pthread_t id;
    (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    (void)pthread_attr_setstacksize(&attr, (size_t)64 << 10);
    /* The thread starts with every signal blocked (it inherits this mask): a
       signal sent to the process must go to the program's own threads, whose
       handlers expect it (python's Ctrl-C interrupts a sleep only in the main
       thread; a sigwait loop counts on its mask alone). */
    sigset_t all, old;
    sigfillset(&all);
    bool masked = pthread_sigmask(SIG_SETMASK, &all, &old) == 0;
    (void)pthread_create(&id, &attr, quiet_main, NULL);
    if (masked)
        (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
}

/* Trims now (no lock of the library is held); false when another thread is
   at it. */
static bool trim_now(bool by_run)
{
    if (atomic_flag_test_and_set_explicit(&trimming, memory_order_acquire))
        return false;
    size_t got = pool_trim(sgi_preload_pool());
    long long delay = atomic_load_explicit(&delay_ms, memory_order_relaxed);
    delay = got != 0 ? DELAY_MIN_MS : delay * 2 < DELAY_MAX_MS ? delay * 2 : DELAY_MAX_MS;
    atomic_store_explicit(&delay_ms, delay, memory_order_relaxed);
    atomic_store_explicit(&above_since, now_ms(), memory_order_relaxed); /* a new spell */
    atomic_fetch_add_explicit(&trims_automatic, 1, memory_order_relaxed);
    if (by_run) {
        atomic_fetch_add_explicit(&trims_eager, 1, memory_order_relaxed);
        unsigned misses = atomic_load_explicit(&eager_misses, memory_order_relaxed);
        misses = got != 0 ? 0 : misses < 6 ? misses + 1 : 6;
        atomic_store_explicit(&eager_misses, misses, memory_order_relaxed);
        atomic_store_explicit(&eager_skip, (1u << misses) - 1, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&trimmed_bytes, got, memory_order_relaxed);
    atomic_flag_clear_explicit(&trimming, memory_order_release);
    return true;
}

void autotrim_flush(void)
{
    long d = autotrim_net;
    unsigned calls = autotrim_calls;
    size_t bytes = autotrim_bytes, allocs = autotrim_allocs;
    autotrim_net = 0;
    autotrim_calls = 0;
    autotrim_bytes = autotrim_allocs = 0;
    if (allocs != 0) {
        atomic_fetch_add_explicit(&alloc_bytes, bytes, memory_order_relaxed);
        atomic_fetch_add_explicit(&alloc_blocks, allocs, memory_order_relaxed);
    }
    long now = atomic_fetch_add_explicit(&net, d, memory_order_relaxed) + d;
    if (thread_wanted)
        atomic_fetch_add_explicit(&handovers, 1, memory_order_relaxed);
    size_t held = range_in_chunks();
    size_t blocks = atomic_load_explicit(&alloc_blocks, memory_order_relaxed);
    size_t mean =
        blocks != 0 ? atomic_load_explicit(&alloc_bytes, memory_order_relaxed) / blocks : 16;
    bool run_ended = false;
    if (eager) {
        if (d > 0 && (unsigned long)d * 4 >= (unsigned long)calls * 3) { /* 7/8 frees */
            streak += d;
            if (held >= floor_bytes && (size_t)streak * mean >= held / STREAK_SHARE)
                autotrim_alloc_limit = 0; /* the next allocation ends the run, or not */
        } else {
            run_ended = autotrim_alloc_limit == 0;
            streak = 0;
            autotrim_alloc_limit = AUTOTRIM_BATCH;
        }
    }
    bool above = false;
    if (held >= floor_bytes && held != 0) {
        /* live: the allocations not freed (-now); the rest of held is free
           (or uncarved, a small part) */
        size_t live = now < 0 ? (size_t)-now * mean : 0;
        size_t free_bytes = held > live ? held - live : 0;
        above = free_bytes / fraction_permille >= held / 1000;
    }
    if (!above) { /* the spell above the fraction ends: its memory was reused */
        if (atomic_load_explicit(&above_since, memory_order_relaxed) != 0)
            atomic_store_explicit(&above_since, 0, memory_order_relaxed);
        return;
    }
    if (thread_wanted && !atomic_load_explicit(&thread_started, memory_order_relaxed))
        start_thread();
    /* at the end of a large run of frees, at once (unless runs are being let
       pass after eager trims that released nothing) */
    if (run_ended) {
        unsigned skip = atomic_load_explicit(&eager_skip, memory_order_relaxed);
        if (skip == 0) {
            trim_now(true);
            return;
        }
        atomic_store_explicit(&eager_skip, skip - 1, memory_order_relaxed);
    }
    long long t = now_ms(), since = atomic_load_explicit(&above_since, memory_order_relaxed);
    if (since == 0) {
        atomic_store_explicit(&above_since, t, memory_order_relaxed);
        return;
    }
    if (t - since >= atomic_load_explicit(&delay_ms, memory_order_relaxed))
        trim_now(false); /* (or another thread is at it) */
}

typedef int (*malloc_trim_fn)(size_t);

/* glibc's malloc_trim: the pool's free chunks and pages go back
   (sgi_pool_trim_pages; sgi_pool_trim with POOL_PRELOAD_TRIM_PAGES=0), then
   the system allocator's free memory (its own malloc_trim, which `pad`
   concerns).  1 when either released memory, else 0. */
EXPORT int malloc_trim(size_t pad)
{
    size_t got = pool_trim(sgi_preload_pool());
    atomic_fetch_add_explicit(&trims_asked, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&trimmed_bytes, got, memory_order_relaxed);
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

/* A fork while another thread was between its trim and clearing the flag
   would leave the child with the flag set and no automatic trim ever again. */
static void autotrim_child(void)
{
    atomic_flag_clear(&trimming);
    atomic_store(&thread_started, false); /* the child has no trim thread */
}

const char *autotrim_configure(const char **name, const char **value)
{
    (void)pthread_atfork(NULL, NULL, autotrim_child); /* fails only short of memory */
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
    text = getenv(*name = "POOL_PRELOAD_TRIM_EAGER");
    *value = text;
    if (text != NULL && text[0] != '\0') {
        if (strcmp(text, "0") != 0 && strcmp(text, "1") != 0)
            return "not 0 or 1";
        eager = text[0] == '1';
    }
    text = getenv(*name = "POOL_PRELOAD_TRIM_PAGES");
    *value = text;
    if (text != NULL && text[0] != '\0') {
        if (strcmp(text, "0") != 0 && strcmp(text, "1") != 0)
            return "not 0 or 1";
        pages = text[0] == '1';
    }
    text = getenv(*name = "POOL_PRELOAD_TRIM_THREAD");
    *value = text;
    if (text != NULL && text[0] != '\0') {
        if (strcmp(text, "0") != 0 && strcmp(text, "1") != 0)
            return "not 0 or 1";
        thread_wanted = text[0] == '1';
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
        .eager = autotrim_on && eager,
        .pages = pages,
        .fraction_permille = fraction_permille,
        .floor = floor_bytes,
        .automatic = atomic_load(&trims_automatic),
        .asked = atomic_load(&trims_asked),
        .eager_trims = atomic_load(&trims_eager),
        .thread = autotrim_on && thread_wanted,
        .quiet_trims = atomic_load(&trims_quiet),
        .bytes = atomic_load(&trimmed_bytes),
    };
}
