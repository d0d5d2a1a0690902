"""The reference model (pool/model/reference.py) on its own: no C module needed.

Every expected value comes from docs/algorithm.md or is derived from it by
hand in the comments.  Examples that hold for the C-backed Pool as well (the
worked example, Part B's heap-limit example, the oom handler's outcomes,
misuse after close, debug fill, ...) are written once, on both pools, in
tests/core/ (the `make_pool` fixture of tests/helpers.py).
"""

import importlib.util
import os
import subprocess
import sys
import types
from array import array

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _import_reference():
    """pool.model.reference, also when the package __init__ cannot import the
    compiled module: then the package is loaded under another name, without
    its __init__ (the model needs only _validate, errors and stats)."""
    try:
        import pool.model.reference as ref

        return ref
    except ImportError:
        name = "_pool_without_c"
        pkg = types.ModuleType(name)
        pkg.__path__ = [os.path.join(ROOT, "pool")]
        sys.modules[name] = pkg
        sub = types.ModuleType(f"{name}.model")
        sub.__path__ = [os.path.join(ROOT, "pool", "model")]
        sys.modules[sub.__name__] = sub
        spec = importlib.util.spec_from_file_location(
            f"{name}.model.reference", os.path.join(ROOT, "pool", "model", "reference.py")
        )
        ref = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = ref
        spec.loader.exec_module(ref)
        return ref


R = _import_reference()
ReferencePool = R.ReferencePool
InvalidBlockError = R.InvalidBlockError
SizeClassError = R.SizeClassError
PoolMemoryError = R.PoolMemoryError


def lists(pool):
    """{class size: length} of the non-empty free lists."""
    return {size: n for size, n in zip(pool.class_sizes(), pool.free_list_lengths()) if n}


def snapshot(pool):
    """Everything observable about a pool's state."""
    return (
        pool.stats(),
        pool.chunks(),
        [pool.free_list(i) for i in range(len(pool.class_sizes()))],
        pool.current_chunk(),
        pool.live_blocks(),
        pool.heap_size,
        pool.heap_limit,
    )


# ---- the model stands alone ----------------------------------------------------------


