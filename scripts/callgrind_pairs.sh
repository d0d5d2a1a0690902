#!/usr/bin/env bash
# Instructions per allocate+free pair of sgi_pool, counted by callgrind:
# bench/instr_pairs.c built -O2 without the Valgrind client requests (so the
# fast paths run as they do outside Valgrind), run with COUNT and with 0
# pairs; the difference divided by COUNT is printed per mode and pattern.
# Usage: scripts/callgrind_pairs.sh [COUNT]   (needs gcc and valgrind)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
count=${1:-200000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -std=c11 -D_GNU_SOURCE -O2 -DNDEBUG -DSGI_POOL_NO_VALGRIND -I"$root/csrc" \
    "$root"/csrc/*.c "$root/bench/instr_pairs.c" -o "$work/pairs"
instructions() {  # total instructions of one run
    valgrind --tool=callgrind --callgrind-out-file="$work/out" "$work/pairs" "$@" \
        >/dev/null 2>"$work/log"
    sed -n 's/^summary: //p' "$work/out"
}
printf '%-8s %-16s %12s\n' pattern mode "instr/pair"
for pattern in lifo churn; do
    for mode in ts checked ts-nosize checked-nosize; do
        base=$(instructions "$mode" "$pattern" 0)
        full=$(instructions "$mode" "$pattern" "$count")
        awk -v a="$full" -v b="$base" -v n="$count" -v m="$mode" -v p="$pattern" \
            'BEGIN { printf "%-8s %-16s %12.1f\n", p, m, (a - b) / n }'
    done
done
