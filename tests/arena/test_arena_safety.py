"""Arena v2 (issue 13): each safety row of the issue, and the lifetime rule
compared with ffi.new's case by case."""

import gc
import sys
import warnings
import weakref

import cffi
import pytest

from pool import Pool, PoolClosedError, PoolMemoryError
from pool.arena import PREFETCH, Arena

ffi = cffi.FFI()
ffi.cdef("struct node { struct node *next; long value; };")


# Every test returns all arena memory once its objects are gone.
pytestmark = pytest.mark.usefixtures("no_leaks")


def quiet_close(arena):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        arena.close()


# What cffi keeps alive, found by experiment on ffi.new objects (cffi 2.1.1):
# derive(p) -> an object; True when that object keeps p's memory alive.
CASES = [
    ("p[0] of a struct pointer", "struct node *", None, lambda p: p[0], True),
    ("ffi.buffer(p)", "struct node *", None, lambda p: ffi.buffer(p), True),
    ("ffi.buffer of a long *", "long *", None, lambda p: ffi.buffer(p), True),
    ("ffi.buffer of a struct array", "struct node[]", 3, lambda p: ffi.buffer(p), True),
    ("item of a struct array", "struct node[]", 3, lambda p: p[1], False),
    ("slice of an array", "long[]", 4, lambda p: p[1:3], False),
    ("pointer arithmetic", "struct node *", None, lambda p: p + 0, False),
    ("address of a field", "struct node *", None, lambda p: ffi.addressof(p, "value"), False),
    ("cast", "struct node *", None, lambda p: ffi.cast("struct node *", p), False),
]


def ffi_new_keeps(cdecl, arg, derive):
    """Does derive(ffi.new(cdecl, arg)) keep the memory alive?  Observed through
    cffi's allocator with a cdata-returning alloc (the same owning objects as
    ffi.new: the memory lives exactly as long as that char[] does)."""
    born = []

    def alloc(n):
        mem = ffi.new("char[]", n)
        born.append(weakref.ref(mem))
        return mem

    p = ffi.new_allocator(alloc=alloc)(cdecl, arg)
    kept = derive(p)
    del p
    gc.collect()
    alive = born[0]() is not None
    del kept
    return alive


def arena_keeps(cdecl, arg, derive):
    arena = Arena(ffi)
    p = arena.new(cdecl, arg)
    kept = derive(p)
    del p
    quiet_close(arena)
    gc.collect()
    alive = arena.region_alive
    del kept
    gc.collect()
    assert not arena.region_alive
    return alive


@pytest.mark.parametrize("what,cdecl,arg,derive,keeps", CASES, ids=[c[0] for c in CASES])
def test_arena_keeps_alive_exactly_what_ffi_new_keeps_alive(what, cdecl, arg, derive, keeps):
    assert ffi_new_keeps(cdecl, arg, derive) is keeps  # cffi's rule, as observed
    assert arena_keeps(cdecl, arg, derive) is keeps


def test_struct_read_through_p0_survives_close():
    arena = Arena(ffi)
    p = arena.new("struct node *", {"value": 0x1234})
    q = p[0]
    del p
    quiet_close(arena)
    gc.collect()
    for _ in range(3):  # other arenas' memory churns meanwhile
        with Arena(ffi) as other:
            [other.new("struct node *", {"value": -1}) for _ in range(1000)]
    assert q.value == 0x1234 and arena.region_alive
    del q
    assert not arena.region_alive


def test_pool_of_an_arena_cannot_be_closed_or_used():
    arena = Arena(ffi)
    obj = arena.new("struct node *", {"value": 5})
    view = arena.pool
    for name in ("close", "allocate", "deallocate", "allocate_many", "buffer", "reallocate"):
        with pytest.raises(AttributeError, match="read-only"):
            getattr(view, name)
    with pytest.raises(AttributeError):
        view.heap_limit = 10
    assert view.align == 8 and view.stats().heap_size > 0 and not view.closed
    arena.close()
    assert obj.value == 5
    del obj
    assert arena.pool.closed


def count_until_refused(make):
    n = 0
    keep = []
    try:
        while n < 10_000:
            keep.append(make())
            n += 1
    except MemoryError:
        pass
    return n


def test_heap_limit_serves_as_many_objects_as_the_pool():
    pool = Pool(heap_limit=400)
    expected = count_until_refused(lambda: pool.allocate(8))
    pool.close()
    assert expected == 40
    arena = Arena(heap_limit=400)
    assert count_until_refused(lambda: arena.new("long *")) == expected
    with pytest.raises(PoolMemoryError):
        arena.new("long *")
    arena.close()


