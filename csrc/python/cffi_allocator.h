/*
 * cffi_allocator.h -- C functions for cffi's ffi.new_allocator (part of
 * pool._pool_c's glue; pool/cffi_allocator.py is the Python side).
 *
 * new_allocator calls alloc(size) and free(ptr) with nothing else, so each
 * pool needs functions of its own: a fixed table of slots, each slot a pair
 * of C functions bound to one pool.  cffi calls them as C function pointers
 * (no Python code per allocation); free is size-less (the block directory).
 */
#ifndef POOL_CFFI_ALLOCATOR_H
#define POOL_CFFI_ALLOCATOR_H

#include "sgi_pool.h"

#define POOL_CFFI_SLOTS 64

typedef void *(*pool_alloc_fn)(size_t);
typedef void (*pool_free_fn)(void *);

static sgi_pool *pool_cffi_slot[POOL_CFFI_SLOTS];

/* Slot r*8 + c is named rc and indexed by the octal literal 0rc.  ffi.new of
   0 bytes still needs a distinct block: 1 byte. */
#define POOL_CFFI_SLOT(r, c)                                                          \
    static void *pool_cffi_alloc_##r##c(size_t n)                                    \
    { return sgi_pool_allocate(pool_cffi_slot[0##r##c], n ? n : 1); }                \
    static void pool_cffi_free_##r##c(void *ptr) { sgi_pool_free(pool_cffi_slot[0##r##c], ptr); }
#define POOL_CFFI_SLOT8(r)                                                            \
    POOL_CFFI_SLOT(r, 0) POOL_CFFI_SLOT(r, 1) POOL_CFFI_SLOT(r, 2) POOL_CFFI_SLOT(r, 3) \
    POOL_CFFI_SLOT(r, 4) POOL_CFFI_SLOT(r, 5) POOL_CFFI_SLOT(r, 6) POOL_CFFI_SLOT(r, 7)
POOL_CFFI_SLOT8(0) POOL_CFFI_SLOT8(1) POOL_CFFI_SLOT8(2) POOL_CFFI_SLOT8(3)
POOL_CFFI_SLOT8(4) POOL_CFFI_SLOT8(5) POOL_CFFI_SLOT8(6) POOL_CFFI_SLOT8(7)

#define POOL_CFFI_ROW8(f, r) f##r##0, f##r##1, f##r##2, f##r##3, f##r##4, f##r##5, f##r##6, f##r##7
#define POOL_CFFI_TABLE(f)                                                           \
    { POOL_CFFI_ROW8(f, 0), POOL_CFFI_ROW8(f, 1), POOL_CFFI_ROW8(f, 2), POOL_CFFI_ROW8(f, 3), \
      POOL_CFFI_ROW8(f, 4), POOL_CFFI_ROW8(f, 5), POOL_CFFI_ROW8(f, 6), POOL_CFFI_ROW8(f, 7) }

static const pool_alloc_fn pool_cffi_allocs[POOL_CFFI_SLOTS] = POOL_CFFI_TABLE(pool_cffi_alloc_);
static const pool_free_fn pool_cffi_frees[POOL_CFFI_SLOTS] = POOL_CFFI_TABLE(pool_cffi_free_);

/* Binds slot (< POOL_CFFI_SLOTS) to pool p before its functions are handed out. */
static void pool_cffi_bind(size_t slot, sgi_pool *p) { pool_cffi_slot[slot] = p; }
static pool_alloc_fn pool_cffi_alloc_fn(size_t slot) { return pool_cffi_allocs[slot]; }
static pool_free_fn pool_cffi_free_fn(size_t slot) { return pool_cffi_frees[slot]; }

#endif /* POOL_CFFI_ALLOCATOR_H */
