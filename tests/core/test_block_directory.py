"""The block directory's address -> chunk map (csrc/block_directory.h): the C
program tests/c/dir_map.c checks lookups with and without the lock, chunks
sharing pages and crossing map nodes, dir_remove, and readers without the
lock while a writer adds and removes chunks (built plain and under
ThreadSanitizer)."""

import shutil

import pytest
from helpers import run_stress_program

from pool.errors import InvalidBlockError


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.not_under_sanitizer("builds its own sanitized programs; runs in the normal suite")
@pytest.mark.parametrize("build", ["plain", pytest.param("tsan", marks=pytest.mark.slow)])
def test_directory_map_program(tmp_path, build):
    result = run_stress_program(tmp_path, "dir_map", build, False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "all checks passed" in result.stdout
    assert "WARNING" not in result.stderr


@pytest.mark.parametrize("thread_safe", [False, True], ids=["bare", "thread_safe"])
@pytest.mark.parametrize("align", [8, 16])
def test_sizeless_free_finds_every_class(make_pool, thread_safe, align):
    """Unchecked size-less frees read a block's start bit and its class from
    one 64-bit window of the start bits (fast_paths.c, sizeless_free_in);
    blocks of more than 63 granules (max_small 1024: up to 128 granules) are
    scanned on.  Each block goes to the head of its own class's list, with
    carved neighbours on both sides and across bitmap words; an address
    inside a block is refused and changes nothing."""
    pool = make_pool(checked=False, thread_safe=thread_safe, align=align, max_small=1024, refill=3)
    try:
        sizes = [align * k for k in (1, 2, 7, 8, 31, 32, 63, 64, 65, 100, 128) if align * k <= 1024]
        blocks = [(pool.allocate(n), n) for n in sizes for _ in range(3)]
        for addr, n in blocks[1::3] + blocks[0::3]:
            pool.deallocate(addr)
            assert pool.free_list(n // align - 1)[0] == addr
        inside = blocks[8][0] + align  # inside a live block of 7 granules
        before = pool.free_list_lengths()
        with pytest.raises(InvalidBlockError):
            pool.deallocate(inside)
        assert pool.free_list_lengths() == before
    finally:
        pool.close()
