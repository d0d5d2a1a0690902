"""The trace format: operations, validation, reading and writing."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import zlib
from collections.abc import Iterable, Iterator
from typing import IO, BinaryIO, NamedTuple, Union

from .._atomic import atomic_open

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


# IDs and sizes are below 2**64 (a size_t): at most 20 digits, so int() of a
# field never meets Python's limit on digits and never takes long
LIMIT = 2**64


def _number(token: str, what: str, least: int) -> int:
    """The value of a decimal field in least..LIMIT-1, else TraceError naming what."""
    if token.isdigit() and len(token) <= 20 and token.isascii():
        value = int(token)
        if least <= value < LIMIT:
            return value
    digits = token.lstrip("0") or "0"
    if not (token.isascii() and token.isdigit()) or len(digits) <= 20 and int(digits) < least:
        raise TraceError(f"the {what} must be a decimal integer >= {least}, got {_excerpt(token)}")
    raise TraceError(f"the {what} must be below 2**64, got {_excerpt(token)}")


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
                return (
                    f"reallocating ID {ident}, which is not live"
                    " (never allocated, or freed already)"
                )
            live[ident] = size
        return None


def _parse_line(fields: list[str]) -> tuple[str, int, int | None]:
    """(op, id, size) from a line's fields, or raises TraceError (without position)."""
    op = fields[0]
    if op not in OPS:
        raise TraceError(f"unknown operation {_excerpt(op)} (expected a, f or r)")
    want = 2 if op == "f" else 3
    if len(fields) != want:
        usage = {"a": "a ID SIZE", "f": "f ID", "r": "r ID NEWSIZE"}[op]
        raise TraceError(
            f"{op!r} takes {want - 1} field{'s' if want > 2 else ''} ({usage}),"
            f" got {len(fields) - 1}"
        )
    ident = _number(fields[1], "ID", 0)
    if op == "f":
        return op, ident, None
    size = _number(fields[2], "size" if op == "a" else "new size", 1)
    return op, ident, size


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
            raise TraceError(f"{source}:{lineno}: {e}: {_excerpt(line.rstrip())}") from None
        problem = step(op, ident, size)
        if problem is not None:
            raise TraceError(f"{source}:{lineno}: {problem}: {_excerpt(line.rstrip())}")
        yield Op(op, ident, size)


# A trace line is short ("r ID NEWSIZE": at most 44 bytes); a longer one is read
# at most this far, so a damaged file cannot make a line (or a message) of any size.
MAX_LINE = 4096
EXCERPT = 60  # characters of a bad line or field that an error message quotes


def _cut(text: str) -> str:
    """text cut to EXCERPT characters, saying how long it was."""
    if len(text) <= EXCERPT:
        return text
    return f"{text[:EXCERPT]}... ({len(text)} characters in all)"


def _excerpt(text: str) -> str:
    """A bounded quotation of a line or a field."""
    return _cut(repr(text))


def _shown(item: object) -> str:
    """A bounded repr of an operation given from Python."""
    try:
        return _cut(repr(item))
    except ValueError:  # an int past Python's limit on digits
        return f"<a {type(item).__name__} too large to show>"


def _open_binary(path: PathLike) -> BinaryIO:
    """path for reading, through gzip if the file starts with gzip's magic number."""
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    if gz:  # buffered again: readline() in C, not GzipFile's own in Python
        return io.BufferedReader(gzip.open(path, "rb"))
    return open(path, "rb")


