"""Differential testing: `Pool` (the C core) against `ReferencePool` (the
executable specification), in lockstep.

`Lockstep.apply(op)` runs one operation on both pools and raises
`Divergence` if their results, raised exceptions, block contents or full
normalised states (`snapshot()`) differ.  Operations name blocks by an id
the test chose, so any sub-list of a run is still a valid run (operations
on ids that are not live are skipped): that is what lets `shrink` cut a
failing run down to a minimal one.

`python -m pool diff --ops N --seed S [--profile NAME|all]` runs a long
random campaign and, on a divergence, prints a minimal reproducing list.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Callable, Protocol, cast

from .._cli import Parser, positive_int
from .._progress import Progress
from .._types import PoolLike
from ..errors import PoolError
from ..model.snapshot import Location, Normaliser
from .shrink import shrink_ops

if TYPE_CHECKING:
    from .._types import OomHandler, PoolFactory

# An operation: its kind, then the kind's arguments (ids, sizes; see _Side._do).
Op = tuple[Any, ...]
# What one side did: ("ok" | "raised", the detail, ids freed by the oom handler).
Outcome = tuple[Any, ...]


class LockstepPool(PoolLike, Protocol):
    """PoolLike and the calls the engine also makes (Pool and ReferencePool
    have them all)."""

    def allocate_zeroed(self, n: int) -> int: ...

    def deallocate(self, addr: int, n: int | None = None) -> None: ...

    def deallocate_many(self, addrs: Iterable[int], n: int | None = None) -> None: ...

    def resize(self, addr: int, new_n: int) -> int: ...

    def usable_size(self, addr: int) -> int: ...

    def buffer(self, addr: int, n: int | None = None) -> memoryview: ...

    def __contains__(self, addr: object) -> bool: ...

    def trim(self, pages: bool = False) -> int: ...


# Pool options and oom-handler behaviour of each profile.
PROFILES: dict[str, dict[str, object]] = {
    "classic": {},
    "align16": {"align": 16},
    "small-refill": {"refill": 3},
    "refill1": {"refill": 1, "max_small": 64},
    "small-max": {"max_small": 48, "align": 16},
    "unchecked": {"checked": False},
    "tight": {"heap_limit": 3000, "refill": 4},
    "tight-unchecked": {"heap_limit": 2500, "checked": False},
    "oom-raise": {"heap_limit": 700, "oom": "raise"},
    "oom-free": {"heap_limit": 1500, "oom": "free"},
    # the handler frees the oldest block and trims: chunks go back, the pool grows again
    "oom-trim": {"heap_limit": 1500, "oom": "trim", "refill": 4},
    "debug": {"debug": True, "refill": 5},
    # blocks of up to 128 granules: the directory's scans past one 64-bit window
    "big-max": {"max_small": 1024, "refill": 4},
    # thread caches: batches, the cap, a refusal handing them back (a second
    # thread's call first: the pool switches from its bias to the caches)
    "thread-cache": {"thread_cache": True, "checked": False, "refill": 4, "second_thread": True},
    "tight-cache": {
        "thread_cache": True,
        "checked": False,
        "heap_limit": 2500,
        "refill": 4,
        "second_thread": True,
    },
    # a depot of two magazines of 32 bytes (batch 4): it fills, and pushes past it give back
    "cache-depot-bound": {
        "thread_cache": True,
        "checked": False,
        "refill": 4,
        "thread_cache_bytes": 256,
        "second_thread": True,
    },
    # the same option, one thread alone: the pool stays biased, on the lists
    "cache-one-thread": {"thread_cache": True, "checked": False, "refill": 4},
}

SIZES = (1, 7, 8, 9, 16, 17, 24, 40, 48, 63, 64, 65, 100, 120, 127, 128, 129, 200, 1000)
SMALL_ENOUGH = 48  # freed blocks this small are small in every profile (double-free misuse)
FAR_ADDRESS = 4096  # in no pool's chunks (the first page is never mapped for them)
FREED_MISUSES = ("double", "realloc-freed", "nosize-double", "resize-freed")
# size-less misuses every mode refuses (an unchecked pool checks size-less calls too)
NOSIZE_SAFE = ("nosize-interior",)
LARGE_ENOUGH = 129  # blocks this large are large in every profile (unchecked misuse)


# What the engine writes into a block and checks is still there: the whole
# block up to FULL_CHECK bytes.  A larger block (a trace may name gigabytes)
# is checked at sampled_ranges(): its first and last page whole and an 8-byte
# word at SPREAD offsets evenly between, so filling and checking a block of
# any size touches at most SPREAD + 2 of its pages (about FULL_CHECK bytes)
# and copies nothing larger than a page.
FULL_CHECK = 1 << 20
PAGE = 4096
SPREAD = 254


def checked_ranges(n: int, within: int | None = None) -> list[tuple[int, int]]:
    """The (start, end) byte ranges of an n-byte block that are filled and
    checked; with within, only their parts below it (the bytes a resize kept)."""
    if n <= FULL_CHECK:
        ranges = [(0, n)]
    else:
        stride = (n - 2 * PAGE) // SPREAD // 8 * 8
        ranges = [(0, PAGE)]
        ranges += [(PAGE + k * stride, PAGE + k * stride + 8) for k in range(SPREAD)]
        ranges.append((n - PAGE, n))
    if within is not None:
        ranges = [(a, min(b, within)) for a, b in ranges if a < within]
    return ranges


def _fill(view: memoryview, n: int, pattern: int) -> None:
    for a, b in checked_ranges(n):
        view[a:b] = bytes([pattern]) * (b - a)


def _holds(view: memoryview, n: int, pattern: int, within: int | None = None) -> bool:
    """Whether the block of n bytes (filled with pattern) still holds it."""
    return all(view[a:b] == bytes([pattern]) * (b - a) for a, b in checked_ranges(n, within))


class Divergence(AssertionError):
    """The C core and the reference disagree."""

    ops: list[Op]  # set by run_random: the operations up to the failing one


class Lockstep:
    """A Pool and a ReferencePool driven by the same operations."""

    def __init__(
        self,
        profile: str | dict[str, object] = "classic",
        pool_factory: PoolFactory | None = None,
        reference_factory: PoolFactory | None = None,
    ) -> None:
        from ..core import Pool
        from ..model.reference import ReferencePool

        options = dict(PROFILES[profile]) if isinstance(profile, str) else dict(profile)
        oom = options.pop("oom", None)
        second_thread = options.pop("second_thread", False)
        self.live: dict[int, tuple[int, int]] = {}  # id -> (size, pattern byte)
        self.freed: dict[int, int] = {}  # id -> size of blocks freed (for double-free operations)
        self.sides: list[_Side] = []
        factories: tuple[PoolFactory, PoolFactory] = (
            pool_factory or Pool,
            reference_factory or ReferencePool,
        )
        for factory in factories:
            if factory is not factories[0] and options.get("thread_cache"):
                # the model caches where the C pool can (not without
                # membarrier, nor under ASan or Valgrind)
                options["thread_cache"] = _caches_possible(self.sides[0].pool)
            side = _Side(factory(**options))
            if oom == "raise":
                side.pool.oom_handler = _raise_limit(side)
            elif oom == "free":
                side.pool.oom_handler = _free_oldest(side, self)
            elif oom == "trim":
                side.pool.oom_handler = _free_oldest(side, self, trim=True)
            self.sides.append(side)
        if second_thread:
            for side in self.sides:
                _second_thread_call(side.pool)

    def close(self) -> None:
        for side in self.sides:
            side.pool.close()

    # ---- running --------------------------------------------------------------

    def apply(self, op: Op) -> str | bool:
        """Runs op on both pools and compares everything; returns False if op
        was skipped (its ids are not live)."""
        kind: str = op[0]
        if not self._applicable(op):
            return False
        outcomes = [side.run(op, self) for side in self.sides]
        if outcomes[0] != outcomes[1]:
            self.mismatch(op, outcomes)
        self._commit(op, outcomes[0])
        self.agreed(op, outcomes[0])
        self.check(after=op)
        return kind

    # What a caller of the engine may override (pool.traces.replay does):

    def mismatch(self, op: Op, outcomes: Sequence[Outcome]) -> None:
        """The two sides' outcomes of op differ: raises."""
        raise Divergence(f"{op}: C core gave {outcomes[0]}, reference gave {outcomes[1]}")

    def agreed(self, op: Op, outcome: Outcome) -> None:
        """Both sides had this outcome of op (a refusal counts: both refused)."""

    def check(self, after: object = None) -> None:
        """Full states equal, and every live block still holds its pattern."""
        c_state, ref_state = (side.pool.snapshot() for side in self.sides)
        if c_state != ref_state:
            fields = c_state.differences(ref_state)
            detail = "; ".join(
                f"{f}: C {getattr(c_state, f)!r} / reference {getattr(ref_state, f)!r}"
                for f in fields
            )
            raise Divergence(f"after {after}: states differ in {detail}")
        for side in self.sides:
            for ident, (size, pattern) in self.live.items():
                if not _holds(side.pool.buffer(side.addr[ident], size), size, pattern):
                    raise Divergence(
                        f"after {after}: block {ident} of the {side.name} lost its contents"
                    )
            where = Normaliser(side.pool.chunks())
            side.where = {i: where(side.addr[i]) for i in self.live}
        if self.sides[0].where != self.sides[1].where:
            raise Divergence(
                f"after {after}: blocks sit at different places: "
                f"C {self.sides[0].where} / reference {self.sides[1].where}"
            )

    def _applicable(self, op: Op) -> bool:
        kind = op[0]
        if kind in ("alloc", "alloc_zeroed"):
            return op[1] not in self.live
        if kind in ("free", "realloc", "free_nosize", "resize", "query"):
            return op[1] in self.live
        if kind == "query_freed":  # a freed small block no live block sits on again
            return self._freed_small_untaken(op[1])
        if kind == "free_many_nosize":  # mixed sizes allowed
            return all(i in self.live for i in op[1]) and len(set(op[1])) == len(op[1])
        if kind == "alloc_many":
            return not set(op[1]) & set(self.live)
        if kind == "free_many":
            return (
                all(i in self.live for i in op[1])
                and len(set(op[1])) == len(op[1])
                and len({self.live[i][0] for i in op[1]}) <= 1
            )
        if kind == "bad":
            if op[2] in ("zero", "nosize-tail", "nosize-far"):
                return True
            if op[1] in self.live:
                return op[2] not in FREED_MISUSES
            return op[2] in FREED_MISUSES and self._freed_small_untaken(op[1])
        return True

    def _freed_small_untaken(self, ident: int) -> bool:
        """A freed small block whose address no live block has taken again and
        whose chunk no trim() released (large blocks and released chunks:
        malloc and the simulation reuse addresses differently, and two C
        pools' mallocs differ too)."""
        size = self.freed.get(ident)
        if size is None or size > self.sides[0].pool.max_small:
            return False
        # in a chunk of every side, and the same chunk and offset on each: with
        # two C pools (no model), malloc may put one side's new chunk where a
        # released one was (a trim, or an oom handler's)
        where = {Normaliser(side.pool.chunks())(side.addr[ident]) for side in self.sides}
        if None in where or len(where) > 1:
            return False
        return all(side.addr[ident] not in {side.addr[i] for i in self.live} for side in self.sides)

    def _commit(self, op: Op, outcome: Outcome) -> None:
        """Updates the ids after an operation that both sides ran alike."""
        kind = op[0]
        ok = outcome[0] == "ok"
        if kind in ("alloc", "alloc_zeroed") and ok:
            self.live[op[1]] = (op[2], _pattern(op[1]))
        elif kind == "alloc_many" and ok:
            for ident in op[1]:
                self.live[ident] = (op[2], _pattern(ident))
        elif kind in ("free", "free_nosize") and ok:
            self.freed[op[1]] = self.live.pop(op[1])[0]
        elif kind in ("free_many", "free_many_nosize") and ok:
            for ident in op[1]:
                self.freed[ident] = self.live.pop(ident)[0]
        elif kind in ("realloc", "resize") and ok:
            self.live[op[1]] = (op[2], _pattern(op[1], op[2]))
        for ident in outcome[2]:  # freed by an oom handler
            if ident in self.live:
                self.freed[ident] = self.live.pop(ident)[0]


