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
 * Address -> chunk: every chunk has a record, allocated on its own (its
 * address never changes) and linked with the others in address order.  A
 * radix map over the page numbers of the 48-bit address space (4 KiB pages,
 * four levels of 512 entries, as page tables; CPython's obmalloc maps its
 * arenas so) holds for each page the first record overlapping it; a lookup
 * reads four map words, then follows `next` while the record ends at or
 * before the address (small early chunks share a page, so a few steps at
 * most).  No search, and no index that an insertion shifts.  In front of it, for callers holding
 * the pool's lock, a cache from pages to the records last found there
 * (sets of four, the two most recent looked at inline) makes the common
 * lookup one load and a compare.
 *
 * Who may read without the lock: the map, the records and the start bits
 * are written only under the pool's lock, and every word of them that a
 * reader without the lock may see while a writer changes it (map entries,
 * `next`, bitmap words) is atomic.  A record is filled in, bitmap included,
 * before a release store links it (into the list, then into the map), and
 * readers load links with acquire, so a reader that reaches a record sees it
 * whole.  The start bits of a block a thread frees were set before the block
 * was handed out, so that thread sees them (the writer holds the lock, so a
 * relaxed load and store suffice; on x86 a plain mov, no lock prefix).  The
 * cache is the locked callers' alone: a reader without the lock never reads
 * or fills it.  Nothing a reader may hold is freed before dir_free: a
 * removed chunk's record and bitmap are retired (kept, unlinked), and map
 * nodes stay.  Which pools read without the lock: thread-cache pools, in
 * the size-less frees, while the caller's cache is entered (thread_cache.c,
 * which also keeps per thread the records it found, forgotten when
 * `removals` changes, and the pool's open_tail, an atomic copy of the tail's
 * start, whose start bit is no block's); close revokes every cache before it
 * frees the directory, so no such reader is inside then.  A reader racing
 * dir_remove may still find the removed record: its chunk holds no live
 * block, so the address is no block to free anyway.  Whatever is unclear,
 * the caller settles on the locked path.
 *
 * If memory for a map node is short when a chunk is added, the chunk stays
 * out of the map (its record is still linked) and `unmapped` is set: locked
 * lookups that miss the map then walk the list, and readers without the
 * lock, which never walk it, fall back to the locked path.
 */
#ifndef SGI_BLOCK_DIRECTORY_H
#define SGI_BLOCK_DIRECTORY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIR_PAGE_SHIFT 12 /* the map's and the cache's pages: 4 KiB */
#define DIR_CACHE_SIZE 4096 /* cache entries (a power of two): 1024 sets of 4 ways, 32 KiB */
#define DIR_LEVEL_BITS 9     /* each map level: 512 entries, a 4 KiB node */
#define DIR_LEVEL_SIZE ((size_t)1 << DIR_LEVEL_BITS)
#define DIR_LEVELS 4         /* 4 x 9 bits of page number above the 12 of the offset */
#define DIR_ADDRESS_BITS 48  /* the map covers [0, 2^48); a chunk beyond stays unmapped */

/* A bitmap word: atomic, as readers without the lock may load it while the
   lock's holder sets a start bit (relaxed both ways: plain moves on x86). */
typedef _Atomic uint64_t dir_word;

typedef struct dir_chunk {
    uintptr_t base; /* the chunk's first byte */
    size_t size;    /* its bytes: size >> shift granules ("slots") */
    dir_word *bits; /* unchecked pools: bit s is slot s's start bit; checked pools:
                       bit 2s its start bit, bit 2s + 1 its live bit (one cache line
                       holds both).  One start bit past the last slot: the chunk end. */
    struct dir_chunk *_Atomic next; /* the next chunk in address order */
    struct dir_chunk *retired_next; /* removed records, kept until dir_free */
    size_t slots;   /* size >> shift: its granules (dir_find_cached_slot's bound; 0 in
                       dir_no_chunk, so no slot is inside it) */
} dir_chunk;

/* A map node: the page number's bits 35..27 choose an entry of the root,
   26..18 of the next node, 17..9 of the next, 8..0 of a leaf, whose entry
   is the first record overlapping the page, or NULL.  (Four small levels,
   as page tables: a small pool's map is four 4 KiB nodes.) */
typedef struct dir_node {
    void *_Atomic slot[DIR_LEVEL_SIZE];
} dir_node;

