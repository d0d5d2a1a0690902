"""Every misuse of a checked pool raises a clear error and changes nothing."""

import copy
import pickle
from array import array

import pytest
from helpers import full_state, shared

from pool import (
    Arena,
    InvalidBlockError,
    Pool,
    PoolClosedError,
    PoolError,
    PoolMemoryError,
    ReferencePool,
    SizeClassError,
    _fastpath,
)

SIZE_MAX = 2**64 - 1


@pytest.fixture
def pool():
    """A checked pool with small and large live blocks, and a freed one."""
    with Pool() as p:
        p.small = p.allocate(24)
        p.large = p.allocate(300)
        p.freed = p.allocate(24)
        p.deallocate(p.freed, 24)
        p.allocate_many(40, 3)
        yield p


def unchanged(pool, call, exc, match=None):
    before = full_state(pool)
    with pytest.raises(exc, match=match):
        call()
    assert full_state(pool) == before


BAD_SIZES = [
    (1.5, TypeError, "must be an int, not float"),
    ("8", TypeError, "not str"),
    (None, TypeError, "not NoneType"),
    (True, TypeError, "not bool"),
    (0, ValueError, "at least 1, got 0"),
    (-8, ValueError, "at least 1, got -8"),
    (SIZE_MAX + 1, OverflowError, "does not fit a C size_t"),
]


@pytest.mark.parametrize("size, exc, match", BAD_SIZES)
def test_bad_sizes(pool, size, exc, match):
    unchanged(pool, lambda: pool.allocate(size), exc, match)
    if size is not None:  # deallocate(addr, None) is the size-less free
        unchanged(pool, lambda: pool.deallocate(pool.small, size), exc, match)
        unchanged(pool, lambda: pool.deallocate_many([pool.small], size), exc, match)
    unchanged(pool, lambda: pool.reallocate(pool.small, size, 24), exc, match)
    unchanged(pool, lambda: pool.reallocate(pool.small, 24, size), exc, match)
    unchanged(pool, lambda: pool.allocate_many(size, 2), exc, match)
    unchanged(pool, lambda: pool.resize(pool.small, size), exc, match)


@pytest.mark.parametrize(
    "addr, exc, match",
    [
        (1.0, TypeError, "address.* must be an int, not float"),
        (None, TypeError, "not NoneType"),
        (0, ValueError, "positive int, got 0"),
        (-4096, ValueError, "positive int"),
        (SIZE_MAX + 1, OverflowError, "does not fit"),
    ],
)
def test_bad_address_values(pool, addr, exc, match):
    unchanged(pool, lambda: pool.deallocate(addr, 24), exc, match)
    unchanged(pool, lambda: pool.reallocate(addr, 24, 48), exc, match)
    if addr == 0:  # in a batch, the C check refuses it (no Python scan of the batch)
        exc, match = InvalidBlockError, r"0x0 \(entry 1\) is not a live block"
    unchanged(pool, lambda: pool.deallocate_many([pool.small, addr], 24), exc, match)


def test_foreign_and_interior_addresses(pool):
    foreign = Pool().allocate(24)
    for addr in (foreign, pool.small + 8, pool.large + 8, pool.small - 24 * 100):
        unchanged(
            pool,
            lambda: pool.deallocate(addr, 24),
            InvalidBlockError,
            f"{addr:#x} is not a live block",
        )
        unchanged(pool, lambda: pool.reallocate(addr, 24, 64), InvalidBlockError)
        unchanged(pool, lambda: pool.deallocate(addr, 300), InvalidBlockError)


def test_double_free(pool):
    unchanged(pool, lambda: pool.deallocate(pool.freed, 24), InvalidBlockError, "already freed")
    unchanged(pool, lambda: pool.reallocate(pool.freed, 24, 8), InvalidBlockError)
    pool.deallocate(pool.large, 300)
    unchanged(pool, lambda: pool.deallocate(pool.large, 300), InvalidBlockError)


