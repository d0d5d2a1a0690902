"""`Arena`: C objects for cffi programs, with region lifetime, on an SGI pool.

Each arena owns a private `Pool`.  `new()` hands out cdata objects made by
cffi itself (an allocator from ``ffi.new_allocator``) whose memory comes from
that pool, so they follow exactly cffi's rules for ``ffi.new`` objects; the
whole region goes back to the system in one step once the arena is closed
*and* nothing handed out is still referenced from Python.

How the lifetime works: cffi's allocator asks `_Source.alloc` for the bytes
of each object and wraps the pointer it returns in cffi's own owning object,
which holds the allocator's `free` callable until it dies.  That callable is
a bound method of the region (`_Region` is a set, `free` its `discard`: a
no-op in C), so every object keeps the region alive, and so does everything
cffi lets keep an ``ffi.new`` object alive (``p[0]`` of a struct pointer,
``ffi.buffer(p)``).  Buffers are memoryviews of a ctypes exporter that
references the region.  The arena holds the region too, until `close()`.
When the last reference goes, the region's finaliser closes the pool.
(ctypes exporters rather than memoryview slices on purpose: the garbage
collector may clear a memoryview that cffi still holds a buffer of, which
crashes the interpreter; a ctypes array has no such state.)

Bookkeeping is per refill run (pool/arena/runs.py), so close() is O(1) in
the objects handed out and drops it.
"""

from __future__ import annotations

import collections
import ctypes
import functools
import gc
import itertools
import sys
import threading
import warnings
import weakref
from array import array
from collections.abc import Callable, Iterator
from typing import Any

from _cffi_backend import FFI as _BackendFFI

from .. import _fastpath
from .._base import NotCopyable
from .._forksafe import ForkSafeLock
from .._pool_c import lib
from .._readonly import ArenaPoolView
from .._sizes import round_up
from ..core import Pool
from ..errors import InvalidBlockError, PoolClosedError, PoolMemoryError
from ..stats import PoolStats
from .runs import Ledger, Run

# Blocks fetched from the pool by the first refill of one block size: one C
# call (and no work per object) instead of a call per object.  Each further
# refill doubles it up to PREFETCH_MAX (a refill's Python work, about 10 us,
# then costs a few ns per object), so a small arena stays small; halved while
# the pool refuses (heap_limit), down to one block at a time.
PREFETCH = 256
PREFETCH_MAX = 4096


# Finding the runs of adjacent blocks in a refill's addresses.  Reading the
# 64-bit addresses one by one makes an int of each, about 100 ns per block (as
# much as making the object), so they are handled as one big integer: the
# array's bytes read little-endian, 64 bits a field.
_ONES = int.from_bytes(array("Q", [1] * PREFETCH_MAX).tobytes(), "little")  # 1 in every field
_BIAS = 1 << 63
_NONZERO = bytes([0] + [1] * 255)  # translate(): every non-zero byte to 1
_HIGH = bytes([0] * 128 + [1] * 128)  # translate(): every byte with its top bit set to 1
_NATIVE = sys.byteorder == "little" and array("Q").itemsize == 8


def _run_ends(addrs: array[int], block: int) -> list[int]:
    """The end index of each run of adjacent blocks in addrs (a refill's
    addresses, in the order the pool gave them), in a few C-level passes over
    the whole array: every field of (addrs[1:] + 2**63 - addrs[:-1]) is
    2**63 + the difference of two neighbours, between 0 and 2**64 when every
    address is below 2**63, so no field borrows from the next; XOR
    2**63 + block leaves zero exactly where the neighbours are adjacent, and
    bytes.find finds the others."""
    n = len(addrs)
    raw = addrs.tobytes()
    if n == 1 or not _NATIVE or n > PREFETCH_MAX or raw[7::8].translate(_HIGH).find(1) >= 0:
        return _run_ends_slow(addrs, block)
    fields = 64 * (n - 1)
    ones = _ONES & ((1 << fields) - 1)
    whole = int.from_bytes(raw, "little")
    diffs = (whole >> 64) + _BIAS * ones - (whole & ((1 << fields) - 1))
    marks = (diffs ^ (_BIAS + block) * ones).to_bytes(8 * (n - 1), "little")
    marks = marks.translate(_NONZERO)
    ends = []
    pos = marks.find(1)
    while pos >= 0:  # one C-level search per break
        field = pos // 8
        ends.append(field + 1)
        pos = marks.find(1, 8 * field + 8)
    ends.append(n)
    return ends


