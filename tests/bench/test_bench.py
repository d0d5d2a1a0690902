"""The benchmark suite runs and writes well-formed JSON.  No timing assertions:
these machines are shared and noisy; only the structure is checked."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

bench_c = pytest.importorskip(
    "pool._bench_c", reason="pool._bench_c is not built (python build_pool.py bench)"
)

from pool.bench import c_level, common

# Under scripts/sanitize.sh ASan replaces malloc, so the memory rows (mallinfo2)
# read zero and the timings mean nothing; the bench is checked in the normal run.
pytestmark = pytest.mark.not_under_sanitizer("the benchmark is meaningless under ASan")

ALLOCATOR_NAMES = [name for name, _, _ in common.ALLOCATORS]


def _check_cell(cell, where):
    """A measured cell has median/min/max (ordered, positive) and its samples;
    a cell that could not run has a non-empty skip note."""
    if "skipped" in cell:
        assert isinstance(cell["skipped"], str) and cell["skipped"], where
        return
    for key in ("median", "min", "max", "samples"):
        assert key in cell, (where, key)
    assert 0 < cell["min"] <= cell["median"] <= cell["max"], where
    assert cell["samples"] and all(s > 0 for s in cell["samples"]), where


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    env = dict(os.environ)
    if pathlib.Path(common.__file__).resolve().parents[2] == ROOT:  # in-place build
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "pool.bench", "--quick", "--json", str(out)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, json.loads(out.read_text())


@pytest.mark.slow  # the whole quick benchmark (about 15 s)
def test_quick_writes_the_table_and_progress(quick_run):
    proc, _ = quick_run
    for heading in (
        "Allocators (what really ran)",
        "C level:",
        "Python level:",
        "Memory:",
        "Targets",
    ):
        assert heading in proc.stdout, heading
    assert proc.stderr.strip(), "no progress on stderr"


@pytest.mark.slow  # the whole quick benchmark (about 15 s)
def test_json_top_level(quick_run):
    _, data = quick_run
    for key in (
        "schema",
        "quick",
        "repeat",
        "clock",
        "config",
        "machine",
        "allocators",
        "c_level",
        "python_level",
        "memory",
        "containers",
        "targets",
        "elapsed_s",
    ):
        assert key in data, key
    assert data["schema"] == common.SCHEMA
    assert data["quick"] is True
    assert data["clock"] in ("cpu", "wall")
    assert data["repeat"] == common.PROFILES["quick"]["repeat"]


@pytest.mark.slow  # the whole quick benchmark (about 15 s)
def test_json_allocators_say_what_ran(quick_run):
    _, data = quick_run
    assert list(data["allocators"]) == ALLOCATOR_NAMES
    for name, info in data["allocators"].items():
        assert isinstance(info["ran"], bool), name
        if info["ran"]:
            assert info["really"], name  # the functions and library that really ran
        else:
            assert info["note"], name  # why not (a dlerror, say)
    # the floor, the three pools and glibc always run; jemalloc/mimalloc may be absent
    for name in ("floor", "pool", "pool-ts", "pool-checked", "glibc"):
        assert data["allocators"][name]["ran"], name


@pytest.mark.slow  # the whole quick benchmark (about 15 s)
def test_json_c_level_cells(quick_run):
    _, data = quick_run
    cells = data["c_level"]
    expected = [(p, s) for p, _, _ in common.PATTERNS for s in common.SIZES] + [("trace", "trace")]
    assert [(c["pattern"], c["size"]) for c in cells] == expected
    for c in cells:
        where = f"{c['pattern']} {c['size']}"
        assert c["unit"] in ("ns/pair", "ns/op"), where
        assert list(c["results"]) == ALLOCATOR_NAMES, where
        for name, cell in c["results"].items():
            _check_cell(cell, f"{where} {name}")
            if not data["allocators"][name]["ran"]:
                assert "skipped" in cell
        for key in ("ratio_to_floor", "ratio_to_glibc"):
            assert set(c[key]) == set(ALLOCATOR_NAMES)
        if c["pattern"] != "trace":
            for name in ("floor", "pool", "pool-ts", "pool-checked", "glibc"):
                assert "median" in c["results"][name], (where, name)
            floor, glibc = c["results"]["floor"]["median"], c["results"]["glibc"]["median"]
            for name, res in c["results"].items():
                if "median" in res:
                    assert c["ratio_to_floor"][name] == pytest.approx(res["median"] / floor)
                    assert c["ratio_to_glibc"][name] == pytest.approx(res["median"] / glibc)


@pytest.mark.slow  # the whole quick benchmark (about 15 s)
def test_json_python_level(quick_run):
    _, data = quick_run
    names = [e["name"] for e in data["python_level"]]
    assert common.ROW_CALL in names and common.ROW_MALLOC in names
    for e in data["python_level"]:
        assert e["unit"].startswith(("ns/", "bytes/")), e["name"]  # bytes: the Arena RSS rows
        _check_cell(e, e["name"])
    measured = {e["name"] for e in data["python_level"] if "median" in e}
    assert {
        common.ROW_CALL,
        common.ROW_MALLOC,
        common.ROW_UNCHECKED,
        common.ROW_UNCHECKED_TS,
        common.ROW_CHECKED,
        common.ROW_BATCH,
        common.ROW_BATCH_CHECKED,
    } <= measured


@pytest.mark.slow  # the whole quick benchmark (about 15 s)
def test_json_memory(quick_run):
    _, data = quick_run
    assert [r["size"] for r in data["memory"]] == common.MEMORY_SIZES
    for r in data["memory"]:
        assert list(r["results"]) == common.MEMORY_ALLOCATORS
        for name, res in r["results"].items():
            if "skipped" in res:
                assert res["skipped"]
                continue
            assert res["held_per_requested"] > 0, (r["size"], name)
            if name.startswith("pool"):
                assert res["heap_size_per_requested"] >= 1.0, (r["size"], name)


@pytest.mark.slow  # the whole quick benchmark (about 15 s)
def test_json_containers(quick_run):
    _, data = quick_run
    cont = data["containers"]
    if "skipped" in cont:
        assert cont["skipped"]
        return
    assert [c["container"] for c in cont["cells"]] == ["map", "list", "set"]
    for c in cont["cells"]:
        assert list(c["results"]) == ["std::allocator", "__pool_alloc", "pool-ts", "pool"]
        for name, cell in c["results"].items():
            _check_cell(cell, f"{c['container']} {name}")


@pytest.mark.slow  # the whole quick benchmark (about 15 s)
def test_json_targets(quick_run):
    _, data = quick_run
    assert data["targets"]
    for t in data["targets"]:
        assert t["target"] and isinstance(t["measured"], str)
        assert t["met"] in (True, False, None)


def test_trace_arrays_are_dense_and_valid():
    path = c_level.find_trace()
    if path is None:
        pytest.skip("no shipped trace")
    t = c_level.load_trace(path)
    assert len(t["ops"]) == len(t["ids"]) == len(t["sizes"])
    assert max(t["ids"]) < t["nslots"]
    assert t["counts"]["a"] - t["counts"]["f"] == t["survivors"]


@pytest.mark.slow  # the whole quick benchmark (about 15 s)
def test_plot_of_this_run(quick_run, tmp_path):
    """The plot of a fresh quick run is written (its panels: tests/bench/test_bench_plot.py)."""
    pytest.importorskip(
        "matplotlib",
        reason="matplotlib is not installed (pip install"
        " 'pool[plot]'): the bench plot was not drawn",
    )
    from pool.bench import plot

    _, data = quick_run
    assert data["date"].endswith("UTC")
    plot.plot(data, tmp_path / "bench.png")
    assert (tmp_path / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
