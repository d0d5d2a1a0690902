"""Allocation traces: read, write, convert recorded logs, and replay through a Pool.

The trace format is plain text (gzipped when the file name ends in ``.gz``),
one operation per line::

    a ID SIZE       allocate SIZE bytes as block ID
    f ID            free block ID
    r ID NEWSIZE    reallocate block ID to NEWSIZE bytes (it keeps its ID)

IDs are decimal integers >= 0 and sizes decimal integers >= 1.  An ID may be
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
    convert_file(raw, out)        raw log of tools/trace_recorder -> trace

Command line (``python -m pool.trace``; ``replay_main`` is also meant for
``python -m pool replay``)::

    python -m pool.trace replay TRACE [--check] [--align 8|16] [--max-small N]
                                      [--refill N] [--unchecked]
    python -m pool.trace convert RAW OUT [--max-ops N]

Recorded logs come from the LD_PRELOAD shim in ``tools/trace_recorder`` (see
its README.md); the conversion maps malloc, calloc (size n*m), realloc(NULL, n)
and the aligned allocators to ``a``, free and realloc(p, 0) to ``f``, other
reallocs to ``r``, and a size of 0 to 1.
"""

import argparse
import dataclasses
import gzip
import io
import itertools
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Iterable, Iterator, List, NamedTuple, Optional

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
        return open(path, "r", encoding="ascii")
    if str(path).endswith(".gz"):
        # mtime=0 and no file name in the header: the same trace gives the same bytes
        raw = open(path, "wb")
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


def read_trace(path) -> List[Op]:
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
        try:
            os.remove(path)
        except OSError:
            pass


# ---- replay ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayResult:
    """What a replay measured.

    peak_live_bytes  the most bytes requested by blocks live at the same time
                     (the sizes in the trace, not rounded to a class).
    held_bytes       the most bytes the pool held from the system at the same
                     time: its chunks (heap_size, which never shrinks) plus
                     its live large blocks, sampled after every operation.
                     This is the *peak* over the replay, not the value at the
                     end: since every live block lies in a chunk or is a large
                     block, held_bytes >= peak_live_bytes always.
    ratio            held_bytes / peak_live_bytes (nan for a trace that
                     allocates nothing): the pool's memory overhead.
    final_held_bytes what the pool held after the last operation
                     (stats().held, before the pool is closed).
    final_heap_size  its chunk bytes then.
    final_live_bytes bytes still live after the last operation (leaks, or a
                     truncated recording).
    seconds          wall time of the replay loop: the pool's calls plus the
                     replayer's own bookkeeping (ID table, counters, sampling
                     heap_size); not the parsing, nor the check.
    checked          True when the check against ReferencePool ran (and passed).
    """

    operations: int
    allocations: int
    frees: int
    reallocations: int
    peak_live_bytes: int
    held_bytes: int
    ratio: float
    final_held_bytes: int
    final_heap_size: int
    final_live_bytes: int
    seconds: float
    checked: bool = False


def _default_pool_factory():
    from .core import Pool  # lazily: pool.trace itself needs no compiled code

    return Pool


def _reference_like(pool):
    """A ReferencePool with the same options as pool."""
    try:
        from .reference import ReferencePool
    except ImportError as e:
        raise ReplayError(f"the check needs pool.reference.ReferencePool, which cannot be"
                          f" imported: {e}") from e
    return ReferencePool(align=pool.align, max_small=pool.max_small, refill=pool.refill,
                         checked=pool.checked, heap_limit=pool.heap_limit)


