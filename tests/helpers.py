"""Helpers shared by the tests (import them: `from helpers import ...`)."""

import gc
import os
import signal
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
