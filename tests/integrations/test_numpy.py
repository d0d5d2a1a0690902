"""pool.numpy: numpy's data-memory handler (NEP 49) on a pool."""

import contextvars
import gc
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

np = pytest.importorskip("numpy", reason="numpy is not installed (extra: pool[numpy])")
if shutil.which(os.environ.get("CC", "gcc")) is None:
    pytest.skip("no C compiler: pool.numpy compiles its glue at first use", allow_module_level=True)

import pool.numpy as pool_numpy  # noqa: E402
from pool import Pool, ReferencePool, process_totals  # noqa: E402

HERE = Path(__file__).resolve().parent
CORE = "numpy._core" if hasattr(np, "_core") else "numpy.core"  # numpy 2 / numpy 1
handler_name = (getattr(np, "_core", None) or np.core).multiarray.get_handler_name


@pytest.fixture(autouse=True)
def cache_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("POOL_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "pool-cache"))


def live(p):
    return sum(c.live for c in p.stats().classes) + p.stats().large_live


def test_arrays_come_from_the_pool_and_outlive_the_handler():
    p = Pool(align=16)
    before = live(p)
    with pool_numpy.allocator(p):
        assert handler_name() == "sgi_pool"
        small = np.arange(4.0)  # 32 bytes: a list block
        big = np.arange(1000.0)  # 8000 bytes: a large block
        empty = np.empty(0)
        grown = np.zeros(3)
        grown.resize(500, refcheck=False)  # numpy's realloc: size-less, the directory answers
    assert handler_name() == "default_allocator"
    for a in (small, big, empty, grown):
        assert handler_name(a) == "sgi_pool"
    # small and empty are list blocks, grown a large block of the pool (its realloc), big's
    # 8000 bytes the system allocator's (as numpy's default handler would)
    for a in (small, empty, grown):
        assert a.ctypes.data in p
    assert big.ctypes.data not in p
    assert live(p) == before + 3
    assert small.sum() == 6.0 and big.sum() == 499500.0 and grown[:3].sum() == 0.0
    assert grown[3:].sum() == 0.0  # resize zero-fills the new part
    del small, big, empty, grown, a
    gc.collect()
    assert live(p) == before
    assert handler_name(np.empty(3)) == "default_allocator"


def test_install_uninstall_and_the_default_pool():
    pool_numpy.install()
    try:
        a = np.ones(8)
        assert handler_name(a) == "sgi_pool"
        assert pool_numpy.default_pool().stats().heap_size > 0
    finally:
        pool_numpy.uninstall()
    assert handler_name() == "default_allocator"
    with pytest.raises(RuntimeError, match="no handler installed"):
        pool_numpy.uninstall()


def test_refuses_unfit_pools():
    with pytest.raises(ValueError, match="thread-safe"):
        pool_numpy.install(Pool(thread_safe=False))
    with pytest.raises(TypeError, match="ReferencePool"):
        pool_numpy.install(ReferencePool())
    assert handler_name() == "default_allocator"


def served_by(p):
    """Whether a new small array in the calling context gets its data from p."""
    a = np.empty(4)  # kept alive while asked: a freed block is not "in" a checked pool
    return a.ctypes.data in p


def test_each_thread_restores_what_its_own_context_had():
    # numpy's handler is a context variable; install()/uninstall()/allocator() must restore
    # what *this* context had, whatever other threads did in between (issue 20, row 5).
    p1, p2, p3 = (Pool(align=16) for _ in range(3))
    entered, main_switched = threading.Event(), threading.Event()
    seen, errors = {}, []

    def worker():
        try:
            with pytest.raises(RuntimeError, match="no handler installed"):
                pool_numpy.uninstall()  # the main thread's install() is not this thread's
            with pool_numpy.allocator(p2):
                seen["inside"] = served_by(p2)
                entered.set()
                assert main_switched.wait(60)
            seen["after"] = handler_name()
            seen["after_from_p1"] = served_by(p1)
        except BaseException as e:  # reported by the main thread
            errors.append(e)
            entered.set()

    pool_numpy.install(p1)
    try:
        t = threading.Thread(target=worker)
        t.start()
        assert entered.wait(60)
        pool_numpy.install(p3)  # interleaved with the worker's allocator(p2)
        main_switched.set()
        t.join()
        assert not errors, errors
        assert served_by(p3)
        pool_numpy.uninstall()  # back to p1 in this thread
        assert served_by(p1)
    finally:
        pool_numpy.uninstall()
    assert handler_name() == "default_allocator"
    assert seen == {"inside": True, "after": "default_allocator", "after_from_p1": False}


def test_a_copied_context_keeps_its_handler_to_itself():
    p = Pool(align=16)

    def inside():
        pool_numpy.install(p)
        return served_by(p)

    ctx = contextvars.copy_context()
    assert ctx.run(inside)
    assert handler_name() == "default_allocator" and not served_by(p)
    with pytest.raises(RuntimeError, match="no handler installed"):
        pool_numpy.uninstall()
    assert ctx.run(handler_name) == "sgi_pool"
    ctx.run(pool_numpy.uninstall)
    assert ctx.run(handler_name) == "default_allocator"


def test_installing_keeps_numpys_error_state_and_pins_it_in_the_context():
    # a handler gives the thread a context, where numpy 2's error state, unset there, would
    # be looked up the slow way on every ufunc call: install() sets it to what it was
    extobj = getattr(getattr(np, "_core", None), "umath", None)
    extobj = getattr(extobj, "_extobj_contextvar", None)  # numpy 2; older numpy: per thread

    def inside():
        def state():
            return np.geterr(), np.getbufsize(), np.geterrcall()

        assert extobj is None or extobj not in contextvars.copy_context()
        with pool_numpy.allocator():
            assert extobj is None or extobj in contextvars.copy_context()
        np.seterrcall(print)  # (sets it too)
        before = state()
        with pool_numpy.allocator():
            assert state() == before
            with np.errstate(divide="ignore"):
                assert np.geterr()["divide"] == "ignore"
                assert (np.ones(3) / 0.0).tolist() == [np.inf] * 3
            assert state() == before
        assert state() == before

    contextvars.Context().run(inside)  # an empty context: the error state unset at first


def test_allocator_restores_the_state_it_entered():
    p, q = Pool(align=16), Pool(align=16)
    with pool_numpy.allocator(p):
        pool_numpy.install(q)  # unbalanced: allocator's exit undoes it too
        assert served_by(q)
    assert handler_name() == "default_allocator"
    with pytest.raises(RuntimeError, match="no handler installed"):
        pool_numpy.uninstall()


CLOSE_UNDER_ARRAYS = """
import gc, sys
import numpy as np, pool.numpy as pool_numpy
from pool import Pool, process_totals
p = Pool(align=16, checked=sys.argv[1] == "checked")
with pool_numpy.allocator(p):
    a = np.arange(4.0)              # a block of the pool
    b = np.arange(3.0)
    big = np.arange(1000.0)         # 8000 bytes: the system's
    assert a.ctypes.data in p and big.ctypes.data not in p
    held = process_totals()
    p.close()                       # arrays of the pool alive: its memory stays
    assert process_totals() == held, (process_totals(), held)
    try:
        np.empty(4)                 # a closed pool serves nothing
        raise AssertionError("allocated from a closed pool")
    except MemoryError:
        pass
a.resize(100, refcheck=False)       # numpy's realloc: the data moves to the system's
assert a[:4].tolist() == [0.0, 1.0, 2.0, 3.0] and a[4:].sum() == 0.0
assert b.tolist() == [0.0, 1.0, 2.0]
b.resize(2, refcheck=False)         # a resize within the closed pool's block: moved out too
assert b.tolist() == [0.0, 1.0]
assert process_totals() < held      # a's and b's blocks gone: the pool's memory with them
big.resize(2000, refcheck=False)    # the system's block stays the system's
assert big[:1000].sum() == 499500.0
del a, b, big
gc.collect()
print("ok", process_totals()[0])
"""


@pytest.mark.parametrize("mode", ["checked", "unchecked"])
def test_arrays_outliving_a_closed_pool_keep_its_memory(mode):
    # close() with arrays alive: the pool's memory stays until the last of them goes, and
    # numpy's realloc never hands a pool block to the system's realloc (issue 20, row 6).
    done = subprocess.run(
        [sys.executable, "-c", CLOSE_UNDER_ARRAYS, mode],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
    )
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr[-2000:])
    assert done.stdout.split() == ["ok", "0"], done.stdout


