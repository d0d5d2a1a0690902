/*
 * block_table.h -- an address -> size hash table (internal to the pool).
 *
 * The pool records every live large block here (so destroy can free them,
 * the heap limit can count them and a bad free of one can be refused).
 * Small blocks are the block directory's (block_directory.h).  Open addressing with linear probing and
 * backward-shift deletion: no tombstones, so lookups stay short however long
 * the pool lives.  Growth is explicit (block_table_reserve) so that callers
 * can fail before they change any other state.
 */
#ifndef SGI_BLOCK_TABLE_H
#define SGI_BLOCK_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct block_entry {
    uintptr_t addr; /* 0 marks an empty slot */
    size_t size;    /* size recorded at allocation */
} block_entry;

typedef struct block_table {
    block_entry *slots; /* capacity entries, a power of two (or NULL) */
    size_t capacity;    /* 0 until the first reserve */
    size_t count;       /* occupied slots */
    unsigned shift;     /* 64 - log2(capacity): hash keeps the top bits */
} block_table;

/* Makes room for `extra` more entries at load <= 1/2.  Returns false (and
   changes nothing) when memory is short. */
bool block_table_reserve(block_table *t, size_t extra);

/* The entry of addr, or NULL. */
block_entry *block_table_find(const block_table *t, uintptr_t addr);

/* Inserts an address that is not present; room must have been reserved. */
void block_table_insert(block_table *t, uintptr_t addr, size_t size);

/* Removes an entry returned by block_table_find. */
void block_table_remove(block_table *t, block_entry *e);

/* Frees the slots; the table is empty and usable again. */
void block_table_free(block_table *t);

#endif /* SGI_BLOCK_TABLE_H */
