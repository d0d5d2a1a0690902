"""The benchmark suite: ``python -m pool bench`` (also ``python -m pool.bench``).

Sections, each measured side by side in one run (allocators take turns in
every repeat, in a rotating order, so a noisy machine hits them alike):

C level       Loops compiled into ``pool._bench_c`` (bench/bench_loops.c): the
              timed loop runs in C with no FFI inside, after an untimed warm-up
              pass.  Patterns LIFO, FIFO burst, random churn over sizes 16, 32,
              64, 128 and mixed (uniform 1..128, fixed seed), plus the replay
              of a recorded trace.  Allocators: the bare free-list floor, this
              pool (unchecked single-thread, thread-safe, checked), glibc, and
              jemalloc / mimalloc when their libraries load.
Python level  timeit-style loops: Pool allocate+deallocate pairs against one
              bare cffi call and against malloc/free through cffi; batch calls
              per block; Arena.new and its batch path against ffi.new.
Memory        bytes obtained per requested byte for a million small blocks.
C++           std::map / std::list / std::set on std::allocator,
              __gnu_cxx::__pool_alloc and this pool (bench/containers.cpp,
              compiled with g++ at run time).

Times are the benchmark thread's CPU time by default (``--clock wall`` for
elapsed time): these machines are shared, and CPU time leaves out the time the
thread waits descheduled.  Output: a table of medians with the min-max spread
and ratios of medians to the floor and to glibc; ``--json FILE`` keeps every
sample; ``--plot FILE.png`` draws them (needs matplotlib: the "plot" extra).

jemalloc: Debian's libjemalloc.so.2 needs more static TLS than a dlopen gets
by default.  When its dlopen fails for that reason, the benchmark runs itself
again in a child process with ``GLIBC_TUNABLES=glibc.rtld.optional_static_tls=``
set (glibc reads tunables only at process start); ``--no-reexec`` turns that
off and the jemalloc rows are then skipped with the loader's message.
"""

import argparse
import gc
import itertools
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path

SCHEMA = 1

# (name, bench_loops.h kind, what it is)
ALLOCATORS = [
    ("floor", "BENCH_FLOOR", "bare free-list floor (16 pre-filled lists, pop/push)"),
    ("pool", "BENCH_POOL", "this pool, unchecked, single-thread"),
    ("pool-ts", "BENCH_POOL_TS", "this pool, unchecked, thread-safe (uncontended)"),
    ("pool-checked", "BENCH_POOL_CHECKED", "this pool, checked, thread-safe (Pool() defaults)"),
    ("glibc", "BENCH_GLIBC", "the process's malloc/free (glibc)"),
    ("jemalloc", "BENCH_JEMALLOC", "jemalloc, dlopened"),
    ("mimalloc", "BENCH_MIMALLOC", "mimalloc, dlopened"),
]

PATTERNS = [
    ("lifo", "BENCH_LIFO", "allocate, touch, free at once"),
    ("fifo", "BENCH_FIFO", "bursts of 10k allocations, then free in the same order"),
    ("churn", "BENCH_CHURN", "10k live blocks; free a random one, allocate its replacement"),
]

SIZES = ["16", "32", "64", "128", "mixed"]
MIXED_SEED = 20240601      # uniform 1..128 sizes of the "mixed" cells
MIXED_LEN = 4096           # a power of two: the loops index sizes[i & mask]
CHURN_SEED = 0x5EED5EED    # the churn loop's slot choice
LIVE = 10_000              # FIFO burst length, churn live set
MEMORY_SIZES = ["8", "16", "24", "32", "64", "128", "mixed"]
MEMORY_ALLOCATORS = ["pool", "pool-checked", "glibc"]
BATCH = 1000               # blocks per batch call
STATIC_TLS = 16384         # glibc.rtld.optional_static_tls for jemalloc's re-exec
REEXEC_MARK = "POOL_BENCH_REEXECED"

# Python-level rows that the targets and ratios refer to
ROW_CALL = "cffi call: bench_noop(1) (one int in, int out)"
ROW_MALLOC = "malloc+free via cffi: bench_malloc(32), bench_free(addr)"
ROW_UNCHECKED = "Pool pair (32 bytes), unchecked single-thread"
ROW_UNCHECKED_TS = "Pool pair (32 bytes), unchecked thread-safe"
ROW_CHECKED = "Pool pair (32 bytes), checked thread-safe (Pool() defaults)"
ROW_BATCH = f"Pool batch pair ({BATCH} blocks of 32), unchecked, per block"
ROW_BATCH_CHECKED = f"Pool batch pair ({BATCH} blocks of 32), checked, per block"

