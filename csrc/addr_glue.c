/* addr_glue.c -- sgi_pool.h's calls with integer addresses (addr_glue.h). */
#include "addr_glue.h"

uintptr_t pool_allocate(sgi_pool *p, size_t n)
{
    return (uintptr_t)sgi_pool_allocate(p, n);
}

uintptr_t pool_calloc(sgi_pool *p, size_t count, size_t size)
{
    return (uintptr_t)sgi_pool_calloc(p, count, size);
}

void pool_deallocate(sgi_pool *p, uintptr_t addr, size_t n)
{
    sgi_pool_deallocate(p, (void *)addr, n);
}

int pool_deallocate_checked(sgi_pool *p, uintptr_t addr, size_t n)
{
    return sgi_pool_deallocate_checked(p, (void *)addr, n);
}

int pool_reallocate(sgi_pool *p, uintptr_t addr, size_t old_n, size_t new_n, uintptr_t *out)
{
    void *q;
    int status = sgi_pool_reallocate_checked(p, (void *)addr, old_n, new_n, &q);
    *out = (uintptr_t)q;
    return status;
}

int pool_block_size(sgi_pool *p, uintptr_t addr, size_t *n)
{
    return sgi_pool_block_size(p, (const void *)addr, n);
}

int pool_free(sgi_pool *p, uintptr_t addr)
{
    return sgi_pool_free_checked(p, (void *)addr);
}

int pool_realloc(sgi_pool *p, uintptr_t addr, size_t new_n, uintptr_t *out)
{
    void *q;
    int status = sgi_pool_realloc_checked(p, (void *)addr, new_n, &q);
    *out = (uintptr_t)q;
    return status;
}

size_t pool_usable_size(sgi_pool *p, uintptr_t addr)
{
    return sgi_pool_usable_size(p, (const void *)addr);
}

int pool_owns(sgi_pool *p, uintptr_t addr)
{
    return sgi_pool_owns(p, (const void *)addr);
}
