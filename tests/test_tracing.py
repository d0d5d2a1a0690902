"""tracemalloc sees Pool's blocks (fast path) in their own domain, with tracebacks."""

import tracemalloc

import pytest

pytest.importorskip("pool._pool_c")

from pool import Pool, tracing  # noqa: E402

pytestmark = pytest.mark.skipif(not tracing.reported(),
                                reason="the pure-cffi path (POOL_NO_FAST=1 or no pool._fast) "
                                       "does not report blocks to tracemalloc")


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
