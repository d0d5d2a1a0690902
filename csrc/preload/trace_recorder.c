/* recorder.c: an LD_PRELOAD shim that logs a process's heap calls.
 *
 *   gcc -std=gnu11 -O2 -Wall -Wextra -shared -fPIC -o librecorder.so recorder.c -ldl -pthread
 *   POOL_TRACE_FILE=out.raw LD_PRELOAD=$PWD/librecorder.so some-program args...
 *   python -m pool.traces convert out.raw out.trace.gz
 *
 * It wraps malloc, calloc, realloc, reallocarray, free, posix_memalign,
 * aligned_alloc, memalign, valloc and pvalloc (and _exit, to write its
 * buffer first): each call goes to the next definition (the C library's,
 * found with dlsym(RTLD_NEXT)) and, when it succeeds, appends one line to the
 * raw log.  Pointers are hexadecimal
 * without "0x" (0 is NULL), sizes decimal:
 *
 *   # pool-trace-raw 1 pid=PID ppid=PPID cmd=COMMAND LINE   (header, first line)
 *   m SIZE PTR                  malloc(SIZE) returned PTR
 *   c NMEMB SIZE PTR            calloc(NMEMB, SIZE) returned PTR
 *   r OLDPTR SIZE NEWPTR        realloc(OLDPTR, SIZE) returned NEWPTR (also reallocarray;
 *                               realloc(p, 0) is logged with NEWPTR 0 when it frees)
 *   A ALIGN SIZE PTR            posix_memalign, aligned_alloc, memalign, valloc, pvalloc
 *   f PTR                       free(PTR), PTR not NULL
 *
 * Failed calls (NULL results) are not logged, except realloc(p, 0).  The log
 * is the raw material; python -m pool.traces convert
 * turns it into the pool's ID-based trace format.
 *
 * Environment:
 *   POOL_TRACE_FILE   the log's path.  "%p" in it is replaced by the process
 *                     id and then every process started from the traced one
 *                     (fork or exec) logs to its own file.  Without "%p" only
 *                     the first process logs: the shim removes the variable
 *                     from its environment so that programs it runs do not
 *                     overwrite the file, and a forked child stops logging.
 *                     Unset: the shim passes every call through and logs nothing.
 *
 * Design:
 *   - Reentrancy: a thread-local flag marks "inside a hook"; a heap call made
 *     while it is set (by the C library inside a wrapped call, or by the shim's
 *     own setup) goes straight to the real function and is not logged, so each
 *     program call is logged once.  The flag uses the initial-exec TLS model:
 *     the general-dynamic one may itself call malloc.
 *   - Bootstrap: dlsym may call calloc/malloc before the real functions are
 *     known; those requests are served from a static buffer (zeroed, never
 *     reused; free of such a pointer does nothing).
 *   - Ordering: one mutex is held across the real call and the logging, so the
 *     log's order is an order in which the calls really happened (a pointer is
 *     logged as freed before anyone can log it as handed out again).  The
 *     traced program's heap calls are therefore serialised.
 *   - Output: lines are formatted by hand (no stdio, no malloc) into a 64 KiB
 *     buffer written with write(2) when full and at exit: by a destructor
 *     (exit() and return from main) and by a wrapper of _exit/_Exit (shells
 *     such as dash end that way); after the destructor ran every line is
 *     written at once.  Lines still buffered when the process dies by a
 *     signal, execs another program, or makes the exit system call itself are
 *     lost.
 *   - fork: handlers take the mutex around fork; the child discards the
 *     parent's buffered lines (the parent writes them) and either opens its own
 *     log ("%p") or stops logging.  errno is preserved across the logging.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "interpose.h"

#define EXPORT __attribute__((visibility("default")))
#define ENV_NAME "POOL_TRACE_FILE"

static malloc_fn real_malloc;
static calloc_fn real_calloc;
static realloc_fn real_realloc;
static free_fn real_free;
static posix_memalign_fn real_posix_memalign;
static aligned_fn real_aligned_alloc;
static aligned_fn real_memalign;
static valloc_fn real_valloc;
static valloc_fn real_pvalloc;
typedef void (*exit_fn)(int);
static exit_fn real__exit;

static __thread int in_hook __attribute__((tls_model("initial-exec")));
static __thread int in_init __attribute__((tls_model("initial-exec")));

/* ---- bootstrap memory, for dlsym's own requests before the real functions are known ---- */

