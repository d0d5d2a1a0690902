"""Command line: `python -m pool [COMMAND] [ARGS]` (`python -m pool --help`)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from ._cli import guarded

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
    "preload": (
        "print the path of libsgipool.so (LD_PRELOAD: any program on the pool)",
        "pool.preload:main",
    ),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        "usage: python -m pool [COMMAND] [ARGS ...]",
        "",
        "The SGI STL node allocator as a library.  Commands:",
        "",
    ]
    lines += [f"  {name:<{width}}  {text}" for name, (text, _) in COMMANDS.items()]
    lines += ["", "Each command has its own help with examples: python -m pool COMMAND --help"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] in (["-h"], ["--help"], ["help"]):
        print(usage())
        return 0
    name = argv[0] if argv else "demo"
    if name not in COMMANDS:
        print(f"{usage()}\n\npython -m pool: unknown command {name!r}", file=sys.stderr)
        return 2
    module, function = COMMANDS[name][1].split(":")
    status: int = getattr(importlib.import_module(module), function)(argv[1:])
    return status


if __name__ == "__main__":
    sys.exit(guarded(main, sys.argv[1:]))  # quietly when stdout's reader has gone
