"""Size classes in Python: the one definition of rounding a request to its
block size (the C core has its own, `round_up` in csrc/sgi_pool.c; the
differential tests hold the two to each other)."""


def round_up(n: int, align: int) -> int:
    """The block size that serves a request of n bytes: n rounded up to a
    multiple of align (a power of two)."""
    return (n + align - 1) & ~(align - 1)


def class_index(n: int, align: int) -> int:
    """The free list that serves n bytes (1 <= n <= max_small): 0 for 1..align."""
    return (n + align - 1) // align - 1
