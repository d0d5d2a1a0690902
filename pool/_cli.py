"""Argument types shared by the command-line tools."""

import argparse


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
