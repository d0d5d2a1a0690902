"""The block directory's address -> chunk map (csrc/block_directory.h): the C
program tests/c/dir_map.c checks lookups with and without the lock, chunks
sharing pages and crossing map nodes, dir_remove, and readers without the
lock while a writer adds and removes chunks (built plain and under
ThreadSanitizer)."""

import shutil

import pytest
from helpers import run_stress_program


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.not_under_sanitizer("builds its own sanitized programs; runs in the normal suite")
@pytest.mark.parametrize("build", ["plain", pytest.param("tsan", marks=pytest.mark.slow)])
def test_directory_map_program(tmp_path, build):
    result = run_stress_program(tmp_path, "dir_map", build, False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "all checks passed" in result.stdout
    assert "WARNING" not in result.stderr
