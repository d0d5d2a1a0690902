"""pool.Arena: ffi.new semantics, region lifetime, release, threads."""

import gc
import threading

import cffi
import pytest

from pool import InvalidBlockError, PoolClosedError, process_totals
from pool.arena import Arena

ffi = cffi.FFI()
ffi.cdef("""
    struct node { struct node *next; long value; };
    struct tree { struct tree *left, *right; int key; };
    struct point { double x, y; };
    struct wide { long double v; };
    size_t strlen(const char *);
""")
libc = ffi.dlopen(None)


# Every test returns all arena memory once its objects are gone.
pytestmark = pytest.mark.usefixtures("no_leaks")


def test_new_means_what_ffi_new_means():
    with Arena(ffi) as arena:
        n = arena.new("struct node *")
        assert ffi.typeof(n) is ffi.typeof("struct node *")
        assert n.next == ffi.NULL and n.value == 0
        p = arena.new("struct point *", {"x": 1.5, "y": -2.0})
        assert (p.x, p.y) == (1.5, -2.0)
        q = arena.new("struct point *", [3.0, 4.0])
        assert (q.x, q.y) == (3.0, 4.0)
        i = arena.new("int *", 42)
        assert i[0] == 42
        fixed = arena.new("int[10]")
        assert len(fixed) == 10 and list(fixed) == [0] * 10
        opened = arena.new("int[]", 7)
        assert len(opened) == 7 and sum(opened) == 0
        listed = arena.new("long[]", [1, 2, 3])
        assert ffi.typeof(listed) is ffi.typeof("long[]") and list(listed) == [1, 2, 3]
        text = arena.new("char[]", b"hello")
        assert len(text) == 6 and ffi.string(text) == b"hello"
        assert libc.strlen(text) == 5  # handed to C code
        big = arena.new("char[]", 1000)  # above max_small: a large block
        assert len(big) == 1000 and bytes(ffi.buffer(big)) == bytes(1000)
        with pytest.raises(TypeError):
            arena.new("struct node")  # not a pointer or array, as ffi.new
        for bad in ({"nope": 1}, "text", [1.0, 2.0, 3.0]):  # the same errors as ffi.new
            with pytest.raises(Exception) as expected:
                ffi.new("struct point *", bad)
            with pytest.raises(expected.type):
                arena.new("struct point *", bad)


def test_memory_is_zeroed_even_when_reused():
    with Arena(ffi) as arena:
        a = arena.new("struct node *", {"value": -1})
        arena.release(a)
        for _ in range(200):
            assert arena.new("struct node *").value == 0


def test_alignment():
    with Arena(ffi) as arena, pytest.raises(ValueError, match="align=16"):
        arena.new("struct wide *")
    with Arena(ffi, align=16) as arena:
        objs = [arena.new("struct wide *") for _ in range(100)]
        assert all(int(ffi.cast("uintptr_t", o)) % 16 == 0 for o in objs)


def test_linked_list_reachable_only_through_pointers_survives_close():
    arena = Arena(ffi)
    head = arena.new("struct node *", {"value": 0})
    node = head
    for i in range(1, 2000):  # only `head` stays referenced from Python
        nxt = arena.new("struct node *", {"value": i})
        node.next = nxt
        node = nxt
    del node, nxt
    arena.close()
    gc.collect()
    total, node, count = 0, head, 0
    while node != ffi.NULL:
        total += node.value
        count += 1
        node = node.next
    assert count == 2000 and total == sum(range(2000))


def test_tree():
    with Arena(ffi) as arena:

        def build(lo, hi):
            if lo > hi:
                return ffi.NULL
            mid = (lo + hi) // 2
            t = arena.new("struct tree *", {"key": mid})
            t.left, t.right = build(lo, mid - 1), build(mid + 1, hi)
            return t

        root = build(0, 1022)

        def walk(t):
            return [] if t == ffi.NULL else walk(t.left) + [t.key] + walk(t.right)

        assert walk(root) == list(range(1023))


def test_region_returned_only_when_nothing_references_it():
    before = process_totals()
    arena = Arena(ffi)
    obj = arena.new("struct node *", {"value": 7})
    buf = arena.buffer(16)
    buf[:4] = b"abcd"
    piece = buf[1:3]
    del buf
    arr = arena.new_many("struct point", 100)
    arena.close()
    with pytest.raises(ValueError):
        arena.new("struct node *")
    with pytest.raises(PoolClosedError):
        arena.buffer(8)
    gc.collect()
    assert process_totals() != before  # still held: objects are referenced
    assert obj.value == 7 and bytes(piece) == b"bc" and arr[99].x == 0.0
    del obj, arr
    gc.collect()
    assert process_totals() != before  # the slice alone keeps it
    assert bytes(piece) == b"bc"
    del piece
    assert process_totals() == before  # at once, without waiting for gc


def test_close_with_nothing_outstanding_returns_at_once():
    before = process_totals()
    arena = Arena(ffi)
    for _ in range(1000):
        arena.new("struct node *")
    arena.close()
    assert process_totals() == before


def test_release_returns_one_object_early():
    with Arena(ffi) as arena:
        a = arena.new("struct node *")
        b = arena.buffer(40)
        assert arena.stats().live == 2
        arena.release(a)
        arena.release(b)
        st = arena.stats()
        assert (st.objects, st.released, st.live) == (2, 2, 0)
        with pytest.raises(InvalidBlockError):
            arena.release(a)  # twice
        with pytest.raises(InvalidBlockError):
            arena.release(ffi.new("struct node *"))  # not the arena's