def _run_ends_slow(addrs: array[int], block: int) -> list[int]:
    """_run_ends one address at a time (other byte orders, long arrays)."""
    out = []
    for i in range(1, len(addrs) + 1):
        if i == len(addrs) or addrs[i] != addrs[i - 1] + block:
            out.append(i)
    return out


_BACKEND = _BackendFFI()


def _exporter(region: _Region, addr: int, size: int) -> ctypes.Array[ctypes.c_char]:
    """A ctypes char array over [addr, addr + size) that keeps region alive."""
    arr = (ctypes.c_char * size).from_address(addr)  # ctypes caches the array type
    holder: Any = arr  # ctypes instances take any attribute; typeshed does not say so
    holder._region = region  # the reference that ties the memory's lifetime to Python's
    return arr


# Regions that died inside a garbage collection: their pools are closed when
# the collection ends, not at once.  In a collected cycle the collector runs
# every finaliser (__del__, this one included) in no fixed order before it
# frees any object (which runs ffi.gc destructors): closing the pool at once
# would let those read freed memory.  For the same reason the arena's pool
# handle has no cffi finaliser of its own (Pool._detach): it is destroyed here.
# (weak reference to the dead region, its pool, its C handle)
_pending: list[tuple[weakref.ref[_Region], Pool, Any]] = []
_collecting = False


def _retire(pool: Pool, handle: Any) -> None:
    pool.close()
    lib.sgi_pool_destroy(handle)


def _after_collection(phase: str, info: dict[str, int]) -> None:
    global _collecting
    _collecting = phase == "start"
    if phase == "stop" and _pending:
        survivors = []
        for ref, pool, handle in _pending[:]:
            if ref() is None:
                _retire(pool, handle)
            else:  # resurrected by someone's __del__: its memory stays (a leak, not a risk)
                survivors.append((ref, pool, handle))
        _pending[:] = survivors


gc.callbacks.append(_after_collection)


class _Region(set[object]):
    """Owns the pool; closing it returns every byte of the arena at once.
    A set only so that its bound `discard` is a C callable that does nothing
    (the set stays empty) and holds the region: cffi's allocator calls it as
    `free` when an object dies, and each object holds it until then."""

    __slots__ = ("pool", "handle")
    pool: Pool
    handle: Any  # the cffi 'sgi_pool *'

    def __init__(self, pool: Pool) -> None:
        super().__init__()
        self.pool = pool
        self.handle = pool._detach()

    def __del__(self) -> None:
        if sys.is_finalizing():
            return  # interpreter exit: other objects' teardown may still read it
        if _collecting:
            _pending.append((weakref.ref(self), self.pool, self.handle))
        else:
            _retire(self.pool, self.handle)


class _Noted(threading.local):
    """Per thread: the pointers alloc_noted() gave for new() calls in progress."""

    def __init__(self) -> None:
        self.stack: list[Any] = []


def _raising(error: BaseException) -> Iterator[Any]:
    """A one-shot iterator that raises error: how _Runs hands a refill's
    error to the chain without ending it (chain.from_iterable drops a source
    that raises, for good)."""
    raise error
    yield  # a generator


class _Runs:
    """The runs of one block size, as an iterator of pointer iterators: the
    source of that size's `itertools.chain`.  The chain asks for the next run
    only when the current one is used up, so this Python code runs once per
    refill, never per object.  Holds the source weakly: the source holds the
    chain, and a cycle would keep the region until a garbage collection."""

    __slots__ = ("source", "block")

    def __init__(self, source: _Source, block: int) -> None:
        self.source = weakref.ref(source)
        self.block = block

    def __iter__(self) -> _Runs:
        return self

    def __next__(self) -> Iterator[Any]:
        source = self.source()
        try:
            if source is None:
                raise PoolClosedError("the arena is closed")
            return source.next_run(self.block).pointers
        except BaseException as e:  # noqa: BLE001 - handed to the caller of next(), unchanged
            return _raising(e)