def test_the_memory_goes_back_with_the_last_array():
    p = Pool(align=16)
    base = process_totals()
    with pool_numpy.allocator(p):
        a = [np.arange(4.0) for _ in range(50)]
    p.close()
    assert process_totals() > base  # still under the arrays
    del a[1:]
    assert process_totals() > base
    assert a[0].tolist() == [0.0, 1.0, 2.0, 3.0]
    del a
    assert process_totals() == base


LARGE_FREES = """
import gc, sys
import numpy as np
import pool.numpy as pool_numpy
from pool import Pool

def live(p):
    return sum(c.live for c in p.stats().classes) + p.stats().large_live

p = Pool(align=16, checked=sys.argv[1] == "checked")
with pool_numpy.allocator(p):
    for round in range(2):
        grown = np.zeros(3)
        grown.resize(500, refcheck=False)   # numpy's realloc: a large block of the pool
        shrunk = np.zeros(3)
        shrunk.resize(500, refcheck=False)
        shrunk.resize(4, refcheck=False)    # grown, then small again
        twice = np.zeros(3)
        twice.resize(300, refcheck=False)
        twice.resize(600, refcheck=False)   # large to large
        assert all(x.ctypes.data in p for x in (grown, shrunk, twice))
        assert live(p) == 3, live(p)
        bigs = [np.arange(1000.0) for _ in range(20)]  # the system's 8000 bytes
        del bigs                            # freed while the handler holds large pool blocks
        del grown, shrunk, twice            # numpy frees with their sizes: back to the pool
        gc.collect()
        assert live(p) == 0, live(p)
        bigs = [np.arange(1000.0) for _ in range(20)]
        del bigs                            # none held now: straight to the system's free
p.close()
print("ok")
"""


