"""Packaging: the compiled module imports, constants agree, the sdist builds."""

import pathlib
import subprocess
import sys
import tarfile


import pool
from pool import _validate
from pool._pool_c import lib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_compiled_module_imports():
    assert pool.Pool.__module__ == "pool.core"
    assert pathlib.Path(pool._pool_c.__file__).suffix in (".so", ".pyd")


def test_python_constants_match_c():
    assert _validate.MAX_MAX_SMALL == lib.SGI_POOL_MAX_MAX_SMALL
    assert _validate.MAX_REFILL == lib.SGI_POOL_MAX_REFILL
    p = pool.Pool()
    assert (p.align, p.max_small, p.refill) == (
        lib.SGI_POOL_DEFAULT_ALIGN, lib.SGI_POOL_DEFAULT_MAX_SMALL, lib.SGI_POOL_DEFAULT_REFILL)


def test_default_pool_is_shared():
    assert pool.default_pool() is pool.default_pool()
    a = pool.default_pool().allocate(16)
    pool.default_pool().deallocate(a, 16)


def test_demo_runs():
    out = subprocess.run([sys.executable, "-m", "pool", "demo"], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    assert "A+304" in out and "5464" in out


def test_sdist_builds_and_contains_the_c_core(tmp_path):
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation",
                    "--outdir", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    [sdist] = tmp_path.glob("*.tar.gz")
    names = tarfile.open(sdist).getnames()
    for needed in ("build_pool.py", "build_bench.py", "setup.py", "pyproject.toml",
                   "csrc/sgi_pool.c", "csrc/sgi_pool.h", "csrc/sgi_pool.cdef", "pool/core.py",
                   "build_fast.py", "pool/_fast.c",
                   "bench/bench_loops.c", "tools/trace_recorder/recorder.c"):
        assert any(n.endswith("/" + needed) for n in names), needed
