"""The executable model: the pool's specification, run.

- `reference`: `ReferencePool`, the algorithm of docs/algorithm.md on
  simulated memory (pure Python; it reads like the document, step numbers
  included).
- `snapshot`: one pool's whole state with addresses normalised, so that a real
  and a simulated pool compare equal exactly when their states are the same.

The package itself uses it (`pool.ReferencePool`, `snapshot()`, the pictures);
the tools that hold the C core to it are in `pool.testing`.  Nothing here needs
the compiled module.
"""

from .reference import ReferencePool
from .snapshot import Normaliser, PoolSnapshot, snapshot

__all__ = ["Normaliser", "PoolSnapshot", "ReferencePool", "snapshot"]
