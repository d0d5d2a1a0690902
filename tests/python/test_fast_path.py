"""The CPython fast path (pool._fast) beside the cffi methods of pool/core.py.

The whole suite runs on both paths (CI runs it again with POOL_NO_FAST=1);
these tests check what is particular to the choice: which path runs, that
the two agree operation by operation, and that the process-wide state of the
one C core (cffi's copy) is what the fast path uses.
"""

import gc
import inspect
import os
import platform
import weakref
from array import array

import pytest
from pool._pool_c import lib

from pool import Pool, PoolClosedError, PoolMemoryError, ReferencePool, _fastpath, process_totals
from pool.testing.diff import run_random

NO_FAST = os.environ.get("POOL_NO_FAST", "") not in ("", "0")
fast_only = pytest.mark.skipif(
    not _fastpath.ACTIVE, reason=f"the fast path is not active: {_fastpath.WHY_NOT}"
)


CffiPool = _fastpath.cffi_twin(Pool)  # the cffi path, in any process


def test_the_expected_path_is_active():
    """On CPython the fast path runs unless POOL_NO_FAST=1 (a build that
    silently lost pool._fast fails here)."""
    expect = platform.python_implementation() == "CPython" and not NO_FAST
    assert expect == _fastpath.ACTIVE, _fastpath.WHY_NOT
    for name in _fastpath.HOT_METHODS:
        method = getattr(Pool, name)
        assert (method is _fastpath.CFFI_METHODS[name]) == (not expect)
        assert getattr(CffiPool, name) is _fastpath.CFFI_METHODS[name]
    assert "_p" in vars(CffiPool(checked=False))  # state as plain attributes


@fast_only
@pytest.mark.parametrize("name", _fastpath.HOT_METHODS)
def test_fast_methods_document_and_name_their_arguments_as_the_cffi_ones(name):
    fast, slow = getattr(Pool, name), _fastpath.CFFI_METHODS[name]

    def params(f):  # a builtin's self is positional-only: compare the rest
        return [
            (q.name, q.kind, q.default) for q in list(inspect.signature(f).parameters.values())[1:]
        ]

    assert params(fast) == params(slow)
    assert inspect.getdoc(fast).startswith(inspect.getdoc(slow))


@pytest.mark.parametrize("cls", [Pool, CffiPool])
def test_keyword_and_arity_errors(cls):
    with cls() as p:
        a = p.allocate(n=24)
        p.buffer(addr=a, n=4)[:] = b"abcd"
        assert bytes(p.buffer(a, n=None)[:4]) == b"abcd"
        a = p.reallocate(a, old_n=24, new_n=40)
        p.deallocate_many(addrs=p.allocate_many(count=3, n=8), n=8)
        for call in (
            lambda: p.allocate(),
            lambda: p.allocate(8, 8),
            lambda: p.allocate(m=8),
            lambda: p.deallocate(a, 40, n=40),
            lambda: p.buffer(),
        ):
            with pytest.raises(TypeError):
                call()
        p.deallocate(addr=a, n=40)
        assert p.live_blocks() == {}


@pytest.mark.parametrize("profile", ["classic", "tight", "oom-free", "unchecked", "debug"])
def test_fast_and_cffi_paths_agree_in_lockstep(profile):
    """The same random operations (misuse included) on a Pool and a CffiPool:
    equal results, errors and normalised states after every step."""
    run_random(profile, 300, seed=7, factories=(Pool, CffiPool))
    # (the fast path against the reference: tests/model/test_differential.py, on Pool's
    # default path)


@pytest.mark.parametrize("cls", [Pool, CffiPool])
def test_refused_request_is_read_from_the_one_core(cls):
    """The oom handler gets the size of the refused system request from
    cffi's sgi_pool_last_refused: the fast path's refusal is recorded in the
    same thread-local (one copy of the core), and equals the reference's."""
    seen = {}
    for kind, make in (("pool", cls), ("reference", ReferencePool)):
        asked = []
        p = make(heap_limit=100)
        p.oom_handler = lambda nbytes, asked=asked: asked.append(nbytes) and False
        with pytest.raises(PoolMemoryError, match="oom handler gave up"):
            p.allocate(32)
        if kind == "pool":
            assert lib.sgi_pool_last_refused() == asked[0]
        seen[kind] = asked
        p.close()
    assert seen["pool"] == seen["reference"] and seen["pool"][0] > 0


@pytest.mark.parametrize("cls", [Pool, CffiPool])
def test_process_totals_count_the_fast_paths_memory(cls):
    before = process_totals()
    p = cls(checked=False)
    big = p.allocate(5000)
    blocks, nbytes = process_totals()
    assert blocks == before[0] + 1 and nbytes == before[1] + 5000
    p.deallocate(big, 5000)
    assert process_totals() == before
    p.allocate_many(16, 10)
    assert process_totals()[0] == before[0] + 1  # one chunk
    p.close()
    assert process_totals() == before


