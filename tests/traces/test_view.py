"""pool.view: the data behind the pictures, exactly; each picture file is written."""

import contextlib
import os
import subprocess
import sys

import pytest

from pool import Pool, ReferencePool
from pool.view import Watch, picture, show
from pool.view import text as view_text
from pool.view.model import Segment
from pool.view.steps import HEAP_LIMIT_OPS, WORKED_EXAMPLE_OPS, shipped_trace

POOLS = [Pool, ReferencePool]


def watched(pool_type, ops, **options):
    w = Watch(pool_type(**options))
    for op in ops:
        with contextlib.suppress(MemoryError):
            w.apply(op)
    return w


def free_run(offset, count, size, state="free"):
    return [Segment(offset + k * size, size, state, size) for k in range(count)]


# After call 6 of the worked example (docs/algorithm.md, tests/core/test_algorithm_examples.py):
# A+0 freed by call 5, A+8 live (call 2), A+16..A+152 free, A+160 live (call 3),
# A+184..A+280 free 24-byte blocks, A+304 the 16-byte leftover of step 3.2;
# B+0 live (call 6), B+128..B+2432 free, B+2560..B+5144 the current chunk.
CALL6_A = (
    [Segment(0, 8, "free", 8), Segment(8, 8, "live", 8)]
    + free_run(16, 18, 8)
    + [Segment(160, 24, "live", 24)]
    + free_run(184, 5, 24)
    + [Segment(304, 16, "leftover", 16)]
)
CALL6_B = (
    [Segment(0, 128, "live", 128)]
    + free_run(128, 19, 128)
    + [Segment(2560, 2584, "uncarved", None)]
)


@pytest.mark.parametrize("pool_type", POOLS)
@pytest.mark.parametrize("checked", [True, False])
def test_worked_example_after_call_6(pool_type, checked):
    w = watched(pool_type, WORKED_EXAMPLE_OPS[:6], checked=checked)
    pic = picture(w)
    a, b = pic.strips
    assert (a.label, a.size, b.label, b.size) == ("A", 320, "B", 5144)
    assert list(a.segments) == CALL6_A
    assert list(b.segments) == CALL6_B
    assert (a.current, b.current, pic.current) == (None, (2560, 5144), (1, 2560, 5144))
    lists = {fl.block_size: fl for fl in pic.free_lists if fl.length}
    assert sorted(lists) == [8, 16, 24, 128]
    assert lists[8].names() == ("A+0",) + tuple(f"A+{8 * k}" for k in range(2, 20))
    assert lists[16].names() == ("A+304",) and lists[16].leftovers == (True,)
    assert lists[24].names() == tuple(f"A+{184 + 24 * k}" for k in range(5))
    assert lists[128].names() == tuple(f"B+{128 * k}" for k in range(1, 20))
    assert not any(lists[8].leftovers + lists[24].leftovers + lists[128].leftovers)
    assert (pic.heap_size, pic.held, pic.large_sizes) == (5464, 5664, (200,))
    assert pic.live_sizes_known and pic.leftovers_known and pic.notes() == []
    # granule by granule: 40 in A, the last two the leftover's
    grains = a.granules(8)
    assert len(grains) == 40 and grains[38:] == (("leftover", 16),) * 2
    assert grains[:3] == (("free", 8), ("live", 8), ("free", 8))
    w.pool.close()


@pytest.mark.parametrize("pool_type", POOLS)
def test_worked_example_at_the_end(pool_type):
    pic = picture(watched(pool_type, WORKED_EXAMPLE_OPS))
    a = pic.strips[0]
    assert a.segments[0] == Segment(0, 8, "live", 8)  # call 8 popped A+0 again
    assert a.segments[-1] == Segment(304, 16, "live", 16)  # call 7 took the leftover
    assert not any(any(fl.leftovers) for fl in pic.free_lists)
    lengths = {fl.block_size: fl.length for fl in pic.free_lists if fl.length}
    assert lengths == {8: 18, 24: 5, 128: 19}


