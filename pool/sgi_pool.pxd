# Cython declarations of pool's C API (csrc/python/sgi_pool_capi.h), for
# extensions that take memory from a pool.Pool:
#
#     from pool.sgi_pool cimport sgi_pool, sgi_pool_capi, sgi_pool_capi_import, sgi_pool_capi_handle
#     cdef const sgi_pool_capi *api = sgi_pool_capi_import()
#     cdef sgi_pool *p = sgi_pool_capi_handle(capsule)   # capsule = a_pool.capsule(), kept alive
#     cdef void *block = api.allocate(p, 24)
#
# Compile with include_dirs=[pool.get_include()].  The table's entries are
# declared here for the calls an extension makes on blocks; the rest are in the
# header (Cython needs only the fields it uses).
from libc.stdint cimport uint32_t


cdef extern from "sgi_pool_capi.h":
    ctypedef struct sgi_pool:
        pass

    enum:
        SGI_POOL_OK
        SGI_POOL_ENOMEM
        SGI_POOL_ENOTLIVE
        SGI_POOL_ECLOSED
        SGI_POOL_CAPI_VERSION

    ctypedef struct sgi_pool_capi:
        uint32_t version
        uint32_t size
        void *(*allocate)(sgi_pool *p, size_t n) nogil
        void (*deallocate)(sgi_pool *p, void *ptr, size_t n) nogil
        void *(*reallocate)(sgi_pool *p, void *ptr, size_t old_n, size_t new_n) nogil
        int (*deallocate_checked)(sgi_pool *p, void *ptr, size_t n) nogil
        void (*free)(sgi_pool *p, void *ptr) nogil
        int (*free_checked)(sgi_pool *p, void *ptr) nogil
        void *(*realloc)(sgi_pool *p, void *ptr, size_t new_n) nogil
        size_t (*usable_size)(sgi_pool *p, const void *ptr) nogil
        int (*owns)(sgi_pool *p, const void *ptr) nogil
        void *(*allocate_held)(sgi_pool *p, size_t n) nogil
        int (*free_held)(sgi_pool *p, void *ptr) nogil
        int (*realloc_held)(sgi_pool *p, void *ptr, size_t new_n, void **out) nogil
        size_t (*allocate_many)(sgi_pool *p, size_t n, size_t count, void **out) nogil
        size_t (*heap_size)(sgi_pool *p) nogil

    # NULL with ImportError set: pool missing, or its table older than the header
    const sgi_pool_capi *sgi_pool_capi_import() except NULL
    # NULL with TypeError set: obj is not a capsule from pool.Pool.capsule()
    sgi_pool *sgi_pool_capi_handle(object obj) except NULL
