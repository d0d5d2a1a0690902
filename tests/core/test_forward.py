"""sgi_pool_forward_malloc / sgi_pool_forward_free (csrc/core/forward.c): the
malloc and free that the PyMem hook registers directly, with the replaced
allocator (here cffi callbacks that record their calls) behind the pool.  They
must hand out and take back exactly the blocks that sgi_pool_allocate and
sgi_pool_free_checked do, in every profile: the bare pool takes forward.c's
own fast paths, the others go through the entry points."""

import pytest
from pool._pool_c import ffi, lib

from pool import Pool

PROFILES = {
    "bare": dict(align=16, checked=False, thread_safe=False),  # the hook pool before 3.12
    "thread-safe": dict(align=16, checked=False, thread_safe=True),  # 3.12 on
    "checked": dict(checked=True),
}


class Replaced:
    """The allocator behind the pool: records every call; its blocks are cffi's."""

    def __init__(self):
        self.blocks = {}  # address -> the cdata keeping it alive
        self.calls = []
        self.malloc = ffi.callback("void *(void *, size_t)", self._malloc)
        self.free = ffi.callback("void (void *, void *)", self._free)

    def _malloc(self, ctx, n):
        block = ffi.new("char[]", n)
        self.blocks[int(ffi.cast("uintptr_t", block))] = block
        self.calls.append(("malloc", n))
        return block

    def _free(self, ctx, ptr):
        address = int(ffi.cast("uintptr_t", ptr))
        self.calls.append(("free", address))
        self.blocks.pop(address, None)


def _forward(pool, replaced, serve_max=None):
    fw = ffi.new("sgi_pool_forward *")
    fw.pool = pool._handle()
    fw.serve_max = pool.max_small if serve_max is None else serve_max
    fw.ctx = ffi.NULL
    fw.malloc_fn = replaced.malloc
    fw.free_fn = replaced.free
    return fw


def _addr(ptr):
    return int(ffi.cast("uintptr_t", ptr))


@pytest.mark.parametrize("profile", PROFILES)
def test_small_blocks_come_from_the_pool_and_go_back_to_it(profile):
    replaced = Replaced()
    with Pool(**PROFILES[profile]) as pool:
        fw = _forward(pool, replaced)
        blocks = [_addr(lib.sgi_pool_forward_malloc(fw, n)) for n in (1, 24, 100, 128, 24)]
        assert all(b in pool for b in blocks) and len(set(blocks)) == len(blocks)
        for b in blocks:
            lib.sgi_pool_forward_free(fw, ffi.cast("void *", b))
        assert replaced.calls == []  # the replaced allocator saw none of them
        assert sum(c.live for c in pool.stats().classes) == 0
        # the same list as the pool's own entry: the last block freed comes back first
        assert pool.allocate(24) == blocks[-1]


@pytest.mark.parametrize("profile", PROFILES)
def test_the_rest_goes_to_the_replaced_allocator(profile):
    replaced = Replaced()
    with Pool(**PROFILES[profile]) as pool:
        fw = _forward(pool, replaced)
        large = _addr(lib.sgi_pool_forward_malloc(fw, pool.max_small + 1))
        assert replaced.calls == [("malloc", pool.max_small + 1)] and large not in pool
        lib.sgi_pool_forward_free(fw, ffi.cast("void *", large))
        assert replaced.calls[-1] == ("free", large)
        foreign = ffi.new("char[]", 32)  # a block the pool never saw
        lib.sgi_pool_forward_free(fw, foreign)
        assert replaced.calls[-1] == ("free", _addr(foreign))
        lib.sgi_pool_forward_free(fw, ffi.NULL)  # nothing at all
        assert len(replaced.calls) == 3


@pytest.mark.parametrize("profile", PROFILES)
def test_serve_max_zero_serves_nothing_new_but_still_frees_the_pools_blocks(profile):
    replaced = Replaced()
    with Pool(**PROFILES[profile]) as pool:
        fw = _forward(pool, replaced)
        mine = _addr(lib.sgi_pool_forward_malloc(fw, 16))
        fw.serve_max = 0  # uninstall(): new blocks from the replaced allocator
        theirs = _addr(lib.sgi_pool_forward_malloc(fw, 16))
        assert mine in pool and theirs not in pool and replaced.calls == [("malloc", 16)]
        lib.sgi_pool_forward_free(fw, ffi.cast("void *", mine))  # still the pool's
        assert len(replaced.calls) == 1 and pool.allocate(16) == mine


def test_a_refused_request_falls_back_to_the_replaced_allocator():
    replaced = Replaced()
    with Pool(**PROFILES["bare"], heap_limit=1) as pool:  # every chunk refused
        fw = _forward(pool, replaced)
        block = _addr(lib.sgi_pool_forward_malloc(fw, 24))
        assert block not in pool and replaced.calls == [("malloc", 24)]
        lib.sgi_pool_forward_free(fw, ffi.cast("void *", block))
        assert replaced.calls[-1] == ("free", block)
