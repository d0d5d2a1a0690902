/*
 * pool._fast -- CPython fast path for Pool's hot methods.  Glue only: no
 * algorithm, no error message.
 *
 * The C core lives once in the process, in the cffi module pool._pool_c: its
 * globals (the per-thread last refused request, the process totals, the fork
 * registry) must be the ones every caller sees.  So this module does not link
 * the core; configure() takes the core's functions from the C API capsule
 * that pool._capi exports (sgi_pool_capi.h) and calls go through that table.
 *
 * Pool (pool/core.py) inherits from FastPool.  The state the hot methods read
 * sits in this struct and is what Python sees as Pool's attributes _p (the
 * cffi handle; None when closed), _checked, _align, _max_small and
 * _trusted_max, so core.py keeps reading and writing them as before.
 *
 * Checks happen here; on the rare error path the exception is built by the
 * existing Python code (pool._validate, Pool._handle, Pool._block_error,
 * Pool._after_refusal), so every message is written once, in Python.
 *
 * The GIL is kept during single calls: releasing and retaking it costs about
 * 25 ns here, more than the core's call, refills and malloc of large blocks
 * included (README, Performance).  Batch calls of at least RELEASE_GIL_BLOCKS
 * blocks release it: there the cost is under 0.01 ns a block and the call is
 * long enough to keep other threads waiting.  The pool guards itself as it
 * would for any C caller (cffi users and C code may share the pool): its lock,
 * or for an unchecked pool used by one thread its biased owner (bias.h).
 * close() only marks the handle closed (sgi_pool_close, under the lock); the
 * handle's memory lives as long as this object holds `owner`.  What else
 * relies on the GIL, and would have to change for a free-threaded build, is
 * in docs/free-threading.md; the module declares that it uses the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#if PY_VERSION_HEX < 0x030B0000
#include <longintrepr.h> /* digit and ob_digit: Python.h includes it from 3.11 */
#endif

#include <stdbool.h>
#include <string.h>

#include "sgi_pool_capi.h"

_Static_assert(sizeof(void *) == 8 && sizeof(size_t) == 8,
               "array('Q') holds the addresses: 64-bit platforms only");

/* The core's entry points: cffi's copy of them (pool._pool_c), from the C API
   capsule (sgi_pool_capi.h), set once by configure(). */
static const sgi_pool_capi *core;

/* Python helpers, set once by configure() before any pool is used. */
static struct {
    PyObject *as_size;         /* pool._validate.as_size(value, name) */
    PyObject *as_address;      /* pool._validate.as_address(value) */
    PyObject *as_count;        /* pool._validate.as_count(value) */
    PyObject *addresses_array; /* pool._validate.addresses_array(iterable) */
    PyObject *address_of;      /* cffi handle -> its address as an int */
    PyObject *zero_array;      /* array('Q', [0]) */
    PyObject *array_type;      /* array.array */
    PyObject *cffi_buffer;     /* the cffi path's Pool.buffer, for its errors */
    PyObject *name_size, *name_old_size, *name_new_size, *name_n;
    PyObject *meth_handle, *meth_after_refusal, *meth_block_error;
} py;

static int configured;

enum { RELEASE_GIL_BLOCKS = 4096 }; /* batch calls this long run without the GIL */

/* tracemalloc: while it traces, blocks handed out are reported in a domain
   of their own (pool.tracing.DOMAIN), so snapshots show pool memory with
   Python tracebacks.  When it is not tracing, PyTraceMalloc_Track returns -2
   after testing its flag: that call is the whole cost.  A batch asks once
   and stops at -2.  Every way memory leaves the pool untracks it: frees,
   reallocate and resize here, close() and the handle's destructor through
   untrack_pool() (pool.tracing.forget), before the memory goes back, since
   afterwards its addresses may be another pool's live blocks. */
#define POOL_TRACE_DOMAIN 0x53474950u /* "SGIP" */

static inline int trace_new(uintptr_t addr, size_t n)
{
    return PyTraceMalloc_Track(POOL_TRACE_DOMAIN, addr, n);
}

static inline void trace_gone(uintptr_t addr)
{
    (void)PyTraceMalloc_Untrack(POOL_TRACE_DOMAIN, addr);
}

/* Untrack of an address that was never tracked: -2 only when not tracing. */
static inline bool tracing_now(void)
{
    return PyTraceMalloc_Untrack(POOL_TRACE_DOMAIN, 0) != -2;
}

typedef struct {
    PyObject_HEAD
    sgi_pool *pool;    /* NULL: closed, or not opened yet; read atomically */
    PyObject *owner;   /* the cffi handle owning `pool`; kept until dealloc */
    Py_ssize_t trusted_max; /* deallocate's unchecked path takes sizes up to it */
    Py_ssize_t align;
    Py_ssize_t max_small;
    char checked;
} FastPool;

static sgi_pool *load_pool(FastPool *self)
{
    return __atomic_load_n(&self->pool, __ATOMIC_ACQUIRE);
}

/* ---- errors: built by the Python code ------------------------------------------------ */

/* The pool is closed (or was just closed): Pool._handle() raises the error. */
static sgi_pool *closed_pool(FastPool *self)
{
    sgi_pool *p;
    PyObject *r = PyObject_CallMethodNoArgs((PyObject *)self, py.meth_handle);
    if (r == NULL)
        return NULL;
    Py_DECREF(r);
    p = load_pool(self);
    if (p == NULL)
        PyErr_SetString(PyExc_SystemError, "pool handle vanished");
    return p;
}

static inline sgi_pool *open_pool(FastPool *self)
{
    sgi_pool *p = load_pool(self);
    return p != NULL ? p : closed_pool(self);
}

/* Raises the exception object a builder returned. */
static void raise_built(PyObject *exc)
{
    if (exc == NULL)
        return;
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
}

/* raise self._block_error(status, addr, n[, index]); n NULL: the size-less
   calls (no in-band marker: every size_t, SIZE_MAX too, is a size) */
