/*
 * autotrim.h -- the preload library gives memory back on its own
 * (csrc/preload/autotrim.c): the malloc family's hooks, inline because they
 * run on every pool allocation and free.
 *
 * Each thread counts its pool frees minus its pool allocations and adds the
 * count to a process-wide one every AUTOTRIM_BATCH pool calls; only then is
 * the policy looked at.  No background thread unless asked for
 * (POOL_PRELOAD_TRIM_THREAD=1): memory goes back inside a malloc() or free().  With POOL_PRELOAD_TRIM_EAGER=1, once a thread's run
 * of frees has dropped a large part of the pool, its next allocation looks
 * at the policy at once (autotrim_alloc_limit 0): the run has ended.
 */
#ifndef SGI_PRELOAD_AUTOTRIM_H
#define SGI_PRELOAD_AUTOTRIM_H

#include <stdbool.h>
#include <stddef.h>

#define AUTOTRIM_BATCH 64

extern bool autotrim_on;
extern _Thread_local long autotrim_net;      /* this thread's frees minus allocations */
extern _Thread_local unsigned autotrim_calls; /* its pool calls since it handed over */
extern _Thread_local size_t autotrim_bytes;  /* the bytes of its allocations' blocks */
extern _Thread_local size_t autotrim_allocs; /* and their number */
/* An allocation hands the counts over when autotrim_calls reaches this:
   AUTOTRIM_BATCH, or 0 while a large run of frees is open (eager trim). */
extern _Thread_local unsigned autotrim_alloc_limit;

void autotrim_flush(void);

/* A pool block of n bytes (1..128) was handed out. */
static inline void autotrim_allocated(size_t n)
{
    if (__builtin_expect(autotrim_on, 1)) {
        autotrim_net--;
        autotrim_bytes += (n + 15) & ~(size_t)15;
        autotrim_allocs++;
        if (__builtin_expect(++autotrim_calls >= autotrim_alloc_limit, 0))
            autotrim_flush();
    }
}

static inline void autotrim_freed(void)
{
    if (__builtin_expect(autotrim_on, 1)) {
        autotrim_net++;
        if (__builtin_expect(++autotrim_calls >= AUTOTRIM_BATCH, 0))
            autotrim_flush();
    }
}

/* Reads POOL_PRELOAD_TRIM, POOL_PRELOAD_TRIM_FRACTION, POOL_PRELOAD_TRIM_FLOOR,
   POOL_PRELOAD_TRIM_EAGER, POOL_PRELOAD_TRIM_PAGES and POOL_PRELOAD_TRIM_THREAD.  NULL, or why a value is refused, with *name and
   *value set to the variable's. */
const char *autotrim_configure(const char **name, const char **value);

/* For the banner and the report. */
typedef struct {
    bool on, eager;
    bool pages;              /* POOL_PRELOAD_TRIM_PAGES */
    unsigned fraction_permille;
    size_t floor;
    size_t automatic, asked; /* trims by the policy, malloc_trim calls */
    size_t eager_trims;      /* of the automatic: at the end of a run of frees */
    bool thread;             /* POOL_PRELOAD_TRIM_THREAD */
    size_t quiet_trims;      /* of the automatic: by the thread, the program quiet */
    size_t bytes;            /* bytes released by both */
} autotrim_stats;

void autotrim_get_stats(autotrim_stats *out);

#endif /* SGI_PRELOAD_AUTOTRIM_H */
