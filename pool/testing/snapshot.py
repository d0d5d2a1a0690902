"""Deprecated alias: the model moved to `pool.model.snapshot`."""

import warnings

from ..model.snapshot import *  # noqa: F403
from ..model.snapshot import __doc__ as _doc  # noqa: F401

warnings.warn(
    "pool.testing.snapshot moved to pool.model.snapshot", DeprecationWarning, stacklevel=2
)
