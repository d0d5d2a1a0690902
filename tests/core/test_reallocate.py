"""reallocate keeps contents on every branch of the algorithm."""

import pytest

from pool import Pool, PoolMemoryError, ReferencePool


def fill(pool, addr, n):
    data = bytes((i * 7 + 3) % 256 for i in range(n))
    pool.buffer(addr, n)[:] = data
    return data


@pytest.mark.parametrize("checked", [True, False])
@pytest.mark.parametrize(
    "old_n, new_n, branch",
    [
        (10, 16, "same class: same block"),
        (16, 9, "same class, shrinking"),
        (16, 100, "small to small, other class"),
        (100, 20, "small to smaller class"),
        (64, 1000, "small to large"),
        (1000, 64, "large to small"),
        (1000, 5000, "large to large, growing"),
        (5000, 300, "large to large, shrinking"),
    ],
)
def test_contents_kept(checked, old_n, new_n, branch):
    with Pool(checked=checked) as pool:
        a = pool.allocate(old_n)
        data = fill(pool, a, old_n)
        b = pool.reallocate(a, old_n, new_n)
        keep = min(old_n, new_n)
        assert bytes(pool.buffer(b, keep)) == data[:keep], branch
        if old_n <= 128 and new_n <= 128 and (old_n + 7) // 8 == (new_n + 7) // 8:
            assert b == a
        elif old_n <= 128:
            assert b != a and a in pool.free_list((old_n + 7) // 8 - 1)
        if checked:  # small blocks are known by their block size
            assert pool.live_blocks() == {b: new_n if new_n > 128 else (new_n + 7) // 8 * 8}
        pool.deallocate(b, new_n)


def test_large_to_large_respects_heap_limit(make_pool):
    with make_pool(heap_limit=3000) as pool:
        a = pool.allocate(1000)
        data = fill(pool, a, 1000)
        with pytest.raises(PoolMemoryError, match="of 3001 bytes"):
            pool.reallocate(a, 1000, 3001)  # held - 1000 + 3001 > 3000
        assert pool.live_blocks() == {a: 1000}  # untouched and still owned
        assert bytes(pool.buffer(a)) == data
        b = pool.reallocate(a, 1000, 3000)  # exactly at the limit
        if isinstance(pool, ReferencePool):  # the model's system always moves a grown
            assert b != a  # block; the C pool's is realloc(), which may grow it in place
        assert pool.live_blocks() == {b: 3000}
        assert bytes(pool.buffer(b, 1000)) == data
        assert pool.stats().large_bytes == 3000


@pytest.mark.parametrize("new_n", [64, 200])
def test_refused_reallocate_keeps_old_block(make_pool, new_n):
    """Small to small (a refused chunk, nothing to salvage) and small to large."""
    with make_pool(heap_limit=320) as pool:
        a = pool.allocate(8)
        data = fill(pool, a, 8)
        for _ in range(2):  # two 80-byte blocks: the tail (160 bytes), then the list
            pool.allocate(80)
        assert pool.free_list_lengths()[9] == 0
        before = pool.stats()
        with pytest.raises(PoolMemoryError):
            pool.reallocate(a, 8, new_n)
        assert pool.stats().requests_refused == before.requests_refused + 1
        assert pool.live_blocks()[a] == 8
        assert bytes(pool.buffer(a)) == data
        pool.deallocate(a, 8)


def test_refused_reallocate_after_the_leftover_moved(make_pool):
    """Part B's heap-limit example, reached through reallocate: the refusal
    comes after the tail's leftover went to its list; the block is kept."""
    with make_pool(heap_limit=400) as pool:
        A = pool.allocate(8)
        pool.buffer(A)[:] = b"xxxxxxxx"
        pool.allocate(120)  # A+160; tail A+280..A+320
        with pytest.raises(PoolMemoryError, match="4824"):
            pool.reallocate(A, 8, 120)
        assert pool.live_blocks()[A] == 8
        assert bytes(pool.buffer(A)) == b"xxxxxxxx"
        assert pool.current_chunk() is None and pool.free_list(4) == [A + 280]
