/*
 * sys_alloc.h -- forced (-include) into every translation unit of
 * libsgipool.so, the LD_PRELOAD build of the core.
 *
 * In that library the names malloc, free, ... are the library's own entry
 * points, so the core's calls to them would come straight back into the
 * pool.  These macros send them elsewhere, without a run-time guard:
 * the core's chunks (its only malloc calls once large requests bypass the
 * pool) to a reserved region, which makes "is this block ours?" one range
 * compare; its bookkeeping (calloc, realloc, free) to the system allocator
 * found with dlsym(RTLD_NEXT).  sgi_preload.c undefines them for itself.
 */
#ifndef SGI_PRELOAD_SYS_ALLOC_H
#define SGI_PRELOAD_SYS_ALLOC_H

#include <stddef.h>
#include <stdlib.h> /* declared before the macros, so the declarations keep their names */

void *sgi_preload_chunk(size_t n);
void sgi_preload_chunk_release(void *base, size_t size); /* range.c */
void *sgi_preload_sys_calloc(size_t count, size_t n);
void *sgi_preload_sys_realloc(void *ptr, size_t n);
void sgi_preload_sys_free(void *ptr);

#define malloc(n) sgi_preload_chunk(n)
#define calloc(count, n) sgi_preload_sys_calloc(count, n)
#define realloc(ptr, n) sgi_preload_sys_realloc(ptr, n)
#define free(ptr) sgi_preload_sys_free(ptr)
/* a chunk the core releases (trim): its pages go back, its addresses are reused */
#define POOL_CHUNK_RELEASE(base, size) sgi_preload_chunk_release(base, size)

#endif /* SGI_PRELOAD_SYS_ALLOC_H */
