"""Packaging: the compiled module imports, constants agree, the sdist builds."""

import glob
import pathlib
import re
import subprocess
import sys
import tarfile

import pytest
from pool._pool_c import lib

import pool
from pool import _validate

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_compiled_module_imports():
    assert pool.Pool.__module__ == "pool.core"
    assert pathlib.Path(pool._pool_c.__file__).suffix in (".so", ".pyd")


def test_python_constants_match_c():
    assert _validate.MAX_MAX_SMALL == lib.SGI_POOL_MAX_MAX_SMALL
    assert _validate.MAX_REFILL == lib.SGI_POOL_MAX_REFILL
    p = pool.Pool()
    assert (p.align, p.max_small, p.refill) == (
        lib.SGI_POOL_DEFAULT_ALIGN,
        lib.SGI_POOL_DEFAULT_MAX_SMALL,
        lib.SGI_POOL_DEFAULT_REFILL,
    )


def test_default_pool_is_shared():
    assert pool.default_pool() is pool.default_pool()
    a = pool.default_pool().allocate(16)
    pool.default_pool().deallocate(a, 16)


def test_demo_runs():
    out = subprocess.run(
        [sys.executable, "-m", "pool", "demo"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert "A+304" in out and "5464" in out


def test_sdist_builds_and_contains_the_c_core(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--sdist",
            "--no-isolation",
            "--outdir",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    [sdist] = tmp_path.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
    for needed in (
        "build_pool.py",
        "setup.py",
        "pyproject.toml",
        "csrc/sgi_pool.c",
        "csrc/core/classic.c",
        "csrc/sgi_pool.h",
        "csrc/sgi_pool.cdef",
        "pool/core.py",
        "csrc/python/fast.c",
        "csrc/bench/bench_loops.c",
        "csrc/preload/trace_recorder.c",
    ):
        assert any(n.endswith("/" + needed) for n in names), needed


@pytest.mark.parametrize(
    "argv",
    [
        ["diff", "--ops", "-5"],
        ["diff", "--ops", "0"],
        ["diff", "--ops", "many"],
        ["bench", "--repeat", "0"],
        ["replay", "x.trace", "--refill", "-1"],
        ["replay", "x.trace", "--max-small", "0"],
    ],
)
def test_cli_counts_must_be_positive(argv):
    """A negative, zero or non-numeric count is a usage error (exit 2), never
    a run that reports success."""
    out = subprocess.run(
        [sys.executable, "-m", "pool", *argv], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2, out
    assert "must be at least 1" in out.stderr or "whole number" in out.stderr
    assert "agree" not in out.stdout


def test_convert_max_ops_must_be_positive():
    out = subprocess.run(
        [sys.executable, "-m", "pool.traces", "convert", "a", "b", "--max-ops", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "must be at least 1" in out.stderr


def test_help_lists_every_command_and_each_has_examples():
    from pool.__main__ import COMMANDS

    out = subprocess.run(
        [sys.executable, "-m", "pool", "--help"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0
    for name, (line, _) in COMMANDS.items():
        assert f"  {name}" in out.stdout and line in out.stdout
        sub = subprocess.run(
            [sys.executable, "-m", "pool", name, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sub.returncode == 0, sub.stderr
        assert "examples:" in sub.stdout and f"python -m pool {name}" in sub.stdout
    demo = subprocess.run(
        [sys.executable, "-m", "pool", "demo", "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    assert "A+304" in demo and "chunk A" in demo  # the notation is explained


def test_unknown_command_is_a_usage_error():
    out = subprocess.run(
        [sys.executable, "-m", "pool", "nope"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2 and "unknown command 'nope'" in out.stderr


def test_moved_modules_keep_their_old_import_paths():
    """pool.testing names what it named before the model moved to pool.model;
    the old module paths still import, with a DeprecationWarning."""
    import importlib

    from pool.model import ReferencePool
    from pool.testing import Lockstep
    from pool.testing import ReferencePool as Old

    assert Old is ReferencePool and Lockstep.__module__ == "pool.testing.diff"
    for name, attr in (("reference", "ReferencePool"), ("snapshot", "PoolSnapshot")):
        sys.modules.pop(f"pool.testing.{name}", None)
        with pytest.warns(DeprecationWarning, match=f"pool.model.{name}"):
            old = importlib.import_module(f"pool.testing.{name}")
        assert getattr(old, attr) is getattr(importlib.import_module(f"pool.model.{name}"), attr)


# Paths that exist only after a build (or are placeholders in prose).
# ("pool/thread": a benchmark row's name, not a path)
_BUILT_OR_PLACEHOLDER = (
    "pool/include",
    "pool/bench/csrc",  # the C++ benchmark's sources, copied there by build_pool.py
    "pool/_pool_c.c",
    "pool/_bench_c.c",
    "tests/__pycache__",
    "pool/thread",
)
_PATH = re.compile(
    r"(?<![\w/.-])((?:csrc|pool|tests|scripts|docs|fuzz|bench|tools)/[\w./*\[\]-]*[\w\]])"
)


def test_every_file_a_doc_or_comment_names_exists():
    """Each repository path that a tracked file names (docs, comments, messages)
    exists, so no reader is sent to a file that moved.  CHANGELOG.md keeps the
    old names on purpose (its map of what moved where)."""
    if not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout (git ls-files)")
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    missing = []
    for name in tracked:
        if name == "CHANGELOG.md" or name.startswith("fuzz/corpus") or name.endswith(".gz"):
            continue
        try:
            text = (ROOT / name).read_text()
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        for m in _PATH.finditer(text):
            path = m.group(1).rstrip(".")
            if path.startswith(_BUILT_OR_PLACEHOLDER) or path.endswith("/NAME"):
                continue
            if path.endswith("]") and "[" not in path:  # a Markdown link's bracket
                path = path[:-1]
            if path.endswith(".[ch]"):  # foo.[ch]: foo.c and foo.h
                path = path[:-5] + ".c"
            if not glob.glob(str(ROOT / path)) and not (ROOT / path).exists():
                missing.append(f"{name}: {path}")
    assert not missing, "\n".join(missing)
