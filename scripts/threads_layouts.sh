#!/usr/bin/env bash
# One-thread and two-thread cells of the threads benchmark (scripts/threads_cell.c)
# over several code layouts: the core is linked behind a padding of PAD bytes
# (the benchmark's loops stay where they are), so that a figure is not the luck of
# one layout.  On the 2-CPU machine of docs/performance.md the same code moved
# 0.5x-1.4x between layouts (issue 25, 2026-12-06); compare trees by the medians
# over layouts, never by one build.
# Usage (under flock -x /tmp/timing.lock): scripts/threads_layouts.sh [TREE...]
#   (default: this checkout; needs gcc and python3)
#   PADS="0 48 ..." the paddings (default: ten from 0 to 3536 bytes),
#   PAIRS (default 2000000 per run), REPEATS (default 7: the median is kept),
#   TREE_CFLAGS="flags of tree 0|flags of tree 1|..." extra compiler flags per tree
#   (the same tree may be given twice, to compare flags)
# Prints per tree, over the layouts: one thread with caches (kind 9, not switched)
# against the unchecked single-thread pool (kind 1), CPU time per pair; two threads
# sharing one cached pool against one thread-safe pool per thread (kind 2),
# throughput: the median ratio [min-max] and in how many layouts the target holds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
trees=("$@")
[ ${#trees[@]} -eq 0 ] && trees=("$root")
pads=${PADS:-0 48 112 208 400 912 1488 2352 2928 3536}
pairs=${PAIRS:-2000000}
repeats=${REPEATS:-7}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cells=("1 lifo 1 0" "9 lifo 1 0" "1 fifo 1 0" "9 fifo 1 0" "1 churn 1 0" "9 churn 1 0"
    "9 lifo 2 0" "2 lifo 2 1" "9 fifo 2 0" "2 fifo 2 1" "9 churn 2 0" "2 churn 2 1")
IFS='|' read -r -a tree_cflags <<<"${TREE_CFLAGS:-}"
for t in "${!trees[@]}"; do
    tree=$(cd "${trees[$t]}" && pwd)
    trees[t]=$tree
    read -r -a extra <<<"${tree_cflags[$t]:-}"
    for pad in $pads; do
        printf 'void sgi_layout_pad(void);\nvoid sgi_layout_pad(void) { __asm__ volatile(".skip %d + 1, 0x90"); }\n' \
            "$pad" >"$work/pad.c"
        srcs=()
        for f in "$tree"/csrc/[a-z]*.c; do
            [ "$(basename "$f")" = sgi_pool.c ] && srcs+=("$work/pad.c")
            srcs+=("$f")
        done
        gcc -std=c11 -D_GNU_SOURCE -DNDEBUG -O3 -fwrapv -fPIC -fvisibility=hidden \
            ${extra[@]+"${extra[@]}"} -I"$tree/csrc" -I"$tree/csrc/bench" "$tree/csrc/bench/bench_loops.c" \
            "$tree/csrc/bench/bench_threads.c" "$root/scripts/threads_cell.c" "${srcs[@]}" \
            -ldl -pthread -o "$work/cell-$t-$pad"
    done
done
for pad in $pads; do # the trees alternate within each layout
    for t in "${!trees[@]}"; do
        for cell in "${cells[@]}"; do
            read -r kind pattern threads per_thread <<<"$cell"
            m=$("$work/cell-$t-$pad" "$kind" "$pattern" "$threads" "$pairs" "$repeats" "$per_thread" |
                sort -n | sed -n "$(((repeats + 1) / 2))p")
            echo "$t $pad $kind-$pattern-$threads $m"
        done
    done
done >"$work/runs"
python3 - "$work/runs" "${trees[@]}" "${TREE_CFLAGS:-}" <<'EOF'
import collections, statistics, sys
runs = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    t, pad, cell, cpu, mpairs, _busy = line.split()
    runs[(int(t), cell)][pad] = (float(cpu), float(mpairs))
flags = sys.argv[-1].split("|")
for t, tree in enumerate(sys.argv[2:-1]):
    print(tree, flags[t] if t < len(flags) else "")
    for pattern in ("lifo", "fifo", "churn"):
        tc, single = runs[(t, f"9-{pattern}-1")], runs[(t, f"1-{pattern}-1")]
        one = [tc[p][0] / single[p][0] for p in tc]
        shared, per_thread = runs[(t, f"9-{pattern}-2")], runs[(t, f"2-{pattern}-2")]
        two = [shared[p][1] / per_thread[p][1] for p in shared]
        print(f"  {pattern:5} 1 thread tc / single (CPU): {statistics.median(one):.2f}"
              f" [{min(one):.2f}-{max(one):.2f}], <= 1.1 in {sum(r <= 1.1 for r in one)}/{len(one)};"
              f"  2 threads shared tc x ts/thread (throughput): {statistics.median(two):.2f}"
              f" [{min(two):.2f}-{max(two):.2f}], >= 0.8 in {sum(r >= 0.8 for r in two)}/{len(two)}")
EOF
