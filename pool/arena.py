"""`Arena`: C objects for cffi programs, with region lifetime, on an SGI pool.

Each arena owns a `Pool`.  `new()` hands out cdata objects (like `ffi.new`)
whose memory comes from that pool; the whole region goes back to the system
in one step once the arena is closed *and* nothing handed out is still
referenced from Python.

How the lifetime works: each object handed out is a cffi `from_buffer` cdata
over its own small exporter (a ctypes array at the block's address) that
holds a reference to the region; each buffer is a memoryview of such an
exporter.  So any live object, buffer or slice of one keeps the region alive.
The arena holds the region too, until `close()`.  When the last reference
goes, the region's finaliser closes the pool: immediately if nothing
references it, otherwise when the last reference goes.  (The exporters are
ctypes objects rather than memoryview slices on purpose: the garbage
collector may clear a memoryview that cffi still holds a buffer of, which
crashes the interpreter; a ctypes array has no such state.)

What this does not cover (documented in the README): a pointer *read out of*
an arena object (``node.next``) is a plain cffi pointer, like `ffi.cast`; it
is valid while some object of the arena is alive, but it does not keep the
region alive by itself.  `release(obj)` is the explicit, free()-like early
return of one object: the caller promises nothing else points at it.
"""

import ctypes
import gc
import sys
import weakref

from ._base import NotCopyable
from ._forksafe import ForkSafeLock
from ._pool_c import lib
from ._sizes import round_up
from .core import Pool
from .errors import InvalidBlockError, PoolClosedError

# Blocks fetched from the pool per refill of an arena's per-type cache: one C
# call (and one zeroing per contiguous run) instead of work per object.
PREFETCH = 64

def _exporter(region, addr, size):
    """A ctypes char array over [addr, addr + size) that keeps region alive."""
    arr = (ctypes.c_char * size).from_address(addr)  # ctypes caches the array type
    arr._region = region  # the reference that ties the memory's lifetime to Python's
    return arr


# Regions that died inside a garbage collection: their pools are closed when
# the collection ends, not at once.  In a collected cycle the collector runs
# every finaliser (__del__, this one included) in no fixed order before it
# frees any object (which runs ffi.gc destructors): closing the pool at once
# would let those read freed memory.  For the same reason the arena's pool
# handle has no cffi finaliser of its own (Pool._detach): it is destroyed here.
_pending = []  # (weak reference to the dead region, its pool, its C handle)
_collecting = False


def _retire(pool, handle):
    pool.close()
    lib.sgi_pool_destroy(handle)


def _after_collection(phase, info):
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


class _Region:
    """Owns the pool; closing it returns every byte of the arena at once.
    Referenced by every exporter, so it dies with the last of them."""

    __slots__ = ("pool", "handle", "__weakref__")

    def __init__(self, pool):
        self.pool = pool
        self.handle = pool._detach()

    def __del__(self):
        if sys.is_finalizing():
            return  # interpreter exit: other objects' teardown may still read it
        if _collecting:
            _pending.append((weakref.ref(self), self.pool, self.handle))
        else:
            _retire(self.pool, self.handle)


class ArenaStats:
    """Counts kept by an arena (a snapshot; see Arena.stats())."""

    __slots__ = ("objects", "released", "live", "live_bytes", "pool")

    def __init__(self, objects, released, live, live_bytes, pool):
        self.objects = objects  # objects and buffers handed out
        self.released = released  # returned early with release()
        self.live = live  # handed out and not released
        self.live_bytes = live_bytes  # their block bytes
        self.pool = pool  # the pool's PoolStats, or None once closed

    def __repr__(self):
        return (f"ArenaStats(objects={self.objects}, released={self.released}, "
                f"live={self.live}, live_bytes={self.live_bytes})")


