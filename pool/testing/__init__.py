"""Holding the C core to the executable model (`pool.model`).

- `diff`: `Lockstep`, one engine that runs operations on a `Pool` and a
  `ReferencePool` and compares their whole states after each; random
  campaigns (`python -m pool diff`).
- `shrink`: delta debugging of a failing operation list.

    from pool.testing import ReferencePool, Lockstep

(`ReferencePool` lives in `pool.model`; it is named here too, as before.)
"""

from ..model import ReferencePool
from .diff import Divergence, Lockstep
from .shrink import shrink_ops

__all__ = ["Divergence", "Lockstep", "ReferencePool", "shrink_ops"]