@pytest.mark.parametrize("wrong", [8, 32, 128, 129, 4000])
def test_wrong_size_class_small_block(pool, wrong):
    unchanged(
        pool,
        lambda: pool.deallocate(pool.small, wrong),
        SizeClassError,
        f"allocated with size 24 .*but size {wrong}",
    )
    unchanged(pool, lambda: pool.reallocate(pool.small, wrong, 64), SizeClassError)


def test_wrong_size_class_large_block(pool):
    unchanged(pool, lambda: pool.deallocate(pool.large, 128), SizeClassError, "size 300")
    # all sizes above max_small are one class: this free is accepted
    pool.deallocate(pool.large, 129)
    assert pool.stats().large_live == 0


@pytest.mark.parametrize("cls", [Pool, _fastpath.cffi_twin(Pool)], ids=["default", "cffi"])
def test_largest_size_t_is_a_size_like_any_other(cls):
    """Issue 20 row 10: 2**64-1 is a valid size_t, so it is a size given, not
    a "no size" marker: a wrong class names it (the fast path once took it
    for the size-less marker and raised a bare AssertionError)."""
    with cls() as pool:
        small = pool.allocate(24)  # (above max_small every size is one class: no error)
        unchanged(
            pool,
            lambda: pool.deallocate(small, SIZE_MAX),
            SizeClassError,
            f"allocated with size 24 .*but size {SIZE_MAX} ",
        )
        unchanged(
            pool,
            lambda: pool.deallocate_many([small], SIZE_MAX),
            SizeClassError,
            f"entry 0.*but size {SIZE_MAX} ",
        )
        unchanged(
            pool,
            lambda: pool.reallocate(small, SIZE_MAX, 8),
            SizeClassError,
            f"but size {SIZE_MAX} ",
        )
        freed = pool.allocate(24)
        pool.deallocate(freed)
        unchanged(
            pool,
            lambda: pool.deallocate(freed, SIZE_MAX),
            InvalidBlockError,
            f"size given {SIZE_MAX}$",
        )
        unchanged(
            pool,
            lambda: pool.deallocate_many([freed], SIZE_MAX),
            InvalidBlockError,
            f"size given {SIZE_MAX}$",
        )


def test_same_class_other_size_is_accepted(pool):
    pool.deallocate(pool.small, 17)  # 17..24 share the 24-byte class
    assert pool.small in pool.free_list(2)


def test_batch_free_checks_everything_first(make_pool):
    with make_pool() as pool:
        small = pool.allocate(24)
        large = pool.allocate(300)
        good = list(pool.allocate_many(24, 4))
        gone = pool.allocate(24)
        pool.deallocate(gone, 24)
        cases = [
            (good[:2] + [small + 8] + good[2:], InvalidBlockError, r"entry 2"),
            (
                good[:3] + [good[0] + 4] + good[3:],
                InvalidBlockError,
                r"entry 3\) is not a live block",
            ),
            (good + [good[1]], InvalidBlockError, "twice in one batch"),
            (good + [gone], InvalidBlockError, "not a live block"),
            (good + [large], SizeClassError, "size 300"),
        ]
        for addrs, exc, match in cases:
            unchanged(pool, lambda: pool.deallocate_many(addrs, 24), exc, match)
        unchanged(pool, lambda: pool.deallocate_many(good, 48), SizeClassError)
        unchanged(pool, lambda: pool.deallocate_many([1.5], 24), TypeError)
        unchanged(pool, lambda: pool.deallocate_many([0], 24), ValueError)
        unchanged(pool, lambda: pool.deallocate_many([-1], 24), ValueError)
        pool.deallocate_many(good, 24)  # and then it works
        # freed in order: the last one pushed is the head
        assert pool.free_list(2)[:4] == good[::-1]
        assert pool.stats().classes[2].live == 1  # small


