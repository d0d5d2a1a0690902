"""Trusting the benchmark: spreads, "may be unstable" warnings, and comparing two
saved runs (--baseline OLD.json --fail-above R, --from-json).  Built on the saved
quick run of test_bench_plot (tests/bench/data/bench_quick.json): no timing here."""

import copy
import json
import os
import pathlib
import subprocess
import sys

import pytest

from pool.bench import stability
from pool.bench.report import format_report

FIXTURE = pathlib.Path(__file__).parent / "data" / "bench_quick.json"
ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture()
def run():
    data = json.loads(FIXTURE.read_text())
    data["machine"]["loadavg"] = [0.1, 0.1, 0.1]  # a quiet machine unless a test says not
    return data


def cell(data, pattern="lifo", size="32", allocator="pool"):
    [c] = [c for c in data["c_level"] if c["pattern"] == pattern and c.get("size") == size]
    return c["results"][allocator]


def bench(*argv, cwd=ROOT):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "pool", "bench", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def test_every_figure_of_a_run_is_named_once(run):
    names = [f.name for f in stability.figures(run)]
    assert len(names) == len(set(names)) and len(names) > 100
    assert "C lifo 32: pool" in names and "memory 8: glibc" in names


def steady(data):
    """Every figure's repeats equal to its median: nothing unstable."""
    for c in data["c_level"]:
        for res in c["results"].values():
            if "median" in res:
                res["min"] = res["max"] = res["median"]
    for e in data["python_level"]:
        if "median" in e:
            e["min"] = e["max"] = e["median"]
    for c in data["containers"]["cells"]:
        for res in c["results"].values():
            res["min"] = res["max"] = res["median"]
    return data


def test_a_wide_spread_is_reported_as_may_be_unstable(run):
    steady(run)
    assert stability.warnings(run) == []
    assert "No figure may be unstable" in format_report({**run, "warnings": []})
    c = cell(run)
    c["max"] = c["median"] * 1.5  # a deliberately noisy cell
    lines = stability.warnings(run)
    assert lines[0].startswith("1 of ") and "figures may be unstable" in lines[0]
    assert "C lifo 32: pool" in lines[1] and "spread 50% of the median" in lines[1]
    report = format_report({**run, "warnings": lines})
    assert "WARNING: 1 of" in report
    [marked] = [line for line in report.splitlines() if "]?" in line]  # the cell is marked
    assert "pool " in marked


def test_one_repeat_is_always_unstable(run):
    c = cell(run)
    c["samples"] = [c["median"]]
    c["min"] = c["max"] = c["median"]
    assert "1 repeat: no spread measured" in "\n".join(stability.warnings(run))


def test_a_busy_machine_is_named(run):
    run["machine"]["loadavg"] = [6.8, 5.9, 3.9]
    assert stability.load_warning(run).startswith(
        "the machine was busy: load average 6.80 at the start for 2 CPUs"
    )
    run["machine"]["loadavg"] = [0.5, 0.5, 0.5]
    run["loadavg_end"] = [2.5, 1, 1]
    assert "2.50 at the end" in stability.load_warning(run)


@pytest.mark.parametrize("text, ratio", [("1.10", 1.10), ("10%", 1.10), ("2", 2.0)])
def test_fail_above_accepts_a_ratio_or_a_percentage(text, ratio):
    assert stability.parse_threshold(text) == pytest.approx(ratio)


@pytest.mark.parametrize("text", ["1", "0.9", "-5%", "abc", "nan", "inf", "10%%", ""])
def test_fail_above_refuses_what_is_not_above_1(text):
    with pytest.raises(ValueError, match="--fail-above"):
        stability.parse_threshold(text)


