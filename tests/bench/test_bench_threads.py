"""The contended benchmark runs (csrc/bench/bench_threads.c, pool.bench.threads):
every pattern runs to the end on every allocator kind that is thread-safe
where it is shared, the producer-consumer handover checks contents, and
the arguments are validated.  (Correctness of what they measure; no
timings are asserted.)"""

import os
import pathlib
import shutil
import subprocess
from array import array

import pytest

bench_c = pytest.importorskip(
    "pool._bench_c", reason="pool._bench_c is not built (python build_pool.py bench)"
)

from pool.bench import threads  # noqa: E402
from pool.bench.common import LIVE  # noqa: E402

pytestmark = pytest.mark.not_under_sanitizer("the benchmark is meaningless under ASan")

ffi, lib = bench_c.ffi, bench_c.lib
ROOT = pathlib.Path(__file__).resolve().parents[2]
WARNINGS = ["-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Wconversion", "-Werror"]
SIZES = array("I", [8, 32, 1, 128, 64, 16, 200, 24])  # 200: past the lists, to malloc


def _run(kind, nallocs, pattern, nthreads, count=2000, live=100):
    note = ffi.new("char[256]")
    handles = []
    for _ in range(nallocs):
        h = lib.bench_allocator_new(kind, note, len(note))
        assert h != ffi.NULL, ffi.string(note)
        handles.append(ffi.gc(h, lib.bench_allocator_delete))
    out = ffi.new("bench_mt_result *")
    buf = ffi.from_buffer("uint32_t[]", SIZES)
    rc = lib.bench_threads(
        ffi.new("bench_allocator *[]", handles),
        nallocs,
        pattern,
        nthreads,
        buf,
        len(SIZES) - 1,
        count,
        live,
        1,
        out,
    )
    return rc, out


@pytest.mark.parametrize("pattern", ["BENCH_LIFO", "BENCH_FIFO", "BENCH_CHURN", "BENCH_PRODCONS"])
@pytest.mark.parametrize("nthreads", [2, 4])
@pytest.mark.parametrize("shared", [True, False])
def test_every_pattern_runs_on_the_thread_safe_pool(pattern, nthreads, shared):
    groups = nthreads // 2 if pattern == "BENCH_PRODCONS" else nthreads
    rc, out = _run(lib.BENCH_POOL_TS, 1 if shared else groups, getattr(lib, pattern), nthreads)
    assert rc == 0
    assert out.pairs == groups * 2000
    assert out.wall_ns > 0 and out.cpu_ns > 0


def test_single_thread_pools_one_per_thread_and_glibc():
    for pattern in (lib.BENCH_LIFO, lib.BENCH_FIFO, lib.BENCH_CHURN):
        assert _run(lib.BENCH_POOL, 4, pattern, 4)[0] == 0
    for pattern in (lib.BENCH_CHURN, lib.BENCH_PRODCONS):
        assert _run(lib.BENCH_GLIBC, 1, pattern, 4)[0] == 0


def test_invalid_arguments():
    assert _run(lib.BENCH_POOL_TS, 1, lib.BENCH_PRODCONS, 3)[0] == lib.BENCH_EINVAL  # odd
    assert _run(lib.BENCH_POOL_TS, 1, 99, 2)[0] == lib.BENCH_EINVAL
    assert (
        _run(lib.BENCH_POOL_TS, 1, lib.BENCH_LIFO, lib.BENCH_MAX_THREADS + 1)[0] == lib.BENCH_EINVAL
    )
    assert (
        _run(lib.BENCH_POOL_TS, 1, lib.BENCH_FIFO, 2, count=150, live=100)[0] == lib.BENCH_EINVAL
    )  # count not a multiple of live


