"""matplotlib, the optional extra every picture of the package needs (bench
plots, pool.view figures): one place that imports it for files only and says
how to install it when it is missing."""

from __future__ import annotations

from typing import Any

INSTALL = "pip install 'pool[plot]' (or pip install matplotlib)"


def missing(hint: str) -> str | None:
    """None when matplotlib can be imported, else hint (the message to show)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return hint
    return None


def pyplot(hint: str) -> Any:  # the matplotlib.pyplot module
    """matplotlib.pyplot on the Agg backend (files only, no display), or
    RuntimeError(hint) when matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError as e:
        raise RuntimeError(hint) from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
