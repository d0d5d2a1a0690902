"""What the command-line tools share: a parser whose usage errors are one
line, argument types, checking an output path before the work, and (from
pool._guard, which needs no argparse) a quiet end when the reader of stdout
goes away or the user presses Ctrl-C."""

from __future__ import annotations

import argparse
import os
import typing
from collections.abc import Collection, Iterable

from ._atomic import refuse_input
from ._guard import guarded, runnable

__all__ = [
    "Parser",
    "positive_int",
    "non_negative_int",
    "check_output",
    "guarded",  # pool._guard's, here too: every command imports them from here
    "runnable",
]


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
