"""Replays with trim() every N operations (`replay --trim-every N`): the same
results, what the pools hold after a burst, and the pictures that show it."""

import subprocess
import sys

import pytest

from pool import Pool, ReferencePool
from pool.traces import read_trace, replay
from pool.traces.shipped import resolve
from pool.view import Watch, show
from pool.view.timeline import collect


def ops_of(name):
    return read_trace(resolve(name))


def with_burst(ops, count=40_000):
    """A trace followed by a burst of small blocks (16..64 bytes), all freed."""
    first = max((ident for _, ident, _ in ops), default=0) + 1
    burst = [("a", first + k, 16 + 8 * (k % 7)) for k in range(count)]
    return ops + burst + [("f", ident, None) for _, ident, _ in burst]


@pytest.mark.parametrize("name", ["sqlite3", "gcc-cc1", "python3"])
def test_trimmed_replay_holds_no_more(name):
    ops = ops_of(name)
    plain = replay(ops)
    trimmed = replay(ops, trim_every=1000, check=name == "sqlite3")
    assert trimmed.peak_live_bytes == plain.peak_live_bytes
    assert trimmed.final_live_bytes == plain.final_live_bytes
    assert trimmed.held_bytes <= plain.held_bytes
    assert trimmed.final_held_bytes <= plain.final_held_bytes


class _Recorded(Pool):
    """A Pool that remembers, when closed, what it held and its current chunk."""

    seen: dict = {}

    def close(self):
        if not self.closed:
            current = self.current_chunk()
            chunk = next((s for b, s in self.chunks() if current and b <= current[0] < b + s), 0)
            _Recorded.seen = {"held": self.stats().held, "current": chunk}
        super().close()


def test_a_burst_after_a_trace_is_given_back():
    """After the burst is freed and trimmed, held is within 10% of the live
    bytes plus the current chunk; without trims it stays at the burst's peak."""
    ops = with_burst(ops_of("sqlite3"))
    plain = replay(ops, _Recorded)
    untrimmed = _Recorded.seen["held"]
    result = replay(ops, _Recorded, trim_every=1000)
    held, current = _Recorded.seen["held"], _Recorded.seen["current"]
    assert held == result.final_held_bytes
    assert held <= 1.10 * (result.final_live_bytes + current)
    assert untrimmed == plain.final_held_bytes > 3 * held


def test_replay_command_reports_the_trims():
    out = subprocess.run(
        [sys.executable, "-m", "pool", "replay", "sqlite3", "--trim-every", "1000"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "trim              after every 1000 operations and the last:" in out
    bad = subprocess.run(
        [sys.executable, "-m", "pool", "replay", "sqlite3", "--trim-every", "0"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "--trim-every" in bad.stderr


def test_replay_refuses_a_bad_trim_every():
    with pytest.raises(ValueError, match="trim_every"):
        replay(ops_of("sqlite3")[:10], trim_every=-1)


def test_timelines_mark_the_trims_and_held_drops():
    ops = with_burst(ops_of("sqlite3")[:3000], count=5000)
    plain = collect(ops, {"checked": False})
    tl = collect(ops, {"checked": False}, trim_every=1000)
    assert tl.events["trim"] and tl.released_chunks > 0
    assert tl.held[-1] < plain.held[-1] and tl.heap_size[-1] >= plain.heap_size[-1] // 2
    assert "released" in tl.summary()


@pytest.mark.parametrize("pool_type", [Pool, ReferencePool])
def test_the_chunk_map_says_what_was_released(pool_type):
    with pool_type(checked=False) as pool:
        watch = Watch(pool)
        for op in with_burst([], count=3000):
            watch.apply(op)
        released = watch.trim()
        assert released > 0 and "trim" in watch.last.events
        text = show(watch)
        st = pool.stats()
        assert f"released {st.released_chunks} chunks ({released} bytes) by trim()" in text
        assert f"held {st.held}" in text
