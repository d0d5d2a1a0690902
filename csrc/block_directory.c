/* block_directory.c -- see block_directory.h. */
#include "block_directory.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* Words of the bitmap of a chunk of nslots granules (plus the end bit). */
static size_t words_for(const block_directory *d, size_t nslots)
{
    return ((nslots + 1) << d->track_live) / 64 + 1;
}

/* Words allocated: one spare, for dir_extent_in's two-word window. */
static size_t words_allocated(const block_directory *d, size_t nslots)
{
    return words_for(d, nslots) + 1;
}

dir_chunk dir_no_chunk; /* (zero: base 0, size 0) */

void dir_init(block_directory *d, unsigned shift, bool track_live)
{
    memset(d, 0, sizeof *d);
    for (size_t i = 0; i < DIR_CACHE_SIZE; i++)
        d->cache[i] = &dir_no_chunk;
    atomic_init(&d->root, NULL);
    atomic_init(&d->removals, 0);
    d->shift = shift;
    d->track_live = track_live;
}

static void free_record(dir_chunk *c)
{
    if (c != NULL)
        free((void *)c->bits);
    free(c);
}

bool dir_prepare(block_directory *d, size_t size)
{
    dir_cancel(d);
    dir_chunk *c = malloc(sizeof *c);
    if (c == NULL)
        return false;
    size_t words = words_allocated(d, size >> d->shift);
    c->bits = calloc(words, sizeof *c->bits); /* all zero: atomics of value 0 */
    if (c->bits == NULL) {
        free(c);
        return false;
    }
    d->pending = c;
    d->pending_size = size;
    return true;
}

void dir_cancel(block_directory *d)
{
    free_record(d->pending);
    d->pending = NULL;
    d->pending_size = 0;
}

/* The map's entry for page, its nodes made on the way when `make`; NULL when
   the page lies beyond the map or a node is missing (or memory is short). */
static void *_Atomic *map_entry(block_directory *d, uintptr_t page, bool make)
{
    if ((page >> (DIR_ADDRESS_BITS - DIR_PAGE_SHIFT)) != 0)
        return NULL;
    dir_node *n = atomic_load_explicit(&d->root, memory_order_relaxed);
    if (n == NULL) {
        if (!make || (n = calloc(1, sizeof *n)) == NULL)
            return NULL;
        atomic_store_explicit(&d->root, n, memory_order_release);
    }
    for (unsigned level = DIR_LEVELS - 1; level > 0; level--) {
        void *_Atomic *slot = &n->slot[(page >> (level * DIR_LEVEL_BITS)) & (DIR_LEVEL_SIZE - 1)];
        dir_node *next = atomic_load_explicit(slot, memory_order_relaxed);
        if (next == NULL) {
            if (!make || (next = calloc(1, sizeof *next)) == NULL)
                return NULL;
            atomic_store_explicit(slot, next, memory_order_release); /* zeroed before seen */
        }
        n = next;
    }
    return &n->slot[page & (DIR_LEVEL_SIZE - 1)];
}

/* Frees a node and the nodes below it (level 0: a leaf, whose entries are
   records, freed elsewhere). */
static void free_node(dir_node *n, unsigned level)
{
    if (n == NULL)
        return;
    if (level > 0)
        for (size_t i = 0; i < DIR_LEVEL_SIZE; i++)
            free_node(atomic_load_explicit(&n->slot[i], memory_order_relaxed), level - 1);
    free(n);
}

static uintptr_t first_page(const dir_chunk *c)
{
    return c->base >> DIR_PAGE_SHIFT;
}

static uintptr_t last_page(const dir_chunk *c)
{
    return (c->base + c->size - 1) >> DIR_PAGE_SHIFT;
}

static dir_chunk *next_of(const dir_chunk *c)
{
    return atomic_load_explicit((dir_chunk *_Atomic *)&c->next, memory_order_relaxed);
}

void dir_commit(block_directory *d, uintptr_t base, size_t size)
{
    assert(d->pending != NULL && d->pending_size == size && size != 0);
    dir_chunk *c = d->pending;
    d->pending = NULL;
    d->pending_size = 0;
    size_t nslots = size >> d->shift;
    c->base = base;
    c->size = size;
    c->slots = nslots;
    c->retired_next = NULL;
    dir_set_start(d, c, 0);      /* the new tail's start */
    dir_set_start(d, c, nslots); /* the chunk end: every scan stops here */

    /* Into the list, in address order (usually the highest: one step from
       the end would do, but chunks are few and this runs once per chunk). */
    dir_chunk *prev = NULL;
    for (dir_chunk *at = d->head; at != NULL && at->base < base; at = next_of(at))
        prev = at;
    atomic_init(&c->next, prev != NULL ? next_of(prev) : d->head);
    if (prev != NULL)
        atomic_store_explicit(&prev->next, c, memory_order_release); /* c is whole: publish */
    else
        d->head = c; /* (the list's head is read under the lock only) */
    d->count++;

    /* Into the map: c becomes the first record of each of its pages that has
       none or only later ones.  The nodes first, so that c is all in or out. */
    for (uintptr_t pg = first_page(c); pg <= last_page(c); pg++) {
        if (map_entry(d, pg, true) == NULL) {
            d->unmapped = true; /* memory short, or beyond 2^48: locked misses walk */
            return;
        }
    }
    for (uintptr_t pg = first_page(c); pg <= last_page(c); pg++) {
        void *_Atomic *e = map_entry(d, pg, false);
        dir_chunk *first = atomic_load_explicit(e, memory_order_relaxed);
        if (first == NULL || first->base > base)
            atomic_store_explicit(e, c, memory_order_release);
    }
}

