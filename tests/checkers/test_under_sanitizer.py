"""Runs only under scripts/sanitize.sh: proves that run can fail, by a
deliberate use after free of an unchecked pool's block from Python."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.sanitizer_only


def test_use_after_free_from_python_is_reported():
    code = (
        "import ctypes, pool\n"
        "p = pool.Pool(checked=False)\n"
        "a = p.allocate(32)\n"
        "p.deallocate(a, 32)\n"
        "ctypes.memset(a + 8, 1, 8)\n"
    )  # the link word is the allocator's; 8.. is dead
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "use-after-poison" in result.stderr
