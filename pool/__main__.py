"""Command line: `pool [COMMAND] [ARGS]` or `python -m pool [COMMAND] [ARGS]`
(`pool --help`); `pool` is the console script of [project.scripts]."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from ._guard import guarded  # not ._cli: argparse is imported by the commands that use it

# name -> (one line for --help, "module:function" taking argv and returning the exit status)
COMMANDS = {
    "demo": (
        "run the SGI algorithm step by step on a real pool (the default command)",
        "pool.demo:cli",
    ),
    "bench": (
        "benchmark the pool against a bare free list, glibc, jemalloc and mimalloc",
        "pool.bench.cli:main",
    ),
    "diff": (
        "random differential campaign: the C core against the reference model",
        "pool.testing.diff:main",
    ),
    "replay": (
        "replay an allocation trace through a Pool and report memory and time",
        "pool.traces.replay:replay_main",
    ),
    "show": ("draw a pool's chunk map and free lists (text or PNG)", "pool.view.cli:main"),
    "run": (
        "run a Python program with CPython's object allocator on the pool",
        "pool.pymem:run_main",
    ),
    "traces": (
        "list the shipped traces (replay and show take their short names: sqlite3)",
        "pool.traces:main",
    ),
    "preload": (
        "print the path of libsgipool.so (LD_PRELOAD: any program on the pool)",
        "pool.preload:main",
    ),
}

# entry points of their own, beside the commands: module -> one line for --help
MODULES = {
    "pool.bench.programs": "real programs (sqlite3, gcc, python) on the preload vs glibc",
    "pool.bench.numpy_arrays": "numpy small arrays on the pool's handler vs numpy's",
    "pool.bench.plot": "draw a saved `bench --json` file (needs matplotlib)",
}


def version() -> str:
    """`pool --version`: the version, where it was imported from, and the
    Python running it (as `pip --version` says)."""
    from . import __version__

    where = os.path.dirname(os.path.abspath(__file__))
    return f"pool {__version__} from {where} (python {sys.version_info[0]}.{sys.version_info[1]})"


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        "usage: pool [COMMAND] [ARGS ...]      (or: python -m pool [COMMAND] [ARGS ...])",
        "       pool --version",
        "",
        "The SGI STL node allocator as a library.  Commands:",
        "",
    ]
    lines += [f"  {name:<{width}}  {text}" for name, (text, _) in COMMANDS.items()]
    lines += ["", "Each command has its own help with examples: python -m pool COMMAND --help"]
    lines += ["", "More benchmarks and tools, each with its own --help:", ""]
    width = max(map(len, MODULES))
    lines += [f"  python -m {name:<{width}}  {text}" for name, text in MODULES.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] in (["-h"], ["--help"], ["help"]):
        print(usage())
        return 0
    if argv[:1] in (["-V"], ["--version"]):
        print(version())
        return 0
    name = argv[0] if argv else "demo"
    if name not in COMMANDS:
        print(f"{usage()}\n\npython -m pool: unknown command {name!r}", file=sys.stderr)
        return 2
    module, function = COMMANDS[name][1].split(":")
    status: int = getattr(importlib.import_module(module), function)(argv[1:])
    return status


def console_script() -> int:
    """The `pool` command ([project.scripts])."""
    return guarded(main, sys.argv[1:])


if __name__ == "__main__":
    sys.exit(guarded(main, sys.argv[1:]))  # quietly when stdout's reader has gone
