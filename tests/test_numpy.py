"""pool.numpy: numpy's data-memory handler (NEP 49) on a pool."""

import gc
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

np = pytest.importorskip("numpy", reason="numpy is not installed (extra: pool[numpy])")
if shutil.which(os.environ.get("CC", "gcc")) is None:
    pytest.skip("no C compiler: pool.numpy compiles its glue at first use", allow_module_level=True)

import pool.numpy as pool_numpy  # noqa: E402
from pool import Pool, ReferencePool  # noqa: E402

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
        small = np.arange(4.0)        # 32 bytes: a list block
        big = np.arange(1000.0)       # 8000 bytes: a large block
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


def numpy_suite(module, *extra):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE)] + sys.path))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", module, "-q", "-p", "numpy_suite_plugin",
         "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning", *extra],
        capture_output=True, text=True, env=env, cwd=str(HERE.parent.parent), timeout=900)
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
