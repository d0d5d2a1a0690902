"""What the command-line tools share: a parser whose usage errors are one
line, argument types, checking an output path before the work, and a quiet
end when the reader of stdout goes away or the user presses Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import typing
from collections.abc import Callable, Collection, Iterable, Sequence

from ._atomic import refuse_input


class Parser(argparse.ArgumentParser):
    """argparse's parser, but a usage error is one line on stderr (the
    program, the message, where the help is) and exit status 2, as every
    other refusal of the command line."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (--help for usage)\n")


def _count(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An argparse type for counts: a whole number >= 1 (argparse turns the
    error into a usage message and exit status 2)."""
    return _count(text, 1)


def non_negative_int(text: str) -> int:
    """An argparse type for a position such as "after N operations": >= 0."""
    return _count(text, 0)


def check_output(
    path: str,
    option: str,
    *,
    inputs: Iterable[str | None] = (),
    suffixes: Collection[str] | None = None,
    default_suffix: str = "",
) -> str:
    """Checks, before any work, that path can be written as the output of
    option, and returns the path that will be written: path itself, or
    path + default_suffix when path has no suffix and suffixes are given
    (matplotlib's rule for figures).  ValueError, one line naming the option
    and the path, when its directory is missing or not writable, path is a
    directory or a file that may not be written, path is one of the inputs,
    or its suffix is not one of suffixes (lower case, without the dot)."""
    if not path:
        raise ValueError(f"{option}: an empty file name")
    if os.path.isdir(path):
        raise ValueError(f"{option} {path}: is a directory")
    final = path
    if suffixes is not None:
        suffix = os.path.splitext(path)[1][1:].lower()
        if not suffix and default_suffix:
            final, suffix = f"{path}.{default_suffix}", default_suffix
        if suffix not in suffixes:
            raise ValueError(
                f"{option} {path}: unknown format {suffix!r}: the name must end in"
                f" one of {', '.join('.' + s for s in sorted(suffixes))}"
            )
    directory = os.path.dirname(os.path.abspath(final))
    if not os.path.isdir(directory):
        raise ValueError(f"{option} {path}: the directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {path}: the directory {directory} is not writable")
    if os.path.isdir(final):
        raise ValueError(f"{option} {path}: is a directory")
    if os.path.exists(final) and not os.access(final, os.W_OK):
        raise ValueError(f"{option} {path}: the file may not be written")
    try:
        refuse_input(final, *filter(None, inputs))
    except ValueError as e:
        raise ValueError(f"{option}: {e}") from None
    return final


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
