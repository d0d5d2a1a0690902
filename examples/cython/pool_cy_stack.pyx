# cython: language_level=3
"""An example Cython extension on pool's C API: a stack of integers whose
nodes come from a pool.Pool (examples/c-extension/pool_stack.c in Cython).

Build: python setup.py build_ext --inplace (setup.py beside this file)."""

from pool.sgi_pool cimport sgi_pool, sgi_pool_capi, sgi_pool_capi_import, sgi_pool_capi_handle

cdef const sgi_pool_capi *api = sgi_pool_capi_import()


cdef struct node:
    node *next
    long long value


cdef class Stack:
    cdef object capsule  # keeps the Pool and its sgi_pool * alive
    cdef sgi_pool *pool
    cdef node *top
    cdef Py_ssize_t size

    def __init__(self, capsule):
        self.pool = sgi_pool_capi_handle(capsule)
        self.capsule = capsule

    def push(self, long long value):
        # held blocks stay valid if the Pool is closed while the Stack lives
        cdef node *n = <node *>api.allocate_held(self.pool, sizeof(node))
        if n == NULL:
            raise MemoryError("the pool refused the node (or is closed)")
        n.value = value
        n.next = self.top
        self.top = n
        self.size += 1

    def pop(self):
        cdef node *n = self.top
        if n == NULL:
            raise IndexError("pop from an empty Stack")
        value = n.value
        self.top = n.next
        self.size -= 1
        api.free_held(self.pool, n)
        return value

    def __len__(self):
        return self.size

    def __dealloc__(self):
        cdef node *n = self.top
        cdef node *next_node
        while n != NULL:
            next_node = n.next
            api.free_held(self.pool, n)
            n = next_node
