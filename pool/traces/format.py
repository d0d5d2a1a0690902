"""The trace format: operations, validation, reading and writing."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
from collections.abc import Iterable, Iterator
from typing import IO, BinaryIO, NamedTuple, Union

# what the readers and writers take as a file name
PathLike = Union[str, "os.PathLike[str]"]

OPS = ("a", "f", "r")


class Op(NamedTuple):
    """One trace operation; size is None for "f"."""

    op: str
    id: int
    size: int | None


class TraceError(ValueError):
    """A trace, or a sequence of operations, that does not follow the format."""


class ReplayError(RuntimeError):
    """The pool raised while replaying an operation."""


class ReplayMismatch(AssertionError):
    """Pool and ReferencePool disagreed after an operation (replay check=True)."""


# ---- validation ------------------------------------------------------------------------


def _is_decimal(token: str) -> bool:
    return token.isascii() and token.isdigit()


class _Validator:
    """The live IDs (and their sizes) of a trace read so far; step() returns
    an error message, or None when the operation is valid."""

    __slots__ = ("live",)

    def __init__(self) -> None:
        self.live: dict[int, int | None] = {}

    def step(self, op: str, ident: int, size: int | None) -> str | None:
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


def _parse_line(fields: list[str]) -> tuple[str, int, int | None]:
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


class _OwningTextStream(io.TextIOWrapper):
    """A text stream over a gzip stream, with the raw file under both (_close closes it)."""

    _pool_raw: BinaryIO


def _open_text(path: PathLike, mode: str) -> IO[str]:
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
        packed = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9)
        stream = _OwningTextStream(packed, encoding="ascii", newline="\n")
        stream._pool_raw = raw  # closed with the stream, see _close
        return stream
    return open(path, "w", encoding="ascii", newline="\n")


def _close(stream: IO[str]) -> None:
    raw = getattr(stream, "_pool_raw", None)
    stream.close()
    if raw is not None:
        raw.close()


def iter_trace(path: PathLike) -> Iterator[Op]:
    """The operations of the trace file at path, lazily, validated as read."""
    name = os.fspath(path)
    with _open_text(path, "r") as f:
        try:
            yield from parse_lines(f, str(name))
        except UnicodeDecodeError as e:
            raise TraceError(f"{name}: not a text trace (a byte that is not ASCII: {e})") from None
        except (EOFError, gzip.BadGzipFile) as e:
            raise TraceError(f"{name}: damaged gzip data ({e})") from None


def read_trace(path: PathLike) -> list[Op]:
    """All operations of the trace file at path (gzipped or not), validated."""
    return list(iter_trace(path))


def format_op(op: tuple[str, int, int | None]) -> str:
    """The trace line of an operation (without the newline)."""
    kind, ident, size = op
    return f"f {ident}" if kind == "f" else f"{kind} {ident} {size}"


def _checked_ops(ops: Iterable[Iterable[object]]) -> Iterator[Op]:
    """Validates operations given as tuples; TraceError names the operation's
    1-based number.  The size of an "f" is ignored."""
    validator = _Validator()
    step = validator.step
    for number, item in enumerate(ops, 1):
        try:
            kind, ident, size = item
        except (TypeError, ValueError):
            raise TraceError(f"operation {number}: expected (op, id, size), got {item!r}") from None
        if not isinstance(kind, str) or kind not in OPS:
            raise TraceError(f"operation {number}: unknown operation {kind!r}"
                             f" (expected a, f or r): {item!r}")
        if type(ident) is not int or ident < 0:
            raise TraceError(f"operation {number}: the ID must be an int >= 0: {item!r}")
        checked_size: int | None = None  # the size of an "f" is ignored
        if kind != "f":
            if type(size) is not int or size < 1:
                raise TraceError(f"operation {number}: the size must be an int >= 1: {item!r}")
            checked_size = size
        problem = step(kind, ident, checked_size)
        if problem is not None:
            raise TraceError(f"operation {number}: {problem}:"
                             f" {format_op((kind, ident, checked_size))!r}")
        yield Op(kind, ident, checked_size)


def write_trace(path: PathLike, ops: Iterable[Iterable[object]],
                header: Iterable[object] = ()) -> int:
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


def _discard(stream: IO[str], path: PathLike) -> None:
    """Closes and removes a trace whose writing failed: no half-written trace is left."""
    try:
        _close(stream)
    finally:
        with contextlib.suppress(OSError):
            os.remove(path)


