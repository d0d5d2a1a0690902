/* block_table.c -- see block_table.h. */
#include "block_table.h"

#include <assert.h>
#include <stdlib.h>

#define MIN_CAPACITY 64

/* Fibonacci hashing: multiply by 2^64 / phi and keep the top bits, which mixes
   the low bits that aligned addresses all share. */
static inline size_t slot_of(const block_table *t, uintptr_t addr)
{
    return (size_t)(((uint64_t)addr * UINT64_C(0x9E3779B97F4A7C15)) >> t->shift);
}

static unsigned log2_of(size_t pow2)
{
    unsigned r = 0;
    while (((size_t)1 << r) < pow2)
        r++;
    return r;
}

/* Rehashes into a table of new_capacity slots; false when calloc fails. */
static bool rehash(block_table *t, size_t new_capacity)
{
    block_entry *slots = calloc(new_capacity, sizeof *slots);
    if (slots == NULL)
        return false;
    block_table bigger = {slots, new_capacity, 0, 64u - log2_of(new_capacity)};
    for (size_t i = 0; i < t->capacity; i++)
        if (t->slots[i].addr != 0)
            block_table_insert(&bigger, t->slots[i].addr, t->slots[i].size);
    free(t->slots);
    *t = bigger;
    return true;
}

bool block_table_reserve(block_table *t, size_t extra)
{
    if (extra > SIZE_MAX / 4 - t->count)
        return false;
    size_t needed = 2 * (t->count + extra);
    if (needed <= t->capacity)
        return true;
    size_t capacity = t->capacity ? t->capacity : MIN_CAPACITY;
    while (capacity < needed)
        capacity *= 2;
    return rehash(t, capacity);
}

block_entry *block_table_find(const block_table *t, uintptr_t addr)
{
    if (t->capacity == 0 || addr == 0)
        return NULL;
    size_t mask = t->capacity - 1;
    for (size_t i = slot_of(t, addr);; i = (i + 1) & mask) {
        block_entry *e = &t->slots[i];
        if (e->addr == addr)
            return e;
        if (e->addr == 0)
            return NULL;
    }
}

void block_table_insert(block_table *t, uintptr_t addr, size_t size)
{
    assert(addr != 0 && 2 * (t->count + 1) <= t->capacity);
    size_t mask = t->capacity - 1;
    size_t i = slot_of(t, addr);
    while (t->slots[i].addr != 0) {
        assert(t->slots[i].addr != addr);
        i = (i + 1) & mask;
    }
    t->slots[i].addr = addr;
    t->slots[i].size = size;
    t->count++;
}

void block_table_remove(block_table *t, block_entry *e)
{
    size_t mask = t->capacity - 1;
    size_t hole = (size_t)(e - t->slots);
    /* Backward shift: move later entries of the probe run into the hole when
       their home slot does not lie cyclically in (hole, j]. */
    for (size_t j = (hole + 1) & mask; t->slots[j].addr != 0; j = (j + 1) & mask) {
        size_t home = slot_of(t, t->slots[j].addr);
        bool stays = (hole < j) ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!stays) {
            t->slots[hole] = t->slots[j];
            hole = j;
        }
    }
    t->slots[hole].addr = 0;
    t->slots[hole].size = 0;
    t->count--;
}

void block_table_free(block_table *t)
{
    free(t->slots);
    t->slots = NULL;
    t->capacity = 0;
    t->count = 0;
    t->shift = 0;
}
