#!/usr/bin/env python3
"""Converts a raw log of recorder.c (pointers) into a pool trace (IDs).

    python tools/trace_recorder/convert.py RAW OUT [--max-ops N]

OUT is gzipped if its name ends in .gz.  --max-ops N keeps the first N
operations only (a prefix of a valid trace is valid: every free and realloc
in it names a block allocated earlier in it).  This is the same command as
`python -m pool.traces convert`; the conversion itself is
pool.traces.convert_raw, whose docstring gives the mapping.

This script loads the pool/traces package on its own (not the rest of pool),
so it works from a checkout whose
C extension is not built.
"""

import importlib.util
import pathlib
import sys
import types

POOL = pathlib.Path(__file__).resolve().parents[2] / "pool"


def load_trace_module():
    """pool.traces, under another name, with a bare parent package: the
    package's own __init__ (which needs the compiled module) never runs."""
    parent = types.ModuleType("pool_standalone")
    parent.__path__ = [str(POOL)]
    sys.modules[parent.__name__] = parent
    spec = importlib.util.spec_from_file_location(
        "pool_standalone.traces", POOL / "traces" / "__init__.py",
        submodule_search_locations=[str(POOL / "traces")])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up by name
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    sys.exit(load_trace_module().convert_main(prog="convert.py"))