class _Source:
    """Where an arena's bytes come from: per block size, the current refill
    run, claimed one block at a time.  Held by cffi's allocators (not the
    arena), so an arena dropped without close() is freed by reference counting.

    The hot path is C only: each block size has a cffi allocator whose alloc
    is ``partial(next, chain)``, the chain running through that size's refill
    runs (`_Runs`), each run a C-level iterator of pointers (runs.py)."""

    def __init__(self, ffi: Any, pool: Pool, region: _Region) -> None:
        self.pool = pool
        # The arena calls the oom handler itself, outside its lock (take()):
        # the pool would call it inside a refill, with the lock held.
        self.oom_handler = pool.oom_handler
        pool.oom_handler = None
        self.region: _Region | None = region
        self.ledger: Ledger | None = Ledger(PREFETCH_MAX * pool.max_small)
        self.reused = self.ledger.reused
        # block size -> the chain of its runs' pointers (the C-level alloc)
        self.chains: dict[int, Iterator[Any]] = {}
        # block size -> [current run, further runs of the last refill]
        self.runs: dict[int, list[Run]] = {}
        # block size -> blocks per refill (smaller after a refusal)
        self.prefetch: dict[int, int] = {}
        self.capped: set[int] = set()  # block sizes the pool refused a refill of
        self.makers_out = False  # maker() was called: close() ends the current runs
        self.lock = ForkSafeLock()  # one refill at a time
        self.noted = _Noted()  # alloc_noted()'s pointers, per thread
        self.char_p = ffi.typeof("char *")
        self.uintptr = ffi.typeof("uintptr_t")
        self.cast = _BACKEND.cast  # C-level, takes ctypes of any ffi (an in-line ffi's is Python)
        self.align = pool.align
        self.max_small = pool.max_small

    def chain(self, block: int) -> Iterator[Any]:
        """The pointers of every run of this (small) block size, in order."""
        chain = self.chains.get(block)
        if chain is None:
            chain = self.chains[block] = itertools.chain.from_iterable(_Runs(self, block))
        return chain

    def alloc(self, n: int) -> Any:
        """The alloc of cffi's generic allocator (open arrays, large objects):
        a 'char *' at a block of the region for n bytes (cffi zeroes it)."""
        if n > self.max_small:
            return self.cast(self.char_p, self.take_large(n))
        return next(self.chain(self.block_size(n)))

    def alloc_noted(self, n: int) -> Any:
        """alloc() for new() of an array with an initialiser: notes the pointer
        on this thread's stack, so that new() can give the block back if cffi's
        initialisation then fails (cffi's free of it is the region's no-op).
        A stack, because an initialiser may run Python code that calls new()."""
        p = self.alloc(n)
        self.noted.stack.append(p)
        return p

    def give_back(self, p: Any) -> None:
        """Returns the block of an object that was never handed out."""
        addr = int(self.cast(self.uintptr, p))
        with self.lock:
            ledger = self.ledger
            size = None if ledger is None else ledger.live_size(addr)
            if ledger is None or size is None:  # closed meanwhile: the region goes as a whole
                return
            self.pool.deallocate(addr, size)
            ledger.give_back(addr, size)

    def take(self, n: int) -> int:
        """The address of a block for n bytes (buffer())."""
        if n > self.max_small:
            return self.take_large(n)
        return int(self.cast(self.uintptr, next(self.chain(self.block_size(n)))))

    def take_large(self, n: int) -> int:
        """The address of a block above max_small: one pool call, one record."""
        while True:
            try:
                with self.lock:
                    ledger = self.ledger
                    if self.region is None or ledger is None:
                        raise PoolClosedError("the arena is closed")
                    addr = self.pool.allocate(n)
                    ledger.add_large(addr, n)
                    return addr
            except PoolMemoryError as e:
                self.after_refusal(e)

    def next_run(self, block: int) -> Run:
        """The run to hand out blocks of this size from, refilling as needed.
        When the pool refuses even one block, the oom handler runs with the
        lock released (it may call release(), stats() or new() of this
        arena), and the request starts again if it returns true."""
        while True:
            try:
                with self.lock:
                    return self.next_run_locked(block)
            except PoolMemoryError as e:
                self.after_refusal(e)

    def after_refusal(self, error: PoolMemoryError) -> None:
        """Calls the oom handler after a refusal; raises if there is none or
        it gives up."""
        nbytes = lib.sgi_pool_last_refused()  # per thread: the refusal just seen
        handler = self.oom_handler
        if handler is None or nbytes == 0:  # 0: the pool's bookkeeping, not a chunk
            raise error
        self.pool._oom_calls += 1  # the pool's stats count the arena's handler calls
        if not handler(nbytes):
            raise PoolMemoryError(
                f"a system request of {nbytes} bytes was refused and the oom handler gave up"
            )

    def next_run_locked(self, block: int) -> Run:
        ledger = self.ledger
        if self.region is None or ledger is None:
            raise PoolClosedError("the arena is closed")
        queue = self.runs.get(block)
        while queue:  # a run of the last refill not used up yet
            if queue[0].left:
                return queue[0]
            ledger.retire(queue.pop(0))
        queue = self.runs[block] = self.refill(block, ledger)
        return queue[0]

    def refill(self, block: int, ledger: Ledger) -> list[Run]:
        """Takes what the pool can give (PREFETCH blocks, twice as many each
        time up to PREFETCH_MAX, fewer under a heap limit, then one at a time)
        as runs of adjacent blocks."""
        count = self.prefetch.get(block, PREFETCH)
        while True:
            try:
                addrs = self.pool.allocate_many(block, count)
                break
            except PoolMemoryError:
                if count == 1:
                    raise
                count //= 2
                self.capped.add(block)  # refused once: no growth from now on
        self.prefetch[block] = count if block in self.capped else min(2 * count, PREFETCH_MAX)
        # runs of adjacent blocks: one per chunk the pool carved them from,
        # more when they come from free lists
        runs = []
        start = 0
        for end in _run_ends(addrs, block):
            a = addrs[start]
            runs.append(ledger.add_run(a, block, end - start, self.cast(self.char_p, a)))
            start = end
        if self.reused:  # released blocks come back only through a refill: live again
            self.reused.difference_update(addrs)
        return runs

    def block_size(self, n: int) -> int:
        """The pool block that holds n bytes (zero-size objects get one too,
        so that every object has its own address)."""
        n = n or 1
        return n if n > self.max_small else round_up(n, self.align)

    def close(self) -> None:
        if self.makers_out:
            # Use the current runs up (at most PREFETCH_MAX blocks a size), so
            # that a maker still referenced asks _Runs for the next run, which
            # raises PoolClosedError.  new() needs none of it: close() empties
            # the table its hot path looks in.
            with self.lock:
                for queue in self.runs.values():
                    for run in queue:
                        collections.deque(run.claim, maxlen=0)
        self.region = None
        self.chains = {}
        self.runs = {}
        self.ledger = None  # the bookkeeping goes at once
        self.reused = set()