def replay(trace_ops: Iterable, pool_factory=None, check: bool = False,
           reference_factory=None) -> ReplayResult:
    """Replays operations (tuples (op, id, size), e.g. read_trace(path))
    through a new pool from pool_factory() (default pool.Pool): "a" ->
    allocate(size), "f" -> deallocate(addr, size), "r" -> reallocate(addr,
    old, new).  The operations are validated and listed first, then replayed
    and timed; the pool is closed at the end.

    check=True then replays them again through a fresh pool and a
    ReferencePool (pool.reference; reference_factory() if given, else one with
    the pool's options) in lockstep, comparing after every operation the chunk
    sizes, heap_size, free_list_lengths() and stats().large_live/large_bytes
    (addresses differ by design); ReplayMismatch names the first operation
    after which they differ.  The numbers returned are those of the timed
    replay either way.

    Raises TraceError for an invalid operation (before replaying anything)
    and ReplayError when the pool raises (out of memory under a heap limit,
    for instance)."""
    ops = list(_checked_ops(trace_ops))
    if pool_factory is None:
        pool_factory = _default_pool_factory()
    result = _timed_replay(ops, pool_factory)
    if check:
        _lockstep(ops, pool_factory, reference_factory)
        result = dataclasses.replace(result, checked=True)
    return result


def _pool_error(number, op, exc):
    return ReplayError(f"operation {number} ({format_op(op)!r}): the pool raised"
                       f" {type(exc).__name__}: {exc}")


def _timed_replay(ops, pool_factory):
    pool = pool_factory()
    try:
        max_small = pool.max_small
        allocate, deallocate, reallocate = pool.allocate, pool.deallocate, pool.reallocate
        pool_type = type(pool)
        heap_prop = getattr(pool_type, "heap_size", None)
        heap_size = (heap_prop.fget.__get__(pool) if isinstance(heap_prop, property)
                     else lambda: pool.heap_size)
        addrs, sizes = {}, {}
        live = peak_live = large = held = 0
        counts = {"a": 0, "f": 0, "r": 0}
        number = 0
        start = time.perf_counter()
        try:
            for number, (kind, ident, size) in enumerate(ops, 1):
                if kind == "a":
                    addrs[ident] = allocate(size)
                    sizes[ident] = size
                    live += size
                    if size > max_small:
                        large += size
                elif kind == "f":
                    old = sizes.pop(ident)
                    deallocate(addrs.pop(ident), old)
                    live -= old
                    if old > max_small:
                        large -= old
                    continue  # a free never raises what the pool holds
                else:
                    old = sizes[ident]
                    addrs[ident] = reallocate(addrs[ident], old, size)
                    sizes[ident] = size
                    live += size - old
                    if old > max_small:
                        large -= old
                    if size > max_small:
                        large += size
                if live > peak_live:
                    peak_live = live
                now = heap_size() + large
                if now > held:
                    held = now
        except Exception as e:
            raise _pool_error(number, ops[number - 1], e) from e
        seconds = time.perf_counter() - start
        for kind, _, _ in ops:
            counts[kind] += 1
        st = pool.stats()
        return ReplayResult(
            operations=len(ops), allocations=counts["a"], frees=counts["f"],
            reallocations=counts["r"], peak_live_bytes=peak_live, held_bytes=held,
            ratio=held / peak_live if peak_live else float("nan"),
            final_held_bytes=st.held, final_heap_size=st.heap_size, final_live_bytes=live,
            seconds=seconds)
    finally:
        pool.close()


def _observe(pool):
    st = pool.stats()
    return (
        ("chunk sizes", [s for _, s in pool.chunks()]),
        ("heap_size", pool.heap_size),
        ("free_list_lengths()", tuple(pool.free_list_lengths())),
        ("stats().large_live", st.large_live),
        ("stats().large_bytes", st.large_bytes),
    )


def _describe_difference(name, mine, theirs):
    if isinstance(mine, (list, tuple)) and isinstance(theirs, (list, tuple)):
        for i, (x, y) in enumerate(zip(mine, theirs)):
            if x != y:
                return (f"{name} differ at index {i}: Pool {x}, ReferencePool {y}"
                        f" (lengths {len(mine)} and {len(theirs)})")
        return f"{name} differ in length: Pool {len(mine)}, ReferencePool {len(theirs)}"
    return f"{name}: Pool {mine}, ReferencePool {theirs}"


