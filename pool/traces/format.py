"""The trace format: operations, validation, reading and writing."""

import contextlib
import gzip
import io
import os
from collections.abc import Iterable, Iterator
from typing import NamedTuple, Optional

OPS = ("a", "f", "r")


class Op(NamedTuple):
    """One trace operation; size is None for "f"."""

    op: str
    id: int
    size: Optional[int]


class TraceError(ValueError):
    """A trace, or a sequence of operations, that does not follow the format."""


class ReplayError(RuntimeError):
    """The pool raised while replaying an operation."""


class ReplayMismatch(AssertionError):
    """Pool and ReferencePool disagreed after an operation (replay check=True)."""


# ---- validation ------------------------------------------------------------------------


def _is_decimal(token):
    return token.isascii() and token.isdigit()


class _Validator:
    """The live IDs (and their sizes) of a trace read so far; step() returns
    an error message, or None when the operation is valid."""

    __slots__ = ("live",)

    def __init__(self):
        self.live = {}

    def step(self, op, ident, size):
        live = self.live
        if op == "a":
            if ident in live:
                return f"allocating ID {ident}, which is already live (free it first)"
            live[ident] = size
        elif op == "f":
            if live.pop(ident, None) is None:
                return f"freeing ID {ident}, which is not live (never allocated, or freed already)"
        else:
            if ident not in live:
                return (f"reallocating ID {ident}, which is not live"
                        " (never allocated, or freed already)")
            live[ident] = size
        return None


def _parse_line(fields):
    """(op, id, size) from a line's fields, or raises TraceError (without position)."""
    op = fields[0]
    if op not in OPS:
        raise TraceError(f"unknown operation {op!r} (expected a, f or r)")
    want = 2 if op == "f" else 3
    if len(fields) != want:
        usage = {"a": "a ID SIZE", "f": "f ID", "r": "r ID NEWSIZE"}[op]
        raise TraceError(f"{op!r} takes {want - 1} field{'s' if want > 2 else ''} ({usage}),"
                         f" got {len(fields) - 1}")
    if not _is_decimal(fields[1]):
        raise TraceError(f"the ID must be a decimal integer >= 0, got {fields[1]!r}")
    if op == "f":
        return op, int(fields[1]), None
    if not _is_decimal(fields[2]) or int(fields[2]) < 1:
        what = "size" if op == "a" else "new size"
        raise TraceError(f"the {what} must be a decimal integer >= 1, got {fields[2]!r}")
    return op, int(fields[1]), int(fields[2])


def parse_lines(lines: Iterable[str], source: str = "<trace>") -> Iterator[Op]:
    """Parses and validates trace lines lazily.  TraceError names the source,
    the line number and the line."""
    validator = _Validator()
    step = validator.step
    for lineno, line in enumerate(lines, 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        try:
            op, ident, size = _parse_line(fields)
        except TraceError as e:
            raise TraceError(f"{source}:{lineno}: {e}: {line.rstrip()!r}") from None
        problem = step(op, ident, size)
        if problem is not None:
            raise TraceError(f"{source}:{lineno}: {problem}: {line.rstrip()!r}")
        yield Op(op, ident, size)


def _open_text(path, mode):
    """A text stream over path, gzipped if (writing) the name ends in .gz or
    (reading) the file starts with the gzip magic number."""
    path = os.fspath(path)
    if "r" in mode:
        with open(path, "rb") as f:
            gz = f.read(2) == b"\x1f\x8b"
        if gz:
            return gzip.open(path, "rt", encoding="ascii", newline=None)
        return open(path, encoding="ascii")
    if str(path).endswith(".gz"):
        # mtime=0 and no file name in the header: the same trace gives the same bytes
        raw = open(path, "wb")  # noqa: SIM115 (closed with the stream that wraps it)
        gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9)
        stream = io.TextIOWrapper(gz, encoding="ascii", newline="\n")
        stream._pool_raw = raw  # closed with the stream, see _close
        return stream
    return open(path, "w", encoding="ascii", newline="\n")


def _close(stream):
    raw = getattr(stream, "_pool_raw", None)
    stream.close()
    if raw is not None:
        raw.close()


def iter_trace(path) -> Iterator[Op]:
    """The operations of the trace file at path, lazily, validated as read."""
    name = os.fspath(path)
    with _open_text(path, "r") as f:
        try:
            yield from parse_lines(f, str(name))
        except UnicodeDecodeError as e:
            raise TraceError(f"{name}: not a text trace (a byte that is not ASCII: {e})") from None
        except (EOFError, gzip.BadGzipFile) as e:
            raise TraceError(f"{name}: damaged gzip data ({e})") from None


def read_trace(path) -> list[Op]:
    """All operations of the trace file at path (gzipped or not), validated."""
    return list(iter_trace(path))


def format_op(op) -> str:
    """The trace line of an operation (without the newline)."""
    kind, ident, size = op
    return f"f {ident}" if kind == "f" else f"{kind} {ident} {size}"


def _checked_ops(ops: Iterable) -> Iterator[Op]:
    """Validates operations given as tuples; TraceError names the operation's
    1-based number.  The size of an "f" is ignored."""
    validator = _Validator()
    step = validator.step
    for number, item in enumerate(ops, 1):
        try:
            kind, ident, size = item
        except (TypeError, ValueError):
            raise TraceError(f"operation {number}: expected (op, id, size), got {item!r}") from None
        if kind not in OPS:
            raise TraceError(f"operation {number}: unknown operation {kind!r}"
                             f" (expected a, f or r): {item!r}")
        if type(ident) is not int or ident < 0:
            raise TraceError(f"operation {number}: the ID must be an int >= 0: {item!r}")
        if kind == "f":
            size = None
        elif type(size) is not int or size < 1:
            raise TraceError(f"operation {number}: the size must be an int >= 1: {item!r}")
        problem = step(kind, ident, size)
        if problem is not None:
            raise TraceError(f"operation {number}: {problem}: {format_op((kind, ident, size))!r}")
        yield Op(kind, ident, size)


def write_trace(path, ops: Iterable, header: Iterable[str] = ()) -> int:
    """Writes ops (tuples (op, id, size)) to path, gzipped if the name ends in
    .gz, after the header lines (each written as a "# " comment).  The
    operations are validated as they are written; returns their number."""
    stream = _open_text(path, "w")
    count = 0
    try:
        for line in header:
            stream.write("# " + " ".join(str(line).split()) + "\n")
        for op in _checked_ops(ops):
            stream.write(format_op(op) + "\n")
            count += 1
    except BaseException:
        _discard(stream, path)
        raise
    _close(stream)
    return count


def _discard(stream, path):
    """Closes and removes a trace whose writing failed: no half-written trace is left."""
    try:
        _close(stream)
    finally:
        with contextlib.suppress(OSError):
            os.remove(path)


