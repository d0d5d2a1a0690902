"""Python level: Pool calls, batch calls and Arena.new against cffi baselines."""

import gc
import itertools
import time

from .common import (
    BATCH,
    ROW_BATCH,
    ROW_BATCH_CHECKED,
    ROW_CALL,
    ROW_CHECKED,
    ROW_CHECKED_NOSIZE,
    ROW_MALLOC,
    ROW_UNCHECKED,
    ROW_UNCHECKED_TS,
    ROW_UNCHECKED_TS_NOSIZE,
    ratio,
    skipped,
    summarize,
)

# ---- Python level ------------------------------------------------------------------------


def _timer(clock):
    return time.thread_time_ns if clock == "cpu" else time.perf_counter_ns


def python_rows(bffi, blib):
    """[(name, unit, units per loop, factory or skip note)].  A factory
    returns (run(loops) -> ns, cleanup) and is called once per sample."""
    from .. import Pool
    from .._pool_c import ffi as pffi
    from .._pool_c import lib as plib

    rows = []
    repeat = itertools.repeat

    def make_empty(clock):
        def run(loops):
            t = _timer(clock)
            t0 = t()
            for _ in repeat(None, loops):
                pass
            return t() - t0
        return run, None

    rows.append(("loop overhead (an empty for loop, in every row below)", "ns/loop", 1, make_empty))

    if blib is not None:
        def make_noop(clock):
            f = blib.bench_noop

            def run(loops):
                t = _timer(clock)
                t0 = t()
                for _ in repeat(None, loops):
                    f(1)
                return t() - t0
            return run, None

        def make_malloc(clock):
            m, fr = blib.bench_malloc, blib.bench_free

            def run(loops):
                t = _timer(clock)
                t0 = t()
                for _ in repeat(None, loops):
                    a = m(32)
                    fr(a)
                return t() - t0
            return run, None
        rows.append((ROW_CALL, "ns/call", 1, make_noop))
        rows.append((ROW_MALLOC, "ns/pair", 1, make_malloc))
    else:
        rows.append((ROW_CALL, "ns/call", 1, "pool._bench_c is not built"))
        rows.append((ROW_MALLOC, "ns/pair", 1, "pool._bench_c is not built"))

    def make_lib_pair(clock):
        p = pffi.gc(plib.sgi_pool_create(_pool_options(pffi, plib, checked=0, thread_safe=0)),
                    plib.sgi_pool_destroy)
        alloc, free = plib.pool_allocate, plib.pool_deallocate

        def run(loops):
            t = _timer(clock)
            t0 = t()
            for _ in repeat(None, loops):
                a = alloc(p, 32)
                free(p, a, 32)
            return t() - t0
        return run, None
    rows.append(("pool._pool_c lib pair (no Pool wrapper), unchecked single-thread", "ns/pair", 1,
                 make_lib_pair))

    def make_pair(nosize=False, **opts):
        def factory(clock):
            pool = Pool(**opts)
            alloc, free = pool.allocate, pool.deallocate

            def run(loops):
                t = _timer(clock)
                t0 = t()
                for _ in repeat(None, loops):
                    a = alloc(32)
                    free(a, 32)
                return t() - t0

            def run_nosize(loops):
                t = _timer(clock)
                t0 = t()
                for _ in repeat(None, loops):
                    a = alloc(32)
                    free(a)
                return t() - t0
            return (run_nosize if nosize else run), pool.close
        return factory
    rows.append((ROW_UNCHECKED, "ns/pair", 1, make_pair(checked=False, thread_safe=False)))
    rows.append((ROW_UNCHECKED_TS, "ns/pair", 1, make_pair(checked=False, thread_safe=True)))
    rows.append((ROW_CHECKED, "ns/pair", 1, make_pair()))
    rows.append((ROW_UNCHECKED_TS_NOSIZE, "ns/pair", 1,
                 make_pair(nosize=True, checked=False, thread_safe=True)))
    rows.append((ROW_CHECKED_NOSIZE, "ns/pair", 1, make_pair(nosize=True)))

    def make_batch(**opts):
        def factory(clock):
            pool = Pool(**opts)
            alloc_many, free_many = pool.allocate_many, pool.deallocate_many

            def run(loops):
                t = _timer(clock)
                t0 = t()
                for _ in repeat(None, loops):
                    addrs = alloc_many(32, BATCH)
                    free_many(addrs, 32)
                return t() - t0
            return run, pool.close
        return factory
    rows.append((ROW_BATCH, "ns/block", BATCH, make_batch(checked=False, thread_safe=False)))
    rows.append((ROW_BATCH_CHECKED, "ns/block", BATCH, make_batch()))

    T = "int64_t *"

    def make_ffi_new(clock):
        new = pffi.new

        def run(loops):
            t = _timer(clock)
            t0 = t()
            for _ in repeat(None, loops):
                new(T)
            return t() - t0
        return run, None
    rows.append((f"ffi.new({T!r})", "ns/object", 1, make_ffi_new))

    def make_ffi_array(clock):
        new = pffi.new

        def run(loops):
            t = _timer(clock)
            t0 = t()
            for _ in repeat(None, loops):
                new("int64_t[]", BATCH)
            return t() - t0
        return run, None
    rows.append((f"ffi.new('int64_t[]', {BATCH}) per element", "ns/object", BATCH, make_ffi_array))

    arena_cls, why = _find_arena()
    if arena_cls is None:
        rows.append((f"Arena.new({T!r})", "ns/object", 1, why))
        rows.append((f"Arena.new_many('int64_t', {BATCH}) per object", "ns/object", BATCH, why))
    else:
        def make_arena_new(clock):
            arena = arena_cls()
            new = arena.new

            def run(loops):
                t = _timer(clock)
                t0 = t()
                for _ in repeat(None, loops):
                    new(T)
                return t() - t0
            return run, arena.close

        def make_arena_many(clock):
            arena = arena_cls()
            new_many = arena.new_many

            def run(loops):
                t = _timer(clock)
                t0 = t()
                for _ in repeat(None, loops):
                    new_many("int64_t", BATCH)
                return t() - t0
            return run, arena.close
        rows.append((f"Arena.new({T!r})", "ns/object", 1, make_arena_new))
        rows.append((f"Arena.new_many('int64_t', {BATCH}) per object", "ns/object", BATCH,
                     make_arena_many))
    return rows