def _has_var_array(item: Any) -> bool:
    """A struct or union whose last field is an open array: its size comes
    from new()'s initialiser."""
    if item.kind not in ("struct", "union") or not item.fields:
        return False
    last = item.fields[-1][1].type
    return bool(last.kind == "array" and last.length is None)


class ArenaStats:
    """Counts kept by an arena (a snapshot; see Arena.stats())."""

    __slots__ = ("objects", "released", "live", "live_bytes", "closed", "region_alive", "pool")

    def __init__(
        self,
        objects: int | None,
        released: int | None,
        live: int | None,
        live_bytes: int | None,
        closed: bool,
        region_alive: bool,
        pool: PoolStats | None,
    ) -> None:
        self.objects = objects  # objects and buffers handed out (None once closed)
        self.released = released  # returned early with release()
        self.live = live  # handed out and not released
        self.live_bytes = live_bytes  # their block bytes
        self.closed = closed  # close() was called: no more allocation
        self.region_alive = region_alive  # the region's memory is still held
        self.pool = pool  # the pool's PoolStats, or None once the region is gone

    def __repr__(self) -> str:
        return (
            f"ArenaStats(objects={self.objects}, released={self.released}, "
            f"live={self.live}, live_bytes={self.live_bytes}, closed={self.closed}, "
            f"region_alive={self.region_alive})"
        )


