#!/usr/bin/env bash
# The package ships: an sdist, a wheel built from that sdist (python -m build
# does both, in isolated environments), installed into a fresh venv and used
# from another folder, with no checkout on its path.  A file missing from
# MANIFEST.in fails here, not for a user.
# Usage: scripts/check_package.sh   (needs the `build` package and network
# access to the package index for the isolated builds)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python -m build --outdir "$work/dist" "$root" > "$work/build.log" 2>&1 \
    || { tail -40 "$work/build.log"; exit 1; }
if grep -qi "deprecat" "$work/build.log"; then
    grep -i -B2 -A6 "deprecat" "$work/build.log"; echo "check_package: deprecation warnings"; exit 1
fi
python -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet "$work"/dist/*.whl
cd "$work"
"$work/venv/bin/python" - <<'PY'
import pathlib, pool
from pool import Pool
assert "site-packages" in pool.__file__, pool.__file__
with Pool() as p:
    a = p.allocate(24)
    p.deallocate(a, 24)
package = pathlib.Path(pool.__file__).parent
for name in ("include/numpy_handler.c", "include/pymem_hook.c", "include/sgi_pool.h",
             "libsgipool.so", "traces/data/sqlite3.trace.gz"):
    assert (package / name).exists(), name
print(f"check_package: {sorted(p.name for p in pathlib.Path('dist').iterdir())} "
      f"install and import from {pool.__file__}")
PY
