"""The pool for other C extensions: pool.get_include(), the C API capsule,
Pool.capsule(), and the example extensions of examples/ built and run."""

import gc
import os
import platform
import shutil
import subprocess
import sys
import textwrap
import weakref
from pathlib import Path

import pytest

import pool
from pool import Pool, PoolClosedError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
cpython = pytest.mark.skipif(
    platform.python_implementation() != "CPython", reason="C extensions: CPython's C API"
)
needs_cc = pytest.mark.skipif(
    shutil.which(os.environ.get("CC", "gcc")) is None, reason="no C compiler"
)

# What both example stacks must do: nodes from the pool, the Pool kept alive by
# the capsule, a close() refusing new nodes while the held ones stay readable.
SCRIPT = textwrap.dedent(
    """
    import gc, weakref, pool, {module} as m
    p = pool.Pool()
    s = m.Stack(p.capsule())
    for i in range(100):
        s.push(i)
    assert len(s) == 100 and s.pop() == 99
    assert sum(c.live for c in p.stats().classes) == 99
    ref = weakref.ref(p)
    del p
    gc.collect()
    assert ref() is not None  # the Stack's capsule keeps the Pool alive
    assert s.pop() == 98
    q = pool.Pool()
    t = m.Stack(q.capsule())
    t.push(5)
    q.close()
    try:
        t.push(6)
    except MemoryError:
        pass
    else:
        raise AssertionError("a closed pool served a node")
    assert t.pop() == 5  # a held block outlives close()
    try:
        m.Stack(3)
    except TypeError as e:
        assert "pool handle capsule" in str(e), e
    else:
        raise AssertionError("Stack(3) accepted")
    del s, t
    gc.collect()
    assert ref() is None
    print("example ok")
    """
)


def build_and_run(folder: Path, module: str, tmp_path: Path) -> None:
    work = tmp_path / folder.name
    shutil.copytree(folder, work)
    env = {**os.environ, "PYTHONPATH": str(Path(pool.__file__).resolve().parents[1])}
    built = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert "warning" not in built.stderr.lower(), built.stderr
    ran = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", SCRIPT.format(module=module)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0 and "example ok" in ran.stdout, ran.stdout + ran.stderr


def test_get_include_names_the_headers():
    folder = Path(pool.get_include())
    assert (folder / "sgi_pool_capi.h").is_file() and (folder / "sgi_pool.h").is_file()
    text = (folder / "sgi_pool_capi.h").read_text()
    assert "SGI_POOL_CAPI_VERSION" in text and "sgi_pool_capi_handle" in text


@cpython
def test_the_capsule_keeps_the_pool_alive_and_a_closed_pool_gives_none():
    p = Pool()
    capsule = p.capsule()
    assert type(capsule).__name__ == "PyCapsule" and '"pool.sgi_pool"' in repr(capsule)
    ref = weakref.ref(p)
    del p
    gc.collect()
    assert ref() is not None
    del capsule
    gc.collect()
    assert ref() is None
    closed = Pool()
    closed.close()
    with pytest.raises(PoolClosedError):
        closed.capsule()


@cpython
def test_the_c_api_capsule_is_versioned():
    import ctypes

    from pool import _capi

    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, (ctypes.py_object, ctypes.c_char_p)
    version, size = (ctypes.c_uint32 * 2).from_address(get(_capi._C_API, _capi.NAME))
    header = (Path(pool.get_include()) / "sgi_pool_capi.h").read_text()
    assert f"#define SGI_POOL_CAPI_VERSION {version}" in header
    assert size >= 8 + 8 * header.count("__typeof__(")


@cpython
@needs_cc
def test_the_example_c_extension_builds_and_runs(tmp_path):
    build_and_run(EXAMPLES / "c-extension", "pool_stack", tmp_path)


@cpython
@needs_cc
@pytest.mark.slow  # cythonize and a compile: about 8 s
def test_the_example_cython_extension_builds_and_runs(tmp_path):
    pytest.importorskip("Cython", reason="Cython is not installed")
    build_and_run(EXAMPLES / "cython", "pool_cy_stack", tmp_path)