class Arena(NotCopyable):
    """Region-lifetime allocation of cffi objects from a private SGI pool.

    ``Arena(ffi=None, **pool_options)``: `ffi` is your own `cffi.FFI` (its
    cdef'd types can be used), or None for the package's ffi (basic C types
    only).  Pool options are those of `pool.Pool` (e.g. ``align=16`` for
    16-byte types, ``heap_limit``), except that ``checked`` defaults to False:
    the arena validates `release()` itself.  Use as a context manager or call
    `close()`.

    Lifetime: exactly cffi's rule for ``ffi.new`` objects.  The region stays
    alive while an object `new()` returned is referenced, and so does what
    cffi lets keep an ``ffi.new`` object alive: ``p[0]`` of a struct or union
    pointer and ``ffi.buffer(p)``.  What dangles for ``ffi.new`` dangles
    here: fields read out (``p.next``, ``ffi.addressof(p, "x")``), slices,
    items of arrays (``arr[i]``) and pointer arithmetic (``p + 1``,
    ``ffi.cast``).  In particular a pointer read *out of* memory does not own
    it: a ``cur = cur.next`` walk of a C-linked structure is valid only while
    the arena is open or some object it returned is referenced.  The safe
    pattern: keep the head (or the arena) referenced for the walk, e.g. do it
    inside ``with arena:``, or ``head = arena.new(...)`` kept until it ends.

    `close()` ends allocation; the memory goes back when nothing holds the
    region any more (`region_alive` says whether something still does, and
    close() then warns with a ResourceWarning, shown with ``-W default``).
    """

    def __init__(self, ffi: Any = None, **pool_options: Any) -> None:
        self._own_ffi = ffi is not None
        if ffi is None:
            from .._pool_c import ffi as package_ffi

            ffi = package_ffi
        self._ffi = ffi
        # The arena checks release() against its own record of what it handed
        # out and frees nothing else, so its pool need not check again.
        pool_options.setdefault("checked", False)
        pool = self._pool = Pool(**pool_options)  # private: users get the read-only view
        # The pool closes when the region dies (the last holder went away).
        region = _Region(pool)
        self._region_ref = weakref.ref(region)
        self._source = _Source(ffi, pool, region)
        self._view = ArenaPoolView(pool)
        # cffi's own allocators (the backend's, which take ctype objects):
        # objects are cffi's owning cdata, zeroed by cffi, freed by nothing
        # but the region (free is the region's no-op discard).
        self._backend = _BACKEND
        self._free: Any = region.discard
        # the generic one (open arrays, large objects): alloc is Python
        self._allocator: Any = self._backend.new_allocator(
            alloc=self._source.alloc, free=self._free, should_clear_after_alloc=True
        )
        # for arrays with an initialiser: the block goes back if initialising fails
        self._init_allocator: Any = self._backend.new_allocator(
            alloc=self._source.alloc_noted, free=self._free, should_clear_after_alloc=True
        )
        self._types: dict[Any, Any] = {}  # cdecl -> ctype, checked once
        # cdecl -> partial(allocator, ctype) for types of one size: new()'s hot path
        self._plans: dict[Any, Any] = {}
        self._sized: dict[int, Any] = {}  # block size -> its allocator (alloc all C)
        self._arrays: dict[Any, Any] = {}  # new_many()'s cdecl -> the ctype 'cdecl[]'
        self._assign: dict[Any, bool] = {}  # cdecl -> new(cdecl, init) assigns init after
        fast = _fastpath._fast
        if fast is not None and hasattr(fast, "ArenaNew"):
            # new()'s hot path in C (csrc/python/fast.c): a lookup in _plans and
            # one call, no Python frame; the rest goes to the method below.  It
            # holds the arena weakly: no cycle, so reference counting frees an
            # arena dropped without close().
            ref = weakref.ref(self)

            def slow(cdecl: Any, init: Any = None) -> Any:
                arena = ref()
                if arena is None:
                    raise PoolClosedError("the arena is closed")
                return arena._new(cdecl, init)

            self.__dict__["new"] = fast.ArenaNew(
                self._plans, self._assign, self._source.give_back, slow
            )

    # ---- lifetime --------------------------------------------------------------

    def close(self) -> None:
        """Ends allocation (`new`, `new_many` and `buffer` then raise
        PoolClosedError, a ValueError) and drops the bookkeeping, in O(1) of
        the objects handed out.  The region is returned to the system as soon
        as no object, buffer or slice handed out is referenced any more: now
        if none is.  If something still holds it, `region_alive` stays True
        and a ResourceWarning says so (often a leftover loop variable)."""
        source = self._source
        if source.region is None:
            return
        # the allocators hold the region (their free): they go with the arena's use
        self._allocator = self._init_allocator = self._free = None
        self._types, self._sized, self._arrays = {}, {}, {}
        self._plans.clear()  # in place: the C hot path of new() holds these dicts
        self._assign.clear()
        source.close()
        if self._region_ref() is not None:
            warnings.warn(
                "arena closed while objects it handed out are still referenced: "
                "its memory stays until they are dropped (arena.region_alive)",
                ResourceWarning,
                stacklevel=2,
            )

    @property
    def closed(self) -> bool:
        return self._source.region is None

    @property
    def region_alive(self) -> bool:
        """True while the region's memory is held: by the open arena, or after
        close() by some object, buffer or slice still referenced."""
        return self._region_ref() is not None

    def __enter__(self) -> Arena:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- allocation ------------------------------------------------------------

    def new(self, cdecl: Any, init: Any = None) -> Any:
        """Like ``ffi.new(cdecl, init)``: a zeroed (then initialised) object of a
        pointer or array type, e.g. ``"struct node *"`` or ``"int[]"``.  It is
        a cffi owning object: see help(pool.Arena) for what keeps it alive."""
        make = self._plans.get(cdecl)
        if make is None or init is not None:
            return self._new(cdecl, init)
        return make()  # cffi's allocator, its alloc a C-level next(): no Python runs

    def maker(self, cdecl: Any) -> Callable[[], Any]:
        """A callable that makes one object per call, as ``new(cdecl)`` does,
        for a pointer or fixed-size array type: cffi's allocator bound to the
        type, so no Python code of the arena runs per object (the loop form of
        new(); no initialiser: set the fields after).  It raises
        PoolClosedError once the arena is closed, and holds the region while
        it is referenced, as an object does."""
        if self._allocator is None:
            raise PoolClosedError("the arena is closed")
        ctype = self._types.get(cdecl)
        if ctype is None:
            ctype = self._checked_type(cdecl)
        if ctype.kind == "array" and ctype.length is None:
            raise TypeError(
                f"{cdecl!r} has no fixed size: a maker makes objects of one size "
                f"(use new({cdecl!r}, length))"
            )
        make = self._plans.get(cdecl)
        if make is None:
            self._source.give_back(self._first(cdecl, ctype))  # learns the size
            make = self._plans[cdecl]
        self._source.makers_out = True
        # init bound to None: the allocator's alloc serves one size, and an
        # initialiser could ask for more (a struct ending in an open array)
        return functools.partial(make.func, ctype, None)

    def _new(self, cdecl: Any, init: Any) -> Any:
        """new() off its hot path: a type seen for the first time, an
        initialiser, an open array."""
        allocator = self._allocator
        if allocator is None:
            raise PoolClosedError("the arena is closed")
        ctype = self._types.get(cdecl)
        if ctype is None:
            ctype = self._checked_type(cdecl)
        if init is None and ctype.kind == "array" and ctype.length is None:
            return allocator(ctype, None)  # ffi.new's error (an open array needs a length)
        assign = self._assign.get(cdecl)
        if assign is None:  # a pointer whose item has one size: init is assigned after
            assign = self._assign[cdecl] = ctype.kind == "pointer" and not _has_var_array(
                ctype.item
            )
        if init is None or assign:
            make = self._plans.get(cdecl)
            obj = self._first(cdecl, ctype) if make is None else make()
            if init is not None:
                try:  # what ffi.new does after zeroing: the item from init
                    obj[0] = init
                except BaseException:
                    self._source.give_back(obj)  # never handed out
                    raise
            return obj
        # arrays with an initialiser (its length may come from it), var-size structs
        source = self._source
        stack = source.noted.stack
        depth = len(stack)  # this call's pointer goes there (nested calls pop theirs)
        try:
            obj = self._init_allocator(ctype, init)
        except BaseException:
            if len(stack) > depth:  # allocated, then the initialiser failed: not handed out
                source.give_back(stack[depth])
            del stack[depth:]
            raise
        stack.pop()  # this call's: the nested ones popped theirs
        return obj

    def _first(self, cdecl: Any, ctype: Any) -> Any:
        """The first object of a type of one size, and new()'s maker of the
        next ones: cffi's allocator for its block size.  The size is the one
        cffi asks for (for 'char *' it asks two bytes, not one), so it is
        learnt from this first request, not computed."""
        asked: list[int] = []

        def probe(n: int) -> Any:
            asked.append(n)
            return self._source.alloc(n)

        first = self._backend.new_allocator(
            alloc=probe, free=self._free, should_clear_after_alloc=True
        )(ctype, None)
        source = self._source
        block = source.block_size(asked[0])
        if block > source.max_small:
            allocator = self._allocator
        else:
            allocator = self._sized.get(block)
            if allocator is None:
                alloc = functools.partial(next, source.chain(block))
                allocator = self._sized[block] = self._backend.new_allocator(
                    alloc=alloc, free=self._free, should_clear_after_alloc=True
                )
        self._plans[cdecl] = functools.partial(allocator, ctype)
        return first

    def new_many(self, cdecl: Any, count: int) -> Any:
        """``count`` zeroed objects of type cdecl (e.g. ``"struct node"``) as one
        array cdata ``cdecl[count]``, from one block: the batch path.  As for
        ``ffi.new("T[]", n)``, the array keeps the region alive, its items
        (``arr[i]``) do not."""
        array_type = self._arrays.get(cdecl)
        if array_type is None:
            item = self._ctype(cdecl)
            self._check_alignment(item)
            array_type = self._ffi.typeof(self._ffi.getctype(item, "[]"))
            if self._allocator is not None:
                self._arrays[cdecl] = array_type
        if count.__class__ is not int and (not isinstance(count, int) or isinstance(count, bool)):
            raise TypeError(f"count must be an int, not {type(count).__name__}")
        if count < 0:
            raise ValueError(f"count must be at least 0, got {count}")
        allocator = self._allocator
        if allocator is None:
            raise PoolClosedError("the arena is closed")
        # a length cannot fail to initialise: no noting needed (_new's last path)
        return allocator(array_type, count)

    def buffer(self, n: int) -> memoryview:
        """A zeroed writable memoryview of n bytes from the arena.  It (and any
        slice of it, and a ``numpy.frombuffer`` array over it) keeps the region
        alive: the way to put numpy arrays in an arena."""
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"n must be an int, not {type(n).__name__}")
        if n < 0:
            raise ValueError(f"n must be at least 0, got {n}")
        source = self._source
        region = source.region
        if region is None:  # as take() would say
            raise PoolClosedError("the arena is closed")
        addr = source.take(n)
        ctypes.memset(addr, 0, n)  # as new(): no stale bytes show
        return memoryview(_exporter(region, addr, n)).cast("B")

    def release(self, obj: object) -> None:
        """Returns one object (or buffer) to the pool early, like free(): the
        caller promises that nothing uses it any more.  A slice of a buffer
        releases the whole buffer it was cut from."""
        source = self._source
        if source.region is None:
            raise PoolClosedError("the arena is closed")
        if isinstance(obj, memoryview):
            exporter = obj.obj
            addr = ctypes.addressof(exporter) if isinstance(exporter, ctypes.Array) else 0
        elif isinstance(obj, self._ffi.CData):
            # Only pointers and arrays are objects new() returns; a struct or
            # union value (p[0], arr[i]) or a number has no address to cast.
            kind = self._ffi.typeof(obj).kind
            addr = int(self._ffi.cast("uintptr_t", obj)) if kind in ("pointer", "array") else 0
            if kind in ("struct", "union"):
                raise InvalidBlockError(
                    f"{obj!r} is a {kind} value, not an object of this arena: pass the "
                    f"pointer or array new() returned"
                )
        else:
            addr = 0
        with source.lock:
            ledger = source.ledger
            if ledger is None:  # closed meanwhile
                raise PoolClosedError("the arena is closed")
            size = ledger.live_size(addr) if addr else None
            if size is None:
                raise InvalidBlockError(f"{obj!r} is not a live object of this arena")
            source.pool.deallocate(addr, size)
            ledger.release(addr, size)

    def trim(self) -> int:
        """Returns to the system the chunks of the arena's pool whose blocks are
        all free (Pool.trim, docs/algorithm.md B.13): after release() of many
        objects, their chunks.  Blocks of the arena's current refill runs (at
        most PREFETCH_MAX per block size) count as in use and keep their
        chunks.  Returns the bytes released; PoolClosedError once closed."""
        source = self._source
        with source.lock:  # no refill meanwhile
            if source.region is None:
                raise PoolClosedError("the arena is closed")
            return source.pool.trim()

    # ---- introspection ---------------------------------------------------------

    @property
    def pool(self) -> ArenaPoolView:
        """A read-only view of the arena's pool (options and statistics): the
        pool itself cannot be closed or used behind the arena's back."""
        return self._view

    def stats(self) -> ArenaStats:
        """An ArenaStats snapshot: objects (and buffers) handed out, released
        early, live (handed out and not released) and their block bytes;
        `closed`; `region_alive` (the memory is still held: by the open arena,
        or after close() by something still referenced); `pool`, the pool's
        PoolStats while the region is alive.  Once closed the per-run
        bookkeeping is gone, so the counts are None."""
        source = self._source
        region = self._region_ref()
        pool_stats = None if region is None else region.pool.stats()
        ledger = source.ledger
        if ledger is None:
            return ArenaStats(None, None, None, None, True, region is not None, pool_stats)
        with source.lock:
            objects, nbytes = ledger.counts()
            released, released_bytes = ledger.released, ledger.released_bytes
        return ArenaStats(
            objects,
            released,
            objects - released,
            nbytes - released_bytes,
            False,
            region is not None,
            pool_stats,
        )

    # ---- internals -------------------------------------------------------------

    def _checked_type(self, cdecl: Any) -> Any:
        ctype = self._ctype(cdecl)
        if ctype.kind in ("pointer", "array"):
            self._check_alignment(ctype.item)
        else:
            raise TypeError(f"expected a pointer or array ctype, not {cdecl!r}")
        self._types[cdecl] = ctype  # a string or the ctype itself
        return ctype

    def _ctype(self, cdecl: Any) -> Any:
        """cdecl as a ctype: a C type string or a ctype object, as ffi.new takes."""
        ffi = self._ffi
        if isinstance(cdecl, ffi.CType):
            return cdecl
        try:
            return ffi.typeof(cdecl)
        except Exception as e:
            # an in-line cffi.FFI has no .error (it raises cffi.CDefError): only
            # the package's ffi is named here
            if self._own_ffi or not isinstance(e, ffi.error):
                raise
            why = str(e).splitlines()[0]
            raise TypeError(
                f"{cdecl!r}: {why}; the package's ffi knows only basic C types: "
                f"for your own types pass your cffi.FFI with their cdef, "
                f"Arena(ffi)"
            ) from None

    def _check_alignment(self, item: Any) -> None:
        if item.kind in ("struct", "union") and item.fields is None:
            return  # opaque: ffi.new raises its own error
        if self._ffi.alignof(item) > self._source.align:
            raise ValueError(
                f"{item.cname} needs {self._ffi.alignof(item)}-byte alignment; "
                f"create the arena with align=16"
            )
