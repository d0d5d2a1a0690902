"""A child forked while other threads use a thread-safe pool can use it."""

import os
import threading

import pytest
from helpers import wait_or_kill

from pool import Pool

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


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


def _fork_and_run(child_work, seconds=20):
    """Forks; the child runs child_work() and exits 0 on success.  Returns the
    child's wait status, or None if it hung (then it was killed)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            child_work()
            code = 0
        finally:
            os._exit(code)
    return wait_or_kill(pid, seconds)


def _fork_while_inside(enter, child_work):
    """Starts a thread that runs enter(inside, leave): it sets `inside` once it
    holds the package lock under test and waits for `leave` before going on.
    The main thread forks while that thread is inside, then lets it finish."""
    inside, leave = threading.Event(), threading.Event()
    t = threading.Thread(target=enter, args=(inside, leave))
    t.start()
    assert inside.wait(10)
    # The fork must wait for the thread to leave (the before-fork hook takes the
    # lock); let it leave shortly after the fork starts.
    threading.Timer(0.2, leave.set).start()
    try:
        return _fork_and_run(child_work)
    finally:
        leave.set()
        t.join()


def test_fork_while_another_thread_is_inside_default_pool(monkeypatch):
    """Row 1 of the reliability issue: default_pool()'s lock is taken before a
    fork and released after it, so the child's default_pool() never hangs."""
    from pool import core

    core._default_pool = None
    real_pool = core.Pool

    def slow_enter(inside, leave):
        class SlowPool(real_pool):  # holds default_pool's lock until told to go on
            def __init__(self, **kw):
                inside.set()
                leave.wait(10)
                super().__init__(**kw)

        monkeypatch.setattr(core, "Pool", SlowPool)
        core.default_pool()

    def child():
        monkeypatch.setattr(core, "Pool", real_pool)
        p = core.default_pool()
        p.deallocate(p.allocate(8), 8)

    status = _fork_while_inside(slow_enter, child)
    assert status is not None, "child hung: default_pool()'s lock was inherited held"
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    core._default_pool.close()
    core._default_pool = None


def test_fork_while_another_thread_refills_an_arena():
    """Row 2: an Arena's refill lock is taken before a fork and released after."""
    from pool import Arena

    arena = Arena()
    real = arena._pool.allocate_many

    def enter(inside, leave):
        from pool.arena import PREFETCH

        for _ in range(PREFETCH):  # the first refill's objects: the next new() refills
            arena.new("long *")

        def slow_allocate_many(n, count):  # runs under the arena's refill lock
            inside.set()
            leave.wait(10)
            return real(n, count)

        arena._pool.allocate_many = slow_allocate_many
        arena.new("long *")

    def child():
        arena._pool.allocate_many = real
        for _ in range(200):  # more than one prefetch: the child refills too
            arena.new("long *")[0] = 7

    status = _fork_while_inside(enter, child)
    assert status is not None, "child hung: the arena's refill lock was inherited held"
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    arena.close()


def test_fork_while_another_thread_uses_a_reference_pool():
    """The reference model's lock is fork-safe too."""
    from pool import ReferencePool

    ref = ReferencePool()

    def enter(inside, leave):
        with ref._lock:
            inside.set()
            leave.wait(10)

    def child():
        ref.deallocate(ref.allocate(8), 8)

    status = _fork_while_inside(enter, child)
    assert status is not None, "child hung: ReferencePool's lock was inherited held"
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_a_lock_created_while_a_fork_is_taking_the_locks_is_taken_too():
    """Issue 20 row 1: the fork hook's view of the registry cannot miss a lock
    that another thread creates (an Arena, say) while the hook is waiting for
    an older lock, and then takes before the fork happens."""
    from pool._forksafe import ForkSafeLock

    fork_waits = threading.Event()  # the hook waits for `old`
    go = threading.Event()  # the hook wants `new`, or the fork is done

    class Old(ForkSafeLock):
        def _before_fork(self):
            fork_waits.set()
            super()._before_fork()

    class New(ForkSafeLock):
        def _before_fork(self):
            go.set()  # the hook is about to wait for `new`: let the thread release it
            super()._before_fork()

    old = Old()
    made = []

    def thread():
        with old:
            assert fork_waits.wait(20)
            made.append(New())  # registered while the fork is in progress
            made[0].acquire()
        go.wait(20)  # until the hook wants it (fixed) or the fork is over (bug)
        made[0].release()

    t = threading.Thread(target=thread)
    t.start()
    pid = os.fork()
    if pid == 0:
        os._exit(1 if made and made[0]._lock.locked() else 0)
    go.set()
    t.join()
    status = wait_or_kill(pid, seconds=20)
    assert status is not None
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (
        "the child inherited a lock created during the fork, held by a thread it lacks"
    )


