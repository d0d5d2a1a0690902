"""What Pool and ReferencePool share: option checks and option properties.

Both validate their options here, in the same order, so that a bad option
raises the same error from either.
"""

from . import _validate as v
from .errors import PoolMemoryError


class PoolBase:
    """Option handling common to the C-backed Pool and the reference model."""

    def _init_options(self, *, heap_limit, checked, thread_safe, align, max_small, refill,
                      oom_handler, debug):
        """Validates the constructor's options, stores them, and returns the
        checked values (heap_limit, checked, thread_safe, align, max_small,
        refill, debug) for the subclass to build its pool with."""
        heap_limit = v.as_heap_limit(heap_limit)
        checked = v.as_flag(checked, "checked")
        thread_safe = v.as_flag(thread_safe, "thread_safe")
        debug = v.as_flag(debug, "debug")
        align, max_small, refill = v.check_profile(align, max_small, refill)
        self._oom_handler = v.as_oom_handler(oom_handler)
        self._checked = checked
        self._debug = debug
        self._thread_safe = thread_safe
        self._align = align
        self._max_small = max_small
        self._refill = refill
        self._nclasses = max_small // align
        self._oom_calls = 0
        return heap_limit, checked, thread_safe, align, max_small, refill, debug

    def __enter__(self):
        self._check_open()
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def checked(self):
        return self._checked

    @property
    def debug(self):
        return self._debug

    @property
    def thread_safe(self):
        return self._thread_safe

    @property
    def align(self):
        return self._align

    @property
    def max_small(self):
        return self._max_small

    @property
    def refill(self):
        return self._refill

    def class_sizes(self):
        """Block size of each class, smallest first: (8, 16, ..., 128) classically."""
        return tuple(self._align * (i + 1) for i in range(self._nclasses))

    @property
    def oom_handler(self):
        return self._oom_handler

    @oom_handler.setter
    def oom_handler(self, handler):
        self._oom_handler = v.as_oom_handler(handler)

    def _call_oom_handler(self, nbytes):
        """Part B: after a refused system request of nbytes (and no salvage),
        outside any lock.  Returns when the call should be retried from the
        top; raises PoolMemoryError when there is no handler or it declines;
        an exception from the handler propagates."""
        handler = self._oom_handler
        if handler is None:
            raise PoolMemoryError(f"a system request of {nbytes} bytes was refused"
                                  f" (heap_limit={self.heap_limit})")
        self._oom_calls += 1
        if not handler(nbytes):
            raise PoolMemoryError(f"a system request of {nbytes} bytes was refused"
                                  " and the oom handler gave up")

    def _usable(self, recorded):
        """Bytes a block recorded with this size really has."""
        if recorded > self._max_small:
            return recorded
        return (recorded + self._align - 1) & ~(self._align - 1)

    def snapshot(self):
        """The full state with addresses normalised (pool.testing.snapshot.PoolSnapshot):
        equal for a Pool and a ReferencePool exactly when their states are."""
        from .testing.snapshot import snapshot

        return snapshot(self)