/* (the buffer is interpose.h's; how a block is laid out in it is this file's) */
#define BOOT_HEADER 16 /* keeps blocks 16-aligned; holds the block's size */

static void *boot_alloc(size_t n)
{
    if (n > INTERPOSE_BOOT_SIZE)
        return NULL;
    unsigned char *block = interpose_boot_take(BOOT_HEADER + ((n + 15) & ~(size_t)15));
    if (block == NULL)
        return NULL;
    memcpy(block, &n, sizeof n);
    return block + BOOT_HEADER;
}

static size_t boot_block_size(const void *p)
{
    size_t n;
    memcpy(&n, (const unsigned char *)p - BOOT_HEADER, sizeof n);
    return n;
}

/* ---- state ---- */

enum { UNINIT, RESOLVING, READY };
static int state = UNINIT;
static int tracing; /* 1 while lines are logged */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = -1;
static int per_process; /* the path contains %p */
static char path_template[4096];
static char out_buf[64 * 1024];
static size_t out_len;
static int direct; /* set by the destructor: write each line at once */

/* ---- output, without stdio or malloc ---- */

static void write_all(const char *s, size_t n)
{
    while (n > 0 && log_fd >= 0) {
        ssize_t w = write(log_fd, s, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            tracing = 0; /* the disk is full or gone: stop, keep the program running */
            return;
        }
        s += w;
        n -= (size_t)w;
    }
}

static void flush_locked(void)
{
    write_all(out_buf, out_len);
    out_len = 0;
}

static char *put_str(char *at, const char *s)
{
    while (*s)
        *at++ = *s++;
    return at;
}

static char *put_dec(char *at, uintmax_t v)
{
    char tmp[24];
    int i = 0;
    do {
        tmp[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (i)
        *at++ = tmp[--i];
    return at;
}

static char *put_hex(char *at, const void *p)
{
    static const char digits[] = "0123456789abcdef";
    uintptr_t v = (uintptr_t)p;
    char tmp[2 * sizeof v];
    int i = 0;
    do {
        tmp[i++] = digits[v & 15];
        v >>= 4;
    } while (v);
    while (i)
        *at++ = tmp[--i];
    return at;
}

/* Appends a finished line (the caller holds the lock). */
static void emit_locked(const char *line, size_t n)
{
    if (!tracing)
        return;
    if (out_len + n > sizeof out_buf)
        flush_locked();
    memcpy(out_buf + out_len, line, n);
    out_len += n;
    if (direct)
        flush_locked();
}

/* One record: op, then up to three fields: 'd' decimal, 'x' pointer. */
static void log_record(char op, const char *kinds, uintmax_t a, uintmax_t b, uintmax_t c)
{
    char line[96];
    char *at = line;
    uintmax_t vals[3] = {a, b, c};
    *at++ = op;
    for (int i = 0; kinds[i]; i++) {
        *at++ = ' ';
        at = kinds[i] == 'x' ? put_hex(at, (const void *)(uintptr_t)vals[i]) : put_dec(at, vals[i]);
    }
    *at++ = '\n';
    emit_locked(line, (size_t)(at - line));
}

/* "# pool-trace-raw 1 pid=.. ppid=.. cmd=..." from /proc/self/cmdline. */
static void write_header_locked(void)
{
    char line[1200];
    char *at = put_str(line, "# pool-trace-raw 1 pid=");
    at = put_dec(at, (uintmax_t)getpid());
    at = put_str(at, " ppid=");
    at = put_dec(at, (uintmax_t)getppid());
    at = put_str(at, " cmd=");
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char cmd[1000];
        ssize_t n = read(fd, cmd, sizeof cmd);
        close(fd);
        for (ssize_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)cmd[i];
            if (ch == 0)
                ch = (i == n - 1) ? 0 : ' ';
            else if (ch < 32 || ch > 126)
                ch = '?';
            if (ch)
                *at++ = (char)ch;
        }
        if (n == (ssize_t)sizeof cmd)
            at = put_str(at, "...");
    }
    *at++ = '\n';
    emit_locked(line, (size_t)(at - line));
}