def _lockstep(ops, pool_factory, reference_factory):
    pool = pool_factory()
    ref = None
    try:
        ref = reference_factory() if reference_factory is not None else _reference_like(pool)
        sides = [(pool, {}, {}), (ref, {}, {})]  # (pool, addrs, sizes)
        for number, op in enumerate(ops, 1):
            kind, ident, size = op
            outcomes = []
            for p, addrs, sizes in sides:
                try:
                    if kind == "a":
                        addrs[ident] = p.allocate(size)
                        sizes[ident] = size
                    elif kind == "f":
                        p.deallocate(addrs.pop(ident), sizes.pop(ident))
                    else:
                        addrs[ident] = p.reallocate(addrs[ident], sizes[ident], size)
                        sizes[ident] = size
                    outcomes.append(None)
                except Exception as e:  # compared below
                    outcomes.append(e)
            mine, theirs = outcomes
            where = f"operation {number} ({format_op(op)!r})"
            if (mine is None) != (theirs is None) or type(mine) is not type(theirs):
                def show(e):
                    return "succeeded" if e is None else f"raised {type(e).__name__}: {e}"
                raise ReplayMismatch(f"{where}: Pool {show(mine)}, ReferencePool {show(theirs)}")
            if mine is not None:
                raise _pool_error(number, op, mine) from mine
            for (name, a), (_, b) in zip(_observe(pool), _observe(ref)):
                if a != b:
                    raise ReplayMismatch(f"after {where}: {_describe_difference(name, a, b)}")
        return len(ops)
    finally:
        pool.close()
        if ref is not None:
            ref.close()


# ---- converting raw logs of tools/trace_recorder ---------------------------------------


@dataclass
class ConvertStats:
    """Counts of one conversion (see convert_raw)."""

    records: int = 0  # raw records read
    operations: int = 0  # trace operations produced (before max_ops)
    written: int = 0  # of which kept (the first max_ops)
    unknown_frees: int = 0  # free / realloc(p, 0) of a pointer not live in the log: dropped
    unknown_reallocs: int = 0  # realloc of a pointer not live in the log: made an "a"
    implicit_frees: int = 0  # a live pointer handed out again: an "f" of its old ID added
    failed: int = 0  # calls that returned NULL (no change): dropped
    malformed: int = 0  # lines that are not records (a cut last line, say): skipped
    live_at_end: int = 0  # IDs live after the last operation produced
    headers: List[str] = field(default_factory=list)  # the raw log's "#" lines

    def summary(self):
        kept = (f"{self.written} operations" if self.written == self.operations
                else f"the first {self.written} of {self.operations} operations")
        return (f"{kept} from {self.records} raw records; dropped {self.unknown_frees} frees of"
                f" unknown pointers and {self.failed} failed calls; {self.unknown_reallocs}"
                f" reallocs of unknown pointers became allocations; {self.implicit_frees}"
                f" implicit frees added; {self.malformed} malformed lines skipped;"
                f" {self.live_at_end} blocks live at the end of the log")


def _hex(token):
    return int(token, 16)


