"""C level: loops compiled into pool._bench_c, timed in C with no FFI inside."""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Callable

from .._progress import Progress
from .common import (
    ALLOCATORS,
    CHURN_SEED,
    LIVE,
    PATTERNS,
    SIZES,
    STATIC_TLS,
    TRACES,
    JsonObject,
    _sizes_array,
    ratio,
    skipped,
    summarize,
)

# {name: (the cffi handle of the opened allocator or None, its info)}
Allocators = dict[str, tuple[Any, JsonObject]]

# ---- C level -----------------------------------------------------------------------------


def open_allocators(ffi: Any, lib: Any) -> Allocators:  # pool._bench_c's ffi, lib
    """{name: (handle or None, info dict)} for every allocator."""
    out: Allocators = {}
    note = ffi.new("char[1024]")
    for name, kind, label in ALLOCATORS:
        handle = lib.bench_allocator_new(getattr(lib, kind), note, len(note))
        if handle == ffi.NULL:
            text = ffi.string(note).decode(errors="replace")
            if "static TLS" in text:
                text += (
                    f" (set GLIBC_TUNABLES=glibc.rtld.optional_static_tls={STATIC_TLS} "
                    "before Python starts; without --no-reexec the bench does it itself)"
                )
            out[name] = (None, {"label": label, "ran": False, "note": text})
            continue
        handle = ffi.gc(handle, lib.bench_allocator_delete)
        lib.bench_allocator_describe(handle, note, len(note))
        out[name] = (
            handle,
            {"label": label, "ran": True, "really": ffi.string(note).decode(errors="replace")},
        )
    return out


def _error_text(lib: Any, code: int) -> str:
    texts: dict[int, str] = {
        lib.BENCH_EALLOC: "the allocator returned NULL inside the loop",
        lib.BENCH_ENOMEM: "no memory for the loop's scratch arrays",
        lib.BENCH_EINVAL: "invalid arguments",
    }
    return texts.get(code, f"error {code}")


def find_trace(explicit: str | None = None) -> Path | None:
    """The trace file to replay: explicit, else the first of the shipped ones."""
    if explicit:
        return Path(explicit)
    found = sorted(TRACES.glob("*.trace.gz"))
    return found[0] if found else None


def _parse_trace_ops(path: Path) -> Iterator[tuple[str, int, int | None]]:
    """(op, id, size) tuples: pool.traces's validated reader when it exists,
    else a plain reader of the same format (the C side validates again)."""
    iter_trace: Callable[[Path], Iterator[tuple[Any, ...]]] | None
    try:
        from ..traces import iter_trace
    except ImportError:
        iter_trace = None
    if iter_trace is not None:
        for op in iter_trace(path):
            yield op[0], op[1], op[2]
        return
    import gzip

    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    with gzip.open(path, "rt") if gz else open(path) as f:
        for line in f:
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            yield fields[0], int(fields[1]), int(fields[2]) if len(fields) > 2 else None


def load_trace(path: Path) -> JsonObject:
    """Arrays for bench_replay: ops (B), dense slot ids (I), sizes (I), plus the
    slot count and the survivors (live at the end, freed by each pass)."""
    codes = {"a": 0, "f": 1, "r": 2}
    ops, ids, sizes = array("B"), array("I"), array("I")
    slot_of: dict[int, int] = {}  # live ID -> its slot
    free_slots: list[int] = []  # slots of freed IDs, reused (keeps the slot table small)
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
    return {
        "ops": ops,
        "ids": ids,
        "sizes": sizes,
        "nslots": nslots,
        "survivors": len(slot_of),
        "counts": {c: ops.count(v) for c, v in codes.items()},
    }


