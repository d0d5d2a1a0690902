"""Seeing a pool: chunk maps, free lists, timelines and a step-through.

    pool.show(p)                    the chunk map and free lists as text
    pool.show(p, "chunks.png")      the same as a figure (matplotlib: the "plot" extra)

`p` is a Pool, a ReferencePool, a Watch (a pool observed call by call, which
also knows its leftovers) or a PoolSnapshot.  The data and the drawing are
apart: `model.picture()` gives plain data, `text` and `figure` draw it;
`timeline` collects a trace replay's series; `steps` is `python -m pool demo
--steps`; `cli` is `python -m pool show`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .._atomic import atomic_open
from .model import Picture, picture
from .watch import Step, Watch

if TYPE_CHECKING:
    from .._types import PoolLike
    from ..model.snapshot import PoolSnapshot

__all__ = ["show", "picture", "Picture", "Watch", "Step"]


def show(
    source: PoolLike | Watch | PoolSnapshot,
    path: str | os.PathLike[str] | None = None,
    *,
    align: int | None = None,
    title: str | None = None,
) -> str:
    """Draws a pool's chunk map and free lists.  Without a path, returns them
    as text; with one, writes a figure there (PNG, SVG, PDF... by its suffix,
    PNG without one; ".txt" writes the text), atomically, and returns the
    path written."""
    from . import text

    pic = picture(source, align=align)
    if path is None:
        return text.render(pic)
    path = str(path)
    if path.endswith(".txt"):
        with atomic_open(path, "w", encoding="utf-8") as f:
            f.write(text.render(pic) + "\n")
        return path
    from . import figure

    return figure.draw_picture(pic, path, title=title)
