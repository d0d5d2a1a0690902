"""Figures of Pictures and Timelines (matplotlib, the "plot" extra).

Drawing only: every number drawn comes from a `model.Picture` or a
`timeline.Timeline`; matplotlib is imported when a figure is drawn.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .. import _matplotlib
from .model import Picture, Segment, Strip, chunk_label
from .text import granules_per_char

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from .timeline import Timeline

RGBA = tuple[float, float, float, float]

INSTALL_HINT = (
    "drawing a figure needs matplotlib, which is not installed: "
    "pip install 'pool[plot]' (or pip install matplotlib); --text needs nothing"
)

UNCARVED = "white"  # hatched with dots: unlike any class colour
UNKNOWN_LIVE = "#6b6b6b"


def missing_dependency() -> str | None:
    """None when matplotlib can be imported, else the message to show."""
    return _matplotlib.missing(INSTALL_HINT)


def formats() -> frozenset[str]:
    """The suffixes a figure may have (matplotlib must be importable)."""
    return _matplotlib.formats()


def _pyplot() -> Any:  # the matplotlib.pyplot module
    return _matplotlib.pyplot(INSTALL_HINT)


# 16 saturated, distinct hues (none grey, none light), one per class of the
# classic profile; more classes take evenly spaced colours of "turbo".
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
    "#8c6d31",
    "#637939",
    "#ad494a",
    "#5254a3",
    "#e7ba52",
    "#7b4173",
    "#08306b",
)


def class_colour(cls: int, nclasses: int) -> RGBA:
    """One colour per size class (RGBA), the same in every figure."""
    from matplotlib import colormaps
    from matplotlib.colors import to_rgba

    if nclasses <= len(PALETTE):
        return to_rgba(PALETTE[cls])
    turbo: RGBA = colormaps["turbo"](cls / max(1, nclasses - 1))
    return turbo


def _light(colour: RGBA, amount: float = 0.6) -> RGBA:
    r, g, b, _ = colour
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount, 1.0)


def _segment_style(seg: Segment, align: int, nclasses: int) -> tuple[str | RGBA, str | None]:
    """(face colour, hatch) of a segment: class colour, solid when live,
    light when free, light and cross-hatched when a leftover."""
    if seg.state == "uncarved":
        return UNCARVED, "...."
    if seg.block_size is None:
        return UNKNOWN_LIVE, None
    colour = class_colour(seg.block_size // align - 1, nclasses)
    if seg.state == "live":
        return colour, None
    if seg.state == "leftover":
        return _light(colour, 0.45), "xxx"
    return _light(colour), None


def _rows_of(strip: Strip, row_bytes: int) -> Iterator[tuple[int, list[tuple[int, int, Segment]]]]:
    """Yields (row start, [(offset in row, size, segment)]) for a strip cut into rows."""
    at = 0
    while at < strip.size:
        end = at + row_bytes
        parts: list[tuple[int, int, Segment]] = []
        for seg in strip.segments:
            lo, hi = max(seg.offset, at), min(seg.offset + seg.size, end)
            if lo < hi:
                parts.append((lo - at, hi - lo, seg))
        yield at, parts
        at = end


def _draw_chunk_map(ax: Axes, pic: Picture, width: int, max_rows: int) -> None:
    from matplotlib.patches import Patch, Rectangle

    nclasses = len(pic.free_lists)
    per_char = granules_per_char(pic, width, max_rows)
    row_bytes = pic.align * per_char * width
    labels: list[str] = []
    y = 0.0
    for strip in pic.strips:
        for start, parts in _rows_of(strip, row_bytes):
            for off, size, seg in parts:
                face, hatch = _segment_style(seg, pic.align, nclasses)
                edge = "white" if seg.block_size and seg.size * 400 > row_bytes else "none"
                if seg.state == "uncarved":
                    edge = "#9a9a9a"
                ax.add_patch(
                    Rectangle(
                        (off, y - 0.38),
                        size,
                        0.76,
                        facecolor=face,
                        hatch=hatch,
                        edgecolor=edge,
                        linewidth=0.4,
                    )
                )
            if strip.current is not None:
                lo, hi = strip.current
                lo_r, hi_r = max(lo, start), min(hi, start + row_bytes)
                if lo_r < hi_r:
                    ax.add_patch(
                        Rectangle(
                            (lo_r - start, y - 0.45),
                            hi_r - lo_r,
                            0.9,
                            fill=False,
                            edgecolor="red",
                            linewidth=1.6,
                        )
                    )
                elif (
                    lo == hi
                    and start <= lo <= start + row_bytes
                    and (lo < strip.size or lo - start > 0)
                ):
                    ax.plot([lo - start] * 2, [y - 0.45, y + 0.45], color="red", linewidth=2)
            labels.append(f"{strip.label}+{start}")
            y += 1
        y += 0.4  # a gap between chunks
    ax.set_xlim(0, row_bytes)
    ax.set_ylim(y - 0.4, -0.6)
    ticks = [i for i, _ in enumerate(labels)]
    positions: list[float] = []
    at = 0.0
    for strip in pic.strips:  # the y position of every row, gaps included
        rows = -(-strip.size // row_bytes)
        positions.extend(at + k for k in range(rows))
        at += rows + 0.4
    ax.set_yticks(positions[: len(ticks)])
    ax.set_yticklabels(labels, fontsize=8, family="monospace")
    ax.set_xlabel(
        f"byte offset in the row ({row_bytes} bytes per row, {pic.align}-byte granules)", fontsize=8
    )
    ax.tick_params(axis="x", labelsize=8)
    ax.set_title(
        f"chunk map: {len(pic.strips)} chunk{'s' if len(pic.strips) != 1 else ''},"
        f" heap_size {pic.heap_size} bytes (colour: the size class)",
        fontsize=9,
        loc="left",
    )
    used = sorted({seg.block_size for s in pic.strips for seg in s.segments if seg.block_size})
    handles = [
        Patch(facecolor=class_colour(b // pic.align - 1, nclasses), label=f"{b}-byte blocks")
        for b in used
    ]
    classes = ax.legend(
        handles=handles,
        fontsize=7,
        loc="upper left",
        frameon=False,
        bbox_to_anchor=(1.01, 1.0),
        title="size class",
        title_fontsize=7,
    )
    ax.add_artist(classes)
    example = class_colour(2, nclasses)
    states = [
        Patch(facecolor=example, label="live"),
        Patch(facecolor=_light(example), label="free"),
        Patch(facecolor=_light(example, 0.45), hatch="xxx", label="leftover (3.2)"),
        Patch(facecolor=UNCARVED, hatch="....", edgecolor="#9a9a9a", label="uncarved tail"),
        Patch(facecolor="white", edgecolor="red", label="current chunk"),
    ]
    if any(
        seg.block_size is None and seg.state == "live" for s in pic.strips for seg in s.segments
    ):
        states.append(Patch(facecolor=UNKNOWN_LIVE, label="live, blocks unknown"))
    ax.legend(
        handles=states,
        fontsize=7,
        loc="lower left",
        bbox_to_anchor=(1.01, 0.0),
        frameon=False,
        title="state (in the class colour)",
        title_fontsize=7,
    )
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)


def _draw_free_lists(ax: Axes, pic: Picture, head: int = 6) -> None:
    """The textbook figure: per non-empty class, its blocks head first as boxes
    linked by arrows, ending in NULL."""
    nclasses = len(pic.free_lists)
    lists = [fl for fl in pic.free_lists if fl.length]
    ax.set_axis_off()
    ax.set_title(
        "free lists, head first (each arrow is the link word of a free block;"
        " dashed: a leftover of step 3.2)",
        fontsize=9,
        loc="left",
    )
    if not lists:
        ax.text(0, 0, "all free lists are empty", fontsize=9)
        ax.set_xlim(0, 10)
        ax.set_ylim(1, -1)
        return
    box_w, gap = 1.5, 0.55
    for row, fl in enumerate(lists):
        colour = _light(class_colour(fl.index, nclasses))
        ax.text(
            -0.2,
            row,
            f"free_list[{fl.index}]  {fl.block_size} B  ({fl.length})",
            ha="right",
            va="center",
            fontsize=8,
            family="monospace",
        )
        names = list(fl.names())
        marks = list(fl.leftovers)
        if len(names) > head + 2:
            names = names[:head] + ["...", names[-1]]
            marks = marks[:head] + [False, marks[-1]]
        x = 0.0
        for name, mark in zip(names, marks):
            if name == "...":
                ax.text(x + box_w / 2, row, "...", ha="center", va="center", fontsize=9)
            else:
                ax.text(
                    x + box_w / 2,
                    row,
                    name + ("\nleftover" if mark else ""),
                    ha="center",
                    va="center",
                    fontsize=6.5 if mark else 7.5,
                    family="monospace",
                    bbox=dict(
                        boxstyle="square,pad=0.35",
                        facecolor=colour,
                        edgecolor="black",
                        linewidth=1.6 if mark else 0.6,
                        linestyle="--" if mark else "-",
                    ),
                )
            ax.annotate(
                "",
                xy=(x + box_w + gap, row),
                xytext=(x + box_w - 0.05, row),
                arrowprops=dict(arrowstyle="->", linewidth=0.7),
            )
            x += box_w + gap
        ax.text(x + 0.05, row, "NULL", va="center", fontsize=7.5, family="monospace")
    ax.set_xlim(-0.2, (head + 2) * (box_w + gap) + 1.0)
    ax.set_ylim(len(lists) - 0.4, -0.6)


def draw_picture(
    pic: Picture, path: str, title: str | None = None, width: int = 80, max_rows: int = 30
) -> str:
    """Writes the chunk map and free lists of a Picture to path (atomically;
    PNG if path has no suffix) and returns the path written."""
    plt = _pyplot()
    map_rows = (
        sum(
            -(-s.size // (pic.align * granules_per_char(pic, width, max_rows) * width))
            for s in pic.strips
        )
        or 1
    )
    list_rows = sum(1 for fl in pic.free_lists if fl.length) or 1
    notes = pic.notes()
    height = 2.8 + 0.32 * map_rows + 0.3 * list_rows + 0.2 * len(notes)
    fig, (ax_map, ax_lists) = plt.subplots(
        2,
        1,
        figsize=(12, height),
        gridspec_kw={"height_ratios": [0.32 * map_rows + 0.9, 0.3 * list_rows + 0.5]},
    )
    _draw_chunk_map(ax_map, pic, width, max_rows)
    _draw_free_lists(ax_lists, pic)
    large = len(pic.large_sizes)
    held = f"held {pic.held} bytes ({large} large block{'' if large == 1 else 's'})"
    current = (
        "no current chunk"
        if pic.current is None
        else (
            f"current chunk {chunk_label(pic.current[0])}+{pic.current[1]} .."
            f" {chunk_label(pic.current[0])}+{pic.current[2]}"
        )
    )
    heading = title or "pool state"
    fig.suptitle(
        f"{heading}: align {pic.align}, max_small {pic.max_small}; {held}; {current}"
        + pic.released()
        + ("".join(f"\nnote: {n}" for n in notes)),
        fontsize=10,
        x=0.01,
        ha="left",
    )
    fig.tight_layout(rect=(0.06, 0, 1, 1 - (0.35 + 0.2 * len(notes)) / height))
    written = _matplotlib.savefig(fig, path, dpi=100)
    plt.close(fig)
    return written


# ---- timelines ------------------------------------------------------------------------


def _busiest_classes(timelines: Sequence[Timeline], count: int) -> list[int]:
    """The classes with the most live blocks at their peak, over all timelines."""
    peaks: dict[int, int] = {}
    for tl in timelines:
        for c, series in enumerate(tl.live):
            peaks[c] = max(peaks.get(c, 0), max(series, default=0), max(tl.free[c], default=0))
    ranked = sorted((c for c in peaks if peaks[c]), key=lambda c: -peaks[c])
    return sorted(ranked[:count])


def draw_timelines(
    timelines: Sequence[Timeline], path: str, title: str = "", classes: int = 8
) -> str:
    """Writes one column per Timeline (an option set), four panels each:
    bytes held against bytes live; heap_size and chunks with the events
    marked; live blocks per class; free blocks per class.  Rows share their
    y axis, so columns compare directly."""
    plt = _pyplot()
    ncols = len(timelines)
    fig, axes = plt.subplots(
        4, ncols, figsize=(6.5 * ncols + 1.5, 13), squeeze=False, sharex="col", sharey="row"
    )
    shown = _busiest_classes(timelines, classes)
    nclasses = len(timelines[0].class_sizes)
    most_chunks = max(max(tl.chunks, default=1) for tl in timelines)
    most_waste = max(
        max((h - v for h, v in zip(tl.held, tl.live_bytes)), default=0) for tl in timelines
    )
    for col, tl in enumerate(timelines):
        x = range(1, tl.operations + 1)
        ax = axes[0][col]
        ax.plot(x, tl.held, color="#d62728", linewidth=1, label="held from the system")
        ax.plot(x, tl.live_bytes, color="#1f77b4", linewidth=1, label="live (requested) bytes")
        ax.fill_between(
            x, tl.live_bytes, tl.held, color="#d62728", alpha=0.12, label="held, not live"
        )
        live, held = tl.peak("live_bytes"), tl.peak("held")
        ratio = f"{held / live:.3f}" if live else "-"
        ax.set_title(
            f"{tl.label}\nbytes held vs live: peaks {held:,} / {live:,} = {ratio}", fontsize=9
        )
        ax.set_ylabel("bytes")
        ax.legend(fontsize=7, loc="upper left")
        waste = ax.twinx()  # the gap itself, on its own scale: it is small next to the totals
        waste.plot(
            x,
            [h - v for h, v in zip(tl.held, tl.live_bytes)],
            color="#ff7f0e",
            linewidth=0.8,
            linestyle="--",
            label="held - live (right axis)",
        )
        waste.legend(fontsize=7, loc="upper center")
        waste.set_ylim(0, most_waste * 1.15 + 1)
        waste.set_ylabel("held - live (dashed)", color="#ff7f0e", fontsize=8)
        waste.tick_params(axis="y", labelsize=7, colors="#ff7f0e")

        ax = axes[1][col]
        ax.plot(x, tl.heap_size, color="black", linewidth=1, label="heap_size (chunk bytes)")
        if tl.events["trim"]:  # chunks given back: what is still held drops below heap_size
            held_chunks = [h - r for h, r in zip(tl.heap_size, tl.released)]
            ax.plot(x, held_chunks, color="#9467bd", linewidth=1, label="chunk bytes held")
        ax.set_ylabel("bytes")
        twin = ax.twinx()
        twin.step(x, tl.chunks, color="#2ca02c", linewidth=1, where="post", label="chunks")
        twin.set_ylabel("chunks", color="#2ca02c", fontsize=8)
        twin.set_ylim(0, most_chunks * 1.1 + 0.5)  # the same scale in every column
        twin.tick_params(axis="y", labelsize=7, colors="#2ca02c")
        marks = [
            ("refill", "#7f7f7f"),
            ("leftover", "#ff7f0e"),
            ("salvage", "#d62728"),
            ("refused", "black"),
            ("trim", "#9467bd"),
        ]
        top = max(tl.heap_size, default=1) or 1
        for k, (event, colour) in enumerate(marks):
            at = tl.events[event]
            if at:
                ax.plot(
                    at,
                    [top * (1.04 + 0.05 * k)] * len(at),
                    "|",
                    color=colour,
                    markersize=7,
                    label=f"{event} ({len(at)})",
                )
        ax.set_title(
            f"heap_size and chunks ({tl.chunks[-1] if tl.chunks else 0} at the end"
            f"{f', {tl.released_chunks} released' if tl.released_chunks else ''}); ticks: events",
            fontsize=9,
        )
        ax.legend(fontsize=7, loc="lower right")

        for row, (series, what) in enumerate(((tl.live, "live"), (tl.free, "free")), start=2):
            ax = axes[row][col]
            for c in shown:
                ax.plot(
                    x,
                    series[c],
                    linewidth=0.9,
                    color=class_colour(c, nclasses),
                    label=f"{tl.class_sizes[c]} B",
                )
            ax.set_ylabel("blocks")
            ax.set_title(f"{what} blocks per class (the {len(shown)} busiest classes)", fontsize=9)
            ax.legend(fontsize=6.5, ncol=4, loc="upper left")
        axes[3][col].set_xlabel("operation")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    written = _matplotlib.savefig(fig, path, dpi=90)
    plt.close(fig)
    return written
