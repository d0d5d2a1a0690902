"""The benchmark's targets, judged from one run's medians."""

from __future__ import annotations

from .common import (
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
    JsonObject,
    ratio,
)
from .threads import thread_targets

# ---- targets -----------------------------------------------------------------------------


def evaluate_targets(data: JsonObject) -> list[JsonObject]:
    """The targets, judged from this run's medians.  met is None when
    the rows it needs did not run."""
    out: list[JsonObject] = []
    pair_cells = [c for c in data.get("c_level", []) if c["pattern"] != "trace"]

    def worst(name: str, base: str, limit: float, text: str) -> None:
        pairs: list[tuple[float, str]] = []
        for c in pair_cells:
            r = ratio(c["results"].get(name), c["results"].get(base))
            if r is not None:
                pairs.append((r, f"{c['pattern']} {c['size']}"))
        if not pairs:
            out.append({"target": text, "met": None, "measured": f"{base} did not run"})
            return
        r, where = max(pairs)
        over = sum(1 for x, _ in pairs if x > limit)
        out.append(
            {
                "target": text,
                "met": over == 0,
                "worst": round(r, 3),
                "measured": f"worst {r:.2f}x ({where}); {over} of {len(pairs)} cells over",
            }
        )

    worst("pool", "floor", 1.2, "unchecked single-thread pool <= 1.2x the floor in every pair cell")
    for other in ("glibc", "jemalloc", "mimalloc"):
        worst(
            "pool", other, 1.0, f"unchecked single-thread pool ahead of {other} in every pair cell"
        )
    worst(
        "pool-ts",
        "floor",
        1.3,
        "thread-safe pool <= 1.3x the floor (uncontended) in every pair cell",
    )
    worst(
        "pool-ts",
        "pool",
        1.1,
        "default profile (thread-safe, unchecked; biased when one thread uses it) <= 1.1x "
        "the unchecked single-thread pool in every pair cell",
    )
    worst(
        "pool-checked",
        "pool-ts",
        1.3,
        "C level: checked <= 1.3x unchecked (both thread-safe, sized free) in every pair cell",
    )
    worst(
        "pool-chk-nosize",
        "pool-ts-nosize",
        1.3,
        "C level: checked <= 1.3x unchecked (both thread-safe, size-less free) in every pair cell",
    )
    worst(
        "pool-ts-nosize",
        "pool-ts",
        1.3,
        "C level: size-less unchecked free <= 1.3x sized (thread-safe) in every pair cell",
    )

    out.extend(thread_targets(data))

    cont = data.get("containers", {})
    if "cells" in cont:
        for name in ("pool-ts", "pool"):
            rs = [(c["ratio_to_pool_alloc"].get(name), c["container"]) for c in cont["cells"]]
            rs = [(r, w) for r, w in rs if r is not None]
            if rs:
                r, _ = max(rs)
                out.append(
                    {
                        "target": f"C++ containers faster on {name} than on __pool_alloc",
                        "met": r < 1.0,
                        "worst": round(r, 3),
                        "measured": ", ".join(f"{w} {x:.2f}x" for x, w in rs),
                    }
                )
    else:
        out.append(
            {
                "target": "C++ containers faster on the pool than on __pool_alloc",
                "met": None,
                "measured": cont.get("skipped", "not run"),
            }
        )

    py = {e["name"]: e for e in data.get("python_level", [])}

    def py_target(text: str, num: str, den: str, limit: float, scale: float = 1.0) -> None:
        r = ratio(py.get(num), py.get(den))
        if r is None:
            out.append({"target": text, "met": None, "measured": "rows did not run"})
        else:
            out.append(
                {
                    "target": text,
                    "met": r * scale <= limit,
                    "worst": round(r * scale, 4),
                    "measured": f"{r * scale:.3f}x",
                }
            )

    py_target(
        "unchecked Python allocate+deallocate pair no slower than malloc/free through cffi",
        ROW_UNCHECKED,
        ROW_MALLOC,
        1.0,
    )
    py_target(
        "checked Python pair <= 1.3x unchecked (both thread-safe)",
        ROW_CHECKED,
        ROW_UNCHECKED_TS,
        1.3,
    )
    py_target(
        "checked Python pair <= 1.1x unchecked (both thread-safe; block directory)",
        ROW_CHECKED,
        ROW_UNCHECKED_TS,
        1.1,
    )
    py_target(
        "checked Python pair, size-less free, <= 1.1x unchecked size-less (thread-safe)",
        ROW_CHECKED_NOSIZE,
        ROW_UNCHECKED_TS_NOSIZE,
        1.1,
    )
    py_target("batch calls <= 0.05x one cffi call per block (unchecked)", ROW_BATCH, ROW_CALL, 0.05)
    py_target(
        "batch calls <= 0.05x one cffi call per block (checked)", ROW_BATCH_CHECKED, ROW_CALL, 0.05
    )

    _fast_path_targets(py, out)
    _arena_targets(py, out)

    mem = [r for r in data.get("memory", []) if r["size"] != "mixed" and int(r["size"]) % 8 == 0]
    vals = [
        (r["results"]["pool"]["held_per_requested"], r["size"])
        for r in mem
        if "held_per_requested" in r["results"].get("pool", {})
    ]
    if vals:
        v, _ = max(vals)
        out.append(
            {
                "target": "bytes held per requested byte <= 1.1 (fixed sizes, multiples of 8; "
                "unchecked pool)",
                "met": v <= 1.1,
                "worst": round(v, 4),
                "measured": ", ".join(f"{s}: {x:.3f}" for x, s in vals),
            }
        )
    else:
        out.append(
            {
                "target": "bytes held per requested byte <= 1.1",
                "met": None,
                "measured": "memory rows did not run",
            }
        )
    for name, limit, what in (
        ("pool-checked", 1.10, "checked pool, its directory included"),
        ("pool", 1.09, "unchecked pool, its directory included"),
    ):
        vals = [
            (r["results"][name]["held_per_requested"], r["size"])
            for r in mem
            if "held_per_requested" in r["results"].get(name, {})
        ]
        text = f"every class size 8..128: bytes held per requested byte <= {limit} ({what})"
        if not vals:
            out.append({"target": text, "met": None, "measured": "memory rows did not run"})
            continue
        v, where = max(vals)
        out.append(
            {
                "target": text,
                "met": v <= limit,
                "worst": round(v, 4),
                "measured": f"worst {v:.3f} (size {where})",
            }
        )
    return out


