"""Plots of `python -m pool bench --plot FILE.png` (matplotlib: the "plot" extra).

`panels(data)` turns a run (the dict that --json writes) into plain data, one
`Panel` per unit: C level as ratios to the floor (what the README quotes) and
in ns per pair, the trace replay in ns per operation, the Python level one
panel per unit, memory in bytes held per requested byte, the C++ containers
as ratios to libstdc++'s __pool_alloc.  A log axis is used where a panel's
values span a decade or more.  Every title says what is measured and names
the run's machine and date.  `plot(data, path)` draws the panels; matplotlib
is imported only then, so the benchmark itself needs nothing beyond cffi.
Usable on a saved run too::

    python -m pool.bench.plot results.json results.png
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, cast

from .. import _matplotlib
from .._cli import Parser, guarded
from .._matplotlib import check_figure
from .common import JsonObject

if TYPE_CHECKING:
    from matplotlib.axes import Axes

INSTALL_HINT = (
    "--plot needs matplotlib, which is not installed: "
    "pip install 'pool[plot]' (or pip install matplotlib)"
)

Stat = Optional[tuple[float, float, float]]  # (median, min, max)
RGBA = tuple[float, float, float, float]


@dataclass
class Panel:
    title: str  # what is measured, then the run (machine, date)
    unit: str  # the y axis (or x axis, for horizontal panels)
    groups: list[str]  # one group of bars per label
    series: dict[str, list[Stat]]  # name -> one Stat per group (None: not measured)
    log: bool = False
    horizontal: bool = False  # one bar per row, labels on the y axis
    reference: float | None = None  # a line at this value (1.0 for ratios)
    notes: list[str] = field(default_factory=list)  # per group, shown next to the bar
    section: str = "c"  # the figure (page) it belongs to: a key of SECTIONS
    group_label: str = ""  # the axis of the groups (bar panels): what a group is


# One figure per section, in the report's order: (key, file name part, title)
SECTIONS = [
    ("c", "c-level", "C level"),
    ("python", "python", "Python level"),
    ("memory", "memory", "Memory"),
    ("containers", "containers", "C++ containers"),
    ("integrations", "integrations", "Integrations"),
]

# One colour per allocator in every figure (the same name, the same colour);
# tab10's first colours to the pool's rows, the other allocators apart.
COLOURS = {
    "floor": "#7f7f7f",
    "pool": "#1f77b4",
    "pool-ts": "#17becf",
    "pool-checked": "#2ca02c",
    "pool-ts-nosize": "#9edae5",
    "pool-chk-nosize": "#98df8a",
    "pool (heap_size only)": "#aec7e8",
    "glibc": "#d62728",
    "jemalloc": "#9467bd",
    "mimalloc": "#ff7f0e",
    "std::allocator": "#8c564b",
    "__pool_alloc": "#e377c2",
    "default": "#d62728",
    "sgi_pool": "#1f77b4",
    "sgipool": "#1f77b4",
}
EXTRA = ["#bcbd22", "#c49c94", "#f7b6d2", "#dbdb8d", "#c5b0d5", "#ffbb78"]


def missing_dependency() -> str | None:
    """None when matplotlib can be imported, else the message to show."""
    return _matplotlib.missing(INSTALL_HINT)


def formats() -> frozenset[str]:
    """The suffixes a plot may have (matplotlib must be importable)."""
    return _matplotlib.formats()


def _pyplot() -> Any:  # the matplotlib.pyplot module
    return _matplotlib.pyplot(INSTALL_HINT)


# ---- data ---------------------------------------------------------------------------------


def run_label(data: JsonObject, timed: bool = True) -> str:
    """'Intel Xeon, 2 CPUs, 2026-12-01 21:07 UTC, quick run, thread CPU time'; the
    clock and the repeats only for timed panels (memory is counted, not timed)."""
    m = data.get("machine") or {}
    date = data.get("date") or "date not recorded"
    clocks: dict[object, str] = {"cpu": "thread CPU time", "wall": "wall time"}
    clock = clocks.get(data.get("clock"), "clock ?")
    where = f"{m.get('cpu_model') or 'CPU ?'}, {m.get('cpus', '?')} CPUs, {date}"
    if not timed:
        return where
    return (
        f"{where}, {'quick' if data.get('quick') else 'full'} run, {clock},"
        f" medians of {data.get('repeat', '?')} (error bars: min-max)"
    )


def _stat(cell: JsonObject | None) -> Stat:
    if not cell or "median" not in cell:
        return None
    return (cell["median"], cell["min"], cell["max"])


def _scaled(stat: Stat, by: float) -> Stat:
    return None if stat is None or not by else (stat[0] / by, stat[1] / by, stat[2] / by)


def spans_decades(series: dict[str, list[Stat]]) -> bool:
    values = [v for stats in series.values() for s in stats if s for v in s if v > 0]
    return bool(values) and max(values) / min(values) >= 10


def _c_panels(data: JsonObject, run: str) -> list[Panel]:
    cells = [c for c in data.get("c_level") or () if not c.get("note")]
    pairs = [c for c in cells if c["pattern"] != "trace"]
    trace = [c for c in cells if c["pattern"] == "trace"]
    out: list[Panel] = []
    if pairs:
        names = [n for n in pairs[0]["results"] if any(_stat(c["results"].get(n)) for c in pairs)]
        groups = [f"{c['pattern']} {c['size']}" for c in pairs]
        ratios: dict[str, list[Stat]] = {}
        for n in names:
            if n == "floor":
                continue
            ratios[n] = [
                _scaled(_stat(c["results"].get(n)), (_stat(c["results"]["floor"]) or (0,))[0])
                for c in pairs
            ]
        out.append(
            Panel(
                f"C level: time per allocate+free pair as a multiple of the floor (16 bare"
                f" free lists; 1 = the floor)\n{run}",
                "time / the floor's (ratio of medians)",
                groups,
                ratios,
                reference=1.0,
                group_label="pattern and block size (bytes; mixed: uniform 1..128)",
            )
        )
        absolute = {n: [_stat(c["results"].get(n)) for c in pairs] for n in names}
        out.append(
            Panel(
                f"C level: time per allocate+free pair\n{run}",
                "time per pair (ns)",
                groups,
                absolute,
                group_label="pattern and block size (bytes; mixed: uniform 1..128)",
            )
        )
    if trace:
        cell = trace[0]
        names = [n for n in cell["results"] if _stat(cell["results"][n])]
        floor = (_stat(cell["results"].get("floor")) or (0,))[0]
        series = {"ns per operation": [_stat(cell["results"][n]) for n in names]}
        notes = [
            f"{s[0] / floor:.2f}x the floor" if floor and s else ""  # s: measured (names)
            for s in series["ns per operation"]
        ]
        out.append(
            Panel(
                f"C level: replay of a recorded trace, ns per operation"
                f" ({cell.get('description', 'trace')})\n{run}",
                "time per operation (ns)",
                names,
                series,
                horizontal=True,
                notes=notes,
            )
        )
    return out


def _unit_label(unit: str) -> str:
    """'ns/pair' -> 'time per pair (ns)'; other units as they are, with their name."""
    if unit.startswith("ns/"):
        return f"time per {unit[3:]} (ns)"
    if unit.startswith("bytes/"):
        return f"memory per {unit[6:]} (bytes)"
    return unit


def _python_panels(data: JsonObject, run: str) -> list[Panel]:
    rows = [e for e in data.get("python_level") or () if "median" in e]
    out: list[Panel] = []
    for unit in dict.fromkeys(e["unit"] for e in rows):
        mine = [e for e in rows if e["unit"] == unit]
        timed = unit.startswith("ns/")
        notes = [
            f"{e['ratio_to_malloc_free']:.3g}x malloc+free, {e['ratio_to_cffi_call']:.3g}x call"
            if timed and e.get("ratio_to_malloc_free") is not None
            else ""
            for e in mine
        ]
        what = (
            f"Python level: {_unit_label(unit)}, loop overhead included; next to each bar:"
            " x malloc+free via cffi, x one bare cffi call"
            if timed
            else f"Python level: {_unit_label(unit)}, counted (RSS), not timed"
        )
        out.append(
            Panel(
                f"{what}\n{run if timed else run_label(data, timed=False)}",
                _unit_label(unit),
                [e["name"] for e in mine],
                {unit: [_stat(e) for e in mine]},
                horizontal=True,
                notes=notes,
                section="python",
            )
        )
    return out


def _memory_panel(data: JsonObject, run: str) -> list[Panel]:
    rows = data.get("memory") or []
    if not rows:
        return []
    names = {
        "pool": ("pool", "held_per_requested"),
        "pool (heap_size only)": ("pool", "heap_size_per_requested"),
        "pool-checked": ("pool-checked", "held_per_requested"),
        "glibc": ("glibc", "held_per_requested"),
    }
    series: dict[str, list[Stat]] = {}
    for label, (name, key) in names.items():
        values = [r["results"].get(name, {}).get(key) for r in rows]
        if any(v is not None for v in values):
            series[label] = [None if v is None else (v, v, v) for v in values]
    return [
        Panel(
            f"Memory: bytes held from the system per requested byte,"
            f" {rows[0]['blocks']:,} live blocks of each size (1 = no overhead;"
            f" one measurement, no spread)\n{run_label(data, timed=False)}",
            "held / requested (bytes per byte)",
            [r["size"] for r in rows],
            series,
            reference=1.0,
            section="memory",
            group_label="block size (bytes; mixed: uniform 1..128)",
        )
    ]


def _container_panel(data: JsonObject, run: str) -> list[Panel]:
    cont = data.get("containers") or {}
    cells = cont.get("cells")
    if not cells:
        return []
    names = list(cells[0]["results"])
    series = {
        n: [
            _scaled(
                _stat(c["results"].get(n)), (_stat(c["results"].get("__pool_alloc")) or (0,))[0]
            )
            for c in cells
        ]
        for n in names
        if n != "__pool_alloc"
    }
    return [
        Panel(
            f"C++ node containers: time per element (insert + erase) as a multiple of"
            f" libstdc++'s __gnu_cxx::__pool_alloc (1 = __pool_alloc), N={cont.get('n')}"
            f"\n{run}",
            "time / __pool_alloc's (ratio of medians)",
            [f"std::{c['container']}" for c in cells],
            series,
            reference=1.0,
            section="containers",
            group_label="container (insert + erase of N elements)",
        )
    ]


def _integration_panels(data: JsonObject, run: str) -> list[Panel]:
    # these rows time wall time (timeit's clock, whole processes), whatever --clock says
    run = (
        f"{run_label(data, timed=False)}, wall time, medians of {data.get('repeat', '?')}"
        " (error bars: min-max)"
    )
    out: list[Panel] = []
    cells = data.get("numpy") or []
    if cells:
        handlers = list(cells[0]["results"])
        out.append(
            Panel(
                f"numpy {cells[0].get('numpy', '')}: time per array created and dropped, "
                f"numpy's default handler and the pool's\n{run}",
                "time per array (ns)",
                [c["cell"] for c in cells],
                {h: [_stat(c["results"].get(h)) for c in cells] for h in handlers},
                section="integrations",
                group_label="statement",
            )
        )
    rows = data.get("programs") or []
    if rows:
        workloads = list(dict.fromkeys(r["workload"] for r in rows))
        names = list(dict.fromkeys(r["allocator"] for r in rows))
        by = {(r["workload"], r["allocator"]): r for r in rows}
        series: dict[str, list[Stat]] = {}
        for n in names:
            series[n] = []
            for w in workloads:
                r, base = by.get((w, n)), by.get((w, "glibc"))
                series[n].append(_scaled(_stat(r), base["median"]) if r and base else None)
        out.append(
            Panel(
                f"Whole programs under LD_PRELOAD: wall time as a multiple of glibc's"
                f" (1 = glibc; start-up included)\n{run}",
                "wall time / glibc's (ratio of medians)",
                [textwrap.fill(w, 24) for w in workloads],
                series,
                reference=1.0,
                section="integrations",
                group_label="program and job",
            )
        )
    run_rows = data.get("pool_run")
    if run_rows:
        out.append(
            Panel(
                f"CPython's object domain on the pool: the ast/json job, wall time per"
                f" process\n{run}",
                "wall time per process (s)",
                ["python", "python -m pool run"],
                {"s": [_stat(run_rows.get("plain")), _stat(run_rows.get("pool_run"))]},
                horizontal=True,
                section="integrations",
            )
        )
    return out


def panels(data: JsonObject) -> list[Panel]:
    """The Panels of a run, in the report's order; log axes where values span a decade."""
    run = run_label(data)
    out = (
        _c_panels(data, run)
        + _python_panels(data, run)
        + _memory_panel(data, run)
        + _container_panel(data, run)
        + _integration_panels(data, run)
    )
    for p in out:
        p.log = spans_decades(p.series)
    return out


