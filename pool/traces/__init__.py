"""Allocation traces: read, write, convert recorded logs, and replay through a Pool.

The trace format is plain text (gzipped when the file name ends in ``.gz``),
one operation per line::

    a ID SIZE       allocate SIZE bytes as block ID
    f ID            free block ID
    r ID NEWSIZE    reallocate block ID to NEWSIZE bytes (it keeps its ID)

IDs are decimal integers >= 0 and sizes decimal integers >= 1, both below
2**64.  An ID may be
allocated again once it has been freed, but not while it is live; ``f`` and
``r`` must name a live ID.  Blank lines and lines starting with ``#``
(comments: where the trace came from, for instance) are ignored.  A trace may
end with blocks still live (the program's leaks, or a truncated recording).
Any prefix of a valid trace is a valid trace.

Operations are tuples ``(op, id, size)`` (`Op`, a named tuple); the size of an
``f`` is None.

    read_trace(path)              -> list of Op, validated
    iter_trace(path)              -> the same, lazily
    write_trace(path, ops)        writes (and validates) a trace
    replay(ops, check=False)      -> ReplayResult: replays through pool.Pool
    convert_file(raw, out)        raw log of the recorder -> trace

Command line (``python -m pool traces``, also ``python -m pool.traces``;
``replay_main`` is also ``python -m pool replay``)::

    python -m pool traces [list]      the shipped traces, by short name
    python -m pool traces replay TRACE [--check] [--align 8|16] [--max-small N]
                                       [--refill N] [--unchecked]
    python -m pool traces convert RAW OUT [--max-ops N]

TRACE is a file or the short name of a shipped trace (``sqlite3``: see
``pool.traces.shipped``).

Recorded logs come from the LD_PRELOAD shim ``csrc/preload/trace_recorder.c`` (see
its README.md); the conversion maps malloc, calloc (size n*m), realloc(NULL, n)
and the aligned allocators to ``a``, free and realloc(p, 0) to ``f``, other
reallocs to ``r``, and a size of 0 to 1.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .convert import ConvertStats, convert_file, convert_main, convert_raw
from .format import (
    Op,
    ReplayError,
    ReplayMismatch,
    TraceError,
    format_op,
    iter_trace,
    parse_lines,
    read_trace,
    write_trace,
)
from .replay import ReplayResult, replay, replay_main

__all__ = [
    "Op",
    "TraceError",
    "ReplayError",
    "ReplayMismatch",
    "ReplayResult",
    "ConvertStats",
    "parse_lines",
    "iter_trace",
    "read_trace",
    "format_op",
    "write_trace",
    "replay",
    "convert_raw",
    "convert_file",
    "replay_main",
    "convert_main",
    "main",
]


USAGE = """usage: python -m pool traces [list | replay ... | convert ...]

The traces shipped with the package, and the trace tools.

  list                         the shipped traces: short name, operations, program
                               (the default)
  replay TRACE [--check] ...   python -m pool replay: TRACE a file or a short name
  convert RAW OUT [--max-ops N]  a raw recorder log -> a trace

examples:
  python -m pool traces
  python -m pool traces replay sqlite3 --check
  python -m pool traces convert sqlite3.raw sqlite3.trace.gz"""


def main(argv: Sequence[str] | None = None, prog: str = "python -m pool traces") -> int:
    """python -m pool traces [list | replay ... | convert ...] (also python -m pool.traces)"""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(USAGE.replace("python -m pool traces", prog))
        return 0
    if not argv or argv[0] == "list":
        if argv[1:]:
            print(f"{prog} list: takes no arguments, got {' '.join(argv[1:])!r}", file=sys.stderr)
            return 2
        from .shipped import listing

        print(listing())
        return 0
    commands = {"replay": replay_main, "convert": convert_main}
    if argv[0] not in commands:
        print(
            f"{prog}: unknown command {argv[0]!r} (list, replay, convert; --help)",
            file=sys.stderr,
        )
        return 2
    name = argv[0]
    command = commands[name]
    return command(argv[1:], prog=f"{prog} {name}")
