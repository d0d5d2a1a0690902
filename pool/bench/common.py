"""Constants and cell summaries shared by the benchmark sections."""

from __future__ import annotations

import random
import statistics
import time
import timeit
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable, Optional, Union

# A report section, row or cell: a JSON object (what `--json` writes and the
# report, targets and plot read back).
JsonObject = dict[str, Any]

# The timing rows (run-time aliases: Optional and Union, as 3.9 evaluates them).
# A row factory, called with the clock ("cpu" or "wall") once per sample,
# returns run(loops) -> elapsed ns and what to call afterwards (or None).
Cleanup = Optional[Callable[[], object]]
Prepare = Callable[[], tuple[dict[str, Any], Cleanup]]
RowFactory = Callable[[str], tuple[Callable[[int], float], Cleanup]]
# (name, unit, units per loop, factory or the note saying why it is skipped)
Row = tuple[str, str, int, Union[RowFactory, str]]

SCHEMA = 1

# (name, bench_loops.h kind, what it is)
ALLOCATORS = [
    ("floor", "BENCH_FLOOR", "bare free-list floor (16 pre-filled lists, pop/push)"),
    ("pool", "BENCH_POOL", "this pool, unchecked, single-thread"),
    ("pool-ts", "BENCH_POOL_TS", "this pool, unchecked, thread-safe (uncontended)"),
    ("pool-checked", "BENCH_POOL_CHECKED", "this pool, checked, thread-safe (Pool() defaults)"),
    (
        "pool-ts-nosize",
        "BENCH_POOL_TS_NOSIZE",
        "this pool, unchecked, thread-safe, size-less free (sgi_pool_free)",
    ),
    (
        "pool-chk-nosize",
        "BENCH_POOL_CHECKED_NOSIZE",
        "this pool, checked, thread-safe, size-less free (sgi_pool_free)",
    ),
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
MIXED_SEED = 20240601  # uniform 1..128 sizes of the "mixed" cells
MIXED_LEN = 4096  # a power of two: the loops index sizes[i & mask]
CHURN_SEED = 0x5EED5EED  # the churn loop's slot choice
LIVE = 10_000  # FIFO burst length, churn live set
MEMORY_SIZES = [str(8 * k) for k in range(1, 17)] + ["mixed"]  # every class of the classic profile
MEMORY_ALLOCATORS = ["pool", "pool-checked", "glibc"]
BATCH = 1000  # blocks per batch call
STATIC_TLS = 16384  # glibc.rtld.optional_static_tls for jemalloc's re-exec
REEXEC_MARK = "POOL_BENCH_REEXECED"

# Python-level rows that the targets and ratios refer to
ROW_CALL = "cffi call: bench_noop(1) (one int in, int out)"
ROW_MALLOC = "malloc+free via cffi: bench_malloc(32), bench_free(addr)"
ROW_UNCHECKED = "Pool pair (32 bytes), unchecked single-thread"
ROW_UNCHECKED_TS = "Pool pair (32 bytes), unchecked thread-safe"
ROW_CHECKED = "Pool pair (32 bytes), checked thread-safe (Pool() defaults)"
ROW_UNCHECKED_TS_NOSIZE = "Pool pair (32 bytes), unchecked thread-safe, size-less deallocate(a)"
ROW_CHECKED_NOSIZE = "Pool pair (32 bytes), checked thread-safe, size-less deallocate(a)"
ROW_BATCH = f"Pool batch pair ({BATCH} blocks of 32), unchecked, per block"
ROW_BATCH_CHECKED = f"Pool batch pair ({BATCH} blocks of 32), checked, per block"
ROW_FFI_NEW = 'ffi.new("char[32]") create+drop (the package\'s compiled ffi)'
ROW_BYTEARRAY = "bytearray(32) create+drop"
ROW_MEMORYVIEW = "memoryview(bytearray(32)) + 5-byte write"
ROW_BUFFER = "Pool().buffer(addr) of a 32-byte block + 5-byte write"
CFFI_PATH = " [cffi path]"  # suffix of the rows run through core.py's cffi methods

PROFILES = {
    #        repeats, C pairs per run, Python loops per run, memory blocks, C++ rounds
    "quick": {
        "repeat": 3,
        "pairs": 200_000,
        "py_loops": 20_000,
        "mem_blocks": 1_000_000,
        "cxx_rounds": 2,
        "cxx_n": 10_000,
        "structure_nodes": 100_000,  # the Arena's whole-structure rows
    },
    "full": {
        "repeat": 7,
        "pairs": 1_000_000,
        "py_loops": 200_000,
        "mem_blocks": 1_000_000,
        "cxx_rounds": 10,
        "cxx_n": 10_000,
        "structure_nodes": 1_000_000,
    },
}

REPO = Path(__file__).resolve().parents[2]  # the source tree, when there is one
TRACES = Path(__file__).resolve().parents[1] / "traces" / "data"  # shipped with the package


# ---- small helpers -----------------------------------------------------------------------


def _load_bench_c() -> tuple[Any, Any]:
    """(ffi, lib) of pool._bench_c, or (None, reason).  (cffi objects: Any.)"""
    try:
        from .. import _bench_c
    except ImportError as e:
        return None, f"pool._bench_c is not built ({e}); build it with `python build_pool.py bench`"
    return _bench_c.ffi, _bench_c.lib


def summarize(samples: Sequence[float]) -> JsonObject:
    """A cell: median, min, max and the samples (ns per unit)."""
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "samples": [round(s, 4) for s in samples],
    }


def skipped(note: str) -> JsonObject:
    return {"skipped": note}


def ratio(cell: JsonObject | None, base: JsonObject | None) -> float | None:
    """Ratio of medians, or None when either side did not run."""
    if not cell or not base or "median" not in cell or "median" not in base:
        return None
    if base["median"] <= 0:
        return None
    return float(cell["median"] / base["median"])


def _mixed_sizes() -> array[int]:
    rng = random.Random(MIXED_SEED)
    return array("I", (rng.randint(1, 128) for _ in range(MIXED_LEN)))


def _sizes_array(size: str) -> array[int]:
    return _mixed_sizes() if size == "mixed" else array("I", [int(size)])


# ---- the one timing helper ---------------------------------------------------------


def _timer(clock: str) -> Callable[[], int]:
    return time.thread_time_ns if clock == "cpu" else time.perf_counter_ns


def timed(stmt: str, prepare: Prepare | None = None) -> RowFactory:
    """The one timing helper: a row factory that times `stmt` in timeit's
    loop (the statement compiled inline, its names bound as locals, no call
    per iteration).  prepare() -> (names, cleanup) runs once per sample: the
    objects the statement uses, and what to call afterwards (or None)."""

    def factory(clock: str) -> tuple[Callable[[int], float], Cleanup]:
        names: dict[str, Any]
        cleanup: Cleanup
        names, cleanup = prepare() if prepare else ({}, None)
        setup = "\n".join(f"{k} = _names[{k!r}]" for k in names) or "pass"
        timer = timeit.Timer(stmt, setup, timer=_timer(clock), globals={"_names": names})
        return timer.timeit, cleanup

    return factory
