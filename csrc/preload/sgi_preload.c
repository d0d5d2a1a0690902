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
 * Unlike SGI's design, memory of small blocks goes back to the system: a
 * chunk whose blocks are all free is released once free bytes have stayed
 * above a fraction of the pool for a delay (autotrim.c; with
 * POOL_PRELOAD_TRIM_EAGER=1 also at the end of a large run of frees) or on
 * malloc_trim(),
 * its pages returned and its addresses kept for later chunks (range.c).
 *
 * Variables (docs/integrations.md has the table):
 *   POOL_PRELOAD_STATS=1     the pool's statistics at exit, to the stderr the
 *                            process started with (a copy made at start-up)
 *   POOL_PRELOAD_STATS=PATH  ... appended to PATH instead (%p: the pid)
 *   POOL_PRELOAD_RANGE=SIZE  the reserved range (default 64 GiB of address
 *                            space, smaller when refused)
 *   POOL_PRELOAD_REFILL=N    blocks per refill, 1..4096 (default 20)
 *   POOL_PRELOAD_THREAD_CACHE=0  no per-thread caches (default 1: thread
 *                            caches on from a second thread -- one thread
 *                            alone is the pool's biased owner, on the lists;
 *                            once a second thread calls, each thread
 *                            allocates from a cache of its own, refilled
 *                            from the shared lists a batch at a time)
 *   POOL_PRELOAD_VERBOSE=1   one line on stderr at start: what the library
 *                            serves and with which settings
 *   POOL_PRELOAD_TRIM=0      no automatic trim (malloc_trim still trims)
 *   POOL_PRELOAD_TRIM_FRACTION=F, POOL_PRELOAD_TRIM_FLOOR=SIZE  when it trims
 *   POOL_PRELOAD_TRIM_PAGES=0  trims give back whole chunks only (default 1:
 *                            also the pages free blocks cover, B.14)
 *   POOL_PRELOAD_TRIM_EAGER=1  also trim at once at the end of a large run of
 *                            frees (memory first: costs CPU, autotrim.c)
 *   POOL_PRELOAD_TRIM_THREAD=1  a thread that trims when the program has gone
 *                            quiet (no pool calls) for the delay
 *   POOL_PRELOAD_SIZED_DELETE=0  C++ sized deletes freed without their size,
 *                            as libstdc++ does (default 1: with the size when
 *                            operator new/delete are libstdc++'s; cxx_delete.h)
 *
 * C++: the library also defines operator delete(void *, size_t) and
 * operator delete[](void *, size_t) (`_ZdlPvm`, `_ZdaPvm`).  libstdc++'s
 * drop the size (they end in free()); these free a pool block with it, when
 * the program has not replaced operator new/delete (cxx_delete.c decides),
 * and otherwise pass every call on to the next definition.
 */
#undef malloc
#undef calloc
#undef realloc
#undef free

#include "../sgi_pool.h"
#include "autotrim.h"
#include "cxx_delete.h"
#include "interpose.h"
#include "range.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

enum { POOL_ALIGN = 16, POOL_MAX_SMALL = 128 };

/* ---- The displaced allocator ------------------------------------------------ */

static struct {
    malloc_fn malloc;
    calloc_fn calloc;
    realloc_fn realloc;
    free_fn free;
    posix_memalign_fn posix_memalign;
    aligned_fn aligned_alloc;
    aligned_fn memalign;
    valloc_fn valloc;
    valloc_fn pvalloc;
    usable_size_fn usable_size;
} sys;

/* 0: nothing done; 1: resolving the system's functions; 2: done. */
static atomic_int init_state;
static _Atomic(sgi_pool *) the_pool;

/* For autotrim.c: the pool, NULL before it exists. */
sgi_pool *sgi_preload_pool(void)
{
    return atomic_load_explicit(&the_pool, memory_order_acquire);
}

/* ---- Bootstrap buffer (interpose.h): while dlsym runs ------------------------ */

_Static_assert(POOL_ALIGN == 16, "the bootstrap buffer's blocks are 16-aligned");

/* Blocks without a header: a realloc from the buffer copies up to its end. */
static void *boot_alloc(size_t n)
{
    size_t rounded = (n + POOL_ALIGN - 1) & ~(size_t)(POOL_ALIGN - 1);
    return rounded < n ? NULL : interpose_boot_take(rounded); /* zero: never reused */
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

/* ---- Statistics (POOL_PRELOAD_STATS) ---------------------------------------- */

enum { STATS_OFF, STATS_STDERR, STATS_FILE };
static int stats_on; /* one of the above */
static atomic_size_t pool_allocs, pool_frees, sys_allocs, sys_frees;
static atomic_size_t sized_frees; /* pool frees that came with their size (C++) */
static size_t pool_refill = SGI_POOL_DEFAULT_REFILL; /* POOL_PRELOAD_REFILL, for the report */
static bool thread_cache = true;                       /* POOL_PRELOAD_THREAD_CACHE */
/* POOL_PRELOAD_TCACHE_BYTES: each thread's depot (thread_cache_bytes); half
   the core's default, since every thread of a program gets one (at most 64
   per pool): 32 MiB at most in depots.  512 KiB rather than 256: a thread
   that frees another thread's containers keeps them for its own next ones
   (the threaded C++ program: 0.90x glibc's wall time against 0.99x, peak RSS
   the same within its spread; docs/performance.md).  1 (from "0"): none. */
static size_t tcache_bytes = (size_t)512 << 10;

/* Once a small request is refused (the range used up), requests of its class
   and larger go straight to the system until a pool block is freed: the
   refusal emptied every list from that class up (salvage took what there was),
   and finding that out again costs a whole failing refill per call.
   NOT_REFUSED is above every small size. */
#define NOT_REFUSED ((size_t)POOL_MAX_SMALL + 1)
static atomic_size_t refused_from = NOT_REFUSED;
static atomic_size_t refusals, refused_fallbacks;

/* ---- C++ sized deletes: the verdict (cxx_delete.h) ---------------------------- */

static bool sized_delete_wanted = true; /* POOL_PRELOAD_SIZED_DELETE */
static atomic_int cxx_mode;             /* enum cxx_mode, published by init() */
static _Atomic(sized_delete_fn) cxx_next, cxx_next_array; /* CXX_FORWARD's targets */
static char cxx_why[sizeof ((cxx_verdict *)0)->why + 8]; /* "off (why)", set by init() */

/* For the stats and the banner. */
static const char *cxx_said(void)
{
    int mode = atomic_load(&cxx_mode);
    return mode == CXX_SIZED       ? "on"
           : mode == CXX_UNDECIDED ? "off (not decided)"
                                   : cxx_why;
}

#define COUNT(counter)                                                     \
    do {                                                                   \
        if (UNLIKELY(stats_on))                                            \
            atomic_fetch_add_explicit(&(counter), 1, memory_order_relaxed); \
    } while (0)

/* STATS_STDERR: a copy of the stderr the process started with, and which
   file that was.  At exit fd 2 may be closed (coreutils close it) or another
   file (a program started with fd 2 closed opens its data there), and the
   copy may have been replaced: the report goes only to a descriptor still on
   that file. */
static int stats_fd = -1;
static bool stats_file_known;
static dev_t stats_dev;
static ino_t stats_ino;

/* STATS_FILE: the absolute path template (%p: the pid, %%: a %). */
static char stats_path[PATH_MAX];

/* Start-up warnings, to fd 2 (the process's own stderr at that point). */
static void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warn(const char *fmt, ...)
{
    char line[512];
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

/* The report is formatted into one buffer (no stdio buffer, no malloc) and
   written with one write(2), so that processes appending to one file or pipe
   do not interleave their lines. */
typedef struct {
    char text[2048];
    size_t used;
} report;

static void put(report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(report *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(r->text + r->used, sizeof r->text - r->used, fmt, ap);
    va_end(ap);
    if (len > 0)
        r->used += (size_t)len < sizeof r->text - r->used ? (size_t)len
                                                           : sizeof r->text - r->used - 1;
}

/* Whether the caches serve: asked for and on (from a second thread: until
   then the pool is biased, its one thread on the lists with no atomic), off,
   or asked for and not available (the core then takes the lock on every
   call; see sgi_pool.h). */
static const char *caches_said(sgi_pool *p)
{
    if (!thread_cache)
        return "thread caches off";
    int mode = sgi_pool_locking(p);
    return mode == SGI_POOL_LOCKING_THREAD_CACHE || mode == SGI_POOL_LOCKING_BIASED
               ? "thread caches on from a second thread"
               : "thread caches unavailable on this system (the lock on every call)";
}

/* What went back to the system (autotrim.c, range.c), and what a trim would
   release now (a walk of the free lists: the report only). */
static void put_trim_report(report *r, sgi_pool *p, const range_stats *rs)
{
    autotrim_stats t;
    autotrim_get_stats(&t);
    put(r, "  trim: %zu automatic (%s), %zu malloc_trim calls: %zu bytes released in %zu "
        "chunks; %zu chunks reused their addresses, %zu bytes in chunks now\n", t.automatic,
        t.on ? "on" : "off", t.asked, t.bytes, rs->released_chunks, rs->reused_chunks,
        rs->in_chunks);
    sgi_pool_trim_stats ts;
    sgi_pool_get_trim_stats(p, &ts);
    put(r, "  trim eager (%s): %zu at the end of a run of frees; thread (%s): %zu when quiet; "
        "releasable now %zu bytes in %zu chunks\n", t.eager ? "on" : "off", t.eager_trims,
        t.thread ? "on" : "off", t.quiet_trims, ts.releasable_bytes, ts.releasable_chunks);
    sgi_pool_page_stats ps;
    sgi_pool_get_page_stats(p, &ps);
    put(r, "  trim pages (%s): %zu bytes released so far; %zu spans of %zu bytes not carved "
        "again; releasable now %zu bytes more\n", t.pages ? "on" : "off",
        ps.released_page_bytes, ps.spans, ps.span_bytes, ps.releasable_page_bytes);
}

static void format_stats(report *r)
{
    sgi_pool *p = atomic_load(&the_pool);
    long pid = (long)getpid();
    if (p == NULL) {
        put(r, "sgi_pool preload [%ld]: no pool (every request went to the system)\n", pid);
        return;
    }
    sgi_pool_stats s;
    sgi_pool_get_stats(p, &s);
    size_t free_blocks[POOL_MAX_SMALL / POOL_ALIGN], live_blocks[POOL_MAX_SMALL / POOL_ALIGN];
    sgi_pool_class_counts(p, free_blocks, live_blocks);
    put(r, "sgi_pool preload [%ld]: align 16, max_small 128, refill %zu, thread-safe, %s\n",
        pid, pool_refill, caches_said(p));
    put(r, "  heap %zu bytes in %zu chunks (%zu uncarved), %zu salvages, %zu refused\n",
        s.heap_size, s.chunks, s.chunk_left, s.salvages, s.requests_refused);
    put(r, "  pool: %zu allocations, %zu frees; system allocator: %zu allocations, %zu frees\n",
        atomic_load(&pool_allocs), atomic_load(&pool_frees), atomic_load(&sys_allocs),
        atomic_load(&sys_frees));
    put(r, "  C++ sized delete: %s; %zu pool frees with the size\n", cxx_said(),
        atomic_load(&sized_frees));
    range_stats rs;
    range_get_stats(&rs);
    put(r, "  range %zu bytes (%zu used): refused %zu times, then %zu small requests went "
        "to the system\n", (size_t)(region_hi - region_lo), rs.top, atomic_load(&refusals),
        atomic_load(&refused_fallbacks));
    put_trim_report(r, p, &rs);
    put(r, "  blocks live/free per class:");
    for (size_t i = 0; i < POOL_MAX_SMALL / POOL_ALIGN; i++)
        put(r, " %zu:%zu/%zu", (i + 1) * POOL_ALIGN, live_blocks[i], free_blocks[i]);
    put(r, "\n");
}

static bool on_stats_file(int fd)
{
    struct stat st;
    return fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == stats_dev && st.st_ino == stats_ino;
}

/* Expands stats_path's %p and %% into out; false when it does not fit. */
static bool expand_path(char *out, size_t room, long pid)
{
    size_t used = 0;
    for (const char *c = stats_path; *c != '\0'; c++) {
        int len = c[0] == '%' && c[1] == 'p'   ? snprintf(out + used, room - used, "%ld", pid)
                  : c[0] == '%' && c[1] == '%' ? snprintf(out + used, room - used, "%%")
                                               : snprintf(out + used, room - used, "%c", *c);
        if (len < 0 || (size_t)len >= room - used)
            return false;
        used += (size_t)len;
        c += c[0] == '%'; /* both characters of %p, %% */
    }
    return true;
}

static void write_all(int fd, const report *r)
{
    size_t done = 0;
    while (done < r->used) {
        ssize_t n = write(fd, r->text + done, r->used - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        done += (size_t)n;
    }
}

static void print_stats(void)
{
    int saved = errno;
    report r = {.used = 0};
    format_stats(&r);
    if (stats_on == STATS_FILE) {
        char path[PATH_MAX];
        int fd = expand_path(path, sizeof path, (long)getpid())
                     ? open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0644)
                     : -1;
        if (fd >= 0) {
            write_all(fd, &r);
            close(fd);
        }
    } else if (stats_file_known) {
        int fd = on_stats_file(stats_fd) ? stats_fd : on_stats_file(STDERR_FILENO) ? 2 : -1;
        if (fd >= 0)
            write_all(fd, &r);
    }
    errno = saved;
}

/* STATS_STDERR: remembers fd 2's file and keeps a copy of it, close-on-exec
   (the next program makes its own) and high (shells move their own
   descriptors to 10 and up to 255, `exec 3>file` takes 3). */
static void keep_stderr(void)
{
    struct stat st;
    if (fstat(STDERR_FILENO, &st) != 0)
        return; /* started without stderr: no report */
    stats_file_known = true;
    stats_dev = st.st_dev;
    stats_ino = st.st_ino;
    int low = 3;
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY)
        low = nofile.rlim_cur >= 1024 ? 512 : (int)nofile.rlim_cur / 2;
    stats_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, low > 3 ? low : 3);
    if (stats_fd < 0)
        stats_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
}

/* STATS_FILE: makes the template absolute (the working directory may change
   before exit) and checks it now, when a warning can still be seen. */
static bool take_stats_path(const char *value)
{
    for (const char *c = value; *c != '\0'; c++) {
        if (*c != '%')
            continue;
        if (c[1] != 'p' && c[1] != '%') {
            warn("sgi_pool preload: POOL_PRELOAD_STATS=%.200s: unknown %%%c (%%p is the "
                 "pid, %%%% a %%): no statistics\n", value, c[1] != '\0' ? c[1] : ' ');
            return false;
        }
        c++;
    }
    size_t used = 0, len = strlen(value);
    if (value[0] != '/') {
        if (getcwd(stats_path, sizeof stats_path) == NULL) {
            warn("sgi_pool preload: POOL_PRELOAD_STATS=%.200s: no working directory (%s): "
                 "no statistics\n", value, strerror(errno));
            return false;
        }
        used = strlen(stats_path);
        if (stats_path[used - 1] != '/' && used + 1 < sizeof stats_path)
            stats_path[used++] = '/';
    }
    char expanded[PATH_MAX];
    if (len >= sizeof stats_path - used) {
        warn("sgi_pool preload: POOL_PRELOAD_STATS=%.200s: path too long: no statistics\n",
             value);
        return false;
    }
    memcpy(stats_path + used, value, len + 1);
    if (!expand_path(expanded, sizeof expanded, (long)getpid())) {
        warn("sgi_pool preload: POOL_PRELOAD_STATS=%.200s: path too long: no statistics\n",
             value);
        return false;
    }
    char *slash = strrchr(expanded, '/');
    *slash = '\0';
    const char *dir = expanded[0] != '\0' ? expanded : "/";
    if (access(dir, W_OK | X_OK) != 0) {
        warn("sgi_pool preload: POOL_PRELOAD_STATS=%.200s: cannot write in %.200s (%s): "
             "no statistics\n", value, dir, strerror(errno));
        return false;
    }
    return true;
}

/* POOL_PRELOAD_STATS: unset, empty or 0: off; 1: stderr; a path (with a /
   or a %): that file. */
static void configure_stats(const char *value)
{
    if (value == NULL || value[0] == '\0' || strcmp(value, "0") == 0)
        return;
    if (strchr(value, '/') != NULL || strchr(value, '%') != NULL) {
        if (take_stats_path(value))
            stats_on = STATS_FILE;
        return;
    }
    if (strcmp(value, "1") != 0)
        warn("sgi_pool preload: POOL_PRELOAD_STATS=%.200s: not 0, 1 or a file name (a path "
             "with a /, e.g. ./stats-%%p.txt): statistics to stderr\n", value);
    keep_stderr();
    stats_on = STATS_STDERR;
}

/* ---- Settings (POOL_PRELOAD_REFILL, _THREAD_CACHE, _VERBOSE) ------------------- */

/* POOL_PRELOAD_REFILL: digits only, 1..SGI_POOL_MAX_REFILL.  NULL and *out
   set, or why the text is refused. */
static const char *parse_refill(const char *text, size_t *out)
{
    size_t value = 0;
    const char *c = text;
    if (*c < '0' || *c > '9')
        return "not a number of blocks (digits, e.g. 64)";
    for (; *c >= '0' && *c <= '9'; c++) {
        value = value * 10 + (size_t)(*c - '0');
        if (value > SGI_POOL_MAX_REFILL) /* stops before any overflow */
            return "above 4096 blocks";
    }
    if (*c != '\0')
        return "not a number of blocks (digits, e.g. 64)";
    if (value == 0)
        return "below 1 block";
    *out = value;
    return NULL;
}

/* A 0/1 switch (POOL_PRELOAD_THREAD_CACHE, POOL_PRELOAD_SIZED_DELETE): unset
   or empty leaves *out (its default); 0 or 1 sets it.  NULL, or `refused`
   once the value is named on stderr (like REFILL's: a switch asked for and
   not understood gives no pool rather than a guess). */
static const char *read_switch(const char *name, const char *refused, bool *out)
{
    const char *text = getenv(name);
    if (text == NULL || text[0] == '\0')
        return NULL;
    if (strcmp(text, "0") == 0 || strcmp(text, "1") == 0) {
        *out = text[0] == '1';
        return NULL;
    }
    warn("sgi_pool preload: %s=%.64s: not 0 or 1; every request goes to the system "
         "allocator\n", name, text);
    return refused;
}

static bool verbose;

/* POOL_PRELOAD_VERBOSE: unset, empty or 0: off; 1: on; anything else is
   named and taken as on (asking for a banner is the likelier intent). */
static void configure_verbose(const char *value)
{
    if (value == NULL || value[0] == '\0' || strcmp(value, "0") == 0)
        return;
    if (strcmp(value, "1") != 0)
        warn("sgi_pool preload: POOL_PRELOAD_VERBOSE=%.64s: not 0 or 1: verbose\n", value);
    verbose = true;
}

/* Human-readable bytes for the banner: exact in the largest unit that divides. */
static void format_bytes(char *out, size_t room, size_t n)
{
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    size_t unit = 0;
    while (unit < 4 && n != 0 && n % 1024 == 0) {
        n /= 1024;
        unit++;
    }
    snprintf(out, room, "%zu %s", n, units[unit]);
}

/* The one start-up line of POOL_PRELOAD_VERBOSE=1 (mimalloc's MIMALLOC_VERBOSE):
   enough to see that the library is loaded, what it serves and how it is set.
   `why`: NULL when the pool exists, else why every request goes to the system. */
static void print_banner(size_t refill, const char *why)
{
    const char *stats = stats_on == STATS_FILE     ? stats_path
                        : stats_on == STATS_STDERR ? "stderr"
                                                   : "off";
    if (why != NULL) {
        warn("sgi_pool preload [%ld]: loaded, no pool (%s): every request goes to the "
             "system allocator; stats %.200s\n", (long)getpid(), why, stats);
        return;
    }
    char range[32];
    format_bytes(range, sizeof range, (size_t)(region_hi - region_lo));
    warn("sgi_pool preload [%ld]: loaded: malloc of 1..128 bytes (align <= 16) from one "
         "thread-safe pool, %s, 16-byte classes, refill %zu blocks, range %s at %p; larger "
         "to the system allocator; C++ sized delete %s; stats %.200s\n", (long)getpid(),
         caches_said(atomic_load(&the_pool)), refill, range, (void *)region_lo, cxx_said(),
         stats);
}

/* ---- Initialisation ---------------------------------------------------------- */

static void resolve(void)
{
    interpose_lookup(&sys.malloc, "malloc");
    interpose_lookup(&sys.calloc, "calloc");
    interpose_lookup(&sys.realloc, "realloc");
    interpose_lookup(&sys.free, "free");
    interpose_lookup(&sys.posix_memalign, "posix_memalign");
    interpose_lookup(&sys.aligned_alloc, "aligned_alloc");
    interpose_lookup(&sys.memalign, "memalign");
    interpose_lookup(&sys.valloc, "valloc");
    interpose_lookup(&sys.pvalloc, "pvalloc");
    interpose_lookup(&sys.usable_size, "malloc_usable_size");
}

/* Once, from the constructor or the first call, whichever is first.  A call
   made while it runs (dlsym's own, or another thread's) is served from the
   bootstrap buffer (allocations) or by the system once resolved. */
/* Reads POOL_PRELOAD_REFILL, _THREAD_CACHE and _RANGE and creates the pool.
   NULL when it exists, else why not (every request then goes to the system).
   A setting asked for and not had is said at once, and gives no pool rather
   than one set otherwise than asked. */
static const char *start_pool(size_t *refill)
{
    if (sys.malloc == NULL || sys.free == NULL || sys.calloc == NULL || sys.realloc == NULL)
        return "no next allocator"; /* stay on the bootstrap buffer */
    const char *text = getenv("POOL_PRELOAD_REFILL");
    if (text != NULL && text[0] != '\0') {
        const char *why = parse_refill(text, refill);
        if (why != NULL) {
            warn("sgi_pool preload: POOL_PRELOAD_REFILL=%.64s: %s; every request goes to "
                 "the system allocator\n", text, why);
            return "POOL_PRELOAD_REFILL refused";
        }
    }
    const char *refused = read_switch("POOL_PRELOAD_THREAD_CACHE",
                                      "POOL_PRELOAD_THREAD_CACHE refused", &thread_cache);
    if (refused == NULL)
        refused = read_switch("POOL_PRELOAD_SIZED_DELETE", "POOL_PRELOAD_SIZED_DELETE refused",
                              &sized_delete_wanted);
    if (refused != NULL)
        return refused;
    text = getenv("POOL_PRELOAD_TCACHE_BYTES");
    if (text != NULL && text[0] != '\0') {
        const char *why = strcmp(text, "0") == 0 ? NULL : parse_size(text, &tcache_bytes);
        if (why != NULL) {
            warn("sgi_pool preload: POOL_PRELOAD_TCACHE_BYTES=%.64s: %s; every request goes "
                 "to the system allocator\n", text, why);
            return "POOL_PRELOAD_TCACHE_BYTES refused";
        }
        if (strcmp(text, "0") == 0)
            tcache_bytes = 1; /* below any magazine: the two magazines only */
    }
    const char *name, *value, *why_not = autotrim_configure(&name, &value);
    if (why_not != NULL) {
        warn("sgi_pool preload: %s=%.64s: %s; every request goes to the system allocator\n",
             name, value, why_not);
        return "a trim setting refused";
    }
    const char *range = getenv("POOL_PRELOAD_RANGE");
    size_t size = RANGE_DEFAULT;
    if (range != NULL && range[0] != '\0') {
        const char *why = parse_size(range, &size);
        if (why != NULL) {
            warn("sgi_pool preload: POOL_PRELOAD_RANGE=%.64s: %s; every request goes to "
                 "the system allocator\n", range, why);
            return "POOL_PRELOAD_RANGE refused";
        }
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        size = (size + page - 1) / page * page;
        if (!reserve_region(size, false)) {
            warn("sgi_pool preload: POOL_PRELOAD_RANGE=%.64s: the system refused %zu bytes of "
                 "address space (%s); every request goes to the system allocator\n", range,
                 size, strerror(errno));
            return "the range was refused";
        }
    } else if (!reserve_region(size, true)) {
        return "no address range could be reserved";
    }
    sgi_pool_options o;
    sgi_pool_options_init(&o);
    o.align = POOL_ALIGN;
    o.max_small = POOL_MAX_SMALL;
    o.refill = pool_refill = *refill;
    o.thread_safe = 1;
    o.thread_cache = thread_cache;
    o.thread_cache_bytes = tcache_bytes;
    sgi_pool *p = sgi_pool_create(&o); /* its calloc goes to the system */
    atomic_store(&the_pool, p);
    return p != NULL ? NULL : "the pool could not be created";
}

/* Decides how this library's _ZdlPvm and _ZdaPvm free (cxx_delete.h) and
   publishes it: the targets first, then the mode. */
static void decide_sized_delete(void)
{
    cxx_verdict v;
    enum cxx_mode mode = cxx_decide(&v);
    if (mode == CXX_SIZED && !sized_delete_wanted) {
        mode = CXX_FORWARD;
        text_join(v.why, sizeof v.why, SIZE_MAX, "POOL_PRELOAD_SIZED_DELETE=0", NULL);
    }
    text_join(cxx_why, sizeof cxx_why, SIZE_MAX, "off (", v.why, ")", NULL);
    atomic_store(&cxx_next, v.next_delete);
    atomic_store(&cxx_next_array, v.next_delete_array);
    atomic_store_explicit(&cxx_mode, mode, memory_order_release);
}

static void init(void)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&init_state, &expected, 1))
        return;
    resolve();
    atomic_store(&init_state, 2); /* from here on the system allocator serves */
    configure_stats(getenv("POOL_PRELOAD_STATS"));
    configure_verbose(getenv("POOL_PRELOAD_VERBOSE"));
    size_t refill = SGI_POOL_DEFAULT_REFILL;
    const char *why = start_pool(&refill);
    decide_sized_delete();
    if (verbose)
        print_banner(refill, why);
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

