"""Memory: bytes obtained per requested byte for a million small blocks."""

from __future__ import annotations

from typing import Any

from .._progress import Progress
from .c_level import _error_text
from .common import (
    ALLOCATORS,
    MEMORY_ALLOCATORS,
    MEMORY_SIZES,
    JsonObject,
    _sizes_array,
    skipped,
)

# ---- memory ------------------------------------------------------------------------------


def run_memory(
    ffi: Any, lib: Any, cfg: dict[str, int], progress: Progress
) -> list[JsonObject]:  # pool._bench_c's ffi, lib
    rows: list[JsonObject] = []
    kinds = {n: k for n, k, _ in ALLOCATORS}
    note = ffi.new("char[1024]")
    out = ffi.new("bench_memory *")
    for size in MEMORY_SIZES:
        sizes = _sizes_array(size)
        buf = ffi.from_buffer("uint32_t[]", sizes)
        row: JsonObject = {"size": size, "blocks": cfg["mem_blocks"], "results": {}}
        for name in MEMORY_ALLOCATORS:
            # a fresh allocator per measurement: a pool's heap starts empty
            handle = lib.bench_allocator_new(getattr(lib, kinds[name]), note, len(note))
            if handle == ffi.NULL:
                row["results"][name] = skipped(ffi.string(note).decode(errors="replace"))
                continue
            try:
                status = lib.bench_measure_memory(
                    handle, buf, len(sizes) - 1, cfg["mem_blocks"], out
                )
            finally:
                lib.bench_allocator_delete(handle)
            if status < 0:
                row["results"][name] = skipped(_error_text(lib, status))
                continue
            if not out.have_mallinfo2:
                row["results"][name] = skipped("mallinfo2 not available (glibc < 2.33)")
                continue
            row["requested"] = out.requested
            entry: JsonObject = {
                "malloc_in_use": out.malloc_in_use,
                "held_per_requested": out.malloc_in_use / out.requested,
            }
            if name.startswith("pool"):
                entry["pool_heap_size"] = out.pool_heap_size
                entry["heap_size_per_requested"] = out.pool_heap_size / out.requested
            row["results"][name] = entry
        rows.append(row)
        progress.step(f"memory: {size}")
    return rows