# The C-API fast path's targets: (text, row, base row, limit).  Each is judged
# on Pool's own rows (the fast path where it is active) and, for
# information, on the same rows run through core.py's cffi methods.
FAST_PATH_TARGETS = [
    (
        "checked thread-safe pair <= 0.8x ffi.new('char[32]') create+drop",
        ROW_CHECKED,
        ROW_FFI_NEW,
        0.8,
    ),
    ("checked thread-safe pair <= 1.0x bytearray(32) create+drop", ROW_CHECKED, ROW_BYTEARRAY, 1.0),
    (
        "unchecked thread-safe pair <= 0.7x ffi.new('char[32]') create+drop",
        ROW_UNCHECKED_TS,
        ROW_FFI_NEW,
        0.7,
    ),
    (
        "unchecked single-thread pair <= 0.7x ffi.new('char[32]') create+drop",
        ROW_UNCHECKED,
        ROW_FFI_NEW,
        0.7,
    ),
    (
        "buffer(addr) + 5-byte write <= 1.5x memoryview(bytearray(32)) + the same write",
        ROW_BUFFER,
        ROW_MEMORYVIEW,
        1.5,
    ),
]


def _fast_path_targets(py: dict[str, JsonObject], out: list[JsonObject]) -> None:
    from .common import ROW_CALL

    def judge(text: str, num: str, den: str, limit: float, informative: bool) -> None:
        r = ratio(py.get(num), py.get(den))
        if r is None:
            why = py.get(num, {}).get("skipped", "rows did not run")
            out.append({"target": text, "met": None, "measured": why})
            return
        entry: JsonObject = {
            "target": text,
            "met": None if informative else r <= limit,
            "worst": round(r, 4),
            "measured": f"{r:.3f}x",
        }
        if informative:
            entry["measured"] += f" (for information; limit {limit}x)"
        out.append(entry)

    batch = [
        ("batch pair per block <= 0.05x one cffi call (unchecked)", ROW_BATCH, ROW_CALL, 0.05),
        (
            "batch pair per block <= 0.05x one cffi call (checked)",
            ROW_BATCH_CHECKED,
            ROW_CALL,
            0.05,
        ),
        ("checked pair <= 1.3x unchecked (both thread-safe)", ROW_CHECKED, ROW_UNCHECKED_TS, 1.3),
    ]
    # Pool's own rows ran on the fast path when its cffi-path twins ran too
    on_fast = "median" in py.get(ROW_CHECKED + CFFI_PATH, {})
    label = "fast path" if on_fast else "Pool on the cffi path (fast path not active)"
    for text, num, den, limit in FAST_PATH_TARGETS:
        judge(f"{label}: {text}", num, den, limit, False)
    for text, num, den, limit in FAST_PATH_TARGETS + batch:
        # the baseline rows (ffi.new, bytearray, the bench's cffi call) have no cffi path
        base = den + CFFI_PATH if den in (ROW_CHECKED, ROW_UNCHECKED_TS) else den
        judge(f"cffi path: {text}", num + CFFI_PATH, base, limit, True)


def _arena_targets(py: dict[str, JsonObject], out: list[JsonObject]) -> None:
    """The Arena's targets: the rows of pool/bench/arena_rows.py (with the
    new_many row of python_level.py)."""
    from .arena_rows import ARENA_TARGETS

    for text, num, den, limit in ARENA_TARGETS:
        r = ratio(py.get(num), py.get(den))
        if r is None:
            why = py.get(num, {}).get("skipped") or py.get(den, {}).get("skipped")
            out.append({"target": text, "met": None, "measured": why or "rows did not run"})
        else:
            out.append(
                {"target": text, "met": r <= limit, "worst": round(r, 4), "measured": f"{r:.3f}x"}
            )
