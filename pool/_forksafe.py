"""Python-level locks that are safe across ``os.fork()``.

A child process has only the thread that forked.  A lock held by another
thread at that moment stays held in the child forever, and whatever it
guarded may be half-updated.  So every lock the package owns is a
`ForkSafeLock`: before a fork the forking thread takes all of them (waiting
for the threads inside to finish), and after it both parent and child
release them, as the C core does for its pool locks with ``pthread_atfork``.
Python runs these hooks before the C ``fork()``, so the Python locks are
always taken before the C ones, never the other way round.
"""

from __future__ import annotations

import _thread
import gc
import os
import threading
import weakref
from types import TracebackType


class ForkSafeLock:
    """A lock (`threading.Lock`, or `threading.RLock` with reentrant=True)
    that a fork never leaves held.

    A fork from the thread that holds a plain lock itself (an oom handler that
    forks while the package is inside a refill, say) does not wait for
    itself: that lock is skipped, and the child inherits it held by its only
    thread, which releases it as the call unwinds.  (A reentrant lock is
    simply taken once more.)"""

    __slots__ = ("_lock", "_reentrant", "_owner", "_held_for_fork", "__weakref__")

    def __init__(self, reentrant: bool = False) -> None:
        self._lock: threading.Lock | threading.RLock = (
            threading.RLock() if reentrant else threading.Lock()
        )
        self._reentrant = reentrant
        self._owner: int | None = None
        self._held_for_fork = False
        _register(self)

    def acquire(self) -> bool:
        self._lock.acquire()
        if not self._reentrant:
            self._owner = threading.get_ident()
        return True

    def release(self) -> None:
        if not self._reentrant:
            self._owner = None
        self._lock.release()

    def __enter__(self) -> ForkSafeLock:
        self.acquire()  # always True: it blocks until it has the lock
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    # ---- the fork hooks ------------------------------------------------------------

    def _before_fork(self) -> None:
        if not self._reentrant and self._owner == threading.get_ident():
            return  # the forking thread holds it: waiting would be for itself
        self._lock.acquire()
        self._held_for_fork = True

    def _after_fork(self) -> None:
        if self._held_for_fork:
            self._held_for_fork = False
            self._lock.release()


# Every live ForkSafeLock, by id.  A registration and the fork hook's reading
# of the registry are serialised by _registry_lock, which the forking thread
# holds from the moment it has taken every registered lock until the fork is
# over: a lock created meanwhile (another thread making an Arena, say) waits to
# be registered, so it cannot be taken and then inherited held by the child.
# A dead lock's entry is removed by its weak reference's callback without the
# lock (one dict operation, atomic under the GIL): the callback may run in a
# thread that holds _registry_lock (a garbage collection during the fork).
_registry: dict[int, weakref.ref[ForkSafeLock]] = {}
_registry_lock = _thread.allocate_lock()
_taken: list[ForkSafeLock] = []


def _register(lock: ForkSafeLock) -> None:
    key = id(lock)

    def unregister(_: weakref.ref[ForkSafeLock]) -> None:
        _registry.pop(key, None)

    # made before taking _registry_lock: creating it may run a garbage collection,
    # whose finalisers must not find that lock held by their own thread
    ref = weakref.ref(lock, unregister)
    with _registry_lock:
        _registry[key] = ref


def _before() -> None:
    """Takes every registered lock, then _registry_lock (kept until _after).
    The locks are taken without _registry_lock held, because a thread inside
    one of them may be registering a new lock; a lock registered while they
    were being taken is taken in another round.  The package never holds two
    of these locks at once, so the order in which they are taken cannot
    deadlock."""
    global _holding, _gc_was_enabled
    # No garbage collection until the fork is over: a finaliser run by this
    # thread could wait for a lock this thread now holds for the fork.
    _gc_was_enabled = gc.isenabled()
    gc.disable()
    taken: set[int] = set()
    while True:
        _registry_lock.acquire()
        fresh = [
            lock
            for key, ref in _registry.copy().items()
            if key not in taken and (lock := ref()) is not None
        ]
        if not fresh:
            break  # every registered lock is taken, and no new one can appear
        _registry_lock.release()
        for lock in fresh:
            lock._before_fork()
            _taken.append(lock)  # a strong reference: its id stays unique meanwhile
            taken.add(id(lock))
    _holding = True


def _after() -> None:
    """Releases what _before took (CPython runs it even when _before or the
    fork itself failed, so it undoes only what was done)."""
    global _holding
    for lock in reversed(_taken):
        lock._after_fork()
    _taken.clear()
    if _holding:
        _holding = False
        _registry_lock.release()
    if _gc_was_enabled:
        gc.enable()


_holding = False  # _before holds _registry_lock
_gc_was_enabled = False


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(before=_before, after_in_parent=_after, after_in_child=_after)
