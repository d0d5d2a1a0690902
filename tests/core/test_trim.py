"""trim(): fully free chunks back to the system (docs/algorithm.md B.13)."""

import os
import threading

import pytest
from helpers import shared, wait_or_kill

from pool import (
    InvalidBlockError,
    Pool,
    PoolClosedError,
    PoolMemoryError,
    ReferencePool,
    process_totals,
)


def holding(chunks, addr):
    return next(((b, s) for b, s in chunks if b <= addr < b + s), None)


def burst(pool, n, count):
    """Allocates count blocks of n bytes and frees them all (in allocation order)."""
    got = pool.allocate_many(n, count)
    pool.deallocate_many(got, n)
    return got


def test_burst_releases_every_chunk_but_the_current_one(make_pool):
    with make_pool(checked=False) as pool:
        burst(pool, 32, 5000)
        chunks = pool.chunks()
        start, _ = pool.current_chunk()
        current = holding(chunks, start)
        before = pool.stats()
        listed = pool.free_list(3)
        expected = sum(s for b, s in chunks if (b, s) != current)
        assert len(chunks) > 3 and before.releasable_bytes == expected
        assert pool.trim() == expected
        after = pool.stats()
        assert pool.chunks() == [current]
        assert after.heap_size == before.heap_size  # every chunk ever obtained
        assert after.held == before.held - expected == current[1]
        assert (after.released_chunks, after.released_bytes) == (len(chunks) - 1, expected)
        assert after.releasable_bytes == 0
        # the current chunk's free blocks stay, in their order
        assert pool.free_list(3) == [a for a in listed if holding([current], a)]
        assert pool.trim() == 0  # nothing more
        burst(pool, 32, 5000)  # and it grows again
        assert pool.stats().chunks > 1


def test_remaining_lists_keep_their_order(make_pool):
    with make_pool() as pool:
        a = pool.allocate_many(24, 400)
        b = pool.allocate_many(8, 300)
        keep = [a[5], b[7]]  # one live block in each of two chunks
        pool.deallocate_many([x for x in a if x not in keep], 24)
        pool.deallocate_many([x for x in b if x not in keep], 8)
        chunks = pool.chunks()
        start, _ = pool.current_chunk()
        pinned = {holding(chunks, x) for x in keep} | {holding(chunks, start)}
        gone = [c for c in chunks if c not in pinned]
        assert gone  # the test means something
        lists = [pool.free_list(cls) for cls in range(len(pool.class_sizes()))]
        assert pool.trim() == sum(s for _, s in gone)
        assert pool.chunks() == [c for c in chunks if c in pinned]
        for cls, old in enumerate(lists):
            assert pool.free_list(cls) == [x for x in old if holding(gone, x) is None]
        assert all(holding(gone, x) is None for x in pool.block_map())
        pool.deallocate_many(keep[:1], 24)
        pool.deallocate_many(keep[1:], 8)


def test_nothing_to_release_changes_nothing(make_pool):
    with make_pool() as pool:
        a = pool.allocate(40)
        before = pool.snapshot()
        assert pool.trim() == 0
        assert pool.snapshot() == before
        pool.deallocate(a, 40)
        assert pool.trim() == 0  # the one chunk is the current chunk


def test_salvaged_current_chunk_is_kept(make_pool):
    """After a salvage the current chunk is a block of an older chunk: that
    chunk is never released, though all its carved blocks are free."""
    with make_pool() as pool:
        got = list(pool.allocate_many(128, 100))  # several chunks
        pool.heap_limit = pool.stats().held
        with pytest.raises(PoolMemoryError):
            while True:  # the tail too
                got.append(pool.allocate(128))
        for size, n in zip(pool.class_sizes(), pool.free_list_lengths()):
            got += [pool.allocate(size) for _ in range(n)]  # leftovers, which salvage would take
        first = pool.chunks()[0]
        pool.deallocate(got[0], 128)  # a block of the first chunk
        s = pool.allocate(48)  # refused: salvage makes that block the current chunk
        start, end = pool.current_chunk()  # two blocks carved, 32 bytes left
        assert pool.stats().salvages == 1 and holding([first], start) and end - start == 32
        pool.deallocate(s, 48)
        for a in got[1:]:
            pool.deallocate(a, pool.usable_size(a))
        others = pool.chunks()[1:]
        assert others and pool.trim() == sum(s for _, s in others)
        assert pool.chunks() == [first]


def test_trimmed_pool_grows_again_up_to_its_limit(make_pool):
    limit = 40_000
    with make_pool(heap_limit=limit, checked=False) as pool:
        for _ in range(3):
            got = []
            with pytest.raises(PoolMemoryError):
                while True:
                    got.append(pool.allocate(64))
            st = pool.stats()
            assert st.held <= limit and st.held > limit // 2
            pool.deallocate_many(got, 64)
            released = pool.trim()
            assert released > 0 and pool.stats().held == st.held - released
            assert len(got) * 64 > limit // 3  # the pool filled most of its limit again


