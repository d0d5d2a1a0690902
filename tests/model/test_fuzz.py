"""The fuzz target fuzz/fuzz_lockstep.py: its saved inputs replay clean, its
decoder is deterministic and total, and a short atheris run finds nothing.

The replays and decoder tests need no atheris; the short coverage-guided run
is skipped where atheris cannot be imported.  FUZZ_SECONDS sets its length
(default 15)."""

import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pool.testing.diff import PROFILES

ROOT = pathlib.Path(__file__).resolve().parents[2]
FUZZ = ROOT / "fuzz"
TARGET = FUZZ / "fuzz_lockstep.py"

pytestmark = pytest.mark.skipif(not TARGET.exists(), reason="fuzz/ is not here")


def _load_target():
    spec = importlib.util.spec_from_file_location("fuzz_lockstep", TARGET)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fz = _load_target() if TARGET.exists() else None


def _saved_inputs():
    files = []
    for folder in ("corpus", "regressions"):
        d = FUZZ / folder
        if d.is_dir():
            files += sorted(
                p
                for p in d.iterdir()
                if p.is_file() and not p.name.startswith(".") and not p.name.endswith(".md")
            )
    return files


# ---- (a) saved inputs ------------------------------------------------------------


def test_there_are_seed_inputs():
    assert any(p.parent.name == "corpus" for p in _saved_inputs())


@pytest.mark.parametrize("path", _saved_inputs(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_saved_input_replays_clean(path):
    """Every seed and every regression input: C core and reference agree."""
    fz.run(path.read_bytes())


def test_replay_command_line():
    """python fuzz/fuzz_lockstep.py --replay works without atheris."""
    out = subprocess.run(
        [sys.executable, str(TARGET), "--replay", str(FUZZ / "corpus")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ok" in out.stdout


def test_regression_wrong_class_of_a_large_block():
    """Found by the fuzzer: with max_small 48 the runner's wrong-class misuse
    freed a 64-byte (large) block as another large size, which is the same
    class; pool/testing/diff.py now picks a size of another class."""
    data = (FUZZ / "regressions" / "harness-wrong-class-large-small-max").read_bytes()
    profile, ops = fz.decode(data)
    assert (profile, ops) == ("small-max", [("alloc", 1, 64), ("bad", 1, "wrong-class")])
    fz.run_ops(profile, ops)


# ---- (c) the decoder ---------------------------------------------------------------

KINDS = {"alloc", "alloc_many", "free", "free_many", "realloc", "bad", "limit"}


def _is_int(x):
    return type(x) is int


def _safe_size(n):
    """Sizes a pool either serves cheaply or refuses before touching memory."""
    return _is_int(n) and (1 <= n <= 1 << 17 or n in fz.BAD_SIZES)


def _check_op(op, checked):
    assert type(op) is tuple and op and op[0] in KINDS, op
    kind = op[0]
    if kind == "alloc":
        assert len(op) == 3 and _is_int(op[1]) and op[1] >= 1 and _safe_size(op[2]), op
    elif kind in ("alloc_many", "free_many"):
        ids = op[1]
        assert type(ids) is tuple and len(ids) <= fz.MAX_BATCH, op
        assert all(_is_int(i) and i >= 1 for i in ids) and len(set(ids)) == len(ids), op
        if kind == "alloc_many":
            assert len(op) == 3 and _safe_size(op[2]), op
        else:
            assert len(op) == 2, op
    elif kind == "free":
        assert len(op) == 2 and _is_int(op[1]) and op[1] >= 1, op
    elif kind == "realloc":
        assert len(op) == 3 and _is_int(op[1]) and op[1] >= 1 and _safe_size(op[2]), op
    elif kind == "bad":
        assert len(op) == 3 and _is_int(op[1]) and op[2] in fz.MISUSES, op
        if not checked:  # misuse an unchecked pool does not catch would corrupt it
            assert op[2] in ("realloc-freed", "zero"), op
    else:
        assert len(op) == 2 and (op[1] is None or _is_int(op[1])), op


@settings(max_examples=300)
@given(st.binary(max_size=3000))
def test_decode_is_total_deterministic_and_valid(data):
    profile, ops = fz.decode(data)
    assert (profile, ops) == fz.decode(bytes(data)) == fz.decode(bytearray(data))
    assert profile in PROFILES
    assert len(ops) <= fz.MAX_OPS
    checked = PROFILES[profile].get("checked", True)
    for op in ops:
        _check_op(op, checked)


def test_decode_edge_inputs():
    assert fz.decode(b"") == ("classic", [])
    for b in range(256):
        profile, ops = fz.decode(bytes([b]))
        assert profile in PROFILES and ops == []
    # each byte value below len(PROFILES) names that profile (stable as profiles are added)
    for i, name in enumerate(PROFILES):
        assert fz.decode(bytes([i]))[0] == name
    # long inputs stop at MAX_OPS
    assert len(fz.decode(bytes(range(256)) * 40)[1]) == fz.MAX_OPS


@settings(max_examples=25)
@given(st.binary(min_size=1, max_size=300))
def test_random_inputs_agree(data):
    """A little fuzzing without atheris (hypothesis draws the bytes)."""
    fz.run(data)


# ---- (b) a short coverage-guided run ----------------------------------------------------


@pytest.mark.not_under_sanitizer(
    "atheris gets no coverage under the preloaded gcc ASan runtime (it takes the coverage "
    "hooks); the saved inputs replay under it above"
)
@pytest.mark.slow  # a fuzzing campaign
def test_short_atheris_run(tmp_path):
    if importlib.util.find_spec("atheris") is None:
        pytest.skip("atheris is not installed (pip install atheris): no coverage-guided run")
    seconds = os.environ.get("FUZZ_SECONDS", "15")
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        FUZZ_ARTIFACTS=str(tmp_path / "artifacts"),
        TMPDIR=str(tmp_path),
    )
    out = subprocess.run(
        ["bash", str(FUZZ / "run.sh"), seconds],
        capture_output=True,
        text=True,
        env=env,
        timeout=int(seconds) + 120,
    )
    log = out.stdout + out.stderr
    if out.returncode == 3 and "not importable" in log:
        pytest.skip("atheris cannot be imported: " + log.strip().splitlines()[-1])
    assert out.returncode == 0, "fuzzing found something:\n" + log[-6000:]
    assert "stat::number_of_executed_units" in log, log[-3000:]