def _caches_possible(pool: object) -> bool:
    """Whether a C Pool's thread caches serve its calls once a second thread
    has used it (until then it is biased, as a pool without them)."""
    from .._pool_c import lib

    handle = getattr(pool, "_handle", None)
    if handle is None:
        return True
    mode = lib.sgi_pool_locking(handle())
    return bool(mode in (lib.SGI_POOL_LOCKING_BIASED, lib.SGI_POOL_LOCKING_THREAD_CACHE))


def _second_thread_call(pool: PoolLike) -> None:
    """This thread's call (it owns the pool), then another thread's (stats():
    it takes the lock): the bias goes, and a thread-cache pool switches to its
    caches, which serve this thread's calls from then on."""
    pool.stats()
    helper = threading.Thread(target=pool.stats)
    helper.start()
    helper.join()


def _pattern(ident: int, salt: int = 0) -> int:
    return (ident * 37 + salt * 11) % 251 + 1


class _Side:
    """One pool of the pair, with its own addresses for each id."""

    def __init__(self, pool: PoolLike) -> None:
        # the engine also calls LockstepPool's extra methods: a pool without
        # them fails at its first such call, as it always did
        self.pool = cast(LockstepPool, pool)
        self.name = "reference" if type(pool).__name__ == "ReferencePool" else "C core"
        self.addr: dict[int, int] = {}
        self.where: dict[int, Location | None] = {}
        self.handler_freed: list[int] = []
        self.last_error: Exception | None = None

    def run(self, op: Op, step: Lockstep) -> Outcome:
        """(outcome, detail, ids freed by the handler): detail is the exception
        class name or, for a new block, its normalised place.  The exception
        itself is kept as last_error."""
        self.handler_freed = []
        self.last_error = None
        try:
            detail = self._do(op, step)
        except (PoolError, ValueError, TypeError, OverflowError, MemoryError) as exc:
            self.last_error = exc
            return ("raised", type(exc).__name__, tuple(self.handler_freed))
        return ("ok", detail, tuple(self.handler_freed))

    def _do(self, op: Op, step: Lockstep) -> object:
        pool, kind = self.pool, op[0]
        if kind == "alloc":
            _, ident, n = op
            addr = pool.allocate(n)
            self._born(ident, addr, n)
        elif kind == "alloc_zeroed":
            _, ident, n = op
            addr = pool.allocate_zeroed(n)
            # zero up to the usable size: the bytes past n are the caller's too
            usable = pool.usable_size(addr) if addr in pool else n
            if not _holds(self._view(addr, usable, op), usable, 0):
                raise Divergence(f"{op}: the {self.name} gave a block that is not all zeros")
            self._born(ident, addr, n)
        elif kind == "alloc_many":
            _, ids, n = op
            for ident, addr in zip(ids, pool.allocate_many(n, len(ids))):
                self._born(ident, addr, n)
        elif kind == "free":
            pool.deallocate(self.addr[op[1]], step.live[op[1]][0])
        elif kind == "free_many":
            n = step.live[op[1][0]][0] if op[1] else 1
            pool.deallocate_many([self.addr[i] for i in op[1]], n)
        elif kind == "free_nosize":
            pool.deallocate(self.addr[op[1]])
        elif kind == "free_many_nosize":
            pool.deallocate_many([self.addr[i] for i in op[1]])
        elif kind in ("query", "query_freed"):
            addr = self.addr[op[1]]
            known = addr in pool
            return (known, pool.usable_size(addr) if known else None)
        elif kind in ("realloc", "resize"):
            _, ident, new_n = op
            old_n, pattern = step.live[ident]
            if kind == "resize":
                addr = pool.resize(self.addr[ident], new_n)
            else:
                addr = pool.reallocate(self.addr[ident], old_n, new_n)
            kept = min(old_n, new_n)
            if not _holds(self._view(addr, kept, op), old_n, pattern, within=kept):
                raise Divergence(f"{op}: the {self.name} lost the block's contents")
            self.addr[ident] = addr
            _fill(self._view(addr, new_n, op), new_n, _pattern(ident, new_n))
        elif kind == "bad":
            self._misuse(op, step)
        elif kind == "limit":
            pool.heap_limit = op[1]
        elif kind == "trim":  # the bytes released are compared, as every result
            return pool.trim(pages=len(op) > 1 and bool(op[1]))  # ("trim", True): B.14
        return None

    def _born(self, ident: int, addr: int, n: int) -> None:
        self.addr[ident] = addr
        _fill(self._view(addr, n, ("alloc", ident, n)), n, _pattern(ident))

    def _view(self, addr: int, n: int, op: Op) -> memoryview:
        """The block's bytes; the pool refusing a block it just handed out is a
        finding of its own, not an outcome to compare."""
        try:
            return self.pool.buffer(addr, n)
        except Exception as exc:
            raise Divergence(
                f"{op}: the {self.name} refused buffer({addr:#x}, {n}): {exc!r}"
            ) from exc

    def _misuse(self, op: Op, step: Lockstep) -> None:
        """A call a checked pool must refuse (unchecked pools get only the
        misuses they also catch: bad large frees)."""
        _, ident, how = op
        if how == "zero":
            self.pool.allocate(0)
            return None
        if how == "nosize-tail":  # the uncarved tail's start is no block
            current = self.pool.current_chunk()
            if current is not None and current[0] != current[1]:
                self.pool.deallocate(current[0])
            return None
        if how == "nosize-far":  # an address in no chunk and no large block
            self.pool.deallocate(FAR_ADDRESS)
            return None
        addr = self.addr[ident]
        size = step.live[ident][0] if ident in step.live else None
        if how == "double" and size is None:
            self.pool.deallocate(addr, step.freed[ident])
        elif how == "wrong-class" and size is not None:
            # a small block freed as large, a large one as small
            max_small = self.pool.max_small
            self.pool.deallocate(addr, max_small + 1 if size <= max_small else 8)
        elif how == "interior" and size is not None:
            # inside the block, never another block's start
            self.pool.deallocate(addr + (4 if size <= 8 else 8), size)
        elif how == "realloc-freed" and size is None:
            self.pool.reallocate(addr, 1000, 2000)
        elif how == "dup-batch" and size is not None:
            self.pool.deallocate_many([addr, addr], size)
        elif how == "nosize-double" and size is None:
            self.pool.deallocate(addr)
        elif how == "resize-freed" and size is None:
            self.pool.resize(addr, 40)
        elif how == "nosize-interior" and size is not None:
            # misaligned, or a granule inside a block of more than one granule
            align = self.pool.align
            inside = size > self.pool.max_small or (size + align - 1) // align > 1
            self.pool.deallocate(addr + (align if inside else 4))
        elif how == "nosize-dup-batch" and size is not None:
            self.pool.deallocate_many([addr, addr])
        elif how == "nosize-large-interior" and size is not None:
            self.pool.resize(addr + 16, 8)  # inside a large block: in no chunk
        return None


