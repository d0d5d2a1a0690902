"""Delta debugging: the smallest operation list that still fails."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


def shrink_ops(ops: Iterable[T], still_fails: Callable[[list[T]], object]) -> list[T]:
    """A minimal sub-list of ops for which still_fails(sub-list) holds (delta
    debugging: drop ever smaller slices while it keeps failing)."""
    ops = list(ops)
    chunk = max(1, len(ops) // 2)
    while chunk >= 1:
        i, removed = 0, False
        while i < len(ops):
            candidate = ops[:i] + ops[i + chunk :]
            if candidate and still_fails(candidate):
                ops, removed = candidate, True
            else:
                i += chunk
        if not removed:
            chunk //= 2
    return ops
