"""The suite's parts that apply, on other interpreters: numpy's oldest and
newest versions that the `numpy` extra allows, and PyPy (the pure-cffi path).

.ci/run makes one virtual environment per case and names their interpreters
in POOL_TEST_PYTHONS (os.pathsep-separated); each runs pytest on this
checkout (PyPy after building its own pool._pool_c in place).  Without the
variable these tests skip, saying so."""

import os
import platform
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHONS = [p for p in os.environ.get("POOL_TEST_PYTHONS", "").split(os.pathsep) if p]

# What each kind of interpreter runs: numpy's integration on a numpy venv; on
# PyPy the core, the model, the reference-model tests and the traces (the
# Arena and the integrations need CPython: gc.callbacks, tracemalloc, C API).
NUMPY_TESTS = ["tests/integrations/test_numpy.py"]
PYPY_TESTS = ["tests/core", "tests/model", "tests/traces"]
PYPY_SKIP = [
    "--ignore=tests/core/test_misuse.py",  # imports Arena
    "--deselect=tests/core/test_cdef.py",  # reads CPython's build of the module
]


def describe(python: str) -> tuple[str, str]:
    """(implementation, numpy version or '') of an interpreter."""
    out = subprocess.run(
        [
            python,
            "-c",
            "import platform\ntry:\n import numpy; v = numpy.__version__\n"
            "except ImportError:\n v = ''\nprint(platform.python_implementation(), v)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return out[0], (out[1] if len(out) > 1 else "")


@pytest.mark.slow  # each interpreter runs its part of the suite: about 20..200 s
@pytest.mark.parametrize("python", PYTHONS or [None])
def test_the_suite_passes_on_another_interpreter(python, tmp_path):
    if python is None:
        pytest.skip("POOL_TEST_PYTHONS names no interpreter (.ci/run sets it)")
    implementation, numpy_version = describe(python)
    env = {**os.environ, "POOL_CACHE_DIR": str(tmp_path / "cache")}
    if implementation == "PyPy":
        built = subprocess.run(
            [python, "build_pool.py", "core"], cwd=ROOT, capture_output=True, text=True
        )
        assert built.returncode == 0, built.stderr[-3000:]
        targets = [*PYPY_TESTS, *PYPY_SKIP]
    else:
        assert numpy_version, f"{python}: no numpy installed"
        targets = NUMPY_TESTS
    done = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", *targets],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    print(f"{implementation} numpy={numpy_version or '-'}: {summary}")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert re.search(r"\d+ passed", summary), summary
    assert platform.python_implementation() == "CPython"  # the driver itself
