"""The executable model and the tools that hold the C core to it.

- `reference`: `ReferencePool`, the algorithm on simulated memory (pure Python).
- `snapshot`: one pool's whole state with addresses normalised, so that a real
  and a simulated pool compare equal exactly when their states are the same.
- `diff`: `Lockstep`, one engine that runs operations on both and compares
  after each; random campaigns (`python -m pool diff`).
- `shrink`: delta debugging of a failing operation list.

Nothing here needs the compiled module except what runs the C side.
"""
