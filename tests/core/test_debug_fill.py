"""debug=True paints new small blocks 0xCD and freed ones 0xDD."""

import pytest

from pool import Pool, ffi


@pytest.mark.not_under_sanitizer("reads a freed block on purpose, which ASan rightly reports")
@pytest.mark.not_under_valgrind("reads a freed block on purpose, which memcheck rightly reports")
def test_new_and_freed_blocks_are_painted():
    with Pool(debug=True) as pool:
        a = pool.allocate(20)  # usable 24 bytes
        assert bytes(pool.buffer(a, 24)) == b"\xcd" * 24
        assert len(pool.buffer(a)) == 24  # the default view: the whole block
        pool.buffer(a)[:20] = b"z" * 20
        pool.deallocate(a, 20)
        # the first word holds the free-list link; the rest is dead
        raw = bytes(ffi.buffer(ffi.cast("char *", a), 24))
        assert raw[ffi.sizeof("void *") :] == b"\xdd" * (24 - ffi.sizeof("void *"))
        assert pool.allocate(24) == a
        assert bytes(pool.buffer(a, 24)) == b"\xcd" * 24


def test_no_fill_by_default():
    with Pool() as pool:
        a = pool.allocate(16)
        pool.buffer(a)[:] = b"q" * 16
        pool.deallocate(a, 16)
        b = pool.allocate(16)
        assert b == a and bytes(pool.buffer(b))[8:] == b"q" * 8