def test_bad_counts_and_buffers(pool):
    unchanged(pool, lambda: pool.allocate_many(8, -1), ValueError, "at least 0")
    unchanged(pool, lambda: pool.allocate_many(8, 2.0), TypeError)
    unchanged(pool, lambda: pool.buffer(pool.small, 25), ValueError, "usable bytes")
    unchanged(pool, lambda: pool.buffer(pool.freed), InvalidBlockError)
    unchanged(pool, lambda: pool.free_list(16), ValueError)
    assert len(pool.buffer(pool.small)) == 24 and len(pool.buffer(pool.small, 24)) == 24


@pytest.mark.parametrize(
    "value, exc",
    [
        (0, ValueError),
        (-1, ValueError),
        ("1", TypeError),
        (2.5, TypeError),
        (SIZE_MAX + 1, OverflowError),
    ],
)
def test_bad_heap_limit(pool, value, exc):
    unchanged(pool, lambda: setattr(pool, "heap_limit", value), exc, "heap_limit")
    with pytest.raises(exc):
        Pool(heap_limit=value)


@pytest.mark.parametrize(
    "options, exc, match",
    [
        ({"align": 4}, ValueError, "align must be 8 or 16"),
        ({"align": 32}, ValueError, "align"),
        ({"align": "8"}, TypeError, "align"),
        ({"align": 8.0}, TypeError, "align"),
        ({"max_small": 100}, ValueError, "max_small"),
        ({"max_small": 100, "align": 16}, ValueError, "multiple of align"),
        ({"max_small": 0}, ValueError, "max_small"),
        ({"max_small": 8192}, ValueError, "max_small"),
        ({"refill": 0}, ValueError, "refill"),
        ({"refill": 5000}, ValueError, "refill"),
        ({"refill": 2.0}, TypeError, "refill"),
        ({"checked": 1}, TypeError, "checked must be True or False"),
        ({"heap_limit": 0}, ValueError, "heap_limit"),
        ({"thread_safe": None}, TypeError, "thread_safe"),
        ({"oom_handler": 42}, TypeError, "oom_handler must be callable"),
        ({"oom_handler": 3}, TypeError, "oom_handler must be callable"),
    ],
)
def test_invalid_options(make_pool, options, exc, match):
    with pytest.raises(exc, match=match):
        make_pool(**options)


@pytest.mark.parametrize(
    "options, exc, match",
    [
        ({"thread_cache": 1}, TypeError, "thread_cache must be True or False, not 1"),
        ({"thread_cache": True, "thread_safe": False}, ValueError, "needs thread_safe=True"),
    ],
)
def test_invalid_thread_cache_option(make_pool, options, exc, match):
    with pytest.raises(exc, match=match):
        make_pool(**options)


def test_positional_options_are_refused():
    with pytest.raises(TypeError):
        Pool(None)


def test_use_after_close(make_pool):
    p = make_pool()
    a = p.allocate(8)
    with p:
        pass
    assert p.closed
    p.close()  # idempotent
    calls = [
        lambda: p.allocate(8),
        lambda: p.allocate(0),  # closed is reported before a bad argument
        lambda: p.deallocate(a, 8),
        lambda: p.reallocate(a, 8, 16),
        lambda: p.allocate_many(8, 2),
        lambda: p.deallocate_many([a], 8),
        lambda: p.buffer(a),
        lambda: p.buffer(a, 8),
        lambda: p.heap_size,
        lambda: p.heap_limit,
        lambda: setattr(p, "heap_limit", 10),
        lambda: p.chunks(),
        lambda: p.free_list(0),
        lambda: p.free_list_lengths(),
        lambda: p.stats(),
        lambda: p.live_blocks(),
        lambda: p.current_chunk(),
        lambda: p.__enter__(),
    ]
    for call in calls:
        with pytest.raises(PoolClosedError, match="closed"):
            call()
    assert issubclass(PoolClosedError, ValueError) and issubclass(PoolClosedError, PoolError)
    assert "closed" in repr(p)
    with pytest.raises(PoolClosedError), p:
        pass


