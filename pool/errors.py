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


def not_a_block_message(where, n, checked):
    """InvalidBlockError's text for an address the pool refuses; n is the size
    given, None for the size-less calls (which an unchecked pool checks too)."""
    if n is not None or checked:
        return (f"{where} is not a live block of this pool (never handed out by it, "
                "already freed, or inside a block)" + ("" if n is None else f"; size given {n}"))
    return (f"{where} is no block of this pool (it starts no carved block of its chunks "
            "and is no large block)")
