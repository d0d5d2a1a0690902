"""The thread caches' depot (thread_cache_bytes, csrc/core/thread_cache.c):
whole magazines a thread keeps beyond its two per class, so that a burst it
frees comes back to it, not to another thread through the lists; bounded;
flushed on thread exit, trim, fork and before a refusal gives up.

Each test runs its threads one step at a time (a worker thread runs what it
is sent), so the outcome is exact: which thread gets which blocks."""

import os
import queue
import threading

import pytest
from helpers import join_to_the_end, thread_caches_work
from pool._pool_c import ffi, lib

from pool import Pool, PoolMemoryError

N = 1000  # blocks of 32 bytes a thread frees in one burst (32 KB: inside the default bound)


pytestmark = pytest.mark.skipif(not thread_caches_work(), reason="no membarrier: no caches")


class Worker:
    """A thread that runs the calls it is sent, one at a time, and stays."""

    def __init__(self):
        self.calls: queue.Queue = queue.Queue()
        self.results: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self):
        while (call := self.calls.get()) is not None:
            try:
                self.results.put((True, call()))
            except BaseException as e:  # noqa: BLE001 -- handed to the caller
                self.results.put((False, e))

    def __call__(self, fn, *args):
        self.calls.put(lambda: fn(*args))
        ok, value = self.results.get()
        if not ok:
            raise value
        return value

    def exit(self):
        self.calls.put(None)
        self.thread.join()

    def gone(self):
        """exit(), then wait until the OS thread is gone (its cache flushed:
        helpers.join_to_the_end)."""
        self.calls.put(None)
        join_to_the_end(self.thread)


def _burst(p, n=N, size=32):
    blocks = [p.allocate(size) for _ in range(n)]
    for a in blocks:
        p.deallocate(a, size)
    return set(blocks)


def _take(p, n=N, size=32):
    return [p.allocate(size) for _ in range(n)]


def _take_until_refused(p, size=32):
    blocks = []
    with pytest.raises(PoolMemoryError):
        while True:
            blocks.append(p.allocate(size))
    return blocks


def _give(p, blocks, size=32):
    for a in blocks:
        p.deallocate(a, size)


@pytest.fixture
def workers():
    made = []

    def make():
        w = Worker()
        made.append(w)
        return w

    yield make
    for w in made:
        if w.thread.is_alive():
            w.exit()


def _shared(p, a, b):
    """Both workers have called p: the pool has switched to its caches."""
    a(lambda: p.deallocate(p.allocate(32), 32))
    b(lambda: p.deallocate(p.allocate(32), 32))
    assert lib.sgi_pool_locking(p._handle()) == lib.SGI_POOL_LOCKING_THREAD_CACHE


def test_a_freed_burst_stays_with_its_thread(workers):
    # (before the depot, a cache kept 2 x 20 blocks: B took 960 of A's 1000)
    a, b = workers(), workers()
    with Pool(thread_cache=True, checked=False) as p:
        _shared(p, a, b)
        mine = a(_burst, p)
        theirs = b(_take, p)
        assert not mine & set(theirs)
        again = a(_take, p)
        assert set(again) == mine  # the same blocks, straight from A's depot
        a(_give, p, again)
        b(_give, p, theirs)


def test_threads_carve_slabs_of_their_own(workers):
    # B.15: blocks two threads take in turns, 20 at a time, come from slabs
    # of their own (before: one refill of 20 each, so the owner changed
    # every 20 blocks in address order and every page held both threads')
    a, b = workers(), workers()
    with Pool(thread_cache=True, checked=False) as p:
        _shared(p, a, b)
        mine: list[int] = []
        theirs: list[int] = []
        for _ in range(50):
            mine += a(_take, p, 20)
            theirs += b(_take, p, 20)
        owner = dict.fromkeys(mine, "a") | dict.fromkeys(theirs, "b")
        order = [owner[x] for x in sorted(owner)]
        assert sum(x != y for x, y in zip(order, order[1:])) <= 2
        pages_a = {x >> 12 for x in mine}
        pages_b = {(x + 31) >> 12 for x in theirs} | {x >> 12 for x in theirs}
        assert len(pages_a & pages_b) <= 2  # (B's first 20: A's biased refill)
        a(_give, p, mine)
        b(_give, p, theirs)


def test_a_slab_is_free_blocks(workers):
    # a refill after the switch that finds its class's list empty carves up
    # to 64 KiB of whole magazines at once (A.7: from the tail, else a new
    # chunk): one block to the caller, the rest into the thread's cache,
    # where stats() counts them as free
    a, b = workers(), workers()
    with Pool(thread_cache=True, checked=False) as p:
        _shared(p, a, b)  # A owned the bias (one refill of 20); B took the 20
        heap = p.heap_size
        assert heap == 1280
        a(p.allocate, 32)  # the tail holds only 20 more blocks: they are A's
        assert p.current_chunk()[0] == p.current_chunk()[1] and p.heap_size == heap
        got = a(p.allocate, 48)  # 68 magazines of 20 x 48 bytes: 65,280 bytes
        # a new chunk, A.7's 3.1: 2 x the request + heap_size / 16
        assert p.heap_size - heap == 2 * 65_280 + heap // 16
        start, end = p.current_chunk()
        assert end - start == 65_280 + heap // 16
        cls = p.stats().classes[5]
        assert (cls.block_size, cls.live, cls.free) == (48, 1, 1359)
        a(p.deallocate, got, 48)
        assert p.stats().classes[5].free == 1360


