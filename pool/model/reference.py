"""`ReferencePool`: the SGI node allocator as an executable specification.

This module is docs/algorithm.md written in Python.  It does not use the C core
(``pool._pool_c``) and is not meant to be fast: it is what the C core must do.
Someone who changes ``csrc/`` reads this file to know what is right, and the
lockstep tests run both side by side and compare every observable.

Layout, in the order of the document:

  SimulatedSystem   the "system": malloc/free/realloc over a deterministic
                    simulated address space, with bytearrays as memory.
  SGIAllocator      the algorithm itself (Part A) with the project's records,
                    heap limit and checked mode (Part B): system_request,
                    chunk_alloc, refill, allocate, deallocate, reallocate.
                    Step numbers in comments are the document's.
  ReferencePool     the same public API as `pool.Pool` (options, methods,
                    properties, exceptions, messages, oom handler retry loop)
                    around an SGIAllocator, as `pool.core.Pool` wraps the C
                    core.

Naming: the document's state ``free_list[NLISTS]``, ``start_free``,
``end_free`` and ``heap_size`` are attributes of `SGIAllocator` under exactly
those names (``ReferencePool.allocator``); `ReferencePool` keeps Pool's names,
where ``free_list(cls)`` is a method and ``heap_size`` a property.

Where the model knowingly differs from the C core:
  - Addresses are simulated: chunks and large blocks get fresh bases from a
    counter (the first at 0x10000000, each next one at the next multiple of
    16 MiB above the previous one's end), so they never collide.  A large
    reallocate always moves the block (C's realloc may keep it in place);
    comparisons normalise large-block addresses.
  - The system never refuses on its own: only the heap limit, or a request
    above PTRDIFF_MAX, refuses (the C core also fails when malloc does).
    Memory for the pool's own bookkeeping never runs out.
  - A free block's "next" link is kept in a Python deque, not written into the
    block's first word, so a block fresh from a free list holds whatever its
    last owner left there (in C, its first word is the stale link; with
    debug=True both paint the rest of a freed block, and all of a new one).
  - Misuse of an unchecked pool (a double free, a wrong size, a foreign
    address) is not modelled beyond doing what the algorithm says: the C core
    corrupts its lists; the model merely records a duplicate or foreign
    address on a list.  buffer() of an address outside the simulated memory
    raises InvalidBlockError where C would hand out a view of anything.
"""

from __future__ import annotations

import contextlib
import mmap
import threading
from array import array
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from .. import _validate as v
from .. import errors
from .._base import PoolBase
from .._forksafe import ForkSafeLock
from .._sizes import class_index, round_up
from ..errors import (  # noqa: F401 (PoolMemoryError: re-exported with the model)
    InvalidBlockError,
    PoolClosedError,
    PoolMemoryError,
    SizeClassError,
)
from ..stats import PoolState, PoolStats

if TYPE_CHECKING:
    from .._types import OomHandler, PoolLike

__all__ = [
    "ReferencePool",
    "SGIAllocator",
    "SimulatedSystem",
    "Refused",
    "DEFAULT_ALIGN",
    "DEFAULT_MAX_SMALL",
    "DEFAULT_REFILL",
    "DEFAULT_TCACHE_BYTES",
    "PTRDIFF_MAX",
]

# The classic profile (SGI STL 3.3); a test checks these agree with the C core.
DEFAULT_ALIGN = 8  # ALIGN: block and chunk granularity
DEFAULT_MAX_SMALL = 128  # MAX_BYTES: largest request served from the lists
DEFAULT_REFILL = 20  # NOBJS: blocks asked for per refill
TC_BATCH_BYTES = 8192  # thread caches: at most this many bytes of blocks per exchange
DEFAULT_TCACHE_BYTES = 1 << 20  # thread caches: a thread's depot bound (thread_cache_bytes)
DEPOT_MIN_BLOCK = 16  # a depot magazine's head block holds two words (link, last node)
TC_SLAB_BYTES = 65536  # thread caches: a refill of an empty list carves up to this much (B.15)

PTRDIFF_MAX = 2**63 - 1  # the system refuses requests above this (as malloc does)

FIRST_BASE = 0x10000000  # address of the first simulated system block
BASE_SPACING = 0x1000000  # each later block starts at a multiple of 16 MiB
# blocks this large are anonymous mappings, not bytearrays: their pages cost
# memory only once touched (a trace may name gigabytes and touch a few pages)
MAPPED = 1 << 20

LINK_BYTES = 8  # sizeof(free_node): the "next" pointer in a free block's first word
CLEAN_BYTE = 0xCD  # debug fill of a new small block (as CPython's debug allocator)
DEAD_BYTE = 0xDD  # debug fill of a freed small block, after its link word


class Refused(Exception):
    """Internal: a system request of `nbytes` was refused (and, for a chunk,
    salvage found nothing).  ReferencePool turns it into the oom handler call
    or PoolMemoryError, as pool.core does with SGI_POOL_ENOMEM."""

    def __init__(self, nbytes: int) -> None:
        super().__init__(nbytes)
        self.nbytes = nbytes


# ---- The system -------------------------------------------------------------------


