/*
 * sgi_pool_capi.h -- the core's functions for C extensions, as one versioned
 * table of function pointers (as numpy exports its C API).
 *
 * pool._pool_c (the cffi module that holds the package's one copy of the
 * core) fills the table; the package exports it as the PyCapsule
 * "pool._capi._C_API" (pool/_capi.py).  A C extension -- the fast path, the
 * glue compiled at first use, or your own -- includes this header (it ships
 * with the package: pool.get_include()) and calls sgi_pool_capi_import(),
 * which checks the version and the size, then calls through the table:
 *
 *     const sgi_pool_capi *api = sgi_pool_capi_import();
 *     if (api == NULL) return NULL;            // an ImportError is set
 *     void *block = api->allocate(pool, 24);
 *
 * Compatibility: fields are only ever appended.  A table of a later version
 * serves an extension built against an earlier one (its size is larger); an
 * extension built against a later version refuses an older table.
 */
#ifndef SGI_POOL_CAPI_H
#define SGI_POOL_CAPI_H

#include <stdint.h>

#include "sgi_pool.h"

#define SGI_POOL_CAPI_VERSION 1
#define SGI_POOL_CAPI_NAME "pool._capi._C_API"
/* The name of the capsules pool.Pool.capsule() returns: a pool's sgi_pool *. */
#define SGI_POOL_CAPI_HANDLE_NAME "pool.sgi_pool"

typedef struct sgi_pool_capi {
    uint32_t version; /* SGI_POOL_CAPI_VERSION of the library that filled it */
    uint32_t size;    /* sizeof(sgi_pool_capi) there */
    /* Version 1: every entry point of sgi_pool.h, in its order (declared from
       the header's own prototypes, so a changed signature fails to compile). */
    /* generated from sgi_pool.h: begin */
    __typeof__(sgi_pool_options_init) *options_init;
    __typeof__(sgi_pool_create) *create;
    __typeof__(sgi_pool_destroy) *destroy;
    __typeof__(sgi_pool_close) *close;
    __typeof__(sgi_pool_allocate_held) *allocate_held;
    __typeof__(sgi_pool_free_held) *free_held;
    __typeof__(sgi_pool_realloc_held) *realloc_held;
    __typeof__(sgi_pool_allocate) *allocate;
    __typeof__(sgi_pool_deallocate) *deallocate;
    __typeof__(sgi_pool_reallocate) *reallocate;
    __typeof__(sgi_pool_deallocate_checked) *deallocate_checked;
    __typeof__(sgi_pool_reallocate_checked) *reallocate_checked;
    __typeof__(sgi_pool_allocate_many) *allocate_many;
    __typeof__(sgi_pool_deallocate_many) *deallocate_many;
    __typeof__(sgi_pool_free) *free;
    __typeof__(sgi_pool_free_checked) *free_checked;
    __typeof__(sgi_pool_realloc) *realloc;
    __typeof__(sgi_pool_realloc_checked) *realloc_checked;
    __typeof__(sgi_pool_usable_size) *usable_size;
    __typeof__(sgi_pool_owns) *owns;
    __typeof__(sgi_pool_free_many) *free_many;
    __typeof__(sgi_pool_last_refused) *last_refused;
    __typeof__(sgi_pool_set_heap_limit) *set_heap_limit;
    __typeof__(sgi_pool_heap_limit) *heap_limit;
    __typeof__(sgi_pool_heap_size) *heap_size;
    __typeof__(sgi_pool_get_options) *get_options;
    __typeof__(sgi_pool_nclasses) *nclasses;
    __typeof__(sgi_pool_locking) *locking;
    __typeof__(sgi_pool_get_stats) *get_stats;
    __typeof__(sgi_pool_class_counts) *class_counts;
    __typeof__(sgi_pool_chunks) *chunks;
    __typeof__(sgi_pool_free_list) *free_list;
    __typeof__(sgi_pool_current_chunk) *current_chunk;
    __typeof__(sgi_pool_block_size) *block_size;
    __typeof__(sgi_pool_live_blocks) *live_blocks;
    __typeof__(sgi_pool_blocks) *blocks;
    __typeof__(sgi_pool_capture_state) *capture_state;
    __typeof__(sgi_pool_process_totals) *process_totals;
    __typeof__(sgi_pool_calloc) *calloc;
    __typeof__(sgi_pool_trim) *trim;
    __typeof__(sgi_pool_get_trim_stats) *get_trim_stats;
    __typeof__(sgi_pool_trim_pages) *trim_pages;
    __typeof__(sgi_pool_get_page_stats) *get_page_stats;
    __typeof__(sgi_pool_deallocate_held) *deallocate_held;
    __typeof__(sgi_pool_deallocate_held_or_free) *deallocate_held_or_free;
    __typeof__(sgi_pool_forward_malloc) *forward_malloc;
    __typeof__(sgi_pool_forward_free) *forward_free;
    /* generated from sgi_pool.h: end */
} sgi_pool_capi;

/* The importer's helpers, for extensions that include Python.h first (not for
   the table's own translation unit: pool._pool_c is built on the limited API). */
#if defined(Py_PYTHON_H) && !defined(SGI_POOL_CAPI_TABLE_ONLY)
/* The table, from the capsule; NULL with ImportError set when the package is
   missing or its table is older than this header. */
static inline const sgi_pool_capi *sgi_pool_capi_import(void)
{
    const sgi_pool_capi *api = (const sgi_pool_capi *)PyCapsule_Import(SGI_POOL_CAPI_NAME, 0);
    if (api == NULL)
        return NULL;
    if (api->version < SGI_POOL_CAPI_VERSION || api->size < sizeof(sgi_pool_capi)) {
        PyErr_Format(PyExc_ImportError,
                     "%s: version %u (%u bytes), but this extension was built against "
                     "version %d (%zu bytes): rebuild it against the installed pool",
                     SGI_POOL_CAPI_NAME, (unsigned)api->version, (unsigned)api->size,
                     SGI_POOL_CAPI_VERSION, sizeof(sgi_pool_capi));
        return NULL;
    }
    return api;
}

/* The sgi_pool * inside a capsule from pool.Pool.capsule(); NULL with an
   exception set when obj is no such capsule.  The pointer stays valid while
   the extension holds a reference to the capsule (it keeps the Pool and its C
   handle alive); a close() of the Pool meanwhile returns the pool's memory and
   every later call on the pointer fails (allocate NULL, checked calls
   SGI_POOL_ECLOSED), except free_held/realloc_held of held blocks. */
static inline sgi_pool *sgi_pool_capi_handle(PyObject *obj)
{
    if (!PyCapsule_IsValid(obj, SGI_POOL_CAPI_HANDLE_NAME)) {
        PyErr_Format(PyExc_TypeError,
                     "expected a pool handle capsule (pool.Pool.capsule()), got %.100s",
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    return (sgi_pool *)PyCapsule_GetPointer(obj, SGI_POOL_CAPI_HANDLE_NAME);
}
#endif

#endif /* SGI_POOL_CAPI_H */
