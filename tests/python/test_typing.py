"""The package passes `mypy --strict` (the [tool.mypy] section of pyproject.toml)."""

import importlib.util
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.slow  # a fresh mypy run; .ci/run also runs mypy among its habit checks
@pytest.mark.skipif(
    importlib.util.find_spec("mypy") is None,
    reason="mypy is not installed (it is in the test extra: pip install -e '.[test]')",
)
def test_mypy_strict_is_clean(tmp_path):
    # From the repository root, so that pyproject.toml's [tool.mypy] applies (strict,
    # files = ["pool"]); a fresh cache outside the tree, so nothing stale passes.
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success: no issues found" in proc.stdout
