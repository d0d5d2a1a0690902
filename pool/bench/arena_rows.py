"""The Arena rows: Arena.new (and Arena.maker) against ffi.new (the user's
in-line cffi.FFI() and a compiled API-mode ffi, with and without an
initialiser), close() with few and many objects held, memory per object (RSS),
and whole structures (a linked list and a binary tree built, walked and
dropped, in fresh interpreters)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from typing import TYPE_CHECKING, Any, Callable

from .common import Cleanup, JsonObject, Row, RowFactory, _timer, timed

# () -> (the call that makes one object, cleanup); cffi objects: Any
if TYPE_CHECKING:
    from ..arena import Arena

MakeNew = Callable[[], tuple[Callable[..., Any], Cleanup]]

NODE_CDEF = "struct node { struct node *next; int64_t value; int64_t pad; };"  # 24 bytes
INIT = {"value": 1}
MEMORY_OBJECTS = 100_000
MEMORY_REPEATS = 3

ROW_NEW_INLINE = "ffi.new('struct node *'), the user's in-line cffi.FFI()"
ROW_ARENA_INLINE = "Arena(ffi).new('struct node *'), the user's in-line cffi.FFI()"
ROW_MAKER_INLINE = "Arena(ffi).maker('struct node *')(), the user's in-line cffi.FFI()"
ROW_NEW_INLINE_INIT = "ffi.new('struct node *', init), in-line cffi.FFI()"
ROW_ARENA_INLINE_INIT = "Arena(ffi).new('struct node *', init), in-line cffi.FFI()"
ROW_NEW_API = "ffi.new('struct bench_node *'), compiled API-mode ffi (pool._bench_c)"
ROW_ARENA_API = "Arena(ffi).new('struct bench_node *'), compiled API-mode ffi"
ROW_NEW_API_INIT = "ffi.new('struct bench_node *', init), compiled API-mode ffi"
ROW_ARENA_API_INIT = "Arena(ffi).new('struct bench_node *', init), compiled API-mode ffi"
ROW_ALLOCATOR_FLOOR = "floor of the design: cffi's allocator, alloc and free C no-ops, compiled ffi"
ROW_ARRAYS_KEPT = (
    "ffi.new('int64_t[]', 1000) per element, every array kept (fresh memory, as an arena's)"
)
ROW_CLOSE_SMALL = "Arena.close() with 1,000 objects held"
ROW_CLOSE_LARGE = "Arena.close() with 100,000 objects held"
ROW_MEM_NEW = "memory: ffi.new, 100,000 24-byte structs in a list"
ROW_MEM_ARENA = "memory: Arena.new, 100,000 24-byte structs in a list"
ROW_MEM_ARENA_HEAD = "memory: Arena.new, 100,000 24-byte structs linked, only the head held"


def _new_row(make_new: MakeNew, cdecl: str, init: dict[str, int] | None) -> RowFactory:
    """A factory timing make_new()(cdecl[, init]) per object; the objects are
    dropped at once (as ffi.new's rows do)."""

    def prepare() -> tuple[dict[str, Any], Cleanup]:
        new, cleanup = make_new()
        return {"new": new, "cdecl": cdecl, "init": init}, cleanup

    return timed("new(cdecl)" if init is None else "new(cdecl, init)", prepare)


def _maker_row(arena_cls: type[Arena], ffi: Any, cdecl: str) -> RowFactory:
    """A factory timing make() per object, make = Arena(ffi).maker(cdecl)."""

    def prepare() -> tuple[dict[str, Any], Cleanup]:
        a = arena_cls(ffi)
        return {"make": a.maker(cdecl)}, a.close

    return timed("make()", prepare)


def _allocator_floor(ffi: Any) -> MakeNew:
    """What Arena.new is built on, with nothing of the arena's own: cffi's
    allocator whose alloc hands back one 24-byte cdata every time (a dict's
    C-level __getitem__) and whose free is a set's C-level discard.  For
    information: the cost of cffi's owning objects over an external alloc."""

    def make() -> tuple[Callable[..., Any], Cleanup]:
        memory = {24: ffi.new("char[24]")}
        allocator = ffi.new_allocator(alloc=memory.__getitem__, free=set[object]().discard)
        return allocator, None

    return make


def _arrays_kept(ffi: Any) -> RowFactory:
    """For information next to new_many's row: ffi.new arrays that stay
    referenced, so each one is fresh memory as each of an open arena's is."""

    def prepare() -> tuple[dict[str, Any], Cleanup]:
        kept: list[Any] = []
        return {"keep": kept.append, "new": ffi.new}, kept.clear

    return timed("keep(new('int64_t[]', 1000))", prepare)


def _close_row(arena_cls: type[Arena], ffi: Any, count: int) -> RowFactory:
    """close() of an arena whose `count` objects are all still referenced;
    run() returns one close's time times `loops` (ns per close)."""

    def factory(clock: str) -> tuple[Callable[[int], float], Cleanup]:
        arena = arena_cls(ffi)
        held = [arena.new("struct node *") for _ in range(count)]

        def run(loops: int) -> float:
            t = _timer(clock)
            t0 = t()
            arena.close()
            elapsed = t() - t0
            held.clear()
            return elapsed * loops

        return run, None

    return factory


def arena_rows(arena_cls: type[Arena], bffi: Any) -> list[Row]:
    """[(name, unit, per loop, factory or skip note)] for python_level.py."""
    import warnings

    import cffi

    warnings.simplefilter("ignore", ResourceWarning)  # close() with objects held, on purpose
    inline = cffi.FFI()
    inline.cdef(NODE_CDEF)
    rows: list[Row] = []

    def plain(ffi: Any) -> MakeNew:
        return lambda: (ffi.new, None)

    def arena(ffi: Any) -> MakeNew:
        def make() -> tuple[Callable[..., Any], Cleanup]:
            a = arena_cls(ffi)
            return a.new, a.close

        return make

    rows.append((ROW_NEW_INLINE, "ns/object", 1, _new_row(plain(inline), "struct node *", None)))
    rows.append((ROW_ARENA_INLINE, "ns/object", 1, _new_row(arena(inline), "struct node *", None)))
    rows.append((ROW_MAKER_INLINE, "ns/object", 1, _maker_row(arena_cls, inline, "struct node *")))
    rows.append(
        (ROW_NEW_INLINE_INIT, "ns/object", 1, _new_row(plain(inline), "struct node *", INIT))
    )
    rows.append(
        (ROW_ARENA_INLINE_INIT, "ns/object", 1, _new_row(arena(inline), "struct node *", INIT))
    )
    api = [
        (ROW_NEW_API, plain, None),
        (ROW_ARENA_API, arena, None),
        (ROW_NEW_API_INIT, plain, INIT),
        (ROW_ARENA_API_INIT, arena, INIT),
    ]
    for name, kind, init in api:
        if bffi is None:
            rows.append((name, "ns/object", 1, "pool._bench_c is not built"))
        else:
            rows.append((name, "ns/object", 1, _new_row(kind(bffi), "struct bench_node *", init)))
    if bffi is not None:
        rows.append(
            (
                ROW_ALLOCATOR_FLOOR,
                "ns/object",
                1,
                _new_row(_allocator_floor(bffi), "struct bench_node *", None),
            )
        )
    rows.append((ROW_ARRAYS_KEPT, "ns/object", 1000, _arrays_kept(inline)))
    rows.append((ROW_CLOSE_SMALL, "ns/close", 1, _close_row(arena_cls, inline, 1_000)))
    rows.append((ROW_CLOSE_LARGE, "ns/close", 1, _close_row(arena_cls, inline, 100_000)))
    return rows


# Run in a fresh interpreter per sample: RSS growth while building the objects.
_MEMORY_SCRIPT = """
import gc, json, os, sys, warnings
import cffi
from pool.arena import Arena
warnings.simplefilter("ignore", ResourceWarning)
ffi = cffi.FFI()
ffi.cdef(NODE_CDEF_HERE)
N, mode = int(sys.argv[1]), sys.argv[2]
page = os.sysconf("SC_PAGE_SIZE")
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * page
gc.collect()
before = rss()
if mode == "new":
    held = [ffi.new("struct node *") for _ in range(N)]
elif mode == "arena":
    arena = Arena(ffi)
    held = [arena.new("struct node *") for _ in range(N)]
else:
    arena = Arena(ffi)
    head = node = arena.new("struct node *")
    for _ in range(N - 1):
        nxt = arena.new("struct node *")
        node.next = nxt
        node = nxt
    del node, nxt
gc.collect()
print(json.dumps((rss() - before) / N))
""".replace("NODE_CDEF_HERE", repr(NODE_CDEF))


def _memory_sample(mode: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, str(MEMORY_OBJECTS), mode],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return float(json.loads(out.stdout))


def arena_memory_rows() -> list[JsonObject]:
    """Result entries (bytes per object, medians of interleaved fresh processes)."""
    modes = [(ROW_MEM_NEW, "new"), (ROW_MEM_ARENA, "arena"), (ROW_MEM_ARENA_HEAD, "head")]
    samples: dict[str, list[float]] = {m: [] for _, m in modes}
    try:
        for _ in range(MEMORY_REPEATS):
            for _, m in modes:
                samples[m].append(_memory_sample(m))
    except (OSError, subprocess.SubprocessError, ValueError) as e:
        return [
            {"name": n, "unit": "bytes/obj", "per_loop": 1, "skipped": f"{type(e).__name__}: {e}"}
            for n, _ in modes
        ]
    return [
        {
            "name": n,
            "unit": "bytes/obj",
            "per_loop": 1,
            "median": statistics.median(samples[m]),
            "min": min(samples[m]),
            "max": max(samples[m]),
            "samples": [round(s, 1) for s in samples[m]],
            "ratio_to_cffi_call": None,
            "ratio_to_malloc_free": None,
        }  # not times
        for n, m in modes
    ]


# ---- whole structures: built, walked and dropped ------------------------------
# A linked list and a binary tree of N nodes, each in a fresh interpreter:
# ffi.new must keep every node referenced (a list of them), the arena keeps
# only the head or the root.  Time: process CPU time of build + walk + drop
# (the garbage collector on, as in a program); memory: RSS growth once built.

STRUCTURE_CDEF = (
    "struct lnode { struct lnode *next; int64_t value; };"
    "struct tnode { struct tnode *left, *right; int64_t key; };"
)
STRUCTURE_REPEATS = 3
STRUCTURES = ("list", "tree")
# (mode, how the nodes are made)
STRUCTURE_MODES = (
    ("new", "ffi.new, every node in a list"),
    ("arena", "Arena.new, only the head/root held"),
    ("maker", "Arena.maker, only the head/root held"),
)


def structure_row(structure: str, mode: str, what: str = "time") -> str:
    label = dict(STRUCTURE_MODES)[mode]
    kind = "linked list" if structure == "list" else "binary tree"
    if what == "time":
        return f"whole {kind}: build + walk + drop, {label}, in-line ffi"
    return f"whole {kind}: memory (RSS) once built, {label}"


_STRUCTURE_SCRIPT = """
import gc, json, os, sys, time, warnings
import cffi
from pool.arena import Arena
warnings.simplefilter("ignore", ResourceWarning)
ffi = cffi.FFI()
ffi.cdef(CDEF_HERE)
N, structure, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
NULL = ffi.NULL
page = os.sysconf("SC_PAGE_SIZE")
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * page
gc.collect()
before = rss()
t0 = time.process_time_ns()
if mode == "new":
    keep = []
    new = ffi.new
else:
    arena = Arena(ffi)
    new = arena.new
    new_lnode = arena.maker("struct lnode *")
    new_tnode = arena.maker("struct tnode *")
if structure == "list":
    head = NULL
    for v in range(N):
        n = NEW_LNODE
        n.value = v
        n.next = head
        head = n
        if mode == "new":
            keep.append(n)
    n = None
    built = rss()
    total, cur = 0, head
    while cur != NULL:
        total += cur.value
        cur = cur.next
    root = head
else:
    def build(lo, hi):
        if lo >= hi:
            return NULL
        mid = (lo + hi) // 2
        n = NEW_TNODE
        n.key = mid
        n.left = build(lo, mid)
        n.right = build(mid + 1, hi)
        if mode == "new":
            keep.append(n)
        return n
    root = build(0, N)
    built = rss()
    total, stack = 0, [root]
    while stack:
        t = stack.pop()
        total += t.key
        if t.left != NULL:
            stack.append(t.left)
        if t.right != NULL:
            stack.append(t.right)
if mode == "new":
    del keep
else:
    arena.close()
del root
head = cur = None
t1 = time.process_time_ns()
assert total == N * (N - 1) // 2, total
print(json.dumps([(t1 - t0) / N, (built - before) / N]))
""".replace("CDEF_HERE", repr(STRUCTURE_CDEF))


def _structure_sample(nodes: int, structure: str, mode: str) -> tuple[float, float]:
    # the call written as a user writes it, not through a helper: new(T) or make()
    calls = {"lnode": 'new("struct lnode *")', "tnode": 'new("struct tnode *")'}
    if mode == "maker":
        calls = {"lnode": "new_lnode()", "tnode": "new_tnode()"}
    script = _STRUCTURE_SCRIPT.replace("NEW_LNODE", calls["lnode"])
    script = script.replace("NEW_TNODE", calls["tnode"])
    out = subprocess.run(
        [sys.executable, "-c", script, str(nodes), structure, mode],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    ns, nbytes = json.loads(out.stdout)
    return float(ns), float(nbytes)


def arena_structure_rows(nodes: int) -> list[JsonObject]:
    """Result entries: ns and RSS bytes per node of whole structures, medians of
    STRUCTURE_REPEATS interleaved fresh processes per cell."""
    cells = [(s, m) for s in STRUCTURES for m, _ in STRUCTURE_MODES]
    times: dict[tuple[str, str], list[float]] = {c: [] for c in cells}
    sizes: dict[tuple[str, str], list[float]] = {c: [] for c in cells}
    names = [(structure_row(s, m, w), w, (s, m)) for s, m in cells for w in ("time", "memory")]
    try:
        for _ in range(STRUCTURE_REPEATS):
            for cell in cells:
                ns, nbytes = _structure_sample(nodes, *cell)
                times[cell].append(ns)
                sizes[cell].append(nbytes)
    except (OSError, subprocess.SubprocessError, ValueError) as e:
        why = f"{type(e).__name__}: {e}"
        return [
            {"name": n, "unit": "ns/node" if w == "time" else "bytes/node", "skipped": why}
            for n, w, _ in names
        ]
    rows: list[JsonObject] = []
    for name, what, cell in names:
        samples = times[cell] if what == "time" else sizes[cell]
        rows.append(
            {
                "name": name,
                "unit": "ns/node" if what == "time" else "bytes/node",
                "per_loop": 1,
                "nodes": nodes,
                "median": statistics.median(samples),
                "min": min(samples),
                "max": max(samples),
                "samples": [round(x, 1) for x in samples],
                "ratio_to_cffi_call": None,
                "ratio_to_malloc_free": None,
            }
        )
    return rows


STRUCTURE_TARGETS = [
    (
        f"whole {kind} (build + walk + drop) with Arena.new <= 1.0x ffi.new's time, in-line ffi",
        structure_row(s, "arena"),
        structure_row(s, "new"),
        1.0,
    )
    for s, kind in (("list", "linked list"), ("tree", "binary tree"))
] + [
    (
        f"whole {kind}: memory once built, only the root held, <= 0.5x ffi.new with every node",
        structure_row(s, "arena", "memory"),
        structure_row(s, "new", "memory"),
        0.5,
    )
    for s, kind in (("list", "linked list"), ("tree", "binary tree"))
]

# (text, row, base row, limit), judged in targets.py
ARENA_TARGETS = [
    (
        "Arena.new(T) <= 1.5x ffi.new(T), small struct, in-line cffi.FFI()",
        ROW_ARENA_INLINE,
        ROW_NEW_INLINE,
        1.5,
    ),
    (
        "Arena.new(T) <= 2.0x ffi.new(T), small struct, compiled API-mode ffi",
        ROW_ARENA_API,
        ROW_NEW_API,
        2.0,
    ),
    (
        "memory per object (RSS), all referenced from a list, <= 1.0x ffi.new",
        ROW_MEM_ARENA,
        ROW_MEM_NEW,
        1.0,
    ),
    (
        "memory per object (RSS), only the head of a C-linked list held, <= 0.5x ffi.new",
        ROW_MEM_ARENA_HEAD,
        ROW_MEM_NEW,
        0.5,
    ),
    (
        "close() O(1) in objects: close with 100,000 held <= 2x close with 1,000 held",
        ROW_CLOSE_LARGE,
        ROW_CLOSE_SMALL,
        2.0,
    ),
    (
        "new_many(T, 1000) per element <= 1.5x ffi.new('T[]', 1000) per element, both kept",
        "Arena.new_many('int64_t', 1000) per object",
        ROW_ARRAYS_KEPT,
        1.5,
    ),
] + STRUCTURE_TARGETS
