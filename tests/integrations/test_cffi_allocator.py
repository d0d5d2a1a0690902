"""pool.cffi_allocator: ffi.new with memory from a pool, through C functions."""

import gc

import pytest

cffi = pytest.importorskip("cffi")
pytest.importorskip("pool._pool_c")

import pool  # noqa: E402
from pool import Pool, PoolClosedError  # noqa: E402


@pytest.fixture
def ffi():
    return cffi.FFI()


def addr(ffi, p):
    return int(ffi.cast("uintptr_t", p))


def test_blocks_come_from_the_pool_and_go_back_size_less(ffi):
    P = Pool()  # checked: `in` is true only for live blocks
    new = pool.cffi_allocator(ffi, P)
    arrays = [new("int[]", n) for n in (1, 5, 20, 31)]  # 4..124 bytes: small blocks
    for a in arrays:
        assert addr(ffi, a) in P
        assert list(a) == [0] * len(a)  # ffi.new clears
    big = new("char[5000]")  # a large block: the pool's large table
    assert addr(ffi, big) in P and P.usable_size(addr(ffi, big)) == 5000
    addresses = [addr(ffi, a) for a in arrays] + [addr(ffi, big)]
    live_before = sum(c.live for c in P.stats().classes)
    del arrays, big, a
    gc.collect()
    assert all(x not in P for x in addresses)  # freed without a size
    assert sum(c.live for c in P.stats().classes) == live_before - 4


def test_struct_and_contents_survive(ffi):
    ffi.cdef("struct point { int x; double y; };")
    P = Pool()
    new = pool.cffi_allocator(ffi, P)
    pt = new("struct point *", {"x": 3, "y": 2.5})
    assert (pt.x, pt.y) == (3, 2.5) and addr(ffi, pt) in P


def test_the_functions_are_c_not_python(ffi):
    P = Pool()
    from pool._pool_c import lib

    pool.cffi_allocator(ffi, P)
    slot = pool.cffi_allocator.__globals__["_binding_for"](P._handle()).slot
    assert "void *(*)(size_t)" in repr(lib.pool_cffi_alloc_fn(slot))
    assert "void(*)(void *)" in repr(lib.pool_cffi_free_fn(slot))


def test_no_clear_and_the_same_slot_for_the_same_pool(ffi):
    P = Pool()
    a = pool.cffi_allocator(ffi, P, should_clear_after_alloc=False)
    b = pool.cffi_allocator(ffi, P)
    slots = pool.cffi_allocator.__globals__["_bindings"]

    def bound():
        return sum(ref is not None and ref() is not None for ref in slots)

    count = bound()
    pool.cffi_allocator(ffi, P)
    assert bound() == count
    x, y = a("char[16]"), b("char[16]")
    assert addr(ffi, x) in P and addr(ffi, y) in P and addr(ffi, x) != addr(ffi, y)


def test_default_pool(ffi):
    new = pool.cffi_allocator(ffi)
    p = new("long[4]")
    assert addr(ffi, p) in pool.default_pool()


def test_closed_pool_and_wrong_type(ffi):
    P = Pool()
    new = pool.cffi_allocator(ffi, P)
    p = new("int[4]")
    P.close()
    with pytest.raises(MemoryError):  # the closed pool refuses: ffi.new's MemoryError
        new("int[4]")
    del p
    gc.collect()  # the free of a block of a closed pool is ignored, not a crash
    with pytest.raises(PoolClosedError):
        pool.cffi_allocator(ffi, P)
    with pytest.raises(TypeError, match="ReferencePool"):
        pool.cffi_allocator(ffi, pool.ReferencePool())


def test_a_dropped_bound_pool_is_freed(ffi):
    """Issue 20 row 9: a bound pool dropped without close() returns its memory
    (it used to keep its 2 MB of chunks for the life of the process)."""
    from pool import process_totals

    gc.collect()
    before = process_totals()
    for _ in range(3):
        P = Pool()
        new = pool.cffi_allocator(ffi, P)
        objects = [new("int[]", n) for n in range(1, 200)] + [new("char[5000]")]
        assert process_totals()[1] > before[1]
        del P, new, objects
        gc.collect()
        assert process_totals() == before


def test_objects_keep_a_dropped_pool_alive(ffi):
    """What an allocator made outlives the Pool object and the allocator, as
    an ffi.new object would; the memory goes when the last object does."""
    from pool import process_totals

    gc.collect()
    before = process_totals()
    P = Pool()
    new = pool.cffi_allocator(ffi, P)
    kept = new("long[4]")
    kept[0:4] = [1, 2, 3, 4]
    del P, new
    gc.collect()
    other = Pool()  # memory of a new pool must not reuse kept's block
    other.allocate_many(32, 5000)
    assert list(kept) == [1, 2, 3, 4]
    other.close()
    assert process_totals() > before
    del kept
    gc.collect()
    assert process_totals() == before


def test_slots_of_dropped_pools_are_reused(ffi):
    """More than 64 pools may be bound over time, 64 at once."""
    for _ in range(3 * 64):
        P = Pool()
        pool.cffi_allocator(ffi, P)("int[2]")
        del P
    live = []
    with pytest.raises(RuntimeError, match="at most 64 pools"):
        while len(live) <= 64:
            P = Pool()
            live.append((P, pool.cffi_allocator(ffi, P)))
    assert 0 < len(live) <= 64  # other tests' bindings may hold a few slots
    del live[0], P
    pool.cffi_allocator(ffi, Pool())("int[2]")  # the slot freed is taken again
