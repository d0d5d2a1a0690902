"""Python level: Pool calls, batch calls and Arena.new against cffi baselines."""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any

from .._progress import Progress
from .arena_rows import arena_memory_rows, arena_rows, arena_structure_rows
from .common import (
    BATCH,
    CFFI_PATH,
    ROW_BATCH,
    ROW_BATCH_CHECKED,
    ROW_BUFFER,
    ROW_BYTEARRAY,
    ROW_CALL,
    ROW_CHECKED,
    ROW_CHECKED_NOSIZE,
    ROW_FFI_NEW,
    ROW_MALLOC,
    ROW_MEMORYVIEW,
    ROW_UNCHECKED,
    ROW_UNCHECKED_TS,
    ROW_UNCHECKED_TS_NOSIZE,
    Cleanup,
    JsonObject,
    Prepare,
    Row,
    RowFactory,
    ratio,
    skipped,
    summarize,
    timed,
)

if TYPE_CHECKING:
    from ..arena import Arena
    from ..core import Pool

# ---- Python level ------------------------------------------------------------------------


def python_rows(bffi: Any, blib: Any) -> list[Row]:  # pool._bench_c ffi, lib or None
    """[(name, unit, units per loop, factory or skip note)].  A factory
    returns (run(loops) -> ns, cleanup) and is called once per sample."""
    from .. import _fastpath
    from .._pool_c import ffi as pffi
    from .._pool_c import lib as plib

    rows: list[Row] = [
        ("loop overhead (an empty for loop, in every row below)", "ns/loop", 1, timed("pass"))
    ]
    if blib is not None:
        rows.append((ROW_CALL, "ns/call", 1, timed("f(1)", lambda: ({"f": blib.bench_noop}, None))))
        rows.append(
            (
                ROW_MALLOC,
                "ns/pair",
                1,
                timed(
                    "a = m(32); fr(a)",
                    lambda: ({"m": blib.bench_malloc, "fr": blib.bench_free}, None),
                ),
            )
        )
    else:
        rows.append((ROW_CALL, "ns/call", 1, "pool._bench_c is not built"))
        rows.append((ROW_MALLOC, "ns/pair", 1, "pool._bench_c is not built"))

    def lib_pool() -> tuple[dict[str, Any], Cleanup]:
        p = pffi.gc(
            plib.sgi_pool_create(_pool_options(pffi, plib, checked=0, thread_safe=0)),
            plib.sgi_pool_destroy,
        )
        return {"p": p, "alloc": plib.pool_allocate, "free": plib.pool_deallocate}, None

    rows.append(
        (
            "pool._pool_c lib pair (no Pool wrapper), unchecked single-thread",
            "ns/pair",
            1,
            timed("a = alloc(p, 32); free(p, a, 32)", lib_pool),
        )
    )

    def a_pool(cffi_path: bool = False, **opts: Any) -> Prepare:
        def prepare() -> tuple[dict[str, Any], Cleanup]:
            pool = _pool_class(cffi_path)(**opts)
            return {
                "pool": pool,
                "alloc": pool.allocate,
                "free": pool.deallocate,
                "alloc_many": pool.allocate_many,
                "free_many": pool.deallocate_many,
                "view": pool.buffer,
                "addr": pool.allocate(32),
            }, pool.close

        return prepare

    def make_pair(cffi_path: bool = False, nosize: bool = False, **opts: Any) -> RowFactory:
        stmt = "a = alloc(32); free(a)" if nosize else "a = alloc(32); free(a, 32)"
        return timed(stmt, a_pool(cffi_path, **opts))

    def make_batch(cffi_path: bool = False, **opts: Any) -> RowFactory:
        return timed(
            f"addrs = alloc_many(32, {BATCH}); free_many(addrs, 32)", a_pool(cffi_path, **opts)
        )

    def make_buffer(cffi_path: bool) -> RowFactory:
        return timed('view(addr)[:5] = b"hello"', a_pool(cffi_path))

    rows.append((ROW_UNCHECKED, "ns/pair", 1, make_pair(checked=False, thread_safe=False)))
    rows.append((ROW_UNCHECKED_TS, "ns/pair", 1, make_pair(checked=False, thread_safe=True)))
    rows.append((ROW_CHECKED, "ns/pair", 1, make_pair()))
    rows.append(
        (
            ROW_UNCHECKED_TS_NOSIZE,
            "ns/pair",
            1,
            make_pair(nosize=True, checked=False, thread_safe=True),
        )
    )
    rows.append((ROW_CHECKED_NOSIZE, "ns/pair", 1, make_pair(nosize=True)))
    rows.append((ROW_BATCH, "ns/block", BATCH, make_batch(checked=False, thread_safe=False)))
    rows.append((ROW_BATCH_CHECKED, "ns/block", BATCH, make_batch()))
    new: Prepare = lambda: ({"new": pffi.new}, None)  # noqa: E731
    # What Pool's single blocks are compared with: a cffi-owned char[32], a
    # bytearray, and a memoryview over one written like a block.
    rows.append((ROW_FFI_NEW, "ns/object", 1, timed('new("char[32]")', new)))
    rows.append((ROW_BYTEARRAY, "ns/object", 1, timed("bytearray(32)")))
    rows.append((ROW_MEMORYVIEW, "ns/view", 1, timed('memoryview(bytearray(32))[:5] = b"hello"')))
    rows.append((ROW_BUFFER, "ns/view", 1, make_buffer(False)))

    # The same rows on Pool's cffi-path twin (what PyPy and POOL_NO_FAST=1 run)
    if _fastpath.ACTIVE:
        cffi_rows: list[Row] = [
            (ROW_UNCHECKED, "ns/pair", 1, make_pair(True, checked=False, thread_safe=False)),
            (ROW_UNCHECKED_TS, "ns/pair", 1, make_pair(True, checked=False, thread_safe=True)),
            (ROW_CHECKED, "ns/pair", 1, make_pair(True)),
            (ROW_BATCH, "ns/block", BATCH, make_batch(True, checked=False, thread_safe=False)),
            (ROW_BATCH_CHECKED, "ns/block", BATCH, make_batch(True)),
            (ROW_BUFFER, "ns/view", 1, make_buffer(True)),
        ]
        rows += [(name + CFFI_PATH, unit, per, f) for name, unit, per, f in cffi_rows]
    else:
        for name, unit in (
            (ROW_UNCHECKED, "ns/pair"),
            (ROW_UNCHECKED_TS, "ns/pair"),
            (ROW_CHECKED, "ns/pair"),
            (ROW_BATCH, "ns/block"),
            (ROW_BATCH_CHECKED, "ns/block"),
            (ROW_BUFFER, "ns/view"),
        ):
            rows.append(
                (
                    name + CFFI_PATH,
                    unit,
                    1,
                    f"the rows above are the cffi path ({_fastpath.WHY_NOT})",
                )
            )

    T = "int64_t *"
    rows.append((f"ffi.new({T!r})", "ns/object", 1, timed(f"new({T!r})", new)))
    rows.append(
        (
            f"ffi.new('int64_t[]', {BATCH}) per element",
            "ns/object",
            BATCH,
            timed(f"new('int64_t[]', {BATCH})", new),
        )
    )
    arena_cls, why = _find_arena()
    if arena_cls is None:
        rows.append((f"Arena.new({T!r})", "ns/object", 1, why))
        rows.append((f"Arena.new_many('int64_t', {BATCH}) per object", "ns/object", BATCH, why))
    else:

        def an_arena() -> tuple[dict[str, Any], Cleanup]:
            arena = arena_cls()
            return {"new": arena.new, "new_many": arena.new_many}, arena.close

        rows.append((f"Arena.new({T!r})", "ns/object", 1, timed(f"new({T!r})", an_arena)))
        rows.append(
            (
                f"Arena.new_many('int64_t', {BATCH}) per object",
                "ns/object",
                BATCH,
                timed(f"new_many('int64_t', {BATCH})", an_arena),
            )
        )
        rows += arena_rows(arena_cls, bffi)  # Arena's rows (pool/bench/arena_rows.py)
    return rows


