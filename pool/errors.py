"""The package's exceptions: each also subclasses the builtin a caller expects.

Argument errors (a size that is not an int, is 0 or negative, or does not fit
a C size_t) are the builtins TypeError, ValueError and OverflowError; what
goes wrong with the pool itself is one of these.
"""


class PoolError(Exception):
    """Base of every error that concerns a pool's state."""


class PoolClosedError(PoolError, ValueError):
    """The pool was closed; no call can use it any more."""


class InvalidBlockError(PoolError, ValueError):
    """An address that is not a live block of this pool (never handed out by
    it, already freed, an interior address, or twice in one batch)."""


class SizeClassError(InvalidBlockError):
    """A live block passed back with a size of another size class."""


class PoolMemoryError(PoolError, MemoryError):
    """The system, or the pool's heap limit, refused memory (after the
    oom handler, if any, declined to make room)."""