void dir_remove(block_directory *d, uintptr_t base)
{
    dir_chunk *prev = NULL, *c = d->head;
    while (c != NULL && c->base != base) {
        prev = c;
        c = next_of(c);
    }
    if (c == NULL)
        return;
    dir_chunk *after = next_of(c);
    /* Out of the map first: a page whose first record was c gets the next
       one if that overlaps the page too.  c keeps its `next`, so a reader
       standing on c walks on. */
    for (uintptr_t pg = first_page(c); pg <= last_page(c); pg++) {
        void *_Atomic *e = map_entry(d, pg, false);
        if (e != NULL && atomic_load_explicit(e, memory_order_relaxed) == c)
            atomic_store_explicit(e, after != NULL && first_page(after) == pg ? after : NULL,
                                  memory_order_release);
    }
    if (prev != NULL)
        atomic_store_explicit(&prev->next, after, memory_order_release);
    else
        d->head = after;
    d->count--;
    for (size_t i = 0; i < DIR_CACHE_SIZE; i++)
        if (d->cache[i] == c)
            d->cache[i] = &dir_no_chunk;
    c->retired_next = d->retired;
    d->retired = c;
    /* after the unlinking: a reader that sees the new count finds c nowhere */
    atomic_store_explicit(&d->removals, atomic_load_explicit(&d->removals, memory_order_relaxed) + 1,
                          memory_order_release);
}

/* The chunk holding addr by walking the list (chunks the map lacks). */
static dir_chunk *walk_list(const block_directory *d, uintptr_t addr)
{
    for (dir_chunk *c = d->head; c != NULL && c->base <= addr; c = next_of(c))
        if (addr - c->base < c->size)
            return c;
    return NULL;
}

dir_chunk *dir_find_slow(block_directory *d, uintptr_t addr)
{
    dir_chunk **set = &d->cache[dir_cache_set(addr)];
    size_t way = 2; /* (the fast paths looked at ways 0 and 1) */
    while (way < DIR_CACHE_WAYS && addr - set[way]->base >= set[way]->size)
        way++;
    dir_chunk *c;
    if (way < DIR_CACHE_WAYS) {
        c = set[way];
    } else {
        c = (dir_chunk *)dir_find_unlocked(d, addr);
        if (c == NULL && d->unmapped)
            c = walk_list(d, addr);
        if (c == NULL)
            return NULL;
        way = DIR_CACHE_WAYS - 1; /* the last way's record leaves the set */
    }
    dir_cache_promote(set, way, c);
    return c;
}

void dir_mark_carved(block_directory *d, uintptr_t first, size_t size, size_t nobjs)
{
    dir_chunk *c = dir_find(d, first);
    assert(c != NULL);
    size_t slot = (size_t)((first - c->base) >> d->shift);
    size_t step = size >> d->shift;
    for (size_t k = 0; k <= nobjs; k++, slot += step) /* k == nobjs: the new tail start */
        dir_set_start(d, c, slot);
}

void dir_walk(const block_directory *d, uintptr_t skip,
              void (*visit)(void *ctx, uintptr_t addr, size_t size, bool live), void *ctx)
{
    for (const dir_chunk *c = d->head; c != NULL; c = next_of(c)) {
        size_t nslots = c->size >> d->shift;
        uint64_t mask = d->track_live ? DIR_EVEN_BITS : ~(uint64_t)0;
        for (size_t w = 0; w < words_for(d, nslots); w++) {
            for (uint64_t word = dir_word_at(c->bits, w) & mask; word != 0; word &= word - 1) {
                size_t slot = (w * 64 + dir_ctz(word)) >> d->track_live;
                uintptr_t addr = c->base + ((uintptr_t)slot << d->shift);
                if (slot >= nslots || addr == skip)
                    continue;
                visit(ctx, addr, dir_extent(d, c, slot), d->track_live && dir_is_live(c, slot));
            }
        }
    }
}

void dir_free(block_directory *d)
{
    for (dir_chunk *c = d->head, *next; c != NULL; c = next) {
        next = next_of(c);
        free_record(c);
    }
    for (dir_chunk *c = d->retired, *next; c != NULL; c = next) {
        next = c->retired_next;
        free_record(c);
    }
    free_node(atomic_load_explicit(&d->root, memory_order_relaxed), DIR_LEVELS - 1);
    dir_cancel(d);
    dir_init(d, d->shift, d->track_live);
}
