"""Biased ownership of the default C profile (csrc/bias.h): the owner runs the
fast paths with no atomic; a second thread revokes the bias once.

C programs (tests/c/stress_bias.c and stress_revoke.c, built plain and under
ThreadSanitizer): the same addresses as a single-thread pool, a second thread
first touching the pool while its owner is mid-stream, revokers arriving at
random points of the owner's pops and pushes (with and without thread
caches), close from another thread, fork in the middle of use, every block's
contents checked.  From Python: which mode
a pool reports (sgi_pool_locking) before and after a second thread."""

import os
import pathlib
import shutil
import subprocess
import sys
import threading

import pytest
from helpers import run_stress_program
from pool._pool_c import ffi, lib

from pool import Pool

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _membarrier_works():
    """Whether this process could bias a pool: a fresh default C pool says."""
    p = lib.sgi_pool_create(ffi.NULL)
    try:
        return lib.sgi_pool_locking(p) != lib.SGI_POOL_LOCKING_LOCK
    finally:
        lib.sgi_pool_destroy(p)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.not_under_sanitizer("builds its own sanitized programs; runs in the normal suite")
@pytest.mark.parametrize("fallback", [False, True], ids=["bias", "lock-fallback"])
@pytest.mark.parametrize("build", ["plain", pytest.param("tsan", marks=pytest.mark.slow)])
def test_stress_bias_program(tmp_path, build, fallback):
    # fallback: the run-time fallback, the lock, as without membarrier
    result = run_stress_program(tmp_path, "stress_bias", build, fallback)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "all checks passed" in result.stdout
    assert "WARNING" not in result.stderr
    if fallback:
        assert f"bias: {lib.SGI_POOL_LOCKING_LOCK}" in result.stdout
    elif _membarrier_works():  # else every pool is locked and says so
        assert f"bias: {lib.SGI_POOL_LOCKING_BIASED}" in result.stdout


@pytest.mark.not_under_sanitizer("ASan builds keep the lock (no unlocked fast path)")
def test_fallback_from_python():
    """SGI_POOL_NO_BIAS=1 in a fresh interpreter: default pools are locked from the
    start and still correct across threads."""
    code = (
        "import threading\n"
        "from pool import Pool\n"
        "from pool._pool_c import lib\n"
        "p = Pool(checked=False)\n"
        "assert lib.sgi_pool_locking(p._handle()) == lib.SGI_POOL_LOCKING_LOCK\n"
        "def w():\n"
        "    for _ in range(2000):\n"
        "        a = p.allocate(40); p.buffer(a, 40)[:] = b'x' * 40\n"
        "        assert bytes(p.buffer(a, 40)) == b'x' * 40; p.deallocate(a, 40)\n"
        "ts = [threading.Thread(target=w) for _ in range(3)]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]\n"
        "assert lib.sgi_pool_locking(p._handle()) == lib.SGI_POOL_LOCKING_LOCK\n"
        "print('ok')\n"
    )
    env = dict(os.environ, SGI_POOL_NO_BIAS="1")
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok"


def _locking(pool):
    return lib.sgi_pool_locking(pool._handle())


@pytest.mark.not_under_sanitizer("ASan builds keep the lock (no unlocked fast path)")
def test_python_pool_reports_its_mode_and_a_second_thread_revokes():
    if not _membarrier_works():
        pytest.skip("membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) unavailable: pools are locked")
    with Pool(checked=False) as pool:
        assert _locking(pool) == lib.SGI_POOL_LOCKING_BIASED  # not owned yet
        addrs = [pool.allocate(32) for _ in range(100)]
        for a in addrs:
            pool.deallocate(a, 32)
        assert _locking(pool) == lib.SGI_POOL_LOCKING_BIASED  # this thread owns it

        def other():
            b = pool.allocate(32)
            pool.deallocate(b, 32)

        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert _locking(pool) == lib.SGI_POOL_LOCKING_BIAS_REVOKED
        assert pool.allocate(32) == addrs[-1]  # still the same LIFO list
    with Pool() as checked:  # checked pools are biased too, and revoked alike
        assert _locking(checked) == lib.SGI_POOL_LOCKING_BIASED
        a = checked.allocate(32)
        checked.deallocate(a, 32)
        t = threading.Thread(target=lambda: checked.deallocate(checked.allocate(32), 32))
        t.start()
        t.join()
        assert _locking(checked) == lib.SGI_POOL_LOCKING_BIAS_REVOKED
        with pytest.raises(ValueError):  # a refusal under the lock changes nothing
            checked.deallocate(a, 32)
    with Pool(debug=True) as filled:  # no fast path: locked from the start
        assert _locking(filled) == lib.SGI_POOL_LOCKING_LOCK
    with Pool(thread_safe=False, checked=False) as single:
        assert _locking(single) == lib.SGI_POOL_LOCKING_NONE


def test_python_threads_on_one_default_pool_keep_their_contents():
    """Four Python threads on one unchecked thread-safe pool (biased, then
    revoked by the second thread), each block filled with its thread's tag
    and checked before it is freed."""
    pool = Pool(checked=False)
    bad = []

    def work(tag):
        live = []
        for _ in range(3000):
            a = pool.allocate(24)
            pool.buffer(a, 24)[:] = bytes([tag]) * 24
            live.append(a)
            if len(live) > 50:
                old = live.pop(0)
                if bytes(pool.buffer(old, 24)) != bytes([tag]) * 24:
                    bad.append(old)
                pool.deallocate(old, 24)
        for a in live:
            pool.deallocate(a, 24)

    threads = [threading.Thread(target=work, args=(k + 1,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bad == []
    pool.close()


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.not_under_sanitizer("builds its own sanitized programs; runs in the normal suite")
@pytest.mark.parametrize("fallback", [False, True], ids=["bias", "lock-fallback"])
@pytest.mark.parametrize("build", ["plain", pytest.param("tsan", marks=pytest.mark.slow)])
def test_stress_revoke_program(tmp_path, build, fallback):
    """An owner churning while two threads revoke its bias (or switch the pool
    to thread caches) at random points: no block handed out twice or lost.
    (With bias_enter_as's re-check removed and 50 pause instructions before
    its flag store, 10 of 10 runs of 100 rounds failed; without the pauses the
    window is too short to hit: 0 of 10.)"""
    # the default run: 100 rounds (the broken handshake above failed 10 of 10 runs of
    # 100), 50 on the lock fallback (no handshake to catch out); 150 under TSan (slow)
    rounds = "150" if build == "tsan" else "50" if fallback else "100"
    result = run_stress_program(tmp_path, "stress_revoke", build, fallback, (rounds,))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "all checks passed" in result.stdout
    if fallback:
        assert f"bias: {lib.SGI_POOL_LOCKING_LOCK}" in result.stdout
    elif _membarrier_works():
        assert f"bias: {lib.SGI_POOL_LOCKING_BIASED}" in result.stdout