PROFILES = {
    #        repeats, C pairs per run, Python loops per run, memory blocks, C++ rounds
    "quick": {"repeat": 3, "pairs": 200_000, "py_loops": 20_000, "mem_blocks": 1_000_000,
              "cxx_rounds": 2, "cxx_n": 10_000},
    "full": {"repeat": 7, "pairs": 1_000_000, "py_loops": 200_000, "mem_blocks": 1_000_000,
             "cxx_rounds": 10, "cxx_n": 10_000},
}

REPO = Path(__file__).resolve().parent.parent  # the source tree, when there is one


# ---- small helpers -----------------------------------------------------------------------


def _load_bench_c():
    """(ffi, lib) of pool._bench_c, or (None, reason)."""
    try:
        from . import _bench_c
    except ImportError as e:
        return None, f"pool._bench_c is not built ({e}); build it with `python build_bench.py`"
    return _bench_c.ffi, _bench_c.lib


def summarize(samples):
    """A cell: median, min, max and the samples (ns per unit)."""
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "samples": [round(s, 4) for s in samples],
    }


def skipped(note):
    return {"skipped": note}


def ratio(cell, base):
    """Ratio of medians, or None when either side did not run."""
    if not cell or not base or "median" not in cell or "median" not in base:
        return None
    if base["median"] <= 0:
        return None
    return cell["median"] / base["median"]


def _mixed_sizes():
    rng = random.Random(MIXED_SEED)
    return array("I", (rng.randint(1, 128) for _ in range(MIXED_LEN)))


def _sizes_array(size):
    return _mixed_sizes() if size == "mixed" else array("I", [int(size)])