def test_forks_while_another_thread_creates_arenas():
    """Issue 20 row 1: the registry may change at any time during a fork (the
    old hook iterated a WeakSet, which raised "Set changed size during
    iteration" and took no lock at all)."""
    import sys

    from pool import Arena

    keep = [Arena() for _ in range(300)]  # a long registry: a long iteration
    stop = threading.Event()
    errors = []
    old_hook = sys.unraisablehook
    sys.unraisablehook = lambda u: errors.append(u.exc_value)

    def churn():
        while not stop.is_set():
            a = Arena()
            a.new("long *")[0] = 1
            a.close()

    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    t = threading.Thread(target=churn)
    t.start()
    try:
        for _ in range(30):
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            status = wait_or_kill(pid, seconds=20)
            assert status is not None and os.WIFEXITED(status)
    finally:
        stop.set()
        t.join()
        sys.setswitchinterval(old_interval)
        sys.unraisablehook = old_hook
        for a in keep:
            a.close()
    assert errors == [], f"a fork hook failed: {errors[0]!r}"


@pytest.mark.parametrize(
    "module, call", [("pool.pymem", "hook_pool"), ("pool.numpy", "default_pool")]
)
def test_fork_while_another_thread_compiles_the_glue(monkeypatch, module, call):
    """Issue 20 row 2: no lock is held across a compiler run, so a child forked
    meanwhile can use the module (it used to wait forever for the module lock
    of a thread it does not have)."""
    import importlib

    from pool import _jit

    if module == "pool.numpy":
        pytest.importorskip("numpy")
    mod = importlib.import_module(module)
    mod._glue()  # compiled (or found in the cache) and loaded once, for real
    monkeypatch.setattr(mod, "_module", None)  # as at first use
    real_build = _jit.build

    def enter(inside, leave):
        def slow_build(*args, **kwargs):  # stands for gcc's second
            inside.set()
            leave.wait(10)
            return real_build(*args, **kwargs)

        monkeypatch.setattr(_jit, "build", slow_build)
        mod._glue()

    def child():
        getattr(mod, call)()

    status = _fork_while_inside(enter, child)
    assert status is not None, f"child hung in {module}.{call}(): a lock held across gcc"
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def _package_modules():
    import importlib
    import pkgutil

    import pool

    for name in pool.__all__:  # the lazy names first: importing pool.cffi_allocator before
        getattr(pool, name)  # the name is bound would leave the module in its place
    names = []
    deprecated_aliases = {"pool.testing.reference", "pool.testing.snapshot"}  # (they warn)
    for info in pkgutil.walk_packages(pool.__path__, "pool."):
        if info.name.endswith("__main__") or info.name in deprecated_aliases:
            continue  # __main__ runs a command line when imported
        try:
            importlib.import_module(info.name)
        except ImportError:  # an optional dependency (numpy, matplotlib) is missing
            continue
        names.append(info.name)
    return names


def test_every_lock_the_package_owns_is_fork_safe():
    """Issue 20 row 2: no plain threading lock in any module of the package,
    neither in its source nor among its modules' globals."""
    import _thread
    import sys
    from pathlib import Path

    import pool
    from pool._forksafe import ForkSafeLock

    plain = (
        type(threading.Lock()),
        type(threading.RLock()),
        threading.Condition,
        threading.Semaphore,
    )
    found = []
    for name in _package_modules():
        for attr, value in vars(sys.modules[name]).items():
            if isinstance(value, plain) and name != "pool._forksafe":
                found.append(f"{name}.{attr}")
    root = Path(pool.__file__).parent
    constructors = (
        "threading.Lock(",
        "threading.RLock(",
        "threading.Condition(",
        "threading.Semaphore(",
        "threading.BoundedSemaphore(",
        "allocate_lock(",
    )
    for path in sorted(root.rglob("*.py")):
        if path.name == "_forksafe.py":  # the registry's own lock: held only by the fork hooks
            continue
        text = path.read_text()
        found += [f"{path.relative_to(root)}: {c}" for c in constructors if c in text]
    assert found == [], f"plain locks (use pool._forksafe.ForkSafeLock): {found}"
    assert isinstance(_thread.allocate_lock(), type(threading.Lock()))  # the check sees them
    assert isinstance(sys.modules["pool.cffi_allocator"]._lock, ForkSafeLock)