def test_section_cells_and_ratios():
    class Quiet:
        def step(self, _text):
            pass

    cells = threads.run_threads(ffi, lib, {"pairs": 2 * LIVE, "repeat": 1}, Quiet(), 2)
    assert [(c["pattern"], c["threads"]) for c in cells] == [
        (p, n) for p, _, counts, _ in threads.THREAD_PATTERNS for n in counts
    ]
    names = [n for n, *_ in threads.THREAD_ALLOCATORS]
    for c in cells:
        assert list(c["results"]) == names
        assert c["oversubscribed"] == (c["threads"] > 2)
        for name in ("pool-ts shared", "pool-ts/thread", "glibc"):
            assert c["results"][name]["median"] > 0, (c["pattern"], c["threads"], name)
        single = c["results"][threads.SINGLE_THREAD]
        assert ("skipped" in single) == (c["pattern"] == "prodcons")
        med = {n: r["median"] for n, r in c["results"].items() if "median" in r}
        for n in med:  # throughput ratios: higher is better
            assert c["x_glibc"][n] == pytest.approx(med[n] / med["glibc"]), n
            assert c["x_per_thread"][n] == pytest.approx(med[n] / med[threads.PER_THREAD]), n
    text = "\n".join(
        threads.format_threads({"threads": cells, "machine": {"cpus": 2}, "repeat": 1})
    )
    assert "prodcons x4*" in text and "more threads than CPUs" in text
    target, cached, scaling, single = threads.thread_targets({"threads": cells})
    worst = min(c["x_glibc"][threads.SHARED] for c in cells if c["threads"] == 2)
    assert target["worst"] == round(worst, 3) and target["met"] is (worst >= 1.0)
    assert "glibc" in target["measured"]
    two = [c for c in cells if c["threads"] == 2]
    assert cached["met"] is all(
        c["x_glibc"][threads.CACHED] >= 1.0 and c["x_per_thread"][threads.CACHED] >= 0.8
        for c in two
    )
    assert "4 threads" in scaling["target"] and scaling["measured"].count("vs") == 4
    cpu = {
        c["pattern"]: c["results"][threads.CACHED]["cpu_ns_per_pair"]["median"]
        / c["results"][threads.SINGLE_THREAD]["cpu_ns_per_pair"]["median"]
        for c in cells
        if c["threads"] == 1
    }
    assert single["worst"] == round(max(cpu.values()), 3)
    assert single["met"] is (max(cpu.values()) <= 1.1)
    assert "CPU ns" in text


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_contended_runs_are_clean_under_thread_sanitizer(tmp_path):
    """The harness and the pool's lock under TSan: every pattern on one shared
    pool and on one pool per thread (pair), 4 threads."""
    exe = tmp_path / "bench_threads_run"
    bench = ROOT / "csrc" / "bench"
    sources = [
        bench / "bench_loops.c",
        bench / "bench_threads.c",
        *sorted((ROOT / "csrc").glob("*.c")),
        ROOT / "tests" / "c" / "bench_threads_run.c",
    ]
    build = subprocess.run(
        [
            "gcc",
            "-std=c11",
            "-D_GNU_SOURCE",
            "-O1",
            "-g",
            "-fsanitize=thread",
            *WARNINGS,
            f"-I{ROOT / 'csrc'}",
            f"-I{bench}",
            *map(str, sources),
            "-pthread",
            "-ldl",
            "-o",
            str(exe),
        ],
        capture_output=True,
        text=True,
    )
    if build.returncode != 0 and "tsan" in build.stderr.lower() and "cannot find" in build.stderr:
        pytest.skip(f"no TSan runtime (Debian package libtsan*): {build.stderr[-300:]}")
    assert build.returncode == 0, build.stderr
    env = dict(os.environ, TSAN_OPTIONS="halt_on_error=1 exitcode=66")
    result = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "all checks passed" in result.stdout


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.not_under_sanitizer("builds its own program; runs in the normal suite")
def test_tight_loop_program(tmp_path):
    """csrc/bench/tight_loop.c (docs/performance.md's tight loop) builds
    warning-free and runs on a shared pool with and without caches, and on
    malloc."""
    from helpers import C_WARNINGS, CORE_SOURCES

    exe = tmp_path / "tight_loop"
    subprocess.run(
        ["gcc", "-std=c11", "-O2", "-D_GNU_SOURCE", "-DNDEBUG", *C_WARNINGS]
        + [f"-I{ROOT / 'csrc'}", *CORE_SOURCES, str(ROOT / "csrc/bench/tight_loop.c")]
        + ["-o", str(exe), "-lpthread"],
        check=True,
    )
    for mode in ("pool", "pool-tc", "malloc"):
        out = subprocess.run(
            [str(exe), mode, "2", "20000"], capture_output=True, text=True, check=True
        ).stdout
        assert out.startswith(f"{mode} 2 threads x 20000 pairs of 32 bytes: "), out
    assert subprocess.run([str(exe), "pool", "0"]).returncode == 2  # no threads: refused


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.not_under_sanitizer("builds its own program; runs in the normal suite")
def test_hot_block_layout_program(tmp_path):
    """scripts/hot_block_layout.c (docs/performance.md's calibration of a shared
    line) builds warning-free, prints one time per repeat, and refuses an
    offset that is no block's."""
    from helpers import C_WARNINGS

    exe = tmp_path / "hot_block_layout"
    subprocess.run(
        ["gcc", "-std=c11", "-O2", *C_WARNINGS, str(ROOT / "scripts/hot_block_layout.c")]
        + ["-o", str(exe), "-pthread"],
        check=True,
    )
    out = subprocess.run([str(exe), "3", "0", "0x40"], capture_output=True, text=True, check=True)
    times = [float(t) for t in out.stdout.split()]
    assert len(times) == 3 and all(t > 0 for t in times), out.stdout
    bad = subprocess.run([str(exe), "1", "0", "12"], capture_output=True, text=True)
    assert bad.returncode == 2 and "bad offset 12" in bad.stderr
    assert subprocess.run([str(exe), "1"], capture_output=True).returncode == 2  # no thread