@pytest.mark.parametrize("factory", [Pool, ReferencePool])
def test_an_oom_handler_may_trim(factory):
    """The natural place to make room: the handler frees and trims, and the
    refused request is retried (a thread-safe pool: no deadlock)."""
    pool = factory(heap_limit=30_000, thread_safe=True)
    old = burst(pool, 16, 1200)  # free, in chunks a trim can release
    assert old and pool.stats().releasable_bytes > 0
    calls = []

    def handler(nbytes):
        calls.append(pool.trim())
        return calls[-1] > 0

    pool.oom_handler = handler
    done = threading.Event()

    def work():
        pool.allocate_many(120, 150)  # needs new chunks beyond the limit
        done.set()

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(20)
    assert done.is_set(), "allocation with a trimming oom handler hung"
    assert calls and calls[0] > 0
    pool.close()


@pytest.mark.parametrize("factory", [Pool, ReferencePool])
def test_trim_on_a_closed_pool_raises(factory):
    pool = factory()
    pool.close()
    with pytest.raises(PoolClosedError):
        pool.trim()


def test_checked_pool_never_releases_a_chunk_with_a_live_block():
    with Pool() as pool:
        got = burst(pool, 48, 2000)
        keep = pool.allocate(48)  # from the head of the list: some chunk stays
        where = holding(pool.chunks(), keep)
        pool.trim()
        assert where in pool.chunks()
        assert pool.usable_size(keep) == 48
        pool.deallocate(keep, 48)
        gone = got[0]  # the first chunk's: released
        assert holding(pool.chunks(), gone) is None
        with pytest.raises(InvalidBlockError):
            pool.deallocate(gone, 48)  # a block of a released chunk is no block


def test_thread_caches_are_handed_back_first():
    with shared(Pool(thread_cache=True, checked=False)) as pool:
        got = [pool.allocate(32) for _ in range(3000)]
        for a in got:
            pool.deallocate(a, 32)  # some stay in this thread's cache
        st = pool.stats()
        assert st.releasable_bytes > 0
        assert pool.trim() == st.releasable_bytes
        assert pool.trim() == 0


def test_released_chunks_leave_the_process_totals():
    pool = Pool(checked=False)
    blocks, nbytes = process_totals()
    burst(pool, 32, 20_000)
    grown = process_totals()
    released = pool.trim()
    assert process_totals() == (grown[0] - pool.stats().released_chunks, grown[1] - released)
    pool.close()
    assert process_totals() == (blocks, nbytes)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_trim_in_a_fork_child():
    pool = Pool(checked=False)
    burst(pool, 32, 5000)

    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            if pool.trim() > 0 and pool.stats().chunks == 1:
                burst(pool, 32, 5000)
                code = 0
        finally:
            os._exit(code)
    status = wait_or_kill(pid, 20)
    assert status is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert pool.stats().chunks > 1  # the parent's pool is its own
    assert pool.trim() > 0
    pool.close()


@pytest.mark.parametrize("count", [3000, 100_000])
def test_shuffled_lists_agree_with_the_model(count):
    """Lists shuffled block by block: a run per block (100,000 of them: more
    than the C core notes, so it walks the lists to unlink).  The C core and
    the model release the same chunks and keep the same lists."""
    import random

    pools = [Pool(checked=False), ReferencePool(checked=False)]
    for pool in pools:
        rng = random.Random(count)
        got = list(pool.allocate_many(8, count)) + list(pool.allocate_many(24, count // 3))
        keep = set(rng.sample(range(count), 3))  # pins up to three chunks
        order = [i for i in range(len(got)) if i not in keep]
        rng.shuffle(order)
        for i in order:
            pool.deallocate(got[i], 8 if i < count else 24)
    before = [pool.snapshot() for pool in pools]
    assert before[0] == before[1]
    released = [pool.trim() for pool in pools]
    assert released[0] == released[1] > 0
    assert pools[0].snapshot() == pools[1].snapshot()
    for pool in pools:
        pool.close()


@pytest.mark.parametrize("pages", [False, True], ids=["chunks", "pages"])
@pytest.mark.parametrize("options", [{}, {"checked": False, "thread_cache": True}])
def test_trim_while_other_threads_allocate(options, pages):
    """Trims racing with three threads' allocations and frees (the C call
    runs without the GIL): every block keeps its contents, and afterwards the
    pool agrees with itself.  With pages, page trims (B.14)."""
    import ctypes

    pool = Pool(**options)
    stop = threading.Event()
    errors = []

    def work(seed):
        sizes = [8 + 8 * ((seed + k) % 12) for k in range(400)]
        try:
            while not stop.is_set():
                got = [(pool.allocate(n), n) for n in sizes]
                for k, (a, n) in enumerate(got):
                    ctypes.memset(a, (seed + k) % 251, n)
                for k, (a, n) in enumerate(got):
                    if ctypes.string_at(a, n) != bytes([(seed + k) % 251]) * n:
                        errors.append(f"block {a:#x} lost its contents")
                    pool.deallocate(a, n)
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(s,)) for s in range(3)]
    for t in threads:
        t.start()
    import time

    released, start = 0, time.monotonic()
    while time.monotonic() - start < 0.5:
        released += pool.trim(pages=pages)
    stop.set()
    for t in threads:
        t.join(30)
    assert not errors, errors[:3]
    assert released + pool.trim(pages=pages) > 0  # the threads' chunks, now all free
    # (no chunk left when the current one had no tail left: none is current)
    assert pool.stats().releasable_bytes == 0 and pool.stats().chunks <= 1
    st = pool.stats()
    assert all(c.live == 0 for c in st.classes)
    pool.close()