static void block_error(FastPool *self, int status, uintptr_t addr, const size_t *n,
                        Py_ssize_t index)
{
    PyObject *args[5] = {(PyObject *)self, NULL, NULL, NULL, NULL};
    size_t nargs = 4;
    args[1] = PyLong_FromLong(status);
    args[2] = PyLong_FromSize_t(addr);
    if (n == NULL)
        Py_INCREF(Py_None);
    args[3] = n == NULL ? Py_None : PyLong_FromSize_t(*n);
    if (index >= 0) {
        args[4] = PyLong_FromSsize_t(index);
        nargs = 5;
    }
    PyObject *exc = NULL;
    if (args[1] && args[2] && args[3] && (index < 0 || args[4]))
        exc = PyObject_VectorcallMethod(py.meth_block_error, args,
                                        nargs | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    for (size_t i = 1; i < 5; i++)
        Py_XDECREF(args[i]);
    raise_built(exc);
}

/* Memory was refused: self._after_refusal() runs the oom handler and returns
   when the call should be retried (raising otherwise); then the handle is
   read again (the handler may have closed the pool). */
static sgi_pool *after_refusal(FastPool *self)
{
    PyObject *r = PyObject_CallMethodNoArgs((PyObject *)self, py.meth_after_refusal);
    if (r == NULL)
        return NULL;
    Py_DECREF(r);
    return open_pool(self);
}

/* ---- argument conversion: C for the common case, pool._validate otherwise ---------- */

/* An int already known to be in range (a checker's result). */
static int int_to_size(PyObject *value, size_t *out)
{
    size_t v = PyLong_AsSize_t(value);
    if (v == (size_t)-1 && PyErr_Occurred())
        return -1;
    *out = v;
    return 0;
}

/* check(value[, name]) -> int, converted; the checker raises the error. */
static int checked_value(PyObject *check, PyObject *value, PyObject *name, size_t *out)
{
    PyObject *args[2] = {value, name};
    PyObject *r = PyObject_Vectorcall(check, args, name ? 2 : 1, NULL);
    if (r == NULL)
        return -1;
    int rc = int_to_size(r, out);
    Py_DECREF(r);
    return rc;
}

/* Reads an exact non-negative int that fits one or two digits without a call
   (sizes and, on 3.11, 64-bit addresses): 0 when done, -1 to take the general
   way.  Uses the int layout of the version it is compiled for. */
static inline int read_small_int(PyObject *value, size_t *out)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyLongObject *v = (PyLongObject *)value;
    if (!PyUnstable_Long_IsCompact(v))
        return -1;
    Py_ssize_t x = PyUnstable_Long_CompactValue(v);
    if (x < 0)
        return -1;
    *out = (size_t)x;
    return 0;
#else
    const digit *d = ((PyLongObject *)value)->ob_digit;
    switch (Py_SIZE(value)) {
    case 1:
        *out = d[0];
        return 0;
    case 2:
        *out = (size_t)d[0] | (size_t)d[1] << PyLong_SHIFT;
        return 0;
    default:
        return -1;
    }
#endif
}

static int convert_general(PyObject *value, size_t lo, size_t hi, PyObject *check,
                           PyObject *name, size_t *out)
{
    if (PyLong_CheckExact(value)) {
        size_t v = PyLong_AsSize_t(value);
        if (v == (size_t)-1 && PyErr_Occurred())
            PyErr_Clear(); /* negative or too large: the checker says so */
        else if (v >= lo && v <= hi) {
            *out = v;
            return 0;
        }
    }
    return checked_value(check, value, name, out);
}

/* An exact int in lo..hi, else whatever the checker makes of it. */
static inline int convert(PyObject *value, size_t lo, size_t hi, PyObject *check,
                          PyObject *name, size_t *out)
{
    size_t v;
    if (PyLong_CheckExact(value) && read_small_int(value, &v) == 0 && v >= lo && v <= hi) {
        *out = v;
        return 0;
    }
    return convert_general(value, lo, hi, check, name, out);
}

static inline int as_size(PyObject *value, PyObject *name, size_t *out)
{
    return convert(value, 1, SIZE_MAX, py.as_size, name, out);
}

static inline int as_address(PyObject *value, uintptr_t *out)
{
    size_t v;
    if (convert(value, 1, UINTPTR_MAX, py.as_address, NULL, &v))
        return -1;
    *out = (uintptr_t)v;
    return 0;
}

/* ---- arguments: positional fast, keywords by name -------------------------------------- */

/* Fills slots[0..nparams) from positional args and keyword names (missing
   optional ones stay NULL); errors worded as Python's for a def. */
static int bind_args(const char *fname, const char *const *names, Py_ssize_t nparams,
                     Py_ssize_t nrequired, PyObject *const *args, Py_ssize_t nargs,
                     PyObject *kwnames, PyObject **slots)
{
    if (nargs > nparams) {
        PyErr_Format(PyExc_TypeError, "%s() takes %zd positional arguments but %zd were given",
                     fname, nparams + 1, nargs + 1);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nparams; i++)
        slots[i] = i < nargs ? args[i] : NULL;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        Py_ssize_t i = 0;
        while (i < nparams && PyUnicode_CompareWithASCIIString(key, names[i]) != 0)
            i++;
        if (i == nparams) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'",
                         fname, key);
            return -1;
        }
        if (slots[i] != NULL) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'",
                         fname, names[i]);
            return -1;
        }
        slots[i] = args[nargs + k];
    }
    for (Py_ssize_t i = 0; i < nrequired; i++) {
        if (slots[i] == NULL) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument: '%s'", fname,
                         names[i]);
            return -1;
        }
    }
    return 0;
}

