"""Heap limits, salvage, refused allocations and the oom handler (Part B)."""

import pytest

from pool import PoolMemoryError


def lengths(pool):
    """{block size: free-list length} of the non-empty lists."""
    return {s: n for s, n in zip(pool.class_sizes(), pool.free_list_lengths()) if n}


def test_refused_chunk_is_salvaged_from_a_larger_list(make_pool):
    with make_pool() as pool:
        b = pool.allocate(128)  # chunk A: 5120 bytes, 19 blocks of 128 on the list
        [(A, size)] = pool.chunks()
        assert size == 5120
        pool.heap_limit = pool.heap_size  # no more system memory
        # drain the tail of A so that a refill of 8 needs a new chunk
        tail = pool.current_chunk()
        assert tail == (A + 2560, A + 5120)
        got = pool.allocate_many(128, 19 + 20)  # the list, then the tail
        assert pool.current_chunk() is None or pool.current_chunk()[0] == pool.current_chunk()[1]
        pool.deallocate(got[0], 128)  # one free 128-byte block: A + 128
        s = pool.allocate(8)  # chunk refused -> salvage the 128-byte block
        st = pool.stats()
        assert (st.salvages, st.requests_refused) == (1, 1)
        assert s == got[0]
        assert pool.free_list(0) == [got[0] + 8 * k for k in range(1, 16)]
        assert pool.free_list_lengths()[15] == 0
        # nothing left anywhere: the next refill fails
        with pytest.raises(PoolMemoryError):
            pool.allocate(16)
        assert pool.stats().requests_refused == 2
        pool.deallocate_many(got[1:], 128)
        pool.deallocate(b, 128)


def test_salvage_scans_upward_only(make_pool):
    with make_pool() as pool:
        small = pool.allocate_many(8, 40)  # two refills: lists of 8 have spare blocks? no: used
        pool.deallocate_many(small, 8)  # 40 free 8-byte blocks, smaller than 16
        pool.heap_limit = pool.heap_size
        # drain the current chunk with 16-byte blocks
        with pytest.raises(PoolMemoryError):
            while True:
                pool.allocate(16)
        assert pool.stats().salvages == 0  # 8-byte blocks are never salvaged for 16
        assert pool.free_list_lengths()[0] >= 40


def test_oom_handler_raising_the_limit_lets_the_retry_succeed(make_pool):
    calls = []
    with make_pool(heap_limit=400) as pool:

        def handler(nbytes):
            calls.append(nbytes)
            pool.heap_limit = pool.heap_size + nbytes
            return True

        A = pool.allocate(8)
        assert pool.allocate(120) == A + 160
        pool.oom_handler = handler
        B = pool.allocate(120)  # 4824 refused; the handler lifts the limit; the retry gets chunk B
        assert calls == [4824]
        assert pool.chunks() == [(A, 320), (B, 4824)]
        assert pool.heap_size == 5144
        assert pool.current_chunk() == (B + 2400, B + 4824)
        # the leftover moved before the refusal
        assert lengths(pool) == {8: 19, 40: 1, 120: 19}
        st = pool.stats()
        assert (st.oom_handler_calls, st.requests_refused, st.requests_granted) == (1, 1, 2)
        assert pool.allocate(40) == A + 280  # the leftover of the refused attempt
        big = pool.allocate(10_000)  # large: refused, handler raises the limit again
        assert calls == [4824, 10_000] and pool.stats().large_bytes == 10_000
        pool.deallocate(big, 10_000)


def test_oom_handler_freeing_blocks_of_the_same_pool(make_pool):
    """The retry starts from the top, so blocks the handler freed are found first."""
    with make_pool(heap_limit=320) as pool:
        blocks = list(pool.allocate_many(8, 20))  # the whole chunk A: 20 + 20 blocks
        blocks += list(pool.allocate_many(8, 20))
        freed = []

        def handler(nbytes):
            a = blocks.pop()
            pool.deallocate(a, 8)
            freed.append(a)
            return True

        pool.oom_handler = handler
        c = pool.allocate(8)
        assert freed == [c] == [blocks[-1] + 8]  # the block the handler freed
        assert pool.stats().oom_handler_calls == 1