def _raise_limit(side: _Side) -> OomHandler:
    """An oom handler that raises the heap limit by the refused size, up to a cap."""

    def handler(nbytes: int) -> bool:
        limit = side.pool.heap_limit
        if limit is None or limit > 200_000:
            return False
        side.pool.heap_limit = limit + nbytes
        return True

    return handler


def _free_oldest(side: _Side, step: Lockstep, trim: bool = False) -> OomHandler:
    """An oom handler that frees the oldest live block of the run, if any
    (with trim, then trims the pool: fully free chunks make room)."""

    def handler(nbytes: int) -> bool:
        for ident, (size, _) in step.live.items():
            if ident not in side.handler_freed:
                side.pool.deallocate(side.addr[ident], size)
                side.handler_freed.append(ident)
                if trim:
                    side.pool.trim()
                return True
        return False

    return handler


# ---- random operations --------------------------------------------------------


def random_op(rng: random.Random, step: Lockstep, next_id: int, checked: bool = True) -> Op:
    """One random operation for the current state; next_id is the first unused id."""
    live = list(step.live)
    r = rng.random()
    if live and r < 0.30:  # sized and size-less frees alike
        return ("free" if rng.random() < 0.5 else "free_nosize", rng.choice(live))
    if live and r < 0.42:
        return ("realloc" if rng.random() < 0.5 else "resize", rng.choice(live), rng.choice(SIZES))
    if live and r < 0.45:
        return ("query", rng.choice(live))
    if step.freed and r < 0.46:
        return ("query_freed", rng.choice(sorted(step.freed)))
    if live and r < 0.48:  # mixed sizes
        return ("free_many_nosize", tuple(rng.sample(live, rng.randint(1, min(len(live), 8)))))
    if r < 0.50:
        count = rng.randint(0, 25)
        return ("alloc_many", tuple(range(next_id, next_id + count)), rng.choice(SIZES))
    if live and r < 0.56:
        size = step.live[rng.choice(live)][0]
        same = [i for i in live if step.live[i][0] == size]
        return ("free_many", tuple(rng.sample(same, rng.randint(1, len(same)))))
    if r < 0.60:
        # each misuse on the kind of block it needs (ids still get checked when applied)
        freed_small = sorted(i for i, n in step.freed.items() if n <= SMALL_ENOUGH)
        # (an unchecked pool trusts small frees: only large blocks may be misused)
        misusable = live if checked else [i for i in live if step.live[i][0] >= LARGE_ENOUGH]
        large = [i for i in live if step.live[i][0] >= LARGE_ENOUGH]
        hows = ["zero", "nosize-tail", "nosize-far"]
        if live:
            hows += list(NOSIZE_SAFE)
        if large:
            hows += ["nosize-large-interior"]
        if misusable:
            hows += (
                ["wrong-class", "interior", "dup-batch", "nosize-dup-batch"]
                if checked
                else ["dup-batch", "nosize-dup-batch"]
            )
        if freed_small and checked:
            hows += list(FREED_MISUSES)
        how = rng.choice(hows)
        if how in ("zero", "nosize-tail", "nosize-far"):
            return ("bad", 0, how)
        if how in NOSIZE_SAFE:
            return ("bad", rng.choice(live), how)
        if how == "nosize-large-interior":
            return ("bad", rng.choice(large), how)
        pool_ids = freed_small if how in FREED_MISUSES else misusable
        return ("bad", rng.choice(pool_ids), how)
    if r < 0.62:
        return ("limit", rng.choice([None, 2000, 5000, 20000]))
    if r < 0.64:  # half of them with pages (B.14), chosen by id: no draw of rng
        return ("trim", True) if next_id % 2 else ("trim",)
    # every 7th id zeroed (the model zeroes, the C core must too); chosen by id,
    # not by rng, so that a seed still draws the same run as before
    kind = "alloc_zeroed" if next_id % 7 == 0 else "alloc"
    return (kind, next_id, rng.choice(SIZES))