def run_c_level(
    ffi: Any,
    lib: Any,
    allocs: Allocators,
    cfg: dict[str, int],
    progress: Progress,
    trace_path: Path | None,
) -> list[JsonObject]:
    cells: list[JsonObject] = []
    names = [n for n, _, _ in ALLOCATORS]
    running = [n for n in names if allocs[n][0] is not None]
    for pattern, pconst, pdesc in PATTERNS:
        for size in SIZES:
            sizes = _sizes_array(size)
            buf = ffi.from_buffer("uint32_t[]", sizes)
            mask = len(sizes) - 1
            count = cfg["pairs"]
            pat = getattr(lib, pconst)
            cell: JsonObject = {
                "pattern": pattern,
                "size": size,
                "unit": "ns/pair",
                "pairs": count,
                "description": pdesc,
                "results": {},
            }
            samples: dict[str, list[float]] = {n: [] for n in running}
            errors: dict[str, str] = {}

            def run(
                name: str,
                pat: Any = pat,
                buf: Any = buf,
                mask: int = mask,
                count: int = count,
                errors: dict[str, str] = errors,
            ) -> int:
                t: int = lib.bench_pairs(allocs[name][0], pat, buf, mask, count, LIVE, CHURN_SEED)
                if t < 0:
                    errors[name] = _error_text(lib, t)
                return t

            for name in running:  # warm-up pass
                run(name)
            for r in range(cfg["repeat"]):
                order = running[r % len(running) :] + running[: r % len(running)]
                for name in order:
                    if name in errors:
                        continue
                    t = run(name)
                    if t >= 0:
                        samples[name].append(t / count)
            _fill_results(cell, names, errors, samples, allocs)
            cells.append(cell)
            progress.step(f"C level: {pattern} {size}")
    cells.append(run_trace_cell(ffi, lib, allocs, cfg, trace_path))
    progress.step("C level: trace replay")
    return cells


def run_trace_cell(
    ffi: Any, lib: Any, allocs: Allocators, cfg: dict[str, int], trace_path: Path | None
) -> JsonObject:
    names = [n for n, _, _ in ALLOCATORS]
    cell: JsonObject = {"pattern": "trace", "size": "trace", "unit": "ns/op", "results": {}}
    if trace_path is None or not trace_path.exists():
        note = (
            "no trace: pool/traces/data/*.trace.gz not found"
            if trace_path is None
            else f"trace {trace_path} not found"
        )
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
    cell.update(
        trace=str(trace_path.name),
        operations=len(t["ops"]),
        survivors=t["survivors"],
        counts=t["counts"],
        passes=passes,
        description=f"replay of {trace_path.name}: {len(t['ops'])} operations "
        f"(a/f/r {t['counts']['a']}/{t['counts']['f']}/{t['counts']['r']}) "
        f"+ {t['survivors']} survivors freed, per pass",
    )
    ops = ffi.from_buffer("uint8_t[]", t["ops"])
    ids = ffi.from_buffer("uint32_t[]", t["ids"])
    sizes = ffi.from_buffer("uint32_t[]", t["sizes"])
    running = [n for n in names if allocs[n][0] is not None]
    samples: dict[str, list[float]] = {n: [] for n in running}
    errors: dict[str, str] = {}

    def run(name: str, npasses: int) -> int:
        r: int = lib.bench_replay(
            allocs[name][0], ops, ids, sizes, len(t["ops"]), t["nslots"], npasses
        )
        if r < 0:
            errors[name] = _error_text(lib, r)
        return r

    for name in running:
        run(name, 1)
    for r in range(cfg["repeat"]):
        order = running[r % len(running) :] + running[: r % len(running)]
        for name in order:
            if name not in errors:
                ns = run(name, passes)
                if ns >= 0:
                    samples[name].append(ns / (passes * per_pass))
    _fill_results(cell, names, errors, samples, allocs)
    return cell


def add_ratios(cells: list[JsonObject]) -> None:
    for cell in cells:
        res = cell["results"]
        cell["ratio_to_floor"] = {n: ratio(c, res.get("floor")) for n, c in res.items()}
        cell["ratio_to_glibc"] = {n: ratio(c, res.get("glibc")) for n, c in res.items()}


def _fill_results(
    cell: JsonObject,
    names: Sequence[str],
    errors: dict[str, str],
    samples: dict[str, list[float]],
    allocs: Allocators,
) -> None:
    """A cell's results per allocator: its samples' summary, or why it has none."""
    for name in names:
        if name in errors:
            cell["results"][name] = skipped(errors[name])
        elif samples.get(name):
            cell["results"][name] = summarize(samples[name])
        else:
            cell["results"][name] = skipped(allocs[name][1].get("note", "did not run"))
