#!/usr/bin/env bash
# Instructions per allocate+free pair of sgi_pool, counted by callgrind:
# csrc/bench/instr_pairs.c built -O2 without the Valgrind client requests (so the
# fast paths run as they do outside Valgrind), run with COUNT and with 0
# pairs; the difference divided by COUNT is printed per mode and pattern.
# Usage: scripts/callgrind_pairs.sh [COUNT]   (needs gcc and valgrind)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
count=${1:-200000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -std=c11 -D_GNU_SOURCE -O2 -DNDEBUG -DSGI_POOL_NO_VALGRIND -I"$root/csrc" \
    "$root"/csrc/*.c "$root/csrc/bench/instr_pairs.c" -o "$work/pairs"
instructions() {  # total instructions of one run
    valgrind --tool=callgrind --callgrind-out-file="$work/out" "$work/pairs" "$@" \
        >/dev/null 2>"$work/log"
    sed -n 's/^summary: //p' "$work/out"
}
# (the harness's own loop, about 27 instructions per pair, is in every row)
printf '%-8s %-16s %12s %10s\n' pattern mode "instr/pair" "x ts"
for pattern in lifo churn; do
    ts=""
    for mode in ts checked ts-nosize checked-nosize single; do
        base=$(instructions "$mode" "$pattern" 0)
        full=$(instructions "$mode" "$pattern" "$count")
        per=$(awk -v a="$full" -v b="$base" -v n="$count" 'BEGIN { printf "%.1f", (a - b) / n }')
        ts=${ts:-$per}
        awk -v per="$per" -v ts="$ts" -v m="$mode" -v p="$pattern" \
            'BEGIN { printf "%-8s %-16s %12.1f %10.2f\n", p, m, per, per / ts }'
    done
done
