#!/usr/bin/env bash
# The package ships: an sdist, a wheel built from that sdist (python -m build
# does both, in isolated environments), installed into a fresh venv and used
# from another folder, with no checkout on its path.  A file missing from
# MANIFEST.in fails here, not for a user.  Then every command README.md shows
# runs from a temporary folder against that installed package
# (scripts/readme_commands.py), with the `pool` console script, and the
# benchmark's C++ section compiles from the sources the wheel ships.
# Usage: scripts/check_package.sh   (needs the `build` package and network
# access to the package index for the isolated builds and the plot extra)
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
shipped = package / "bench" / "csrc"  # what the C++ benchmark compiles
for parts in (("bench", "containers.cpp"), ("sgi_pool.c",), ("core", "classic.c")):
    assert shipped.joinpath(*parts).exists(), parts
print(f"check_package: {sorted(p.name for p in pathlib.Path('dist').iterdir())} "
      f"install and import from {pool.__file__}")
PY

# the README's commands need matplotlib (show, replay --plot): the plot extra
wheel=$(ls "$work"/dist/*.whl)
"$work/venv/bin/pip" install --quiet "$wheel[plot]"
version=$("$work/venv/bin/pool" --version)
[[ $version == *site-packages* ]] \
    || { echo "check_package: pool --version: $version, not the installed package"; exit 1; }
env -u PYTHONPATH "$work/venv/bin/pool" bench --quick --only containers --no-progress \
    --json "$work/containers.json" > /dev/null
"$work/venv/bin/python" - "$work/containers.json" <<'PY'
import json, sys
containers = json.load(open(sys.argv[1]))["containers"]
assert "skipped" not in containers, containers
print(f"check_package: C++ containers compiled from the wheel ({len(containers['cells'])} cells)")
PY
env -u PYTHONPATH "$work/venv/bin/python" "$root/scripts/readme_commands.py" \
    --python "$work/venv/bin/python"
