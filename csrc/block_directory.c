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

void dir_init(block_directory *d, unsigned shift, bool track_live)
{
    memset(d, 0, sizeof *d);
    d->shift = shift;
    d->track_live = track_live;
}

bool dir_prepare(block_directory *d, size_t size)
{
    if (d->count == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 16;
        dir_chunk *grown = realloc(d->chunks, cap * sizeof *grown);
        if (grown == NULL)
            return false;
        d->chunks = grown;
        d->cap = cap;
    }
    dir_cancel(d);
    size_t words = words_allocated(d, size >> d->shift);
    d->pending = calloc(words, sizeof *d->pending);
    if (d->pending == NULL)
        return false;
    d->pending_size = size;
    return true;
}

void dir_cancel(block_directory *d)
{
    free(d->pending);
    d->pending = NULL;
    d->pending_size = 0;
}

void dir_commit(block_directory *d, uintptr_t base, size_t size)
{
    assert(d->pending != NULL && d->pending_size == size && d->count < d->cap);
    size_t nslots = size >> d->shift;
    dir_chunk c = {base, size, d->pending};
    dir_set_start(d, &c, 0);      /* the new tail's start */
    dir_set_start(d, &c, nslots); /* the chunk end: every scan stops here */
    d->pending = NULL;
    d->pending_size = 0;
    size_t i = d->count;
    while (i > 0 && d->chunks[i - 1].base > base) /* usually the highest: no move */
        i--;
    if (i < d->count) { /* later chunks move: the cache's indices go stale */
        memmove(&d->chunks[i + 1], &d->chunks[i], (d->count - i) * sizeof *d->chunks);
        memset(d->cache, 0, sizeof d->cache);
    }
    d->chunks[i] = c;
    d->count++;
}

/* Whether chunk i (an index, maybe out of range) holds addr. */
static bool holds(const block_directory *d, size_t i, uintptr_t addr)
{
    return i < d->count && addr - d->chunks[i].base < d->chunks[i].size;
}

dir_chunk *dir_find_slow(block_directory *d, uintptr_t addr, uint32_t cached)
{
    uint32_t *slot = &d->cache[(addr >> DIR_PAGE_SHIFT) & (DIR_CACHE_SIZE - 1)];
    if (cached != 0) { /* small chunks share pages: the other one is a neighbour */
        size_t i = cached - 1;
        if (holds(d, i + 1, addr) || (i > 0 && holds(d, i - 1, addr))) {
            size_t found = holds(d, i + 1, addr) ? i + 1 : i - 1;
            *slot = (uint32_t)(found + 1);
            return &d->chunks[found];
        }
    }
    size_t lo = 0, hi = d->count; /* the chunk is in [lo, hi) if anywhere */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (addr < d->chunks[mid].base)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (lo == 0)
        return NULL;
    dir_chunk *c = &d->chunks[lo - 1];
    if (addr - c->base >= c->size)
        return NULL;
    *slot = (uint32_t)lo; /* 1 + the index of c */
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
    for (size_t i = 0; i < d->count; i++) {
        const dir_chunk *c = &d->chunks[i];
        size_t nslots = c->size >> d->shift;
        uint64_t mask = d->track_live ? DIR_EVEN_BITS : ~(uint64_t)0;
        for (size_t w = 0; w < words_for(d, nslots); w++) {
            for (uint64_t word = c->bits[w] & mask; word != 0; word &= word - 1) {
                size_t slot = (w * 64 + dir_ctz(word)) >> d->track_live;
                uintptr_t addr = c->base + ((uintptr_t)slot << d->shift);
                if (slot >= nslots || addr == skip)
                    continue;
                visit(ctx, addr, dir_extent(d, c, slot), d->track_live && dir_is_live(c, slot));
            }
        }
    }
}

void dir_remove(block_directory *d, uintptr_t base)
{
    for (size_t i = 0; i < d->count; i++) {
        if (d->chunks[i].base != base)
            continue;
        free(d->chunks[i].bits);
        memmove(&d->chunks[i], &d->chunks[i + 1], (d->count - i - 1) * sizeof *d->chunks);
        d->count--;
        memset(d->cache, 0, sizeof d->cache); /* later chunks moved: indices go stale */
        return;
    }
}

void dir_free(block_directory *d)
{
    for (size_t i = 0; i < d->count; i++)
        free(d->chunks[i].bits);
    free(d->chunks);
    dir_cancel(d);
    dir_init(d, d->shift, d->track_live);
}