def test_unchecked_pool_still_knows_large_blocks():
    with Pool(checked=False) as p:
        big = p.allocate(500)
        unchanged(p, lambda: p.deallocate(big + 16, 500), InvalidBlockError)
        unchanged(p, lambda: p.reallocate(big + 16, 500, 600), InvalidBlockError)
        unchanged(p, lambda: p.allocate(0), ValueError)
        p.deallocate(big, 500)
        unchanged(p, lambda: p.deallocate(big, 500), InvalidBlockError)


@pytest.mark.parametrize(
    "addrs, exc, match",
    [
        ([True], TypeError, "address 0 in batch must be an int, not bool"),
        (b"\x08" + bytes(7), TypeError, "use array"),
        (iter([-1]), ValueError, "address 0 in batch must be a positive int, got -1"),
        ([8, 2.0], TypeError, "address 1 in batch must be an int, not float"),
        ([2**64], OverflowError, "address 0 in batch"),
    ],
)
def test_batch_addresses_are_checked_like_single_ones(pool, addrs, exc, match):
    unchanged(pool, lambda: pool.deallocate_many(addrs, 24), exc, match)
    with Pool(checked=False) as unchecked, pytest.raises(exc):  # the trusting mode checks too
        unchecked.deallocate_many(addrs if not hasattr(addrs, "__next__") else [-1], 24)


# ---- reliability issue rows 3, 6 and 7 -------------------------------------------------


@pytest.mark.parametrize(
    "count, exc, match",
    [
        (2**40, PoolMemoryError, r"allocate_many\(8, 1099511627776\) needs 8796093022208 bytes"),
        (2**61 - 1, PoolMemoryError, r"needs 18446744073709551608 bytes for the addresses"),
    ],
)
def test_batch_too_large_for_memory(pool, count, exc, match):
    """A count whose address array cannot be had is a PoolMemoryError naming
    the count and the bytes, not a bare MemoryError; the pool is unchanged."""
    unchanged(pool, lambda: pool.allocate_many(8, count), exc, match)


def test_batch_whose_bytes_overflow_size_t(pool):
    unchanged(
        pool, lambda: pool.allocate_many(2**20, 2**60), OverflowError, "do not fit a C size_t"
    )


@pytest.mark.parametrize("make", [Pool, ReferencePool, Arena], ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "how", [copy.copy, copy.deepcopy, pickle.dumps], ids=["copy", "deepcopy", "pickle"]
)
def test_pools_and_arenas_cannot_be_copied(make, how):
    obj = make()
    try:
        with pytest.raises(TypeError, match=f"{make.__name__} objects cannot be copied"):
            how(obj)
    finally:
        obj.close()


@pytest.mark.parametrize("call", ["deallocate", "reallocate", "deallocate_many"])
def test_closed_by_another_thread_after_the_c_call(monkeypatch, call):
    """Row 3: another thread closes the pool between a refused C call and the
    error report; the caller gets PoolClosedError, never a cffi TypeError
    about a None handle (the handle is read once per call).  On the cffi
    path, whose C calls the test can interpose (the fast path reads the
    handle once in C and builds errors through the same Pool._block_error)."""
    from pool import _fastpath, core

    pool = _fastpath.cffi_twin(Pool)()
    pool.small = pool.allocate(24)

    real = {"deallocate": "_deallocate_checked", "reallocate": None, "deallocate_many": None}[call]
    lib = core.lib

    def closing(original):
        def wrapper(*args):
            status = original(*args)
            pool.close()  # what another thread's close() does at this moment
            return status

        return wrapper

    if real:
        monkeypatch.setattr(core, real, closing(getattr(core, real)))
    else:
        name = "pool_reallocate" if call == "reallocate" else "sgi_pool_deallocate_many"
        fake = type("Lib", (), {})()
        for attr in dir(lib):
            if not attr.startswith("__"):
                setattr(fake, attr, getattr(lib, attr))
        setattr(fake, name, closing(getattr(lib, name)))
        monkeypatch.setattr(core, "lib", fake)
    with pytest.raises(PoolClosedError):
        if call == "deallocate":
            pool.deallocate(pool.small, 8 * 100)  # wrong class: the error path runs
        elif call == "reallocate":
            pool.reallocate(pool.small, 300, 40)
        else:
            pool.deallocate_many([pool.small], 300)


