/*
 * numpy_handler.c -- numpy's data-memory handler (NEP 49) on a pool:
 * pool.numpy builds this module (pool._numpy_handler) at first use against
 * the installed numpy's headers (pool/_jit.py), so nothing numpy-related is
 * needed to build or use the rest of the package.
 *
 * Like pool._fast it calls cffi's copy of the core (pool._pool_c) through the
 * C API capsule (sgi_pool_capi.h), so the handler's pool is an ordinary Pool.  Each handler capsule holds a reference to its pool's C
 * handle object: numpy keeps every array's handler, so arrays made under a
 * handler stay valid after it is uninstalled, and the handle outlives them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_22_API_VERSION
/* numpy >= 1.25 hides the API newer than its default target (1.19) unless
   asked: NEP 49's PyDataMem_SetHandler came in 1.22.  Older numpy ignores it. */
#define NPY_TARGET_VERSION NPY_1_22_API_VERSION
#include <numpy/arrayobject.h>

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "sgi_pool_capi.h"

static const sgi_pool_capi *core; /* from the capsule, at module init */

/* The core's entry points of the hot calls, copied out of the table at module
   init (one load per call instead of two). */
static void *(*pool_allocate_held)(sgi_pool *, size_t);
static int (*pool_free_held)(sgi_pool *, void *);
static int (*pool_deallocate_held_or_free)(sgi_pool *, void *, size_t);

/* The pool serves what its lists serve; larger data goes to the system
   allocator, as with numpy's default handler: a large np.zeros then stays
   untouched zero pages from calloc (a pool block would need a memset of
   every page).  A free tells the two apart by asking the pool: its refusal
   (no block of the pool) means the system's.  The pool's blocks are "held"
   (sgi_pool.h): an array may outlive its pool's close(), which then keeps
   the memory until the last such array is gone, so no pool block is ever
   handed to the system's free or realloc. */
enum { POOL_MAX_SMALL = SGI_POOL_DEFAULT_MAX_SMALL, POOL_OK = SGI_POOL_OK,
       POOL_ENOTLIVE = SGI_POOL_ENOTLIVE };

/* A handler's context (numpy passes it to every call; it lives in the
   handler's capsule, which numpy keeps while any array made under it lives). */
typedef struct handler_ctx {
    sgi_pool *pool;
    /* numpy's free of n bytes with n - 2 < sized_span (2 to POOL_MAX_SMALL
       bytes: one compare) is the sized free of a held block of n's class:
       POOL_MAX_SMALL - 1, set to 0 (for good) once the handler has given numpy
       a system block of at most POOL_MAX_SMALL bytes while the pool may be
       open: a realloc that shrank a system block and could not move it into
       the pool (ENOMEM, or a closed pool).  Otherwise every small free is of
       a held block of the pool (or of a closed pool's moved-out block, which
       the core's closed path refuses), of the class of the size numpy
       passes; once 0, small frees are size-less. */
    size_t sized_span; /* __atomic builtins, relaxed */
    /* The pool's large blocks (above POOL_MAX_SMALL) that this handler's
       arrays hold: only numpy's realloc makes them (a small block grown in the
       pool).  Counted from the sizes the pool reports before and after each
       realloc and at the free of one, so never below the true number (a close()
       meanwhile can only leave it above: a free then takes the general path).
       While it is 0, a free of more than POOL_MAX_SMALL bytes is of a block
       that malloc or calloc gave (numpy frees with the size it allocated or
       last reallocated, NEP 49; its own handler files small blocks by that
       size), so it goes to free() without asking the pool. */
    size_t large; /* __atomic builtins, relaxed: a block reaches another
                     thread only through numpy's own synchronisation */
} handler_ctx;

/* One allocation per capsule, on a cache line boundary: numpy reads the
   allocator's ctx and function, the glue the ctx, on every call -- one line. */
typedef struct handler_box {
    PyDataMem_Handler handler;
    handler_ctx ctx;
} handler_box;
enum { LINE = 64 };
_Static_assert(offsetof(handler_box, handler.allocator) / LINE ==
                   (offsetof(handler_box, ctx) + sizeof(handler_ctx) - 1) / LINE,
               "numpy's allocator and the context share a cache line");

/* numpy asks for 0 bytes for empty arrays and still wants a pointer. */
static void *handler_malloc(void *ctx, size_t n)
{
    if (__builtin_expect(n - 1 < POOL_MAX_SMALL, 1)) /* 1 to POOL_MAX_SMALL */
        return pool_allocate_held(((handler_ctx *)ctx)->pool, n);
    if (n == 0)
        return pool_allocate_held(((handler_ctx *)ctx)->pool, 1);
    return malloc(n);
}

