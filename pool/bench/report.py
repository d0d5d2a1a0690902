"""The text report of a run."""

from __future__ import annotations

from .common import JsonObject
from .stability import UNSTABLE_SPREAD
from .threads import format_threads

# ---- output ------------------------------------------------------------------------------


def _fmt(x: float | None, width: int = 8, prec: int = 2) -> str:
    return f"{x:{width}.{prec}f}" if x is not None else " " * (width - 1) + "-"


def _spread(cell: JsonObject) -> str:
    """[min-max], with a "?" when the cell may be unstable (stability.py)."""
    median = cell["median"]
    samples = cell.get("samples")  # a saved run may have dropped them
    shaky = (samples is not None and len(samples) < 2) or (
        median > 0 and (cell["max"] - cell["min"]) / median > UNSTABLE_SPREAD
    )
    return f"[{cell['min']:.2f}-{cell['max']:.2f}]{'?' if shaky else ' '}"


def _integrations(data: JsonObject) -> list[str]:
    """The rows of --only numpy / pool-run / programs."""
    lines: list[str] = []
    add = lines.append
    for key, title in (
        ("numpy", "numpy"),
        ("pool_run", "pool run"),
        ("programs", "Programs"),
        ("preload_threads", "Threaded programs"),
    ):
        if f"{key}_skipped" in data:
            add(f"{title}: skipped: {data[key + '_skipped']}")
            add("")
    if data.get("numpy"):
        add(
            f"numpy {data['numpy'][0].get('numpy', '')}: ns per array created and dropped, "
            f"median [min-max] of {data['repeat']}, the handlers interleaved (default-set: "
            "numpy's default set in the context, as an installed handler is)"
        )
        add(f"  {'cell':16s} {'handler':11s} {'median':>8s} {'[min-max]':>18s} {'x default':>9s}")
        for c in data["numpy"]:
            for i, (handler, res) in enumerate(c["results"].items()):
                ratio = res["median"] / c["results"]["default"]["median"]
                add(
                    f"  {c['cell'] if i == 0 else '':16s} {handler:11s} {res['median']:8.2f} "
                    f"{_spread(res):>18s} {ratio:9.3f}"
                )
        add("")
    run = data.get("pool_run")
    if run:
        add(
            f"pool run: the ast/json job, seconds of wall time per process, median [min-max] "
            f"of {run['repeats']}, interleaved"
        )
        for key, label in (("plain", "python"), ("pool_run", "python -m pool run")):
            res = run[key]
            add(
                f"  {label:20s} {res['median']:8.3f} {_spread(res):>16s} "
                f"{res['median'] / run['plain']['median']:6.3f}x python"
            )
        add("")
    if data.get("programs"):
        add(
            "Programs under LD_PRELOAD: seconds of wall time per run (start-up included), "
            f"median [min-max] of {data['programs'][0]['repeats']}, interleaved; peak RSS"
        )
        add(
            f"  {'workload':40s} {'allocator':9s} {'median':>8s} {'[min-max]':>16s} "
            f"{'x glibc':>7s} {'RSS MiB':>8s}"
        )
        last = None
        for row in data["programs"]:
            name = row["workload"] if row["workload"] != last else ""
            last = row["workload"]
            differs = "" if row["same_output"] else "  OUTPUT DIFFERS"
            add(
                f"  {name:40s} {row['allocator']:9s} {row['median']:8.3f} {_spread(row):>16s} "
                f"{row['ratio']:7.2f} {row['rss_kib'] / 1024:8.1f}{differs}"
            )
        add("")
    lines.extend(_preload_threads(data))
    return lines


def _preload_threads(data: JsonObject) -> list[str]:
    """The rows of --only preload-threads: time and peak RSS, each with its spread."""
    rows = data.get("preload_threads")
    if not rows:
        return []
    lines = [
        "Threaded programs under LD_PRELOAD (sgipool: thread caches on; sgipool-nocache: "
        "POOL_PRELOAD_THREAD_CACHE=0; sgipool-nosized: POOL_PRELOAD_SIZED_DELETE=0): "
        "seconds of wall time per run and peak RSS, median "
        f"[min-max] of {rows[0]['repeats']}, interleaved; CPU: user + system seconds, median",
        f"  {'workload':48s} {'allocator':15s} {'median':>7s} {'[min-max]':>13s} "
        f"{'x glibc':>7s} {'RSS MiB':>7s} {'[min-max]':>13s} {'x glibc':>7s} {'CPU s':>6s}",
    ]
    last = None
    for row in rows:
        name = row["workload"] if row["workload"] != last else ""
        last = row["workload"]
        differs = "" if row["same_output"] else "  OUTPUT DIFFERS"
        rss = f"[{row['rss_min_kib'] / 1024:.1f}-{row['rss_max_kib'] / 1024:.1f}]"
        cpu = f"{row['cpu']['median']:6.3f}" if row.get("cpu") else f"{'-':>6s}"
        lines.append(
            f"  {name:48s} {row['allocator']:15s} {row['median']:7.3f} {_spread(row):>13s} "
            f"{row['ratio']:7.2f} {row['rss_kib'] / 1024:7.1f} {rss:>13s} "
            f"{row['rss_ratio']:7.2f} {cpu}{differs}"
        )
    lines.extend(f"  {note}" for note in data.get("preload_threads_notes") or ())
    lines.append("")
    return lines


