/*
 * block_directory.h -- what the pool knows about its blocks, kept beside the
 * chunks (internal to the pool).
 *
 * SGI keeps no per-block metadata and the chunk layout must stay SGI's, so
 * the directory only observes.  Per chunk it keeps two bitmaps with one bit
 * per `align` granule:
 *
 *   starts  set where a carved block starts, and at the start of the current
 *           chunk's uncarved tail (start_free).  One extra bit past the last
 *           granule is set at creation (the chunk end), so a scan always ends.
 *   live    checked pools only: set where a live small block starts.
 *
 * In checked pools the two are interleaved in one bitmap (a granule's start
 * bit, then its live bit), so a free reads one cache line of the directory.
 *
 * A block's size is the distance from its start bit to the next start bit.
 * Because the tail's start counts as a boundary, the last block carved
 * before the tail ends where the tail starts; the tail itself is no block
 * (the pool excludes start_free while the tail is not empty).  Why this
 * needs no hook at a leftover push (step 3.2) or at salvage (3.4): start_free
 * always has its bit, so a leftover tail is already a block from start_free
 * to the next bit, and a salvaged block becomes the tail with its start bit
 * as the tail's boundary and no bits inside it; carving it again sets new
 * ones.  Every end of a salvaged block is another block's start, a tail
 * start or a chunk end, so sizes stay right.
 *
 * Address -> chunk: a direct-mapped cache from 4 KiB pages to the chunk last
 * found there (the page's neighbour in address order is tried next: small
 * chunks share pages), then binary search over the chunks sorted by base
 * (chunks grow geometrically, so there are few).  The cache makes a lookup
 * two loads and a compare while the pool's heap spans less than 16 MiB.
 * (Measured: 4 KiB pages beat 16 and 64 KiB ones, whose pages small early
 * chunks share; 1024 entries missed in the benchmark's churn cells once a
 * pool's heap had grown past 4 MiB.)
 */
#ifndef SGI_BLOCK_DIRECTORY_H
#define SGI_BLOCK_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIR_PAGE_SHIFT 12 /* the cache's pages: 4 KiB */
#define DIR_CACHE_SIZE 4096 /* cache entries (a power of two): 16 MiB of pages, 16 KiB */

typedef struct dir_chunk {
    uintptr_t base; /* the chunk's first byte */
    size_t size;    /* its bytes: size >> shift granules ("slots") */
    uint64_t *bits; /* unchecked pools: bit s is slot s's start bit; checked pools:
                       bit 2s its start bit, bit 2s + 1 its live bit (one cache line
                       holds both).  One start bit past the last slot: the chunk end. */
} dir_chunk;

typedef struct block_directory {
    dir_chunk *chunks;   /* sorted by base */
    size_t count;        /* chunks recorded */
    size_t cap;          /* records allocated */
    unsigned shift;      /* log2(align) */
    bool track_live;     /* checked pools keep live bits (the two-bit layout) */
    uint64_t *pending;   /* bitmap made by dir_prepare for the next chunk */
    size_t pending_size; /* the chunk size it was made for */
    uint32_t cache[DIR_CACHE_SIZE]; /* page -> 1 + index of a chunk found there, 0: none;
                                       cleared when an insertion shifts indices */
} block_directory;

/* An empty directory for granules of 1 << shift bytes. */
void dir_init(block_directory *d, unsigned shift, bool track_live);

/* Makes the bitmap and the record for a chunk of `size` bytes before the
   pool asks the system for it; false (nothing changed) when memory is short.
   dir_commit uses them, dir_cancel drops them. */
bool dir_prepare(block_directory *d, size_t size);
void dir_commit(block_directory *d, uintptr_t base, size_t size);
void dir_cancel(block_directory *d);

/* Refill carved nobjs blocks of `size` bytes at `first`: their start bits,
   and the boundary after them (the new start of the tail), are set. */
void dir_mark_carved(block_directory *d, uintptr_t first, size_t size, size_t nobjs);

/* The chunk holding addr, or NULL; cached is the cache's entry for addr's
   page (0, or 1 + the index of a chunk that shares the page). */
dir_chunk *dir_find_slow(block_directory *d, uintptr_t addr, uint32_t cached);

static inline dir_chunk *dir_find(block_directory *d, uintptr_t addr)
{
    uint32_t i = d->cache[(addr >> DIR_PAGE_SHIFT) & (DIR_CACHE_SIZE - 1)];
    if (i != 0) {
        dir_chunk *c = &d->chunks[i - 1];
        if (addr - c->base < c->size)
            return c;
    }
    return dir_find_slow(d, addr, i);
}

/* The slot of addr in c, or SIZE_MAX when addr is not granule-aligned. */
static inline size_t dir_slot(const block_directory *d, const dir_chunk *c, uintptr_t addr)
{
    uintptr_t off = addr - c->base;
    if (off & (((uintptr_t)1 << d->shift) - 1))
        return SIZE_MAX;
    return (size_t)(off >> d->shift);
}

