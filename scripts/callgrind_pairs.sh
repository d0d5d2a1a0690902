#!/usr/bin/env bash
# Instructions per allocate+free pair of sgi_pool, counted by callgrind:
# csrc/bench/instr_pairs.c built -O2 without the Valgrind client requests (so the
# fast paths run as they do outside Valgrind), run with COUNT and with 0
# pairs; the difference divided by COUNT is printed per pattern, size and mode,
# with its ratio to the unchecked thread-safe pool (ts) of the same cell.
# Usage: scripts/callgrind_pairs.sh [COUNT] [PATTERNS] [SIZES] [MODES]
#   e.g. scripts/callgrind_pairs.sh 100000 "lifo fifo churn" "16 128 mixed"
#   (needs gcc and valgrind; ts runs first in each cell whatever MODES says;
#   a mode ending in -shared has a second thread take the lock first: the
#   shared pool, e.g. "ts-shared tc tc-shared")
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
count=${1:-200000}
patterns=${2:-lifo fifo churn}
sizes=${3:-16 128 mixed}
modes=${4:-checked checked-status ts-nosize checked-nosize checked-nosize-status single single-nosize}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -std=c11 -D_GNU_SOURCE -O2 -DNDEBUG -DSGI_POOL_NO_VALGRIND -I"$root/csrc" \
    "$root"/csrc/*.c "$root/csrc/bench/instr_pairs.c" -pthread -o "$work/pairs"
instructions() {  # total instructions of one run
    valgrind --tool=callgrind --callgrind-out-file="$work/out" "$work/pairs" "$@" \
        >/dev/null 2>"$work/log"
    sed -n 's/^summary: //p' "$work/out"
}
# (the harness's own loop, about 27 instructions per pair, is in every row)
printf '%-8s %-6s %-22s %12s %8s\n' pattern size mode "instr/pair" "x ts"
for pattern in $patterns; do
    for size in $sizes; do
        ts=""
        for mode in ts $modes; do
            [ "$mode" = ts ] && [ -n "$ts" ] && continue
            base=$(instructions "$mode" "$pattern" 0 "$size")
            full=$(instructions "$mode" "$pattern" "$count" "$size")
            per=$(awk -v a="$full" -v b="$base" -v n="$count" 'BEGIN { printf "%.1f", (a - b) / n }')
            ts=${ts:-$per}
            awk -v per="$per" -v ts="$ts" -v m="$mode" -v p="$pattern" -v s="$size" \
                'BEGIN { printf "%-8s %-6s %-22s %12.1f %8.2f\n", p, s, m, per, per / ts }'
        done
    done
done
