"""Arena.trim(): the chunks of released objects go back while the arena is open."""

import cffi
import pytest

from pool import Arena, PoolClosedError

ffi = cffi.FFI()
ffi.cdef("struct node { struct node *next; long value; };")


def test_trim_after_release_gives_the_chunks_back():
    with Arena(ffi) as arena:
        objs = [arena.new("struct node *", {"value": k}) for k in range(50_000)]
        keep = objs[-1]
        before = arena.pool.stats()
        for o in objs[:-1]:
            arena.release(o)
        del objs
        releasable = arena.stats().pool.releasable_bytes
        assert releasable > before.held // 2
        assert arena.trim() == releasable
        assert arena.pool.stats().held == before.held - releasable
        assert keep.value == 49_999  # a live object's chunk stays
        fresh = arena.new("struct node *", {"value": 7})  # and the arena goes on
        assert fresh.value == 7
        del keep, fresh


def test_trim_on_a_closed_arena_and_on_its_pool_view():
    arena = Arena(ffi)
    with pytest.raises(AttributeError, match="trim"):
        arena.pool.trim()
    arena.close()
    with pytest.raises(PoolClosedError):
        arena.trim()


def test_the_oom_handler_may_trim():
    calls = []

    def handler(nbytes):
        calls.append(arena.trim())
        return calls[-1] > 0

    arena = Arena(ffi, heap_limit=300_000, oom_handler=handler)
    objs = [arena.new("struct node *") for _ in range(10_000)]
    for o in objs:
        arena.release(o)
    del objs
    big = [arena.new("long[]", 16) for _ in range(2_000)]  # 128-byte blocks: new chunks
    assert calls and calls[0] > 0 and len(big) == 2_000
    del big
    arena.close()
