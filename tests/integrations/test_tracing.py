"""tracemalloc sees Pool's blocks (fast path) in their own domain, with tracebacks."""

import tracemalloc

import pytest

pytest.importorskip("pool._pool_c")

import gc  # noqa: E402

from pool import Arena, InvalidBlockError, Pool, PoolMemoryError, tracing  # noqa: E402

pytestmark = pytest.mark.skipif(
    not tracing.reported(),
    reason="the pure-cffi path (POOL_NO_FAST=1 or no pool._fast) "
    "does not report blocks to tracemalloc",
)


@pytest.fixture
def traced():
    tracemalloc.start(5)
    try:
        yield
    finally:
        tracemalloc.stop()


def pool_sizes():
    return sorted(t.size for t in tracing.pool_traces(tracemalloc.take_snapshot()).traces)


def test_allocate_and_free_are_reported_with_a_traceback(traced):
    p = Pool()
    a = p.allocate(40)
    b = p.allocate(1000)  # large blocks too
    snap = tracing.pool_traces(tracemalloc.take_snapshot())
    assert sorted(t.size for t in snap.traces) == [40, 1000]
    frames = [f for t in snap.traces for f in t.traceback]
    assert any(f.filename == __file__ for f in frames)
    p.deallocate(a, 40)
    p.deallocate(b)  # size-less
    assert pool_sizes() == []


def test_reallocate_and_batches(traced):
    p = Pool(checked=False)
    a = p.allocate(16)
    a = p.reallocate(a, 16, 300)
    assert pool_sizes() == [300]
    blocks = p.allocate_many(24, 10)
    assert pool_sizes() == [24] * 10 + [300]
    p.deallocate_many(blocks, 24)
    p.deallocate(a, 300)
    assert pool_sizes() == []
    blocks = p.allocate_many(8, 3)
    p.deallocate_many(blocks)  # size-less batch
    assert pool_sizes() == []


def test_nothing_reported_when_not_tracing():
    p = Pool()
    a = p.allocate(32)  # not tracing: not recorded, and no error later
    tracemalloc.start()
    try:
        assert pool_sizes() == []
        p.deallocate(a)  # untrack of an untracked block is harmless
        assert pool_sizes() == []
    finally:
        tracemalloc.stop()


# ---- issue 20 row 8: traces never outlive the memory they describe ---------------------


def assert_exact(p):
    """tracemalloc knows exactly the pool's live blocks: as many traces, with
    the sizes asked for, which round up to the blocks' sizes."""
    assert sorted(p._usable(n) for n in pool_sizes()) == sorted(p.live_blocks().values())


def test_traces_follow_live_blocks_after_every_kind_of_call(traced):
    p = Pool(heap_limit=1 << 20)
    steps = [
        ("allocate", lambda: p.allocate(40)),
        ("allocate large", lambda: p.allocate(1000)),
        ("allocate_many", lambda: p.allocate_many(24, 50)),
    ]
    out = {}
    for name, call in steps:
        out[name] = call()
        assert_exact(p)
    small, large, many = out["allocate"], out["allocate large"], out["allocate_many"]
    small = p.reallocate(small, 40, 48)  # same class: same block, new size
    assert_exact(p)
    small = p.reallocate(small, 48, 200)  # small to large
    assert_exact(p)
    small = p.resize(small, 16)  # large to small
    assert_exact(p)
    small = p.resize(small, 2000)  # small to large
    assert_exact(p)
    large = p.resize(large, 1200)  # large to large
    assert_exact(p)
    large = p.resize(large, 100)  # large to small
    assert_exact(p)
    with pytest.raises(InvalidBlockError):  # refused calls change nothing
        p.resize(many[0] + 8, 64)
    with pytest.raises(InvalidBlockError):
        p.deallocate_many([many[0], many[0]], 24)
    with pytest.raises(PoolMemoryError):  # rolled back: nothing stays traced
        p.allocate_many(512, 4096)
    assert_exact(p)
    p.deallocate_many(many[:25], 24)
    assert_exact(p)
    p.deallocate_many(many[25:])  # size-less
    assert_exact(p)
    p.deallocate(small)
    p.deallocate(large, 100)
    assert_exact(p)
    p.allocate_many(8, 1000)
    p.allocate(5000)
    p.close()  # returns every block: no trace may stay
    assert pool_sizes() == []


@pytest.mark.parametrize("checked", [True, False])
def test_close_untracks_only_its_own_blocks(traced, checked):
    keep = Pool()
    keep.allocate(40)
    keep.allocate(3000)
    kept = [40, 3000]
    p = Pool(checked=checked)  # unchecked: no live bits, the sweep goes by the block map
    p.allocate_many(32, 10_000)
    p.reallocate(p.allocate(16), 16, 4000)
    assert len(pool_sizes()) == 10_001 + len(kept)
    p.close()
    assert pool_sizes() == kept
    keep.close()
    assert pool_sizes() == []


def test_a_pool_dropped_without_close_leaves_no_trace(traced):
    p = Pool()
    p.allocate_many(64, 100)
    p.allocate(300)
    del p
    gc.collect()
    assert pool_sizes() == []


def test_a_pool_whose_handle_someone_still_holds_keeps_its_traces(traced):
    """The traces go with the memory: while the cffi handle is held elsewhere
    (its destructor has not run), a dropped Pool's blocks still exist."""
    p = Pool()
    p.allocate(64)
    handle = p._p
    del p
    gc.collect()
    assert pool_sizes() == [64]
    del handle
    gc.collect()
    assert pool_sizes() == []


def test_arena_objects_leave_no_trace_once_the_region_goes(traced):
    arena = Arena()
    objs = [arena.new("int *") for _ in range(5000)]
    buf = arena.buffer(4096)  # a large block
    arena.release(objs.pop())
    assert len(pool_sizes()) >= 5000
    arena.close()
    assert len(pool_sizes()) >= 5000  # objects still referenced: the region stays
    del objs, buf
    gc.collect()
    assert pool_sizes() == []
    with Arena() as arena:  # dropped without close()
        arena.new("int[]", 10)
    del arena
    gc.collect()
    assert pool_sizes() == []


def test_close_costs_nothing_per_block_when_not_tracing(monkeypatch):
    """While tracemalloc is not tracing there are no pool traces (stop()
    clears them all), so close() does not walk the blocks."""
    walked = []
    monkeypatch.setattr(tracing, "_untrack_pool", lambda handle: walked.append(handle))
    p = Pool()
    p.allocate_many(16, 1000)
    p.close()
    assert walked == []
    tracemalloc.start()
    try:
        Pool().close()
    finally:
        tracemalloc.stop()
    assert len(walked) == 1


def test_close_racing_a_long_batch_leaves_no_trace(traced):
    """A batch of 4096+ blocks runs its C call without the GIL: close() is
    called while it does (the event is set just before), and a batch that got
    its blocks before the close must not track them after close() swept the
    pool's traces.  Either outcome of the race leaves no trace."""
    import threading

    from pool import PoolClosedError

    outcomes = []
    for _ in range(20):
        p = Pool()
        started = threading.Event()

        def batch(p=p, started=started):
            started.set()
            try:
                p.allocate_many(24, 50_000)
                outcomes.append("done")
            except PoolClosedError:
                outcomes.append("closed")

        t = threading.Thread(target=batch)
        t.start()
        started.wait()
        p.close()
        t.join()
        assert pool_sizes() == [], outcomes