@pytest.mark.not_under_sanitizer(
    "corrupts an unchecked pool on purpose (a large block freed as small), which the "
    "sanitizer run's validating build rightly stops (invariant V4)"
)
@pytest.mark.parametrize("thread_cache", [False, True], ids=["lists", "thread-cache"])
def test_unchecked_mode_catches_exactly(make_pool, thread_cache):
    """The unchecked mode's promise as docs/python-api.md states it: small-size
    frees are not checked at all (even of a large block), large-size frees are;
    size-less frees only of carved blocks' starts (not the uncarved tail's),
    with thread caches too."""
    with make_pool(checked=False, thread_cache=thread_cache) as p:
        shared(p)  # the caches serve (a pool alone in one thread stays on the lists)
        a = p.allocate(8)
        large = p.allocate(300)
        assert p.live_blocks() == {large: 300}  # small blocks are not recorded
        before = full_state(p)
        with pytest.raises(InvalidBlockError, match="not a live block"):
            p.deallocate(a, 300)  # a large size: checked against the table
        with pytest.raises(InvalidBlockError):
            p.deallocate(large + 8, 300)
        with pytest.raises(InvalidBlockError):
            p.reallocate(large + 8, 300, 400)
        with pytest.raises(InvalidBlockError, match="appears twice"):
            p.deallocate_many([large, large], 300)
        with pytest.raises(InvalidBlockError, match="pass n"):
            p.buffer(a)  # small blocks are not recorded
        assert full_state(p) == before
        with pytest.raises(InvalidBlockError):
            p.buffer(p.allocate(8))
        p.buffer(a, 8)[:] = b"12345678"  # n given: no check
        assert bytes(p.buffer(a, 8)) == b"12345678"
        p.deallocate(a, 16)  # a wrong small size is trusted: a goes on the 16-byte list
        assert p.free_list(1) == [a]
        p.deallocate(large, 8)  # a small size: trusted, pushed on the 8-byte list ...
        assert p.free_list(0)[0] == large
        assert p.allocate(8) == large  # ... and handed out again, while still "live"
        assert large in p.live_blocks()
        # a tail no larger than a small block: its start bit and the chunk's
        # end bound what could pass for a block of a small class
        tail = p.current_chunk()
        for _ in range(100_000):
            if tail is not None and 0 < tail[1] - tail[0] <= 128:
                break
            p.allocate(8)  # refills take 160 bytes of the tail, then the rest
            tail = p.current_chunk()
        assert tail is not None and 0 < tail[1] - tail[0] <= 128
        before = full_state(p)
        with pytest.raises(InvalidBlockError, match="no block of this pool"):
            p.deallocate(tail[0])  # the tail's start bit starts no block
        assert full_state(p) == before


# ---- size-less calls: deallocate(addr), resize, usable_size, in, deallocate_many(addrs) ----


def _bad_addresses(pool):
    """Every kind of address that is no live block of a checked pool."""
    foreign_pool = Pool()
    tail = pool.current_chunk()
    if tail is None or tail[0] == tail[1]:
        pool.allocate(8)  # a refill from a new chunk leaves a tail
        tail = pool.current_chunk()
    assert tail[0] < tail[1]
    chunk_base, chunk_size = pool.chunks()[0]
    return {
        "foreign": foreign_pool.allocate(24),
        "interior, a granule inside": pool.small + 8,
        "interior, misaligned": pool.small + 4,
        "interior of a large block": pool.large + 8,
        "far from every chunk": 4096,
        "below the chunks": chunk_base - 64,
        "already freed": pool.freed,
        "the uncarved tail's start": tail[0],
        "inside the uncarved tail": tail[0] + 8,
        "the chunk's end": chunk_base + chunk_size,
    }, foreign_pool


