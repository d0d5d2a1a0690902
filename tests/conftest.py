"""Shared helpers: a pool's full observable state, for "nothing changed" checks."""

import os
import pathlib
import shutil
import sys

import pytest
from hypothesis import HealthCheck, settings

# One hypothesis profile for the whole suite: no per-example deadline (these
# machines are shared and noisy; the tests time nothing) and stateful runs of
# 40 steps.  Tests set only how many examples they need.
settings.register_profile(
    "pool", deadline=None, stateful_step_count=40, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "pool"))

# Run as `python -P -m pytest` against an installed (non-editable) package,
# the tests' own subprocesses must not import the source tree either.
if getattr(sys.flags, "safe_path", False):
    os.environ["PYTHONSAFEPATH"] = "1"


from helpers import make_pool, no_leaks  # noqa: E402,F401 (fixtures for every test module)


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="run long campaigns (marker: slow)")


def pytest_configure(config):
    for line in [
        "slow: long campaigns, run with --runslow",
        "not_under_sanitizer(reason): cannot run under scripts/sanitize.sh's ASan preload",
        "not_under_valgrind(reason): cannot run under scripts/valgrind.sh",
        "sanitizer_only: meaningful only under scripts/sanitize.sh",
        "valgrind: needs valgrind and its headers (Debian package valgrind)",
    ]:
        config.addinivalue_line("markers", line)


UNDER_SANITIZER = bool(os.environ.get("POOL_UNDER_SANITIZER"))  # set by scripts/sanitize.sh
UNDER_VALGRIND = bool(os.environ.get("POOL_UNDER_VALGRIND"))  # set by scripts/valgrind.sh
HAVE_VALGRIND = (
    shutil.which("valgrind") is not None
    and pathlib.Path("/usr/include/valgrind/memcheck.h").exists()
)


def _reason(item, name):
    mark = item.get_closest_marker(name)
    return (mark.args[0] if mark.args else mark.kwargs.get("reason")) or name


def pytest_collection_modifyitems(config, items):
    runslow = config.getoption("--runslow")
    for item in items:
        if "slow" in item.keywords and not runslow:
            item.add_marker(pytest.mark.skip(reason="long campaign: run with --runslow"))
        if UNDER_SANITIZER and item.get_closest_marker("not_under_sanitizer"):
            item.add_marker(pytest.mark.skip(reason=_reason(item, "not_under_sanitizer")))
        if UNDER_VALGRIND and item.get_closest_marker("not_under_valgrind"):
            item.add_marker(pytest.mark.skip(reason=_reason(item, "not_under_valgrind")))
        if not UNDER_SANITIZER and item.get_closest_marker("sanitizer_only"):
            item.add_marker(pytest.mark.skip(reason="only meaningful under scripts/sanitize.sh"))
        if not HAVE_VALGRIND and item.get_closest_marker("valgrind"):
            item.add_marker(
                pytest.mark.skip(reason="needs valgrind and its headers (Debian package valgrind)")
            )