def test_the_bound_holds(workers):
    # 4096 bytes: six magazines of 20 x 32 bytes in the depot, two in the cache
    a, b = workers(), workers()
    with Pool(thread_cache=True, checked=False, thread_cache_bytes=4096) as p:
        assert p.thread_cache_bytes == 4096
        _shared(p, a, b)
        mine = a(_burst, p)
        theirs = set(b(_take, p))
        kept = len(mine - theirs)
        # the depot's six magazines at least, the two magazines' 40 blocks at most beside
        assert 6 * 20 <= kept <= 8 * 20, kept
        b(_give, p, theirs)


def test_blocks_of_one_word_have_no_depot(workers):
    # 8-byte blocks cannot note a magazine's last node: two magazines only
    a, b = workers(), workers()
    with Pool(thread_cache=True, checked=False) as p:
        _shared(p, a, b)
        mine = a(_burst, p, N, 8)
        theirs = set(b(_take, p, N, 8))
        assert len(mine - theirs) <= 2 * 20
        b(_give, p, theirs, 8)


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc")
def test_depot_goes_back_when_its_thread_exits(workers):
    a, b = workers(), workers()
    with Pool(thread_cache=True, checked=False) as p:
        _shared(p, a, b)
        mine = a(_burst, p)
        a.gone()
        heap = p.heap_size
        theirs = set(b(_take, p))  # B's own cached blocks first, then A's from the lists
        assert len(mine & theirs) >= N - 40 and p.heap_size == heap
        b(_give, p, theirs)


def test_trim_flushes_depots(workers):
    a, b = workers(), workers()
    with Pool(thread_cache=True, checked=False) as p:
        _shared(p, a, b)
        a(_burst, p, 20 * N)
        before = p.stats()
        assert sum(c.live for c in before.classes) == 0
        p.trim()
        after = p.stats()
        # every chunk was fully free, the depot's blocks on them included:
        # all go but the one holding the uncarved tail
        assert after.released_chunks == before.chunks - 1, (before, after)
        assert after.chunks == 1


def test_a_refusal_flushes_depots_before_giving_up(workers):
    a, b = workers(), workers()
    with Pool(thread_cache=True, checked=False) as p:
        _shared(p, a, b)
        mine = a(_burst, p)
        p.heap_limit = p.heap_size  # no more chunks: B can have only what caches hold
        heap = p.heap_size
        # B's own slab, the tail, then the refused chunk: A's depot handed
        # back, and B takes every block of it before the pool gives up
        theirs = b(_take_until_refused, p)
        assert p.heap_size == heap and mine <= set(theirs)
        b(_give, p, theirs)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_child_gets_the_depots_of_other_threads(workers):
    a, b = workers(), workers()
    with Pool(thread_cache=True, checked=False) as p:
        _shared(p, a, b)
        mine = a(_burst, p)
        heap = p.heap_size
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: only this thread; A's cache went back to the lists
            try:
                got = set(_take(p))
                ok = len(got & mine) >= N - 40 and p.heap_size == heap
            except BaseException:  # noqa: BLE001 -- reported through the exit status
                ok = False
            os.write(w, b"1" if ok else b"0")
            os._exit(0)
        os.close(w)
        answer = os.read(r, 1)
        os.close(r)
        os.waitpid(pid, 0)
        assert answer == b"1"


@pytest.mark.parametrize("bad", [0, -1])
def test_option_misuse(bad):
    with pytest.raises(ValueError, match="thread_cache_bytes must be at least 1"):
        Pool(thread_cache=True, thread_cache_bytes=bad)


def test_option_reaches_the_core():
    out = ffi.new("sgi_pool_options *")
    with Pool(thread_cache=True, checked=False) as p:
        assert p.thread_cache_bytes == lib.SGI_POOL_DEFAULT_TCACHE_BYTES == 1 << 20
        lib.sgi_pool_get_options(p._handle(), out)
        assert out.thread_cache_bytes == 1 << 20
    with Pool(thread_cache=True, checked=False, thread_cache_bytes=5000) as p:
        lib.sgi_pool_get_options(p._handle(), out)
        assert out.thread_cache_bytes == 5000


def test_lockstep_depot_bound_and_classes():
    # refill 4 (batch 4), a bound of 256 bytes: one magazine of 24-byte and
    # one of 40-byte blocks (96 + 160), then pushes give back; 8-byte blocks
    # get no depot.  Every step compares the C pool with the model.
    from pool.testing.diff import Lockstep

    step = Lockstep("cache-depot-bound")
    try:
        ids = list(range(90))
        sizes = [(8, 24, 40)[i % 3] for i in ids]
        for _ in range(2):
            for i in ids:
                assert step.apply(("alloc", i, sizes[i]))
            for i in ids:
                assert step.apply(("free", i))
            for i in reversed(ids[:50]):
                assert step.apply(("alloc", i, sizes[i]))
            for i in ids[:50]:
                assert step.apply(("free", i))
    finally:
        step.close()