def test_nosize_calls_refuse_every_bad_address(pool):
    bad, keep_alive = _bad_addresses(pool)
    for what, addr in bad.items():
        if what == "the chunk's end" and addr in pool:  # another chunk may start right there
            continue
        unchanged(
            pool, lambda: pool.deallocate(addr), InvalidBlockError, f"{addr:#x} is not a live block"
        )
        unchanged(pool, lambda: pool.resize(addr, 64), InvalidBlockError, "not a live block")
        unchanged(pool, lambda: pool.usable_size(addr), InvalidBlockError, "not a live block")
        unchanged(
            pool,
            lambda: pool.deallocate_many([pool.small, addr]),
            InvalidBlockError,
            r"\(entry 1\) is not a live block",
        )
        before = full_state(pool)
        assert addr not in pool, what
        assert full_state(pool) == before
    keep_alive.close()


def test_nosize_calls_on_good_blocks(pool):
    assert pool.small in pool and pool.large in pool and pool.freed not in pool
    assert pool.usable_size(pool.small) == 24 and pool.usable_size(pool.large) == 300
    a = pool.allocate(20)
    assert pool.usable_size(a) == 24 and pool.live_blocks()[a] == 24  # block sizes
    b = pool.resize(a, 100)  # another class: 24 bytes kept
    assert pool.usable_size(b) == 104 and a not in pool
    pool.deallocate(b)
    unchanged(pool, lambda: pool.deallocate(b), InvalidBlockError, "already freed")
    mixed = [pool.allocate(n) for n in (8, 24, 128, 129, 5000)]
    pool.deallocate_many(array("Q", mixed))  # mixed sizes, one call
    assert not any(addr in pool for addr in mixed)


def test_nosize_batch_checks_everything_first(pool):
    good = [pool.allocate(n) for n in (8, 40, 300)]
    for addrs, exc, match in [
        (good + [good[0]], InvalidBlockError, r"\(entry 3\) appears twice"),
        (good + [good[2]], InvalidBlockError, r"\(entry 3\) appears twice"),
        (good + [pool.freed], InvalidBlockError, r"\(entry 3\) is not a live block"),
        ([good[0], 4096, good[1]], InvalidBlockError, r"\(entry 1\)"),
        ([1.5], TypeError, "address 0 in batch"),
        ([0], InvalidBlockError, r"0x0 \(entry 0\) is not a live block"),  # as the sized batch
    ]:
        unchanged(pool, lambda: pool.deallocate_many(addrs), exc, match)
    pool.deallocate_many(good)  # and then it works
    assert not any(addr in pool for addr in good)


@pytest.mark.parametrize(
    "addr, exc, match",
    [
        (1.0, TypeError, "address.* must be an int, not float"),
        (None, TypeError, "not NoneType"),
        (0, ValueError, "positive int, got 0"),
        (-4096, ValueError, "positive int"),
        (SIZE_MAX + 1, OverflowError, "does not fit"),
    ],
)
def test_nosize_bad_address_values(pool, addr, exc, match):
    unchanged(pool, lambda: pool.deallocate(addr), exc, match)
    unchanged(pool, lambda: pool.resize(addr, 8), exc, match)
    unchanged(pool, lambda: pool.usable_size(addr), exc, match)
    if type(addr) is int:  # in: an int that can be no address is simply not in the pool
        assert addr not in pool
    else:
        with pytest.raises(TypeError):
            addr in pool  # noqa: B015


