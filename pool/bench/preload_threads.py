"""Multi-threaded programs under LD_PRELOAD: ``python -m pool bench --only preload-threads``.

Two workloads, each run under glibc's malloc (no preload), libsgipool.so as set by
default (thread caches, C++ sized deletes freed with their size), without its
thread caches (``POOL_PRELOAD_THREAD_CACHE=0``) and without the sized deletes
(``POOL_PRELOAD_SIZED_DELETE=0``: every free looks its block up, as before issue
25's change), and libjemalloc.so / libmimalloc.so when installed (found as
pool.bench.programs finds them), interleaved in a rotated order, at least 5
repeats:

- ``sort --parallel=2 -S 100M`` of a generated 400,000-line file (seeded, so
  the same file every run).  With a 100 MiB buffer the whole file is one
  buffer and GNU sort sorts it with a second thread (one clone, seen with
  strace); with -S 10M or less it sorts pieces one at a time, with no thread.
  sort keeps its lines in that one buffer: the pool serves only about 200
  small requests of the run (locale data; about 6 under LC_ALL=C).
- csrc/bench/threads_containers.cpp (compiled here with g++ -O2 -pthread): 4
  threads building and tearing down std::map and std::list of small nodes, a
  quarter of the lists freed by another thread; 1,200 rounds of 2,000 nodes, about
  a second on glibc (150 rounds, 0.12-0.15 s, spread 20-37% between runs on a
  shared machine: too short to tell a few per cent).

Per process: wall time and peak RSS; every run's output must be identical to
glibc's (a row says so when it is not).  The peak RSS is GNU time's (%M: wait4's
rusage of a child it forks): Linux carries the peak of the process that
spawns a program into the program's own ru_maxrss, so a child started straight
from this (large) Python process would report at least this process's peak.
Without /usr/bin/time the rows say that their RSS has that floor.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from pool import preload
from pool._atomic import atomic_open

from .common import REPO, JsonObject, summarize
from .containers import SHIPPED
from .programs import OTHERS, find_library, run_once

GNU_TIME = "/usr/bin/time"

MIN_REPEATS = 5
SORT_LINES = 400_000
SORT_SEED = 25
SORT_BUFFER = "100M"  # the whole file in one buffer: sort's threads run (see above)
CXX_ARGS = ("4", "1200", "2000")  # threads, rounds, nodes per container: about 1 s
CXX_SOURCE = Path("bench") / "threads_containers.cpp"
WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")


def write_sort_input(path: str, lines: int = SORT_LINES, seed: int = SORT_SEED) -> None:
    """A deterministic file of `lines` short lines (a word, hex, a number, a word)."""
    rng = random.Random(seed)
    with atomic_open(path, "w", encoding="ascii") as f:
        for _ in range(lines):
            f.write(
                f"{rng.choice(WORDS)}-{rng.getrandbits(32):08x} {rng.randrange(10**6)} "
                f"{rng.choice(WORDS)}\n"
            )


def cxx_source() -> Path | None:
    """threads_containers.cpp in a checkout's csrc/, else in the installed copy."""
    for csrc in (REPO / "csrc", SHIPPED):
        if (csrc / CXX_SOURCE).is_file():
            return csrc / CXX_SOURCE
    return None


def build_cxx_program(out_dir: str) -> str:
    """Compiles the threaded C++ program into out_dir; returns its path.
    Raises RuntimeError saying why when it cannot (no g++, no source, an error)."""
    gxx = shutil.which("g++")
    if gxx is None:
        raise RuntimeError("g++ not found (Debian: apt-get install g++)")
    src = cxx_source()
    if src is None:
        raise RuntimeError(f"{CXX_SOURCE.name} is missing from csrc/ and from {SHIPPED}")
    exe = os.path.join(out_dir, "threads_containers")
    done = subprocess.run(
        [gxx, "-std=c++17", "-O2", "-pthread", str(src), "-o", exe],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"compiling {src.name} failed: {done.stderr.strip()[:500]}")
    return exe


def run_measured(
    argv: list[str], env: dict[str, str], library: str | None, scratch: str
) -> tuple[float, int, float | None, str]:
    """Wall seconds, peak RSS in KiB, CPU seconds (user + system; None without GNU
    time) and a digest of stdout of one run of argv (run_once's, with the peak RSS
    and CPU time taken by GNU time when it is installed)."""
    if not os.access(GNU_TIME, os.X_OK):
        seconds, kib, out = run_once(argv, None, env, library)
        return seconds, kib, None, hashlib.sha256(out.encode()).hexdigest()
    report = os.path.join(scratch, "rss.txt")
    environ = dict(os.environ, **env)
    environ.pop("LD_PRELOAD", None)
    environ.pop("POOL_PRELOAD_STATS", None)
    timed = [GNU_TIME, "-o", report, "-f", "%M %U %S", *argv]
    if library is not None:  # on the program, not on GNU time itself
        timed = [GNU_TIME, "-o", report, "-f", "%M %U %S", "env", f"LD_PRELOAD={library}", *argv]
    digest = hashlib.sha256()
    start = time.perf_counter()
    # stderr to a file: a pipe read only after stdout's end could fill and block the child
    with tempfile.TemporaryFile(dir=scratch) as errors:
        with subprocess.Popen(
            timed, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, env=environ
        ) as proc:
            stdout = proc.stdout
            assert stdout is not None
            for block in iter(lambda: stdout.read(1 << 16), b""):
                digest.update(block)
            status = proc.wait()
        errors.seek(0)
        err = errors.read()
    seconds = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(
            f"{argv[0]} under {library or 'glibc'} failed: {err[-500:].decode(errors='replace')}"
        )
    with open(report, encoding="ascii") as f:
        peak, user, system = f.read().split()[-3:]
    return seconds, int(peak), float(user) + float(system), digest.hexdigest()


