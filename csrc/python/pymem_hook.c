/*
 * pymem_hook.c -- CPython's object allocator domain (and optionally the mem
 * domain) on a pool (pool.pymem, module pool._pymem_hook).  Compiled at first
 * use like numpy_handler.c, and calling cffi's copy of the core the same way:
 * through the C API capsule (sgi_pool_capi.h).
 *
 * Requests of 1..128 bytes come from the pool; everything else, and every
 * free or realloc of a block the pool does not own (objects made before the
 * switch, larger blocks), goes to the allocator that was replaced.  The hook
 * is never removed once installed: uninstall() only stops new allocations
 * from the pool, because blocks the pool handed out may still be freed.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

#include "sgi_pool_capi.h"

/* The core's entry points that the hooks call, copied out of the C API
   table at module init (one load per call instead of two: the table's
   address, then the entry).  malloc and free are the core's own
   forward_malloc / forward_free, registered directly (no call of ours in
   between: the pool's fast paths, then the replaced allocator); calloc and
   realloc are here. */
static void *(*pool_forward_malloc)(void *, size_t);
static void (*pool_forward_free)(void *, void *);
static void *(*pool_allocate)(sgi_pool *, size_t);
static void (*pool_deallocate)(sgi_pool *, void *, size_t);
static int (*pool_free_checked)(sgi_pool *, void *);
static size_t (*pool_usable_size)(sgi_pool *, const void *);
static void (*pool_get_options)(sgi_pool *, sgi_pool_options *);

typedef struct hook {
    /* first, so that the hook's context is also the core's sgi_pool_forward:
       the pool, serve_max (max_small while serving, 0 after uninstall(): new
       blocks are then the replaced allocator's), the replaced malloc and free */
    sgi_pool_forward fw;
    PyMemAllocatorEx replaced; /* the allocator this hook forwards to */
    size_t max_small;          /* the pool's: it serves requests of 1..max_small bytes */
    int installed;
} hook;

static hook hooks[3]; /* by PyMemAllocatorDomain */

static void *hook_calloc(void *ctx, size_t count, size_t n)
{
    hook *h = ctx;
    size_t total;
    if (!__builtin_mul_overflow(count, n, &total) && total - 1 < h->fw.serve_max) {
        void *block = pool_allocate(h->fw.pool, total);
        if (block != NULL)
            return memset(block, 0, total);
    }
    return h->replaced.calloc(h->replaced.ctx, count, n);
}

static void *hook_realloc(void *ctx, void *ptr, size_t n)
{
    hook *h = ctx;
    if (ptr == NULL)
        return pool_forward_malloc(ctx, n);
    size_t have = pool_usable_size(h->fw.pool, ptr);
    if (have == 0) /* not the pool's: stays the replaced allocator's */
        return h->replaced.realloc(h->replaced.ctx, ptr, n);
    if (n != 0 && n <= have)
        return ptr;
    void *moved = pool_forward_malloc(ctx, n ? n : 1);
    if (moved == NULL)
        return NULL;
    memcpy(moved, ptr, n < have ? n : have);
    /* `have` is the block's size as the directory gave it: a sized free, with
       no second lookup (the hook pool serves small blocks only) */
    if (have <= h->max_small)
        pool_deallocate(h->fw.pool, ptr, have);
    else
        (void)pool_free_checked(h->fw.pool, ptr);
    return moved;
}

/* install(domain, pool_address) */
static PyObject *install(PyObject *module, PyObject *args)
{
    (void)module;
    int domain;
    unsigned long long address;
    if (!PyArg_ParseTuple(args, "iK", &domain, &address))
        return NULL;
    if (domain != PYMEM_DOMAIN_OBJ && domain != PYMEM_DOMAIN_MEM) {
        PyErr_Format(PyExc_ValueError, "pool.pymem: domain must be obj or mem, got %d", domain);
        return NULL;
    }
    hook *h = &hooks[domain];
    if (h->installed) {
        if ((uintptr_t)h->fw.pool != (uintptr_t)address) {
            PyErr_SetString(PyExc_RuntimeError,
                            "pool.pymem: the domain's hook is bound to another pool "
                            "(its blocks may still be live)");
            return NULL;
        }
        h->fw.serve_max = h->max_small;
        Py_RETURN_NONE;
    }
    PyMem_GetAllocator((PyMemAllocatorDomain)domain, &h->replaced);
    h->fw.pool = (sgi_pool *)(uintptr_t)address;
    sgi_pool_options opts;
    pool_get_options(h->fw.pool, &opts);
    h->max_small = opts.max_small;
    h->fw.serve_max = h->max_small;
    h->fw.ctx = h->replaced.ctx;
    h->fw.malloc_fn = h->replaced.malloc;
    h->fw.free_fn = h->replaced.free;
    h->installed = 1;
    PyMemAllocatorEx mine = {h, pool_forward_malloc, hook_calloc, hook_realloc, pool_forward_free};
    PyMem_SetAllocator((PyMemAllocatorDomain)domain, &mine);
    Py_RETURN_NONE;
}

/* stop(domain): new blocks from the replaced allocator again */
static PyObject *stop(PyObject *module, PyObject *arg)
{
    (void)module;
    long domain = PyLong_AsLong(arg);
    if (domain == -1 && PyErr_Occurred())
        return NULL;
    if (domain == PYMEM_DOMAIN_OBJ || domain == PYMEM_DOMAIN_MEM)
        hooks[domain].fw.serve_max = 0;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"install", install, METH_VARARGS, "install(domain, pool_address)"},
    {"stop", stop, METH_O, "stop(domain)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_pymem_hook", "CPython's allocator domains on a pool", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__pymem_hook(void)
{
    const sgi_pool_capi *core = sgi_pool_capi_import();
    if (core == NULL)
        return NULL;
    pool_forward_malloc = core->forward_malloc;
    pool_forward_free = core->forward_free;
    pool_allocate = core->allocate;
    pool_deallocate = core->deallocate;
    pool_free_checked = core->free_checked;
    pool_usable_size = core->usable_size;
    pool_get_options = core->get_options;
    return PyModule_Create(&module_def);
}