#define BIND(fname, nreq, ...)                                                          \
    static const char *const names_[] = {__VA_ARGS__};                                  \
    enum { nparams_ = sizeof names_ / sizeof names_[0] };                               \
    PyObject *arg[nparams_];                                                            \
    if (kwnames == NULL && nargs >= (nreq) && nargs <= nparams_) {                      \
        for (Py_ssize_t i_ = 0; i_ < nparams_; i_++)                                    \
            arg[i_] = i_ < nargs ? args[i_] : NULL;                                     \
    } else if (bind_args(fname, names_, nparams_, nreq, args, nargs, kwnames, arg)) {   \
        return NULL;                                                                    \
    }

/* ---- allocate / deallocate / reallocate ------------------------------------------------ */

PyDoc_STRVAR(allocate_doc,
"allocate($self, n)\n--\n\n"
"Returns the address of a new block of at least n bytes (n >= 1),\n"
"aligned to `align`.  Raises PoolMemoryError when memory is refused.");

static PyObject *FastPool_allocate(FastPool *self, PyObject *const *args, Py_ssize_t nargs,
                                   PyObject *kwnames)
{
    BIND("allocate", 1, "n");
    sgi_pool *p = open_pool(self);
    size_t n;
    if (p == NULL || as_size(arg[0], py.name_size, &n))
        return NULL;
    void *block = core->allocate(p, n);
    while (block == NULL) {
        if ((p = after_refusal(self)) == NULL)
            return NULL;
        block = core->allocate(p, n);
    }
    (void)trace_new((uintptr_t)block, n);
    return PyLong_FromVoidPtr(block);
}

PyDoc_STRVAR(allocate_zeroed_doc,
"allocate_zeroed($self, n)\n--\n\n"
"As allocate(n), but every byte of the block reads 0 (a small block's\n"
"whole usable_size).  allocate() leaves the bytes as they were.");

static PyObject *FastPool_allocate_zeroed(FastPool *self, PyObject *const *args,
                                          Py_ssize_t nargs, PyObject *kwnames)
{
    BIND("allocate_zeroed", 1, "n");
    sgi_pool *p = open_pool(self);
    size_t n;
    if (p == NULL || as_size(arg[0], py.name_size, &n))
        return NULL;
    void *block = core->calloc(p, 1, n);
    while (block == NULL) {
        if ((p = after_refusal(self)) == NULL)
            return NULL;
        block = core->calloc(p, 1, n);
    }
    (void)trace_new((uintptr_t)block, n);
    return PyLong_FromVoidPtr(block);
}

PyDoc_STRVAR(deallocate_doc,
"deallocate($self, addr, n=None)\n--\n\n"
"Frees the block at addr, allocated with a size of n's class; with n\n"
"None the pool's block directory supplies the size.  In checked mode a\n"
"bad address or size raises and changes nothing; a size-less free of an\n"
"address that is no block of the pool raises in every mode.");

