"""Contended C-level runs: several threads allocating and freeing at once
(csrc/bench/bench_threads.c), for one shared allocator and one per thread."""

from __future__ import annotations

from typing import Any

from .common import CHURN_SEED, LIVE, JsonObject, _sizes_array, skipped, summarize

# (row name, bench_loops.h kind, one allocator per thread, what it is).  In the
# producer-consumer cells "per thread" is per pair: the consumer frees into its
# producer's allocator, so a single-thread pool cannot take part there.
THREAD_ALLOCATORS = [
    ("pool-ts shared", "BENCH_POOL_TS", False, "one thread-safe unchecked pool for every thread"),
    (
        "pool-tc shared",
        "BENCH_POOL_TCACHE",
        False,
        "one thread-safe unchecked pool for every thread, with thread caches",
    ),
    (
        "pool-tc shared, size-less",
        "BENCH_POOL_TCACHE_NOSIZE",
        False,
        "the same, freeing with sgi_pool_free (no size: the block directory finds it)",
    ),
    ("pool-ts/thread", "BENCH_POOL_TS", True, "one thread-safe unchecked pool per thread"),
    ("pool/thread", "BENCH_POOL", True, "one single-thread unchecked pool per thread"),
    ("glibc", "BENCH_GLIBC", False, "malloc/free (glibc: per-thread tcache and arenas)"),
    ("jemalloc", "BENCH_JEMALLOC", False, "jemalloc (per-thread caches)"),
    ("mimalloc", "BENCH_MIMALLOC", False, "mimalloc (per-thread heaps)"),
]

# (pattern, bench constant, thread counts, what it is)
THREAD_PATTERNS = [
    ("lifo", "BENCH_LIFO", (1, 2, 4), "each thread: allocate, touch, free at once"),
    ("fifo", "BENCH_FIFO", (1, 2, 4), "each thread: bursts of 10k, freed in order"),
    ("churn", "BENCH_CHURN", (1, 2, 4), "each thread: 10k live, free a random one, replace it"),
    (
        "prodcons",
        "BENCH_PRODCONS",
        (2, 4),
        "pairs: a producer allocates and stamps, its consumer checks and frees (256 in flight)",
    ),
]

THREAD_SIZE = "32"  # one size: the contention, not the size classes, is measured here
SHARED = "pool-ts shared"
CACHED = "pool-tc shared"
PER_THREAD = "pool-ts/thread"
SINGLE_THREAD = "pool/thread"


def _error_text(lib: Any, code: int) -> str:
    return {
        lib.BENCH_EALLOC: "the allocator returned NULL inside the loop",
        lib.BENCH_ENOMEM: "no memory (or no thread) for the run",
        lib.BENCH_EINVAL: "invalid arguments",
        lib.BENCH_ECONTENT: "a block handed over did not hold what its producer wrote",
    }.get(code, f"error {code}")