/* Remembers that a request of n bytes was refused (see refused_from). */
static void remember_refusal(size_t n)
{
    size_t from = ((n - 1) & ~(size_t)(POOL_ALIGN - 1)) + 1; /* n's class, smallest size */
    size_t was = atomic_load_explicit(&refused_from, memory_order_relaxed);
    while (from < was && !atomic_compare_exchange_weak_explicit(
                             &refused_from, &was, from, memory_order_relaxed,
                             memory_order_relaxed)) {
    }
    atomic_fetch_add_explicit(&refusals, 1, memory_order_relaxed);
}

static inline void *pool_small(size_t n)
{
    sgi_pool *p = atomic_load_explicit(&the_pool, memory_order_acquire);
    if (UNLIKELY(p == NULL))
        return NULL;
    if (UNLIKELY(n >= atomic_load_explicit(&refused_from, memory_order_relaxed))) {
        COUNT(refused_fallbacks);
        return NULL;
    }
    void *block = sgi_pool_allocate(p, n);
    if (LIKELY(block != NULL)) {
        COUNT(pool_allocs);
        autotrim_allocated(n);
        return block;
    }
    remember_refusal(n);
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

/* After a pool block went back (free, the sized deletes). */
static inline void pool_block_freed(void)
{
    autotrim_freed();
    /* a free block again: the pool may serve every class (load first, so
       that frees do not all write the shared line) */
    if (UNLIKELY(atomic_load_explicit(&refused_from, memory_order_relaxed) != NOT_REFUSED))
        atomic_store_explicit(&refused_from, NOT_REFUSED, memory_order_relaxed);
}

EXPORT void free(void *ptr)
{
    if (LIKELY(in_region(ptr))) {
        COUNT(pool_frees);
        sgi_pool_free(atomic_load_explicit(&the_pool, memory_order_relaxed), ptr);
        pool_block_freed();
        return;
    }
    if (ptr == NULL || interpose_in_boot(ptr) || !resolved())
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
    if (interpose_in_boot(ptr)) {
        void *moved = malloc(n);
        if (moved != NULL) {
            size_t room = sizeof interpose_boot - (size_t)((unsigned char *)ptr - interpose_boot);
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
    if (ptr == NULL || interpose_in_boot(ptr) || !resolved() || sys.usable_size == NULL)
        return 0;
    return sys.usable_size(ptr);
}

/* ---- C++ sized deletes (cxx_delete.h) ------------------------------------------

   operator delete(void *ptr, size_t n) and operator delete[](void *ptr, size_t n).
   With CXX_SIZED, ptr came from libstdc++'s operator new(n) (new[]: n counts
   the array cookie, the same n on both sides), that is from malloc(n ? n : 1).
   A block in the pool's range was therefore handed out by pool_small(n) in
   n's class: malloc's other sources (the bootstrap buffer, the system after a
   refusal or for large requests) are outside the range, and calloc, realloc
   and the aligned calls are not operator new's.  So a block in the range with
   n of 1..128 goes back to n's list without a lookup; n 0 (operator new(0)
   took 1 byte) and everything else take free()'s path, which is where
   libstdc++'s own sized deletes end. */

static inline void sized_free(void *ptr, size_t n)
{
    COUNT(pool_frees);
    COUNT(sized_frees);
    sgi_pool_deallocate(atomic_load_explicit(&the_pool, memory_order_relaxed), ptr, n);
    pool_block_freed();
}

EXPORT void sized_delete(void *ptr, size_t n) __asm__("_ZdlPvm");
EXPORT void sized_delete_array(void *ptr, size_t n) __asm__("_ZdaPvm");

/* What the fast path left: the mode not CXX_SIZED (or not published yet),
   n 0 or large, or a block not the pool's.  caller: the return address of
   the delete, to find the next definitions from (CXX_LATE). */
static __attribute__((noinline)) void sized_delete_rest(void *ptr, size_t n, bool array,
                                                         const void *caller)
{
    int mode = atomic_load_explicit(&cxx_mode, memory_order_acquire);
    sized_delete_fn next = atomic_load(array ? &cxx_next_array : &cxx_next);
    if (UNLIKELY(mode == CXX_UNDECIDED)) {
        /* init() is still running in another thread: decide for this call
           alone (the same answer; init publishes it) */
        cxx_verdict v;
        mode = cxx_decide(&v);
        mode = mode == CXX_SIZED && !sized_delete_wanted ? CXX_FORWARD : mode;
        next = array ? v.next_delete_array : v.next_delete;
    }
    if (UNLIKELY(mode == CXX_LATE)) {
        /* no C++ runtime at start: the one loaded now (every caller finds
           the same functions: stored without a lock, then the mode) */
        cxx_verdict v = {.next_delete = NULL, .next_delete_array = NULL};
        cxx_find_late(&v, caller, sized_delete, sized_delete_array);
        atomic_store(&cxx_next, v.next_delete);
        atomic_store(&cxx_next_array, v.next_delete_array);
        atomic_store_explicit(&cxx_mode, CXX_FORWARD, memory_order_release);
        mode = CXX_FORWARD;
        next = array ? v.next_delete_array : v.next_delete;
    }
    if (mode == CXX_SIZED) {
        if (in_region(ptr) && n - 1 < POOL_MAX_SMALL)
            sized_free(ptr, n);
        else
            free(ptr); /* libstdc++'s: operator delete(ptr), then free(ptr) */
        return;
    }
    if (next != NULL)
        next(ptr, n); /* libstdc++'s, or the program's own pairing */
    else
        free(ptr); /* none found: what libstdc++'s would end in */
}

/* Both sized deletes (new[]'s n counts the cookie on both sides); caller: the
   exported function's return address. */
static inline __attribute__((always_inline)) void sized_delete_from(void *ptr, size_t n,
                                                                    bool array,
                                                                    const void *caller)
{
    if (LIKELY(atomic_load_explicit(&cxx_mode, memory_order_acquire) == CXX_SIZED) &&
        LIKELY(in_region(ptr)) && LIKELY(n - 1 < POOL_MAX_SMALL)) {
        sized_free(ptr, n);
        return;
    }
    sized_delete_rest(ptr, n, array, caller);
}

void sized_delete(void *ptr, size_t n)
{
    sized_delete_from(ptr, n, false, __builtin_return_address(0));
}

void sized_delete_array(void *ptr, size_t n)
{
    sized_delete_from(ptr, n, true, __builtin_return_address(0));
}