@pytest.mark.parametrize("thread_cache", [False, True], ids=["lists", "thread-cache"])
def test_unchecked_nosize_free_of_a_bad_address_does_nothing(thread_cache):
    """The documented outcome: an unchecked pool checks size-less calls too
    (its directory knows where carved blocks start), so a foreign, interior
    or tail address is refused and the pool is unchanged; also where the
    size-less free finds the size without the lock (thread caches)."""
    with Pool(checked=False, thread_cache=thread_cache) as p:
        shared(p)  # the caches serve (a pool alone in one thread stays on the lists)
        p.small = p.allocate(24)
        p.large = p.allocate(300)
        p.freed = p.allocate(24)
        p.deallocate(p.freed, 24)
        bad, keep_alive = _bad_addresses(p)
        for what, addr in bad.items():
            if what in ("already freed",) or (what == "the chunk's end" and addr in p):
                continue  # a free block is a carved block: in an unchecked pool it is "in"
            unchanged(p, lambda: p.deallocate(addr), InvalidBlockError, "no block of this pool")
            unchanged(p, lambda: p.resize(addr, 64), InvalidBlockError, "no block of this pool")
            unchanged(
                p,
                lambda: p.deallocate_many([p.small, addr]),
                InvalidBlockError,
                r"\(entry 1\) is no block",
            )
            assert addr not in p, what
        keep_alive.close()
        assert p.freed in p and p.usable_size(p.freed) == 24  # carved, free: no live bits here
        p.deallocate(p.small)
        assert p.free_list(2)[0] == p.small


def test_nosize_calls_after_close():
    p = Pool()
    a = p.allocate(8)
    p.close()
    for call in (
        lambda: p.deallocate(a),
        lambda: p.resize(a, 16),
        lambda: p.usable_size(a),
        lambda: a in p,
        lambda: p.deallocate_many([a]),
        lambda: p.block_map(),
    ):
        with pytest.raises(PoolClosedError):
            call()