# ---- drawing ------------------------------------------------------------------------------


def _draw_bars(ax: Axes, panel: Panel, colours: dict[str, RGBA]) -> None:
    n = max(1, len(panel.series))
    width = 0.8 / n
    for i, (name, values) in enumerate(panel.series.items()):
        xs: list[float] = []
        meds: list[float] = []
        lo: list[float] = []
        hi: list[float] = []
        for g, v in enumerate(values):
            if v is None:
                continue
            xs.append(g - 0.4 + width * (i + 0.5))
            meds.append(v[0])
            lo.append(v[0] - v[1])
            hi.append(v[2] - v[0])
        if xs:
            label = "libstdc++ " + name if name.startswith("_") else name  # "_x" hides a label
            ax.bar(
                xs,
                meds,
                width,
                yerr=[lo, hi] if any(lo) or any(hi) else None,  # none for single measurements
                capsize=1.5,
                label=label,
                color=colours[name],
                error_kw={"elinewidth": 0.6},
            )
    ax.set_xticks(range(len(panel.groups)))
    ax.set_xticklabels(
        panel.groups,
        fontsize=8,
        rotation=30 if len(panel.groups) > 8 else 0,
        ha="right" if len(panel.groups) > 8 else "center",
    )
    ax.set_xlim(-0.5, len(panel.groups) - 0.5)
    ax.set_ylabel(panel.unit, fontsize=8)
    if panel.group_label:
        ax.set_xlabel(panel.group_label, fontsize=8)
    ax.grid(axis="y", alpha=0.3, which="both")
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)