def test_module_runs_without_the_c_core():
    """Loads pool.model.reference with pool._pool_c and pool.core made unimportable
    (and without running the package __init__, which imports the C module)."""
    code = f"""
import importlib.abc, sys, types
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in ("pool._pool_c", "pool.core", "cffi", "_cffi_backend"):
            raise ImportError("blocked: " + name)
        return None
sys.meta_path.insert(0, Block())
pkg = types.ModuleType("pool")
pkg.__path__ = [{os.path.join(ROOT, "pool")!r}]
sys.modules["pool"] = pkg
from pool.model.reference import ReferencePool
p = ReferencePool()
a = p.allocate(8)
assert p.chunks() == [(a, 320)], p.chunks()
assert "pool._pool_c" not in sys.modules and "pool.core" not in sys.modules
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_constants_match_validate():
    from_validate = sys.modules[R.v.__name__]
    assert (R.DEFAULT_ALIGN, R.DEFAULT_MAX_SMALL, R.DEFAULT_REFILL) == (8, 128, 20)
    assert R.DEFAULT_ALIGN in from_validate.ALIGNS
    p = ReferencePool()
    assert (p.align, p.max_small, p.refill) == (8, 128, 20)
    assert p.class_sizes() == tuple(range(8, 129, 8))
    assert p.checked is True and p.thread_safe is True and p.oom_handler is None


def test_formulas():
    a = R.SGIAllocator()
    assert [a.round_up(n) for n in (1, 8, 9, 16, 17, 128)] == [8, 8, 16, 16, 24, 128]
    assert [a.class_index(n) for n in (1, 8, 9, 16, 121, 128)] == [0, 0, 1, 1, 15, 15]
    b = R.SGIAllocator(align=16, max_small=256)
    assert [b.round_up(n) for n in (1, 16, 17)] == [16, 16, 32]
    assert [b.class_index(n) for n in (1, 16, 17, 256)] == [0, 0, 1, 15]


# ---- Part A: the worked example (the example itself: tests/core/test_algorithm_examples.py)


def test_exact_fit_leaves_an_empty_current_chunk():
    # allocate(8) takes A (320); 20 x 8 more carve A+160..A+320 exactly (branch 1)
    p = ReferencePool()
    A = p.allocate(8)
    for _ in range(19):
        p.allocate(8)
    assert p.allocate(8) == A + 160
    assert p.current_chunk() == (A + 320, A + 320)
    assert p.stats().chunk_left == 0


# ---- Part B: heap limit, refusals, salvage ------------------------------------------


def test_refusal_is_a_memory_error():
    p = ReferencePool(heap_limit=100)
    with pytest.raises(MemoryError):
        p.allocate(8)  # 320 > 100
    assert issubclass(PoolMemoryError, MemoryError)
    with pytest.raises(PoolMemoryError, match=r"of 129 bytes .*heap_limit=100"):
        p.allocate(129)
    assert p.stats().requests_refused == 2
    assert p.chunks() == [] and p.heap_size == 0


def test_salvage_from_a_larger_list():
    p = ReferencePool(heap_limit=320)
    A = p.allocate(8)  # A: 320; list 8: 19; chunk A+160..A+320
    assert p.allocate(128) == A + 160  # branch 2, one object; left A+288..A+320
    # allocate(128): leftover 32 -> list 32; 5144 refused; the 128 list is empty
    with pytest.raises(PoolMemoryError, match="5144"):
        p.allocate(128)
    assert lists(p) == {8: 19, 32: 1}
    assert p.current_chunk() is None

    # allocate(16): 2*320 + round_up(20) = 664 refused; scan 16, 24, 32: salvage A+288
    assert p.allocate(16) == A + 288
    st = p.stats()
    assert (st.requests_refused, st.salvages) == (2, 1)
    assert p.current_chunk() == (A + 320, A + 320)  # 32 bytes = 2 objects of 16
    assert lists(p) == {8: 19, 16: 1}
    assert p.free_list(1) == [A + 304]

    # allocate(24): 984 refused; 24..128 are empty, smaller lists are never scanned
    with pytest.raises(PoolMemoryError, match="984"):
        p.allocate(24)
    assert lists(p) == {8: 19, 16: 1}
    assert p.stats().requests_refused == 3 and p.stats().salvages == 1


def test_salvage_splits_a_block_into_several():
    p = ReferencePool(heap_limit=640)
    A = p.allocate(16)  # A: 640; list 16: A+16..A+304; chunk A+320..A+640
    assert p.chunks() == [(A, 640)]
    assert p.allocate(64) == A + 320  # 320 / 64 = 5 objects: the chunk is used up
    assert p.current_chunk() == (A + 640, A + 640)
    assert p.free_list(7) == [A + 384, A + 448, A + 512, A + 576]
    # allocate(8): 2*160 + round_up(640 >> 4 = 40) = 360 refused; list 8 empty,
    # list 16's head A+16 becomes the chunk: 2 objects of 8
    assert p.allocate(8) == A + 16
    assert p.free_list(0) == [A + 24]
    assert p.free_list(1)[0] == A + 32
    assert p.current_chunk() == (A + 32, A + 32)
    st = p.stats()
    assert (st.requests_refused, st.salvages, st.requests_granted) == (1, 1, 1)


def test_large_blocks_count_against_the_limit():
    p = ReferencePool(heap_limit=1000)
    a = p.allocate(600)
    with pytest.raises(PoolMemoryError, match="of 401 bytes"):
        p.allocate(401)
    b = p.allocate(400)  # held 1000: exactly the limit
    assert p.stats().large_bytes == 1000
    with pytest.raises(PoolMemoryError, match="of 320 bytes"):
        p.allocate(8)  # no salvage possible: all lists empty
    p.deallocate(a, 600)
    assert p.allocate(8) > 0 and p.heap_size == 320
    assert p.live_blocks()[b] == 400


# ---- the oom handler ---------------------------------------------------------------


def test_oom_handler_that_frees_a_block_of_the_same_pool():
    p = ReferencePool(heap_limit=1000)
    a = p.allocate(600)
    seen = []

    def handler(nbytes):
        seen.append(nbytes)
        p.deallocate(a, 600)
        return True

    p.oom_handler = handler
    b = p.allocate(700)
    assert seen == [700]
    assert p.live_blocks() == {b: 700}
    assert p.stats().oom_handler_calls == 1


def test_oom_handler_is_called_for_a_refused_large_reallocate():
    calls = []

    def handler(nbytes):
        calls.append(nbytes)
        p.heap_limit = 2000
        return True

    p = ReferencePool(heap_limit=1000, oom_handler=handler)
    a = p.allocate(500)
    p.buffer(a)[:4] = b"abcd"
    b = p.reallocate(a, 500, 1500)  # held - 500 + 1500 = 1500 > 1000
    assert calls == [1500]
    assert p.live_blocks() == {b: 1500}
    assert bytes(p.buffer(b, 4)) == b"abcd"
    st = p.stats()
    assert (st.requests_granted, st.requests_refused, st.large_bytes) == (2, 1, 1500)


# ---- misuse changes nothing -------------------------------------------------------


def _busy_pool(**options):
    p = ReferencePool(**options)
    blocks = {n: p.allocate(n) for n in (8, 16, 24, 40, 128, 200)}
    p.deallocate(blocks.pop(16), 16)
    return p, blocks


def test_misuse_leaves_the_state_unchanged():
    p, blocks = _busy_pool()
    before = snapshot(p)
    a8, a24, big = blocks[8], blocks[24], blocks[200]

    cases = [
        # never handed out
        (InvalidBlockError, "not a live block", lambda: p.deallocate(a8 + 8, 8)),
        (InvalidBlockError, "not a live block", lambda: p.deallocate(a8 + 1, 8)),  # inside a block
        (SizeClassError, "allocated with size 8", lambda: p.deallocate(a8, 9)),
        (SizeClassError, "large, above 128", lambda: p.deallocate(a8, 129)),
        (SizeClassError, "class of 24-byte blocks", lambda: p.deallocate(big, 24)),
        (InvalidBlockError, "not a live block", lambda: p.deallocate(0x12345678, 300)),
        (SizeClassError, "allocated with size 24", lambda: p.reallocate(a24, 8, 64)),
        (InvalidBlockError, "not a live block", lambda: p.reallocate(a24 + 24, 24, 64)),
        (InvalidBlockError, "appears twice", lambda: p.deallocate_many([a8, a8], 8)),
        (InvalidBlockError, "(entry 1)", lambda: p.deallocate_many([a24, a8, a24], 24)),
        (
            SizeClassError,
            "(entry 1) was allocated with size 128",
            lambda: p.deallocate_many(array("Q", [big, blocks[128], big]), 200),
        ),
        (
            InvalidBlockError,
            "(entry 1) appears twice",
            lambda: p.deallocate_many(array("Q", [big, big]), 200),
        ),
        (TypeError, "must be an int", lambda: p.allocate(1.5)),
        (TypeError, "must be an int", lambda: p.allocate(True)),
        (ValueError, "at least 1", lambda: p.allocate(0)),
        (OverflowError, "size_t", lambda: p.allocate(2**64)),
        (ValueError, "positive", lambda: p.deallocate(0, 8)),
        (TypeError, "must be an int", lambda: p.deallocate(a8, "8")),
        (ValueError, "at least 1", lambda: p.reallocate(a8, 8, 0)),
        (ValueError, "at least 0", lambda: p.allocate_many(8, -1)),
        (
            InvalidBlockError,
            "0x0 (entry 1) is not a live block",
            lambda: p.deallocate_many([a8, 0], 8),
        ),
        (ValueError, "class index", lambda: p.free_list(16)),
        (ValueError, "exceeds the 8 usable bytes", lambda: p.buffer(a8, 9)),
        (InvalidBlockError, "not a live block", lambda: p.buffer(a8 + 8)),
    ]
    for exc, text, call in cases:
        with pytest.raises(exc) as info:
            call()
        assert text in str(info.value), (text, str(info.value))
        assert snapshot(p) == before, text

    # a freed block is no longer live: a double free is refused
    p.deallocate(a8, 8)
    after_free = snapshot(p)
    with pytest.raises(InvalidBlockError):
        p.deallocate(a8, 8)
    assert snapshot(p) == after_free


# ---- batch calls ---------------------------------------------------------------------


def test_allocate_many_is_like_single_calls():
    batch = ReferencePool()
    single = ReferencePool()
    for n, count in [(8, 25), (24, 3), (200, 2), (128, 21), (8, 0)]:
        got = batch.allocate_many(n, count)
        assert isinstance(got, array) and got.typecode == "Q"
        assert list(got) == [single.allocate(n) for _ in range(count)]
    assert snapshot(batch) == snapshot(single)


def test_allocate_many_with_a_handler():
    calls = []

    def lift(nbytes):
        calls.append(nbytes)
        p.heap_limit = None
        return True

    p = ReferencePool(heap_limit=320, oom_handler=lift)
    got = p.allocate_many(8, 41)
    assert calls == [344]
    A = got[0]
    assert list(got[:40]) == [A + 8 * k for k in range(40)]
    assert p.chunks()[1] == (got[40], 344)

    def boom(nbytes):
        raise KeyError("boom")

    q = ReferencePool(heap_limit=320, oom_handler=boom)
    with pytest.raises(KeyError):
        q.allocate_many(8, 41)
    assert q.stats().classes[0].live == 0 and q.free_list_lengths()[0] == 40
    assert q.stats().oom_handler_calls == 1


# ---- reallocate and memory ---------------------------------------------------------


def test_reallocate_paths_and_contents():
    p = ReferencePool()
    a = p.allocate(5)
    assert p.live_blocks() == {a: 8}  # a small block is known by its block size
    p.buffer(a, 8)[:] = b"ABCDEFGH"
    # 2. same round_up: the same block (and the same block size)
    assert p.reallocate(a, 5, 8) == a
    assert p.live_blocks() == {a: 8}
    # 3. another class: a new block, min(old_n, new_n) bytes kept, the old one freed
    b = p.reallocate(a, 8, 40)
    assert b != a
    assert bytes(p.buffer(b, 8)) == b"ABCDEFGH"
    assert p.free_list(0)[0] == a
    # 3. to a large block
    c = p.reallocate(b, 40, 300)
    assert bytes(p.buffer(c, 8)) == b"ABCDEFGH"
    assert p.live_blocks() == {c: 300}
    # 1. large to large: a new system block, contents kept
    d = p.reallocate(c, 300, 5000)
    assert bytes(p.buffer(d, 8)) == b"ABCDEFGH"
    assert p.live_blocks() == {d: 5000}
    st = p.stats()
    assert (st.large_live, st.large_bytes) == (1, 5000)
    assert st.requests_granted == 3  # chunk, the 300-byte block, the realloc
    # 3. back to small: min(5000, 3) = 3 bytes kept
    e = p.reallocate(d, 5000, 3)
    assert bytes(p.buffer(e, 3)) == b"ABC"  # (buffer(e) is the whole 8-byte block)
    assert p.live_blocks() == {e: 8}
    assert p.stats().large_live == 0


def test_addresses_are_deterministic_and_aligned():
    p = ReferencePool()
    q = ReferencePool()
    for pool_ in (p, q):
        pool_.allocate(8)
        pool_.allocate(200)
        pool_.allocate(128)  # A+160, one object
        pool_.allocate(128)  # chunk B
    assert snapshot(p) == snapshot(q)
    A, B = p.chunks()[0][0], p.chunks()[1][0]
    assert A == R.FIRST_BASE
    assert all(base % 16 == 0 for base in (A, B, *p.live_blocks()))
    assert len({base >> 24 for base in (A, B, *p.live_blocks())}) == 3  # no overlap
