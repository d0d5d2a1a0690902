"""The traces shipped with the package (pool/traces/data), named by a short name.

``python -m pool replay sqlite3`` works from any folder, with or without a
checkout: a TRACE argument that is not an existing file but is the name of a
shipped trace (its file name without ``.trace.gz``) means that trace.
``python -m pool traces`` lists them.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
SUFFIX = ".trace.gz"


def shipped() -> dict[str, Path]:
    """{short name: path} of every shipped trace, sorted by name."""
    return {p.name[: -len(SUFFIX)]: p for p in sorted(DATA.glob(f"*{SUFFIX}"))}


def resolve(trace: str) -> str:
    """The file to read for a TRACE argument: trace itself when it names an
    existing file (a file always wins over a short name), else the shipped
    trace of that short name.  FileNotFoundError, one line naming trace and
    the short names, when it is neither."""
    if os.path.exists(trace):
        return trace
    found = shipped().get(trace)
    if found is not None:
        return str(found)
    names = ", ".join(shipped()) or "none"
    raise FileNotFoundError(
        f"{trace}: no such file, nor a shipped trace (shipped: {names};"
        " python -m pool traces lists them)"
    )


@dataclass(frozen=True)
class ShippedTrace:
    name: str
    path: Path
    operations: int
    program: str  # the recorded command line


def describe(name: str, path: Path) -> ShippedTrace:
    """A shipped trace's operation count and the program it was recorded from."""
    operations, program = 0, "?"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                if "cmd=" in line and program == "?":
                    program = line.split("cmd=", 1)[1].strip()
            elif line.strip():
                operations += 1
    return ShippedTrace(name, path, operations, program)


def listing() -> str:
    """The table `python -m pool traces` prints."""
    rows = [describe(name, path) for name, path in shipped().items()]
    if not rows:
        return f"no shipped traces in {DATA}"
    width = max(len(r.name) for r in rows)
    lines = [f"{'name':<{width}}  {'operations':>10}  recorded from"]
    for r in rows:
        program = r.program if len(r.program) <= 60 else r.program[:57] + "..."
        lines.append(f"{r.name:<{width}}  {r.operations:>10}  {program}")
    lines += [
        "",
        f"files in {DATA}",
        f"replay one: python -m pool replay {min(rows, key=lambda r: r.operations).name} --check",
    ]
    return "\n".join(lines)