def _draw_rows(ax: Axes, panel: Panel, colours: dict[str, RGBA | str]) -> None:
    [series] = panel.series.values()
    # a horizontal panel holds measured rows only (see _c_panels, _python_panels)
    values = cast("list[tuple[float, float, float]]", series)
    ys = range(len(values))
    meds = [v[0] for v in values]
    ax.barh(
        ys,
        meds,
        xerr=[[v[0] - v[1] for v in values], [v[2] - v[0] for v in values]],
        capsize=2,
        # rows named by an allocator (the trace replay) take its colour
        color=[colours.get(g, "#4c72b0") for g in panel.groups],
    )
    ax.set_yticks(list(ys))
    ax.set_yticklabels([textwrap.fill(g, WRAP) for g in panel.groups], fontsize=7.5)
    ax.invert_yaxis()
    ax.set_xlabel(panel.unit, fontsize=8)
    ax.grid(axis="x", alpha=0.3, which="both")
    for y, v, note in zip(ys, values, panel.notes or [""] * len(values)):
        ax.text(
            v[2] * (1.08 if panel.log else 1.01),
            y,
            f"{v[0]:.3g}  {note}".rstrip(),
            va="center",
            fontsize=7,
        )
    right = max(v[2] for v in values)
    if panel.log:
        ax.set_xscale("log")
        ax.set_xlim(min(v[1] for v in values) / 2, right * 40)
    else:
        ax.set_xlim(0, right * 1.7)


