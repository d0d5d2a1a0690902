"""Deprecated alias: the model moved to `pool.model.reference`."""

import warnings

from ..model.reference import *  # noqa: F403
from ..model.reference import __doc__ as _doc  # noqa: F401

warnings.warn(
    "pool.testing.reference moved to pool.model.reference", DeprecationWarning, stacklevel=2
)