static PyObject *FastPool_deallocate(FastPool *self, PyObject *const *args, Py_ssize_t nargs,
                                     PyObject *kwnames)
{
    BIND("deallocate", 1, "addr", "n");
    sgi_pool *p = open_pool(self);
    size_t n;
    uintptr_t addr;
    if (arg[1] == NULL || arg[1] == Py_None) { /* size-less: the block directory knows */
        if (p == NULL || as_address(arg[0], &addr))
            return NULL;
        int status = core->free_checked(p, (void *)addr);
        if (status) {
            block_error(self, status, addr, NULL, -1);
            return NULL;
        }
        trace_gone(addr);
        Py_RETURN_NONE;
    }
    if (p == NULL || as_size(arg[1], py.name_size, &n) || as_address(arg[0], &addr))
        return NULL;
    if (self->trusted_max > 0 && n <= (size_t)self->trusted_max) { /* unchecked: trusted */
        core->deallocate(p, (void *)addr, n);
        trace_gone(addr);
        Py_RETURN_NONE;
    }
    int status = core->deallocate_checked(p, (void *)addr, n); /* large blocks: every mode */
    if (status) {
        block_error(self, status, addr, &n, -1);
        return NULL;
    }
    trace_gone(addr);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(reallocate_doc,
"reallocate($self, addr, old_n, new_n)\n--\n\n"
"Resizes the block at addr from old_n to new_n bytes and returns its\n"
"(possibly new) address; min(old_n, new_n) bytes are kept.  When memory\n"
"is refused the old block is untouched and still yours.");

static PyObject *FastPool_reallocate(FastPool *self, PyObject *const *args, Py_ssize_t nargs,
                                     PyObject *kwnames)
{
    BIND("reallocate", 3, "addr", "old_n", "new_n");
    sgi_pool *p = open_pool(self);
    size_t old_n, new_n;
    uintptr_t addr;
    if (p == NULL || as_size(arg[1], py.name_old_size, &old_n) ||
        as_size(arg[2], py.name_new_size, &new_n) || as_address(arg[0], &addr))
        return NULL;
    void *out = NULL;
    int status = core->reallocate_checked(p, (void *)addr, old_n, new_n, &out);
    while (status == SGI_POOL_ENOMEM) {
        if ((p = after_refusal(self)) == NULL)
            return NULL;
        status = core->reallocate_checked(p, (void *)addr, old_n, new_n, &out);
    }
    if (status) {
        block_error(self, status, addr, &old_n, -1);
        return NULL;
    }
    trace_gone(addr);
    if (out != NULL)
        (void)trace_new((uintptr_t)out, new_n);
    return PyLong_FromVoidPtr(out);
}

PyDoc_STRVAR(resize_doc,
"resize($self, addr, new_n)\n--\n\n"
"reallocate(addr, usable_size(addr), new_n) without the old size:\n"
"keeps min(usable size, new_n) bytes.  Raises InvalidBlockError when\n"
"addr is no block of the pool (checked: no live block).");

static PyObject *FastPool_resize(FastPool *self, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames)
{
    BIND("resize", 2, "addr", "new_n");
    sgi_pool *p = open_pool(self);
    size_t new_n;
    uintptr_t addr;
    if (p == NULL || as_size(arg[1], py.name_new_size, &new_n) || as_address(arg[0], &addr))
        return NULL;
    void *out = NULL;
    int status = core->realloc_checked(p, (void *)addr, new_n, &out);
    while (status == SGI_POOL_ENOMEM) {
        if ((p = after_refusal(self)) == NULL)
            return NULL;
        status = core->realloc_checked(p, (void *)addr, new_n, &out);
    }
    if (status) {
        block_error(self, status, addr, NULL, -1);
        return NULL;
    }
    trace_gone(addr);
    if (out != NULL)
        (void)trace_new((uintptr_t)out, new_n);
    return PyLong_FromVoidPtr(out);
}

/* ---- batch calls ---------------------------------------------------------------------- */

/* Rolls back a failed allocate_many through Pool._free_taken(out, done, n),
   keeping the original error (as its context if the rollback fails too). */
static void free_taken(FastPool *self, PyObject *out, size_t done, size_t n)
{
    PyObject *exc_type, *exc, *tb;
    PyErr_Fetch(&exc_type, &exc, &tb);
    PyErr_NormalizeException(&exc_type, &exc, &tb);
    if (tb != NULL && exc != NULL)
        PyException_SetTraceback(exc, tb);
    PyObject *r = PyObject_CallMethod((PyObject *)self, "_free_taken", "OKK", out,
                                      (unsigned long long)done, (unsigned long long)n);
    if (r != NULL) {
        Py_DECREF(r);
        PyErr_Restore(exc_type, exc, tb);
        return;
    }
    PyObject *t2, *e2, *tb2;
    PyErr_Fetch(&t2, &e2, &tb2);
    PyErr_NormalizeException(&t2, &e2, &tb2);
    if (e2 != NULL && exc != NULL)
        PyException_SetContext(e2, exc); /* steals exc */
    else
        Py_XDECREF(exc);
    Py_XDECREF(exc_type);
    Py_XDECREF(tb);
    PyErr_Restore(t2, e2, tb2);
}

static size_t allocate_many(sgi_pool *p, size_t n, size_t count, void **out)
{
    if (count < RELEASE_GIL_BLOCKS)
        return core->allocate_many(p, n, count, out);
    size_t done;
    Py_BEGIN_ALLOW_THREADS
    done = core->allocate_many(p, n, count, out);
    Py_END_ALLOW_THREADS
    return done;
}

PyDoc_STRVAR(allocate_many_doc,
"allocate_many($self, n, count)\n--\n\n"
"count blocks of n bytes in one C call, as array('Q') of addresses;\n"
"exactly like count allocate(n) calls in order.  If one fails, the blocks\n"
"already taken are freed (in reverse order) and the error is raised.");

static PyObject *FastPool_allocate_many(FastPool *self, PyObject *const *args, Py_ssize_t nargs,
                                        PyObject *kwnames)
{
    BIND("allocate_many", 2, "n", "count");
    sgi_pool *p = open_pool(self);
    size_t n, count;
    if (p == NULL || as_size(arg[0], py.name_size, &n) ||
        convert(arg[1], 0, SIZE_MAX / 8, py.as_count, NULL, &count))
        return NULL;
    /* The address array, zeroed; a count whose blocks overflow size_t or whose
       array is refused goes to Pool._address_array, the one place that knows
       what to raise (OverflowError or PoolMemoryError naming the count). */
    size_t usable = n <= (size_t)self->max_small
                        ? (n + (size_t)self->align - 1) & ~((size_t)self->align - 1) : n;
    PyObject *out = NULL;
    if (count <= SIZE_MAX / usable)
        out = PySequence_Repeat(py.zero_array, (Py_ssize_t)count);
    if (out == NULL) {
        PyErr_Clear();
        out = PyObject_CallMethod((PyObject *)self, "_address_array", "KK",
                                  (unsigned long long)n, (unsigned long long)count);
    }
    if (out == NULL || count == 0)
        return out;
    Py_buffer view;
    if (PyObject_GetBuffer(out, &view, PyBUF_WRITABLE) < 0) {
        Py_DECREF(out);
        return NULL;
    }
    void **blocks = view.buf; /* `out` is private until returned */
    size_t done = allocate_many(p, n, count, blocks);
    while (done < count) {
        if ((p = after_refusal(self)) == NULL) {
            PyBuffer_Release(&view);
            free_taken(self, out, done, n);
            Py_DECREF(out);
            return NULL;
        }
        done += allocate_many(p, n, count - done, blocks + done);
    }
    /* A long batch ran without the GIL: a close() meanwhile has swept the
       pool's traces and its memory is gone, so these blocks are not tracked. */
    if (load_pool(self) != NULL)
        for (size_t i = 0; i < count && trace_new((uintptr_t)blocks[i], n) != -2; i++)
            ;
    PyBuffer_Release(&view);
    return out;
}

PyDoc_STRVAR(deallocate_many_doc,
"deallocate_many($self, addrs, n=None)\n--\n\n"
"Frees every address in addrs (an iterable of ints, ideally an\n"
"array('Q')) as a block of n bytes, in order, in one C call; with n None\n"
"the sizes come from the pool (mixed sizes allowed).  In checked mode\n"
"every address is checked first (duplicates included) and on an error\n"
"nothing is freed; size-less, every mode checks that each address is a\n"
"block of the pool first.");

/* The addresses of a batch free, as memory no other thread can change during
   the call: the core reads the batch twice (to check, then to free).  An
   array('Q') is used in place while the GIL is held (no Python code runs
   until the call returns) and copied when the call will run without it (a
   long batch, or a free-threaded build); anything else becomes a private
   array('Q') through pool._validate.addresses_array. */
typedef struct {
    Py_buffer view;  /* of `addrs` or of the private array */
    PyObject *owned; /* the private array, if one was made */
    void **copy;     /* free-threaded builds: a copy of the caller's array */
    void *const *ptrs;
    size_t count;
} Batch;

static int private_array(Batch *b, PyObject *addrs)
{
    b->owned = PyObject_CallOneArg(py.addresses_array, addrs);
    if (b->owned == NULL)
        return -1;
    if (PyObject_GetBuffer(b->owned, &b->view, PyBUF_SIMPLE) < 0) {
        Py_CLEAR(b->owned);
        return -1;
    }
    return 0;
}

static void batch_close(Batch *b)
{
    PyMem_Free(b->copy);
    PyBuffer_Release(&b->view);
    Py_XDECREF(b->owned);
}

static int batch_open(Batch *b, PyObject *addrs)
{
    memset(b, 0, sizeof *b);
    if (!PyObject_TypeCheck(addrs, (PyTypeObject *)py.array_type)) {
        if (private_array(b, addrs))
            return -1;
    } else {
        if (PyObject_GetBuffer(addrs, &b->view, PyBUF_FORMAT) < 0)
            return -1;
        if (b->view.itemsize != 8 || b->view.format == NULL || strcmp(b->view.format, "Q")) {
            PyBuffer_Release(&b->view); /* another typecode: checked entry by entry */
            if (private_array(b, addrs))
                return -1;
        }
    }
    b->count = (size_t)b->view.len / sizeof(void *);
    b->ptrs = b->view.buf;
#ifdef Py_GIL_DISABLED
    int shared = 1;
#else
    int shared = b->count >= RELEASE_GIL_BLOCKS;
#endif
    if (shared && b->owned == NULL && b->count) {
        b->copy = PyMem_Malloc((size_t)b->view.len);
        if (b->copy == NULL) {
            batch_close(b);
            PyErr_NoMemory();
            return -1;
        }
        memcpy(b->copy, b->view.buf, (size_t)b->view.len);
        b->ptrs = b->copy;
    }
    return 0;
}

static PyObject *FastPool_deallocate_many(FastPool *self, PyObject *const *args,
                                          Py_ssize_t nargs, PyObject *kwnames)
{
    BIND("deallocate_many", 1, "addrs", "n");
    sgi_pool *p = open_pool(self);
    size_t n = 0; /* read only when sized; size-less, the block directory knows each size */
    Batch batch;
    bool sized = arg[1] != NULL && arg[1] != Py_None;
    if (p == NULL || (sized && as_size(arg[1], py.name_size, &n)) || batch_open(&batch, arg[0]))
        return NULL;
    size_t bad = 0;
    int status = 0;
    if (batch.count >= RELEASE_GIL_BLOCKS) {
        Py_BEGIN_ALLOW_THREADS
        status = sized ? core->deallocate_many(p, batch.ptrs, batch.count, n, &bad)
                       : core->free_many(p, batch.ptrs, batch.count, &bad);
        Py_END_ALLOW_THREADS
    } else if (batch.count) {
        status = sized ? core->deallocate_many(p, batch.ptrs, batch.count, n, &bad)
                       : core->free_many(p, batch.ptrs, batch.count, &bad);
    }
    uintptr_t bad_addr = status ? (uintptr_t)batch.ptrs[bad] : 0;
    if (status == 0 && batch.count > 0 && tracing_now())
        for (size_t i = 0; i < batch.count; i++)
            trace_gone((uintptr_t)batch.ptrs[i]);
    batch_close(&batch);
    if (status) {
        block_error(self, status, bad_addr, sized ? &n : NULL, (Py_ssize_t)bad);
        return NULL;
    }
    Py_RETURN_NONE;
}

/* ---- buffer ------------------------------------------------------------------------------ */

/* The exporter behind buffer()'s memoryviews: a span of pool memory that
   holds a reference to its pool, so a view keeps the pool object alive. */
typedef struct {
    PyObject_HEAD
    PyObject *pool;
    char *start;
    Py_ssize_t len;
} BlockMemory;

static int BlockMemory_getbuffer(BlockMemory *self, Py_buffer *view, int flags)
{
    return PyBuffer_FillInfo(view, (PyObject *)self, self->start, self->len, 0, flags);
}

/* Garbage-collected: a view stored on its own pool (pool.view = pool.buffer(a))
   is a cycle through this reference. */
static int BlockMemory_traverse(BlockMemory *self, visitproc visit, void *arg)
{
    Py_VISIT(self->pool);
    return 0;
}

static int BlockMemory_clear(BlockMemory *self)
{
    Py_CLEAR(self->pool);
    return 0;
}

static void BlockMemory_dealloc(BlockMemory *self)
{
    PyObject_GC_UnTrack(self);
    Py_CLEAR(self->pool);
    PyObject_GC_Del(self);
}

static PyBufferProcs BlockMemory_as_buffer = {
    .bf_getbuffer = (getbufferproc)BlockMemory_getbuffer,
};

static PyTypeObject BlockMemory_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pool._fast.BlockMemory",
    .tp_basicsize = sizeof(BlockMemory),
    .tp_dealloc = (destructor)BlockMemory_dealloc,
    .tp_as_buffer = &BlockMemory_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)BlockMemory_traverse,
    .tp_clear = (inquiry)BlockMemory_clear,
    .tp_doc = "Pool memory exported to a memoryview by Pool.buffer; keeps its pool alive.",
};