typedef struct block_directory {
    dir_chunk *head;            /* the records, in address order (`next`) */
    size_t count;               /* chunks recorded */
    dir_node *_Atomic root;     /* the map, made with the first chunk */
    dir_chunk *retired;         /* removed records (`retired_next`) */
    bool unmapped;              /* some chunk is not in the map: locked misses walk */
    _Atomic size_t removals;    /* chunks removed so far: readers' own caches of records
                                   (thread_cache.c) are stale once it changes */
    unsigned shift;             /* log2(align) */
    bool track_live;            /* checked pools keep live bits (the two-bit layout) */
    dir_chunk *pending;         /* record and bitmap made by dir_prepare for the next chunk */
    size_t pending_size;        /* the chunk size they were made for */
    dir_chunk *cache[DIR_CACHE_SIZE]; /* page -> records found there, &dir_no_chunk: none, in
                                         sets of DIR_CACHE_WAYS (dir_cache_set;
                                         the lock's holders only) */
} block_directory;

/* The record in every cache entry that names no chunk: base 0 and size 0,
   which no address is inside, so a lookup needs no NULL test. */
extern dir_chunk dir_no_chunk;

/* An empty directory for granules of 1 << shift bytes. */
void dir_init(block_directory *d, unsigned shift, bool track_live);

/* Makes the bitmap and the record for a chunk of `size` bytes before the
   pool asks the system for it; false (nothing changed) when memory is short.
   dir_commit uses them, dir_cancel drops them. */
bool dir_prepare(block_directory *d, size_t size);
void dir_commit(block_directory *d, uintptr_t base, size_t size);
void dir_cancel(block_directory *d);

/* Removes the chunk starting at base (no-op when there is none): it leaves
   the list, the map and the cache; its record and bitmap are retired, freed
   by dir_free, as readers without the lock may still hold them. */
void dir_remove(block_directory *d, uintptr_t base);

/* Refill carved nobjs blocks of `size` bytes at `first`: their start bits,
   and the boundary after them (the new start of the tail), are set. */
void dir_mark_carved(block_directory *d, uintptr_t first, size_t size, size_t nobjs);

/* The chunk holding addr, or NULL, from the map; for callers without the
   lock (acquire loads only, writes nothing). */
static inline const dir_chunk *dir_find_unlocked(const block_directory *d, uintptr_t addr)
{
    dir_node *n = atomic_load_explicit(&((block_directory *)d)->root, memory_order_acquire);
    if (n == NULL || (addr >> DIR_ADDRESS_BITS) != 0)
        return NULL;
    uintptr_t page = addr >> DIR_PAGE_SHIFT;
    for (unsigned level = DIR_LEVELS - 1; level > 0; level--) {
        n = atomic_load_explicit(&n->slot[(page >> (level * DIR_LEVEL_BITS)) & (DIR_LEVEL_SIZE - 1)],
                                 memory_order_acquire);
        if (n == NULL)
            return NULL;
    }
    const dir_chunk *c = atomic_load_explicit(&n->slot[page & (DIR_LEVEL_SIZE - 1)],
                                              memory_order_acquire);
    /* records overlapping the page, in address order: skip those ending before addr */
    while (c != NULL && addr - c->base >= c->size) {
        if (addr < c->base)
            return NULL; /* in a gap between chunks */
        c = atomic_load_explicit((dir_chunk *_Atomic *)&c->next, memory_order_acquire);
    }
    return c;
}

/* The chunk holding addr, or NULL, for the lock's holders: the cache, then
   the map (whose answer the cache keeps). */
dir_chunk *dir_find_slow(block_directory *d, uintptr_t addr);

#if defined(__GNUC__)
#define DIR_LIKELY(x) __builtin_expect(!!(x), 1)
#else
#define DIR_LIKELY(x) (x)
#endif

/* The cache's set for addr's page: DIR_CACHE_WAYS entries, the records
   found last for a page of the set first (chunks sharing a page, small
   early ones, do not evict each other).  The fast paths look at the first
   two ways inline; dir_find_slow at the others before the map, and moves
   what it finds to the front. */
#define DIR_CACHE_WAYS 4
static inline size_t dir_cache_set(uintptr_t addr)
{
    return (size_t)(addr >> (DIR_PAGE_SHIFT - 2)) & (DIR_CACHE_SIZE - DIR_CACHE_WAYS);
}

/* The cache alone, for the lock's holders: the chunk holding addr when the
   cache has it, else NULL (not known: no chunk, or not cached yet).  The
   checked fast paths use it so that they call nothing: on NULL they take
   their general path, whose dir_find settles it and fills the cache. */
