"""A child forked while other threads use a thread-safe pool can use it."""

import os
import signal
import threading
import time

import pytest

from pool import Pool

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def wait_or_kill(pid, seconds):
    """The child's wait status, or None (after killing it) if it hangs."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def test_fork_while_threads_use_the_pool():
    pool = Pool()
    stop = threading.Event()

    def churn():
        while not stop.is_set():
            addrs = pool.allocate_many(24, 64)
            pool.deallocate_many(addrs, 24)

    threads = [threading.Thread(target=churn) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for _ in range(10):
            pid = os.fork()
            if pid == 0:  # child: only this thread exists; the lock must be free
                code = 1
                try:
                    a = pool.allocate(24)
                    pool.buffer(a)[:] = b"x" * 24
                    pool.deallocate(a, 24)
                    pool.deallocate_many(pool.allocate_many(100, 500), 100)
                    code = 0
                finally:
                    os._exit(code)
            status = wait_or_kill(pid, seconds=20)
            assert status is not None, "child hung: a pool lock was inherited held"
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    finally:
        stop.set()
        for t in threads:
            t.join()
        pool.close()
