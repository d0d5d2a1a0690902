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

Command line (``python -m pool.traces``; ``replay_main`` is also meant for
``python -m pool replay``)::

    python -m pool.traces replay TRACE [--check] [--align 8|16] [--max-small N]
                                      [--refill N] [--unchecked]
    python -m pool.traces convert RAW OUT [--max-ops N]

Recorded logs come from the LD_PRELOAD shim ``csrc/preload/trace_recorder.c`` (see
its README.md); the conversion maps malloc, calloc (size n*m), realloc(NULL, n)
and the aligned allocators to ``a``, free and realloc(p, 0) to ``f``, other
reallocs to ``r``, and a size of 0 to 1.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .._cli import guarded
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


def main(argv: Sequence[str] | None = None) -> int:
    """python -m pool.traces {replay,convert} ..."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"replay": replay_main, "convert": convert_main}
    if not argv or argv[0] not in commands:
        print(
            "usage: python -m pool.traces {replay,convert} ...\n"
            "  replay TRACE [--check]     replay a trace through pool.Pool and report\n"
            "  convert RAW OUT [--max-ops N]  raw recorder log -> trace",
            file=sys.stderr,
        )
        return 2
    name = argv[0]
    command = commands[name]
    return guarded(lambda rest: command(rest, prog=f"python -m pool.traces {name}"), argv[1:])


if __name__ == "__main__":
    sys.exit(main())
