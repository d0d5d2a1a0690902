"""The arena's bookkeeping: one record per refill run, not one per object.

A run is a stretch of adjacent blocks of one size that the arena took from its
pool in one refill; its objects are handed out in address order by ``next()``
on `pointers`, a C-level iterator (a map of the run's first pointer plus the
offsets of a range iterator: atomic under the GIL, so two threads never get
the same block), so how many are out is the range iterator's remaining length.  A
block above max_small is its own record.  `release()` is validated against
these records plus the set of blocks released and not handed out again.
"""

from __future__ import annotations

import bisect
import itertools
from array import array
from collections.abc import Iterator
from operator import length_hint
from typing import Any


class Run:
    """The run being handed out: count adjacent blocks of `block` bytes from
    `start`.  Only runs not used up have one; the ledger keeps the rest as
    numbers in flat arrays."""

    __slots__ = ("start", "block", "count", "seq", "claim", "pointers")

    def __init__(self, start: int, block: int, count: int, seq: int, base: Any) -> None:
        self.start, self.block, self.count, self.seq = start, block, count, seq
        # offsets not handed out yet
        self.claim: Iterator[int] = iter(range(0, count * block, block))
        # base: a cffi 'char *' at start
        self.pointers: Iterator[Any] = map(base.__add__, self.claim)

    @property
    def left(self) -> int:
        """Blocks not handed out yet."""
        return length_hint(self.claim)

    @property
    def handed(self) -> int:
        return self.count - length_hint(self.claim)


class Ledger:
    """Every run and large block of one arena, for release() and stats().
    Runs are four numbers each in flat arrays (sorted by start), so dropping
    the ledger frees a handful of buffers whatever the number of objects."""

    def __init__(self, max_run_bytes: int) -> None:
        self._max_run_bytes = max_run_bytes  # no run is longer: bounds the search below
        self._starts = array("Q")  # sorted run starts; the arrays below are parallel
        self._blocks = array("Q")
        self._counts = array("Q")
        self._seqs = array("Q")
        self._active: dict[int, Run] = {}  # seq -> Run, for runs still being handed out
        # address -> (seq, size) of each live block above max_small
        self._large: dict[int, tuple[int, int]] = {}
        self._large_out = 0  # such blocks handed out, ever
        self._large_bytes = 0  # and their bytes
        self._run_out = 0  # blocks of retired (used up) runs
        self._run_bytes = 0
        self.reused: set[int] = set()  # small addresses released (not handed out again since)
        self.released = 0
        self.released_bytes = 0
        self._given_back = 0  # claimed but never handed out (a failed initialiser)
        self._given_back_bytes = 0
        self._seq = itertools.count()

    def add_run(self, start: int, block: int, count: int, base: Any) -> Run:
        run = Run(start, block, count, next(self._seq), base)
        i = bisect.bisect_right(self._starts, start)
        self._starts.insert(i, start)
        self._blocks.insert(i, block)
        self._counts.insert(i, count)
        self._seqs.insert(i, run.seq)
        self._active[run.seq] = run
        return run

    def retire(self, run: Run) -> None:
        """run is used up: from now on its numbers say everything."""
        if self._active.pop(run.seq, None) is not None:
            self._run_out += run.count
            self._run_bytes += run.count * run.block

    def add_large(self, addr: int, size: int) -> None:
        self._large[addr] = (next(self._seq), size)
        self._large_out += 1
        self._large_bytes += size

    def live_size(self, addr: int) -> int | None:
        """The block size of the live object at addr, or None.  Memory can be
        reused after a release, so several records may cover addr: the newest
        one describes what is there now."""
        best = self._large.get(addr)
        best_seq = -1 if best is None else best[0]
        size = None if best is None else best[1]
        i = bisect.bisect_right(self._starts, addr) - 1
        while i >= 0 and self._starts[i] > addr - self._max_run_bytes:
            seq, block, count = self._seqs[i], self._blocks[i], self._counts[i]
            offset = addr - self._starts[i]
            if seq > best_seq and offset < count * block:
                best_seq = seq
                index, rest = divmod(offset, block)
                run = self._active.get(seq)
                handed = count if run is None else run.handed
                live = rest == 0 and index < handed and addr not in self.reused
                size = block if live else None
            i -= 1
        return size

    def release(self, addr: int, size: int) -> None:
        if self._large.pop(addr, None) is None:
            self.reused.add(addr)
        self.released += 1
        self.released_bytes += size

    def give_back(self, addr: int, size: int) -> None:
        """A block claimed for an object that was never handed out (its
        initialiser failed): freed as by release(), counted as never taken."""
        if self._large.pop(addr, None) is None:
            self.reused.add(addr)
        self._given_back += 1
        self._given_back_bytes += size

    def counts(self) -> tuple[int, int]:
        """(objects handed out, their bytes), released ones included."""
        out = self._large_out + self._run_out - self._given_back
        nbytes = self._large_bytes + self._run_bytes - self._given_back_bytes
        for run in self._active.values():
            h = run.handed
            out += h
            nbytes += h * run.block
        return out, nbytes
