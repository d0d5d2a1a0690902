"""The integration rows of ``python -m pool bench --only NAME``.

numpy     np.empty(4) / np.empty(1000) with numpy's handler and the pool's
          (pool.bench.numpy_arrays), in-process, interleaved.
pool-run  the ast/json job under plain python and ``python -m pool run``
          (pool.bench.programs.measure_pymem), whole processes, interleaved.
programs  whole programs (python3, sqlite3, lua5.4) under glibc, libsgipool.so
          and mimalloc/jemalloc when installed (pool.bench.programs.measure).
preload-threads  threaded programs (sort --parallel=2, a C++ map/list program)
          under glibc, libsgipool.so with and without its thread caches,
          jemalloc and mimalloc (pool.bench.preload_threads.measure).

They are not part of the default run: programs takes minutes, and each needs
something the core does not (numpy, the preload library, the programs).
"""

from __future__ import annotations

from .._progress import Progress
from .common import JsonObject

INTEGRATIONS = ("numpy", "pool-run", "programs", "preload-threads")


def run_integrations(data: JsonObject, sections: set[str], repeat: int, progress: Progress) -> None:
    """Runs the integration rows named in sections into data (a row that cannot
    run gets a "<key>_skipped" note, as the C level does)."""
    if "numpy" in sections:
        progress.step("numpy handler")
        try:
            from . import numpy_arrays
        except ImportError as e:
            data["numpy_skipped"] = f"numpy or its glue is not available ({e})"
        else:
            data["numpy"] = numpy_arrays.measure(repeat)
    if "pool-run" in sections:
        progress.step("python -m pool run")
        from . import programs

        data["pool_run"] = programs.measure_pymem(repeat)
    if "programs" in sections:
        progress.step("whole programs under LD_PRELOAD")
        from . import programs

        try:
            data["programs"] = programs.measure(repeat)
        except FileNotFoundError as e:  # libsgipool.so not built
            data["programs_skipped"] = str(e)
    if "preload-threads" in sections:
        progress.step("threaded programs under LD_PRELOAD")
        from . import preload_threads

        try:
            found = preload_threads.measure(repeat)
        except FileNotFoundError as e:  # libsgipool.so not built
            data["preload_threads_skipped"] = str(e)
        else:
            data["preload_threads"] = found["rows"]
            data["preload_threads_notes"] = found["notes"]