def run_random(
    profile: str | dict[str, object],
    ops: int,
    seed: int,
    progress: Callable[[int], object] | None = None,
    factories: Sequence[PoolFactory] | None = None,
) -> list[Op]:
    """Runs `ops` random operations; returns the list applied, or raises
    Divergence with .ops set to the operations up to the failing one."""
    rng = random.Random(seed)
    step = Lockstep(profile, *(factories or ()))
    checked = step.sides[0].pool.checked
    applied: list[Op] = []
    next_id = 1
    try:
        for _ in range(ops):
            op = random_op(rng, step, next_id, checked)
            applied.append(op)
            if op[0] in ("alloc", "alloc_zeroed"):
                next_id += 1
            elif op[0] == "alloc_many":
                next_id += len(op[1])
            step.apply(op)
            if progress:
                progress(1)
    except Divergence as exc:
        exc.ops = applied
        raise
    finally:
        step.close()
    return applied


def replay_ops(
    profile: str | dict[str, object],
    ops: Sequence[Op],
    factories: Sequence[PoolFactory] | None = None,
) -> Divergence | None:
    """Runs a fixed operation list; returns the Divergence or None."""
    step = Lockstep(profile, *(factories or ()))
    try:
        for op in ops:
            step.apply(op)
    except Divergence as exc:
        return exc
    finally:
        step.close()
    return None