class Arena(NotCopyable):
    """Region-lifetime allocation of cffi objects from a private SGI pool.

    ``Arena(ffi=None, **pool_options)``: `ffi` is your own `cffi.FFI` (its
    cdef'd types can be used), or None for the package's ffi (basic C types
    only).  Pool options are those of `pool.Pool` (e.g. ``align=16`` for
    16-byte types), except that ``checked`` defaults to False: the arena
    validates `release()` itself.  Use as a context manager or call `close()`.
    """

    def __init__(self, ffi=None, **pool_options):
        if ffi is None:
            from ._pool_c import ffi
        self._ffi = ffi
        self._from_buffer = ffi.from_buffer
        # The arena checks release() against its own record of what it handed
        # out and frees nothing else, so its pool need not check again.
        pool_options.setdefault("checked", False)
        self._pool = Pool(**pool_options)
        # The pool closes when the region dies (the last exporter went away).
        self._region = _Region(self._pool)
        self._refill_lock = ForkSafeLock()  # one refill of the made-ahead objects at a time
        self._live = {}  # address -> block size of each object handed out
        self._types = {}  # cdecl -> (ctype, kind, size or None)
        self._fast = {}  # cdecl -> (ctype, block size) for small pointer types
        self._ready = {}  # such cdecl -> [(addr, block size, zeroed object)] made ahead
        self._released = 0

    # ---- lifetime --------------------------------------------------------------

    def close(self):
        """Ends allocation (`new` and `buffer` then raise ValueError).  The
        region is returned to the system as soon as no object, buffer or slice
        handed out is referenced any more: now if none is."""
        self._region = None
        self._ready = {}

    @property
    def closed(self):
        return self._region is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- allocation ------------------------------------------------------------

    def new(self, cdecl, init=None):
        """Like ``ffi.new(cdecl, init)``: a zeroed (then initialised) object of a
        pointer or array type, e.g. ``"struct node *"`` or ``"int[]"``."""
        if init is None:  # the common case: objects made ahead, PREFETCH at a time
            ready = self._ready.get(cdecl)
            if ready and self._region is not None:
                try:
                    addr, n, obj = ready.pop()  # atomic under the GIL
                except IndexError:  # another thread took the last one
                    pass
                else:
                    self._live[addr] = n
                    return obj
            if cdecl in self._fast:
                return self._make_ready(cdecl)
        return self._new_general(cdecl, init)

    def new_many(self, cdecl, count):
        """``count`` zeroed objects of type cdecl (e.g. ``"struct node"``) as one
        array cdata ``cdecl[count]``, from one block: the batch path."""
        item = self._ctype(cdecl)
        if not isinstance(count, int) or isinstance(count, bool):
            raise TypeError(f"count must be an int, not {type(count).__name__}")
        if count < 0:
            raise ValueError(f"count must be at least 0, got {count}")
        self._check_alignment(item)
        ctype = self._ffi.typeof(self._ffi.getctype(item, "[]"))
        return self._from_buffer(ctype, self._carve(self._ffi.sizeof(item) * count))

    def buffer(self, n):
        """A zeroed writable memoryview of n bytes from the arena."""
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"n must be an int, not {type(n).__name__}")
        if n < 0:
            raise ValueError(f"n must be at least 0, got {n}")
        return memoryview(self._carve(n)).cast("B")

    def release(self, obj):
        """Returns one object (or buffer) to the pool early, like free(): the
        caller promises that nothing uses it any more.  A slice of a buffer
        releases the whole buffer it was cut from."""
        self._check_open()
        if isinstance(obj, memoryview):
            source = obj.obj
            addr = ctypes.addressof(source) if isinstance(source, ctypes.Array) else 0
        else:
            addr = int(self._ffi.cast("uintptr_t", obj))
        size = self._live.pop(addr, None)
        if size is None:
            raise InvalidBlockError(f"{obj!r} is not a live object of this arena")
        self._pool.deallocate(addr, size)
        self._released += 1

    # ---- introspection ---------------------------------------------------------

    @property
    def pool(self):
        """The arena's Pool (its statistics and options)."""
        return self._pool

    def stats(self):
        live = dict(self._live)
        pool_stats = None if self._pool.closed else self._pool.stats()
        return ArenaStats(len(live) + self._released, self._released, len(live),
                          sum(live.values()), pool_stats)

    # ---- internals -------------------------------------------------------------

    def _check_open(self):
        if self._region is None:
            raise PoolClosedError("the arena is closed")

    def _new_general(self, cdecl, init):
        ctype, kind, size = self._type(cdecl)
        if init is None:
            if size is None:
                raise TypeError(f"{cdecl!r} is an open array: give a length or an initialiser")
            return self._from_buffer(ctype, self._carve(size))
        self._check_open()
        # ffi.new itself validates init and computes the length of open arrays;
        # its bytes are then copied into the region.
        model = self._ffi.new(ctype, init)
        if kind == "array":
            size = self._ffi.sizeof(model)
        elif ctype.item.kind in ("struct", "union"):  # a last open-array field counts too
            size = self._ffi.sizeof(model[0])
        obj = self._from_buffer(ctype, self._carve(size))
        self._ffi.memmove(obj, model, size)
        return obj

    def _type(self, cdecl):
        info = self._types.get(cdecl)
        if info is None:
            ctype = self._ctype(cdecl)
            if ctype.kind == "pointer":
                size = self._ffi.sizeof(ctype.item)
                self._check_alignment(ctype.item)
                n = self._block_size(size)
                if n <= self._pool.max_small:
                    self._fast[cdecl] = (ctype, n)
            elif ctype.kind == "array":
                size = None if ctype.length is None else self._ffi.sizeof(ctype)
                self._check_alignment(ctype.item)
            else:
                raise TypeError(f"expected a pointer or array ctype, not {cdecl!r}")
            info = self._types[cdecl] = (ctype, ctype.kind, size)
        return info

    def _ctype(self, cdecl):
        """cdecl as a ctype: a C type string or a ctype object, as ffi.new takes."""
        return cdecl if isinstance(cdecl, self._ffi.CType) else self._ffi.typeof(cdecl)

    def _check_alignment(self, item):
        if self._ffi.alignof(item) > self._pool.align:
            raise ValueError(f"{item.cname} needs {self._ffi.alignof(item)}-byte alignment; "
                             f"create the arena with align=16")

    def _block_size(self, size):
        """The pool block that holds `size` bytes (zero-size objects get one too,
        so that every object has its own address)."""
        n = size or 1
        if n > self._pool.max_small:
            return n
        return round_up(n, self._pool.align)

    def _carve(self, size):
        """A zeroed exporter of exactly `size` bytes, recorded as live."""
        region = self._region
        if region is None:
            raise PoolClosedError("the arena is closed")
        n = self._block_size(size)
        addr = self._pool.allocate(n)
        ctypes.memset(addr, 0, n)  # as ffi.new: no stale bytes show
        self._live[addr] = n
        return _exporter(region, addr, size)

    def _make_ready(self, cdecl):
        """Makes PREFETCH zeroed objects of a small pointer type in one go and
        returns the first (handed out, so recorded as live).  One refill at a
        time; the ready list is only appended to and popped from (both atomic
        under the GIL), so no object can be handed out twice."""
        with self._refill_lock:
            ready = self._ready.get(cdecl)
            if ready:  # another thread refilled while this one waited
                try:
                    addr, n, obj = ready.pop()
                except IndexError:
                    pass
                else:
                    self._live[addr] = n
                    return obj
            ctype, n = self._fast[cdecl]
            region = self._region
            if region is None:
                raise PoolClosedError("the arena is closed")
            from_buffer = self._from_buffer
            addrs = self._pool.allocate_many(n, PREFETCH)
            made = []
            start = 0
            for i in range(1, len(addrs) + 1):  # runs of adjacent blocks (a refill's carving)
                if i < len(addrs) and addrs[i] == addrs[i - 1] + n:
                    continue
                # One exporter per run, zeroed at once; each object's exporter is an
                # item of it (a ctypes array that keeps the run, so the region, alive).
                run = _exporter(region, addrs[start], n * (i - start))
                ctypes.memset(addrs[start], 0, n * (i - start))
                items = (ctypes.c_char * n * (i - start)).from_buffer(run)
                made.extend((addrs[start + k], n, from_buffer(ctype, items[k]))
                            for k in range(i - start))
                start = i
            made.reverse()  # popped in the pool's order
            addr, n, obj = made.pop()
            self._live[addr] = n
            self._ready.setdefault(cdecl, []).extend(made)
            if self._region is None:  # closed meanwhile: hand out nothing more
                self._ready = {}
            return obj
