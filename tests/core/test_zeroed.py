"""Zeroed allocation: sgi_pool_calloc in the core, Pool.allocate_zeroed on
both paths, ReferencePool.allocate_zeroed, and the lockstep that holds them
together."""

import pytest
from helpers import full_state
from pool._pool_c import ffi, lib

from pool import Pool, PoolClosedError, _fastpath
from pool.testing.diff import PROFILES, Divergence, run_random

SIZE_MAX = 2**64 - 1 if ffi.sizeof("size_t") == 8 else 2**32 - 1
PATHS = [Pool, _fastpath.cffi_twin(Pool)]


def _dirty_then_zeroed(pool, n):
    """A block of n bytes written with 0xAB and freed, then allocate_zeroed(n):
    the same block comes back (LIFO), so zeros mean it was zeroed."""
    a = pool.allocate(n)
    size = pool.usable_size(a)
    pool.buffer(a, size)[:] = b"\xab" * size
    pool.deallocate(a, n)
    b = pool.allocate_zeroed(n)
    return a, b, bytes(pool.buffer(b, pool.usable_size(b)))


@pytest.mark.parametrize("n", [1, 7, 24, 128, 129, 5000])
def test_allocate_zeroed_zeroes_a_reused_block(make_pool, n):
    with make_pool(debug=True) as pool:  # debug: new blocks are painted 0xCD first
        a, b, data = _dirty_then_zeroed(pool, n)
        if n <= pool.max_small:
            assert b == a  # the dirty block itself
        assert data == bytes(len(data)) and len(data) == pool.usable_size(b)


@pytest.mark.parametrize("cls", PATHS, ids=["default", "cffi"])
def test_allocate_zeroed_on_both_paths(cls):
    with cls() as pool:
        a, b, data = _dirty_then_zeroed(pool, 40)
        assert b == a and data == bytes(40)


@pytest.mark.parametrize("cls", PATHS, ids=["default", "cffi"])
def test_allocate_zeroed_misuse_raises_and_changes_nothing(cls):
    with cls() as pool:
        pool.allocate(8)
        before = full_state(pool)
        for bad, exc, words in [
            (0, ValueError, "0"),
            (-3, ValueError, "-3"),
            ("24", TypeError, "'24'"),
            (2.0, TypeError, "2.0"),
            (SIZE_MAX + 1, OverflowError, str(SIZE_MAX + 1)),
        ]:
            with pytest.raises(exc, match=words):
                pool.allocate_zeroed(bad)
        assert full_state(pool) == before
    with pytest.raises(PoolClosedError):
        pool.allocate_zeroed(8)


def test_allocate_zeroed_heap_limit_and_oom_handler(make_pool):
    with make_pool() as pool:
        pool.heap_limit = 1
        with pytest.raises(MemoryError):
            pool.allocate_zeroed(8)
        calls = []
        pool.oom_handler = lambda nbytes: (
            calls.append(nbytes) or setattr(pool, "heap_limit", None) or True
        )
        a = pool.allocate_zeroed(16)
        assert calls and bytes(pool.buffer(a)) == bytes(16)


def test_calloc_in_c():
    p = lib.sgi_pool_create(ffi.NULL)
    try:
        block = lib.sgi_pool_calloc(p, 3, 8)
        assert block != ffi.NULL and bytes(ffi.buffer(block, 24)) == bytes(24)
        assert lib.sgi_pool_usable_size(p, block) == 24
        assert lib.sgi_pool_calloc(p, 0, 8) == ffi.NULL  # as allocate(0)
        assert lib.sgi_pool_calloc(p, 8, 0) == ffi.NULL
    finally:
        lib.sgi_pool_destroy(p)


@pytest.mark.parametrize(
    "count, size", [(SIZE_MAX, 2), (2, SIZE_MAX), (2**33, 2**33), (SIZE_MAX // 3 + 1, 3)]
)
def test_calloc_refuses_overflow_and_requests_nothing(count, size):
    with Pool(checked=False) as pool:
        before = full_state(pool)
        assert lib.sgi_pool_calloc(pool._handle(), count, size) == ffi.NULL
        assert lib.sgi_pool_last_refused() == SIZE_MAX
        assert full_state(pool) == before
        assert pool.stats().requests_refused == 0  # no system request was made


def test_calloc_largest_product_that_fits():
    with Pool() as pool:
        pool.heap_limit = 1  # refused by the limit, not as an overflow
        assert lib.sgi_pool_calloc(pool._handle(), SIZE_MAX // 3, 3) == ffi.NULL
        assert lib.sgi_pool_last_refused() == SIZE_MAX // 3 * 3


class _NotZeroing(Pool):
    """A pool whose allocate_zeroed forgets to zero: the lockstep must notice."""

    def allocate_zeroed(self, n):
        return self.allocate(n)


@pytest.mark.parametrize("profile", ["classic", "unchecked", "debug"])
def test_lockstep_checks_zeroed_blocks(profile):
    ops = run_random(profile, 400, seed=3)
    assert any(op[0] == "alloc_zeroed" for op in ops)
    with pytest.raises(Divergence, match="not all zeros"):
        run_random(profile, 400, seed=3, factories=[_NotZeroing])


def test_every_profile_draws_zeroed_allocations():
    for profile in PROFILES:
        assert sum(op[0] == "alloc_zeroed" for op in run_random(profile, 300, seed=5)) > 5
