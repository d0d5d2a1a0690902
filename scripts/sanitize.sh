#!/usr/bin/env bash
# Runs the Python test suite against an AddressSanitizer + UndefinedBehavior-
# Sanitizer build of the extension, in a scratch copy of the tracked files so
# the normal build in the work tree is left alone.  Any report fails the run.
# Usage: scripts/sanitize.sh [extra pytest arguments]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$root" && git ls-files -z | xargs -0 cp --parents -t "$work")
else  # not a git checkout (an sdist, a tarball): the tree without build products
    tar -C "$root" --exclude=.venv --exclude=.git --exclude='*.so' --exclude='*.o' \
        --exclude=__pycache__ --exclude=build -cf - . | tar -C "$work" -xf -
fi
cd "$work"
POOL_SANITIZE=1 POOL_DEBUG=1 POOL_VALIDATE=1 python build_pool.py core > build.log 2>&1 || { cat build.log; exit 1; }
# the CPython fast path (pool._fast), with the same flags; a warning fails the run
POOL_SANITIZE=1 POOL_DEBUG=1 python build_pool.py fast > build_fast.log 2>&1 || { cat build_fast.log; exit 1; }
if grep -q "warning:" build_fast.log; then cat build_fast.log; exit 1; fi

# Python itself is not instrumented: preload the ASan runtime; Python's own
# allocations at exit are not leaks of ours.
export LD_PRELOAD="$(gcc -print-file-name=libasan.so)"
# allocator_may_return_null: a huge request returns NULL, as malloc does (tests ask for 8 TiB)
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:exitcode=99:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=98
built=$(python -c 'import pool._pool_c as m; print(m.__file__)')
case "$built" in "$work"/*) ;; *) echo "sanitize.sh: imported $built, not the sanitized build" >&2; exit 1;; esac
fast=$(python -c 'import pool._fast as m; print(m.__file__)')
case "$fast" in "$work"/*) ;; *) echo "sanitize.sh: imported $fast, not the sanitized build" >&2; exit 1;; esac
export POOL_UNDER_SANITIZER=1  # tests that cannot run under a preload skip
python -m pytest -q -p no:cacheprovider -n 0 "$@"  # one process: the preloaded ASan runtime