/* Opens the log for the current process (the caller holds the lock or is alone). */
static void open_log_locked(void)
{
    char path[sizeof path_template + 24];
    char *at = path;
    for (const char *s = path_template; *s; s++) {
        if (s[0] == '%' && s[1] == 'p') {
            at = put_dec(at, (uintmax_t)getpid());
            s++;
        } else {
            *at++ = *s;
        }
    }
    *at = 0;
    log_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        static const char msg[] = "pool trace recorder: cannot open the file named by "
                                   ENV_NAME "; not tracing\n";
        ssize_t ignored = write(2, msg, sizeof msg - 1);
        (void)ignored;
        tracing = 0;
        return;
    }
    out_len = 0;
    direct = 0;
    tracing = 1;
    write_header_locked();
}

/* ---- fork ---- */

static void before_fork(void)
{
    pthread_mutex_lock(&lock);
}

static void after_fork_parent(void)
{
    pthread_mutex_unlock(&lock);
}

static void after_fork_child(void)
{
    pthread_mutex_init(&lock, NULL);
    out_len = 0; /* the parent writes these lines */
    if (log_fd >= 0)
        close(log_fd);
    log_fd = -1;
    tracing = 0;
    if (per_process)
        open_log_locked();
}

/* ---- setup ---- */

static void resolve(void)
{
    interpose_lookup(&real_malloc, "malloc");
    interpose_lookup(&real_calloc, "calloc");
    interpose_lookup(&real_realloc, "realloc");
    interpose_lookup(&real_free, "free");
    interpose_lookup(&real_posix_memalign, "posix_memalign");
    interpose_lookup(&real_aligned_alloc, "aligned_alloc");
    interpose_lookup(&real_memalign, "memalign");
    interpose_lookup(&real_valloc, "valloc");
    interpose_lookup(&real_pvalloc, "pvalloc");
    interpose_lookup(&real__exit, "_exit");
    if (!real_malloc || !real_calloc || !real_realloc || !real_free) {
        static const char msg[] = "pool trace recorder: cannot find the C library's malloc\n";
        ssize_t ignored = write(2, msg, sizeof msg - 1);
        (void)ignored;
        _exit(127);
    }
}

static void init(void)
{
    int expected = UNINIT;
    if (!__atomic_compare_exchange_n(&state, &expected, RESOLVING, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(&state, __ATOMIC_ACQUIRE) != READY)
            sched_yield(); /* another thread is resolving: a moment */
        return;
    }
    in_init = 1;
    resolve();
    in_init = 0;

    in_hook = 1; /* heap calls made by the setup below pass through unlogged */
    const char *name = getenv(ENV_NAME);
    if (name && *name && strlen(name) < sizeof path_template) {
        strcpy(path_template, name);
        per_process = strstr(path_template, "%p") != NULL;
        if (!per_process)
            unsetenv(ENV_NAME); /* programs started from this one do not log */
        pthread_atfork(before_fork, after_fork_parent, after_fork_child);
        pthread_mutex_lock(&lock);
        open_log_locked();
        pthread_mutex_unlock(&lock);
    }
    in_hook = 0;
    __atomic_store_n(&state, READY, __ATOMIC_RELEASE);
}

/* 1 when the real functions are known (initialising if need be); 0 while this
 * thread is resolving them (dlsym asking for memory: use the bootstrap buffer). */
static int ready(void)
{
    if (__atomic_load_n(&state, __ATOMIC_ACQUIRE) == READY)
        return 1;
    if (in_init)
        return 0;
    init();
    return 1;
}

/* 1 when this call is to be logged: the caller then does the call and logs
 * under the lock, between enter() and leave(). */
static int enter(void)
{
    if (in_hook || !__atomic_load_n(&tracing, __ATOMIC_RELAXED))
        return 0;
    in_hook = 1;
    pthread_mutex_lock(&lock);
    return 1;
}

static void leave(int saved_errno)
{
    pthread_mutex_unlock(&lock);
    in_hook = 0;
    errno = saved_errno;
}

__attribute__((constructor)) static void recorder_start(void)
{
    ready();
}

__attribute__((destructor)) static void recorder_stop(void)
{
    int saved = errno;
    pthread_mutex_lock(&lock);
    flush_locked();
    direct = 1; /* heap calls made by later destructors are written at once */
    pthread_mutex_unlock(&lock);
    errno = saved;
}

/* ---- the wrapped functions ---- */