def convert_raw(lines: Iterable[str], stats: Optional[ConvertStats] = None) -> Iterator[Op]:
    """Converts the lines of a raw log (tools/trace_recorder/recorder.c) into
    trace operations, lazily; pass a ConvertStats to get the counts.

      m N P / c N M P / A ALIGN N P   -> a ID max(size, 1)   (size of c: N*M)
      r 0 N P                          -> a ID max(N, 1)      (realloc(NULL, n))
      r P 0 Q                          -> f ID                (realloc(p, 0); plus an
                                          "a" of 1 byte if Q is not NULL)
      r P N Q                          -> r ID N              (Q becomes ID's pointer)
      f P                              -> f ID

    IDs are assigned in allocation order from 1 and follow a block through
    moving reallocs.  A free of a pointer the log never handed out (allocated
    before recording began, say) is dropped and counted; a realloc of one
    becomes an allocation.  If a pointer is handed out while the log still
    has it live (a free the recorder could not see), an "f" of its old ID is
    added first, so the output is always a valid trace.  Calls that returned
    NULL changed nothing and are dropped."""
    st = stats if stats is not None else ConvertStats()
    live = {}  # pointer -> ID
    next_id = 1
    out = []

    def allocate(ptr, size):
        nonlocal next_id
        ident = live.pop(ptr, None)
        if ident is not None:
            st.implicit_frees += 1
            out.append(Op("f", ident, None))
        live[ptr] = next_id
        out.append(Op("a", next_id, max(size, 1)))
        next_id += 1

    def free(ptr):
        ident = live.pop(ptr, None)
        if ident is not None:
            out.append(Op("f", ident, None))
        elif ptr:
            st.unknown_frees += 1

    for line in lines:
        fields = line.split()
        if not fields:
            continue
        if fields[0].startswith("#"):
            st.headers.append(line.strip().lstrip("#").strip())
            continue
        kind, n = fields[0], len(fields)
        try:
            if kind == "m" and n == 3:
                size, ptr = int(fields[1]), _hex(fields[2])
            elif kind == "c" and n == 4:
                size, ptr = int(fields[1]) * int(fields[2]), _hex(fields[3])
            elif kind == "A" and n == 4:
                size, ptr = int(fields[2]), _hex(fields[3])
            elif kind == "f" and n == 2:
                old = _hex(fields[1])
            elif kind == "r" and n == 4:
                old, size, ptr = _hex(fields[1]), int(fields[2]), _hex(fields[3])
            else:
                raise ValueError(line)
            if kind != "f" and (size < 0 or ptr < 0) or kind in "fr" and old < 0:
                raise ValueError(line)
        except ValueError:
            st.malformed += 1
            continue
        st.records += 1

        if kind == "f":
            free(old)
        elif kind != "r" or not old:  # malloc, calloc, aligned, realloc(NULL, n)
            if ptr:
                allocate(ptr, size)
            else:
                st.failed += 1
        elif size == 0:  # realloc(p, 0): a free
            free(old)
            if ptr:
                allocate(ptr, 1)
        elif not ptr:
            st.failed += 1  # realloc refused: the block is unchanged
        elif old in live:
            ident = live.pop(old)
            if ptr in live:
                st.implicit_frees += 1
                out.append(Op("f", live.pop(ptr), None))
            live[ptr] = ident
            out.append(Op("r", ident, size))
        else:
            st.unknown_reallocs += 1
            allocate(ptr, size)

        if out:
            st.operations += len(out)
            yield from out
            out.clear()
    st.live_at_end = len(live)


def convert_file(raw_path, out_path, max_ops: Optional[int] = None) -> ConvertStats:
    """Converts a raw log into a trace file (gzipped if out_path ends in .gz),
    keeping only the first max_ops operations if given (a prefix of a valid
    trace is valid).  The raw log's header goes into "#" lines at the top and
    the counts (ConvertStats.summary(), over the whole log) into one at the end."""
    if max_ops is not None and max_ops < 0:
        raise ValueError(f"max_ops must be at least 0, got {max_ops}")
    st = ConvertStats()
    raw_name = os.path.basename(os.fspath(raw_path))
    with open(raw_path, "r", encoding="ascii", errors="replace") as raw:
        ops = convert_raw(raw, st)
        first = next(ops, None)  # reads the raw log's header too
        body = itertools.islice(itertools.chain(() if first is None else (first,), ops), max_ops)
        header = ["pool trace 1 (format: pool/trace.py)",
                  f"converted from {raw_name} by pool.trace convert"
                  + ("" if max_ops is None else f" --max-ops {max_ops}")]
        header += [f"recorded: {h}" for h in st.headers]
        stream = _open_text(out_path, "w")
        try:
            for line in header:
                stream.write("# " + " ".join(line.split()) + "\n")
            for op in _checked_ops(body):
                stream.write(format_op(op) + "\n")
                st.written += 1
            for _ in ops:  # the rest, counted for the summary
                pass
            stream.write("# summary: " + st.summary() + "\n")
        except BaseException:
            _discard(stream, out_path)
            raise
        _close(stream)
    return st


