/*
 * range.h -- the reserved address range the preload library's chunks come
 * from (csrc/preload/range.c): one range compare tells a pool block from the
 * system's, and released chunks go back to the kernel while their addresses
 * stay reserved for later chunks.
 */
#ifndef SGI_PRELOAD_RANGE_H
#define SGI_PRELOAD_RANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RANGE_DEFAULT ((size_t)64 << 30)
#define RANGE_FLOOR ((size_t)64 << 20) /* the default shrinks to this at most */
#define RANGE_MIN ((size_t)64 << 10)   /* POOL_PRELOAD_RANGE's bounds */
#define RANGE_MAX ((size_t)64 << 40)

/* [region_lo, region_hi): set once at start-up, read without a lock. */
extern uintptr_t region_lo, region_hi;

static inline bool in_region(const void *ptr)
{
    return (uintptr_t)ptr - region_lo < region_hi - region_lo;
}

/* Reserves `size` bytes, or with `shrink` a quarter as much while refused
   (ulimit -v, strict overcommit), down to RANGE_FLOOR. */
bool reserve_region(size_t size, bool shrink);

/* POOL_PRELOAD_RANGE's syntax: digits, then optionally K, M, G or T.  NULL and
   *out set, or why the text is refused. */
const char *parse_size(const char *text, size_t *out);

typedef struct {
    size_t top;             /* bytes from region_lo up to the highest chunk's end */
    size_t in_chunks;       /* bytes of the chunks handed out and not released */
    size_t extents;         /* free extents below the top, for later chunks */
    size_t extent_bytes;    /* their bytes */
    size_t released_chunks; /* chunks given back (POOL_CHUNK_RELEASE) */
    size_t released_bytes;  /* their bytes */
    size_t reused_chunks;   /* chunks served from a free extent */
    size_t lost_bytes;      /* released while the extent table was full: never reused */
} range_stats;

void range_get_stats(range_stats *out);

/* Bytes of the chunks the pool holds now (read by the trim policy, no lock). */
size_t range_in_chunks(void);

#endif /* SGI_PRELOAD_RANGE_H */