WRAP = 42  # characters per line of a row label


def _row_height(label: str) -> float:
    """Inches a horizontal row needs: its wrapped label's lines, at 7.5 points."""
    return 0.16 + 0.13 * len(textwrap.wrap(label, WRAP))


def colours_for(todo: list[Panel]) -> dict[str, RGBA | str]:
    """A distinct colour per allocator (bar series), the same in every figure."""
    out: dict[str, RGBA | str] = {}
    extra = iter(EXTRA)
    for p in todo:
        for n in p.groups if p.horizontal else p.series:
            if p.horizontal and n not in COLOURS:
                continue  # a row of the Python level: not an allocator
            if n not in out:
                out[n] = COLOURS.get(n) or next(extra, "#333333")
    return out


def _figure(todo: list[Panel], colours: dict[str, RGBA | str]) -> Any:
    plt = _pyplot()
    from matplotlib import ticker

    heights = [0.9 + sum(_row_height(g) for g in p.groups) if p.horizontal else 3.8 for p in todo]
    fig, axes = plt.subplots(
        len(todo),
        1,
        figsize=(14, sum(heights) + 0.9 * len(todo)),
        squeeze=False,
        gridspec_kw={"height_ratios": heights},
        layout="constrained",  # makes room for every label, unlike tight_layout here
    )
    for ax, panel in zip(axes[:, 0], todo):
        if panel.horizontal:
            _draw_rows(ax, panel, colours)
        else:
            _draw_bars(ax, panel, colours)  # type: ignore[arg-type]
            if panel.log:
                ax.set_yscale("log")
            if panel.reference is not None:
                ax.axhline(panel.reference, color="black", linewidth=0.8)
        if panel.log:  # plain numbers (2, 5, 10, 20), not powers of ten
            axis = ax.xaxis if panel.horizontal else ax.yaxis
            axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
            axis.set_minor_formatter(
                ticker.FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.1g}"[0] in "25" else "")
            )
        ax.set_title(panel.title + ("  [log scale]" if panel.log else ""), fontsize=9, loc="left")
    return fig