def test_compare_finds_the_regression_in_either_direction(run):
    new = copy.deepcopy(run)
    c = cell(new)
    for key in ("median", "min", "max"):
        c[key] *= 1.5  # time: higher is worse
    t = {"pattern": "lifo", "size": "32", "threads": 2, "unit": "M pairs/s"}
    name = "pool-ts shared"
    run["threads"] = [{**t, "results": {name: {"median": 100.0, "min": 99.0, "max": 101.0}}}]
    new["threads"] = [{**t, "results": {name: {"median": 50.0, "min": 49.0, "max": 51.0}}}]
    # throughput: lower is worse
    worse = {c.name: c.worse_by for c in stability.compare(run, new) if c.worse_by > 1.2}
    assert worse.keys() == {"C lifo 32: pool", f"threads lifo 32 x{t['threads']}: {name}"}
    assert worse["C lifo 32: pool"] == pytest.approx(1.5)
    lines, regressed = stability.format_comparison(run, new, 1.2, "old.json")
    assert regressed == 2 and any("REGRESSED 2.00x" in line for line in lines)


def test_two_saved_runs_compared_from_the_command_line(run, tmp_path):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(run))
    c = cell(run)
    for key in ("median", "min", "max"):
        c[key] *= 1.3
    new.write_text(json.dumps(run))
    failing = bench("--from-json", str(new), "--baseline", str(old), "--fail-above", "1.2")
    assert failing.returncode == 1, failing.stderr
    assert "REGRESSED 1.30x  C lifo 32: pool" in failing.stdout
    assert "1 figure(s) worse than the baseline by more than 1.20x" in failing.stderr
    passing = bench("--from-json", str(new), "--baseline", str(old), "--fail-above", "40%")
    assert passing.returncode == 0, passing.stderr
    assert "0 worse by more than 1.40x" in passing.stdout
    # without --fail-above: the comparison is shown, the status stays 0
    shown = bench("--from-json", str(new), "--baseline", str(old))
    assert shown.returncode == 0 and "Against the baseline" in shown.stdout


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--fail-above", "1.1"], "--fail-above needs --baseline OLD.json"),
        (["--baseline", "{old}", "--fail-above", "0.9"], "--fail-above '0.9': must be above 1"),
        (["--baseline", "{missing}"], "--baseline {missing}: No such file or directory"),
        (["--baseline", "{notrun}"], "--baseline {notrun}: not a saved run of python -m pool"),
        (["--from-json", "{notjson}"], "--from-json {notjson}: not a JSON file"),
    ],
)
def test_comparison_misuse_exits_2_before_any_work(run, tmp_path, argv, message):
    paths = {
        "old": tmp_path / "old.json",
        "missing": tmp_path / "missing.json",
        "notrun": tmp_path / "list.json",
        "notjson": tmp_path / "text.json",
    }
    paths["old"].write_text(json.dumps(run))
    paths["notrun"].write_text("[1, 2]")
    paths["notjson"].write_text("not json")
    argv = [a.format(**paths) for a in argv]
    done = bench("--only", "memory", *argv)  # would run the memory rows if validated late
    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"python -m pool bench: {message.format(**paths)}"), line


@pytest.mark.slow  # runs the numpy and pool-run rows (CI runs it with --runslow)
def test_integration_rows_are_reachable_and_warn_when_noisy(tmp_path):
    pytest.importorskip("numpy")
    out = tmp_path / "run.json"
    done = bench("--only", "numpy", "--only", "pool-run", "--repeat", "1", "--json", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads(out.read_text())
    from pool.bench.numpy_arrays import CELLS

    assert [c["cell"] for c in data["numpy"]] == list(CELLS)
    assert data["pool_run"]["plain"]["samples"] and data["pool_run"]["pool_run"]["samples"]
    assert "numpy " in done.stdout and "pool run: the ast/json job" in done.stdout
    # one repeat: nothing says how noisy the figures are, so each is flagged
    figures = 3 * len(CELLS) + 2  # three handlers per numpy cell; plain python and pool run
    assert f"{figures} of {figures} figures may be unstable" in done.stdout, done.stdout