@pytest.mark.parametrize(
    "options",
    [{}, {"align": 16}, {"max_small": 320, "refill": 4}],
    ids=["classic", "align16", "max320"],
)
def test_every_block_position_is_checked_exactly(make_pool, options):
    """The checked fast paths read a block's live bit and its extent from one
    64-bit window of the directory's two-bit bitmap (blocks up to 31 granules;
    longer ones take the general path): for blocks at every position of a
    bitmap word (windows across a word boundary, blocks before the tail and
    the chunk's end), every wrong class is refused and changes nothing, the
    right one frees, sized or size-less, and a second free is refused."""
    with make_pool(**options) as pool:
        align, max_small = pool.align, pool.max_small
        sizes = range(align, max_small + 1, align)
        blocks = [(n, pool.allocate(n)) for n in sizes for _ in range(pool.refill + 1)]
        for i, (n, addr) in enumerate(blocks):
            # the neighbouring classes above all: an extent off by one granule
            for wrong in {n - align, n + align, align, 2 * n, max_small} & set(sizes) - {n}:
                with pytest.raises(SizeClassError):
                    pool.deallocate(addr, wrong)
                with pytest.raises(SizeClassError):
                    pool.reallocate(addr, wrong, n)
            assert pool.reallocate(addr, n, n - align + 1) == addr  # same class: in place
            assert pool.live_blocks()[addr] == n
            if i % 2:
                pool.deallocate(addr, n)
            else:
                pool.deallocate(addr)
            assert addr not in pool and pool.free_list(n // align - 1)[0] == addr
            unchanged(pool, lambda: pool.deallocate(addr, n), InvalidBlockError)
            unchanged(pool, lambda: pool.deallocate(addr), InvalidBlockError)
            unchanged(pool, lambda: pool.reallocate(addr, n, n), InvalidBlockError)
            unchanged(pool, lambda: pool.resize(addr, n), InvalidBlockError)
        assert pool.live_blocks() == {}


@pytest.mark.parametrize("options", [{}, {"align": 16}, {"max_small": 1024}], ids=str)
def test_same_class_reallocate_is_in_place_and_checked(make_pool, options):
    """A.9 step 2: a reallocate (sized or size-less) to a size of the same
    class returns the block itself, copies nothing and changes no state; a
    misuse on that route is refused as on every other."""
    with make_pool(**options) as pool:
        align = pool.align
        for n in (1, align, 100, 128, 200, 1000):
            if n > pool.max_small:
                continue
            a = pool.allocate(n)
            data = bytes((i * 7 + 3) % 256 for i in range(n))
            pool.buffer(a, n)[:] = data
            top = -(-n // align) * align  # the block size
            before = full_state(pool)
            for m in {top - align + 1, n, top}:
                assert pool.reallocate(a, n, m) == a
                assert pool.resize(a, m) == a
            assert full_state(pool) == before and bytes(pool.buffer(a, n)) == data
            unchanged(pool, lambda: pool.reallocate(a + align, n, n), InvalidBlockError)
            unchanged(pool, lambda: pool.resize(a + align, n), InvalidBlockError)
            if top + align <= pool.max_small:  # another class, given as the old size
                unchanged(pool, lambda: pool.reallocate(a, top + 1, top), SizeClassError)
            pool.deallocate(a, n)
            unchanged(pool, lambda: pool.reallocate(a, n, n), InvalidBlockError)
            unchanged(pool, lambda: pool.resize(a, n), InvalidBlockError)


@pytest.mark.parametrize(
    "options", [{"refill": 4}, {"refill": 4, "max_small": 512}], ids=["classic", "max512"]
)
def test_batches_across_chunks_check_every_entry(make_pool, options):
    """A checked batch reuses the chunk found for the previous entry while the
    next lies in it: entries alternating between chunks, a bad entry right
    after a chunk change, and blocks longer than the one-window check (512
    bytes: 64 granules, the general path) are checked as single calls are."""
    with make_pool(**options) as pool:
        n = 200 if pool.max_small >= 200 else 40
        blocks = list(pool.allocate_many(n, 40))
        homes = {next(b for b, size in pool.chunks() if b <= a < b + size) for a in blocks}
        assert len(homes) > 2  # (a refill of 4 blocks: a chunk holds at most 4 + 1)
        mixed = blocks[::2] + blocks[1::2]  # hops across the chunks
        gone = pool.allocate(n)
        pool.deallocate(gone)
        cases = [
            (mixed + [mixed[0]], InvalidBlockError, "twice in one batch"),
            (mixed[:20] + [gone] + mixed[20:], InvalidBlockError, r"entry 20\)"),
            (mixed[:7] + [mixed[7] + pool.align] + mixed[7:], InvalidBlockError, r"entry 7\)"),
            (mixed + [blocks[-1]], InvalidBlockError, "twice in one batch"),
        ]
        for addrs, exc, match in cases:
            unchanged(pool, lambda: pool.deallocate_many(addrs, n), exc, match)
            unchanged(pool, lambda: pool.deallocate_many(addrs), exc, match)
        unchanged(pool, lambda: pool.deallocate_many(mixed, n + pool.align), SizeClassError)
        pool.deallocate_many(mixed[:20], n)
        pool.deallocate_many(mixed[20:])
        assert pool.live_blocks() == {}
        cls = (n + pool.align - 1) // pool.align - 1
        assert pool.free_list(cls)[:40] == mixed[20:][::-1] + mixed[:20][::-1]
        again = list(pool.allocate_many(n, 40))  # the live bits come back, chunk by chunk
        assert again == mixed[::-1] and len(pool.live_blocks()) == 40


@pytest.mark.parametrize("delta", [1, 2, 4, 7, 12, 20])
def test_misaligned_addresses_in_a_cached_chunk(pool, delta):
    # The checked fast free tests range and granule in one compare (the
    # offset rotated by the granule shift): a misaligned address inside the
    # cached chunk of a live block must still be refused, sized or not.
    addr = pool.small + delta
    for size in (8, 16, 24, 32):
        unchanged(pool, lambda size=size: pool.deallocate(addr, size), InvalidBlockError)
    unchanged(pool, lambda: pool.deallocate(addr), InvalidBlockError)
