/*
 * pool_stack.c -- an example C extension that takes its memory from a
 * pool.Pool through the pool's C API (docs/c-extensions.md):
 *
 *     import pool, pool_stack
 *     with pool.Pool() as p:
 *         s = pool_stack.Stack(p.capsule())   # nodes come from p
 *         s.push(7); s.pop()                  # -> 7
 *
 * Build: python setup.py build_ext --inplace (setup.py beside this file adds
 * pool.get_include() to the include path).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "sgi_pool_capi.h"

static const sgi_pool_capi *api; /* the core's functions, from pool's capsule */

typedef struct node {
    struct node *next;
    long long value;
} node;

typedef struct {
    PyObject_HEAD
    PyObject *capsule; /* held: keeps the Pool and its sgi_pool * alive */
    sgi_pool *pool;
    node *top;
    Py_ssize_t size;
} Stack;

static int Stack_init(Stack *self, PyObject *args, PyObject *kwds)
{
    PyObject *capsule;
    static char *names[] = {"capsule", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:Stack", names, &capsule))
        return -1;
    sgi_pool *pool = sgi_pool_capi_handle(capsule); /* TypeError for anything else */
    if (pool == NULL)
        return -1;
    if (self->capsule != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Stack: already initialised");
        return -1;
    }
    Py_INCREF(capsule);
    self->capsule = capsule;
    self->pool = pool;
    return 0;
}

static PyObject *Stack_push(Stack *self, PyObject *arg)
{
    long long value = PyLong_AsLongLong(arg);
    if (value == -1 && PyErr_Occurred())
        return NULL;
    if (self->pool == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Stack: not initialised");
        return NULL;
    }
    /* held blocks: they stay valid if the Pool is closed while the Stack
       lives (plain blocks would go back to the system with the pool's memory) */
    node *n = api->allocate_held(self->pool, sizeof *n); /* NULL: refused, or closed */
    if (n == NULL)
        return PyErr_NoMemory();
    n->value = value;
    n->next = self->top;
    self->top = n;
    self->size++;
    Py_RETURN_NONE;
}

static PyObject *Stack_pop(Stack *self, PyObject *unused)
{
    (void)unused;
    node *n = self->top;
    if (n == NULL) {
        PyErr_SetString(PyExc_IndexError, "pop from an empty Stack");
        return NULL;
    }
    long long value = n->value;
    self->top = n->next;
    self->size--;
    api->free_held(self->pool, n);
    return PyLong_FromLongLong(value);
}

static Py_ssize_t Stack_len(Stack *self)
{
    return self->size;
}

static void Stack_dealloc(Stack *self)
{
    for (node *n = self->top, *next; n != NULL; n = next) {
        next = n->next;
        api->free_held(self->pool, n); /* a closed pool's memory goes with the last */
    }
    Py_XDECREF(self->capsule); /* may free the Pool's handle: after the frees */
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Stack_methods[] = {
    {"push", (PyCFunction)Stack_push, METH_O, "push(value): a node from the pool"},
    {"pop", (PyCFunction)Stack_pop, METH_NOARGS, "pop() -> the last value pushed"},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods Stack_sequence = {.sq_length = (lenfunc)Stack_len};

static PyTypeObject Stack_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pool_stack.Stack",
    .tp_basicsize = sizeof(Stack),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Stack(capsule): a stack of integers whose nodes come from a pool",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Stack_init,
    .tp_dealloc = (destructor)Stack_dealloc,
    .tp_methods = Stack_methods,
    .tp_as_sequence = &Stack_sequence,
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, .m_name = "pool_stack", .m_size = -1,
    .m_doc = "An example C extension on pool's C API.",
};

PyMODINIT_FUNC PyInit_pool_stack(void)
{
    api = sgi_pool_capi_import(); /* ImportError when pool is missing or too old */
    if (api == NULL || PyType_Ready(&Stack_Type) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    Py_INCREF(&Stack_Type);
    if (PyModule_AddObject(m, "Stack", (PyObject *)&Stack_Type) < 0) {
        Py_DECREF(&Stack_Type);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