def _by_section(data: JsonObject) -> list[tuple[str, list[Panel]]]:
    todo = panels(data)
    if not todo:
        raise ValueError("nothing to plot: no section of the run has results")
    return [
        (part, [p for p in todo if p.section == key])
        for key, part, _ in SECTIONS
        if any(p.section == key for p in todo)
    ]


def plot_sections(data: JsonObject, path: str | os.PathLike[str]) -> list[str]:
    """Draws a run, one figure per section: a multi-page PDF when path ends in .pdf,
    else one file per section beside path (out.png -> out-c-level.png,
    out-python.png, ...), each written atomically.  Returns the paths written."""
    plt = _pyplot()
    sections = _by_section(data)
    colours = colours_for([p for _, todo in sections for p in todo])
    name = os.fspath(path)
    stem, suffix = os.path.splitext(name)
    if suffix.lower() == ".pdf":
        from matplotlib.backends.backend_pdf import PdfPages

        from .._atomic import replacing

        # tmp: the pages, written into a temporary file renamed over name at the end
        with replacing(name) as scratch, PdfPages(scratch) as tmp:
            for _, todo in sections:
                fig = _figure(todo, colours)
                fig.savefig(tmp, format="pdf", dpi=90)
                plt.close(fig)
        return [name]
    written = []
    for part, todo in sections:
        fig = _figure(todo, colours)
        written.append(_matplotlib.savefig(fig, f"{stem}-{part}{suffix or '.png'}", dpi=90))
        plt.close(fig)
    return written


def plot(data: JsonObject, path: str | os.PathLike[str]) -> str:
    """Draws every section of a run into one figure at path (PNG, SVG, PDF... by its
    suffix, PNG without one), atomically; returns the path written.  plot_sections
    draws one figure per section, easier to read."""
    plt = _pyplot()
    todo = [p for _, part in _by_section(data) for p in part]
    fig = _figure(todo, colours_for(todo))
    written = _matplotlib.savefig(fig, path, dpi=90)
    plt.close(fig)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(
        prog="python -m pool.bench.plot",
        description="Draw a benchmark run saved by `python -m pool bench --json`"
        " (needs matplotlib: the plot extra).",
        epilog="example: python -m pool.bench.plot results.json results.png",
    )
    parser.add_argument("results", metavar="RESULTS.json", help="a `bench --json` file")
    parser.add_argument(
        "out",
        metavar="OUT.png",
        help="the figure to write (its suffix names the format; none: .png)",
    )
    args = parser.parse_args(argv)
    prog = parser.prog
    err = missing_dependency()
    if err:
        print(f"{prog}: {err}", file=sys.stderr)
        return 2
    try:
        out = check_figure(args.out, "OUT", inputs=[args.results])
        with open(args.results, encoding="utf-8") as f:
            data = json.load(f)
        written = plot(data, out)
    except (OSError, ValueError, RuntimeError) as e:  # json's errors are ValueErrors
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    print(f"plot written to {written}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(guarded(main, sys.argv[1:]))
