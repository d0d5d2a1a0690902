"""Converting raw logs of the trace recorder (pointers) into traces (IDs)."""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from .._atomic import refuse_input
from .._cli import Parser, check_output, positive_int
from .format import Op, PathLike, _checked_ops, _writing, format_op

# ---- converting raw logs of the trace recorder ---------------------------------------


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
    headers: list[str] = field(default_factory=list)  # the raw log's "#" lines

    def summary(self) -> str:
        kept = (
            f"{self.written} operations"
            if self.written == self.operations
            else f"the first {self.written} of {self.operations} operations"
        )
        return (
            f"{kept} from {self.records} raw records; dropped {self.unknown_frees} frees of"
            f" unknown pointers and {self.failed} failed calls; {self.unknown_reallocs}"
            f" reallocs of unknown pointers became allocations; {self.implicit_frees}"
            f" implicit frees added; {self.malformed} malformed lines skipped;"
            f" {self.live_at_end} blocks live at the end of the log"
        )


def _hex(token: str) -> int:
    return int(token, 16)


def convert_raw(lines: Iterable[str], stats: ConvertStats | None = None) -> Iterator[Op]:
    """Converts the lines of a raw log (csrc/preload/trace_recorder.c) into
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
    live: dict[int, int] = {}  # pointer -> ID
    next_id = 1
    out: list[Op] = []

    def allocate(ptr: int, size: int) -> None:
        nonlocal next_id
        ident = live.pop(ptr, None)
        if ident is not None:
            st.implicit_frees += 1
            out.append(Op("f", ident, None))
        live[ptr] = next_id
        out.append(Op("a", next_id, max(size, 1)))
        next_id += 1

    def free(ptr: int) -> None:
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


def convert_file(
    raw_path: PathLike, out_path: PathLike, max_ops: int | None = None
) -> ConvertStats:
    """Converts a raw log into a trace file (gzipped if out_path ends in .gz),
    keeping only the first max_ops operations if given (a prefix of a valid
    trace is valid).  The raw log's header goes into "#" lines at the top and
    the counts (ConvertStats.summary(), over the whole log) into one at the end.
    ValueError if out_path is raw_path (also through a link); the output is
    written atomically (pool._atomic): complete, or not at all."""
    if max_ops is not None and max_ops < 0:
        raise ValueError(f"max_ops must be at least 0, got {max_ops}")
    refuse_input(out_path, raw_path)
    st = ConvertStats()
    raw_name = os.path.basename(os.fspath(raw_path))
    with open(raw_path, encoding="ascii", errors="replace") as raw:
        ops = convert_raw(raw, st)
        first = next(ops, None)  # reads the raw log's header too
        body = itertools.islice(itertools.chain(() if first is None else (first,), ops), max_ops)
        header = [
            "pool trace 1 (format: pool/traces/format.py)",
            f"converted from {raw_name} by pool.traces convert"
            + ("" if max_ops is None else f" --max-ops {max_ops}"),
        ]
        header += [f"recorded: {h}" for h in st.headers]
        with _writing(out_path) as stream:
            for line in header:
                stream.write("# " + " ".join(line.split()) + "\n")
            for op in _checked_ops(body):
                stream.write(format_op(op) + "\n")
                st.written += 1
            for _ in ops:  # the rest, counted for the summary
                pass
            stream.write("# summary: " + st.summary() + "\n")
    return st


def convert_main(
    argv: Sequence[str] | None = None, prog: str = "python -m pool.traces convert"
) -> int:
    """`convert RAW OUT [--max-ops N]`: raw log of the trace recorder -> trace."""
    parser = Parser(
        prog=prog,
        description="Convert a raw log of the trace recorder (pointers) into"
        " a trace (IDs); OUT is gzipped if its name ends in .gz.",
    )
    parser.add_argument("raw", metavar="RAW")
    parser.add_argument("out", metavar="OUT")
    parser.add_argument(
        "--max-ops",
        type=positive_int,
        default=None,
        metavar="N",
        help="keep only the first N operations (still a valid trace)",
    )
    args = parser.parse_args(argv)
    try:
        check_output(args.out, "OUT", inputs=[args.raw])
        st = convert_file(args.raw, args.out, args.max_ops)
    except (OSError, ValueError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    print(f"{args.out}: {st.summary()}")
    return 0
