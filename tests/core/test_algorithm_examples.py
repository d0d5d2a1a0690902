"""The worked examples of docs/algorithm.md, as exact offsets and request sizes."""

import pytest

from pool import PoolMemoryError


def lengths(pool):
    """{block size: free-list length} of the non-empty lists."""
    return {s: n for s, n in zip(pool.class_sizes(), pool.free_list_lengths()) if n}


@pytest.mark.parametrize("checked", [True, False])
def test_worked_example(make_pool, checked):
    with make_pool(checked=checked) as pool:
        a0 = pool.allocate(8)  # 1: chunk A of 320 (2*160 + 0)
        [(A, size_a)] = pool.chunks()
        assert size_a == 320 and a0 == A
        assert pool.heap_size == 320
        assert pool.current_chunk() == (A + 160, A + 320)
        assert lengths(pool) == {8: 19}
        assert pool.free_list(0) == [A + 8 * k for k in range(1, 20)]

        assert pool.allocate(8) == A + 8  # 2: the head of the 8-byte list
        assert lengths(pool) == {8: 18}

        assert pool.allocate(24) == A + 160  # 3: left 160 >= 24, nobjs = 6
        assert pool.current_chunk() == (A + 304, A + 320)
        assert lengths(pool) == {8: 18, 24: 5}
        assert pool.free_list(2) == [A + 160 + 24 * k for k in range(1, 6)]

        big = pool.allocate(200)  # 4: first level, a 200-byte block; the lists are unchanged
        assert big not in (A, A + 8, A + 160)
        st = pool.stats()
        assert (st.large_live, st.large_bytes, st.requests_granted) == (1, 200, 2)
        assert pool.chunks() == [(A, 320)] and pool.heap_size == 320
        assert pool.current_chunk() == (A + 304, A + 320)
        assert lengths(pool) == {8: 18, 24: 5}
        assert pool.live_blocks()[big] == 200

        pool.deallocate(a0, 8)  # 5: pushed at the head
        assert pool.free_list(0)[:3] == [A, A + 16, A + 24]
        assert lengths(pool) == {8: 19, 24: 5}

        B = pool.allocate(128)  # 6: chunk B of 5144 = 2*2560 + round_up(320 >> 4 = 20) = 24
        assert pool.chunks() == [(A, 320), (B, 5144)]
        assert pool.heap_size == 5464
        assert pool.current_chunk() == (B + 2560, B + 5144)
        assert lengths(pool) == {8: 19, 16: 1, 24: 5, 128: 19}
        assert pool.free_list(1) == [A + 304]  # the leftover
        assert pool.free_list(15) == [B + 128 * k for k in range(1, 20)]
        assert pool.free_list(15)[-1] == B + 2432
        assert pool.stats().requests_granted == 3

        # Then allocate(16) returns A+304 and allocate(8) returns A+0.
        assert pool.allocate(16) == A + 304
        assert pool.allocate(8) == A

        st = pool.stats()
        assert st.requests_granted == 3  # A, the 200-byte block, B
        assert st.requests_refused == 0 and st.salvages == 0 and st.oom_handler_calls == 0
        assert st.chunks == 2 and st.heap_size == 5464 and st.heap_limit is None
        assert st.chunk_left == 5144 - 2560
        assert (st.large_live, st.large_bytes) == (1, 200)
        assert st.held == 5664
        live = {c.block_size: c.live for c in st.classes if c.live}
        assert live == {8: 2, 16: 1, 24: 1, 128: 1}  # A+0, A+8; A+304; A+160; B
        free = {c.block_size: c.free for c in st.classes if c.free}
        assert free == {8: 18, 24: 5, 128: 19}
        if checked:
            assert pool.live_blocks() == {
                A: 8,
                A + 8: 8,
                A + 160: 24,
                big: 200,
                B: 128,
                A + 304: 16,
            }
        else:
            assert pool.live_blocks() == {big: 200}
        pool.deallocate(big, 200)


def test_heap_limit_example(make_pool):
    """Part B: a refused chunk leaves the leftover listed and no current chunk."""
    with make_pool(heap_limit=400) as pool:
        A = pool.allocate(8)
        assert pool.chunks() == [(A, 320)]
        assert pool.allocate(120) == A + 160  # branch 2, one object
        assert pool.current_chunk() == (A + 280, A + 320)
        with pytest.raises(PoolMemoryError, match=r"system request of 4824 bytes was refused"):
            pool.allocate(120)
        assert pool.heap_size == 320
        assert lengths(pool) == {8: 19, 40: 1}
        assert pool.free_list(4) == [A + 280]
        assert pool.current_chunk() is None
        st = pool.stats()
        assert (st.requests_granted, st.requests_refused, st.salvages) == (1, 1, 0)
        assert st.chunk_left == 0 and st.heap_limit == 400
        assert pool.allocate(40) == A + 280  # the pool stays fully usable
        assert lengths(pool) == {8: 19}
        assert pool.allocate(8) == A + 8


@pytest.mark.parametrize("n, max_small", [(8, 128), (64, 64)])
def test_refill_of_one_object_leaves_the_list_untouched(make_pool, n, max_small):
    """refill=1 hands out single blocks and never touches the list (step 2)."""
    with make_pool(refill=1, max_small=max_small) as pool:
        a = pool.allocate(n)
        [(A, size)] = pool.chunks()
        assert (a, size) == (A, 2 * n)  # bytes_to_get = 2 * n + 0
        assert pool.free_list_lengths() == (0,) * (max_small // 8)
        assert pool.current_chunk() == (A + n, A + 2 * n)
        assert pool.allocate(n) == A + n  # branch 1 from the tail
        assert pool.current_chunk() == (A + 2 * n, A + 2 * n)
        assert pool.allocate(max_small + 1) not in (A, A + n)  # above max_small: the system
        assert pool.stats().large_live == 1


@pytest.mark.parametrize("max_small", [128, 256])
def test_align16_profile_sizes(make_pool, max_small):
    with make_pool(align=16, max_small=max_small) as pool:
        a = pool.allocate(1)  # rounds to 16; chunk 2 * 16 * 20 = 640
        assert pool.chunks() == [(a, 640)]
        assert a % 16 == 0
        assert pool.class_sizes() == tuple(range(16, max_small + 1, 16))
        assert len(pool.class_sizes()) == max_small // 16
        assert pool.free_list_lengths()[0] == 19
        assert pool.free_list(0) == [a + 16 * k for k in range(1, 20)]