def format_report(data: JsonObject) -> str:
    lines: list[str] = []
    add = lines.append
    m = data["machine"]
    clock = "thread CPU time" if data["clock"] == "cpu" else "wall time"
    add(
        f"pool bench ({'quick' if data['quick'] else 'full'}): {m.get('cpu_model')}, "
        f"{m.get('cpus')} CPUs, Python {m.get('python')}, {data['repeat']} repeats, "
        f"clock: {clock}"
    )
    if m.get("loadavg"):
        add(f"load average at start: {' '.join(f'{x:.2f}' for x in m['loadavg'])}")
    add("")
    add("Allocators (what really ran):")
    for name, info in data["allocators"].items():
        if info["ran"]:
            add(f"  {name:13s} {info['really']}")
        else:
            add(f"  {name:13s} SKIPPED: {info['note']}")
    add("")
    if "c_level_skipped" in data:
        add(f"C level: skipped: {data['c_level_skipped']}")
    elif "c_level" in data:  # not run with --only
        add(
            "C level: ns per allocate+free pair (trace: per operation), median [min-max] of "
            f"{data['repeat']}; ratios of medians to the floor and to glibc, same run"
        )
        add(
            f"  {'cell':12s} {'allocator':13s} {'median':>8s} {'[min-max]':>16s} "
            f"{'x floor':>8s} {'x glibc':>8s}"
        )
        for cell in data["c_level"]:
            label = f"{cell['pattern']} {cell['size']}" if cell["pattern"] != "trace" else "trace"
            if cell.get("note"):
                add(f"  {label:12s} skipped: {cell['note']}")
                add("")
                continue
            if cell["pattern"] == "trace":
                add(f"  ({cell['description']}; {cell['passes']} passes per run)")
            for i, (name, res) in enumerate(cell["results"].items()):
                lab = label if i == 0 else ""
                if "skipped" in res:
                    add(f"  {lab:12s} {name:13s} skipped: {res['skipped']}")
                    continue
                add(
                    f"  {lab:12s} {name:13s} {res['median']:8.2f} {_spread(res):>16s} "
                    f"{_fmt(cell['ratio_to_floor'].get(name))} "
                    f"{_fmt(cell['ratio_to_glibc'].get(name))}"
                )
            add("")
    lines.extend(format_threads(data))
    if data.get("python_level"):
        add(
            f"Python level: median [min-max] of {data['repeat']}, loop overhead included; "
            "ratios to one bare cffi call and to malloc+free through cffi"
        )
        add(
            f"  {'row':74s} {'unit':9s} {'median':>8s} {'[min-max]':>18s} {'x call':>7s} "
            f"{'x malloc':>8s}"
        )
        for e in data["python_level"]:
            if "skipped" in e:
                add(f"  {e['name']:74s} skipped: {e['skipped']}")
                continue
            add(
                f"  {e['name']:74s} {e['unit']:9s} {e['median']:8.2f} {_spread(e):>18s} "
                f"{_fmt(e['ratio_to_cffi_call'], 7, 3)} {_fmt(e['ratio_to_malloc_free'], 8, 3)}"
            )
        add("")
    if "memory_skipped" in data:
        add(f"Memory: skipped: {data['memory_skipped']}")
        add("")
    if data.get("memory"):
        add(
            f"Memory: {data['memory'][0]['blocks']:,} live blocks; bytes held per requested byte "
            "(malloc chunks in use: mallinfo2 uordblks+hblkhd delta, headers and page rounding "
            "included)"
        )
        add(
            f"  {'size':6s} {'requested':>12s} {'pool':>8s} {'(heap)':>8s} {'checked':>8s} "
            f"{'glibc':>8s}"
        )
        for r in data["memory"]:

            def held(
                name: str, key: str = "held_per_requested", res: JsonObject = r["results"]
            ) -> str:
                return _fmt(res.get(name, {}).get(key), 8, 3)

            add(
                f"  {r['size']:6s} {r.get('requested', 0):12,d} {held('pool')} "
                f"{held('pool', 'heap_size_per_requested')} {held('pool-checked')} {held('glibc')}"
            )
        add(
            "  (pool: unchecked pool, all its malloc chunks, its block directory included; (heap): "
            "its heap_size statistic; checked: a checked pool, its directory's start and live "
            "bits included)"
        )
        add("")
    cont = data.get("containers")
    if cont is not None:
        if "skipped" in cont:
            add(f"C++ containers: skipped: {cont['skipped']}")
        else:
            add(
                f"C++ containers ({cont['compiler']}, -O2): ns per element (insert + erase), "
                f"N={cont['n']}, {cont['rounds']} cycles per run, median [min-max] of "
                f"{cont['repeats']}"
            )
            add(
                f"  {'container':10s} {'allocator':15s} {'median':>8s} {'[min-max]':>18s} "
                f"{'x __pool_alloc':>14s} {'x std::alloc':>12s}"
            )
            for c in cont["cells"]:
                for i, (name, res) in enumerate(c["results"].items()):
                    add(
                        f"  {c['container'] if i == 0 else '':10s} {name:15s} {res['median']:8.2f} "
                        f"{_spread(res):>18s} {_fmt(c['ratio_to_pool_alloc'][name], 14, 3)} "
                        f"{_fmt(c['ratio_to_std_allocator'][name], 12, 3)}"
                    )
        add("")
    lines.extend(_integrations(data))
    add("Targets (this run's medians):")
    for t in data["targets"]:
        mark = {True: "met    ", False: "NOT met", None: "n/a    "}[t["met"]]
        add(f"  [{mark}] {t['target']}: {t['measured']}")
    if data.get("warnings"):
        add("")
        for w in data["warnings"]:
            add(w if w.startswith("  ") else f"WARNING: {w}")
    else:
        add("\nNo figure may be unstable: every spread is within 20% of its median.")
    add("(a ? after [min-max]: that figure may be unstable)")
    add(f"\ntotal time {data['elapsed_s']:.1f} s")
    return "\n".join(lines)