def test_new_many_is_one_array():
    with Arena(ffi) as arena:
        arr = arena.new_many("struct node", 5000)
        assert ffi.typeof(arr) is ffi.typeof("struct node[]") and len(arr) == 5000
        for i in range(5000):
            arr[i].value = i
            arr[i].next = arr + (i + 1) % 5000
        assert arr[4999].next.value == 0 and arr[10].next.value == 11
        assert len(arena.new_many("int", 0)) == 0


def test_many_arenas_at_once():
    arenas = [Arena(ffi) for _ in range(50)]
    objs = [
        [a.new("struct node *", {"value": i * 100 + j}) for j in range(100)]
        for i, a in enumerate(arenas)
    ]
    for a in arenas[::2]:
        a.close()
    for i, row in enumerate(objs):
        assert [o.value for o in row] == [i * 100 + j for j in range(100)]
    for a in arenas:
        a.close()


def test_threads_share_one_arena():
    arena = Arena(ffi)
    errors = []

    def work(tid):
        try:
            head = ffi.NULL
            keep = []
            for i in range(3000):
                n = arena.new("struct node *", {"value": tid * 10_000 + i})
                n.next = head
                head = n
                keep.append(n)
            i, node = 2999, head
            while node != ffi.NULL:
                if node.value != tid * 10_000 + i:
                    errors.append((tid, i, node.value))
                    return
                i, node = i - 1, node.next
        except Exception as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert arena.stats().live == 12_000
    arena.close()


def test_argument_errors():
    with Arena(ffi) as arena:
        with pytest.raises(TypeError):
            arena.buffer(1.5)
        with pytest.raises(ValueError):
            arena.buffer(-1)
        with pytest.raises(ValueError):
            arena.new_many("int", -1)
        with pytest.raises(TypeError):
            Arena(ffi, checked="yes")


def test_objects_in_garbage_cycles_are_collected_safely():
    """Objects caught in a reference cycle (here: an exception's traceback)
    are cleared by the garbage collector in arbitrary order; that must neither
    crash nor complain.  A subprocess, so that a crash fails only this test."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import gc, cffi
        from pool.arena import Arena
        ffi = cffi.FFI()
        ffi.cdef("struct node { struct node *next; long value; };")
        def body():
            with Arena(ffi) as arena:
                objs = [arena.new("struct node *") for _ in range(100)]
                init = [arena.new("struct node *", {"value": i}) for i in range(100)]
                big = arena.new("char[]", 1000)
                arr = arena.new_many("struct node", 10)
                buf = arena.buffer(32)
                piece = buf[4:8]
                try:
                    raise ValueError
                except ValueError as exc:
                    err = exc  # frame <-> traceback: everything above is in a cycle
        for _ in range(20):
            body()
            gc.collect()
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    assert "Exception ignored" not in out.stderr, out.stderr


ffi_vs = cffi.FFI()
ffi_vs.cdef("struct vs { long n; long data[]; }; struct node { struct node *next; long value; };")


def test_struct_with_open_array_keeps_all_its_data():
    with Arena(ffi_vs) as arena:
        o = arena.new("struct vs *", {"n": 3, "data": [7, 8, 9]})
        o2 = arena.new("struct vs *", {"n": 5})
        assert [o.data[i] for i in range(3)] == [7, 8, 9]  # as ffi.new: the data is there
        for i in range(3):
            o.data[i] = 0x4141
        assert o2.n == 5  # and writing it does not reach the next object


def test_ctype_objects_are_accepted_like_ffi_new():
    with Arena(ffi) as arena:
        a = arena.new(ffi.typeof("int[]"), 4)
        assert len(a) == 4 and ffi.typeof(a) is ffi.typeof("int[]")
        p = arena.new(ffi.typeof("struct point *"), {"x": 2.0})
        assert p.x == 2.0
        assert len(arena.new_many(ffi.typeof("struct node"), 3)) == 3


def test_threads_never_get_the_same_block():
    import sys

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _ in range(3):
            arena = Arena(ffi)
            got = [[] for _ in range(4)]

            def work(out):
                for _ in range(5000):
                    out.append(arena.new("struct node *"))

            threads = [threading.Thread(target=work, args=(g,)) for g in got]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            addrs = [int(ffi.cast("uintptr_t", o)) for g in got for o in g]
            assert len(addrs) == len(set(addrs)) == 20_000
            arena.close()
            del got, addrs
    finally:
        sys.setswitchinterval(old)


FINALISER_CODE = """
import gc, sys, cffi
from pool import process_totals
from pool.arena import Arena
ffi = cffi.FFI()
ffi.cdef("struct node { struct node *next; long value; };")
seen = []
arena = Arena(ffi)

class Holder:
    def __init__(self):
        self.obj = arena.new("struct node *", {"value": 42})
        self.me = self  # a cycle: only the garbage collector frees it
    def __del__(self):
        seen.append(self.obj.value)

def destroy(p):
    seen.append(p.value)

def cycles():
    Holder()
    o = ffi.gc(arena.new("struct node *", {"value": 42}), destroy)
    cyc = [o]
    cyc.append(cyc)

cycles()
arena.close()
del arena
gc.collect()
print(seen, process_totals())

class AtExit:  # runs during interpreter shutdown
    def __init__(self):
        self.arena = Arena(ffi)
        self.obj = self.arena.new("struct node *", {"value": 42})
    def __del__(self):
        print("at exit", self.obj.value)
keep = AtExit()
"""


def test_finalisers_of_garbage_cycles_and_at_exit_see_live_memory():
    """__del__ methods and ffi.gc destructors of objects in a collected cycle
    run while the region is still there; it is returned after the collection.
    At interpreter exit the region is left to the OS rather than freed under
    objects still being torn down."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", FINALISER_CODE], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()
    assert first == "[42, 42] (0, 0)"  # both finalisers saw the value; then all returned
    assert second == "at exit 42"