static PyObject *block_view(FastPool *self, uintptr_t addr, size_t n)
{
    BlockMemory *mem = PyObject_GC_New(BlockMemory, &BlockMemory_Type);
    if (mem == NULL)
        return NULL;
    Py_INCREF(self);
    mem->pool = (PyObject *)self;
    mem->start = (char *)addr;
    mem->len = (Py_ssize_t)n;
    PyObject_GC_Track(mem);
    PyObject *view = PyMemoryView_FromObject((PyObject *)mem);
    Py_DECREF(mem);
    return view;
}

PyDoc_STRVAR(buffer_doc,
"buffer($self, addr, n=None)\n--\n\n"
"A writable memoryview of n bytes at addr.  In checked mode addr must\n"
"be a live block, n defaults to its recorded size and may not exceed its\n"
"usable size.  The view is not invalidated when the block is freed:\n"
"keep it no longer than the block.  It does not keep the block alive,\n"
"and close() frees the memory under it.  On the cffi path (PyPy,\n"
"POOL_NO_FAST=1) it does not keep the pool alive either: a pool dropped\n"
"without close() frees the memory under its views.\n\n"
"On CPython's fast path (this method) the view holds a reference to the\n"
"pool (not to the block), so the pool is not garbage-collected while a\n"
"view exists; close() still frees the memory.");