@pytest.mark.parametrize("mode", ["checked", "unchecked"])
def test_large_frees_tell_the_pools_grown_blocks_from_the_systems(mode):
    # numpy's free of more than 128 bytes goes to the system's free() while the handler
    # holds none of the pool's large blocks (which only numpy's realloc makes); the blocks
    # it grew, shrank or grew twice go back to the pool (a free() of one would leave it
    # live in the pool, and close() would then free it a second time).
    done = subprocess.run(
        [sys.executable, "-c", LARGE_FREES, mode],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
    )
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr[-2000:])
    assert done.stdout.split() == ["ok"], done.stdout


def numpy_suite(module, *extra):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE)] + sys.path))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--pyargs",
            module,
            "-q",
            "-p",
            "numpy_suite_plugin",
            "-p",
            "no:cacheprovider",
            "-W",
            "ignore::DeprecationWarning",
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(HERE.parents[2]),
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    found = re.search(r"SGI_POOL_NUMPY heap_size=(\d+) handler=(\S+)", done.stdout)
    assert found, done.stdout[-2000:]
    assert int(found.group(1)) > 0 and found.group(2) == "sgi_pool"
    assert re.search(r"\d+ passed", done.stdout)


@pytest.mark.slow  # numpy's own suite: a long campaign (CI runs it with --runslow)
def test_numpys_own_numeric_tests_pass_on_the_pool():
    numpy_suite(f"{CORE}.tests.test_numeric")


@pytest.mark.slow  # about 100 s and 16 GiB of RSS (the same without the pool)
def test_numpys_own_multiarray_tests_pass_on_the_pool():
    numpy_suite(f"{CORE}.tests.test_multiarray")


def test_handles_tells_the_pools_arrays_from_the_others():
    p = Pool(align=16)
    other = Pool(align=16)
    with pool_numpy.allocator(p):
        small = np.arange(4.0)  # a list block
        big = np.arange(1000.0)  # the system's (as numpy's default handler)
        grown = np.zeros(3)
        grown.resize(500, refcheck=False)  # a large block of the pool
    with pool_numpy.allocator():
        default = np.ones(2)
    plain = np.ones(2)
    assert pool_numpy.handles(small) and pool_numpy.handles(small, p)
    assert pool_numpy.handles(small[1:], p)  # a view asks the array that owns the data
    assert pool_numpy.handles(grown, p)
    assert not pool_numpy.handles(big) and not pool_numpy.handles(big, p)
    assert not pool_numpy.handles(plain)
    assert not pool_numpy.handles(small, other)
    assert pool_numpy.handles(default, pool_numpy.default_pool())
    assert not pool_numpy.handles(default, p)
    p.close()  # the array keeps its (held) block; the closed pool owns nothing any more
    assert not pool_numpy.handles(small, p) and small.sum() == 6.0


