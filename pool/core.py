"""`Pool`: the C core (``pool._pool_c``) behind a checked, Pythonic API.

Addresses are plain ints.  They are as safe as the code that uses them, like
ctypes pointers: writing past a block's size, or using a block after freeing
it, corrupts memory whatever the pool's mode.  What checked mode (the
default) guarantees is that the pool's own calls never corrupt it: a bad free
or reallocate raises and changes nothing.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Callable

from . import _fastpath, errors, tracing
from . import _validate as v
from ._base import PoolBase
from ._forksafe import ForkSafeLock
from ._pool_c import ffi, lib
from .errors import PoolMemoryError

if TYPE_CHECKING:
    from ._types import OomHandler, PoolLike
    from .stats import PoolState, PoolStats

_ENOMEM = lib.SGI_POOL_ENOMEM
_EINVAL = lib.SGI_POOL_EINVAL
_ENOTLIVE = lib.SGI_POOL_ENOTLIVE
_EWRONGCLASS = lib.SGI_POOL_EWRONGCLASS
_EDUPLICATE = lib.SGI_POOL_EDUPLICATE
_ECLOSED = lib.SGI_POOL_ECLOSED

# The hot path's names, bound once (module globals are cheaper than lib.x).
_SIZE_MAX = v.SIZE_MAX
_allocate = lib.pool_allocate
_deallocate = lib.pool_deallocate
_deallocate_checked = lib.pool_deallocate_checked
_free = lib.pool_free
_ADDRESS_ARRAY = ffi.typeof("void *[]")  # batch calls see array('Q') memory as this
_SIZE_T_P = ffi.typeof("size_t *")


class Pool(_fastpath.Base, PoolBase):
    """A small-object pool: SGI STL's node allocator, as an instance.

    Requests of 1..max_small bytes are rounded up to a multiple of `align` and
    served from per-class free lists refilled `refill` blocks at a time from
    large chunks; larger requests go to malloc.  The caller passes a block's
    size back when freeing it.

    Options (keywords):
      heap_limit   None, or the most bytes the pool may hold from the system
                   (chunks plus live large blocks); settable later.
      checked      True (default): every free and reallocate is checked against
                   the pool's record of live blocks and a bad one raises.
                   False: the raw SGI speed path, which trusts the caller; a
                   wrong size, a foreign address or a double free silently
                   corrupts the pool.
      thread_safe  True (default): several threads may use the pool at once.
      thread_cache False (default); True (needs thread_safe): thread caches
                   on from a second thread.  One thread alone keeps the pool
                   biased, on the lists (a biased pool's cost and addresses);
                   once another thread calls it, each thread keeps a small
                   cache of free blocks per size class, so that threads
                   sharing the pool rarely take its lock.  Addresses then differ
                   from the classic order; stats() and state() count cached
                   blocks as free.  Serves unchecked pools without debug
                   (checked calls keep the lock, for the live-block record).
      thread_cache_bytes  None (default: 1 MiB) or bytes: with thread_cache,
                   the most each thread's cache keeps in whole magazines
                   beyond its two per class (its depot), over all classes of
                   blocks of 16 bytes or more; a push past it gives a
                   magazine back to the lists.
      align        8 (classic) or 16 (blocks fit 16-byte types).
      max_small    largest size served from the lists (multiple of align).
      refill       blocks carved per refill (classic: 20).
      oom_handler  None, or a callable(nbytes) called when a system request of
                   nbytes is refused; a true result retries, a false one
                   raises MemoryError.  It may free blocks or raise heap_limit.
      debug        False (default); True paints new small blocks 0xCD and freed
                   ones 0xDD (after the link word), so stale reads show.
    """

    def __init__(
        self,
        *,
        heap_limit: int | None = None,
        checked: bool = True,
        thread_safe: bool = True,
        align: int = lib.SGI_POOL_DEFAULT_ALIGN,
        max_small: int = lib.SGI_POOL_DEFAULT_MAX_SMALL,
        refill: int = lib.SGI_POOL_DEFAULT_REFILL,
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
        opts = ffi.new("sgi_pool_options *")
        lib.sgi_pool_options_init(opts)
        opts.align, opts.max_small, opts.refill = o.align, o.max_small, o.refill
        opts.heap_limit = o.heap_limit or 0
        opts.thread_safe, opts.checked = int(o.thread_safe), int(o.checked)
        opts.debug_fill = int(o.debug)
        opts.thread_cache = int(o.thread_cache)
        opts.thread_cache_bytes = o.thread_cache_bytes
        raw = lib.sgi_pool_create(opts)
        if raw == ffi.NULL:
            raise PoolMemoryError("cannot create a pool: out of memory")
        self._p = ffi.gc(raw, _destroy)  # owned from the start
        self._trusted_max = 0 if o.checked else o.max_small  # deallocate's unchecked path

    @classmethod
    def _adopt(cls, handle: Any) -> Pool:
        """A Pool around a C pool created elsewhere, with the options it was
        created with (read back from it), which it does not own: cffi never
        destroys it (as after _detach).  pool.pymem's hook pool is created
        before this module is imported (`python -m pool run` does not import it)."""
        opts = ffi.new("sgi_pool_options *")
        lib.sgi_pool_get_options(handle, opts)
        self = cls.__new__(cls)
        o = self._init_options(
            heap_limit=opts.heap_limit or None,
            checked=bool(opts.checked),
            thread_safe=bool(opts.thread_safe),
            align=opts.align,
            max_small=opts.max_small,
            refill=opts.refill,
            oom_handler=None,
            debug=bool(opts.debug_fill),
            thread_cache=bool(opts.thread_cache),
        )
        self._p = handle
        self._trusted_max = 0 if o.checked else o.max_small
        return self

    # ---- lifetime --------------------------------------------------------------

    def close(self) -> None:
        """Returns all the pool's memory to the system.  Idempotent; any later
        use raises PoolClosedError (a ValueError).

        Safe while other threads are inside calls on a thread-safe pool: the C
        side returns the memory under the pool's lock, so each such call either
        completes first or finds the pool closed and raises PoolClosedError.
        The small C handle itself is freed when the last call holding it
        returns (cffi's ownership of the handle)."""
        handle, self._p = self._p, None
        if handle is not None:
            tracing.forget(handle)  # before the memory goes: then it may be another pool's
            lib.sgi_pool_close(handle)

    @property
    def closed(self) -> bool:
        return self._p is None

    def capsule(self) -> object:
        """A PyCapsule named "pool.sgi_pool" holding this pool's C handle
        (sgi_pool *), for C extensions (docs/c-extensions.md).  It keeps this
        Pool and its handle alive while an extension holds it; close() still
        returns the memory, and the handle's later calls then fail
        (allocate NULL, checked calls SGI_POOL_ECLOSED).  CPython only."""
        from ._capi import handle_capsule

        return handle_capsule(self, self._handle())

    def _detach(self) -> Any:  # the cffi 'sgi_pool *'
        """For owners that must choose when the C handle is freed (Arena): stops
        cffi's finaliser from destroying it and returns it; the caller then calls
        lib.sgi_pool_destroy(handle) itself, after close() (which untracks the
        pool's blocks from tracemalloc)."""
        handle = self._handle()
        ffi.gc(handle, None)
        return handle

    def _check_open(self) -> None:
        self._handle()

    def _handle(self) -> Any:  # the cffi 'sgi_pool *'
        p = self._p
        if p is None:
            raise errors.closed()
        return p

    def _heap_size_if_open(self) -> int | None:
        p = self._p  # read once: another thread may close the pool
        return None if p is None else lib.sgi_pool_heap_size(p)

    # ---- allocate / deallocate / reallocate -----------------------------------------

    def allocate(self, n: int) -> int:
        """Returns the address of a new block of at least n bytes (n >= 1),
        aligned to `align`.  Raises PoolMemoryError when memory is refused."""
        p = self._p
        if p is None:
            raise errors.closed()
        if type(n) is not int or not 0 < n <= _SIZE_MAX:
            n = v.as_size(n)
        addr: int = _allocate(p, n)
        while not addr:
            p = self._after_refusal()
            addr = _allocate(p, n)
        return addr

    def allocate_zeroed(self, n: int) -> int:
        """As allocate(n), but every byte of the block reads 0 (a small block's
        whole usable_size).  allocate() leaves the bytes as they were."""
        p = self._p
        if p is None:
            raise errors.closed()
        n = v.as_size(n)
        addr: int = lib.pool_calloc(p, 1, n)
        while not addr:
            p = self._after_refusal()
            addr = lib.pool_calloc(p, 1, n)
        return addr

    def deallocate(self, addr: int, n: int | None = None) -> None:
        """Frees the block at addr, allocated with a size of n's class; with n
        None the pool's block directory supplies the size.  In checked mode a
        bad address or size raises and changes nothing; a size-less free of an
        address that is no block of the pool raises in every mode."""
        p = self._p
        if p is None:
            raise errors.closed()
        if n is None:
            if type(addr) is not int or not 0 < addr <= _SIZE_MAX:
                addr = v.as_address(addr)
            status = _free(p, addr)
            if status:
                raise self._block_error(status, addr, None, p=p)
            return
        if type(n) is not int or not 0 < n <= _SIZE_MAX:
            n = v.as_size(n)
        if type(addr) is not int or not 0 < addr <= _SIZE_MAX:
            addr = v.as_address(addr)
        if n <= self._trusted_max:  # unchecked pools trust small frees
            _deallocate(p, addr, n)
            return
        status = _deallocate_checked(p, addr, n)  # large blocks are known in every mode
        if status:
            raise self._block_error(status, addr, n, p=p)

    def reallocate(self, addr: int, old_n: int, new_n: int) -> int:
        """Resizes the block at addr from old_n to new_n bytes and returns its
        (possibly new) address; min(old_n, new_n) bytes are kept.  When memory
        is refused the old block is untouched and still yours."""
        p = self._handle()
        old_n = v.as_size(old_n, "old size")
        new_n = v.as_size(new_n, "new size")
        addr = v.as_address(addr)
        out = ffi.new("uintptr_t *")
        status = lib.pool_reallocate(p, addr, old_n, new_n, out)
        while status == _ENOMEM:
            p = self._after_refusal()
            status = lib.pool_reallocate(p, addr, old_n, new_n, out)
        if status:
            raise self._block_error(status, addr, old_n, p=p)
        new_addr: int = out[0]
        return new_addr

    def resize(self, addr: int, new_n: int) -> int:
        """reallocate(addr, usable_size(addr), new_n) without the old size:
        keeps min(usable size, new_n) bytes.  Raises InvalidBlockError when
        addr is no block of the pool (checked: no live block)."""
        p = self._handle()
        new_n = v.as_size(new_n, "new size")
        addr = v.as_address(addr)
        out = ffi.new("uintptr_t *")
        status = lib.pool_realloc(p, addr, new_n, out)
        while status == _ENOMEM:
            p = self._after_refusal()
            status = lib.pool_realloc(p, addr, new_n, out)
        if status:
            raise self._block_error(status, addr, None, p=p)
        new_addr: int = out[0]
        return new_addr

    def usable_size(self, addr: int) -> int:
        """The bytes the block at addr really has: a small block's block size,
        a large block's recorded size.  Raises InvalidBlockError when addr is
        no block of the pool (checked: no live block)."""
        p = self._handle()
        addr = v.as_address(addr)
        size: int = lib.pool_usable_size(p, addr)
        if size == 0:
            raise self._block_error(_ENOTLIVE, addr, None, p=p)
        return size

    def __contains__(self, addr: object) -> bool:
        """addr in pool: checked, addr is a live block (small or large);
        unchecked, addr starts a carved block of one of its chunks (live or
        free) or is a live large block.  Ints only (TypeError otherwise)."""
        p = self._handle()
        if type(addr) is not int:
            addr = v.as_int(addr, "address")
        return 0 < addr <= _SIZE_MAX and bool(lib.pool_owns(p, addr))

    # ---- batch calls ------------------------------------------------------------------

    def allocate_many(self, n: int, count: int) -> array[int]:
        """count blocks of n bytes in one C call, as array('Q') of addresses;
        exactly like count allocate(n) calls in order.  If one fails, the blocks
        already taken are freed (in reverse order) and the error is raised."""
        p = self._handle()
        n = v.as_size(n)
        count = v.as_count(count)
        out = self._address_array(n, count)
        if count == 0:
            return out
        buf = ffi.from_buffer(_ADDRESS_ARRAY, out)
        done = lib.sgi_pool_allocate_many(p, n, count, buf)
        while done < count:
            try:
                p = self._after_refusal()
            except BaseException:
                self._free_taken(out, done, n, p=p)
                raise
            done += lib.sgi_pool_allocate_many(p, n, count - done, buf + done)
        return out

    def _free_taken(self, out: array[int], done: int, n: int, p: Any = None) -> None:
        """Rolls back a failed allocate_many: frees out[:done] in reverse order
        (on a pool closed meanwhile the C call frees nothing: the memory is gone)."""
        if p is None:
            p = self._p
        if done == 0 or p is None:
            return
        taken = array("Q", reversed(out[:done]))
        bad = ffi.new(_SIZE_T_P)
        lib.sgi_pool_deallocate_many(p, ffi.from_buffer(_ADDRESS_ARRAY, taken), done, n, bad)

    def deallocate_many(self, addrs: Iterable[int], n: int | None = None) -> None:
        """Frees every address in addrs (an iterable of ints, ideally an
        array('Q')) as a block of n bytes, in order, in one C call; with n None
        the sizes come from the pool (mixed sizes allowed).  In checked mode
        every address is checked first (duplicates included) and on an error
        nothing is freed; size-less, every mode checks that each address is a
        block of the pool first."""
        p = self._handle()
        if n is not None:
            n = v.as_size(n)
        arr = v.addresses_array(addrs)
        if not arr:
            return
        bad = ffi.new(_SIZE_T_P)
        buf = ffi.from_buffer(_ADDRESS_ARRAY, arr)
        if n is None:
            status = lib.sgi_pool_free_many(p, buf, len(arr), bad)
        else:
            status = lib.sgi_pool_deallocate_many(p, buf, len(arr), n, bad)
        if status:
            raise self._block_error(status, arr[bad[0]], n, index=bad[0], p=p)

    # ---- using the memory -------------------------------------------------------------

    def buffer(self, addr: int, n: int | None = None) -> memoryview:
        """A writable memoryview of n bytes at addr.  In checked mode addr must
        be a live block, n defaults to its recorded size and may not exceed its
        usable size.  The view is not invalidated when the block is freed:
        keep it no longer than the block.  It does not keep the block alive,
        and close() frees the memory under it.  On the cffi path (PyPy,
        POOL_NO_FAST=1) it does not keep the pool alive either: a pool dropped
        without close() frees the memory under its views."""
        p = self._handle()
        addr = v.as_address(addr)
        if self._checked or n is None:
            size = ffi.new("size_t *")
            if lib.pool_block_size(p, addr, size):
                raise errors.unknown_for_buffer(addr, self._checked)
            usable = self._usable(size[0])
            if n is None:
                n = size[0]
            n = v.as_size(n, "n")
            if n > usable:
                raise errors.beyond_block(n, usable, addr)
        else:
            n = v.as_size(n, "n")
        return memoryview(ffi.buffer(ffi.cast("char *", addr), n))

    # ---- options and introspection ---------------------------------------------------

    @property
    def heap_size(self) -> int:
        """Bytes of all chunks ever obtained (SGI's heap_size)."""
        size: int = lib.sgi_pool_heap_size(self._handle())
        return size

    @property
    def heap_limit(self) -> int | None:
        """None (no limit) or the most bytes the pool may hold; settable, also
        below what the pool holds (later system requests are then refused)."""
        limit = lib.sgi_pool_heap_limit(self._handle())
        return limit or None

    @heap_limit.setter
    def heap_limit(self, limit: int | None) -> None:
        p = self._handle()
        limit = v.as_heap_limit(limit)
        lib.sgi_pool_set_heap_limit(p, limit or 0)

    def chunks(self) -> list[tuple[int, int]]:
        """(base, size) of every chunk, in acquisition order (not large blocks)."""
        bases, sizes = _read_records(
            lambda *out: lib.sgi_pool_chunks(self._handle(), *out), "uintptr_t[]", "size_t[]"
        )
        return list(zip(bases, sizes))

    def free_list_lengths(self) -> tuple[int, ...]:
        """Length of each class's free list, smallest class first."""
        free = ffi.new("size_t[]", self._nclasses)
        lib.sgi_pool_class_counts(self._handle(), free, ffi.NULL)
        return tuple(free)

    def free_list(self, cls: int) -> list[int]:
        """Addresses on free list `cls` (0-based class index), head first."""
        p = self._handle()
        cls = v.as_int(cls, "class index")
        if not 0 <= cls < self._nclasses:
            raise errors.bad_class_index(cls, self._nclasses)
        (addrs,) = _read_records(lambda *out: lib.sgi_pool_free_list(p, cls, *out), "uintptr_t[]")
        return addrs

    def current_chunk(self) -> tuple[int, int] | None:
        """(start, end) of the current chunk's uncarved tail, or None."""
        start = ffi.new("uintptr_t *")
        end = ffi.new("uintptr_t *")
        lib.sgi_pool_current_chunk(self._handle(), start, end)
        return None if start[0] == 0 else (start[0], end[0])

    def block_map(self) -> dict[int, int]:
        """{address: block size} of every carved small block, live or free, as
        the pool's block directory knows them (the uncarved tail excluded)."""
        p = self._handle()
        addrs, sizes = _read_records(
            lambda *out: lib.sgi_pool_blocks(p, *out), "uintptr_t[]", "size_t[]"
        )
        return dict(zip(addrs, sizes))

    def live_blocks(self) -> dict[int, int]:
        """{address: size} of live blocks: every one in checked mode, only large
        blocks in unchecked mode.  A small block's size is its block size
        (round_up of the size it was allocated with), a large one's the size
        it was allocated with."""
        p = self._handle()
        addrs, sizes = _read_records(
            lambda *out: lib.sgi_pool_live_blocks(p, *out), "uintptr_t[]", "size_t[]"
        )
        return dict(zip(addrs, sizes))

    def stats(self) -> PoolStats:
        """A PoolStats snapshot (counts per class, large blocks, chunks, requests)."""
        p = self._handle()
        st = ffi.new("sgi_pool_stats *")
        free = ffi.new("size_t[]", self._nclasses)
        live = ffi.new("size_t[]", self._nclasses)
        trim = ffi.new("sgi_pool_trim_stats *")
        pages = ffi.new("sgi_pool_page_stats *")
        lib.sgi_pool_get_stats(p, st)
        lib.sgi_pool_class_counts(p, free, live)
        lib.sgi_pool_get_trim_stats(p, trim)
        lib.sgi_pool_get_page_stats(p, pages)
        return self._stats_of(st, free, live, trim, pages)

    def _stats_of(
        self, st: Any, free: Any, live: Any, trim: Any, pages: Any
    ) -> PoolStats:  # cffi structs, arrays
        return self._assemble_stats(
            free,
            live,
            large_live=st.large_live,
            large_bytes=st.large_bytes,
            chunks=st.chunks,
            heap_size=st.heap_size,
            heap_limit=st.heap_limit,
            chunk_left=st.chunk_left,
            requests_granted=st.requests_granted,
            requests_refused=st.requests_refused,
            salvages=st.salvages,
            released_chunks=trim.released_chunks,
            released_bytes=trim.released_bytes,
            releasable_bytes=trim.releasable_bytes,
            releasable_page_bytes=pages.releasable_page_bytes,
            released_page_bytes=pages.released_page_bytes,
            span_bytes=pages.span_bytes,
        )

    def trim(self, pages: bool = False) -> int:
        """Returns to the system every chunk whose blocks are all free, except
        the current chunk (the one holding the uncarved tail), and returns the
        bytes released.  Their blocks leave the free lists; the other free
        blocks keep their order.  Thread caches are handed back to the lists
        first.  heap_size (every chunk ever obtained) is unchanged; what the
        pool holds (stats().held, which the heap limit counts) drops, and so
        does the size of the next chunk.  Safe inside an oom handler.

        With pages=True, also the 4 KiB pages (counted from each kept chunk's
        base) that free blocks cover wholly: their blocks leave the lists and
        the pool carves them again before it asks the system for a chunk
        (docs/algorithm.md B.14); the bytes of those pages are added."""
        if type(pages) is not bool:
            raise TypeError(f"pages must be True or False, not {pages!r}")
        handle = self._handle()
        released: int = lib.sgi_pool_trim_pages(handle) if pages else lib.sgi_pool_trim(handle)
        return released

    def state(self) -> PoolState:
        """The whole observable state (pool.PoolState: chunks, free lists,
        current chunk, live blocks, stats, block map) read at one moment, under the
        pool's lock: consistent even while other threads use the pool."""
        p = self._handle()
        c = ffi.new("sgi_pool_capture *")
        free_lengths = c.free_lengths = ffi.new("size_t[]", self._nclasses)
        live_counts = c.live_counts = ffi.new("size_t[]", self._nclasses)
        while True:
            # room for what the last try saw, and some more for what other threads add
            room = [n + n // 8 + 16 for n in (c.nchunks, c.nfree, c.nlive, c.nblocks)]
            keep = (
                ffi.new("uintptr_t[]", room[0]),
                ffi.new("size_t[]", room[0]),
                ffi.new("uintptr_t[]", room[1]),
                ffi.new("uintptr_t[]", room[2]),
                ffi.new("size_t[]", room[2]),
                ffi.new("uintptr_t[]", room[3]),
                ffi.new("size_t[]", room[3]),
            )
            (
                c.chunk_bases,
                c.chunk_sizes,
                c.free_blocks,
                c.live_addrs,
                c.live_sizes,
                c.block_addrs,
                c.block_sizes,
            ) = keep
            c.chunk_cap, c.free_cap, c.live_cap, c.block_cap = room
            if lib.sgi_pool_capture_state(p, c):
                break
        # (its own lock: a trim between the two reads shows in the chunks first)
        trim = ffi.new("sgi_pool_trim_stats *")
        lib.sgi_pool_get_trim_stats(p, trim)
        page_stats = ffi.new("sgi_pool_page_stats *")
        lib.sgi_pool_get_page_stats(p, page_stats)
        bases, sizes, free_blocks, live_addrs, live_sizes, block_addrs, block_sizes = keep
        free_lists, start = [], 0
        for length in free_lengths:
            free_lists.append(tuple(free_blocks[start : start + length]))
            start += length
        current = None if c.start_free == 0 else (c.start_free, c.end_free)
        from .stats import PoolState  # here: dataclasses is not imported by `import pool.core`

        return PoolState(
            chunks=tuple(zip(bases[0 : c.nchunks], sizes[0 : c.nchunks])),
            free_lists=tuple(free_lists),
            current_chunk=current,
            live_blocks=dict(zip(live_addrs[0 : c.nlive], live_sizes[0 : c.nlive])),
            stats=self._stats_of(c.stats, free_lengths, live_counts, trim, page_stats),
            block_map=dict(zip(block_addrs[0 : c.nblocks], block_sizes[0 : c.nblocks])),
        )

    # ---- errors and the oom handler ---------------------------------------------------

    def _after_refusal(self) -> Any:  # the cffi 'sgi_pool *' to retry with
        """Runs after a C call reported memory refused: calls the oom handler
        (outside any lock) and returns the handle to retry with, or raises
        PoolMemoryError.  An exception from the handler propagates."""
        nbytes = lib.sgi_pool_last_refused()  # per thread, set by the failed call
        if self._p is None:
            raise errors.closed(during_call=True)
        if nbytes == 0:
            raise PoolMemoryError("out of memory for the pool's own bookkeeping")
        self._call_oom_handler(nbytes)
        return self._handle()  # the handler may have closed the pool

    def _block_error(
        self, status: int, addr: int, n: int | None, index: int | None = None, p: Any = None
    ) -> Exception:
        """The exception for a status a C call on handle p returned (the fast
        path passes no handle: then it is read here, once).  Another thread may
        have closed the pool since the call: that is PoolClosedError."""
        if self._p is None:  # closed by another thread after the C call returned
            return errors.closed(during_call=True)
        if p is None:
            p = self._p
        if status == _ENOTLIVE:
            return errors.not_live(addr, n, index, self._checked)
        if status == _EWRONGCLASS:
            size = ffi.new("size_t *")
            lib.pool_block_size(p, addr, size)
            assert n is not None  # only sized calls check the class
            return errors.wrong_class(addr, size[0], n, self._align, self._max_small, index)
        if status == _EDUPLICATE:
            return errors.duplicate(addr, index)
        if status == _ECLOSED:
            return errors.closed(during_call=True)
        if status == _EINVAL:
            return ValueError(f"invalid size {n} for {errors.where(addr, index)}")
        return PoolMemoryError(f"memory refused for {errors.where(addr, index)}")


def _destroy(
    handle: Any,
    forget: Callable[[Any], None] = tracing.forget,
    destroy: Callable[[Any], None] = lib.sgi_pool_destroy,
) -> None:
    """cffi's finaliser of a pool's handle (a pool dropped without close()):
    its blocks leave tracemalloc before its memory goes.  The callees are
    bound here: it may run while the interpreter tears modules down."""
    forget(handle)
    destroy(handle)


# On CPython the hot methods above are replaced by pool._fast's (same checks,
# same errors, built by the methods above); POOL_NO_FAST=1 keeps these.
_fastpath.install(Pool)


def _read_records(call: Callable[..., int], *ctypes_: str) -> list[list[int]]:
    """Lists filled by a C call of the shape f(out arrays..., cap) -> count:
    asks for the count, then fills, again if another thread added records
    in between."""
    count = call(*([ffi.NULL] * len(ctypes_)), 0)
    while True:
        arrays = [ffi.new(t, count) for t in ctypes_]
        now = call(*arrays, count)
        if now <= count:
            return [list(a[0:now]) for a in arrays]
        count = now


_default_pool: Pool | None = None
_default_lock = ForkSafeLock()


def default_pool() -> Pool:
    """The process-wide Pool with default options, created on first use."""
    global _default_pool
    with _default_lock:
        if _default_pool is None or _default_pool.closed:
            _default_pool = Pool()
        return _default_pool


def process_totals() -> tuple[int, int]:
    """(blocks, bytes) that all pools of the process hold from the system."""
    blocks = ffi.new("size_t *")
    nbytes = ffi.new("size_t *")
    lib.sgi_pool_process_totals(blocks, nbytes)
    return blocks[0], nbytes[0]


if TYPE_CHECKING:
    _: PoolLike = Pool()  # Pool offers every call of PoolLike
