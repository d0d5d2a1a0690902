"""When a figure can be trusted, and how two runs compare.

Every figure of a run (the dict that ``--json`` writes) is flattened by
`figures()` into one `Figure` with a stable name, so that the report can warn
about the unstable ones and ``--baseline OLD.json --fail-above R`` can compare
two runs figure by figure.

A figure "may be unstable" (pyperf's words) when its repeats spread by more
than `UNSTABLE_SPREAD` of its median, or when it has a single repeat (no
spread measured at all); a ratio of medians is only as good as its two cells.
The machine is "busy" when its load average, at the start or at the end of
the run, is above its CPU count: other work then competed for the cores.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .common import JsonObject

UNSTABLE_SPREAD = 0.20  # (max - min) / median: about +-10 % around the median
LISTED = 12  # unstable figures named one by one in the report; the rest counted


@dataclass(frozen=True)
class Figure:
    name: str  # section and cell, stable across runs: the key of --baseline
    unit: str
    median: float
    low: float  # min of the repeats
    high: float  # max of the repeats
    repeats: int
    higher_is_better: bool = False  # throughput (M pairs/s); times and bytes are lower-better

    @property
    def spread(self) -> float:
        """(max - min) / median; 0 when the median is 0."""
        return (self.high - self.low) / self.median if self.median else 0.0

    def unstable(self) -> str | None:
        """Why the figure may be unstable, or None."""
        if self.repeats < 2:
            return "1 repeat: no spread measured"
        if self.spread > UNSTABLE_SPREAD:
            return f"spread {self.spread:.0%} of the median"
        return None


def _cell(name: str, unit: str, cell: Any, repeats: int, higher: bool = False) -> Iterator[Figure]:
    """The cell's Figure (none when it did not run); repeats: the run's, for a
    cell saved without its samples."""
    if isinstance(cell, dict) and isinstance(cell.get("median"), (int, float)):
        samples = cell.get("samples")
        median = float(cell["median"])
        yield Figure(
            name,
            unit,
            median,
            float(cell.get("min", median)),
            float(cell.get("max", median)),
            len(samples) if samples else int(cell.get("repeats", repeats)),
            higher,
        )


def figures(data: JsonObject) -> list[Figure]:
    """Every timed or measured figure of a run, in the report's order."""
    out: list[Figure] = []
    n = int(data.get("repeat") or 1)
    for c in data.get("c_level") or ():
        label = "trace" if c.get("pattern") == "trace" else f"{c.get('pattern')} {c.get('size')}"
        unit = "ns/op" if c.get("pattern") == "trace" else "ns/pair"
        for alloc, res in (c.get("results") or {}).items():
            out.extend(_cell(f"C {label}: {alloc}", unit, res, n))
    for t in data.get("threads") or ():
        label = f"threads {t.get('pattern')} {t.get('size')} x{t.get('threads')}"
        for alloc, res in (t.get("results") or {}).items():
            out.extend(_cell(f"{label}: {alloc}", t.get("unit", "?"), res, n, higher=True))
    for e in data.get("python_level") or ():
        out.extend(_cell(f"Python: {e.get('name')}", e.get("unit", "?"), e, n))
    for r in data.get("memory") or ():
        for alloc, res in (r.get("results") or {}).items():
            value = (res or {}).get("held_per_requested")
            if isinstance(value, (int, float)):  # one measurement: exact, not timed
                out.append(
                    Figure(f"memory {r.get('size')}: {alloc}", "bytes/byte", value, value, value, 2)
                )
    for c in (data.get("containers") or {}).get("cells") or ():
        for alloc, res in (c.get("results") or {}).items():
            out.extend(_cell(f"C++ {c.get('container')}: {alloc}", "ns/element", res, n))
    for c in data.get("numpy") or ():
        for handler, res in (c.get("results") or {}).items():
            out.extend(_cell(f"numpy {c.get('cell')}: {handler}", "ns/array", res, n))
    run = data.get("pool_run") or {}
    for key, label in (("plain", "python"), ("pool_run", "python -m pool run")):
        out.extend(_cell(f"pool run, ast/json job: {label}", "s", run.get(key), n))
    for row in data.get("programs") or ():
        out.extend(_cell(f"program {row.get('workload')}: {row.get('allocator')}", "s", row, n))
    for row in data.get("preload_threads") or ():
        name = f"threaded program {row.get('workload')}: {row.get('allocator')}"
        out.extend(_cell(name, "s", row, n))
    return out


# ---- warnings -----------------------------------------------------------------------------


def load_warning(data: JsonObject) -> str | None:
    """A line when the machine was busy during the run, else None."""
    m = data.get("machine") or {}
    cpus = m.get("cpus") or os.cpu_count() or 1
    loads = [
        (when, x[0])
        for when, x in (("start", m.get("loadavg")), ("end", data.get("loadavg_end")))
        if x
    ]
    busy = [f"{load:.2f} at the {when}" for when, load in loads if load > cpus]
    if not busy:
        return None
    return (
        f"the machine was busy: load average {' and '.join(busy)} for {cpus} CPUs; every "
        "figure may be unstable (other work competed for the cores)"
    )