static PyObject *FastPool_buffer(FastPool *self, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames)
{
    BIND("buffer", 1, "addr", "n");
    PyObject *n_arg = arg[1] == Py_None ? NULL : arg[1];
    sgi_pool *p = open_pool(self);
    uintptr_t addr;
    size_t n = 0;
    if (p == NULL || as_address(arg[0], &addr))
        return NULL;
    if (self->checked || n_arg == NULL) {
        size_t recorded;
        if (core->block_size(p, (const void *)addr, &recorded))
            goto python_says; /* not a live block */
        size_t align = (size_t)self->align;
        size_t usable = recorded > (size_t)self->max_small
                            ? recorded : (recorded + align - 1) & ~(align - 1);
        if (n_arg == NULL)
            n = recorded;
        else if (as_size(n_arg, py.name_n, &n))
            return NULL;
        if (n > usable)
            goto python_says;
    } else if (as_size(n_arg, py.name_n, &n)) {
        return NULL;
    }
    if (n > (size_t)PY_SSIZE_T_MAX)
        goto python_says;
    return block_view(self, addr, n);

python_says: /* the cffi path raises the error (nothing has changed) */
    return PyObject_Vectorcall(py.cffi_buffer, (PyObject *[]){(PyObject *)self, arg[0],
                               arg[1] ? arg[1] : Py_None}, 3, NULL);
}

/* ---- the type ---------------------------------------------------------------------------- */

/* _p: the cffi handle, None once closed.  Setting None closes the fast path
   (the handle stays owned here, so a call already inside the core on another
   thread of a free-threaded build still has valid memory under it). */
static PyObject *FastPool_get_p(FastPool *self, void *closure)
{
    (void)closure;
    if (load_pool(self) == NULL || self->owner == NULL)
        Py_RETURN_NONE;
    Py_INCREF(self->owner);
    return self->owner;
}

static int FastPool_set_p(FastPool *self, PyObject *value, void *closure)
{
    (void)closure;
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "_p cannot be deleted");
        return -1;
    }
    if (value == Py_None) {
        __atomic_store_n(&self->pool, NULL, __ATOMIC_RELEASE);
        return 0;
    }
    size_t addr;
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "pool._fast is not configured");
        return -1;
    }
    if (checked_value(py.address_of, value, NULL, &addr))
        return -1;
    PyObject *old = self->owner;
    Py_INCREF(value);
    self->owner = value;
    __atomic_store_n(&self->pool, (sgi_pool *)addr, __ATOMIC_RELEASE);
    Py_XDECREF(old);
    return 0;
}