def _pool_class(cffi_path: bool) -> type[Pool]:
    """Pool (the fast path where it is active) or its cffi-path twin."""
    from .. import Pool, _fastpath

    return _fastpath.cffi_twin(Pool) if cffi_path else Pool


def _pool_options(pffi: Any, plib: Any, **fields: int) -> Any:
    opts = pffi.new("sgi_pool_options *")
    plib.sgi_pool_options_init(opts)
    for k, v in fields.items():
        setattr(opts, k, v)
    return opts


def _find_arena() -> tuple[type[Arena] | None, str]:
    """(pool.Arena, "") or (None, why not)."""
    try:
        import pool

        cls = getattr(pool, "Arena", None)
        if cls is None:
            from ..arena import Arena as cls
    except ImportError:
        return None, "Arena does not exist yet (no pool.Arena)"
    if not (hasattr(cls, "new") and hasattr(cls, "new_many")):
        return None, "pool.Arena has no new/new_many"
    return cls, ""


def run_python_level(
    bffi: Any, blib: Any, cfg: dict[str, int], clock: str, progress: Progress
) -> list[JsonObject]:
    rows = python_rows(bffi, blib)
    arena_cls, _ = _find_arena()
    results: list[JsonObject] = []
    runnable: list[tuple[JsonObject, RowFactory]] = []
    for name, unit, per, factory in rows:
        entry: JsonObject = {"name": name, "unit": unit, "per_loop": per}
        if isinstance(factory, str):
            entry.update(skipped(factory))
        else:
            runnable.append((entry, factory))
        results.append(entry)
    samples: dict[int, list[float]] = {id(e): [] for e, _ in runnable}
    # pair rows: py_loops iterations; batch rows: ten times as many blocks
    loops_of = {
        id(e): max(1, cfg["py_loops"] * 10 // e["per_loop"])
        if e["per_loop"] > 1
        else cfg["py_loops"]
        for e, _ in runnable
    }
    gc_was = gc.isenabled()
    gc.disable()  # as timeit
    try:
        for entry, factory in runnable:  # warm-up
            try:
                run, cleanup = factory(clock)
                run(max(1, loops_of[id(entry)] // 10))
                if cleanup:
                    cleanup()
            except Exception as e:  # noqa: BLE001 - a row that cannot run here: say why, go on
                entry.update(skipped(f"{type(e).__name__}: {e}"))
        live = [(e, f) for e, f in runnable if "skipped" not in e]
        for r in range(cfg["repeat"]):
            order = live[r % len(live) :] + live[: r % len(live)] if live else []
            for entry, factory in order:
                run, cleanup = factory(clock)
                loops = loops_of[id(entry)]
                ns = run(loops)
                if cleanup:
                    cleanup()
                samples[id(entry)].append(ns / (loops * entry["per_loop"]))
                gc.collect()
            progress.step(f"Python level: repeat {r + 1}/{cfg['repeat']}")
    finally:
        if gc_was:
            gc.enable()
    for entry, _ in runnable:
        if "skipped" not in entry:
            entry.update(summarize(samples[id(entry)]))
            entry["loops"] = loops_of[id(entry)]
    by = {e["name"]: e for e in results}
    for row in results:
        row["ratio_to_cffi_call"] = ratio(row, by.get(ROW_CALL))
        row["ratio_to_malloc_free"] = ratio(row, by.get(ROW_MALLOC))
    if arena_cls is not None:  # bytes per object and whole structures, from fresh processes
        results += arena_memory_rows()
        results += arena_structure_rows(cfg["structure_nodes"])
    return results