class Progress:
    """Progress on stderr: tqdm when installed, else one plain line per step."""

    def __init__(self, total, enabled=True):
        self.total = total
        self.done = 0
        self.start = time.monotonic()
        self.enabled = enabled
        self.bar = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                self.bar = tqdm(total=total, file=sys.stderr, unit="step", leave=False)

    def step(self, what):
        self.done += 1
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_description(what)
            self.bar.update(1)
        else:
            width = len(str(self.total))
            elapsed = time.monotonic() - self.start
            print(f"[{self.done:{width}d}/{self.total}] {elapsed:6.1f}s  {what}",
                  file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


# ---- machine -----------------------------------------------------------------------------


def machine_info():
    info = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "cpus": os.cpu_count(),
        "cpu_model": None,
        "loadavg": None,
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES"),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        info["loadavg"] = list(os.getloadavg())
    except OSError:
        pass
    try:
        import cffi

        info["cffi"] = cffi.__version__
    except ImportError:
        pass
    return info


# ---- C level -----------------------------------------------------------------------------


def open_allocators(ffi, lib):
    """{name: (handle or None, info dict)} for every allocator."""
    out = {}
    note = ffi.new("char[1024]")
    for name, kind, label in ALLOCATORS:
        handle = lib.bench_allocator_new(getattr(lib, kind), note, len(note))
        if handle == ffi.NULL:
            text = ffi.string(note).decode(errors="replace")
            if "static TLS" in text:
                text += (f" (set GLIBC_TUNABLES=glibc.rtld.optional_static_tls={STATIC_TLS} "
                         "before Python starts; without --no-reexec the bench does it itself)")
            out[name] = (None, {"label": label, "ran": False, "note": text})
            continue
        handle = ffi.gc(handle, lib.bench_allocator_delete)
        lib.bench_allocator_describe(handle, note, len(note))
        out[name] = (handle, {"label": label, "ran": True,
                              "really": ffi.string(note).decode(errors="replace")})
    return out


def _error_text(lib, code):
    return {lib.BENCH_EALLOC: "the allocator returned NULL inside the loop",
            lib.BENCH_ENOMEM: "no memory for the loop's scratch arrays",
            lib.BENCH_EINVAL: "invalid arguments"}.get(code, f"error {code}")


def find_trace(explicit=None):
    """The trace file to replay: explicit, else the first of the shipped ones."""
    if explicit:
        return Path(explicit)
    found = sorted((REPO / "tests" / "data" / "traces").glob("*.trace.gz"))
    return found[0] if found else None


def _parse_trace_ops(path):
    """(op, id, size) tuples: pool.trace's validated reader when it exists,
    else a plain reader of the same format (the C side validates again)."""
    try:
        from .trace import iter_trace
    except ImportError:
        iter_trace = None
    if iter_trace is not None:
        for op in iter_trace(path):
            yield op[0], op[1], op[2]
        return
    import gzip

    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    with (gzip.open(path, "rt") if gz else open(path)) as f:
        for line in f:
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            yield fields[0], int(fields[1]), int(fields[2]) if len(fields) > 2 else None


def load_trace(path):
    """Arrays for bench_replay: ops (B), dense slot ids (I), sizes (I), plus the
    slot count and the survivors (live at the end, freed by each pass)."""
    codes = {"a": 0, "f": 1, "r": 2}
    ops, ids, sizes = array("B"), array("I"), array("I")
    slot_of = {}      # live ID -> its slot
    free_slots = []   # slots of freed IDs, reused (keeps the slot table small)
    nslots = 0
    for op, ident, size in _parse_trace_ops(path):
        if op == "a":
            if free_slots:
                slot = free_slots.pop()
            else:
                slot, nslots = nslots, nslots + 1
            slot_of[ident] = slot
        elif op == "f":
            slot = slot_of.pop(ident)
            free_slots.append(slot)
        else:
            slot = slot_of[ident]
        if size is not None and size >= 2**32:
            raise ValueError(f"size {size} does not fit the replay's 32-bit sizes")
        ops.append(codes[op])
        ids.append(slot)
        sizes.append(size or 0)
    return {"ops": ops, "ids": ids, "sizes": sizes, "nslots": nslots,
            "survivors": len(slot_of), "counts": {c: ops.count(v) for c, v in codes.items()}}


def run_c_level(ffi, lib, allocs, cfg, progress, trace_path):
    cells = []
    names = [n for n, _, _ in ALLOCATORS]
    running = [n for n in names if allocs[n][0] is not None]
    for pattern, pconst, pdesc in PATTERNS:
        for size in SIZES:
            sizes = _sizes_array(size)
            buf = ffi.from_buffer("uint32_t[]", sizes)
            mask = len(sizes) - 1
            count = cfg["pairs"]
            pat = getattr(lib, pconst)
            cell = {"pattern": pattern, "size": size, "unit": "ns/pair", "pairs": count,
                    "description": pdesc, "results": {}}
            samples = {n: [] for n in running}
            errors = {}

            def run(name, pat=pat, buf=buf, mask=mask, count=count, errors=errors):
                t = lib.bench_pairs(allocs[name][0], pat, buf, mask, count, LIVE, CHURN_SEED)
                if t < 0:
                    errors[name] = _error_text(lib, t)
                return t

            for name in running:  # warm-up pass
                run(name)
            for r in range(cfg["repeat"]):
                order = running[r % len(running):] + running[:r % len(running)]
                for name in order:
                    if name in errors:
                        continue
                    t = run(name)
                    if t >= 0:
                        samples[name].append(t / count)
            for name in names:
                if name in errors:
                    cell["results"][name] = skipped(errors[name])
                elif samples.get(name):
                    cell["results"][name] = summarize(samples[name])
                else:
                    cell["results"][name] = skipped(allocs[name][1].get("note", "did not run"))
            cells.append(cell)
            progress.step(f"C level: {pattern} {size}")
    cells.append(run_trace_cell(ffi, lib, allocs, cfg, trace_path))
    progress.step("C level: trace replay")
    return cells


def run_trace_cell(ffi, lib, allocs, cfg, trace_path):
    names = [n for n, _, _ in ALLOCATORS]
    cell = {"pattern": "trace", "size": "trace", "unit": "ns/op", "results": {}}
    if trace_path is None or not trace_path.exists():
        note = ("no trace: tests/data/traces/*.trace.gz not found"
                if trace_path is None else f"trace {trace_path} not found")
        cell["note"] = note
        cell["results"] = {n: skipped(note) for n in names}
        return cell
    try:
        t = load_trace(trace_path)
    except (OSError, ValueError, KeyError, EOFError) as e:
        note = f"cannot read trace {trace_path.name}: {e}"
        cell["note"] = note
        cell["results"] = {n: skipped(note) for n in names}
        return cell
    per_pass = len(t["ops"]) + t["survivors"]
    passes = max(1, cfg["pairs"] // max(1, per_pass))
    cell.update(trace=str(trace_path.name), operations=len(t["ops"]), survivors=t["survivors"],
                counts=t["counts"], passes=passes,
                description=f"replay of {trace_path.name}: {len(t['ops'])} operations "
                            f"(a/f/r {t['counts']['a']}/{t['counts']['f']}/{t['counts']['r']}) "
                            f"+ {t['survivors']} survivors freed, per pass")
    ops = ffi.from_buffer("uint8_t[]", t["ops"])
    ids = ffi.from_buffer("uint32_t[]", t["ids"])
    sizes = ffi.from_buffer("uint32_t[]", t["sizes"])
    running = [n for n in names if allocs[n][0] is not None]
    samples = {n: [] for n in running}
    errors = {}

    def run(name, npasses):
        r = lib.bench_replay(allocs[name][0], ops, ids, sizes, len(t["ops"]), t["nslots"], npasses)
        if r < 0:
            errors[name] = _error_text(lib, r)
        return r

    for name in running:
        run(name, 1)
    for r in range(cfg["repeat"]):
        order = running[r % len(running):] + running[:r % len(running)]
        for name in order:
            if name not in errors:
                ns = run(name, passes)
                if ns >= 0:
                    samples[name].append(ns / (passes * per_pass))
    for name in names:
        if name in errors:
            cell["results"][name] = skipped(errors[name])
        elif samples.get(name):
            cell["results"][name] = summarize(samples[name])
        else:
            cell["results"][name] = skipped(allocs[name][1].get("note", "did not run"))
    return cell


def add_ratios(cells):
    for cell in cells:
        res = cell["results"]
        cell["ratio_to_floor"] = {n: ratio(c, res.get("floor")) for n, c in res.items()}
        cell["ratio_to_glibc"] = {n: ratio(c, res.get("glibc")) for n, c in res.items()}


# ---- memory ------------------------------------------------------------------------------


def run_memory(ffi, lib, cfg, progress):
    rows = []
    kinds = {n: k for n, k, _ in ALLOCATORS}
    note = ffi.new("char[1024]")
    out = ffi.new("bench_memory *")
    for size in MEMORY_SIZES:
        sizes = _sizes_array(size)
        buf = ffi.from_buffer("uint32_t[]", sizes)
        row = {"size": size, "blocks": cfg["mem_blocks"], "results": {}}
        for name in MEMORY_ALLOCATORS:
            # a fresh allocator per measurement: a pool's heap starts empty
            handle = lib.bench_allocator_new(getattr(lib, kinds[name]), note, len(note))
            if handle == ffi.NULL:
                row["results"][name] = skipped(ffi.string(note).decode(errors="replace"))
                continue
            try:
                status = lib.bench_measure_memory(handle, buf, len(sizes) - 1, cfg["mem_blocks"],
                                                  out)
            finally:
                lib.bench_allocator_delete(handle)
            if status < 0:
                row["results"][name] = skipped(_error_text(lib, status))
                continue
            if not out.have_mallinfo2:
                row["results"][name] = skipped("mallinfo2 not available (glibc < 2.33)")
                continue
            row["requested"] = out.requested
            entry = {"malloc_in_use": out.malloc_in_use,
                     "held_per_requested": out.malloc_in_use / out.requested}
            if name.startswith("pool"):
                entry["pool_heap_size"] = out.pool_heap_size
                entry["heap_size_per_requested"] = out.pool_heap_size / out.requested
            row["results"][name] = entry
        rows.append(row)
        progress.step(f"memory: {size}")
    return rows


# ---- Python level ------------------------------------------------------------------------


def _timer(clock):
    return time.thread_time_ns if clock == "cpu" else time.perf_counter_ns


def python_rows(bffi, blib):
    """[(name, unit, units per loop, factory or skip note)].  A factory
    returns (run(loops) -> ns, cleanup) and is called once per sample."""
    from . import Pool
    from ._pool_c import ffi as pffi
    from ._pool_c import lib as plib

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

    def make_pair(**opts):
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
            return run, pool.close
        return factory
    rows.append((ROW_UNCHECKED, "ns/pair", 1, make_pair(checked=False, thread_safe=False)))
    rows.append((ROW_UNCHECKED_TS, "ns/pair", 1, make_pair(checked=False, thread_safe=True)))
    rows.append((ROW_CHECKED, "ns/pair", 1, make_pair()))

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
            from .arena import Arena as cls
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


# ---- C++ containers ----------------------------------------------------------------------


def run_containers(cfg, clock, progress):
    src = REPO / "bench" / "containers.cpp"
    csrc = REPO / "csrc"
    if not src.exists() or not (csrc / "sgi_pool.c").exists():
        return skipped("needs the source tree (bench/containers.cpp, csrc/)")
    gxx, gcc = shutil.which("g++"), shutil.which("gcc") or shutil.which("cc")
    if gxx is None or gcc is None:
        return skipped("g++ (and gcc) not found")
    with tempfile.TemporaryDirectory(prefix="pool-bench-") as tmp:
        objs = []
        cflags = ["-std=c11", "-O3", "-DNDEBUG", "-D_GNU_SOURCE", f"-I{csrc}"]
        try:
            for name in ("sgi_pool.c", "block_table.c"):
                obj = os.path.join(tmp, name.replace(".c", ".o"))
                subprocess.run([gcc, *cflags, "-c", str(csrc / name), "-o", obj],
                               check=True, capture_output=True, text=True)
                objs.append(obj)
            exe = os.path.join(tmp, "containers")
            subprocess.run([gxx, "-std=c++17", "-O2", f"-I{csrc}", str(src), *objs, "-o", exe,
                            "-lpthread"], check=True, capture_output=True, text=True)
        except subprocess.CalledProcessError as e:
            return skipped(f"compiling {src.name} failed: {(e.stderr or '').strip()[:500]}")
        progress.step("C++ containers: compiled")
        env = dict(os.environ)
        env.pop("GLIBCXX_FORCE_NEW", None)  # would turn __pool_alloc into plain new
        proc = subprocess.run([exe, str(cfg["repeat"]), str(cfg["cxx_rounds"]), str(cfg["cxx_n"]),
                               clock], check=False, capture_output=True, text=True, env=env)
    progress.step("C++ containers: ran")
    if proc.returncode != 0:
        return skipped(f"containers exited {proc.returncode}: {proc.stderr.strip()[:500]}")
    raw = json.loads(proc.stdout)
    out = {k: raw[k] for k in ("repeats", "rounds", "n", "clock", "compiler", "glibcxx_force_new")}
    out["unit"] = "ns/element"
    out["cells"] = []
    for container, by_alloc in raw["results"].items():
        res = {name: summarize(s) for name, s in by_alloc.items()}
        out["cells"].append({
            "container": container,
            "results": res,
            "ratio_to_pool_alloc": {n: ratio(c, res.get("__pool_alloc")) for n, c in res.items()},
            "ratio_to_std_allocator": {n: ratio(c, res.get("std::allocator"))
                                       for n, c in res.items()},
        })
    return out


# ---- targets -----------------------------------------------------------------------------


def evaluate_targets(data):
    """The issue's targets, judged from this run's medians.  met is None when
    the rows it needs did not run."""
    out = []
    pair_cells = [c for c in data.get("c_level", []) if c["pattern"] != "trace"]

    def worst(name, base, limit, text):
        pairs = []
        for c in pair_cells:
            r = ratio(c["results"].get(name), c["results"].get(base))
            if r is not None:
                pairs.append((r, f"{c['pattern']} {c['size']}"))
        if not pairs:
            out.append({"target": text, "met": None, "measured": f"{base} did not run"})
            return
        r, where = max(pairs)
        over = sum(1 for x, _ in pairs if x > limit)
        out.append({"target": text, "met": over == 0, "worst": round(r, 3),
                    "measured": f"worst {r:.2f}x ({where}); {over} of {len(pairs)} cells over"})

    worst("pool", "floor", 1.2, "unchecked single-thread pool <= 1.2x the floor in every pair cell")
    for other in ("glibc", "jemalloc", "mimalloc"):
        worst("pool", other, 1.0,
              f"unchecked single-thread pool ahead of {other} in every pair cell")
    worst("pool-ts", "floor", 1.3,
          "thread-safe pool <= 1.3x the floor (uncontended) in every pair cell")
    worst("pool-checked", "pool-ts", 1.3,
          "C level, for information: checked <= 1.3x unchecked (both thread-safe) "
          "in every pair cell")

    cont = data.get("containers", {})
    if "cells" in cont:
        for name in ("pool-ts", "pool"):
            rs = [(c["ratio_to_pool_alloc"].get(name), c["container"]) for c in cont["cells"]]
            rs = [(r, w) for r, w in rs if r is not None]
            if rs:
                r, _ = max(rs)
                out.append({"target": f"C++ containers faster on {name} than on __pool_alloc",
                            "met": r < 1.0, "worst": round(r, 3),
                            "measured": ", ".join(f"{w} {x:.2f}x" for x, w in rs)})
    else:
        out.append({"target": "C++ containers faster on the pool than on __pool_alloc",
                    "met": None, "measured": cont.get("skipped", "not run")})

    py = {e["name"]: e for e in data.get("python_level", [])}

    def py_target(text, num, den, limit, scale=1.0):
        r = ratio(py.get(num), py.get(den))
        if r is None:
            out.append({"target": text, "met": None, "measured": "rows did not run"})
        else:
            out.append({"target": text, "met": r * scale <= limit, "worst": round(r * scale, 4),
                        "measured": f"{r * scale:.3f}x"})

    py_target("unchecked Python allocate+deallocate pair no slower than malloc/free through cffi",
              ROW_UNCHECKED, ROW_MALLOC, 1.0)
    py_target("checked Python pair <= 1.3x unchecked (both thread-safe)",
              ROW_CHECKED, ROW_UNCHECKED_TS, 1.3)
    py_target("batch calls <= 0.05x one cffi call per block (unchecked)",
              ROW_BATCH, ROW_CALL, 0.05)
    py_target("batch calls <= 0.05x one cffi call per block (checked)",
              ROW_BATCH_CHECKED, ROW_CALL, 0.05)

    mem = [r for r in data.get("memory", []) if r["size"] != "mixed" and int(r["size"]) % 8 == 0]
    vals = [(r["results"]["pool"]["held_per_requested"], r["size"]) for r in mem
            if "held_per_requested" in r["results"].get("pool", {})]
    if vals:
        v, _ = max(vals)
        out.append({"target": "bytes held per requested byte <= 1.1 (fixed sizes, multiples of 8; "
                              "unchecked pool)",
                    "met": v <= 1.1, "worst": round(v, 4),
                    "measured": ", ".join(f"{s}: {x:.3f}" for x, s in vals)})
    else:
        out.append({"target": "bytes held per requested byte <= 1.1", "met": None,
                    "measured": "memory rows did not run"})
    return out


# ---- output ------------------------------------------------------------------------------


def _fmt(x, width=8, prec=2):
    return f"{x:{width}.{prec}f}" if x is not None else " " * (width - 1) + "-"


def _spread(cell):
    return f"[{cell['min']:.2f}-{cell['max']:.2f}]"


def format_report(data):
    lines = []
    add = lines.append
    m = data["machine"]
    clock = "thread CPU time" if data["clock"] == "cpu" else "wall time"
    add(f"pool bench ({'quick' if data['quick'] else 'full'}): {m.get('cpu_model')}, "
        f"{m.get('cpus')} CPUs, Python {m.get('python')}, {data['repeat']} repeats, "
        f"clock: {clock}")
    if m.get("loadavg"):
        add(f"load average at start: {' '.join(f'{x:.2f}' for x in m['loadavg'])}")
    add("")
    add("Allocators (what really ran):")
    for name, info in data["allocators"].items():
        if info["ran"]:
            add(f"  {name:13s} {info['really']}")
        else:
            add(f"  {name:13s} SKIPPED: {info['note']}")
    add("")
    if "c_level_skipped" in data:
        add(f"C level: skipped: {data['c_level_skipped']}")
    else:
        add("C level: ns per allocate+free pair (trace: per operation), median [min-max] of "
            f"{data['repeat']}; ratios of medians to the floor and to glibc, same run")
        add(f"  {'cell':12s} {'allocator':13s} {'median':>8s} {'[min-max]':>16s} "
            f"{'x floor':>8s} {'x glibc':>8s}")
        for cell in data["c_level"]:
            label = f"{cell['pattern']} {cell['size']}" if cell["pattern"] != "trace" else "trace"
            if cell.get("note"):
                add(f"  {label:12s} skipped: {cell['note']}")
                add("")
                continue
            if cell["pattern"] == "trace":
                add(f"  ({cell['description']}; {cell['passes']} passes per run)")
            for i, (name, res) in enumerate(cell["results"].items()):
                lab = label if i == 0 else ""
                if "skipped" in res:
                    add(f"  {lab:12s} {name:13s} skipped: {res['skipped']}")
                    continue
                add(f"  {lab:12s} {name:13s} {res['median']:8.2f} {_spread(res):>16s} "
                    f"{_fmt(cell['ratio_to_floor'].get(name))} "
                    f"{_fmt(cell['ratio_to_glibc'].get(name))}")
            add("")
    if data.get("python_level"):
        add(f"Python level: median [min-max] of {data['repeat']}, loop overhead included; "
            "ratios to one bare cffi call and to malloc+free through cffi")
        add(f"  {'row':66s} {'unit':9s} {'median':>8s} {'[min-max]':>18s} {'x call':>7s} "
            f"{'x malloc':>8s}")
        for e in data["python_level"]:
            if "skipped" in e:
                add(f"  {e['name']:66s} skipped: {e['skipped']}")
                continue
            add(f"  {e['name']:66s} {e['unit']:9s} {e['median']:8.2f} {_spread(e):>18s} "
                f"{_fmt(e['ratio_to_cffi_call'], 7, 3)} {_fmt(e['ratio_to_malloc_free'], 8, 3)}")
        add("")
    if "memory_skipped" in data:
        add(f"Memory: skipped: {data['memory_skipped']}")
        add("")
    if data.get("memory"):
        add(f"Memory: {data['memory'][0]['blocks']:,} live blocks; bytes held per requested byte "
            "(malloc chunks in use: mallinfo2 uordblks+hblkhd delta, headers and page rounding "
            "included)")
        add(f"  {'size':6s} {'requested':>12s} {'pool':>8s} {'(heap)':>8s} {'checked':>8s} "
            f"{'glibc':>8s}")
        for r in data["memory"]:
            def held(name, key="held_per_requested", res=r["results"]):
                return _fmt(res.get(name, {}).get(key), 8, 3)
            add(f"  {r['size']:6s} {r.get('requested', 0):12,d} {held('pool')} "
                f"{held('pool', 'heap_size_per_requested')} {held('pool-checked')} {held('glibc')}")
        add("  (pool: unchecked pool, all its malloc chunks; (heap): its heap_size statistic; "
            "checked: a checked pool, its block table included)")
        add("")
    cont = data.get("containers")
    if cont is not None:
        if "skipped" in cont:
            add(f"C++ containers: skipped: {cont['skipped']}")
        else:
            add(f"C++ containers ({cont['compiler']}, -O2): ns per element (insert + erase), "
                f"N={cont['n']}, {cont['rounds']} cycles per run, median [min-max] of "
                f"{cont['repeats']}")
            add(f"  {'container':10s} {'allocator':15s} {'median':>8s} {'[min-max]':>18s} "
                f"{'x __pool_alloc':>14s} {'x std::alloc':>12s}")
            for c in cont["cells"]:
                for i, (name, res) in enumerate(c["results"].items()):
                    add(f"  {c['container'] if i == 0 else '':10s} {name:15s} {res['median']:8.2f} "
                        f"{_spread(res):>18s} {_fmt(c['ratio_to_pool_alloc'][name], 14, 3)} "
                        f"{_fmt(c['ratio_to_std_allocator'][name], 12, 3)}")
        add("")
    add("Targets (this run's medians):")
    for t in data["targets"]:
        mark = {True: "met    ", False: "NOT met", None: "n/a    "}[t["met"]]
        add(f"  [{mark}] {t['target']}: {t['measured']}")
    add(f"\ntotal time {data['elapsed_s']:.1f} s")
    return "\n".join(lines)


# ---- jemalloc's static TLS -------------------------------------------------------------


def _needs_tls_reexec(allocs):
    _, info = allocs.get("jemalloc", (None, {}))
    return (not info.get("ran", True) and "static TLS block" in info.get("note", "")
            and os.environ.get(REEXEC_MARK) is None)


def _reexec(argv):
    env = dict(os.environ)
    tunable = f"glibc.rtld.optional_static_tls={STATIC_TLS}"
    env["GLIBC_TUNABLES"] = f"{env['GLIBC_TUNABLES']}:{tunable}" if env.get("GLIBC_TUNABLES") \
        else tunable
    env[REEXEC_MARK] = "1"
    # the child imports this very package, whatever sys.path found it
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parent.parent)]
        + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    print(f"jemalloc needs more static TLS than a dlopen gets: running again with "
          f"GLIBC_TUNABLES={tunable} (--no-reexec to skip jemalloc instead)",
          file=sys.stderr, flush=True)
    return subprocess.call([sys.executable, "-m", "pool.bench", *argv], env=env)