def shrink(
    profile: str | dict[str, object],
    ops: Sequence[Op],
    factories: Sequence[PoolFactory] | None = None,
) -> list[Op]:
    """A minimal sub-list of ops that still diverges."""
    return shrink_ops(ops, lambda candidate: replay_ops(profile, candidate, factories) is not None)


# ---- command line -----------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(
        prog="python -m pool diff",
        description="Random differential campaign: the C core against ReferencePool, in "
        "lockstep, over every profile (or one); on a divergence it prints a shrunk, minimal "
        "operation list and exits 1.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  python -m pool diff --ops 5000\n"
        "  python -m pool diff --ops 100000 --seed 7 --profile align16",
    )
    parser.add_argument("--ops", type=positive_int, default=20_000, help="operations per profile")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--profile", default="all", help=f"one of {', '.join(PROFILES)}, or all (default)"
    )
    args = parser.parse_args(argv)
    profiles = list(PROFILES) if args.profile == "all" else [args.profile]
    for name in profiles:
        if name not in PROFILES:
            parser.error(f"unknown profile {name!r}")
    for name in profiles:
        progress = Progress(args.ops, label=name, unit="op", lines=10)
        try:
            run_random(name, args.ops, args.seed, progress.advance)
        except Divergence as exc:
            progress.close()
            print(f"DIVERGENCE in profile {name} (seed {args.seed}): {exc}")
            print(f"shrinking {len(exc.ops)} operations ...", file=sys.stderr)
            minimal = shrink(name, exc.ops)
            print(f"minimal reproduction ({len(minimal)} operations, profile {name}):")
            for op in minimal:
                print(f"  {op!r}")
            print(f"replay: pool.testing.diff.replay_ops({name!r}, ops)")
            return 1
        progress.close()
        print(f"{name}: {args.ops} operations, C core and reference agree")
    return 0