def warnings(data: JsonObject) -> list[str]:
    """The run's instability warnings, one line each (empty: none)."""
    lines: list[str] = []
    busy = load_warning(data)
    if busy:
        lines.append(busy)
    every = figures(data)
    shaky = [(f, why) for f in every if (why := f.unstable())]
    if shaky:
        lines.append(
            f"{len(shaky)} of {len(every)} figures may be unstable (spread above "
            f"{UNSTABLE_SPREAD:.0%} of the median, or 1 repeat); ratios involving them "
            "may be noise. Run again with more repeats (--repeat N) on a quieter machine:"
        )
        for f, why in shaky[:LISTED]:
            lines.append(
                f"  {f.name}: median {f.median:.4g} {f.unit} [{f.low:.4g}-{f.high:.4g}]: {why}"
            )
        if len(shaky) > LISTED:
            lines.append(f"  ... and {len(shaky) - LISTED} more (--json keeps every sample)")
    return lines


# ---- comparing two runs -------------------------------------------------------------------


def parse_threshold(text: str) -> float:
    """--fail-above: a ratio above 1 ("1.10") or a percentage ("10%"); the ratio.
    ValueError naming the text otherwise."""
    t = text.strip()
    try:
        value = 1 + float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise ValueError(
            f"--fail-above {text!r}: not a ratio or a percentage (e.g. 1.10 or 10%)"
        ) from None
    if not math.isfinite(value) or value <= 1:
        raise ValueError(
            f"--fail-above {text!r}: must be above 1 (a ratio new/old, e.g. 1.10) or a "
            "positive percentage (10%)"
        )
    return value


def load_run(path: str, option: str) -> JsonObject:
    """A saved run (--json's file); ValueError naming the option and path otherwise."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise ValueError(f"{option} {path}: {e.strerror or e}") from None
    except ValueError as e:  # json.JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"{option} {path}: not a JSON file ({e})") from None
    if not isinstance(data, dict) or "schema" not in data or "machine" not in data:
        raise ValueError(
            f"{option} {path}: not a saved run of python -m pool bench (written by --json)"
        )
    return data


@dataclass(frozen=True)
class Change:
    name: str
    unit: str
    old: float
    new: float
    worse_by: float  # > 1: worse; the factor by which the figure got worse
    unstable: str | None  # why either side may be unstable


def compare(old: JsonObject, new: JsonObject) -> list[Change]:
    """The figures both runs have, each with how much worse the new one is."""
    before = {f.name: f for f in figures(old)}
    out: list[Change] = []
    for f in figures(new):
        b = before.get(f.name)
        if b is None or b.median <= 0 or f.median <= 0:
            continue
        worse = b.median / f.median if f.higher_is_better else f.median / b.median
        why = f.unstable() or b.unstable()
        out.append(Change(f.name, f.unit, b.median, f.median, worse, why))
    return out


def format_comparison(
    old: JsonObject, new: JsonObject, fail_above: float | None, baseline: str
) -> tuple[list[str], int]:
    """The report's comparison section and the number of figures that regressed by
    more than fail_above (0 when it is None)."""
    changes = compare(old, new)
    lines = [f"Against the baseline {baseline} ({old.get('date', 'date not recorded')}):"]
    notes = []
    om, nm = old.get("machine") or {}, new.get("machine") or {}
    if (om.get("cpu_model"), om.get("cpus")) != (nm.get("cpu_model"), nm.get("cpus")):
        notes.append("another machine: absolute figures differ for that reason too")
    if bool(old.get("quick")) != bool(new.get("quick")) or old.get("clock") != new.get("clock"):
        notes.append("another profile or clock (--quick, --clock): figures are not comparable")
    lines.extend(f"  WARNING: {n}" for n in notes)
    if not changes:
        lines.append("  no figure in common")
        return lines, 0
    changes.sort(key=lambda c: c.worse_by, reverse=True)
    limit = fail_above if fail_above is not None else 1.0
    worse = [c for c in changes if c.worse_by > limit]
    better = sum(1 for c in changes if c.worse_by < 1 / limit)
    lines.append(
        f"  {len(changes)} figures in common; {len(worse)} worse by more than "
        f"{limit:.2f}x, {better} better by more than that; the rest within it"
    )
    for c in worse[:LISTED]:
        flag = f"  (may be unstable: {c.unstable})" if c.unstable else ""
        lines.append(
            f"  REGRESSED {c.worse_by:.2f}x  {c.name}: {c.old:.4g} -> {c.new:.4g} {c.unit}{flag}"
        )
    if len(worse) > LISTED:
        lines.append(f"  ... and {len(worse) - LISTED} more")
    if not worse:
        top = changes[0]
        lines.append(
            f"  worst: {top.worse_by:.2f}x  {top.name}: {top.old:.4g} -> {top.new:.4g} {top.unit}"
        )
    return lines, len(worse) if fail_above is not None else 0