# (label, library, extra environment): the switches are set both ways, so that a
# POOL_PRELOAD_THREAD_CACHE or _SIZED_DELETE in the caller's environment changes nothing
def variants() -> tuple[list[tuple[str, str | None, dict[str, str]]], list[str]]:
    """The allocators to run, and a note for each one that is missing."""
    lib = preload.library_path()
    found: list[tuple[str, str | None, dict[str, str]]] = [
        ("glibc", None, {}),
        ("sgipool", lib, {"POOL_PRELOAD_THREAD_CACHE": "1", "POOL_PRELOAD_SIZED_DELETE": "1"}),
        (
            "sgipool-nocache",
            lib,
            {"POOL_PRELOAD_THREAD_CACHE": "0", "POOL_PRELOAD_SIZED_DELETE": "1"},
        ),
        (
            "sgipool-nosized",
            lib,
            {"POOL_PRELOAD_THREAD_CACHE": "1", "POOL_PRELOAD_SIZED_DELETE": "0"},
        ),
    ]
    missing = []
    for label, name in OTHERS:
        path = find_library(name)
        if path is None:
            missing.append(f"{label}: {name} not found (Debian: lib{label}2)")
        else:
            found.append((label, path, {}))
    return found, missing


def measure(repeats: int) -> JsonObject:
    """Rows as pool.bench.programs.measure's, plus peak RSS spreads; notes of what
    was skipped.  Raises FileNotFoundError when libsgipool.so is not built."""
    repeats = max(repeats, MIN_REPEATS)
    allocs, notes = variants()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="pool-preload-threads-") as scratch:
        jobs: list[tuple[str, list[str]]] = []
        sort = shutil.which("sort")
        if sort is None:
            notes.append("sort: not installed (coreutils)")
        else:
            data = os.path.join(scratch, "lines.txt")
            write_sort_input(data)
            jobs.append(
                (
                    f"sort --parallel=2 -S {SORT_BUFFER}, {SORT_LINES:,} lines",
                    [sort, "--parallel=2", "-S", SORT_BUFFER, "-T", scratch, data],
                )
            )
        try:
            exe = build_cxx_program(scratch)
        except RuntimeError as e:
            notes.append(f"C++ program: skipped: {e}")
        else:
            jobs.append(
                (
                    f"C++ map/list, {CXX_ARGS[0]} threads (threads_containers.cpp)",
                    [exe, *CXX_ARGS],
                )
            )
        for name, argv in jobs:
            times: dict[str, list[float]] = {a[0]: [] for a in allocs}
            rss: dict[str, list[int]] = {a[0]: [] for a in allocs}
            cpu_s: dict[str, list[float]] = {a[0]: [] for a in allocs}
            outputs: dict[str, set[str]] = {a[0]: set() for a in allocs}
            for r in range(repeats):
                order = allocs[r % len(allocs) :] + allocs[: r % len(allocs)]
                for label, library, env in order:
                    t, kib, cpu, out = run_measured(argv, env, library, scratch)
                    if cpu is not None:
                        cpu_s[label].append(cpu)
                    times[label].append(t)
                    rss[label].append(kib)
                    outputs[label].add(out)
            reference = outputs["glibc"]
            base = statistics.median(times["glibc"])
            base_rss = statistics.median(rss["glibc"])
            for label, _, _ in allocs:
                med = statistics.median(times[label])
                rows.append(
                    {
                        "workload": name,
                        "allocator": label,
                        "median_s": med,
                        **summarize(times[label]),
                        "ratio": med / base,
                        "rss_kib": int(statistics.median(rss[label])),
                        "rss_min_kib": min(rss[label]),
                        "rss_max_kib": max(rss[label]),
                        "rss_ratio": statistics.median(rss[label]) / base_rss,
                        # CPU seconds of the process (all threads): less disturbed
                        # than wall time when other work competes for the cores
                        "cpu": summarize(cpu_s[label]) if cpu_s[label] else None,
                        # one output in every run, the same as every glibc run's
                        "same_output": len(reference) == 1 and outputs[label] == reference,
                        "repeats": repeats,
                    }
                )
    if not os.access(GNU_TIME, os.X_OK):
        notes.append(
            f"{GNU_TIME} not found (Debian: time): peak RSS is the child's ru_maxrss, at "
            "least this benchmark process's own peak"
        )
    return {"rows": rows, "notes": notes}