class SimulatedSystem:
    """malloc / free / realloc over a simulated, deterministic address space.

    Every block the system hands out gets a fresh base; bases only grow, so
    no two blocks ever overlap, even after frees.  Memory is a bytearray per
    block (an anonymous mapping from MAPPED bytes up), made on first use (so
    a huge block that nobody touches costs nothing, and a mapped one costs
    only the pages touched).  Refusals are the allocator's business (heap
    limit), not the system's.
    """

    def __init__(self) -> None:
        self.next_base = FIRST_BASE
        # bases of the blocks held, ascending (new ones are always highest)
        self.bases: list[int] = []
        self.sizes: dict[int, int] = {}  # base -> size of every block held
        # base -> its bytes, for the blocks touched so far
        self.memory: dict[int, bytearray | mmap.mmap] = {}

    def malloc(self, n: int) -> int:
        """Returns the base of a new block of n bytes."""
        base = self.next_base
        self.next_base = (base + n) // BASE_SPACING * BASE_SPACING + BASE_SPACING
        self.bases.append(base)
        self.sizes[base] = n
        return base

    def free(self, base: int) -> None:
        del self.bases[bisect_right(self.bases, base) - 1]
        del self.sizes[base]
        self.memory.pop(base, None)

    def realloc(self, base: int, n: int) -> int:
        """A new block of n bytes holding the first min(old size, n) bytes of
        the block at base, which is freed.  Always moves (see the module doc)."""
        new = self.malloc(n)
        mem = self.memory.get(base)
        if isinstance(mem, mmap.mmap) and n >= MAPPED:
            try:  # mremap, as glibc does: no page is read or copied
                mem.resize(n)
            except BufferError:  # a memoryview of it is alive: copy instead
                pass
            else:
                self.memory[new] = self.memory.pop(base)
                self.free(base)
                return new
        self.copy(new, base, min(self.sizes[base], n))
        self.free(base)
        return new

    def release_all(self) -> None:
        self.bases.clear()
        self.sizes.clear()
        self.memory.clear()

    def locate(self, addr: int, n: int) -> int | None:
        """The base of the block holding [addr, addr + n), or None."""
        i = bisect_right(self.bases, addr) - 1
        if i < 0:
            return None
        base = self.bases[i]
        return base if addr + n <= base + self.sizes[base] else None

    def _bytes(self, base: int) -> bytearray | mmap.mmap:
        mem = self.memory.get(base)
        if mem is None:
            size = self.sizes[base]
            mem = bytearray(size) if size < MAPPED else mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE)
            self.memory[base] = mem
        return mem

    def view(self, addr: int, n: int) -> memoryview:
        """A writable memoryview of the n bytes at addr."""
        base = self.locate(addr, n)
        if base is None:
            raise InvalidBlockError(
                f"address {addr:#x} (+{n} bytes) is not inside memory this pool holds"
            )
        offset = addr - base
        return memoryview(self._bytes(base))[offset : offset + n]

    def copy(self, dst: int, src: int, n: int) -> None:
        """memcpy(dst, src, n) between two blocks held."""
        if n == 0:
            return
        src_base = self.locate(src, n)
        dst_base = self.locate(dst, n)
        if src_base is None or dst_base is None:
            return  # only reachable by misusing an unchecked pool: contents unspecified
        if src_base not in self.memory and dst_base not in self.memory:
            return  # both never touched: all zeros already
        data = bytes(self._bytes(src_base)[src - src_base : src - src_base + n])
        self._bytes(dst_base)[dst - dst_base : dst - dst_base + n] = data

    def fill(self, addr: int, byte: int, n: int) -> None:
        """memset(addr, byte, n) inside a block held."""
        base = self.locate(addr, n)
        if n <= 0 or base is None:
            return  # only reachable by misusing an unchecked pool
        self._bytes(base)[addr - base : addr - base + n] = bytes([byte]) * n


# ---- The algorithm ----------------------------------------------------------------