@pytest.mark.parametrize("cls", [Pool, CffiPool, ReferencePool])
def test_handler_closing_the_pool_ends_in_pool_closed_error(cls):
    for call in (
        lambda p: p.allocate(3000),
        lambda p: p.allocate_many(64, 50),
        lambda p: p.reallocate(p.allocate(8), 8, 4000),
    ):
        p = cls(heap_limit=2000)
        p.allocate(8)
        p.oom_handler = lambda nbytes, p=p: p.close() or True
        with pytest.raises(PoolClosedError):
            call(p)
        assert p.closed

    # a refused first chunk, with the handler given to the constructor
    def handler(nbytes):
        p.close()
        return True

    p = cls(heap_limit=100, oom_handler=handler)
    with pytest.raises(PoolClosedError):
        p.allocate(8)
    assert p.closed


@pytest.mark.parametrize("cls", [Pool, CffiPool])
def test_failed_batch_is_rolled_back(cls):
    with cls(heap_limit=3000) as p:
        p.allocate(8)
        before = p.live_blocks()
        with pytest.raises(PoolMemoryError):
            p.allocate_many(64, 1000)
        assert p.live_blocks() == before  # the blocks the batch had taken were freed
        assert p.free_list_lengths()[7] > 0


@pytest.mark.parametrize("cls", [Pool, CffiPool])
@pytest.mark.parametrize(
    "container", [list, tuple, iter, lambda xs: array("Q", xs), lambda xs: array("L", xs)]
)
def test_batch_free_takes_any_iterable_of_addresses(cls, container):
    with cls() as p:
        p.deallocate_many(container(list(p.allocate_many(24, 30))), 24)
        assert p.live_blocks() == {}
        p.deallocate_many(container([]), 24)


@fast_only
def test_a_view_keeps_its_pool_object_alive():
    p = Pool()
    view = p.buffer(p.allocate(32))
    alive = weakref.ref(p)
    del p
    gc.collect()
    assert alive() is not None
    view[:5] = b"hello"
    assert bytes(view[:5]) == b"hello"
    del view
    gc.collect()
    assert alive() is None


@pytest.mark.parametrize("cls", [Pool, CffiPool])
def test_view_over_a_block_is_a_plain_writable_memoryview(cls):
    with cls() as p:
        a = p.allocate(40)
        v = p.buffer(a)
        assert (len(v), v.readonly, v.format, v.itemsize, v.contiguous) == (40, False, "B", 1, True)
        v[:] = bytes(range(40))
        assert bytes(p.buffer(a, 8)) == bytes(range(8))
        v.release()
        p.deallocate(a, 40)


def test_subclasses_keep_the_fast_path():
    class Mine(Pool):
        pass

    with Mine() as p:
        assert type(p).allocate is Pool.allocate
        p.deallocate(p.allocate(8), 8)
        assert p.live_blocks() == {}


@pytest.mark.parametrize("cls", [Pool, CffiPool])
def test_close_during_long_batches_ends_in_pool_closed_error(cls):
    """Batches long enough to run without the GIL on the fast path (4096+
    blocks) racing with close(): each either completes or raises
    PoolClosedError, and every byte goes back to the system."""
    import threading

    before = process_totals()
    for _ in range(10):
        p = cls()
        go, outcomes = threading.Event(), []

        def hammer(p=p, go=go, outcomes=outcomes):
            go.wait()
            try:
                while True:
                    p.deallocate_many(p.allocate_many(24, 5000), 24)
            except PoolClosedError:
                outcomes.append("closed")
            except Exception as exc:  # anything else is a failure
                outcomes.append(repr(exc))

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for t in threads:
            t.start()
        go.set()
        p.close()
        for t in threads:
            t.join()
        assert outcomes == ["closed"] * 3
        del p
    gc.collect()
    assert process_totals() == before


# around CPython's 30-bit int digits, read directly by the fast path; 2**64-1 is a
# size like any other (no "no size" marker: issue 20 row 10)
BOUNDARIES = [
    2**30 - 8,
    2**30,
    2**30 + 8,
    2**59 + 8,
    2**60 - 8,
    2**60,
    2**60 + 8,
    2**63 + 8,
    2**64 - 8,
    2**64 - 1,
]


@pytest.mark.parametrize("cls", [Pool, CffiPool])
@pytest.mark.parametrize("value", BOUNDARIES)
def test_large_ints_cross_intact(cls, value):
    """The address and size the core sees are the ints given: errors built
    from the C side's values name them exactly."""
    from pool import InvalidBlockError

    with cls(heap_limit=64) as p:
        with pytest.raises(InvalidBlockError, match=f"address {value:#x} is not a live block"):
            p.deallocate(value, 300)
        with pytest.raises(InvalidBlockError, match=f"address {value:#x} .*size given {value}"):
            p.deallocate(value, value)
        with pytest.raises(PoolMemoryError, match=f"request of {value} bytes was refused"):
            p.allocate(value)


@pytest.mark.parametrize("cls", [Pool, CffiPool])
def test_a_view_stored_on_its_pool_is_collected_with_it(cls):
    before = process_totals()
    p = cls()
    p.view = p.buffer(p.allocate(5000))  # a cycle through the view's reference to p
    alive = weakref.ref(p)
    del p
    gc.collect()
    assert alive() is None
    assert process_totals() == before
