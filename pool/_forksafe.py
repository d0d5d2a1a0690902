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
            threading.RLock() if reentrant else threading.Lock())
        self._reentrant = reentrant
        self._owner: int | None = None
        self._held_for_fork = False
        _registry.add(self)

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

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
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


# Every live ForkSafeLock.  The package never holds two of them at once, so
# the order in which a fork takes them cannot deadlock.
_registry: weakref.WeakSet[ForkSafeLock] = weakref.WeakSet()


def _before() -> None:
    global _taken
    _taken = list(_registry)
    for lock in _taken:
        lock._before_fork()


def _after() -> None:
    global _taken
    for lock in reversed(_taken):
        lock._after_fork()
    _taken = []


_taken: list[ForkSafeLock] = []

if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(before=_before, after_in_parent=_after, after_in_child=_after)