def run_threads(
    ffi: Any, lib: Any, cfg: JsonObject, progress: Any, cpus: int | None
) -> list[JsonObject]:
    """A section: one cell per (pattern, thread count), rows per allocator,
    throughput in million pairs per second of wall time; interleaved repeats
    (a fresh allocator per run), medians."""
    sizes = _sizes_array(THREAD_SIZE)
    buf = ffi.from_buffer("uint32_t[]", sizes)
    mask = len(sizes) - 1
    count = cfg["pairs"]
    note = ffi.new("char[1024]")
    result = ffi.new("bench_mt_result *")
    cells = []
    for pattern, pconst, counts, pdesc in THREAD_PATTERNS:
        for nthreads in counts:
            cell = {
                "pattern": pattern,
                "threads": nthreads,
                "size": THREAD_SIZE,
                "pairs_per_thread": count,
                "unit": "M pairs/s",
                "description": pdesc,
                "oversubscribed": cpus is not None and nthreads > cpus,
                "results": {},
            }
            samples: dict[str, list[float]] = {n: [] for n, *_ in THREAD_ALLOCATORS}
            cpu_share: dict[str, list[float]] = {n: [] for n, *_ in THREAD_ALLOCATORS}
            cpu_per_pair: dict[str, list[float]] = {n: [] for n, *_ in THREAD_ALLOCATORS}
            errors: dict[str, str] = {}
            if pconst == "BENCH_PRODCONS":
                errors[SINGLE_THREAD] = (
                    "a single-thread pool cannot take blocks freed by another thread"
                )

            def run(
                name: str,
                kind: str,
                per_thread: bool,
                nthreads: int = nthreads,
                pconst: str = pconst,
                errors: dict[str, str] = errors,
            ) -> tuple[float, float, float] | None:
                groups = nthreads // 2 if pconst == "BENCH_PRODCONS" else nthreads
                handles = []
                for _ in range(groups if per_thread else 1):
                    h = lib.bench_allocator_new(getattr(lib, kind), note, len(note))
                    if h == ffi.NULL:
                        errors[name] = ffi.string(note).decode(errors="replace")
                        break
                    handles.append(ffi.gc(h, lib.bench_allocator_delete))
                if name in errors:
                    return None
                arr = ffi.new("bench_allocator *[]", handles)
                rc = lib.bench_threads(
                    arr,
                    len(handles),
                    getattr(lib, pconst),
                    nthreads,
                    buf,
                    mask,
                    count,
                    LIVE,
                    CHURN_SEED,
                    result,
                )
                if rc < 0:
                    errors[name] = _error_text(lib, rc)
                    return None
                return (
                    result.pairs / result.wall_ns * 1e3,
                    result.cpu_ns / result.wall_ns,
                    result.cpu_ns / result.pairs,
                )

            rows = list(THREAD_ALLOCATORS)
            for name, kind, per_thread, _ in rows:  # warm-up
                run(name, kind, per_thread)
            for r in range(cfg["repeat"]):
                for name, kind, per_thread, _ in rows[r % len(rows) :] + rows[: r % len(rows)]:
                    if name not in errors:
                        got = run(name, kind, per_thread)
                        if got is not None:
                            samples[name].append(got[0])
                            cpu_share[name].append(got[1])
                            cpu_per_pair[name].append(got[2])
            for name, *_ in rows:
                if name in errors:
                    cell["results"][name] = skipped(errors[name])
                else:
                    cell["results"][name] = summarize(samples[name])
                    cell["results"][name]["cpus_busy"] = round(
                        sorted(cpu_share[name])[len(cpu_share[name]) // 2], 2
                    )
                    # thread CPU time per pair: what the load of a shared machine
                    # changes least (wall time also counts waiting for a CPU)
                    cpu = summarize(cpu_per_pair[name])
                    cell["results"][name]["cpu_ns_per_pair"] = {
                        k: round(cpu[k], 3) for k in ("median", "min", "max")
                    }
            cells.append(cell)
            progress.step(f"threads: {pattern} x{nthreads}")
    add_thread_ratios(cells)
    return cells


def thread_steps() -> int:
    return sum(len(counts) for _, _, counts, _ in THREAD_PATTERNS)


def _ratio_of_throughput(cell: JsonObject, num: str, den: str) -> float | None:
    a, b = cell["results"].get(num, {}), cell["results"].get(den, {})
    if "median" not in a or "median" not in b or b["median"] <= 0:
        return None
    return float(a["median"]) / float(b["median"])


def add_thread_ratios(cells: list[JsonObject]) -> None:
    """Throughput ratios (higher is better): to glibc, to one pool per thread,
    and to the same allocator with one thread (the scaling)."""
    one = {c["pattern"]: c for c in cells if c["threads"] == 1}
    for cell in cells:
        names = list(cell["results"])
        cell["x_glibc"] = {n: _ratio_of_throughput(cell, n, "glibc") for n in names}
        cell["x_per_thread"] = {n: _ratio_of_throughput(cell, n, PER_THREAD) for n in names}
        base = one.get(cell["pattern"])
        cell["x_one_thread"] = {
            n: (
                None
                if base is None
                or "median" not in base["results"].get(n, {})
                or "median" not in cell["results"][n]
                else cell["results"][n]["median"] / base["results"][n]["median"]
            )
            for n in names
        }


def _fmt(x: float | None) -> str:
    return f"{x:8.2f}" if x is not None else "       -"


def format_threads(data: JsonObject) -> list[str]:
    """The report's lines of the contended section."""
    cells = data.get("threads")
    if not cells:
        return []
    cpus = data["machine"].get("cpus")
    lines = [
        f"Threads: million allocate+free pairs per second of wall time (higher is better), "
        f"{cells[0]['pairs_per_thread']:,} pairs per thread, {THREAD_SIZE} bytes, median "
        f"[min-max] of {data['repeat']}; ratios of medians, same run: x glibc, x one "
        f"pool-ts per thread, x the same allocator with 1 thread; busy = CPU seconds per "
        f"wall second; CPU ns = thread CPU time per pair (all threads), median [min-max]",
        f"  (this machine has {cpus} CPUs: cells marked * run more threads than CPUs, "
        "so they measure time-slicing, not parallelism)",
    ]
    lines.append(
        f"  {'cell':13s} {'allocator':15s} {'Mpairs/s':>8s} {'[min-max]':>16s} "
        f"{'x glibc':>8s} {'x /thrd':>8s} {'x 1 thr':>8s} {'busy':>5s} "
        f"{'CPU ns':>6s} {'[min-max]':>13s}"
    )
    for cell in cells:
        label = f"{cell['pattern']} x{cell['threads']}{'*' if cell['oversubscribed'] else ''}"
        for i, (name, res) in enumerate(cell["results"].items()):
            lab = label if i == 0 else ""
            if "skipped" in res:
                lines.append(f"  {lab:13s} {name:15s} skipped: {res['skipped']}")
                continue
            spread = f"[{res['min']:.2f}-{res['max']:.2f}]"
            ratios = " ".join(
                _fmt(cell[k].get(name)) for k in ("x_glibc", "x_per_thread", "x_one_thread")
            )
            cpu = res.get("cpu_ns_per_pair")
            cpu_text = ""
            if cpu:
                cpu_spread = f"[{cpu['min']:.2f}-{cpu['max']:.2f}]"
                cpu_text = f" {cpu['median']:6.2f} {cpu_spread:>13s}"
            lines.append(
                f"  {lab:13s} {name:15s} {res['median']:8.2f} {spread:>16s} "
                f"{ratios} {res['cpus_busy']:5.2f}{cpu_text}"
            )
        lines.append("")
    return lines


def thread_targets(data: JsonObject) -> list[JsonObject]:
    """The contended target: 2 threads on one shared pool vs glibc and vs one
    pool per thread (throughput ratios; the goal: no slower than glibc)."""
    out = []
    cells = [c for c in data.get("threads", []) if c["threads"] == 2]
    rs = [(c["x_glibc"].get(SHARED), c["x_per_thread"].get(SHARED), c["pattern"]) for c in cells]
    rs = [r for r in rs if r[0] is not None]
    if not rs:
        out.append(
            {
                "target": "2 threads on one shared pool no slower than glibc",
                "met": None,
                "measured": "not run",
            }
        )
        return out
    worst = min(r[0] for r in rs)
    out.append(
        {
            "target": "2 threads on one shared pool no slower than glibc (throughput)",
            "met": worst >= 1.0,
            "worst": round(worst, 3),
            "measured": ", ".join(
                f"{p} {g:.2f}x glibc, {t:.2f}x per-thread pools"
                if t is not None
                else f"{p} {g:.2f}x glibc"
                for g, t, p in rs
            ),
        }
    )
    out.extend(_cached_targets(data.get("threads", [])))
    return out


def _cpu_ratio(cell: JsonObject, num: str, den: str) -> float | None:
    a = cell["results"].get(num, {}).get("cpu_ns_per_pair")
    b = cell["results"].get(den, {}).get("cpu_ns_per_pair")
    return a["median"] / b["median"] if a and b and b["median"] > 0 else None


def _cached_targets(cells: list[JsonObject]) -> list[JsonObject]:
    """The thread caches' targets: the cached shared pool against glibc and one
    pool per thread with 2 threads, 4 threads against 2, and one thread's CPU
    time against the single-thread pool's."""
    out: list[JsonObject] = []
    two = {c["pattern"]: c for c in cells if c["threads"] == 2}
    four = {c["pattern"]: c for c in cells if c["threads"] == 4}
    one = [c for c in cells if c["threads"] == 1]
    rs = [
        (c["x_glibc"].get(CACHED), c["x_per_thread"].get(CACHED), p)
        for p, c in two.items()
        if c["x_glibc"].get(CACHED) is not None and c["x_per_thread"].get(CACHED) is not None
    ]
    if rs:
        out.append(
            {
                "target": "2 threads on one cached pool >= 1.0x glibc and >= 0.8x one pool "
                "per thread (throughput)",
                "met": all(g >= 1.0 and t >= 0.8 for g, t, _ in rs),
                "worst": round(min(min(g, t / 0.8) for g, t, _ in rs), 3),
                "measured": ", ".join(f"{p} {g:.2f}x glibc, {t:.2f}x per-thread" for g, t, p in rs),
            }
        )
    scaling = [
        (four[p]["x_glibc"][CACHED], two[p]["x_glibc"][CACHED], p)
        for p in four
        if p in two
        and four[p]["x_glibc"].get(CACHED) is not None
        and two[p]["x_glibc"].get(CACHED) is not None
    ]
    if scaling:
        out.append(
            {
                "target": "4 threads on one cached pool no worse against glibc than 2",
                "met": all(f >= t for f, t, _ in scaling),
                "measured": ", ".join(f"{p} {f:.2f}x vs {t:.2f}x" for f, t, p in scaling),
            }
        )
    single = [(r, c["pattern"]) for c in one if (r := _cpu_ratio(c, CACHED, SINGLE_THREAD))]
    if single:
        out.append(
            {
                "target": "1 thread with thread caches <= 1.1x the single-thread pool's CPU "
                "time per pair",
                "met": all(r <= 1.1 for r, _ in single),
                "worst": round(max(r for r, _ in single), 3),
                "measured": ", ".join(f"{p} {r:.2f}x" for r, p in single),
            }
        )
    return out
