"""What every command's start needs, without argparse: a quiet end when the
reader of stdout goes away or the user presses Ctrl-C (guarded), and the check
that `python -m pool run`'s script or module exists (runnable).  Apart from
pool._cli (which re-exports both) so that `python -m pool run` imports neither
argparse nor the rest of the command-line helpers on its way to the program
(pool._cli is argparse's parser, argument types and output checks)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence


def guarded(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """main(argv), ending quietly instead of with a traceback: status 1 when
    stdout's reader has gone (`python -m pool demo | head -3`), and on Ctrl-C
    (KeyboardInterrupt) death by SIGINT, as python itself reports it to the
    shell (status 130), without python's traceback."""
    try:
        status = main(argv)
        sys.stdout.flush()  # the last buffered output fails here, not at exit
    except BrokenPipeError:
        _stdout_to_devnull()
        return 1
    except KeyboardInterrupt:
        try:
            sys.stdout.flush()
        except (BrokenPipeError, KeyboardInterrupt):
            _stdout_to_devnull()
        import signal  # here: its import (enums made from the C module) is a start-up cost

        if hasattr(signal, "SIGINT") and hasattr(os, "kill"):
            # a shell's loop stops only on a child killed by SIGINT, not on an exit status
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        return 128 + 2  # where the signal could not be raised again
    return status


def _stdout_to_devnull() -> None:
    # nothing more can be written: point stdout at /dev/null so that the
    # interpreter's own flush at exit does not fail again
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def runnable(module: str | None, script: str | None) -> tuple[str, int] | None:
    """None when `python -m module` / `python script` would find what to run,
    else (the one-line message python prints, python's exit status) without
    running anything: 1 for a missing module, 2 for a script it cannot open."""
    import importlib.util

    if module is not None:
        try:
            spec = importlib.util.find_spec(module)
            package = spec is not None and spec.submodule_search_locations is not None
            if package and importlib.util.find_spec(f"{module}.__main__") is None:
                return (
                    f"No module named {module}.__main__; {module!r} is a package and"
                    " cannot be directly executed",
                    1,
                )
        except (ImportError, ValueError) as e:  # a parent package missing, or a bad name
            return f"Error while finding module specification for {module!r} ({e})", 1
        return None if spec is not None else (f"No module named {module}", 1)
    assert script is not None
    path = os.path.abspath(script)
    if os.path.isdir(path):
        if not os.path.exists(os.path.join(path, "__main__.py")):
            return f"can't find '__main__' module in {script!r}", 2
    elif not os.path.isfile(path) or not os.access(path, os.R_OK):
        return f"can't open file {path!r}: no such readable file", 2
    return None
