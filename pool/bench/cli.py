"""`python -m pool bench`: runs the sections side by side and writes the report."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._atomic import atomic_open
from .._cli import Parser, check_output, positive_int
from .._matplotlib import check_figure
from .._progress import Progress
from .c_level import add_ratios, find_trace, open_allocators, run_c_level
from .common import (
    ALLOCATORS,
    MEMORY_SIZES,
    PATTERNS,
    PROFILES,
    REEXEC_MARK,
    SCHEMA,
    SIZES,
    STATIC_TLS,
    JsonObject,
    _load_bench_c,
)
from .containers import run_containers
from .integrations import INTEGRATIONS, run_integrations
from .machine import machine_info
from .memory import run_memory
from .python_level import run_python_level
from .report import format_report
from .stability import format_comparison, load_run, parse_threshold, warnings
from .targets import evaluate_targets
from .threads import run_threads, thread_steps

# {name: (the cffi handle of the opened allocator or None, its info)}, from open_allocators
Allocators = dict[str, tuple[Any, JsonObject]]

# ---- jemalloc's static TLS -------------------------------------------------------------


def _needs_tls_reexec(allocs: Allocators) -> bool:
    _, info = allocs.get("jemalloc", (None, {}))
    return (
        not info.get("ran", True)
        and "static TLS block" in info.get("note", "")
        and os.environ.get(REEXEC_MARK) is None
    )


def _reexec(argv: list[str]) -> int:
    env = dict(os.environ)
    tunable = f"glibc.rtld.optional_static_tls={STATIC_TLS}"
    env["GLIBC_TUNABLES"] = (
        f"{env['GLIBC_TUNABLES']}:{tunable}" if env.get("GLIBC_TUNABLES") else tunable
    )
    env[REEXEC_MARK] = "1"
    # the child imports this very package, whatever sys.path found it
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parents[2])]
        + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    print(
        f"jemalloc needs more static TLS than a dlopen gets: running again with "
        f"GLIBC_TUNABLES={tunable} (--no-reexec to skip jemalloc instead)",
        file=sys.stderr,
        flush=True,
    )
    return subprocess.call([sys.executable, "-m", "pool.bench", *argv], env=env)


# ---- main --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="python -m pool bench",
        description="Benchmark the pool against a bare free-list floor, glibc, jemalloc and "
        "mimalloc (C loops), through cffi (Python level), in memory, and in C++ "
        "node containers.  Every ratio compares medians measured side by side in "
        "this one run.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  python -m pool bench --quick                 under a minute\n"
        "  python -m pool bench --json out.json         every sample, as JSON\n"
        "  python -m pool bench --quick --plot out.png  draw it (needs matplotlib)\n"
        "  python -m pool bench --quick --baseline old.json --fail-above 1.10\n"
        "  python -m pool bench --from-json new.json --baseline old.json   two saved runs\n"
        "  python -m pool bench --only numpy --only pool-run   the integration rows\n\n"
        "Every figure is a median with its [min-max] spread; a figure whose spread is above\n"
        "20% of its median (or with 1 repeat), and a run on a machine whose load average\n"
        'exceeds its CPU count, are reported as "may be unstable".',
    )
    p.add_argument(
        "--quick", action="store_true", help="fewer repeats and shorter loops (well under a minute)"
    )
    p.add_argument(
        "--repeat", type=positive_int, metavar="N", help="repeats per cell (default 7, quick 3)"
    )
    p.add_argument("--json", metavar="FILE", help="write every sample and result as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="draw the results (needs matplotlib)")
    p.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="thread CPU time (default) or elapsed wall time",
    )
    p.add_argument(
        "--trace",
        metavar="FILE",
        help="trace to replay: a file or a shipped trace's short name (default: the first"
        " shipped one; python -m pool traces lists them)",
    )
    p.add_argument(
        "--only",
        action="append",
        choices=("c", "python", "memory", "containers", *INTEGRATIONS),
        help="run only these sections (repeatable); the integration rows (numpy: numpy's "
        "handler; pool-run: python -m pool run; programs: whole programs under LD_PRELOAD, "
        "minutes; preload-threads: sort --parallel=2 and a threaded C++ program under "
        "LD_PRELOAD, caches on and off) run only when named",
    )
    p.add_argument(
        "--baseline",
        metavar="OLD.json",
        help="compare every figure with this saved run (--json's file)",
    )
    p.add_argument(
        "--fail-above",
        metavar="R",
        help="with --baseline: exit 1 when a figure is worse than the baseline's by more than "
        "R (a ratio new/old such as 1.10, or a percentage: 10%%)",
    )
    p.add_argument(
        "--from-json",
        metavar="RUN.json",
        help="report (and --plot, --baseline) a saved run instead of running",
    )
    p.add_argument(
        "--no-reexec",
        action="store_true",
        help="do not re-run with GLIBC_TUNABLES for jemalloc; skip it instead",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        print("--repeat must be at least 1", file=sys.stderr)
        return 2
    # outputs are checked before the run, not after it (the samples would be lost)
    json_path = plot_path = None
    try:
        if args.trace:  # a file, or the short name of a shipped trace
            from ..traces.shipped import resolve

            args.trace = resolve(args.trace)
        if args.json:
            json_path = check_output(args.json, "--json", inputs=[args.trace])
        if args.plot:
            from . import plot as bench_plot

            err = bench_plot.missing_dependency()
            if err:
                print(err, file=sys.stderr)
                return 2
            plot_path = check_figure(args.plot, "--plot", inputs=[args.trace, json_path])
        fail_above = None
        if args.fail_above is not None:
            if args.baseline is None:
                raise ValueError("--fail-above needs --baseline OLD.json")
            fail_above = parse_threshold(args.fail_above)
        baseline = load_run(args.baseline, "--baseline") if args.baseline else None
        saved = load_run(args.from_json, "--from-json") if args.from_json else None
    except (ValueError, FileNotFoundError) as e:
        print(f"python -m pool bench: {e}", file=sys.stderr)
        return 2
    if saved is not None:
        return _finish(saved, json_path, plot_path, baseline, args.baseline, fail_above)
    cfg = dict(PROFILES["quick" if args.quick else "full"])
    if args.repeat is not None:
        cfg["repeat"] = args.repeat
    sections = set(args.only or ("c", "python", "memory", "containers"))
    started = time.monotonic()

    reason: str | None = None
    bffi, blib = _load_bench_c()
    if bffi is None:
        reason, blib = blib, None
    allocs: Allocators | None  # None: released before a re-exec
    allocs = {}  # (assigned apart: mypy narrows an assignment, not a declaration)
    if blib is not None:
        if (
            blib.bench_set_clock(
                blib.BENCH_CLOCK_CPU if args.clock == "cpu" else blib.BENCH_CLOCK_WALL
            )
            != 0
        ):
            print(f"the {args.clock} clock is not available", file=sys.stderr)
            return 2
        allocs = open_allocators(bffi, blib)
        if _needs_tls_reexec(allocs) and not args.no_reexec and "c" in sections:
            allocs = None  # release before the child runs
            return _reexec(argv)

    trace_path = find_trace(args.trace) if "c" in sections else None
    steps = 0
    if "c" in sections and blib is not None:
        steps += len(PATTERNS) * len(SIZES) + 1 + thread_steps()
    if "python" in sections:
        steps += cfg["repeat"]
    if "memory" in sections and blib is not None:
        steps += len(MEMORY_SIZES)
    if "containers" in sections:
        steps += 2
    steps += sum(1 for name in INTEGRATIONS if name in sections)
    progress = Progress(steps, enabled=not args.no_progress)

    data: JsonObject = {
        "schema": SCHEMA,
        "quick": bool(args.quick),
        "repeat": cfg["repeat"],
        "clock": args.clock,
        "config": cfg,
        "machine": machine_info(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),  # titles the plots
        "allocators": {name: info for name, (_, info) in allocs.items()}
        if allocs
        else {
            name: {"label": label, "ran": False, "note": reason} for name, _, label in ALLOCATORS
        },
    }
    try:
        if "c" in sections:
            if blib is None:
                data["c_level_skipped"] = reason
                data["c_level"] = []
            else:
                data["c_level"] = run_c_level(bffi, blib, allocs, cfg, progress, trace_path)
                add_ratios(data["c_level"])
                data["threads"] = run_threads(
                    bffi, blib, cfg, progress, data["machine"].get("cpus")
                )
        if "python" in sections:
            data["python_level"] = run_python_level(bffi, blib, cfg, args.clock, progress)
        if "memory" in sections:
            if blib is None:
                data["memory_skipped"] = reason
                data["memory"] = []
            else:
                data["memory"] = run_memory(bffi, blib, cfg, progress)
        if "containers" in sections:
            data["containers"] = run_containers(cfg, args.clock, progress)
        run_integrations(data, sections, cfg["repeat"], progress)
    finally:
        progress.close()
    data["targets"] = evaluate_targets(data)
    data["elapsed_s"] = round(time.monotonic() - started, 2)
    with contextlib.suppress(OSError):
        data["loadavg_end"] = list(os.getloadavg())
    return _finish(data, json_path, plot_path, baseline, args.baseline, fail_above)


def _finish(
    data: JsonObject,
    json_path: str | None,
    plot_path: str | None,
    baseline: JsonObject | None,
    baseline_path: str | None,
    fail_above: float | None,
) -> int:
    """Reports, writes and compares a run (just measured or loaded); the exit status."""
    data["warnings"] = warnings(data)
    print(format_report(data))
    if json_path:
        with atomic_open(json_path, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
        print(f"JSON written to {json_path}", file=sys.stderr)
    if plot_path:
        from . import plot as bench_plot

        for written in bench_plot.plot_sections(data, plot_path):
            print(f"plot written to {written}", file=sys.stderr)
    if baseline is not None:
        lines, regressed = format_comparison(baseline, data, fail_above, str(baseline_path))
        print("\n" + "\n".join(lines))
        if regressed:
            print(
                f"python -m pool bench: {regressed} figure(s) worse than the baseline by more "
                f"than {fail_above:.2f}x",
                file=sys.stderr,
            )
            return 1
    return 0