static inline dir_chunk *dir_find_cached(const block_directory *d, uintptr_t addr)
{
    size_t set = dir_cache_set(addr);
    dir_chunk *c = d->cache[set];
    if (DIR_LIKELY(addr - c->base < c->size)) /* (dir_no_chunk: never) */
        return c;
    c = d->cache[set + 1];
    return addr - c->base < c->size ? c : NULL;
}

/* x rotated right by s bits (0 < s < 64): a granule offset's low bits, if
   any are set, land at the top, so one compare with a chunk's slot count
   tests both the range and the alignment. */
static inline uintptr_t dir_rotr(uintptr_t x, unsigned s)
{
    return (x >> s) | (x << ((0u - s) & 63));
}

/* dir_find_cached for granule-aligned addresses: the chunk holding addr when
   the cache has it and addr is a multiple of the granule (1 << shift) from
   the chunk's base, with *slot its granule; else NULL (not cached, no chunk,
   or not aligned: the caller's miss path settles it).  The checked frees'
   lookup: the range and the alignment in one compare (dir_rotr). */
static inline dir_chunk *dir_find_cached_slot(const block_directory *d, uintptr_t addr,
                                              unsigned shift, size_t *slot)
{
    size_t set = dir_cache_set(addr);
    dir_chunk *c = d->cache[set];
    size_t s = dir_rotr(addr - c->base, shift);
    if (DIR_LIKELY(s < c->slots)) { /* (dir_no_chunk: never) */
        *slot = s;
        return c;
    }
    c = d->cache[set + 1];
    s = dir_rotr(addr - c->base, shift);
    *slot = s;
    return s < c->slots ? c : NULL;
}

/* c, found in way `way` of a set (or, with way DIR_CACHE_WAYS - 1, found by
   the map: the last way's record leaves), to the set's front; the ways
   before it move one on. */
static inline void dir_cache_promote(dir_chunk **set, size_t way, dir_chunk *c)
{
    for (; way > 0; way--)
        set[way] = set[way - 1];
    set[0] = c;
}

/* dir_find_cached_slot's other ways (2 and up), for when the first two
   missed: the chunk and *slot as there, moved to the front of its set, or
   NULL (the caller's miss path settles it).  For the lock's holders. */
static inline dir_chunk *dir_find_cached_slot_far(block_directory *d, uintptr_t addr,
                                                  unsigned shift, size_t *slot)
{
    dir_chunk **set = &d->cache[dir_cache_set(addr)];
    for (size_t way = 2; way < DIR_CACHE_WAYS; way++) {
        dir_chunk *c = set[way];
        size_t s = dir_rotr(addr - c->base, shift);
        if (s < c->slots) {
            dir_cache_promote(set, way, c);
            *slot = s;
            return c;
        }
    }
    return NULL;
}

static inline dir_chunk *dir_find(block_directory *d, uintptr_t addr)
{
    dir_chunk *c = dir_find_cached(d, addr);
    return c != NULL ? c : dir_find_slow(d, addr);
}

/* The slot of addr in c, or SIZE_MAX when addr is not granule-aligned. */
static inline size_t dir_slot(const block_directory *d, const dir_chunk *c, uintptr_t addr)
{
    uintptr_t off = addr - c->base;
    if (off & (((uintptr_t)1 << d->shift) - 1))
        return SIZE_MAX;
    return (size_t)(off >> d->shift);
}

static inline uint64_t dir_word_at(const dir_word *bits, size_t w)
{
    return atomic_load_explicit((dir_word *)&bits[w], memory_order_relaxed);
}

static inline bool dir_get_bit(const dir_word *bits, size_t i)
{
    return (dir_word_at(bits, i >> 6) >> (i & 63)) & 1;
}

/* (the lock's holder alone writes: a load and a store, no read-modify-write) */
static inline void dir_set_bit(dir_word *bits, size_t i)
{
    uint64_t w = dir_word_at(bits, i >> 6) | (uint64_t)1 << (i & 63);
    atomic_store_explicit(&bits[i >> 6], w, memory_order_relaxed);
}

