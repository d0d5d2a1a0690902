"""pool.bench.plot: the panels of a saved quick run (tests/bench/data/bench_quick.json, made
by `python -m pool bench --quick --json`, samples removed), and the picture written."""

import json
import os
import pathlib

import pytest

from pool.bench import plot

FIXTURE = pathlib.Path(__file__).parent / "data" / "bench_quick.json"


@pytest.fixture(scope="module")
def run():
    return json.loads(FIXTURE.read_text())


def test_one_panel_per_unit_each_titled_with_machine_and_date(run):
    panels = plot.panels(run)
    units = [p.unit for p in panels]
    assert units == [
        "time / the floor's (ratio of medians)",
        "time per pair (ns)",
        "time per operation (ns)",
        "time per loop (ns)",
        "time per call (ns)",
        "time per pair (ns)",
        "time per block (ns)",
        "time per object (ns)",
        "held / requested (bytes per byte)",
        "time / __pool_alloc's (ratio of medians)",
    ]
    for p in panels:
        assert "Intel(R) Xeon(R) Processor, 2 CPUs, 2026-12-01 21:07 UTC" in p.title, p.title
        # the clock and the repeats only where something is timed
        assert ("thread CPU time" in p.title) == (p.section != "memory"), p.title
    python_rows = [g for p in panels if p.title.startswith("Python") for g in p.groups]
    assert python_rows == [e["name"] for e in run["python_level"] if "median" in e]


def test_ratios_are_what_the_report_quotes(run):
    ratio = plot.panels(run)[0]
    assert "floor" not in ratio.series and ratio.reference == 1.0
    for g, cell in enumerate(c for c in run["c_level"] if c["pattern"] != "trace"):
        for name, values in ratio.series.items():
            assert values[g][0] == pytest.approx(cell["ratio_to_floor"][name]), (g, name)
    containers = plot.panels(run)[-1]
    for g, cell in enumerate(run["containers"]["cells"]):
        for name, values in containers.series.items():
            assert values[g][0] == pytest.approx(cell["ratio_to_pool_alloc"][name])


def test_memory_has_its_own_panel(run):
    [memory] = [p for p in plot.panels(run) if p.section == "memory"]
    assert memory.groups == ["8", "16", "24", "32", "64", "128", "mixed"]
    assert "bytes" in memory.group_label
    assert list(memory.series) == ["pool", "pool (heap_size only)", "pool-checked", "glibc"]
    assert memory.series["glibc"][0][0] == pytest.approx(4.00032)


def test_log_scale_exactly_where_values_span_a_decade(run):
    logs = [p.log for p in plot.panels(run)]
    assert logs[0] and logs[1] and logs[7]  # floor ratios, ns per pair, ns per object
    assert not logs[8] and not logs[5]  # memory, Python ns per pair
    assert plot.spans_decades({"a": [(1, 1, 1), (10, 10, 10)]})
    assert not plot.spans_decades({"a": [(1, 1, 1), (9.9, 9.9, 9.9)]})


def test_a_run_without_a_date_says_so(run):
    old = dict(run)
    del old["date"]
    assert "date not recorded" in plot.panels(old)[0].title


@pytest.mark.skipif(
    bool(os.environ.get("POOL_UNDER_SANITIZER")),
    reason="under scripts/sanitize.sh: matplotlib's C++ extension (ft2font) fails"
    " ASan's __cxa_throw interceptor under the preload; drawn in the normal run",
)
def test_plot_writes_a_png(run, tmp_path):
    pytest.importorskip(
        "matplotlib",
        reason="matplotlib is not installed (pip install"
        " 'pool[plot]'): the bench plot was not drawn",
    )
    out = tmp_path / "bench.png"
    assert plot.main([str(FIXTURE), str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 50_000


def test_every_axis_names_its_unit(run):
    for p in plot.panels(run):
        assert "(" in p.unit and p.unit.endswith(")"), p.unit  # "time per pair (ns)"
        if not p.horizontal:
            assert p.group_label, p.title


def test_each_allocator_has_its_own_colour_in_every_figure(run):
    panels = plot.panels(run)
    colours = plot.colours_for(panels)
    bar_names = {n for p in panels if not p.horizontal for n in p.series}
    assert bar_names <= set(colours)
    assert len(set(colours.values())) == len(colours), colours  # before: tab10 wrapped
    # the C++ panel's std::allocator and pool (the same colour before)
    assert colours["std::allocator"] != colours["pool"]


@pytest.mark.skipif(
    bool(os.environ.get("POOL_UNDER_SANITIZER")),
    reason="under scripts/sanitize.sh: matplotlib's C++ extension fails under the preload",
)
@pytest.mark.parametrize("suffix", [".png", pytest.param(".pdf", marks=pytest.mark.slow)])
def test_one_figure_per_section(run, tmp_path, suffix):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed")
    written = plot.plot_sections(run, tmp_path / f"bench{suffix}")
    if suffix == ".pdf":  # one page per section
        assert written == [str(tmp_path / "bench.pdf")]
        pdf = pathlib.Path(written[0]).read_bytes()
        assert pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") == 4
    else:
        names = [os.path.basename(w) for w in written]
        assert names == [
            "bench-c-level.png",
            "bench-python.png",
            "bench-memory.png",
            "bench-containers.png",
        ]
