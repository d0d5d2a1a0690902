"""debug=True paints new small blocks 0xCD and freed ones 0xDD."""

import pytest

from pool import Pool, ffi
from pool.model import reference


def raw_and_link(pool, addr, n):
    """The n bytes at addr read past the pool's checks, and the size of the
    link word a free block starts with."""
    if isinstance(pool, Pool):
        return bytes(ffi.buffer(ffi.cast("char *", addr), n)), ffi.sizeof("void *")
    return bytes(pool.allocator.system.view(addr, n)), reference.LINK_BYTES


@pytest.mark.not_under_sanitizer("reads a freed block on purpose, which ASan rightly reports")
@pytest.mark.not_under_valgrind("reads a freed block on purpose, which memcheck rightly reports")
def test_new_and_freed_blocks_are_painted(make_pool):
    with make_pool() as plain:
        assert plain.debug is False
    with make_pool(debug=True) as pool:
        assert pool.debug is True
        a = pool.allocate(20)  # usable 24 bytes
        assert bytes(pool.buffer(a, 24)) == b"\xcd" * 24
        assert len(pool.buffer(a)) == 24  # the default view: the whole block
        pool.buffer(a)[:20] = b"z" * 20
        pool.deallocate(a, 20)
        # the first word holds the free-list link; the rest is dead
        raw, link = raw_and_link(pool, a, 24)
        assert raw[link:] == b"\xdd" * (24 - link)
        assert pool.allocate(24) == a
        assert bytes(pool.buffer(a, 24)) == b"\xcd" * 24
        big = pool.allocate(300)  # large blocks are not painted: observable in the model,
        if not isinstance(pool, Pool):  # whose system memory starts zeroed (malloc's may
            assert bytes(pool.buffer(big, 4)) == bytes(4)  # hold anything, 0xCD included)


def test_no_fill_by_default(make_pool):
    with make_pool() as pool:
        a = pool.allocate(16)
        pool.buffer(a)[:] = b"q" * 16
        pool.deallocate(a, 16)
        b = pool.allocate(16)
        assert b == a and bytes(pool.buffer(b))[8:] == b"q" * 8