static PyGetSetDef FastPool_getset[] = {
    {"_p", (getter)FastPool_get_p, (setter)FastPool_set_p,
     "the pool's cffi handle (struct sgi_pool *), None when closed", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef FastPool_members[] = {
    {"_checked", T_BOOL, offsetof(FastPool, checked), 0, NULL},
    {"_align", T_PYSSIZET, offsetof(FastPool, align), 0, NULL},
    {"_max_small", T_PYSSIZET, offsetof(FastPool, max_small), 0, NULL},
    {"_trusted_max", T_PYSSIZET, offsetof(FastPool, trusted_max), 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

#define METHOD(name) \
    {#name, (PyCFunction)(void (*)(void))FastPool_##name, METH_FASTCALL | METH_KEYWORDS, \
     name##_doc}

static PyMethodDef FastPool_methods[] = {
    METHOD(allocate),
    METHOD(allocate_zeroed),
    METHOD(deallocate),
    METHOD(reallocate),
    METHOD(resize),
    METHOD(allocate_many),
    METHOD(deallocate_many),
    METHOD(buffer),
    {NULL, NULL, 0, NULL},
};

static void FastPool_dealloc(FastPool *self)
{
    Py_CLEAR(self->owner); /* the last reference runs cffi's sgi_pool_destroy */
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject FastPool_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pool._fast.FastPool",
    .tp_basicsize = sizeof(FastPool),
    .tp_dealloc = (destructor)FastPool_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "C state and hot methods behind pool.Pool on CPython (csrc/python/fast.c).",
    .tp_methods = FastPool_methods,
    .tp_members = FastPool_members,
    .tp_getset = FastPool_getset,
    .tp_new = PyType_GenericNew,
};

/* ---- untrack_pool: a pool's memory is about to go back ------------------------------- */

typedef size_t (*block_lister)(sgi_pool *, uintptr_t *, size_t *, size_t);

/* Untracks every address list(p) reports; 0, or -1 when the room for the
   list was refused (nothing untracked then). */
static int untrack_listed(sgi_pool *p, block_lister list)
{
    size_t count = list(p, NULL, NULL, 0);
    while (count > 0) {
        uintptr_t *addrs = PyMem_RawMalloc(count * sizeof *addrs);
        size_t *sizes = PyMem_RawMalloc(count * sizeof *sizes);
        size_t now = 0;
        if (addrs != NULL && sizes != NULL)
            now = list(p, addrs, sizes, count);
        if (addrs != NULL && sizes != NULL && now <= count)
            for (size_t i = 0; i < now; i++)
                trace_gone(addrs[i]);
        PyMem_RawFree(addrs);
        PyMem_RawFree(sizes);
        if (addrs == NULL || sizes == NULL)
            return -1;
        count = now > count ? now : 0; /* another thread added blocks: again, with room */
    }
    return 0;
}

PyDoc_STRVAR(untrack_pool_doc,
"untrack_pool(handle)\n--\n\n"
"Untracks from tracemalloc every block the pool behind handle (its cffi\n"
"'sgi_pool *') may have handed out: its carved small blocks, live or free\n"
"(an unchecked pool keeps no live bits), and its large blocks.  Called by\n"
"pool.tracing.forget just before the pool's memory goes back.  O(1) when\n"
"tracemalloc is not tracing.  Returns False when memory for the list of\n"
"blocks was refused (their traces then stay), True otherwise.");

static PyObject *untrack_pool(PyObject *module, PyObject *handle)
{
    (void)module;
    size_t addr;
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "pool._fast is not configured");
        return NULL;
    }
    if (checked_value(py.address_of, handle, NULL, &addr))
        return NULL;
    sgi_pool *p = (sgi_pool *)addr;
    /* The GIL is held throughout: no fast-path call of another thread runs
       in between, so no block is tracked behind the sweep.  No MemoryError:
       close() must close whatever tracemalloc keeps. */
    if (tracing_now() && (untrack_listed(p, core->blocks) || untrack_listed(p, core->live_blocks)))
        Py_RETURN_FALSE;
    Py_RETURN_TRUE;
}

/* ---- ArenaNew: Arena.new's hot path ------------------------------------------------- */

/* new(cdecl) of a type the arena has seen: one dict lookup and one call of
   what it finds (cffi's allocator bound to the type, whose alloc is C-level
   too), so no Python frame runs per object; new(cdecl, init) of a pointer
   type in `assign` then sets obj[0] = init, as ffi.new does after zeroing,
   and on an error hands the object to give_back.  Anything else (keywords, a
   new type, arrays with an initialiser, a closed arena) goes to the Python
   method.  Only the public C API; the objects are made by cffi itself. */
typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *plans;     /* dict: cdecl -> a callable making one object */
    PyObject *assign;    /* dict: cdecl -> True where init is assigned to obj[0] */
    PyObject *give_back; /* give_back(obj): its block was never handed out */
    PyObject *slow;      /* slow(cdecl, init=None): the Python path */
} ArenaNew;

/* obj[0] = init; on an error obj goes to give_back and the error stays. */
static PyObject *assign_init(ArenaNew *self, PyObject *obj, PyObject *init)
{
    PyObject *zero = PyLong_FromLong(0);
    int failed = zero == NULL || PyObject_SetItem(obj, zero, init) < 0;
    Py_XDECREF(zero);
    if (!failed)
        return obj;
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *r = PyObject_CallOneArg(self->give_back, obj);
    if (r == NULL)
        PyErr_WriteUnraisable(self->give_back); /* the initialiser's error is the one to see */
    Py_XDECREF(r);
    PyErr_Restore(type, value, tb);
    Py_DECREF(obj);
    return NULL;
}

static PyObject *ArenaNew_vectorcall(PyObject *op, PyObject *const *args, size_t nargsf,
                                     PyObject *kwnames)
{
    ArenaNew *self = (ArenaNew *)op;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (kwnames == NULL && (nargs == 1 || nargs == 2)) {
        PyObject *init = nargs == 2 ? args[1] : Py_None;
        PyObject *make = PyDict_GetItemWithError(self->plans, args[0]); /* borrowed */
        if (make != NULL && init != Py_None) {
            PyObject *assign = PyDict_GetItemWithError(self->assign, args[0]);
            if (assign != Py_True)
                make = NULL; /* arrays, var-size structs: the Python path */
        }
        if (make != NULL) {
            Py_INCREF(make); /* the call may change the dict */
            PyObject *obj = PyObject_CallNoArgs(make);
            Py_DECREF(make);
            return obj == NULL || init == Py_None ? obj : assign_init(self, obj, init);
        }
        if (PyErr_Occurred())
            PyErr_Clear(); /* an unhashable cdecl: the Python path names it */
    }
    return PyObject_Vectorcall(self->slow, args, nargsf, kwnames);
}

static int ArenaNew_traverse(ArenaNew *self, visitproc visit, void *arg)
{
    Py_VISIT(self->plans);
    Py_VISIT(self->assign);
    Py_VISIT(self->give_back);
    Py_VISIT(self->slow);
    return 0;
}

static int ArenaNew_clear(ArenaNew *self)
{
    Py_CLEAR(self->plans);
    Py_CLEAR(self->assign);
    Py_CLEAR(self->give_back);
    Py_CLEAR(self->slow);
    return 0;
}

static void ArenaNew_dealloc(ArenaNew *self)
{
    PyObject_GC_UnTrack(self);
    ArenaNew_clear(self);
    PyObject_GC_Del(self);
}

static PyObject *ArenaNew_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *plans, *assign, *give_back, *slow;
    static char *kwlist[] = {"plans", "assign", "give_back", "slow", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!O!OO:ArenaNew", kwlist, &PyDict_Type, &plans,
                                     &PyDict_Type, &assign, &give_back, &slow))
        return NULL;
    if (!PyCallable_Check(slow) || !PyCallable_Check(give_back)) {
        PyErr_SetString(PyExc_TypeError, "give_back and slow must be callable");
        return NULL;
    }
    ArenaNew *self = PyObject_GC_New(ArenaNew, type);
    if (self == NULL)
        return NULL;
    self->vectorcall = ArenaNew_vectorcall;
    Py_INCREF(plans);
    self->plans = plans;
    Py_INCREF(assign);
    self->assign = assign;
    Py_INCREF(give_back);
    self->give_back = give_back;
    Py_INCREF(slow);
    self->slow = slow;
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

static PyTypeObject ArenaNew_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pool._fast.ArenaNew",
    .tp_basicsize = sizeof(ArenaNew),
    .tp_dealloc = (destructor)ArenaNew_dealloc,
    .tp_vectorcall_offset = offsetof(ArenaNew, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_traverse = (traverseproc)ArenaNew_traverse,
    .tp_clear = (inquiry)ArenaNew_clear,
    .tp_doc = "ArenaNew(plans, assign, give_back, slow): pool.Arena.new's hot path (csrc/python/fast.c).",
    .tp_new = ArenaNew_new,
};

/* ---- configure: the core's functions and the Python helpers --------------------------- */

static void set_ref(PyObject **slot, PyObject *value)
{
    Py_INCREF(value);
    Py_XSETREF(*slot, value);
}

PyDoc_STRVAR(configure_doc,
"configure(as_size, as_address, as_count, addresses_array, address_of,\n"
"          zero_array, array_type, cffi_buffer)\n\n"
"Called once by pool._fastpath: takes the core's functions from the C API\n"
"capsule (pool._capi) and keeps the Python helpers used on slow and error paths.");

static PyObject *configure(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *h[8];
    if (!PyArg_ParseTuple(args, "OOOOOOOO:configure", &h[0], &h[1], &h[2], &h[3], &h[4], &h[5],
                          &h[6], &h[7]))
        return NULL;
    if (!PyType_Check(h[6])) {
        PyErr_SetString(PyExc_TypeError, "array_type must be a type");
        return NULL;
    }
    const sgi_pool_capi *api = sgi_pool_capi_import();
    if (api == NULL)
        return NULL;
    core = api;
    set_ref(&py.as_size, h[0]);
    set_ref(&py.as_address, h[1]);
    set_ref(&py.as_count, h[2]);
    set_ref(&py.addresses_array, h[3]);
    set_ref(&py.address_of, h[4]);
    set_ref(&py.zero_array, h[5]);
    set_ref(&py.array_type, h[6]);
    set_ref(&py.cffi_buffer, h[7]);
    configured = 1;
    Py_RETURN_NONE;
}

/* ---- handle capsules: a pool's sgi_pool * for other C extensions ---------------------- */

static void handle_capsule_destructor(PyObject *capsule)
{
    Py_XDECREF((PyObject *)PyCapsule_GetContext(capsule));
}

PyDoc_STRVAR(handle_capsule_doc,
"handle_capsule(address, keepalive) -> a PyCapsule named SGI_POOL_CAPI_HANDLE_NAME\n"
"holding the sgi_pool * at address and a reference to keepalive (Pool.capsule()).");

static PyObject *handle_capsule(PyObject *module, PyObject *args)
{
    (void)module;
    unsigned long long address;
    PyObject *keepalive;
    if (!PyArg_ParseTuple(args, "KO:handle_capsule", &address, &keepalive))
        return NULL;
    if (address == 0) {
        PyErr_SetString(PyExc_ValueError, "handle_capsule: the address is NULL");
        return NULL;
    }
    PyObject *capsule = PyCapsule_New((void *)(uintptr_t)address, SGI_POOL_CAPI_HANDLE_NAME,
                                      handle_capsule_destructor);
    if (capsule == NULL)
        return NULL;
    Py_INCREF(keepalive); /* the destructor drops it, whenever the capsule goes */
    if (PyCapsule_SetContext(capsule, keepalive) < 0) {
        Py_DECREF(keepalive);
        Py_DECREF(capsule);
        return NULL;
    }
    return capsule;
}

PyDoc_STRVAR(capi_capsule_doc,
"capi_capsule(address) -> the PyCapsule SGI_POOL_CAPI_NAME of the core's C API table\n"
"at address (pool._capi._C_API; made here rather than through ctypes, whose import\n"
"is a millisecond and a half of every `python -m pool run`).");

static PyObject *capi_capsule(PyObject *module, PyObject *arg)
{
    (void)module;
    void *table = PyLong_AsVoidPtr(arg);
    if (table == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "capi_capsule: the address is NULL");
        return NULL;
    }
    return PyCapsule_New(table, SGI_POOL_CAPI_NAME, NULL); /* the name: a literal */
}

