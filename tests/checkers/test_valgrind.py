"""Valgrind's memcheck sees pool blocks as it sees malloc's (memory-pool
client requests in the C core): use after free, leaks, undefined reads and
overruns are reported; a clean program is clean."""

import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROGRAMS = ROOT / "tests" / "c" / "valgrind"

pytestmark = [
    pytest.mark.valgrind,
    pytest.mark.not_under_sanitizer("valgrind cannot run under the ASan preload"),
]


def memcheck(tmp_path, name):
    exe = tmp_path / name
    subprocess.run(
        [
            "gcc",
            "-std=c11",
            "-D_GNU_SOURCE",
            "-g",
            "-O0",
            f"-I{ROOT / 'csrc'}",
            *map(str, sorted((ROOT / "csrc").glob("*.c"))),
            str(PROGRAMS / f"{name}.c"),
            "-o",
            str(exe),
        ],
        check=True,
    )
    result = subprocess.run(
        ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite", str(exe)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result.stderr


def test_use_after_free_is_reported(tmp_path):
    report = memcheck(tmp_path, "uaf")
    assert "Invalid write of size 1" in report
    assert "ERROR SUMMARY: 1 errors" in report


def test_leaked_pool_blocks_are_reported(tmp_path):
    report = memcheck(tmp_path, "leak")
    # the block at the chunk's start is reachable through the chunk record;
    # the other nine are lost
    assert "definitely lost: 360 bytes in 9 blocks" in report


def test_undefined_read_and_overrun_are_reported(tmp_path):
    report = memcheck(tmp_path, "undef")
    assert "Conditional jump or move depends on uninitialised value" in report
    assert "Invalid write of size 1" in report


def test_clean_program_is_clean(tmp_path):
    report = memcheck(tmp_path, "clean")
    assert "ERROR SUMMARY: 0 errors" in report
    assert "definitely lost" not in report