class _Lines:
    """The lines of a trace file as text, counted (number: the last one read),
    each read with a bounded size; comment lines longer than MAX_LINE are
    skipped whole, other long lines raise TraceError."""

    def __init__(self, f: BinaryIO, name: str) -> None:
        self.f, self.name, self.number = f, name, 0

    def __iter__(self) -> Iterator[str]:
        readline, name = self.f.readline, self.name
        while True:
            data = readline(MAX_LINE)
            if not data:
                return
            self.number += 1
            if len(data) == MAX_LINE and not data.endswith(b"\n"):
                if not data.lstrip().startswith(b"#"):
                    raise TraceError(
                        f"{name}:{self.number}: a line longer than {MAX_LINE} bytes"
                        " (no trace operation is):"
                        f" {data[:EXCERPT].decode('latin-1')!r}..."
                    )
                while data and not data.endswith(b"\n"):  # the rest of a long comment
                    data = readline(MAX_LINE)
                continue
            try:
                yield data.decode("ascii")
            except UnicodeDecodeError as e:
                raise TraceError(
                    f"{name}:{self.number}: not a text trace (byte"
                    f" {data[e.start]:#04x} is not ASCII):"
                    f" {_excerpt(data.decode('latin-1'))}"
                ) from None


@contextlib.contextmanager
def _writing(path: PathLike) -> Iterator[IO[str]]:
    """A text stream writing path atomically (pool._atomic), gzipped if the
    name ends in .gz: on an error the previous file, if any, is left as it was."""
    with atomic_open(path, "wb") as raw:
        if os.fspath(path).endswith(".gz"):
            # mtime=0 and no file name in the header: the same trace gives the same bytes
            with (
                gzip.GzipFile(
                    filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9
                ) as packed,
                io.TextIOWrapper(packed, encoding="ascii", newline="\n") as stream,
            ):
                yield stream
        else:
            with io.TextIOWrapper(raw, encoding="ascii", newline="\n") as stream:
                yield stream


def iter_trace(path: PathLike) -> Iterator[Op]:
    """The operations of the trace file at path, lazily, validated as read.
    Every problem, a damaged gzip stream included, is a TraceError naming the
    file and the line."""
    name = str(os.fspath(path))
    with _open_binary(path) as f:
        lines = _Lines(f, name)
        try:
            yield from parse_lines(lines, name)
        except (EOFError, OSError, zlib.error) as e:
            if not isinstance(e, (EOFError, gzip.BadGzipFile, zlib.error)):
                raise  # a real I/O error: the callers report OSError as such
            raise TraceError(
                f"{name}:{lines.number + 1}: damaged gzip data ({_excerpt(str(e))[1:-1]})"
            ) from None


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
            raise TraceError(
                f"operation {number}: expected (op, id, size), got {_shown(item)}"
            ) from None
        if not isinstance(kind, str) or kind not in OPS:
            raise TraceError(
                f"operation {number}: unknown operation {_shown(kind)}"
                f" (expected a, f or r): {_shown(item)}"
            )
        if type(ident) is not int or ident < 0:
            raise TraceError(f"operation {number}: the ID must be an int >= 0: {_shown(item)}")
        checked_size: int | None = None  # the size of an "f" is ignored
        if kind != "f":
            if type(size) is not int or size < 1:
                raise TraceError(
                    f"operation {number}: the size must be an int >= 1: {_shown(item)}"
                )
            checked_size = size
        if ident >= LIMIT or (checked_size or 0) >= LIMIT:
            raise TraceError(
                f"operation {number}: IDs and sizes must be below 2**64: {_shown(item)}"
            )
        problem = step(kind, ident, checked_size)
        if problem is not None:
            raise TraceError(
                f"operation {number}: {problem}: {format_op((kind, ident, checked_size))!r}"
            )
        yield Op(kind, ident, checked_size)


def write_trace(
    path: PathLike, ops: Iterable[Iterable[object]], header: Iterable[object] = ()
) -> int:
    """Writes ops (tuples (op, id, size)) to path, gzipped if the name ends in
    .gz, after the header lines (each written as a "# " comment).  The
    operations are validated as they are written; returns their number.  The
    file is replaced only once complete: on an error (an invalid operation)
    a previous file at path is left as it was."""
    count = 0
    with _writing(path) as stream:
        for line in header:
            stream.write("# " + " ".join(str(line).split()) + "\n")
        for op in _checked_ops(ops):
            stream.write(format_op(op) + "\n")
            count += 1
    return count