def test_a_pool_seen_once_says_what_it_cannot_know():
    with Pool(checked=False) as p:
        a0 = p.allocate(8)
        for n in (8, 24, 200):
            p.allocate(n)
        p.deallocate(a0, 8)
        p.allocate(128)  # call 6: the leftover A+304 goes to the 16-byte list
        pic = picture(p)
        a = pic.strips[0]
        # the live blocks are runs of unknown blocks; the leftover is an ordinary free block
        assert Segment(8, 8, "live", None) in a.segments
        assert Segment(160, 24, "live", None) in a.segments
        assert a.segments[-1] == Segment(304, 16, "free", 16)
        assert not pic.live_sizes_known and not pic.leftovers_known and len(pic.notes()) == 2
    with Pool() as p:  # a checked pool knows its live blocks, not its leftovers
        p.allocate(8)
        p.allocate(24)
        p.allocate(8)
        pic = picture(p)
        assert pic.live_sizes_known and not pic.leftovers_known
        assert Segment(160, 24, "live", 24) in pic.strips[0].segments


def test_picture_of_a_snapshot_is_the_picture_of_the_pool():
    with Pool(align=16) as p:
        p.allocate(24)
        p.allocate(100)
        assert picture(p.snapshot(), align=16) == picture(p)


@pytest.mark.parametrize("checked", [True, False])
def test_watch_agrees_with_the_pool_and_the_model_over_a_trace(checked):
    """3000 operations of sqlite3: the Watch's live blocks are the checked pool's
    own record, its leftovers are on their lists, and Pool and ReferencePool give
    the same picture and name the same steps."""
    ops = shipped_trace(count=3000)
    c = watched(Pool, ops, checked=checked)
    r = watched(ReferencePool, ops, checked=checked)
    pc, pr = picture(c), picture(r)
    assert pc == pr
    assert [s.kind for s in c.steps] == [s.kind for s in r.steps]
    assert [s.lines for s in c.steps] == [s.lines for s in r.steps]
    if checked:
        # the pool knows a small block by its block size, the Watch by the size asked for
        assert {a: (n + 7) & ~7 for a, n in c.live.items()} == {
            a: n for a, n in c.pool.live_blocks().items() if n <= 128
        }
    for addr, size in c.leftovers.items():
        assert addr in c.pool.free_list(size // 8 - 1)
    kinds = {s.kind for s in c.steps}
    assert {
        "pop",
        "push",
        "refill branch 1",
        "refill branch 2",
        "refill branch 3",
        "first level",
    } <= kinds
    assert any("leftover" in s.events for s in c.steps) and c.leftovers
    checked_pic = picture(watched(Pool, ops))
    assert pc.strips == checked_pic.strips  # unchecked + Watch knows as much as checked
    for w in (c, r):
        w.pool.close()


def test_steps_of_the_worked_example():
    w = watched(Pool, WORKED_EXAMPLE_OPS)
    assert [s.kind for s in w.steps] == [
        "refill branch 3",
        "pop",
        "refill branch 2",
        "first level",
        "push",
        "refill branch 3",
        "pop",
        "pop",
    ]
    assert [s.result_name for s in w.steps] == [
        "A+0",
        "A+8",
        "A+160",
        "a large block",
        "-",
        "B+0",
        "A+304",
        "A+0",
    ]
    six = dict(w.steps[5].lines)
    assert six["A.7 3.1"] == "a new chunk: bytes_to_get = 2 * 2560 + round_up(320 >> 4) = 5144"
    assert six["A.7 3.2"] == "the leftover tail A+304 (16 bytes) -> free_list[1]"
    assert "leftover" in w.steps[5].events and "chunk" in w.steps[5].events
    assert dict(w.steps[2].lines)["A.7 2"] == (
        "the tail holds 6: nobjs = 160 / 24 = 6, 144 bytes carved"
    )
    w.pool.close()


def test_steps_of_salvage_and_refusal():
    w = watched(Pool, HEAP_LIMIT_OPS, heap_limit=400)
    assert [s.kind for s in w.steps] == [
        "refill branch 3",
        "refill branch 2",
        "salvage",
        "refused",
        "push",
        "pop",
    ]
    salvage = dict(w.steps[2].lines)
    assert salvage["A.7 3.4"].startswith("salvage: free_list[4] is the first non-empty list")
    assert "A+200 (40 bytes)" in salvage["A.7 3.4"]
    refused = w.steps[3]
    assert "A.7 3.5" in dict(refused.lines) and {"refused", "leftover"} <= refused.events
    assert w.leftovers == {w.steps[0].result + 232: 8}  # the salvaged block's 8-byte tail
    pic = picture(w)
    assert pic.current is None and pic.free_lists[0].leftovers[0]
    w.pool.close()


def test_steps_of_reallocate():
    w = Watch(Pool())
    a = w.allocate(20)
    assert w.reallocate(a, 20, 24) == a and w.last.kind == "same block"
    b = w.reallocate(a, 24, 40)
    assert w.last.kind == "refill branch 2" and [x for x, _ in w.last.lines][0] == "A.9 3"
    assert w.last.lines[-1] == ("A.8", "push A+0 on the head of free_list[2] (24-byte blocks)")
    assert w.live == {b: 40}
    w.pool.close()


def test_text_of_the_worked_example():
    pic = picture(watched(Pool, WORKED_EXAMPLE_OPS[:6]))
    out = view_text.render(pic)
    assert "    +0 state .#..................###...............oo\n" in out
    assert "class 000000000000000000002--2--2--2--2--2--1-\n" in out
    assert "free_list[ 1]   16 bytes:    1 block  A+304 o -> NULL" in out
    assert "current chunk B+2560 .. B+5144" in out
    w = watched(Pool, WORKED_EXAMPLE_OPS[:6])
    assert show(w) == out
    w.pool.close()


def run_cli(*args, stdin=subprocess.DEVNULL):
    return subprocess.run(
        [sys.executable, "-m", "pool", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=stdin,
    )


def test_cli_help_lists_show():
    out = run_cli("--help").stdout
    assert "show" in out and "chunk map" in out


def test_cli_show_text_of_the_example():
    proc = run_cli("show", "--example", "--text")
    assert proc.returncode == 0, proc.stderr
    assert "class 000000000000000000002--2--2--2--2--2--1-" in proc.stdout
    proc = run_cli("show", "--example", "--text", "--at", "6")
    assert "A+304 o -> NULL" in proc.stdout


def test_demo_steps_runs_without_a_terminal():
    proc = run_cli("demo", "--steps")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for needed in (
        "A.7 3.2   the leftover tail A+304 (16 bytes) -> free_list[1]",
        "(salvage)",
        "(refused, leftover)",
        "A.7 3.4",
        "refill branch 2",
        "sqlite3.trace.gz",
        "chunk map",
    ):
        assert needed in out, needed
    assert "Enter" not in out  # it did not wait


# ---- pictures written (matplotlib: the "plot" extra) ----------------------------------------

SANITIZER_SKIP = (
    "under scripts/sanitize.sh: matplotlib's C++ extension (ft2font) fails ASan's"
    " __cxa_throw interceptor under the preload; the figures are drawn in the normal"
    " run"
)


def needs_matplotlib():
    if os.environ.get("POOL_UNDER_SANITIZER"):
        pytest.skip(SANITIZER_SKIP)
    pytest.importorskip(
        "matplotlib",
        reason="matplotlib is not installed (pip install"
        " 'pool[plot]'): the figure files were not drawn",
    )


def is_png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_show_writes_a_png(tmp_path):
    needs_matplotlib()
    w = watched(Pool, WORKED_EXAMPLE_OPS[:6])
    assert show(w, tmp_path / "chunks.png") == str(tmp_path / "chunks.png")
    assert is_png(tmp_path / "chunks.png")
    with Pool(checked=False) as p:
        p.allocate(8)
        show(p, tmp_path / "unchecked.png")
    assert is_png(tmp_path / "unchecked.png")
    w.pool.close()


def test_cli_show_writes_a_png_after_a_trace(tmp_path):
    needs_matplotlib()
    from pathlib import Path

    import pool.traces
    from pool.view.steps import SMALL_TRACE

    trace = Path(pool.traces.__file__).parent / "data" / SMALL_TRACE
    out = tmp_path / "trace.png"
    proc = run_cli("show", str(trace), "--at", "500", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert is_png(out)


# ---- timelines ----------------------------------------------------------------------------


def test_timeline_of_the_worked_example():
    from pool.view.timeline import collect

    tl = collect(WORKED_EXAMPLE_OPS, {})
    assert tl.heap_size == [320] * 5 + [5464] * 3
    assert tl.chunks == [1] * 5 + [2] * 3
    assert tl.held == [320, 320, 320, 520, 520, 5664, 5664, 5664]
    assert tl.live_bytes == [8, 16, 40, 240, 232, 360, 376, 384]
    assert tl.live[0] == [1, 2, 2, 2, 1, 1, 1, 2] and tl.free[0] == [19, 18, 18, 18, 19, 19, 19, 18]
    assert tl.free[1] == [0] * 5 + [1, 0, 0]  # the leftover, then call 7 takes it
    assert tl.events == {
        "refill": [1, 3, 6],
        "chunk": [1, 6],
        "leftover": [6],
        "salvage": [],
        "refused": [],
        "trim": [],  # no trim_every: no trims
    }


def test_timeline_peaks_are_the_replays_and_a_refusal_stops_it():
    from pool.traces import replay
    from pool.view.timeline import collect

    ops = shipped_trace(count=5000)
    tl = collect(ops, {"refill": 64})
    result = replay(ops, lambda: Pool(refill=64))
    assert (tl.peak("held"), tl.peak("live_bytes")) == (result.held_bytes, result.peak_live_bytes)
    assert tl.chunks[-1] == len(tl.events["chunk"]) and tl.operations == 5000
    limited = collect(HEAP_LIMIT_OPS, {"heap_limit": 400})
    assert limited.events["salvage"] == [3] and limited.events["refused"] == [4]
    assert limited.operations == 3 and "operation 4" in limited.stopped


def test_compare_option_sets():
    from pool.view.timeline import compare, parse_options

    assert parse_options("refill=64,max-small=64") == {"refill": 64, "max_small": 64}
    assert parse_options("checked=false") == {"checked": False}
    for bad in ("refil=3", "refill", "refill=x", "checked=1"):
        with pytest.raises(ValueError):
            parse_options(bad)
    a, b = compare(WORKED_EXAMPLE_OPS, {"refill": 20}, [{"refill": 20}, {"refill": 1}])
    assert (a.label, b.label) == ("refill=20", "refill=1")
    assert b.heap_size[0] == 16  # refill=1: 2 * 8 + 0 bytes


def test_cli_replay_compare_prints_each_option_set():
    from pathlib import Path

    import pool.traces
    from pool.view.steps import SMALL_TRACE

    trace = Path(pool.traces.__file__).parent / "data" / SMALL_TRACE
    proc = run_cli("replay", str(trace), "--compare", "refill=20", "refill=64")
    assert proc.returncode == 0, proc.stderr
    assert "  refill=20 " in proc.stdout and "  refill=64 " in proc.stdout
    assert run_cli("replay", str(trace), "--compare", "refil=3").returncode == 2


@pytest.mark.slow  # draws figures with matplotlib (CI runs it with --runslow)
def test_cli_replay_plot_writes_a_png(tmp_path):
    needs_matplotlib()
    from pathlib import Path

    import pool.traces
    from pool.view.steps import SMALL_TRACE

    trace = Path(pool.traces.__file__).parent / "data" / SMALL_TRACE
    out = tmp_path / "timelines.png"
    proc = run_cli("replay", str(trace), "--compare", "refill=20", "refill=64", "--plot", str(out))
    assert proc.returncode == 0, proc.stderr
    assert is_png(out)


def test_more_chunks_than_rows_take_one_row_each():
    """66 chunks (docs/algorithm.md's burst of 32768 blocks of 32 bytes) on a
    24-row map: one row per chunk, each character standing for many granules."""
    with Pool(checked=False) as p:
        p.allocate_many(32, 32768)
        pic = picture(p)
        assert len(pic.strips) == 66
        per_char = view_text.granules_per_char(pic, width=64, max_rows=24)
        rows = [line for line in view_text.chunk_map(pic) if " state " in line]
        assert len(rows) == 66 and per_char > 1
        assert all(len(r.split(" state ")[1]) <= 64 for r in rows)


def test_step_through_waits_on_a_terminal_and_quits(monkeypatch):
    from pool.view import steps

    answers = iter(["", "", "q"])
    prompts = []

    def fake_input(prompt):
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr("builtins.input", fake_input)
    lines = []
    assert steps.main(out=lines.append, interactive=True) == 0
    assert len(prompts) == 3  # stopped at "q", in the first example
    calls = [line for line in lines if line.startswith("[")]
    assert [c.split()[0] for c in calls] == ["[1]", "[2]", "[3]"]
    assert not any(line.startswith("== Salvage") for line in lines)


def test_pool_show_is_exported_lazily():
    code = (
        "import sys, pool; assert 'pool.view' not in sys.modules;"
        " from pool import ReferencePool; p = ReferencePool(); p.allocate(8);"
        " text = pool.show(p); assert callable(pool.show) and 'A: 320 bytes' in text;"
        " assert 'matplotlib' not in sys.modules;"
        " assert 'pool._pool_c' not in sys.modules; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr
