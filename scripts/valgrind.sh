#!/usr/bin/env bash
# Runs the Python test suite (or the pytest arguments given) under Valgrind's
# memcheck and fails if any report involves the pool's code (a frame in
# csrc/*.c or the cffi module).  Slow: an option, not part
# of CI.  The default build compiles in Valgrind's memory-pool requests when
# its headers exist, so uses of freed or undefined pool blocks are reported
# like those of malloc blocks.
#
# CPython itself (this pyenv build, under PYTHONMALLOC=malloc) draws reports
# from memcheck in its own internals (start-up, ints, the GC); the known ones
# are in scripts/valgrind-python.supp and the rest are listed as "other",
# not counted: only reports with a frame in our code fail the run.
# Usage: scripts/valgrind.sh [pytest arguments, e.g. tests/core/test_misuse.py]
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONMALLOC=malloc
export POOL_UNDER_VALGRIND=1  # tests that read freed blocks on purpose skip
python=$("${PYTHON:-python3}" -c "import sys; print(sys.executable)")  # not a launcher script
log=$(mktemp)
status=0
valgrind --tool=memcheck --leak-check=no --num-callers=40 --log-file="$log" \
    --suppressions=scripts/valgrind-python.supp \
    "$python" -m pytest -q -p no:cacheprovider -n 0 "${@:-tests}" || status=$?
ours=$(awk '/^==[0-9]+== $/ { if (rec ~ /(sgi_pool|block_table|block_directory|_pool_c)/) n++; rec = ""; next }
            { rec = rec "\n" $0 }
            END { if (rec ~ /(sgi_pool|block_table|block_directory|_pool_c)/) n++; print n + 0 }' "$log")
summary=$(grep "ERROR SUMMARY" "$log" | tail -1)
echo "valgrind: $summary; reports involving pool code: $ours (full log: $log)"
if [ "$ours" -ne 0 ]; then
    awk '/^==[0-9]+== $/ { if (rec ~ /(sgi_pool|block_table|block_directory|_pool_c)/) print rec; rec = ""; next }
         { rec = rec "\n" $0 }' "$log"
    exit 1
fi
exit "$status"
