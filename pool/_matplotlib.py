"""matplotlib, the optional extra every picture of the package needs (bench
plots, pool.view figures): one place that imports it for files only and says
how to install it when it is missing."""

from __future__ import annotations

import os
from collections.abc import Iterable
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


def formats() -> frozenset[str]:
    """The file suffixes (lower case, no dot) a figure can be saved as here:
    what check_output accepts for a figure (matplotlib must be importable)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    return frozenset(FigureCanvasAgg.get_supported_filetypes())


def check_figure(path: str, option: str, inputs: Iterable[str | None] = ()) -> str:
    """_cli.check_output for a figure: a suffix matplotlib can write (none: .png)."""
    from ._cli import check_output

    return check_output(path, option, inputs=inputs, suffixes=formats(), default_suffix="png")


def savefig(fig: Any, path: str | os.PathLike[str], **kwargs: Any) -> str:
    """Saves fig to path atomically (pool._atomic), in the format
    its suffix names; a name without a suffix gets ".png" (matplotlib's
    rule).  Returns the path written."""
    from ._atomic import replacing

    name = os.fspath(path)
    suffix = os.path.splitext(name)[1][1:].lower()
    if not suffix:
        name, suffix = f"{name}.png", "png"
    with replacing(name) as tmp:
        fig.savefig(tmp, format=suffix, **kwargs)
    return name
