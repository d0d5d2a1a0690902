"""Shared helpers: a pool's full observable state, for "nothing changed" checks."""

import pytest


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
