"""close() and garbage collection really return the memory."""

import ctypes
import gc

import pytest

from pool import Pool, process_totals


def test_close_returns_every_chunk_and_large_block():
    before = process_totals()
    pool = Pool()
    for n in range(1, 2000):
        pool.allocate(n % 400 + 1)
    pool.allocate_many(64, 10_000)
    blocks, nbytes = process_totals()
    st = pool.stats()
    assert blocks - before[0] == st.chunks + st.large_live
    assert nbytes - before[1] == st.held
    pool.close()
    assert process_totals() == before


def test_garbage_collected_pool_returns_memory():
    before = process_totals()
    pool = Pool(checked=False)
    pool.allocate_many(16, 5000)
    pool.allocate(10_000)
    assert process_totals() != before
    del pool
    gc.collect()
    assert process_totals() == before


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.mark.not_under_sanitizer("ASan's quarantine keeps freed memory resident")
def test_close_lowers_rss():
    """Seen from the operating system: 200 MB of large blocks (mmap'ed by
    malloc) and chunks touched, then closed."""
    pool = Pool(checked=False)
    base = _rss_bytes()
    for _ in range(100):
        addr = pool.allocate(2 << 20)
        ctypes.memset(addr, 1, 2 << 20)
    grown = _rss_bytes()
    assert grown - base > 150 << 20
    pool.close()
    assert grown - _rss_bytes() > 150 << 20


def test_context_manager_closes():
    with Pool() as pool:
        pool.allocate(8)
    assert pool.closed


def test_close_while_other_threads_are_inside_calls():
    """Calls racing with close() either complete or raise PoolClosedError;
    the process survives and the memory is returned."""
    import threading

    from pool import PoolClosedError

    before = process_totals()
    for _ in range(20):
        pool = Pool()
        go = threading.Event()
        outcomes = []

        def hammer(pool):
            go.wait()
            try:
                while True:
                    addrs = pool.allocate_many(48, 50)
                    a = pool.allocate(300)
                    pool.deallocate(a, 300)
                    pool.deallocate_many(addrs, 48)
            except PoolClosedError:
                outcomes.append("closed")
            except Exception as exc:  # anything else is a failure
                outcomes.append(repr(exc))

        threads = [threading.Thread(target=hammer, args=(pool,)) for _ in range(4)]
        for t in threads:
            t.start()
        go.set()
        pool.close()
        for t in threads:
            t.join()
        assert outcomes == ["closed"] * 4
        del pool
    gc.collect()
    assert process_totals() == before