def _pool_options(pffi, plib, **fields):
    opts = pffi.new("sgi_pool_options *")
    plib.sgi_pool_options_init(opts)
    for k, v in fields.items():
        setattr(opts, k, v)
    return opts


def _find_arena():
    try:
        import pool

        cls = getattr(pool, "Arena", None)
        if cls is None:
            from ..arena import Arena as cls
    except ImportError:
        return None, "Arena does not exist yet (no pool.Arena)"
    if not (hasattr(cls, "new") and hasattr(cls, "new_many")):
        return None, "pool.Arena has no new/new_many"
    return cls, None


def run_python_level(bffi, blib, cfg, clock, progress):
    rows = python_rows(bffi, blib)
    results = []
    runnable = []
    for name, unit, per, factory in rows:
        entry = {"name": name, "unit": unit, "per_loop": per}
        if isinstance(factory, str):
            entry.update(skipped(factory))
        else:
            runnable.append((entry, factory))
        results.append(entry)
    samples = {id(e): [] for e, _ in runnable}
    # pair rows: py_loops iterations; batch rows: ten times as many blocks
    loops_of = {id(e): max(1, cfg["py_loops"] * 10 // e["per_loop"]) if e["per_loop"] > 1
                else cfg["py_loops"] for e, _ in runnable}
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
            order = live[r % len(live):] + live[:r % len(live)] if live else []
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
    for e in results:
        e["ratio_to_cffi_call"] = ratio(e, by.get(ROW_CALL))
        e["ratio_to_malloc_free"] = ratio(e, by.get(ROW_MALLOC))
    return results