# ---- main --------------------------------------------------------------------------------


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m pool bench",
        description="Benchmark the pool against a bare free-list floor, glibc, jemalloc and "
                    "mimalloc (C loops), through cffi (Python level), in memory, and in C++ "
                    "node containers.")
    p.add_argument("--quick", action="store_true",
                   help="fewer repeats and shorter loops (well under a minute)")
    p.add_argument("--repeat", type=int, metavar="N", help="repeats per cell (default 7, quick 3)")
    p.add_argument("--json", metavar="FILE", help="write every sample and result as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="draw the results (needs matplotlib)")
    p.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                   help="thread CPU time (default) or elapsed wall time")
    p.add_argument("--trace", metavar="FILE",
                   help="trace to replay (default: the first tests/data/traces/*.trace.gz)")
    p.add_argument("--only", action="append", choices=("c", "python", "memory", "containers"),
                   help="run only these sections (repeatable)")
    p.add_argument("--no-reexec", action="store_true",
                   help="do not re-run with GLIBC_TUNABLES for jemalloc; skip it instead")
    p.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    return p


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        print("--repeat must be at least 1", file=sys.stderr)
        return 2
    if args.plot:  # fail before the run, not after it
        from . import bench_plot

        err = bench_plot.missing_dependency()
        if err:
            print(err, file=sys.stderr)
            return 2
    cfg = dict(PROFILES["quick" if args.quick else "full"])
    if args.repeat is not None:
        cfg["repeat"] = args.repeat
    sections = set(args.only or ("c", "python", "memory", "containers"))
    started = time.monotonic()

    reason = None
    bffi, blib = _load_bench_c()
    if bffi is None:
        reason, blib = blib, None
    allocs = {}
    if blib is not None:
        if blib.bench_set_clock(blib.BENCH_CLOCK_CPU if args.clock == "cpu"
                                else blib.BENCH_CLOCK_WALL) != 0:
            print(f"the {args.clock} clock is not available", file=sys.stderr)
            return 2
        allocs = open_allocators(bffi, blib)
        if _needs_tls_reexec(allocs) and not args.no_reexec and "c" in sections:
            allocs = None  # release before the child runs
            return _reexec(argv)

    trace_path = find_trace(args.trace) if "c" in sections else None
    steps = 0
    if "c" in sections and blib is not None:
        steps += len(PATTERNS) * len(SIZES) + 1
    if "python" in sections:
        steps += cfg["repeat"]
    if "memory" in sections and blib is not None:
        steps += len(MEMORY_SIZES)
    if "containers" in sections:
        steps += 2
    progress = Progress(steps, enabled=not args.no_progress)

    data = {
        "schema": SCHEMA,
        "quick": bool(args.quick),
        "repeat": cfg["repeat"],
        "clock": args.clock,
        "config": cfg,
        "machine": machine_info(),
        "allocators": {name: info for name, (_, info) in allocs.items()} if allocs else
        {name: {"label": label, "ran": False, "note": reason} for name, _, label in ALLOCATORS},
    }
    try:
        if "c" in sections:
            if blib is None:
                data["c_level_skipped"] = reason
                data["c_level"] = []
            else:
                data["c_level"] = run_c_level(bffi, blib, allocs, cfg, progress, trace_path)
                add_ratios(data["c_level"])
        if "python" in sections:
            data["python_level"] = run_python_level(bffi, blib, cfg, args.clock, progress)
        if "memory" in sections:
            if blib is None:
                data["memory_skipped"] = reason
                data["memory"] = []
            else:
                data["memory"] = run_memory(bffi, blib, cfg, progress)
        if "containers" in sections:
            data["containers"] = run_containers(cfg, args.clock, progress)
    finally:
        progress.close()
    data["targets"] = evaluate_targets(data)
    data["elapsed_s"] = round(time.monotonic() - started, 2)

    print(format_report(data))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
        print(f"JSON written to {args.json}", file=sys.stderr)
    if args.plot:
        from . import bench_plot

        bench_plot.plot(data, args.plot)
        print(f"plot written to {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