@pytest.mark.parametrize(
    ("args", "error"),
    [(([1.0],), "array must be a numpy.ndarray, got list"), ((np.ones(1), 3), "got int")],
)
def test_handles_refuses_what_is_no_array_or_pool(args, error):
    with pytest.raises(TypeError, match=error):
        pool_numpy.handles(*args)


def test_the_glue_targets_the_api_it_uses():
    # numpy >= 1.25 hides PyDataMem_SetHandler below NPY_TARGET_VERSION 1.22: without the
    # define the glue loaded with "undefined symbol: PyDataMem_SetHandler" there
    source = pool_numpy.SOURCE.read_text()
    assert "#define NPY_TARGET_VERSION NPY_1_22_API_VERSION" in source
    assert source.index("NPY_TARGET_VERSION") < source.index("#include <numpy/arrayobject.h>")


def listed_blocks_in_their_classes(p):
    """Every block on every free list is a carved block of that list's class."""
    carved = p.block_map()
    return all(
        carved.get(addr) == (cls + 1) * 16
        for cls in range(len(p.free_list_lengths()))
        for addr in p.free_list(cls)
    )


@pytest.mark.parametrize("checked", [False, True])
def test_sized_frees_push_each_block_on_its_own_classes_list(checked):
    # numpy's free passes a size, which the handler's small frees trust (no lookup of the
    # block's chunk, unchecked pools): the block must be of that size's class.  Two cases
    # would break that: a system block shrunk by numpy's realloc into the small sizes
    # (it moves into the pool) and an array resized to 0 elements (realloc to the item
    # size, free of 1 byte: size-less).
    p = Pool(align=16, checked=checked)
    before = live(p)
    with pool_numpy.allocator(p):
        small = [np.empty(k) for k in (1, 2, 4, 7, 16)]  # 8 to 128 bytes
        shrunk = np.arange(100.0)  # 800 bytes: the system's
        shrunk.resize(4, refcheck=False)  # numpy's realloc to 32 bytes: into the pool
        assert pool_numpy.handles(shrunk, p) and shrunk.tolist() == [0.0, 1.0, 2.0, 3.0]
        empty = np.zeros(3, dtype="S40")  # 120 bytes
        # older numpy reallocates to the item size (40: a 48-byte block), then frees 1 byte
        # (numpy 2.4.6 reallocates to 1 byte: this case is then sized like the others)
        empty.resize(0, refcheck=False)
        assert pool_numpy.handles(empty, p)
    assert live(p) == before + 7
    del small, shrunk, empty
    gc.collect()
    assert live(p) == before
    assert listed_blocks_in_their_classes(p)
    with pool_numpy.allocator(p):  # the blocks come back out for their own sizes
        again = [np.empty(k) for k in (1, 2, 4, 5, 7, 16)]
        assert all(pool_numpy.handles(a, p) for a in again)
    del again
    assert live(p) == before and listed_blocks_in_their_classes(p)
    p.close()


def test_sized_frees_of_arrays_outliving_a_closed_pool():
    # the held blocks' close() semantics with the sized free: a closed pool's blocks go
    # back to its retired memory (the size-less path), which goes with the last of them;
    # a block that numpy's realloc moved out to malloc at close is the system's.
    p = Pool(align=16)
    base = process_totals()
    with pool_numpy.allocator(p):
        a = [np.arange(float(k % 16 + 1)) for k in range(64)]
        moved = np.arange(4.0)
    p.close()
    assert process_totals() > base
    moved.resize(6, refcheck=False)  # realloc after close: to malloc
    assert moved[:4].tolist() == [0.0, 1.0, 2.0, 3.0] and not pool_numpy.handles(moved)
    del a[1:]
    assert process_totals() > base
    assert a[0].tolist() == [0.0]
    del a, moved
    gc.collect()
    assert process_totals() == base