static inline void dir_clear_bit(dir_word *bits, size_t i)
{
    uint64_t w = dir_word_at(bits, i >> 6) & ~((uint64_t)1 << (i & 63));
    atomic_store_explicit(&bits[i >> 6], w, memory_order_relaxed);
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

/* Clears the start bits of slots [from, to) (a page trim's released span,
   B.14: its interior; the lock's holder alone). */
static inline void dir_clear_starts(const block_directory *d, dir_chunk *c, size_t from, size_t to)
{
    for (size_t slot = from; slot < to; slot++)
        if (dir_starts(d, c, slot))
            dir_clear_bit(c->bits, slot << d->track_live);
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
    uint64_t window = (dir_word_at(c->bits, w) >> sh) | ((dir_word_at(c->bits, w + 1) << 1) << (63 - sh));
    window &= mask;
    if (window != 0)
        return (size_t)((dir_ctz(window) >> two) + 1) << shift;
    w++; /* its bits below i + 64 were in the window: the first one set lies beyond */
    while ((dir_word_at(c->bits, w) & mask) == 0)
        w++;
    return (((w * 64 + dir_ctz(dir_word_at(c->bits, w) & mask)) >> two) - slot) << shift;
}

static inline size_t dir_extent(const block_directory *d, const dir_chunk *c, size_t slot)
{
    return dir_extent_in(c, slot, d->track_live, d->shift);
}

/* Unchecked directories (one start bit per slot): the granules of the
   carved block whose start bit is slot's, or 0 when slot has none.  The 64
   bits from slot's own start bit on are read as one window (two loads, as
   dir_extent_in's, without a branch on the word boundary: dir_start_window),
   so the start bit and the next one come from the same two words: the
   size-less frees' whole lookup past the chunk.  A block of more
   than 63 granules (no later bit in the window) is scanned on by
   dir_extent_in. */
/* The 64 bits from bit i of a bitmap on, given lo and hi, the words i / 64
   and i / 64 + 1 (no branch on where the word boundary falls). */
static inline uint64_t dir_window_of(uint64_t lo, uint64_t hi, size_t i)
{
#if defined(__GNUC__) && defined(__x86_64__)
    /* x86's double shift: lo >> (i % 64), hi's low bits above, in one
       instruction (the count register's low 6 bits are the shift) */
    __asm__("shrdq %%cl, %1, %0" : "+r"(lo) : "r"(hi), "c"(i) : "cc");
    return lo;
#else
    unsigned sh = (unsigned)(i & 63);
    return (lo >> sh) | ((hi << 1) << (63 - sh));
#endif
}

/* The word's bit of the live bit whose start bit is bit i (two-bit layout,
   i even): 2 << (i % 64), the shift taking its count modulo 64 itself on
   x86 (no mask instruction). */
static inline uint64_t dir_live_bit(size_t i)
{
#if defined(__GNUC__) && defined(__x86_64__)
    uint64_t bit = 2;
    __asm__("shlq %%cl, %0" : "+r"(bit) : "c"(i) : "cc");
    return bit;
#else
    return (uint64_t)2 << (i & 63);
#endif
}

/* *w ^= x and *w |= x for the lock's holder (the only writer; readers
   without the lock see the word before or after): on x86 one instruction
   with a memory operand (no lock prefix: not an atomic read-modify-write,
   which no other writer needs), elsewhere a relaxed load and store. */
static inline void dir_word_xor(dir_word *w, uint64_t x)
{
#if defined(__GNUC__) && defined(__x86_64__)
    __asm__("xorq %1, %0" : "+m"(*(uint64_t *)(void *)w) : "r"(x) : "cc");
#else
    atomic_store_explicit(w, atomic_load_explicit(w, memory_order_relaxed) ^ x,
                          memory_order_relaxed);
#endif
}

static inline void dir_word_or(dir_word *w, uint64_t x)
{
#if defined(__GNUC__) && defined(__x86_64__)
    __asm__("orq %1, %0" : "+m"(*(uint64_t *)(void *)w) : "r"(x) : "cc");
#else
    atomic_store_explicit(w, atomic_load_explicit(w, memory_order_relaxed) | x,
                          memory_order_relaxed);
#endif
}

static inline uint64_t dir_start_window(const dir_chunk *c, size_t slot)
{
    const dir_word *words = c->bits + (slot >> 6);
    return dir_window_of(dir_word_at(words, 0), dir_word_at(words, 1), slot);
}

static inline size_t dir_start_granules(const dir_chunk *c, size_t slot)
{
    uint64_t window = dir_start_window(c, slot);
    if (!(window & 1))
        return 0;
    window &= ~(uint64_t)1;
    if (DIR_LIKELY(window != 0))
        return dir_ctz(window);
    return dir_extent_in(c, slot, false, 0);
}

/* Checked pools' fast paths: a block's live bit and its extent from one
   window.  The 64 bits from slot's start bit on (two-bit layout) hold its
   live bit (bit 1) and the start bits of the next 31 slots (bits 2, 4, ..,
   62), so a block of at most DIR_LIVE_EXTENT granules is checked (live, and
   the size asked) with one masked compare.  Longer blocks (max_small above
   31 granules: 248 bytes at align 8) are left to the general path, which
   scans the bitmap (dir_extent). */
#define DIR_LIVE_EXTENT 31

/* The test of a live block of exactly k granules (1 <= k <= DIR_LIVE_EXTENT)
   on the window from its start bit: (window & dir_live_mask(k)) ==
   dir_live_expect(k) -- the live bit set, no start bit in its k - 1 later
   granules, one k granules on (a block, the tail or the chunk end).  The
   pool keeps both per class (one and, one compare on the free's path). */
static inline uint64_t dir_live_mask(size_t k)
{
    return (DIR_EVEN_BITS & ~(uint64_t)1 & ((UINT64_C(2) << 2 * k) - 1)) | 2;
}

static inline uint64_t dir_live_expect(size_t k)
{
    return (uint64_t)1 << 2 * k | 2;
}

/* The window; *word and *shift locate slot's start bit (its live bit is the
   next one), for a caller that then clears the live bit. */
static inline uint64_t dir_live_window(const dir_chunk *c, size_t slot, size_t *word,
                                       unsigned *shift)
{
    size_t i = slot << 1;
    size_t w = i >> 6;
    unsigned sh = (unsigned)(i & 63);
    *word = w;
    *shift = sh;
    return (dir_word_at(c->bits, w) >> sh) | ((dir_word_at(c->bits, w + 1) << 1) << (63 - sh));
}

/* Whether a window is a live block of exactly k granules (1 <= k <=
   DIR_LIVE_EXTENT): its live bit set, no start bit in its k - 1 later
   granules, a start bit k granules on (a block, the tail or the chunk end). */
static inline bool dir_window_is_live_block(uint64_t window, size_t k)
{
    /* the live bit flipped (clear when live) and the later start bits: the
       lowest bit set is then the next start bit's, 2k, exactly when both
       hold (bit 63, an odd one, stops the count when no start bit is in) */
    uint64_t bits = ((window & (DIR_EVEN_BITS ^ 3)) ^ 2) | (uint64_t)1 << 63;
    return dir_ctz(bits) == 2 * k;
}

/* The granules of the live block a window shows, or 0: not live, or longer
   than DIR_LIVE_EXTENT (no start bit in the window). */
static inline size_t dir_window_live_extent(uint64_t window)
{
    uint64_t starts = window & (DIR_EVEN_BITS & ~(uint64_t)1); /* the next 31 slots' start bits */
    if (!(window & 2) || starts == 0)
        return 0;
    return dir_ctz(starts) >> 1;
}

/* Clears the live bit of the slot whose window was read at (word, shift). */
static inline void dir_clear_live_at(dir_chunk *c, size_t word, unsigned shift)
{
    uint64_t w = dir_word_at(c->bits, word) & ~((uint64_t)2 << shift);
    atomic_store_explicit(&c->bits[word], w, memory_order_relaxed);
}

/* Checked pools' sized free: when slot starts a live block of exactly k
   granules (k <= DIR_LIVE_EXTENT), clears its live bit and returns true;
   false changes nothing (the general path decides and reports). */
static inline bool dir_take_live(dir_chunk *c, size_t slot, size_t k)
{
    size_t w;
    unsigned sh;
    if (!dir_window_is_live_block(dir_live_window(c, slot, &w, &sh), k))
        return false;
    dir_clear_live_at(c, w, sh);
    return true;
}

/* Checked pools' size-less free: the granules of the live block at slot, its
   live bit cleared; 0 changes nothing (not live, or longer than
   DIR_LIVE_EXTENT). */
static inline size_t dir_take_live_any(dir_chunk *c, size_t slot)
{
    size_t w;
    unsigned sh;
    size_t k = dir_window_live_extent(dir_live_window(c, slot, &w, &sh));
    if (k != 0)
        dir_clear_live_at(c, w, sh);
    return k;
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

/* Frees everything; the directory is empty and usable again. */
void dir_free(block_directory *d);

#endif /* SGI_BLOCK_DIRECTORY_H */