static void *handler_calloc(void *ctx, size_t count, size_t n)
{
    size_t total;
    if (__builtin_mul_overflow(count, n, &total))
        return NULL;
    if (total > POOL_MAX_SMALL)
        return calloc(count, n);
    void *block = pool_allocate_held(((handler_ctx *)ctx)->pool, total ? total : 1);
    return block ? memset(block, 0, total ? total : 1) : NULL;
}

/* A system block that numpy reallocates to n <= POOL_MAX_SMALL bytes moves
   into the pool, so that numpy's free of n bytes finds a held block of n's
   class (the sized free trusts that).  The system's realloc first (n bytes
   kept, whatever the old size), then the copy; when the pool has no block
   (ENOMEM, or a closed pool) the system's block stays, and small frees turn
   size-less for good (sized_span 0). */
static __attribute__((noinline)) void *system_to_small(handler_ctx *c, void *ptr, size_t n)
{
    void *q = pool_allocate_held(c->pool, n);
    void *r = realloc(ptr, n);
    if (r == NULL) { /* ptr unchanged: the realloc failed */
        if (q != NULL)
            (void)pool_free_held(c->pool, q);
        return NULL;
    }
    if (q == NULL) {
        __atomic_store_n(&c->sized_span, 0, __ATOMIC_RELAXED);
        return r;
    }
    memcpy(q, r, n);
    free(r);
    return q;
}

/* numpy's realloc gives no old size: the pool's directory knows it, in the
   same locked call that resizes (or, for a closed pool, moves it out).  The
   size before and the size asked for keep `large`. */
static void *handler_realloc(void *ctx, void *ptr, size_t n)
{
    handler_ctx *c = ctx;
    if (ptr == NULL)
        return handler_malloc(ctx, n);
    size_t was = core->usable_size(c->pool, ptr);
    void *out = NULL;
    int status = core->realloc_held(c->pool, ptr, n ? n : 1, &out);
    if (status == POOL_ENOTLIVE)
        return n <= POOL_MAX_SMALL ? system_to_small(c, ptr, n ? n : 1)
                                   : realloc(ptr, n); /* the system's block stays the system's */
    if (status != POOL_OK)
        return NULL;
    /* from the request, not a second lookup: a close() by another thread
       after realloc_held would make that lookup 0 and leave `large` below
       the truth (a later free() of a pool block); an open pool's block for
       n is large exactly when n is, and a closed pool's count may only be
       too high, which free_large settles by asking */
    int grew = n > POOL_MAX_SMALL;
    if (grew != (was > POOL_MAX_SMALL)) /* before out reaches numpy */
        __atomic_add_fetch(&c->large, grew ? (size_t)1 : (size_t)-1, __ATOMIC_RELAXED);
    return out;
}

/* A free of more than POOL_MAX_SMALL bytes while the handler holds large
   blocks of the pool: the pool's size tells one of them from the system's. */
static __attribute__((noinline)) void free_large(handler_ctx *c, void *ptr)
{
    if (ptr != NULL && core->usable_size(c->pool, ptr) > POOL_MAX_SMALL) {
        (void)pool_free_held(c->pool, ptr); /* one of the large ones: OK */
        __atomic_sub_fetch(&c->large, 1, __ATOMIC_RELAXED);
    } else if (ptr != NULL && pool_free_held(c->pool, ptr) == POOL_ENOTLIVE) {
        free(ptr);
    }
}

/* numpy passes the size: the size it allocated or last reallocated (NEP 49),
   but an array of 0 bytes is freed with 1 whatever it got (older numpy's
   ndarray.resize to 0 elements reallocates to the item size).  Small, above
   1, while sized_span allows: a held block of that size's class (the
   handler's malloc, calloc and realloc see to it, above), so the core's sized
   free pushes it with no lookup of its chunk.  1 byte (0 or 1 bytes of data),
   or once the handler gave out a small system block: size-less (n 0).  Either
   way one core call: a closed pool's moved-out block, refused there, goes to
   free(); NULL is nothing.  Large: the system's straight away while the
   handler holds no large block of the pool. */
static void handler_free(void *ctx, void *ptr, size_t n)
{
    handler_ctx *c = ctx;
    if (__builtin_expect(n - 2 < __atomic_load_n(&c->sized_span, __ATOMIC_RELAXED), 1))
        (void)pool_deallocate_held_or_free(c->pool, ptr, n);
    else if (n <= POOL_MAX_SMALL)
        (void)pool_deallocate_held_or_free(c->pool, ptr, 0);
    else if (__atomic_load_n(&c->large, __ATOMIC_RELAXED) == 0)
        free(ptr);
    else
        free_large(c, ptr);
}