# ---- command line ----------------------------------------------------------------------


def _report(path, result, options):
    per_op = result.seconds / result.operations * 1e6 if result.operations else 0.0
    lines = [
        f"trace             {path}",
        f"pool              Pool({options})",
        f"operations        {result.operations} ({result.allocations} allocate,"
        f" {result.frees} deallocate, {result.reallocations} reallocate)",
        f"peak live bytes   {result.peak_live_bytes}"
        "  (most bytes requested by blocks live at once)",
        f"held bytes        {result.held_bytes}"
        "  (most bytes held from the system at once: chunks + live large blocks)",
        f"held / peak live  {result.ratio:.3f}",
        f"at the end        {result.final_live_bytes} bytes live, {result.final_held_bytes} held",
        f"time              {result.seconds:.3f} s ({per_op:.2f} us per operation)",
    ]
    if result.checked:
        lines.append(f"check             ReferencePool agreed after each of the"
                     f" {result.operations} operations")
    return "\n".join(lines)


def replay_main(argv=None, prog="python -m pool replay") -> int:
    """`replay TRACE [--check]`: replays a trace through Pool and prints the
    report.  Returns the exit status: 0, 1 (mismatch or pool error) or 2
    (invalid trace)."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Replay an allocation trace through pool.Pool and report"
        " operations, peak live bytes, bytes held from the system, their ratio and time.")
    parser.add_argument("trace", metavar="TRACE", help="trace file (.gz: gzipped)")
    parser.add_argument("--check", action="store_true",
                        help="also replay through pool.reference.ReferencePool in lockstep"
                        " and compare the pools' state after every operation")
    parser.add_argument("--align", type=int, default=8, choices=(8, 16))
    parser.add_argument("--max-small", type=int, default=128, metavar="N")
    parser.add_argument("--refill", type=int, default=20, metavar="N")
    parser.add_argument("--unchecked", action="store_true",
                        help="replay through an unchecked pool (the raw SGI speed path)")
    args = parser.parse_args(argv)

    kwargs = dict(align=args.align, max_small=args.max_small, refill=args.refill,
                  checked=not args.unchecked)
    options = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    try:
        pool_type = _default_pool_factory()
        pool_type(**kwargs).close()  # invalid options fail here, before reading the trace
        ops = read_trace(args.trace)

        def factory():
            return pool_type(**kwargs)

        result = replay(ops, factory, check=args.check)
    except OSError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    except (TraceError, ValueError, TypeError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    except (ReplayMismatch, ReplayError) as e:
        print(f"{prog}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(_report(args.trace, result, options))
    return 0


def convert_main(argv=None, prog="python -m pool.trace convert") -> int:
    """`convert RAW OUT [--max-ops N]`: raw log of tools/trace_recorder -> trace."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Convert a raw log of tools/trace_recorder (pointers) into"
        " a trace (IDs); OUT is gzipped if its name ends in .gz.")
    parser.add_argument("raw", metavar="RAW")
    parser.add_argument("out", metavar="OUT")
    parser.add_argument("--max-ops", type=int, default=None, metavar="N",
                        help="keep only the first N operations (still a valid trace)")
    args = parser.parse_args(argv)
    if args.max_ops is not None and args.max_ops < 0:
        parser.error("--max-ops must be at least 0")
    try:
        st = convert_file(args.raw, args.out, args.max_ops)
    except OSError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    print(f"{args.out}: {st.summary()}")
    return 0


def main(argv=None) -> int:
    """python -m pool.trace {replay,convert} ..."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"replay": replay_main, "convert": convert_main}
    if not argv or argv[0] not in commands:
        print("usage: python -m pool.trace {replay,convert} ...\n"
              "  replay TRACE [--check]     replay a trace through pool.Pool and report\n"
              "  convert RAW OUT [--max-ops N]  raw recorder log -> trace",
              file=sys.stderr)
        return 2
    name = argv[0]
    return commands[name](argv[1:], prog=f"python -m pool.trace {name}")


if __name__ == "__main__":
    sys.exit(main())
