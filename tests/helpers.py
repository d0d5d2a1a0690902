"""Helpers shared by the tests (import them: `from helpers import ...`)."""

import gc
import os
import pathlib
import signal
import subprocess
import threading
import time

import pytest

from pool import Pool, ReferencePool, process_totals


def full_state(pool):
    """Everything a pool lets one observe, as one comparable value (read at
    one moment: pool.state()), plus what the single-purpose calls report."""
    return (
        pool.state(),
        pool.chunks(),
        pool.current_chunk(),
        pool.heap_size,
        pool.heap_limit,
        pool.live_blocks(),
        pool.block_map(),
        tuple(tuple(pool.free_list(c)) for c in range(len(pool.class_sizes()))),
    )


# Examples that hold for the C-backed Pool and the reference model alike are
# written once and run on both: `def test_x(make_pool): pool = make_pool(...)`.
IMPLEMENTATIONS = [Pool, ReferencePool]


def shared(pool):
    """This thread's call, then another thread's (stats(): both take the
    lock): a thread-cache pool switches from its bias to the caches, which
    serve this thread's calls from then on.  Returns pool."""
    pool.stats()
    helper = threading.Thread(target=pool.stats)
    helper.start()
    helper.join()
    return pool


@pytest.fixture(params=IMPLEMENTATIONS, ids=lambda cls: cls.__name__)
def make_pool(request):
    return request.param


def wait_or_kill(pid, seconds):
    """A child's wait status, or None (after killing it) if it hangs."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


@pytest.fixture
def no_leaks():
    """The test returns all the memory it took once its objects are gone."""
    gc.collect()
    before = process_totals()
    yield
    gc.collect()
    assert process_totals() == before


# ---- C programs built with the core ------------------------------------------------------

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORE_SOURCES = sorted(str(p) for p in (ROOT / "csrc").glob("*.c"))
C_WARNINGS = ["-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Wconversion", "-Werror"]
C_BUILDS = {"plain": ["-O2"], "tsan": ["-O1", "-g", "-fsanitize=thread"]}


def run_stress_program(tmp_path, name, build, fallback, args=()):
    """The C program NAME (in tests/c) built with the core (C_BUILDS[build], warnings as errors) and
    run with ARGS, TSan halting on a report; fallback: SGI_POOL_NO_BIAS=1 (no membarrier
    handshake: the lock).  Returns the finished process."""
    exe = tmp_path / name
    cmd = ["gcc", "-std=c11", "-D_GNU_SOURCE", *C_BUILDS[build], *C_WARNINGS]
    cmd += [f"-I{ROOT / 'csrc'}", *CORE_SOURCES, str(ROOT / "tests" / "c" / f"{name}.c")]
    subprocess.run([*cmd, "-pthread", "-o", str(exe)], check=True)
    env = dict(os.environ, TSAN_OPTIONS="halt_on_error=1 exitcode=66")
    env.pop("SGI_POOL_NO_BIAS", None)
    if fallback:
        env["SGI_POOL_NO_BIAS"] = "1"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300, env=env)


def join_to_the_end(thread, timeout=30.0):
    """thread.join(), then wait until its OS thread is gone.  join() returns
    when Python has deleted the thread's state, before the thread runs its
    pthread key destructors (where a thread cache is handed back), so blocks
    may still be in its cache just after join().  Linux (/proc): the task's
    entry goes only after the destructors; elsewhere join() alone."""
    tid = thread.native_id
    thread.join()
    task = f"/proc/self/task/{tid}"
    end = time.monotonic() + timeout
    while tid is not None and os.path.exists(task):
        assert time.monotonic() < end, f"thread {tid} did not end within {timeout} s"
        time.sleep(0.001)


def thread_caches_work():
    """Whether this process can run thread caches: a fresh cached pool says
    (BIASED: the caches come with a second thread; LOCK: never, no membarrier)."""
    from pool._pool_c import ffi, lib

    opts = ffi.new("sgi_pool_options *")
    lib.sgi_pool_options_init(opts)
    opts.thread_cache = 1
    p = lib.sgi_pool_create(opts)
    try:
        return lib.sgi_pool_locking(p) == lib.SGI_POOL_LOCKING_BIASED
    finally:
        lib.sgi_pool_destroy(p)
