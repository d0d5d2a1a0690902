"""Plots of `python -m pool bench --plot FILE.png` (matplotlib: the "plot" extra).

matplotlib is imported only when a plot is drawn, so the benchmark itself
needs nothing beyond cffi.  Usable on a saved run too::

    python -m pool.bench.plot results.json results.png
"""

import json
import sys
import textwrap

INSTALL_HINT = ("--plot needs matplotlib, which is not installed: "
                "pip install 'pool[plot]' (or pip install matplotlib)")


def missing_dependency():
    """None when matplotlib can be imported, else the message to show."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return INSTALL_HINT
    return None


def _pyplot():
    try:
        import matplotlib
    except ImportError as e:
        raise RuntimeError(INSTALL_HINT) from e
    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    return plt


def _bars(ax, groups, series, title, ylabel):
    """Grouped bars: one group per label in groups, one bar per series entry
    (name -> list of (median, min, max) or None, aligned with groups), with the
    min-max spread as error bars."""
    n = max(1, len(series))
    width = 0.8 / n
    for i, (name, values) in enumerate(series.items()):
        xs, meds, lo, hi = [], [], [], []
        for g, v in enumerate(values):
            if v is None:
                continue
            xs.append(g - 0.4 + width * (i + 0.5))
            meds.append(v[0])
            lo.append(v[0] - v[1])
            hi.append(v[2] - v[0])
        if xs:
            # matplotlib hides legend labels that start with "_"
            label = "libstdc++ " + name if name.startswith("_") else name
            ax.bar(xs, meds, width, yerr=[lo, hi], capsize=1.5, label=label,
                   error_kw={"elinewidth": 0.6})
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=4)


def _stat(cell):
    if not cell or "median" not in cell:
        return None
    return (cell["median"], cell["min"], cell["max"])


def plot(data, path):
    """Draws a run (the dict that --json writes) into path (PNG, SVG, PDF...)."""
    plt = _pyplot()
    panels = []
    if data.get("c_level"):
        panels.append("c")
    if data.get("python_level"):
        panels.append("python")
    cont = data.get("containers") or {}
    if "cells" in cont:
        panels.append("containers")
    if not panels:
        raise ValueError("nothing to plot: no section of the run has results")
    fig, axes = plt.subplots(len(panels), 1, figsize=(13, 4.5 * len(panels)), squeeze=False)
    for ax, panel in zip(axes[:, 0], panels):
        if panel == "c":
            cells = data["c_level"]
            groups = [f"{c['pattern']} {c['size']}" if c["pattern"] != "trace" else "trace"
                      for c in cells]
            names = list(cells[0]["results"])
            series = {n: [_stat(c["results"].get(n)) for c in cells] for n in names}
            series = {n: v for n, v in series.items() if any(v)}
            _bars(ax, groups, series, "C level: ns per allocate+free pair (trace: per operation); "
                  "median, min-max", "ns")
        elif panel == "python":
            rows = [e for e in data["python_level"] if "median" in e]
            ax.barh(range(len(rows)), [e["median"] for e in rows],
                    xerr=[[e["median"] - e["min"] for e in rows],
                          [e["max"] - e["median"] for e in rows]], capsize=2)
            ax.set_yticks(range(len(rows)))
            ax.set_yticklabels([textwrap.fill(f"{e['name']} ({e['unit']})", 48) for e in rows],
                               fontsize=7)
            ax.invert_yaxis()
            ax.set_xlabel("ns")
            ax.set_title("Python level: median, min-max", fontsize=10)
            ax.grid(axis="x", alpha=0.3)
        else:
            cells = cont["cells"]
            names = list(cells[0]["results"])
            series = {n: [_stat(c["results"].get(n)) for c in cells] for n in names}
            _bars(ax, [c["container"] for c in cells], series,
                  "C++ containers: ns per element (insert + erase); median, min-max", "ns")
    m = data.get("machine", {})
    fig.suptitle(f"pool bench ({'quick' if data.get('quick') else 'full'}) - "
                 f"{m.get('cpu_model', '?')}, {m.get('cpus', '?')} CPUs, clock {data.get('clock')}",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m pool.bench.plot RESULTS.json OUT.png", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as f:
        data = json.load(f)
    try:
        plot(data, argv[1])
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