def test_close_drops_the_bookkeeping_and_says_so():
    arena = Arena(ffi)
    objs = [arena.new("struct node *") for _ in range(100_000)]
    st = arena.stats()
    assert (st.objects, st.live, st.closed, st.region_alive) == (100_000, 100_000, False, True)
    quiet_close(arena)
    assert arena._source.ledger is None  # the per-run records went with close()
    st = arena.stats()
    assert st.closed and st.region_alive and st.live is None and st.pool is not None
    del objs
    st = arena.stats()
    assert st.closed and not st.region_alive and st.pool is None


def test_bookkeeping_is_per_run_not_per_object():
    arena = Arena(ffi)
    gc.collect()
    objs = []
    before = sys.getallocatedblocks()
    for _ in range(64_000):
        objs.append(arena.new("struct node *"))
    after = sys.getallocatedblocks()
    # each object is cffi's two objects plus the pointer cffi's allocator made;
    # the arena adds a few blocks per run of PREFETCH, nothing per object
    per_object = (after - before) / 64_000
    assert per_object < 3.2, per_object
    del objs
    arena.close()


def test_leftover_reference_after_close_is_visible_and_warned():
    arena = Arena(ffi)
    for i in range(10):
        node = arena.new("struct node *", {"value": i})
    assert arena.region_alive
    with pytest.warns(ResourceWarning, match="still referenced"):
        arena.close()
    assert arena.region_alive and arena.stats().region_alive
    del node
    assert not arena.region_alive
    arena2 = Arena(ffi)
    arena2.new("struct node *")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        arena2.close()  # nothing held: no warning
    assert not arena2.region_alive


def test_help_states_the_lifetime_rule_and_the_safe_pattern():
    doc = Arena.__doc__
    for phrase in (
        "p[0]",
        "ffi.buffer(p)",
        "pointer arithmetic",
        "does not own",
        "with arena:",
        "region_alive",
        "ResourceWarning",
    ):
        assert phrase in doc, phrase


def test_walk_inside_with_arena_is_safe():
    """The documented safe pattern: the walk while the arena is open."""
    with Arena(ffi) as arena:
        head = ffi.NULL
        for i in range(1000):
            n = arena.new("struct node *", {"value": i})
            n.next, head = head, n
        del n
        cur, total = head, 0
        del head
        while cur != ffi.NULL:
            total += cur.value
            cur = cur.next
        assert total == sum(range(1000))


def test_unknown_struct_on_the_package_ffi_names_the_fix():
    with Arena() as arena:
        with pytest.raises(TypeError, match=r"struct lnode \*.*Arena\(ffi\)"):
            arena.new("struct lnode *")
        assert arena.new("long *")[0] == 0


def test_closed_arena_refuses_everything():
    arena = Arena(ffi)
    arena.close()
    for call in (
        lambda: arena.new("struct node *"),
        lambda: arena.new_many("long", 3),
        lambda: arena.buffer(8),
        lambda: arena.release(ffi.NULL),
    ):
        with pytest.raises(PoolClosedError):
            call()


def test_release_after_reuse_and_of_large_blocks():
    with Arena(ffi) as arena:
        a = arena.new("struct node *")
        arena.release(a)
        again = [arena.new("struct node *") for _ in range(2 * PREFETCH)]  # a refill
        addrs = {int(ffi.cast("uintptr_t", o)) for o in again}
        assert int(ffi.cast("uintptr_t", a)) in addrs  # reused after release
        for o in again:
            arena.release(o)  # the reused one too: it is live again
        with pytest.raises(ValueError):
            arena.release(again[0])
        big = arena.new("char[]", 5000)
        arena.release(big)
        with pytest.raises(ValueError):
            arena.release(big)
        inner = arena.new("long[]", 4)
        with pytest.raises(ValueError):
            arena.release(inner + 1)  # an interior address
        st = arena.stats()
        assert st.live == 1 and st.released == 2 * PREFETCH + 2


def test_numpy_view_of_a_buffer_keeps_the_region_alive():
    np = pytest.importorskip(
        "numpy", reason="numpy is not installed: the Arena.buffer + numpy.frombuffer test needs it"
    )
    arena = Arena()
    buf = arena.buffer(8 * 1000)
    arr = np.frombuffer(buf, dtype=np.float64)
    arr[:] = np.arange(1000)
    del buf
    quiet_close(arena)
    gc.collect()
    with Arena() as other:  # churn other memory
        [other.buffer(8000) for _ in range(20)]
    assert arena.region_alive and arr.sum() == sum(range(1000))
    view = arr[10:20]
    del arr
    gc.collect()
    assert arena.region_alive and list(view) == list(range(10, 20))
    del view
    gc.collect()
    assert not arena.region_alive


