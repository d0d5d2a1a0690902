#!/usr/bin/env bash
# Fuzzes Pool against ReferencePool (fuzz/fuzz_lockstep.py) with atheris.
#
#   fuzz/run.sh [seconds] [extra libFuzzer flags or corpus dirs...]
#
# seconds defaults to 30 (a CI smoke run).  Long runs:
#   fuzz/run.sh 3600                        one process (about 30 inputs/s here)
#   fuzz/run.sh 3600 ~/pool-corpus          grow a corpus kept across runs (a
#                                           directory given here comes first,
#                                           so libFuzzer writes new inputs to it)
#   fuzz/run.sh 3600 -fork=2                two processes; each job re-imports
#                                           the instrumented modules, so on this
#                                           2-core machine it ran fewer inputs
#                                           than one process
# The seed corpus fuzz/corpus and the regression inputs fuzz/regressions are
# copied to a temporary directory, so the run never writes into the checkout.
# Exits nonzero on a finding (a Divergence, an unexpected exception, a crash,
# a timeout, or running out of memory) and prints where the input was saved:
# FUZZ_ARTIFACTS, or by default the temporary directory, kept.  Then
#   python fuzz/fuzz_lockstep.py --replay FILE   (shrinks it to a minimal op list)
# and, once understood, copy it into fuzz/regressions/ with the fix.
# PYTHON names the interpreter (default python3).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
seconds=${1:-30}
shift || true
case "$seconds" in ''|*[!0-9]*) echo "run.sh: seconds must be a number, got '$seconds'" >&2; exit 2;; esac
python=${PYTHON:-python3}

if ! "$python" -c 'import atheris' 2>/dev/null; then
    echo "run.sh: atheris is not importable by $python (pip install atheris)" >&2
    exit 3
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/pool-fuzz.XXXXXX")
corpus="$work/corpus"
artifacts=${FUZZ_ARTIFACTS:-$work/artifacts}
mkdir -p "$corpus" "$artifacts"
for f in "$here"/corpus/* "$here"/regressions/*; do
    case "$f" in *.md|*/'*') continue;; esac  # README.md; an empty folder's glob
    cp "$f" "$corpus"/
done

# -fork=N and -jobs=N re-run the target as a program: give them one.
printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$python" "$here/fuzz_lockstep.py" > "$work/target"
chmod +x "$work/target"
export FUZZ_ARGV0="$work/target"

touch "$work/stamp"
echo "run.sh: fuzzing for ${seconds}s, corpus copy in $corpus" >&2
"$python" "$here/fuzz_lockstep.py" \
    -max_total_time="$seconds" \
    -max_len=2048 \
    -timeout=60 \
    -rss_limit_mb=4096 \
    -print_final_stats=1 \
    -artifact_prefix="$artifacts/" \
    "$@" "$corpus"
status=$?

found=$(find "$artifacts" -type f -newer "$work/stamp" 2>/dev/null | head -20)
if [ "$status" -ne 0 ] || [ -n "$found" ]; then
    echo "run.sh: FINDING (exit status $status); inputs saved:" >&2
    for f in $found; do echo "  $f" >&2; done
    echo "run.sh: replay with: $python $here/fuzz_lockstep.py --replay FILE" >&2
    [ "$status" -ne 0 ] || status=1
    exit "$status"
fi
rm -rf "$work"
echo "run.sh: no finding in ${seconds}s" >&2
exit 0
