"""The LD_PRELOAD library: ``python -m pool preload`` prints its path.

``LD_PRELOAD=$(python -m pool preload) PROGRAM`` runs PROGRAM with malloc & co.
on one process-wide SGI pool (csrc/preload/sgi_preload.c; docs/integrations.md).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from ._cli import Parser

LIBRARY = "libsgipool.so"


def library_path() -> str:
    """The absolute path of libsgipool.so; FileNotFoundError when it was not built
    (it is built with the package on Linux/CPython: build_pool.py)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), LIBRARY)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{LIBRARY} was not built: expected at {path} "
            "(reinstall the package, or run python build_pool.py preload)"
        )
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = Parser(
        prog="python -m pool preload",
        description="Print the path of libsgipool.so, the malloc family on an SGI pool for "
        "any program.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  python -m pool preload\n"
        "  LD_PRELOAD=$(python -m pool preload) POOL_PRELOAD_STATS=1 sqlite3 :memory: "
        "'select 1'\n"
        "  LD_PRELOAD=$(python -m pool preload) POOL_PRELOAD_STATS=/tmp/stats-%p.txt "
        "POOL_PRELOAD_RANGE=1G make\n"
        "  LD_PRELOAD=$(python -m pool preload) PYTHONMALLOC=malloc python3 script.py\n\n"
        "variables: POOL_PRELOAD_STATS (0, 1: stderr at start-up, or a file; %p the pid),\n"
        "POOL_PRELOAD_RANGE (the reserved range, default 64G), POOL_PRELOAD_REFILL (blocks per\n"
        "refill, 1..4096, default 20), POOL_PRELOAD_THREAD_CACHE=0 (no per-thread caches;\n"
        "default 1), POOL_PRELOAD_VERBOSE=1 (one line at start: loaded, settings).\n"
        "Python: without PYTHONMALLOC=malloc, CPython keeps its objects in pymalloc "
        "and the pool\nserves only the few requests that reach malloc.  docs/integrations.md "
        "has the table.",
    )
    parser.parse_args(argv)
    try:
        print(library_path())
    except FileNotFoundError as error:
        parser.exit(1, f"python -m pool preload: {error}\n")
    return 0