EXPORT void *malloc(size_t n)
{
    if (!ready())
        return boot_alloc(n);
    if (!enter())
        return real_malloc(n);
    void *p = real_malloc(n);
    int e = errno;
    if (p)
        log_record('m', "dx", n, (uintptr_t)p, 0);
    leave(e);
    return p;
}

EXPORT void *calloc(size_t nmemb, size_t size)
{
    if (!ready()) {
        size_t total;
        if (__builtin_mul_overflow(nmemb, size, &total))
            return NULL;
        return boot_alloc(total); /* the buffer is zeroed and never reused */
    }
    if (!enter())
        return real_calloc(nmemb, size);
    void *p = real_calloc(nmemb, size);
    int e = errno;
    if (p)
        log_record('c', "ddx", nmemb, size, (uintptr_t)p);
    leave(e);
    return p;
}

EXPORT void *realloc(void *old, size_t n)
{
    if (!ready() || (old && interpose_in_boot(old))) {
        /* a bootstrap block (never logged): move it to the real heap unlogged */
        void *q = ready() ? real_malloc(n) : boot_alloc(n);
        if (q && old) {
            size_t keep = boot_block_size(old);
            memcpy(q, old, keep < n ? keep : n);
        }
        return q;
    }
    if (!enter())
        return real_realloc(old, n);
    void *p = real_realloc(old, n);
    int e = errno;
    if (p || (old && n == 0))
        log_record('r', "xdx", (uintptr_t)old, n, (uintptr_t)p);
    leave(e);
    return p;
}

EXPORT void *reallocarray(void *old, size_t nmemb, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(nmemb, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(old, total);
}

EXPORT void free(void *p)
{
    if (!p || interpose_in_boot(p))
        return;
    if (!ready())
        return; /* not reached: only bootstrap blocks exist before the real functions */
    if (!enter()) {
        real_free(p);
        return;
    }
    int e = errno;
    real_free(p);
    log_record('f', "x", (uintptr_t)p, 0, 0);
    leave(e);
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    if (!ready())
        return ENOMEM;
    if (!enter())
        return real_posix_memalign(out, align, n);
    int rc = real_posix_memalign(out, align, n);
    int e = errno;
    if (rc == 0)
        log_record('A', "ddx", align, n, (uintptr_t)*out);
    leave(e);
    return rc;
}

#define ALIGNED_WRAPPER(name, real)                                  \
    EXPORT void *name(size_t align, size_t n)                        \
    {                                                                \
        if (!ready())                                                \
            return NULL;                                             \
        if (!real) {                                                 \
            errno = ENOMEM;                                          \
            return NULL;                                             \
        }                                                            \
        if (!enter())                                                \
            return real(align, n);                                   \
        void *p = real(align, n);                                    \
        int e = errno;                                               \
        if (p)                                                       \
            log_record('A', "ddx", align, n, (uintptr_t)p);          \
        leave(e);                                                    \
        return p;                                                    \
    }

ALIGNED_WRAPPER(aligned_alloc, real_aligned_alloc)
ALIGNED_WRAPPER(memalign, real_memalign)

#define PAGE_WRAPPER(name, real)                                               \
    EXPORT void *name(size_t n)                                                \
    {                                                                          \
        if (!ready())                                                          \
            return NULL;                                                       \
        if (!real) {                                                           \
            errno = ENOMEM;                                                    \
            return NULL;                                                       \
        }                                                                      \
        if (!enter())                                                          \
            return real(n);                                                    \
        void *p = real(n);                                                     \
        int e = errno;                                                         \
        if (p)                                                                 \
            log_record('A', "ddx", (uintmax_t)getpagesize(), n, (uintptr_t)p); \
        leave(e);                                                              \
        return p;                                                              \
    }

PAGE_WRAPPER(valloc, real_valloc)
PAGE_WRAPPER(pvalloc, real_pvalloc)

/* ---- _exit: write what is buffered first ---- */

__attribute__((noreturn)) static void exit_now(int status)
{
    if (ready()) {
        int saved = errno;
        pthread_mutex_lock(&lock);
        flush_locked();
        pthread_mutex_unlock(&lock);
        errno = saved;
    }
    if (real__exit)
        real__exit(status);
    for (;;)
        syscall(SYS_exit_group, status);
}

EXPORT __attribute__((noreturn)) void _exit(int status)
{
    exit_now(status);
}

EXPORT __attribute__((noreturn)) void _Exit(int status)
{
    exit_now(status);
}
