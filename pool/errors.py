"""The package's exceptions: each also subclasses the builtin a caller expects.

Argument errors (a size that is not an int, is 0 or negative, or does not fit
a C size_t) are the builtins TypeError, ValueError and OverflowError; what
goes wrong with the pool itself is one of these.
"""

from __future__ import annotations


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


from ._sizes import round_up  # noqa: E402 (the classes above need nothing)

# ---- the one message builder ---------------------------------------------------------
# Pool, ReferencePool (and any faster path in front of them) detect a misuse
# and call one of these for the exception, so each message is written once and
# the differential tests can compare the wording of both implementations.


def where(addr: int, index: int | None = None) -> str:
    """How a message names a block: its address, and its entry in a batch."""
    return f"address {addr:#x}" + ("" if index is None else f" (entry {index})")


def class_name(n: int, align: int, max_small: int) -> str:
    """The size class a size belongs to, in words."""
    if n > max_small:
        return f"large, above {max_small}"
    return f"class of {round_up(n, align)}-byte blocks"


def closed(during_call: bool = False) -> PoolClosedError:
    return PoolClosedError(
        "the pool was closed during the call" if during_call else "the pool is closed"
    )


def not_live(
    addr: int, n: int | None, index: int | None = None, checked: bool = True
) -> InvalidBlockError:
    """An address the pool refuses; n is the size given, None for the
    size-less calls (which an unchecked pool checks too, against its block
    starts: there the address starts no carved block)."""
    if n is not None or checked:
        return InvalidBlockError(
            f"{where(addr, index)} is not a live block of this pool (never handed out by it, "
            "already freed, or inside a block)" + ("" if n is None else f"; size given {n}")
        )
    return InvalidBlockError(
        f"{where(addr, index)} is no block of this pool (it starts no carved block of its "
        "chunks and is no large block)"
    )


def wrong_class(
    addr: int, recorded: int, n: int, align: int, max_small: int, index: int | None = None
) -> SizeClassError:
    return SizeClassError(
        f"{where(addr, index)} was allocated with size {recorded} "
        f"({class_name(recorded, align, max_small)}), but size {n} "
        f"({class_name(n, align, max_small)}) was given"
    )


def duplicate(addr: int, index: int | None) -> InvalidBlockError:
    return InvalidBlockError(f"{where(addr, index)} appears twice in one batch")


def unknown_for_buffer(addr: int, checked: bool) -> InvalidBlockError:
    return InvalidBlockError(
        f"address {addr:#x} is not a live block of this pool"
        + ("" if checked else " (unchecked pools know only large blocks: pass n)")
    )


def beyond_block(n: int, usable: int, addr: int) -> ValueError:
    return ValueError(f"n={n} exceeds the {usable} usable bytes of block {addr:#x}")


def bad_class_index(cls: int, nclasses: int) -> ValueError:
    return ValueError(f"class index must be in 0..{nclasses - 1}, got {cls}")
