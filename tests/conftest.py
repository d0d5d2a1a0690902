"""Shared helpers: a pool's full observable state, for "nothing changed" checks."""

import os
import sys

import pytest

# Run as `python -P -m pytest` against an installed (non-editable) package,
# the tests' own subprocesses must not import the source tree either.
if getattr(sys.flags, "safe_path", False):
    os.environ["PYTHONSAFEPATH"] = "1"


def full_state(pool):
    """Everything a pool lets one observe, as one comparable value."""
    return (
        pool.chunks(),
        tuple(tuple(pool.free_list(c)) for c in range(len(pool.class_sizes()))),
        pool.current_chunk(),
        pool.heap_size,
        pool.heap_limit,
        pool.stats(),
        pool.live_blocks(),
        pool.block_map(),
    )


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="run long campaigns (marker: slow)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="long campaign: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
