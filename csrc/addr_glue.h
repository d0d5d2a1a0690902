/*
 * addr_glue.h -- the C API with addresses as integers (uintptr_t), for
 * bindings such as cffi: an integer crosses cffi's call machinery more
 * cheaply than a void * cdata, and Python code holds addresses as ints.
 * Each is one of sgi_pool.h's calls with the pointers converted; see there
 * for the contracts.  Results come back through the out pointers.
 */
#ifndef SGI_POOL_ADDR_GLUE_H
#define SGI_POOL_ADDR_GLUE_H

#include "sgi_pool.h"

#ifdef __cplusplus
extern "C" {
#endif

uintptr_t pool_allocate(sgi_pool *p, size_t n);
uintptr_t pool_calloc(sgi_pool *p, size_t count, size_t size);
void pool_deallocate(sgi_pool *p, uintptr_t addr, size_t n);
int pool_deallocate_checked(sgi_pool *p, uintptr_t addr, size_t n);
int pool_reallocate(sgi_pool *p, uintptr_t addr, size_t old_n, size_t new_n, uintptr_t *out);
int pool_block_size(sgi_pool *p, uintptr_t addr, size_t *n);
int pool_free(sgi_pool *p, uintptr_t addr);
int pool_realloc(sgi_pool *p, uintptr_t addr, size_t new_n, uintptr_t *out);
size_t pool_usable_size(sgi_pool *p, uintptr_t addr);
int pool_owns(sgi_pool *p, uintptr_t addr);

#ifdef __cplusplus
}
#endif

#endif /* SGI_POOL_ADDR_GLUE_H */