static PyMethodDef module_methods[] = {
    {"configure", configure, METH_VARARGS, configure_doc},
    {"capi_capsule", capi_capsule, METH_O, capi_capsule_doc},
    {"handle_capsule", handle_capsule, METH_VARARGS, handle_capsule_doc},
    {"untrack_pool", untrack_pool, METH_O, untrack_pool_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fast_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "pool._fast",
    .m_doc = "CPython fast path for pool.Pool's hot methods (glue over pool._pool_c's core).",
    .m_size = -1,
    .m_methods = module_methods,
};

static int intern(PyObject **slot, const char *text)
{
    *slot = PyUnicode_InternFromString(text);
    return *slot == NULL ? -1 : 0;
}

PyMODINIT_FUNC PyInit__fast(void)
{
    if (PyType_Ready(&FastPool_Type) < 0 || PyType_Ready(&BlockMemory_Type) < 0 ||
        PyType_Ready(&ArenaNew_Type) < 0)
        return NULL;
    if (intern(&py.name_size, "size") || intern(&py.name_old_size, "old size") ||
        intern(&py.name_new_size, "new size") || intern(&py.name_n, "n") ||
        intern(&py.meth_handle, "_handle") || intern(&py.meth_after_refusal, "_after_refusal") ||
        intern(&py.meth_block_error, "_block_error"))
        return NULL;
    PyObject *m = PyModule_Create(&fast_module);
    if (m == NULL)
        return NULL;
#ifdef Py_GIL_DISABLED
    /* Not audited for running without the GIL (docs/free-threading.md: the
       _p setter, the tracemalloc sweep, Arena's borrowed plan lookups): a
       free-threaded interpreter turns the GIL on when it imports this. */
    PyUnstable_Module_SetGIL(m, Py_MOD_GIL_USED);
#endif
    if (PyModule_AddIntConstant(m, "TRACE_DOMAIN", (long)POOL_TRACE_DOMAIN) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&FastPool_Type);
    if (PyModule_AddObject(m, "FastPool", (PyObject *)&FastPool_Type) < 0) {
        Py_DECREF(&FastPool_Type);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&ArenaNew_Type);
    if (PyModule_AddObject(m, "ArenaNew", (PyObject *)&ArenaNew_Type) < 0) {
        Py_DECREF(&ArenaNew_Type);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