static void capsule_destructor(PyObject *capsule)
{
    PyDataMem_Handler *h = PyCapsule_GetPointer(capsule, "mem_handler");
    Py_XDECREF((PyObject *)PyCapsule_GetContext(capsule));
    free(h); /* the handler_box (its first member) */
}

/* make_handler(pool_address, keepalive) -> a "mem_handler" capsule */
static PyObject *make_handler(PyObject *module, PyObject *args)
{
    (void)module;
    unsigned long long address;
    PyObject *keepalive;
    if (!PyArg_ParseTuple(args, "KO", &address, &keepalive))
        return NULL;
    size_t bytes = (sizeof(handler_box) + LINE - 1) / LINE * LINE; /* aligned_alloc's rule */
    handler_box *box = aligned_alloc(LINE, bytes);
    if (box == NULL)
        return PyErr_NoMemory();
    memset(box, 0, bytes);
    PyDataMem_Handler *h = &box->handler;
    box->ctx.pool = (sgi_pool *)(uintptr_t)address;
    box->ctx.sized_span = POOL_MAX_SMALL - 1;
    strcpy(h->name, "sgi_pool");
    h->version = 1;
    h->allocator.ctx = &box->ctx;
    h->allocator.malloc = handler_malloc;
    h->allocator.calloc = handler_calloc;
    h->allocator.realloc = handler_realloc;
    h->allocator.free = handler_free;
    PyObject *capsule = PyCapsule_New(h, "mem_handler", capsule_destructor);
    if (capsule == NULL) {
        free(h);
        return NULL;
    }
    Py_INCREF(keepalive);
    if (PyCapsule_SetContext(capsule, keepalive) < 0) {
        Py_DECREF(keepalive);
        Py_DECREF(capsule);
        return NULL;
    }
    return capsule;
}

/* set_handler(capsule) -> the previous handler (numpy's, per context) */
static PyObject *set_handler(PyObject *module, PyObject *capsule)
{
    (void)module;
    return PyDataMem_SetHandler(capsule == Py_None ? NULL : capsule);
}

/* owner(array) -> (pool address, data address) when the array that owns
   array's data got it from one of these handlers and the block is one of
   that pool's; None otherwise (a view asks its base; large data is the
   system's).  numpy's handler of an array is public C API (PyArray_HANDLER). */
static PyObject *owner(PyObject *module, PyObject *array)
{
    (void)module;
    if (!PyArray_Check(array)) {
        PyErr_Format(PyExc_TypeError,
                     "pool.numpy.handles: array must be a numpy.ndarray, got %.100s",
                     Py_TYPE(array)->tp_name);
        return NULL;
    }
    PyArrayObject *a = (PyArrayObject *)array;
    while (!PyArray_CHKFLAGS(a, NPY_ARRAY_OWNDATA) && PyArray_BASE(a) != NULL &&
           PyArray_Check(PyArray_BASE(a)))
        a = (PyArrayObject *)PyArray_BASE(a);
    PyObject *capsule = PyArray_CHKFLAGS(a, NPY_ARRAY_OWNDATA) ? PyArray_HANDLER(a) : NULL;
    if (capsule == NULL || !PyCapsule_IsValid(capsule, "mem_handler"))
        Py_RETURN_NONE;
    PyDataMem_Handler *h = PyCapsule_GetPointer(capsule, "mem_handler");
    void *data = PyArray_DATA(a);
    if (h->allocator.malloc != handler_malloc)
        Py_RETURN_NONE;
    sgi_pool *pool = ((handler_ctx *)h->allocator.ctx)->pool;
    if (!core->owns(pool, data))
        Py_RETURN_NONE;
    return Py_BuildValue("KK", (unsigned long long)(uintptr_t)pool,
                         (unsigned long long)(uintptr_t)data);
}

static PyMethodDef methods[] = {
    {"owner", owner, METH_O, "owner(array) -> (pool address, data address) or None"},
    {"make_handler", make_handler, METH_VARARGS, "make_handler(pool_address, keepalive)"},
    {"set_handler", set_handler, METH_O, "set_handler(capsule or None) -> previous"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_numpy_handler", "numpy's data-memory handler on a pool", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__numpy_handler(void)
{
    import_array();
    core = sgi_pool_capi_import();
    if (core == NULL)
        return NULL;
    pool_allocate_held = core->allocate_held;
    pool_free_held = core->free_held;
    pool_deallocate_held_or_free = core->deallocate_held_or_free;
    return PyModule_Create(&module_def);
}