def _in_child(work):
    """Runs work() in a forked child (a deadlock there cannot leave this
    process a lock held by a stuck thread); returns its wait status, or None
    if it hung (then it was killed).  The child's traceback goes to stderr."""
    import os
    import traceback

    from helpers import wait_or_kill

    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            work()
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    return wait_or_kill(pid, seconds=30)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_the_oom_handler_may_release_read_stats_and_allocate():
    """Issue 20 row 3: the handler runs outside the arena's refill lock, so it
    can make room the way an arena allows (release), read stats() and even
    call new(); the request is then retried.  (It used to deadlock.)"""
    import os

    def work():
        kept = []
        calls = []

        def handler(nbytes):
            calls.append(nbytes)
            assert arena.stats().live == len(kept) + len(calls) - 1
            for obj in kept[: len(kept) // 2]:
                arena.release(obj)
            del kept[: len(kept) // 2]
            arena.new("long *")[0] = 1  # from the room just made
            return True

        arena = Arena(heap_limit=4096, oom_handler=handler)
        for i in range(2000):
            p = arena.new("long *")
            p[0] = i
            kept.append(p)
        assert calls and all(n > 0 for n in calls)
        assert arena.pool.stats().oom_handler_calls == len(calls)
        assert [p[0] for p in kept] == list(range(2000 - len(kept), 2000))  # untouched
        assert arena.stats().live == len(kept) + len(calls)  # + those made by the handler
        kept.clear()
        arena.close()

    status = _in_child(work)
    assert status is not None, "the child hung: the oom handler deadlocked on the arena"
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_an_oom_handler_that_declines_gives_pool_memory_error():
    calls = []
    arena = Arena(heap_limit=4096, oom_handler=lambda n: calls.append(n) or False)
    kept = []
    with pytest.raises(PoolMemoryError, match="oom handler gave up"):
        for _ in range(4096):
            kept.append(arena.new("long *"))
    assert len(calls) == 1 and arena.pool.stats().oom_handler_calls == 1
    del kept
    arena.close()
    with pytest.raises(TypeError):
        Arena(oom_handler=42)  # validated as a Pool's


def test_release_of_a_struct_value_or_an_item_is_refused_cleanly():
    """Issue 20 row 16: release(arr[1]) or release(p[0]) (a struct, not a
    pointer) raised cffi's TypeError; now InvalidBlockError, nothing changed."""
    from pool import InvalidBlockError

    arena = Arena(ffi)
    p = arena.new("struct node *", {"value": 5})
    arr = arena.new_many("struct node", 3)
    nums = arena.new("long[]", [1, 2, 3])
    before = repr(arena.stats())
    for bad in (
        p[0],
        arr[1],
        arr[0],
        nums[1],
        ffi.cast("int", 5),
        arr + 1,
        ffi.NULL,
        object(),
        12345,
    ):
        with pytest.raises(InvalidBlockError) as info:
            arena.release(bad)
        assert repr(bad)[:20] in str(info.value)
    with pytest.raises(InvalidBlockError, match="struct value, not an object of this arena"):
        arena.release(p[0])
    assert repr(arena.stats()) == before
    assert p.value == 5 and list(nums) == [1, 2, 3]
    arena.release(p)  # the object itself still can be
    arena.release(arr)
    del p, arr, nums
    arena.close()


def test_a_new_whose_initialiser_fails_is_not_counted_and_its_block_returns():
    """Issue 20 row 16: the block of a new() whose initialiser raises goes back
    to the pool, and the object is not counted (it stayed counted as live)."""
    arena = Arena(ffi)
    keep = [arena.new("struct node *", {"value": i}) for i in range(10)]
    big = arena.new("char[]", 500)  # above max_small: a large block
    stats = repr(arena.stats())
    large = arena.pool.stats().large_live
    failing = [
        ("struct node *", {"no_such_field": 1}),
        ("long *", "not a number"),
        ("long[]", [1, 2, "x"]),
        ("char[600]", b"y" * 700),
        ("struct node *", [1, 2, 3]),
    ]
    for cdecl, init in failing:
        with pytest.raises((TypeError, KeyError, IndexError, ValueError)):
            arena.new(cdecl, init)
        assert repr(arena.stats()) == stats, cdecl
    assert arena.pool.stats().large_live == large
    assert [k.value for k in keep] == list(range(10)) and len(big) == 500

    inner = []

    class Index:  # an initialiser that itself makes an object, then fails
        def __int__(self):  # what cffi calls for a C long
            inner.append(arena.new("long *", 7))
            raise OverflowError("no")

    with pytest.raises(OverflowError):
        arena.new("long[]", [1, Index()])
    assert len(inner) == 1 and inner[0][0] == 7  # the inner object stays handed out
    assert arena.stats().live == 12 and arena.stats().released == 0
    inner.clear()
    del keep, big
    arena.close()