class SGIAllocator:
    """SGI STL's __default_alloc_template as one instance (docs/algorithm.md).

    No validation, no locking, no oom handler: callers pass sizes >= 1 and
    addresses > 0.  A refused system request raises Refused; a check of
    checked mode raises InvalidBlockError or SizeClassError and changes
    nothing.
    """

    def __init__(
        self,
        *,
        align: int = DEFAULT_ALIGN,
        max_small: int = DEFAULT_MAX_SMALL,
        refill: int = DEFAULT_REFILL,
        heap_limit: int | None = None,
        checked: bool = True,
        debug_fill: bool = False,
        thread_cache: bool = False,
        thread_cache_bytes: int = DEFAULT_TCACHE_BYTES,
    ) -> None:
        # Constants (Part A; options per pool in Part B)
        self.align = align  # ALIGN
        self.max_bytes = max_small  # MAX_BYTES
        self.nlists = max_small // align  # NLISTS
        self.nobjs = refill  # NOBJS
        self.checked = checked
        self.debug_fill = debug_fill  # paint new small blocks CLEAN_BYTE, freed ones DEAD_BYTE

        # The classic state (Part A)
        self.free_list: list[deque[int]] = [deque() for _ in range(self.nlists)]  # head at index 0
        # uncarved tail of the current chunk; None: no current chunk
        self.start_free: int | None = None
        self.end_free: int | None = None
        self.heap_size = 0  # bytes of all chunks ever obtained

        # Records and limits (Part B)
        self.heap_limit = heap_limit  # None: no limit
        # (base, size) of every chunk, in order of acquisition
        self.chunks: list[tuple[int, int]] = []
        # live block -> size: large ones always (as allocated), small ones if
        # checked (their block size, as the C core's directory knows it)
        self.blocks: dict[int, int] = {}
        # the block map: every carved small block (live or free) -> block size
        self.carved: dict[int, int] = {}
        self.large_live = 0  # live blocks above MAX_BYTES
        self.large_bytes = 0  # their recorded sizes
        self.live = [0] * self.nlists  # per class: blocks handed out and not returned
        self.requests_granted = 0
        self.requests_refused = 0
        self.salvages = 0
        self.released_chunks = 0  # chunks given back by trim() (B.13)
        self.released_bytes = 0  # their bytes: the chunks held (3.1's term) are heap_size - this
        self.leftovers = 0  # leftover tails pushed in step 3.2 (the model's own count, for tests)
        # released spans of page trims (B.14): (start, end), in the order released
        self.spans: list[tuple[int, int]] = []
        self.released_page_bytes = 0  # the units page trims released so far
        self.system = SimulatedSystem()
        # Thread caches (csrc/core/thread_cache.c), one thread's: per class, its
        # blocks head first; None while off.  Only sized allocate and deallocate
        # of unchecked pools without debug fill use them, as in C.  A pool with
        # the option starts biased, on the lists, as one without; a second
        # thread's call switches it to the caches for good (switch_to_caches).
        self.thread_cache = thread_cache and not checked and not debug_fill
        self.cache: list[deque[int]] | None = None
        # The cache's magazines (C's tc_class): per class, the blocks of the
        # first one, `loaded` (0..batch); after them, whole magazines of batch
        # blocks: `previous`, then the depot's.  The depot takes at most
        # thread_cache_bytes of blocks (depot_room: what it may still take).
        self.thread_cache_bytes = thread_cache_bytes
        self.loaded = [0] * self.nlists
        self.depot_room = thread_cache_bytes

    # ---- Constants and formulas ------------------------------------------------------

    def round_up(self, n: int) -> int:
        """round_up(n) = (n + ALIGN - 1) & ~(ALIGN - 1)"""
        return round_up(n, self.align)

    def class_index(self, n: int) -> int:
        """class_index(n) = (n + ALIGN - 1) / ALIGN - 1, for 1 <= n <= MAX_BYTES"""
        return class_index(n, self.align)

    def is_small(self, n: int) -> bool:
        return n <= self.max_bytes

    def same_class(self, a: int, b: int) -> bool:
        """Two sizes are of one class: the same free list, or both large."""
        if not self.is_small(a) or not self.is_small(b):
            return not self.is_small(a) and not self.is_small(b)
        return self.class_index(a) == self.class_index(b)

    def chunk_left(self) -> int:
        """end_free - start_free; 0 when there is no current chunk."""
        if self.start_free is None or self.end_free is None:  # both None, or neither
            return 0
        return self.end_free - self.start_free

    # ---- The first level: system requests (Part B: heap limit) --------------------------

    def held(self) -> int:
        """Bytes held from the system: the chunks not released by trim() (B.13)
        plus the recorded sizes of live large blocks."""
        return self.heap_size - self.released_bytes + self.large_bytes

    def limit_allows(self, base: int, more: int) -> bool:
        """Whether the heap limit lets the pool hold `more` bytes beyond `base`."""
        return self.heap_limit is None or base + more <= self.heap_limit

    def system_request(self, n: int) -> int | None:
        """Asks the system for n bytes: returns the base, or None when refused
        (held + n > heap_limit, exactly as if malloc had returned NULL)."""
        if n > PTRDIFF_MAX or not self.limit_allows(self.held(), n):
            self.requests_refused += 1
            return None
        self.requests_granted += 1
        return self.system.malloc(n)

    # ---- chunk_alloc(size, nobjs) ----------------------------------------------------

    def chunk_alloc(self, size: int, nobjs: int) -> tuple[int, int]:
        """Memory for nobjs blocks of `size` bytes: returns (address, nobjs), nobjs
        lowered to what fits (at least 1).  Raises Refused when the system
        refused and salvage found nothing (then there is no current chunk)."""
        total = size * nobjs
        left = self.chunk_left()

        # 1. the tail holds them all
        if left >= total:
            result = self.start_free
            assert result is not None  # left >= total > 0: there is a tail
            self.start_free = result + total
            return result, nobjs

        # 2. the tail holds at least one
        if left >= size:
            nobjs = left // size
            total = size * nobjs
            result = self.start_free
            assert result is not None  # left >= size > 0: there is a tail
            self.start_free = result + total
            return result, nobjs

        # 3. a new chunk is needed
        # (B.14: the last released span first, as the tail; its leftover as 3.2)
        if self.spans:
            if left > 0:
                assert self.start_free is not None
                self.free_list[self.class_index(left)].appendleft(self.start_free)
                self.carved[self.start_free] = left
                self.leftovers += 1
            self.start_free, self.end_free = self.spans.pop()
            return self.chunk_alloc(size, nobjs)  # branch 1 or 2: a span exceeds any block
        # 3.1 with the incoming nobjs
        # (B.13: with the bytes of the chunks held; heap_size itself after no trim)
        bytes_to_get = 2 * total + self.round_up((self.heap_size - self.released_bytes) >> 4)
        # 3.2 the leftover is smaller than size, so it fits its own class exactly
        if left > 0:
            assert self.start_free is not None  # a tail of left bytes starts there
            self.free_list[self.class_index(left)].appendleft(self.start_free)
            self.carved[self.start_free] = left
            self.leftovers += 1
        self.start_free = self.end_free = None
        # 3.3
        chunk = self.system_request(bytes_to_get)
        if chunk is None:
            # 3.4 salvage (B: with thread caches, once more after they are handed back)
            if self.salvage(size) or (self.flush_cache() and self.salvage(size)):
                return self.chunk_alloc(size, nobjs)  # takes branch 1 or 2
            # 3.5 nothing found: no current chunk; the caller reports the refusal
            raise Refused(bytes_to_get)
        # 3.6
        self.chunks.append((chunk, bytes_to_get))
        self.heap_size += bytes_to_get
        self.start_free = chunk
        self.end_free = chunk + bytes_to_get
        return self.chunk_alloc(size, nobjs)  # branch 1 now

    def salvage(self, size: int) -> bool:
        """3.4: the first free block of this size or larger (smaller classes are
        never scanned) becomes the current chunk."""
        for i in range(size, self.max_bytes + 1, self.align):
            candidates = self.free_list[self.class_index(i)]
            if candidates:
                p = candidates.popleft()
                del self.carved[p]  # uncarved again: the new current chunk
                self.salvages += 1
                self.start_free = p
                self.end_free = p + i
                return True
        return False

    # ---- trim() (Part B, B.13: an addition of ours) ---------------------------------------

    def releasable(self) -> list[tuple[int, int]]:
        """The chunks trim() would release now, in acquisition order: every
        chunk whose free blocks (lists and cache) cover it, except the one
        holding a non-empty uncarved tail."""
        bases = sorted(base for base, _ in self.chunks)
        size_of = dict(self.chunks)
        free = dict.fromkeys(bases, 0)
        for cls in range(self.nlists):
            for addr in self.reported_free(cls):
                base = bases[bisect_right(bases, addr) - 1]
                free[base] += (cls + 1) * self.align
        for start, end in self.spans:  # (B.14) nothing in them is in use
            free[bases[bisect_right(bases, start) - 1]] += end - start
        tail = self.start_free if self.chunk_left() > 0 else None
        return [
            (base, size)
            for base, size in self.chunks
            if free[base] == size_of[base] and not (tail is not None and base <= tail < base + size)
        ]

    def trim(self) -> int:
        """B.13: hands the cache back (as salvage does), then returns every
        releasable chunk to the system; their blocks leave the free lists,
        whose other blocks keep their order.  Returns the bytes released."""
        self.flush_cache()
        gone = self.releasable()
        if not gone:
            return 0
        bases = sorted(base for base, _ in gone)
        ends = {base: base + size for base, size in gone}

        def released(addr: int) -> bool:
            i = bisect_right(bases, addr) - 1
            return i >= 0 and addr < ends[bases[i]]

        for cls in range(self.nlists):
            self.free_list[cls] = deque(a for a in self.free_list[cls] if not released(a))
        self.carved = {a: n for a, n in self.carved.items() if not released(a)}
        for base, size in gone:
            # an empty tail at or inside a released chunk goes with it
            if self.start_free is not None and base <= self.start_free <= base + size:
                self.start_free = self.end_free = None
            self.system.free(base)
        self.chunks = [c for c in self.chunks if c[0] not in ends]
        self.spans = [s for s in self.spans if not released(s[0])]  # theirs go with them
        nbytes = sum(size for _, size in gone)
        self.released_chunks += len(gone)
        self.released_bytes += nbytes
        return nbytes

    # ---- trim(pages=True) (Part B, B.14: an addition of ours) ------------------------------

    def trim_unit(self) -> int:
        """The unit of a page trim, from each chunk's base: 4096 bytes, 8192
        when blocks may exceed 2048 (a span then always exceeds max_small)."""
        return 4096 if self.max_bytes <= 2048 else 8192

    def page_units(self) -> list[tuple[int, int, int]]:
        """(chunk base, first unit, end unit) of every run of units that free
        blocks (lists and cache) cover wholly, in the chunks a trim() keeps:
        chunk by chunk in acquisition order, each in address order."""
        unit = self.trim_unit()
        keep = set(self.chunks) - set(self.releasable())
        bases = sorted(base for base, _ in keep)
        size_of = dict(keep)
        covered: dict[int, set[int]] = {base: set() for base in bases}
        for cls in range(self.nlists):
            width = (cls + 1) * self.align
            for addr in self.reported_free(cls):
                i = bisect_right(bases, addr) - 1
                if i >= 0 and addr < bases[i] + size_of[bases[i]]:
                    off = addr - bases[i]
                    covered[bases[i]].update(range(off, off + width, self.align))
        runs = []
        for base, _ in self.chunks:
            if base not in size_of:
                continue
            whole = [
                all(off in covered[base] for off in range(k * unit, (k + 1) * unit, self.align))
                for k in range(size_of[base] // unit)
            ]
            k = 0
            while k < len(whole):
                if whole[k]:
                    b = k
                    while b + 1 < len(whole) and whole[b + 1]:
                        b += 1
                    runs.append((base, k, b + 1))
                    k = b
                k += 1
        return runs

    def releasable_pages(self) -> int:
        return sum((end - first) * self.trim_unit() for _, first, end in self.page_units())

    def trim_pages(self) -> int:
        """B.14: trim(), then the runs of units free blocks cover wholly in the
        kept chunks: the blocks starting in them leave the lists (the others
        keep their order), and each run becomes a released span, from the
        first such block to the end of the last.  Returns the bytes of the
        chunks and of the units released."""
        got = self.trim()
        self.flush_cache()
        unit = self.trim_unit()
        runs = self.page_units()
        if not runs:
            return got
        where = {(base + first * unit, base + end * unit) for base, first, end in runs}
        lows = sorted(where)

        def taken(addr: int) -> bool:
            i = bisect_right(lows, (addr, float("inf"))) - 1
            return i >= 0 and addr < lows[i][1]

        spans: dict[tuple[int, int], list[int]] = {r: [] for r in lows}
        for cls in range(self.nlists):
            size = (cls + 1) * self.align
            kept: deque[int] = deque()
            for addr in self.free_list[cls]:
                if taken(addr):
                    r = lows[bisect_right(lows, (addr, float("inf"))) - 1]
                    spans[r] += [addr, addr + size]
                    del self.carved[addr]
                else:
                    kept.append(addr)
            self.free_list[cls] = kept
        for base, first, end in runs:  # in the order of page_units
            r = (base + first * unit, base + end * unit)
            self.spans.append((min(spans[r]), max(spans[r])))
        released = sum(high - low for low, high in lows)
        self.released_page_bytes += released
        return got + released

    # ---- Thread caches (Part B, the thread_cache option) ---------------------------------

    def switch_to_caches(self) -> None:
        """A second thread has taken the lock of a thread-cache pool: the bias
        is revoked and, from now on, the sized calls go through the calling
        thread's cache (the first thread's too; this model keeps one cache,
        the lockstep thread's).  Nothing moves: the caches start empty."""
        if self.thread_cache and self.cache is None:
            self.cache = [deque() for _ in range(self.nlists)]

    def cache_batch(self, cls: int) -> int:
        """Blocks per exchange: the refill count, at most 8 KiB of blocks."""
        return max(1, min(self.nobjs, TC_BATCH_BYTES // ((cls + 1) * self.align)))

    def magazine_bytes(self, cls: int) -> int:
        return self.cache_batch(cls) * (cls + 1) * self.align

    def flush_cache(self) -> bool:
        """Every cached block back to the head of its list, in cache order
        (the depot's too); whether any moved."""
        self.loaded = [0] * self.nlists
        self.depot_room = self.thread_cache_bytes
        moved = False
        for cls, cached in enumerate(self.cache or ()):
            if cached:
                moved = True
                cached.extend(self.free_list[cls])
                self.free_list[cls] = cached
                self.cache[cls] = deque()  # type: ignore[index]
        return moved

    def allocate_cached(self, n: int) -> int:
        """allocate(n) of a small n through this thread's cache: a pop; an empty
        class takes a batch from its list (refilled first when empty)."""
        assert self.cache is not None and self.is_small(n)
        cls = self.class_index(n)
        cached = self.cache[cls]
        if cached:
            if self.loaded[cls] == 0:
                # previous becomes loaded, the depot's first magazine previous
                batch = self.cache_batch(cls)
                if len(cached) >= 2 * batch:
                    self.depot_room += self.magazine_bytes(cls)
                self.loaded[cls] = batch
            block = cached.popleft()
            self.loaded[cls] -= 1
        elif self.free_list[cls]:
            block = self.free_list[cls].popleft()
            lst = self.free_list[cls]
            take = deque(lst.popleft() for _ in range(min(self.cache_batch(cls) - 1, len(lst))))
            self.cache[cls] = take
            self.loaded[cls] = len(take)
        else:
            block = self.carve_slab(cls, self.round_up(n))
        self.small_block_born(block, n)
        return block

    def carve_slab(self, cls: int, size: int) -> int:
        """B.15: the class's list and cache are both empty: a slab for this
        thread alone, where refill would carve 20 blocks for the list.  Up to
        TC_SLAB_BYTES of whole magazines (at least two: loaded's and previous's;
        the depot's while its room allows and the blocks hold two words) in
        one chunk_alloc; when that is refused, refill's own count.  Block 0 is
        the caller's; blocks 1..batch-1 are loaded, then whole magazines
        (previous, then the depot's, as room allows); the rest goes onto the
        list, lowest first, before what a flush at 3.4 put there."""
        assert self.cache is not None
        batch = self.cache_batch(cls)
        mag = batch * size
        mags = 2
        if size >= DEPOT_MIN_BLOCK and TC_SLAB_BYTES // mag > mags:
            mags += min(TC_SLAB_BYTES // mag - mags, self.depot_room // mag)
        nobjs = max(mags * batch, self.nobjs)
        try:
            chunk, nobjs = self.chunk_alloc(size, nobjs)
        except Refused:
            if nobjs <= self.nobjs:
                raise
            chunk, nobjs = self.chunk_alloc(size, self.nobjs)
        blocks = [chunk + k * size for k in range(nobjs)]
        self.carved.update((b, size) for b in blocks)
        # (a flush at 3.4 may have emptied the cache and raised its room)
        left = nobjs - 1
        load = min(left, batch - 1)
        depot = self.depot_room // mag if size >= DEPOT_MIN_BLOCK else 0
        whole = min((left - load) // batch, 1 + depot)
        cached = load + whole * batch
        self.depot_room -= max(whole - 1, 0) * mag
        self.cache[cls] = deque(blocks[1 : cached + 1])
        self.loaded[cls] = load
        if cached < left:
            rest = self.free_list[cls]
            self.free_list[cls] = deque(blocks[cached + 1 :])
            self.free_list[cls].extend(rest)
        return chunk

    def deallocate_cached(self, addr: int, n: int) -> None:
        """deallocate(addr, n) of a small n into this thread's cache: a push.
        A push onto a full loaded magazine makes it previous; a full previous
        first goes into the depot (if the bound lets it and the blocks hold
        two words), else back to the head of the list, in cache order."""
        assert self.cache is not None and self.is_small(n)
        cls = self.class_index(n)
        cached = self.cache[cls]
        batch = self.cache_batch(cls)
        count = self.loaded[cls]
        if count == batch:
            if len(cached) - count >= batch:  # previous is full
                mag = self.magazine_bytes(cls)
                if (cls + 1) * self.align >= DEPOT_MIN_BLOCK and self.depot_room >= mag:
                    self.depot_room -= mag  # previous into the depot: nothing moves
                else:
                    give = deque(cached[k] for k in range(count, count + batch))
                    for _ in range(batch):
                        del cached[count]
                    give.extend(self.free_list[cls])
                    self.free_list[cls] = give
            count = 0  # loaded becomes previous
        cached.appendleft(addr)
        self.loaded[cls] = count + 1
        self.live[cls] -= 1

    def reported_free(self, cls: int) -> list[int]:
        """Free blocks of a class as the pool reports them: the list, then the
        cache."""
        return list(self.free_list[cls]) + list(self.cache[cls] if self.cache else ())

    # ---- refill(size) ------------------------------------------------------------------

    def refill(self, size: int) -> int:
        """Returns one block of `size` bytes (a multiple of ALIGN); the others
        carved with it become the (empty) free list of that size."""
        # 1.
        nobjs = self.nobjs
        chunk, nobjs = self.chunk_alloc(size, nobjs)
        self.carved.update((chunk + k * size, size) for k in range(nobjs))
        # 2.
        if nobjs == 1:
            return chunk
        # 3. block 0 to the caller; blocks 1..nobjs-1 become the list, lowest at the head
        cls = self.class_index(size)
        # (empty, unless thread caches were handed back to it at 3.4: then after)
        rest = self.free_list[cls]
        assert not rest or self.cache is not None, "refill runs only on an empty list"
        self.free_list[cls] = deque(chunk + k * size for k in range(1, nobjs))
        self.free_list[cls].extend(rest)
        return chunk

    # ---- allocate(n) -------------------------------------------------------------------

    def allocate(self, n: int) -> int:
        """A block of at least n bytes (n >= 1).  Raises Refused."""
        # 1. first level
        if not self.is_small(n):
            return self.allocate_large(n)
        cls = self.class_index(n)
        if self.free_list[cls]:
            # 2. pop the head (LIFO)
            block = self.free_list[cls].popleft()
        else:
            # 3. the caller owns round_up(n) bytes
            block = self.refill(self.round_up(n))
        self.small_block_born(block, n)
        return block

    def allocate_zeroed(self, n: int) -> int:
        """sgi_pool_calloc(p, 1, n): allocate (through this thread's cache where
        allocate would take it), then zero the whole block."""
        cached = self.cache is not None and self.is_small(n)
        block = self.allocate_cached(n) if cached else self.allocate(n)
        self.system.fill(block, 0, self.round_up(n) if self.is_small(n) else n)
        return block

    def small_block_born(self, block: int, n: int) -> None:
        """A small block goes live: counted, recorded in checked mode, painted
        in debug mode."""
        self.live[self.class_index(n)] += 1
        if self.checked:
            self.blocks[block] = self.round_up(n)
        if self.debug_fill:
            self.system.fill(block, CLEAN_BYTE, self.round_up(n))

    def allocate_large(self, n: int) -> int:
        """1. exactly n bytes from the system, recorded in every mode."""
        block = self.system_request(n)
        if block is None:
            raise Refused(n)
        self.blocks[block] = n
        self.large_live += 1
        self.large_bytes += n
        return block

    # ---- deallocate(p, n) ----------------------------------------------------------------

    def check_block(self, addr: int, n: int, index: int | None = None) -> int:
        """Part B's check of a free or reallocate of addr as a block of n bytes:
        large sizes in every mode, small ones in checked mode.  Returns the
        bytes the block really has; raises InvalidBlockError / SizeClassError."""
        usable = self.round_up(n) if self.is_small(n) else n
        if not self.checked and self.is_small(n):
            return usable  # the classic design trusts the caller
        recorded = self.blocks.get(addr)
        if recorded is None:
            raise errors.not_live(addr, n, index)
        if not self.same_class(recorded, n):
            raise errors.wrong_class(addr, recorded, n, self.align, self.max_bytes, index)
        if not self.is_small(recorded):
            usable = recorded
        return usable

    def deallocate(self, addr: int, n: int) -> None:
        self.check_block(addr, n)
        self.free_block(addr, n)

    def free_block(self, addr: int, n: int) -> None:
        """Frees a block that check_block accepted: a small one is pushed on
        free_list[index(n)]; a large one goes back to the system."""
        if self.is_small(n):
            if self.checked:
                del self.blocks[addr]
            if self.debug_fill:  # all but the link word, which the push writes
                self.system.fill(addr + LINK_BYTES, DEAD_BYTE, self.round_up(n) - LINK_BYTES)
            cls = self.class_index(n)
            self.free_list[cls].appendleft(addr)
            self.live[cls] -= 1
            return
        recorded = self.blocks.pop(addr)
        self.large_live -= 1
        self.large_bytes -= recorded
        self.system.free(addr)

    def deallocate_many(self, addrs: Sequence[int], n: int) -> None:
        """Frees every address as a block of n bytes, in order.  Checked mode
        (and large n in any mode) checks them all first, duplicates included,
        and frees nothing on an error.  An unchecked pool skips address 0 (as
        C's deallocate(NULL, n)); a checked one never handed it out."""
        if not self.checked:
            addrs = [addr for addr in addrs if addr != 0]
        if self.checked or not self.is_small(n):
            seen: set[int] = set()
            for i, addr in enumerate(addrs):
                self.check_block(addr, n, index=i)
                if addr in seen:
                    raise errors.duplicate(addr, i)
                seen.add(addr)
        for addr in addrs:
            self.free_block(addr, n)

    # ---- size-less calls: the block map supplies the size ----------------------------

    def known_size(self, addr: int) -> int | None:
        """What a size-less call knows of addr: checked, a live block's size
        (block size if small); unchecked, a carved block's size or a live large
        block's; None when addr is no block of this pool."""
        if self.checked:
            return self.blocks.get(addr)
        size = self.carved.get(addr)
        if size is None:
            size = self.blocks.get(addr)  # large blocks only, in an unchecked pool
        return size

    def size_of(self, addr: int, index: int | None = None) -> int:
        """known_size, or InvalidBlockError."""
        size = self.known_size(addr)
        if size is None:
            raise errors.not_live(addr, None, index, self.checked)
        return size

    def free(self, addr: int) -> None:
        size = self.size_of(addr)
        if self.cache is not None and self.is_small(size):
            # as C's sgi_pool_free: the size found, the block into the caller's cache
            self.deallocate_cached(addr, size)
        else:
            self.free_block(addr, size)

    def free_many(self, addrs: Sequence[int]) -> None:
        """Frees every address, each with its own size, in order; all checked
        first.  Checked: NULL and duplicates refused.  Unchecked: NULL skipped,
        duplicates of large blocks refused (a small one's duplicate is the
        caller's error, as in C)."""
        if not self.checked:
            addrs = [addr for addr in addrs if addr != 0]
        seen: set[int] = set()
        sizes: list[int] = []
        for i, addr in enumerate(addrs):
            if addr in seen:
                raise errors.duplicate(addr, i)
            size = self.size_of(addr, i)
            if self.checked or not self.is_small(size):
                seen.add(addr)
            sizes.append(size)
        for addr, size in zip(addrs, sizes):
            self.free_block(addr, size)

    def resize(self, addr: int, new_n: int) -> int:
        """reallocate(addr, known size, new_n)."""
        return self.reallocate(addr, self.size_of(addr), new_n)

    # ---- reallocate(p, old_n, new_n) ---------------------------------------------------

    def reallocate(self, addr: int, old_n: int, new_n: int) -> int:
        """Resizes a block, keeping min(old_n, new_n) bytes; returns its address.
        Checked like deallocate (for old_n).  Raises Refused, and then the
        block is untouched (the pool is in the state the algorithm reached)."""
        usable = self.check_block(addr, old_n)
        # 1. both large: the system's realloc, within the heap limit
        if not self.is_small(old_n) and not self.is_small(new_n):
            return self.reallocate_large(addr, new_n)
        # 2. the same block size: the same block
        if (
            self.is_small(old_n)
            and self.is_small(new_n)
            and self.round_up(old_n) == self.round_up(new_n)
        ):
            return addr  # (checked: the recorded block size stays)
        # 3.
        q = self.allocate(new_n)
        self.system.copy(q, addr, min(old_n, new_n, usable))
        self.free_block(addr, old_n)
        return q

    def reallocate_large(self, addr: int, new_n: int) -> int:
        """1. Refused when held - recorded + new_n > heap_limit (nbytes = new_n)."""
        recorded = self.blocks[addr]
        if new_n > PTRDIFF_MAX or not self.limit_allows(self.held() - recorded, new_n):
            self.requests_refused += 1
            raise Refused(new_n)
        block = self.system.realloc(addr, new_n)
        del self.blocks[addr]
        self.blocks[block] = new_n
        self.large_bytes += new_n - recorded
        self.requests_granted += 1
        return block


# ---- The Python API -------------------------------------------------------------------

_SHARED = -1  # ReferencePool._bias_owner once a second thread has called (no thread's ident)


class ReferencePool(PoolBase):
    """pool.Pool's API over the pure-Python SGIAllocator (no C module).

    Options (keywords), as for pool.Pool:
      heap_limit   None, or the most bytes the pool may hold from the system
                   (chunks plus live large blocks); settable later.
      checked      True (default): every free and reallocate is checked.
      thread_safe  accepted and reported; the model always takes its lock
                   (one call at a time), the oom handler runs outside it.
      align        8 or 16.
      max_small    largest size served from the lists (multiple of align).
      refill       blocks carved per refill (NOBJS).
      oom_handler  None, or a callable(nbytes); true retries, false raises.
      debug        False (default); True paints new small blocks 0xCD and freed
                   ones 0xDD (after the link word) in the simulated memory.
      thread_cache False (default); True: one thread's cache in front of the
                   lists, as the C core's (unchecked pools without debug), for
                   single-thread lockstep testing.  As in C the pool starts
                   biased, on the lists: the first thread to call it owns it,
                   and a call from any other thread switches it to the cache
                   for good.
      thread_cache_bytes  None (1 MiB) or bytes: the cache's depot bound.

    The algorithm's state is `self.allocator` (an SGIAllocator).
    """

    def __init__(
        self,
        *,
        heap_limit: int | None = None,
        checked: bool = True,
        thread_safe: bool = True,
        align: int = DEFAULT_ALIGN,
        max_small: int = DEFAULT_MAX_SMALL,
        refill: int = DEFAULT_REFILL,
        oom_handler: OomHandler | None = None,
        debug: bool = False,
        thread_cache: bool = False,
        thread_cache_bytes: int | None = None,
    ) -> None:
        o = self._init_options(
            heap_limit=heap_limit,
            checked=checked,
            thread_safe=thread_safe,
            align=align,
            max_small=max_small,
            refill=refill,
            oom_handler=oom_handler,
            debug=debug,
            thread_cache=thread_cache,
            thread_cache_bytes=thread_cache_bytes,
        )
        self.allocator = SGIAllocator(
            align=o.align,
            max_small=o.max_small,
            refill=o.refill,
            heap_limit=o.heap_limit,
            checked=o.checked,
            debug_fill=o.debug,
            thread_cache=o.thread_cache,
            thread_cache_bytes=o.thread_cache_bytes,
        )
        self._lock = ForkSafeLock(reentrant=True)
        self._closed = False
        # the bias (csrc/bias.h): the first calling thread's ident; _SHARED once
        # another thread has called (a thread-cache pool then uses its cache)
        self._bias_owner: int | None = None

    # ---- lifetime --------------------------------------------------------------------

    def close(self) -> None:
        """Returns all the pool's memory to the system.  Idempotent; any later
        use raises PoolClosedError (a ValueError)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self.allocator.system.release_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        self._alloc()

    def _alloc(self) -> SGIAllocator:
        """The allocator, or PoolClosedError.  Every call comes here first, as
        every C call takes the lock or is the bias owner's."""
        if self._bias_owner != _SHARED:
            self._settle_bias()
        if self._closed:
            raise errors.closed()
        return self.allocator

    def _settle_bias(self) -> None:
        """C's bias_settle: the first thread owns the pool; another thread's
        call revokes the bias, and a thread-cache pool switches to its caches."""
        me = threading.get_ident()
        with self._lock:
            if self._bias_owner is None:
                self._bias_owner = me
            elif self._bias_owner not in (me, _SHARED):
                self._bias_owner = _SHARED
                self.allocator.switch_to_caches()

    def _heap_size_if_open(self) -> int | None:
        with self._lock:
            return None if self._closed else self.allocator.heap_size

    # ---- the oom handler retry loop (Part B) -----------------------------------------

    def _run(self, operation: str, *args: int) -> int:
        """Calls allocator.operation(*args) under the lock; on a refusal runs the
        oom handler outside the lock and retries from the top."""
        while True:
            with self._lock:
                allocator = self._alloc()
                try:
                    address: int = getattr(allocator, operation)(*args)
                    return address
                except Refused as refusal:
                    nbytes = refusal.nbytes
            self._after_refusal(nbytes)

    def _after_refusal(self, nbytes: int) -> None:
        """Calls the oom handler for a refused request of nbytes; returns to
        retry, or raises PoolMemoryError.  An exception from the handler
        propagates."""
        self._call_oom_handler(nbytes)
        self._alloc()  # the handler may have closed the pool

    # ---- allocate / deallocate / reallocate --------------------------------------------

    def allocate(self, n: int) -> int:
        """Returns the address of a new block of at least n bytes (n >= 1),
        aligned to `align`.  Raises PoolMemoryError when memory is refused."""
        self._alloc()
        n = v.as_size(n)
        if self.allocator.cache is not None and self.allocator.is_small(n):
            return self._run("allocate_cached", n)
        return self._run("allocate", n)

    def allocate_zeroed(self, n: int) -> int:
        """As allocate(n), but every byte of the block reads 0 (a small block's
        whole usable_size).  allocate() leaves the bytes as they were."""
        self._alloc()
        n = v.as_size(n)
        return self._run("allocate_zeroed", n)

    def deallocate(self, addr: int, n: int | None = None) -> None:
        """Frees the block at addr, allocated with a size of n's class; with n
        None the block map supplies the size.  In checked mode a bad address or
        size raises and changes nothing; a size-less free of an address that is
        no block of the pool raises in every mode."""
        self._alloc()
        if n is None:
            addr = v.as_address(addr)
            with self._lock:
                self._alloc().free(addr)
            return
        n = v.as_size(n)
        addr = v.as_address(addr)
        with self._lock:
            allocator = self._alloc()
            if allocator.cache is not None and allocator.is_small(n):
                allocator.deallocate_cached(addr, n)  # unchecked: trusted, as in C
            else:
                allocator.deallocate(addr, n)

    def resize(self, addr: int, new_n: int) -> int:
        """reallocate(addr, usable_size(addr), new_n) without the old size."""
        self._alloc()
        new_n = v.as_size(new_n, "new size")
        addr = v.as_address(addr)
        return self._run("resize", addr, new_n)

    def usable_size(self, addr: int) -> int:
        """The bytes the block at addr really has; InvalidBlockError when addr
        is no block of the pool (checked: no live block)."""
        allocator = self._alloc()
        addr = v.as_address(addr)
        with self._lock:
            return allocator.size_of(addr)

    def __contains__(self, addr: object) -> bool:
        """addr in pool: as Pool.__contains__."""
        allocator = self._alloc()
        if type(addr) is not int:
            addr = v.as_int(addr, "address")
        with self._lock:
            return 0 < addr <= v.SIZE_MAX and allocator.known_size(addr) is not None

    def reallocate(self, addr: int, old_n: int, new_n: int) -> int:
        """Resizes the block at addr from old_n to new_n bytes and returns its
        (possibly new) address; min(old_n, new_n) bytes are kept.  When memory
        is refused the old block is untouched and still yours."""
        self._alloc()
        old_n = v.as_size(old_n, "old size")
        new_n = v.as_size(new_n, "new size")
        addr = v.as_address(addr)
        return self._run("reallocate", addr, old_n, new_n)

    # ---- batch calls ---------------------------------------------------------------

    def allocate_many(self, n: int, count: int) -> array[int]:
        """count blocks of n bytes as array('Q'), exactly like count allocate(n)
        calls in order.  If one fails, the blocks already taken are freed (in
        reverse order) and the error is raised."""
        self._alloc()
        n = v.as_size(n)
        count = v.as_count(count)
        out = self._address_array(n, count)  # as Pool: a huge count fails here, untouched
        done = 0
        try:
            while done < count:
                out[done] = self._run("allocate", n)
                done += 1
        except BaseException:
            self._free_taken(out, done, n)
            raise
        return out

    def _free_taken(self, out: array[int], done: int, n: int) -> None:
        """Rolls back a failed allocate_many: frees out[:done] in reverse order
        (as one batch free, whose errors, if any, are ignored as in Pool)."""
        with self._lock:
            if self._closed or done == 0:  # closed by the handler: the memory is gone already
                return
            # the handler may have freed some of them itself: then free nothing, like C
            with contextlib.suppress(InvalidBlockError):
                self.allocator.deallocate_many(list(reversed(out[:done])), n)

    def deallocate_many(self, addrs: Iterable[int], n: int | None = None) -> None:
        """Frees every address in addrs as a block of n bytes, in order; with n
        None each with its own size.  In checked mode every address is checked
        first (duplicates included) and on an error nothing is freed;
        size-less, every mode checks each address first."""
        self._alloc()
        if n is not None:
            n = v.as_size(n)
        arr = v.addresses_array(addrs)
        if not arr:
            return
        with self._lock:
            if n is None:
                self._alloc().free_many(list(arr))
            else:
                self._alloc().deallocate_many(list(arr), n)

    # ---- using the memory -------------------------------------------------------------

    def buffer(self, addr: int, n: int | None = None) -> memoryview:
        """A writable memoryview of n bytes at addr, into the simulated memory.
        In checked mode addr must be a live block, n defaults to its recorded
        size and may not exceed its usable size."""
        allocator = self._alloc()
        addr = v.as_address(addr)
        with self._lock:
            if self._checked or n is None:
                size = allocator.blocks.get(addr)
                if size is None:
                    raise errors.unknown_for_buffer(addr, self._checked)
                usable = self._usable(size)
                if n is None:
                    n = size
                n = v.as_size(n, "n")
                if n > usable:
                    raise errors.beyond_block(n, usable, addr)
            else:
                n = v.as_size(n, "n")
            return allocator.system.view(addr, n)

    # ---- options and introspection ---------------------------------------------------

    @property
    def heap_size(self) -> int:
        """Bytes of all chunks ever obtained (SGI's heap_size)."""
        with self._lock:
            return self._alloc().heap_size

    @property
    def heap_limit(self) -> int | None:
        """None (no limit) or the most bytes the pool may hold; settable, also
        below what the pool holds (later system requests are then refused)."""
        with self._lock:
            return self._alloc().heap_limit

    @heap_limit.setter
    def heap_limit(self, limit: int | None) -> None:
        allocator = self._alloc()
        limit = v.as_heap_limit(limit)
        with self._lock:
            allocator.heap_limit = limit

    def chunks(self) -> list[tuple[int, int]]:
        """(base, size) of every chunk, in acquisition order (not large blocks)."""
        with self._lock:
            return list(self._alloc().chunks)

    def free_list_lengths(self) -> tuple[int, ...]:
        """Length of each class's free list, smallest class first."""
        with self._lock:
            a = self._alloc()
            return tuple(len(a.reported_free(cls)) for cls in range(a.nlists))

    def free_list(self, cls: int) -> list[int]:
        """Addresses on free list `cls` (0-based class index), head first."""
        allocator = self._alloc()
        cls = v.as_int(cls, "class index")
        if not 0 <= cls < self._nclasses:
            raise errors.bad_class_index(cls, self._nclasses)
        with self._lock:
            return allocator.reported_free(cls)

    def current_chunk(self) -> tuple[int, int] | None:
        """(start, end) of the current chunk's uncarved tail, or None."""
        with self._lock:
            allocator = self._alloc()
            if allocator.start_free is None or allocator.end_free is None:  # (both, or neither)
                return None
            return (allocator.start_free, allocator.end_free)

    def block_map(self) -> dict[int, int]:
        """{address: block size} of every carved small block, live or free."""
        with self._lock:
            return dict(self._alloc().carved)

    def live_blocks(self) -> dict[int, int]:
        """{address: size} of live blocks: every one in checked mode (a small
        block's block size), only large blocks in unchecked mode."""
        with self._lock:
            return dict(self._alloc().blocks)

    def stats(self) -> PoolStats:
        """A PoolStats snapshot (counts per class, large blocks, chunks, requests)."""
        with self._lock:
            return self._stats_of(self._alloc())

    def _stats_of(self, a: SGIAllocator) -> PoolStats:
        return self._assemble_stats(
            [len(a.reported_free(cls)) for cls in range(a.nlists)],
            a.live,
            large_live=a.large_live,
            large_bytes=a.large_bytes,
            chunks=len(a.chunks),
            heap_size=a.heap_size,
            heap_limit=a.heap_limit,
            chunk_left=a.chunk_left(),
            requests_granted=a.requests_granted,
            requests_refused=a.requests_refused,
            salvages=a.salvages,
            released_chunks=a.released_chunks,
            released_bytes=a.released_bytes,
            releasable_bytes=sum(size for _, size in a.releasable()),
            releasable_page_bytes=a.releasable_pages(),
            released_page_bytes=a.released_page_bytes,
            span_bytes=sum(end - start for start, end in a.spans),
        )

    def trim(self, pages: bool = False) -> int:
        """As Pool.trim (docs/algorithm.md B.13, with pages B.14): every chunk
        whose blocks are all free, except the current one, back to the
        simulated system (with pages, then the pages free blocks cover);
        returns the bytes released."""
        if type(pages) is not bool:
            raise TypeError(f"pages must be True or False, not {pages!r}")
        with self._lock:
            a = self._alloc()
            return a.trim_pages() if pages else a.trim()

    def state(self) -> PoolState:
        """The whole observable state (pool.PoolState), read under the model's lock."""
        with self._lock:
            a = self._alloc()
            current = (
                None
                if a.start_free is None or a.end_free is None  # (both, or neither)
                else (a.start_free, a.end_free)
            )
            return PoolState(
                chunks=tuple(a.chunks),
                free_lists=tuple(tuple(a.reported_free(cls)) for cls in range(a.nlists)),
                current_chunk=current,
                live_blocks=dict(a.blocks),
                stats=self._stats_of(a),
                block_map=dict(a.carved),
            )


if TYPE_CHECKING:
    _: PoolLike = ReferencePool()  # ReferencePool offers every call of PoolLike