static inline bool dir_get_bit(const uint64_t *bits, size_t i)
{
    return (bits[i >> 6] >> (i & 63)) & 1;
}

static inline void dir_set_bit(uint64_t *bits, size_t i)
{
    bits[i >> 6] |= (uint64_t)1 << (i & 63);
}

static inline void dir_clear_bit(uint64_t *bits, size_t i)
{
    bits[i >> 6] &= ~((uint64_t)1 << (i & 63));
}

static inline unsigned dir_ctz(uint64_t x)
{
#if defined(__GNUC__)
    return (unsigned)__builtin_ctzll(x);
#else
    unsigned r = 0;
    while (!(x & 1)) {
        x >>= 1;
        r++;
    }
    return r;
#endif
}

/* Start bits in the two-bit layout: the even positions. */
#define DIR_EVEN_BITS UINT64_C(0x5555555555555555)

/* Slot s's start bit; `two` is the layout (d->track_live), a constant on the
   fast paths. */
static inline bool dir_starts_in(const dir_chunk *c, size_t slot, bool two)
{
    return dir_get_bit(c->bits, slot << two);
}

static inline bool dir_starts(const block_directory *d, const dir_chunk *c, size_t slot)
{
    return dir_starts_in(c, slot, d->track_live);
}

static inline void dir_set_start(const block_directory *d, dir_chunk *c, size_t slot)
{
    dir_set_bit(c->bits, slot << d->track_live);
}

/* Live bits (checked pools only). */
static inline bool dir_is_live(const dir_chunk *c, size_t slot)
{
    return dir_get_bit(c->bits, 2 * slot + 1);
}

static inline void dir_set_live(dir_chunk *c, size_t slot)
{
    dir_set_bit(c->bits, 2 * slot + 1);
}

static inline void dir_clear_live(dir_chunk *c, size_t slot)
{
    dir_clear_bit(c->bits, 2 * slot + 1);
}

/* Bytes from the start bit of slot to the next start bit (a block's size,
   when slot starts a block).  The 64 bits from the next slot's start bit on
   are read as one window (two words, without a branch on where the word
   boundary falls: in churn that branch is a coin toss), which holds the
   answer whenever blocks are at most 32 granules (max_small 128 at align 8
   in checked pools, 64 granules unchecked); past that a loop scans on, and
   the chunk-end bit stops it in any case.  (A bitmap has a spare word at its
   end for the window's second load.) */
static inline size_t dir_extent_in(const dir_chunk *c, size_t slot, bool two, unsigned shift)
{
    uint64_t mask = two ? DIR_EVEN_BITS : ~(uint64_t)0;
    size_t i = (slot + 1) << two; /* the next slot's start bit */
    size_t w = i >> 6;
    unsigned sh = (unsigned)(i & 63); /* even when two, so the mask stays aligned */
    uint64_t window = (c->bits[w] >> sh) | ((c->bits[w + 1] << 1) << (63 - sh));
    window &= mask;
    if (window != 0)
        return (size_t)((dir_ctz(window) >> two) + 1) << shift;
    w++; /* its bits below i + 64 were in the window: the first one set lies beyond */
    while ((c->bits[w] & mask) == 0)
        w++;
    return (((w * 64 + dir_ctz(c->bits[w] & mask)) >> two) - slot) << shift;
}

static inline size_t dir_extent(const block_directory *d, const dir_chunk *c, size_t slot)
{
    return dir_extent_in(c, slot, d->track_live, d->shift);
}

/* Checked pools: the live bit of a block the pool hands out or takes back
   (the block lies in a chunk: it came off a free list or a refill). */
static inline void dir_mark_live(block_directory *d, const void *block)
{
    dir_chunk *c = dir_find(d, (uintptr_t)block);
    dir_set_live(c, (size_t)(((uintptr_t)block - c->base) >> d->shift));
}

static inline void dir_unmark_live(block_directory *d, const void *block)
{
    dir_chunk *c = dir_find(d, (uintptr_t)block);
    dir_clear_live(c, (size_t)(((uintptr_t)block - c->base) >> d->shift));
}

/* Calls visit(ctx, addr, size, live) for every start bit of every chunk, in
   address order, except the one at `skip` (the current tail's start, or 0).
   live is the live bit (false in unchecked pools). */
void dir_walk(const block_directory *d, uintptr_t skip,
              void (*visit)(void *ctx, uintptr_t addr, size_t size, bool live), void *ctx);

/* Forgets the chunk at base (its bitmap and record), which the pool is
   giving back to the system; nothing if no chunk starts there. */
void dir_remove(block_directory *d, uintptr_t base);

/* Frees everything; the directory is empty and usable again. */
void dir_free(block_directory *d);

#endif /* SGI_BLOCK_DIRECTORY_H */