def test_oom_handler_that_declines_or_raises(make_pool):
    with make_pool(heap_limit=100, oom_handler=lambda n: False) as pool:
        with pytest.raises(PoolMemoryError, match="oom handler gave up"):
            pool.allocate(8)
        assert pool.stats().oom_handler_calls == 1

        class Boom(Exception):
            pass

        def raising(nbytes):
            raise Boom(nbytes)

        pool.oom_handler = raising  # a large request this time
        with pytest.raises(Boom):
            pool.allocate(200)
        st = pool.stats()
        assert (st.oom_handler_calls, st.requests_refused) == (2, 2)
        with pytest.raises(TypeError):
            pool.oom_handler = 42
        assert pool.oom_handler is raising

    with make_pool(heap_limit=100, oom_handler=raising) as pool:
        with pytest.raises(Boom):
            pool.allocate(8)
        assert pool.current_chunk() is None and pool.heap_size == 0
        assert pool.stats().requests_refused == 1
        pool.oom_handler = None
        pool.heap_limit = None
        assert pool.allocate(50) % 8 == 0  # still usable


def test_oom_handler_giving_up_after_n_calls(make_pool):
    """A handler that never makes room is called again on each retry (as in SGI)."""
    calls = []

    def stubborn(nbytes):
        calls.append(nbytes)
        return len(calls) < 5

    with make_pool(heap_limit=100, oom_handler=stubborn) as pool:
        with pytest.raises(PoolMemoryError):
            pool.allocate(8)
        assert calls == [320] * 5
        st = pool.stats()
        assert (st.requests_refused, st.oom_handler_calls) == (5, 5)


def test_batch_is_all_or_nothing(make_pool):
    with make_pool(heap_limit=320) as pool:
        first = pool.allocate(8)
        state = (pool.free_list(0), pool.current_chunk())
        # 19 from the list, 20 carved from the tail, then the next refill asks for
        # 2*160 + round_up(320 >> 4) = 344: refused, no salvage
        with pytest.raises(PoolMemoryError, match="344"):
            pool.allocate_many(8, 40)
        # 39 blocks were taken (19 from the list, 20 carved from the tail) and
        # freed in reverse order, so the list now runs up from A+8 without a gap
        assert pool.free_list(0)[:19] == state[0]
        assert pool.free_list(0) == [first + 8 * k for k in range(1, 40)]
        assert pool.live_blocks() == {first: 8}
        st = pool.stats()
        assert st.classes[0].live == 1 and st.classes[0].free == 39
        assert (st.requests_refused, st.requests_granted) == (1, 1)
        assert pool.current_chunk() is None  # 3.2 dropped the (empty) tail before the request


def test_batch_with_handler_behaves_like_single_calls(make_pool):
    seen = []
    with make_pool(heap_limit=320) as pool:

        def handler(nbytes):
            seen.append(nbytes)
            pool.heap_limit += nbytes
            return True

        pool.oom_handler = handler
        addrs = pool.allocate_many(8, 100)
        assert len(set(addrs)) == 100
        with make_pool(heap_limit=320) as twin:
            twin_seen = []

            def twin_handler(nbytes):
                twin_seen.append(nbytes)
                twin.heap_limit += nbytes
                return True

            twin.oom_handler = twin_handler
            singles = [twin.allocate(8) for _ in range(100)]
            assert seen == twin_seen
            assert [a - pool.chunks()[0][0] for a in addrs[:20]] == [
                a - twin.chunks()[0][0] for a in singles[:20]
            ]


def test_lowering_the_limit_below_what_is_held(make_pool):
    with make_pool() as pool:
        A = pool.allocate(8)
        pool.heap_limit = 100  # below the 320 held: later requests are refused
        assert pool.heap_limit == 100
        for k in range(1, 20):  # the list still serves
            assert pool.allocate(8) == A + 8 * k
        assert pool.allocate(8) == A + 160  # from the current chunk: no request
        with pytest.raises(PoolMemoryError):
            pool.allocate(200)
        pool.heap_limit = None
        assert pool.heap_limit is None and pool.stats().heap_limit is None
        assert pool.allocate(200) > 0
