"""Pictures and steps as plain text, for terminals and tests.

The chunk map draws each chunk as rows of characters, one per granule (`align`
bytes; or one per several granules when the chunks are too big to fit), in two
lines: the state of the granule, and its size class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .model import Picture, Strip, chunk_label, position_name

if TYPE_CHECKING:
    from .watch import Step

STATE_CHARS = {"live": "#", "free": ".", "leftover": "o", "uncarved": "_"}
CLASS_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
UNKNOWN = "?"


def class_char(cls: int) -> str:
    """The class row's character for class index cls (0-9, a-z, then *)."""
    return CLASS_DIGITS[cls] if cls < len(CLASS_DIGITS) else "*"


def legend() -> list[str]:
    return [
        "state: # live  . free  o leftover (step 3.2)  _ uncarved tail",
        "class: the class index (0 = smallest block size) at a block's first granule,"
        " - for the rest of it, ? live bytes of blocks not known one by one",
    ]


def _rows(strip: Strip, align: int, per_char: int) -> tuple[str, str]:
    """(state line, class line) for a strip, one character per `per_char` granules."""
    states: list[str] = []
    classes: list[str] = []
    for seg in strip.segments:
        granules = seg.size // align
        state = STATE_CHARS[seg.state]
        if seg.state == "uncarved":
            cls_line = " " * granules
        elif seg.block_size is None:
            cls_line = UNKNOWN * granules
        else:
            per_block = seg.block_size // align
            digit = class_char(per_block - 1)
            cls_line = (digit + "-" * (per_block - 1)) * (granules // per_block)
        states.append(state * granules)
        classes.append(cls_line)
    state_line, class_line = "".join(states), "".join(classes)
    if per_char > 1:  # each character stands for the first granule of its group
        state_line = state_line[::per_char]
        class_line = class_line[::per_char]
    return state_line, class_line


def granules_per_char(pic: Picture, width: int = 64, max_rows: int = 24) -> int:
    """Granules drawn by one character (a power of two) so that the map takes at
    most max_rows rows, or one row per chunk when there are more chunks than that."""
    per_char = 1
    limit = max(max_rows, len(pic.strips))
    while sum(-(-s.size // (pic.align * per_char * width)) for s in pic.strips) > limit:
        per_char *= 2
    return per_char


def chunk_map(pic: Picture, width: int = 64, max_rows: int = 24) -> list[str]:
    """The chunk map of a Picture, as lines."""
    per_char = granules_per_char(pic, width, max_rows)
    unit = pic.align * per_char
    out = [
        f"chunk map: one character per {unit} bytes"
        + ("" if per_char == 1 else f" ({per_char} granules; each shows its first)"),
        *("  " + line for line in legend()),
    ]
    if not pic.strips:
        out.append("  (no chunks yet)")
    for strip in pic.strips:
        head = f"  {strip.label}: {strip.size} bytes"
        if strip.current is not None:
            start, end = strip.current
            head += f", the current chunk: {strip.label}+{start} .. {strip.label}+{end}" + (
                " (empty)" if start == end else f" ({end - start} bytes uncarved)"
            )
        out.append(head)
        state_line, class_line = _rows(strip, pic.align, per_char)
        tail_char = STATE_CHARS["uncarved"]
        skipping = False
        for at in range(0, len(state_line), width):
            row = state_line[at : at + width]
            in_tail = at > 0 and set(state_line[at - width : at + width]) == {tail_char}
            if in_tail:  # a long uncarved tail: its first row stands for the rest
                if not skipping:
                    out.append(f"    {'':>8}       {'_ ' * 4}(uncarved up to +{strip.size})")
                skipping = True
                continue
            skipping = False
            out.append(f"    {'+' + str(at * unit):>8} state {row}")
            out.append(f"    {'':>8} class {class_line[at : at + width].rstrip()}")
    return out


def free_lists(pic: Picture, head: int = 6) -> list[str]:
    """The free lists of a Picture, head first, as lines."""
    out = ["free lists, head first (o: a leftover of step 3.2):"]
    empty: list[str] = []
    for fl in pic.free_lists:
        if not fl.length:
            empty.append(str(fl.block_size))
            continue
        names = [n + (" o" if left else "") for n, left in zip(fl.names(), fl.leftovers)]
        if len(names) > head + 2:
            names = names[:head] + ["...", names[-1]]
        noun = "block" if fl.length == 1 else "blocks"
        out.append(
            f"  free_list[{fl.index:2d}] {fl.block_size:4d} bytes: {fl.length:4d} {noun:6s}"
            f" {' -> '.join(names)} -> NULL"
        )
    if empty:
        out.append(f"  empty: {', '.join(empty)} bytes")
    return out


def summary(pic: Picture) -> str:
    large = len(pic.large_sizes)
    line = (
        f"pool: align {pic.align}, max_small {pic.max_small}; heap_size {pic.heap_size} in"
        f" {len(pic.strips)} chunk{'' if len(pic.strips) == 1 else 's'}; held {pic.held}"
        f" ({large} large block{'' if large == 1 else 's'}, {sum(pic.large_sizes)} bytes)"
    )
    if pic.heap_limit is not None:
        line += f"; heap_limit {pic.heap_limit}"
    if pic.current is None:
        line += "; no current chunk"
    else:
        chunk, start, end = pic.current
        line += f"; current chunk {position_name((chunk, start))} .. {chunk_label(chunk)}+{end}"
    return line + pic.released()


def render(pic: Picture, width: int = 64, max_rows: int = 24) -> str:
    """Summary, chunk map, free lists and notes of a Picture, as one string."""
    lines = [summary(pic), *chunk_map(pic, width, max_rows), *free_lists(pic)]
    lines += [f"note: {n}" for n in pic.notes()]
    return "\n".join(lines)


def render_step(step: Step) -> str:
    """One Step: the call, what it returned, and the steps of docs/algorithm.md taken."""
    head = f"[{step.number}] {step.call}"
    if step.result is not None:
        head += f" -> {step.result_name}"
    extra = sorted(step.events & {"leftover"})
    head += f"   ({step.kind}{''.join(', ' + e for e in extra)})"
    lines = [head] + [f"      {where:9s} {text}" for where, text in step.lines]
    return "\n".join(lines)
