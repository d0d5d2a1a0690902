"""The worked examples of docs/algorithm.md, as exact offsets and request sizes."""

import pytest

from pool import PoolMemoryError


def lengths(pool):
    """{block size: free-list length} of the non-empty lists."""
    return {s: n for s, n in zip(pool.class_sizes(), pool.free_list_lengths()) if n}


@pytest.mark.parametrize("checked", [True, False])
def test_worked_example(make_pool, checked):
    with make_pool(checked=checked) as pool:
        a0 = pool.allocate(8)  # 1
        [(A, size_a)] = pool.chunks()
        assert size_a == 320 and a0 == A
        assert pool.heap_size == 320
        assert pool.current_chunk() == (A + 160, A + 320)
        assert pool.free_list(0) == [A + 8 * k for k in range(1, 20)]

        assert pool.allocate(8) == A + 8  # 2
        assert lengths(pool) == {8: 18}

        assert pool.allocate(24) == A + 160  # 3: left 160 >= 24, nobjs = 6
        assert pool.current_chunk() == (A + 304, A + 320)
        assert pool.free_list(2) == [A + 160 + 24 * k for k in range(1, 6)]

        big = pool.allocate(200)  # 4: first level
        st = pool.stats()
        assert (st.large_live, st.large_bytes, st.requests_granted) == (1, 200, 2)
        assert pool.chunks() == [(A, 320)] and pool.heap_size == 320

        pool.deallocate(a0, 8)  # 5: pushed at the head
        assert pool.free_list(0)[:2] == [A, A + 16]
        assert lengths(pool) == {8: 19, 24: 5}

        b0 = pool.allocate(128)  # 6: chunk B of 2*2560 + round_up(320 >> 4)
        [(_, _), (B, size_b)] = pool.chunks()
        assert size_b == 5144 and b0 == B
        assert pool.heap_size == 5464
        assert pool.current_chunk() == (B + 2560, B + 5144)
        assert lengths(pool) == {8: 19, 16: 1, 24: 5, 128: 19}
        assert pool.free_list(1) == [A + 304]  # the leftover
        assert pool.free_list(15) == [B + 128 * k for k in range(1, 20)]
        assert pool.stats().requests_granted == 3

        assert pool.allocate(16) == A + 304
        assert pool.allocate(8) == A
        pool.deallocate(big, 200)


def test_heap_limit_example(make_pool):
    """Part B: a refused chunk leaves the leftover listed and no current chunk."""
    with make_pool(heap_limit=400) as pool:
        A = pool.allocate(8)
        assert pool.allocate(120) == A + 160  # branch 2, one object
        assert pool.current_chunk() == (A + 280, A + 320)
        with pytest.raises(PoolMemoryError, match="4824 bytes"):
            pool.allocate(120)
        assert pool.heap_size == 320
        assert lengths(pool) == {8: 19, 40: 1}
        assert pool.current_chunk() is None
        st = pool.stats()
        assert (st.requests_granted, st.requests_refused, st.salvages) == (1, 1, 0)
        assert pool.allocate(40) == A + 280
        assert pool.allocate(8) == A + 8  # still fully usable


def test_small_refill_and_max_small_profile(make_pool):
    """refill=1 hands out single blocks and never touches the list (step 2)."""
    with make_pool(refill=1, max_small=64) as pool:
        a = pool.allocate(64)
        [(A, size)] = pool.chunks()
        assert (a, size) == (A, 128)  # 2 * 64 + 0
        assert pool.free_list_lengths() == (0,) * 8
        assert pool.allocate(64) == A + 64  # branch 1 from the tail
        assert pool.allocate(65) not in (A, A + 64)  # above max_small: the system
        assert pool.stats().large_live == 1


def test_align16_profile_sizes(make_pool):
    with make_pool(align=16) as pool:
        a = pool.allocate(1)  # rounds to 16; chunk 2 * 16 * 20 = 640
        assert pool.chunks() == [(a, 640)]
        assert pool.class_sizes() == tuple(range(16, 129, 16))
        assert pool.free_list_lengths()[0] == 19
