"""Arena v3: new()'s hot path (per-size allocators, the C lookup on CPython),
maker(), growing refills and how their runs are found, whole-structure rows."""

import random
import warnings
from array import array

import cffi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pool.arena as arena_module
from pool import PoolClosedError
from pool.arena import PREFETCH, PREFETCH_MAX, Arena

ffi = cffi.FFI()
ffi.cdef("""
    struct node { struct node *next; long value; };
    union num { long i; double d; };
    struct var { int n; int items[]; };
""")

# Every test returns all arena memory once its objects are gone.
pytestmark = pytest.mark.usefixtures("no_leaks")


def addr(p):
    return int(ffi.cast("uintptr_t", p))


@pytest.mark.parametrize(
    "cdecl, init",
    [
        ("struct node *", {"value": 7}),
        ("struct node *", [ffi.NULL, 7]),
        ("union num *", {"d": 1.5}),
        ("char *", b"x"),
        ("long *", 12),
        ("double *", 2.5),
        ("struct node **", None),
        ("long[3]", [1, 2]),
        ("char[]", b"abc"),
        ("struct var *", {"n": 2, "items": [4, 5]}),
    ],
)
def test_new_with_init_matches_ffi_new(cdecl, init):
    """Pointer types assign init after the zeroed allocation; arrays and
    structs ending in an open array go through cffi's own initialisation."""
    want = ffi.new(cdecl, init)
    with Arena(ffi) as arena:
        for _ in range(3):  # the first call learns the type's size, the next use the hot path
            got = arena.new(cdecl, init)
            assert ffi.typeof(got) is ffi.typeof(want)
            assert ffi.sizeof(got) == ffi.sizeof(want)
            assert bytes(ffi.buffer(got)) == bytes(ffi.buffer(want))
        del got


def test_a_failing_initialiser_on_the_hot_path_gives_its_block_back():
    with Arena(ffi) as arena:
        arena.new("struct node *", {"value": 1})  # the type is known: the C path serves the next
        before = arena.stats()
        with pytest.raises(KeyError):
            arena.new("struct node *", {"nope": 1})
        with pytest.raises(TypeError):
            arena.new("struct node *", {"value": "text"})
        after = arena.stats()
        assert (after.objects, after.live) == (before.objects, before.live)
        again = arena.new("struct node *", init={"value": 3})  # keywords take the Python path
        assert again.value == 3


def test_new_kept_after_close_raises():
    arena = Arena(ffi)
    new = arena.new
    new("struct node *")
    arena.close()
    with pytest.raises(PoolClosedError):
        new("struct node *")
    with pytest.raises(PoolClosedError):
        new("struct node *", {"value": 1})


def test_unhashable_and_unknown_types_are_refused_clearly():
    with Arena(ffi) as arena:
        with pytest.raises(TypeError):
            arena.new(["struct node *"])
        with pytest.raises(TypeError, match="unknown size"):  # as ffi.new says
            arena.new("struct nothere *")
        with pytest.raises(cffi.CDefError):  # an in-line ffi's parse error, unchanged
            arena.new("foo bar *")
        with pytest.raises(TypeError, match="pointer or array"):
            arena.new("long")


def test_maker_makes_zeroed_objects_counted_like_new():
    with Arena(ffi) as arena:
        make = arena.maker("struct node *")
        objs = [make() for _ in range(2 * PREFETCH + 3)]  # across refills
        assert all(o.value == 0 and o.next == ffi.NULL for o in objs)
        assert len({addr(o) for o in objs}) == len(objs)
        assert ffi.typeof(objs[0]) is ffi.typeof("struct node *")
        st = arena.stats()
        assert st.objects == st.live == len(objs)
        arena.release(objs.pop())
        assert arena.stats().live == len(objs)
        del objs


def test_maker_refuses_what_it_cannot_do():
    with Arena(ffi) as arena:
        with pytest.raises(TypeError, match="no fixed size"):
            arena.maker("long[]")
        make = arena.maker("struct var *")
        with pytest.raises(TypeError):  # an initialiser could ask for more than one size
            make({"n": 1, "items": list(range(1000))})
    with pytest.raises(PoolClosedError):
        arena.maker("struct node *")


def test_a_maker_kept_after_close_raises_and_holds_the_region():
    arena = Arena(ffi)
    make = arena.maker("struct node *")
    make()  # the current run has blocks left: close() must use them up
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        arena.close()
    assert arena.region_alive  # the maker holds it, as an object would
    for _ in range(3):
        with pytest.raises(PoolClosedError):
            make()
    del make
    assert not arena.region_alive


def test_refills_grow_to_prefetch_max():
    with Arena(ffi) as arena:
        objs = [arena.new("long *") for _ in range(4 * PREFETCH_MAX)]
        assert arena._source.prefetch[8] == PREFETCH_MAX
        assert arena.stats().live == len(objs)
        del objs


def _runs_of(addrs, block):
    """The plain definition: a run ends where the next block is not adjacent."""
    return [
        i for i in range(1, len(addrs) + 1) if i == len(addrs) or addrs[i] != addrs[i - 1] + block
    ]


addresses = st.lists(
    st.one_of(
        st.integers(0, 8),  # mostly adjacent blocks
        st.integers(-(1 << 40), 1 << 40),  # jumps either way
    ),
    min_size=1,
    max_size=300,
)


@settings(max_examples=300, deadline=None)
@given(
    steps=addresses,
    block=st.sampled_from([8, 16, 24, 128]),
    top=st.sampled_from([1 << 47, 1 << 63, 1 << 64]),
)
def test_run_ends_finds_every_break(steps, block, top):
    """_run_ends works on the addresses as one big integer: it must agree with
    the plain loop, also where neighbours go down (a borrow without the bias)
    and above 2**63 (where the bias would carry: the plain loop then runs)."""
    rng = random.Random(len(steps))
    a = rng.randrange(top // 4, top - (1 << 42)) // 8 * 8
    addrs = []
    for s in steps:
        addrs.append(a)
        a += block if s == 1 else (s if s > 8 else block * (s - 3))
        a = min(max(a, 8), top - 8)
    arr = array("Q", addrs)
    assert arena_module._run_ends(arr, block) == _runs_of(addrs, block)


def test_whole_structure_rows_run(monkeypatch):
    from pool.bench import arena_rows

    monkeypatch.setattr(arena_rows, "STRUCTURE_REPEATS", 1)
    rows = arena_rows.arena_structure_rows(2000)
    assert len(rows) == 2 * 3 * 2  # list and tree, three ways, time and memory
    for row in rows:
        assert "median" in row, row
    names = {r["name"] for r in rows}
    for _text, num, den, _limit in arena_rows.STRUCTURE_TARGETS:
        assert num in names and den in names
