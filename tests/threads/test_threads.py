"""Several Python threads share one pool (cffi releases the GIL in C calls)."""

import random
import sys
import threading

import pytest

from pool import Pool


def worker(pool, seed, rounds, errors, barrier):
    rng = random.Random(seed)
    live = []
    tag = seed % 250 + 1
    try:
        barrier.wait()
        for i in range(rounds):
            if live and rng.random() < 0.45:
                addr, n, pattern = live.pop(rng.randrange(len(live)))
                if bytes(pool.buffer(addr, n)) != pattern:
                    errors.append(f"thread {seed}: block {addr:#x} overwritten")
                pool.deallocate(addr, n)
            elif rng.random() < 0.1:
                n = rng.randint(1, 64)
                addrs = pool.allocate_many(n, rng.randint(1, 20))
                for addr in addrs:
                    pattern = bytes([tag, i % 256]) * (n // 2) + bytes([tag])[: n % 2]
                    pool.buffer(addr, n)[:] = pattern
                    live.append((addr, n, pattern))
            else:
                n = rng.choice([rng.randint(1, 128), rng.randint(129, 400)])
                addr = pool.allocate(n)
                pattern = bytes([tag, i % 256]) * (n // 2) + bytes([tag])[: n % 2]
                pool.buffer(addr, n)[:] = pattern
                live.append((addr, n, pattern))
        for addr, n, pattern in live:
            if bytes(pool.buffer(addr, n)) != pattern:
                errors.append(f"thread {seed}: block {addr:#x} overwritten")
            pool.deallocate(addr, n)
    except Exception as exc:  # reported by the main thread
        errors.append(f"thread {seed}: {exc!r}")


@pytest.mark.parametrize("checked", [True, False])
def test_threads_share_one_pool(checked):
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, so calls interleave
    try:
        with Pool(checked=checked) as pool:
            nthreads, errors = 6, []
            barrier = threading.Barrier(nthreads)
            threads = [
                threading.Thread(target=worker, args=(pool, s, 3000, errors, barrier))
                for s in range(nthreads)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert errors == []
            st = pool.stats()
            assert st.large_live == 0 and all(c.live == 0 for c in st.classes)
            if checked:
                assert pool.live_blocks() == {}
    finally:
        sys.setswitchinterval(old)


def test_batch_free_is_immune_to_the_caller_changing_its_array():
    """deallocate_many works on a private copy: another thread rewriting the
    caller's array during the call changes which (valid) snapshot is freed,
    never lets an unchecked address through or leaves a marked entry."""
    pool = Pool()
    other = pool.allocate(8)
    for _ in range(20):
        arr = pool.allocate_many(8, 50_000)
        first = arr[0]
        stop = threading.Event()

        def flip():
            while not stop.is_set():
                arr[0] = other
                arr[0] = first

        t = threading.Thread(target=flip)
        t.start()
        try:
            pool.deallocate_many(arr, 8)  # index 0 was `first` or `other`: both live
        finally:
            stop.set()
            t.join()
        live = pool.live_blocks()
        assert len(live) == 1 and set(live) <= {first, other}
        assert all(size == 8 for size in live.values())
        other = next(iter(live))
    pool.close()


def _consistent(state):
    """Relations that hold between the parts of one moment's state."""
    st = state.stats
    assert st.chunks == len(state.chunks)
    assert st.heap_size == sum(size for _, size in state.chunks)
    assert tuple(c.free for c in st.classes) == tuple(len(lst) for lst in state.free_lists)
    if state.current_chunk is not None:
        start, end = state.current_chunk
        assert end - start == st.chunk_left
        assert any(base <= start <= end <= base + size for base, size in state.chunks)
    live_large = [n for n in state.live_blocks.values() if n > 128]
    assert len(live_large) == st.large_live and sum(live_large) == st.large_bytes


def test_state_and_snapshot_are_consistent_while_another_thread_allocates():
    """Reliability issue row 4: snapshot() (and state()) read the pool at one
    moment, under its lock, while another thread allocates and frees."""
    pool = Pool()
    stop = threading.Event()
    errors = []

    def churn():
        try:
            live = []
            i = 0
            while not stop.is_set():
                i += 1
                n = 8 + (i * 37) % 300  # small and large, new chunks now and then
                live.append((pool.allocate(n), n))
                if len(live) > 400:
                    for a, m in live[:200]:
                        pool.deallocate(a, m)
                    del live[:200]
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    t = threading.Thread(target=churn)
    t.start()
    try:
        for _ in range(300):
            _consistent(pool.state())
            pool.snapshot()
    finally:
        stop.set()
        t.join()
        pool.close()
    assert not errors
