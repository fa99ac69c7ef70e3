#!/usr/bin/env bash
# Two builds of busbar, end to end, runs alternating: the way to tell a
# change of a few percent from the noise of a shared machine, where two
# runs of filter-formats.sh minutes apart differ by more than that.
# `busbar filter --count --rules KIND.json FORMAT.ndjson` with binary A,
# then B, RUNS times, pinned to one core; prints the best of each in ms and
# A's time over B's (above 1: B is faster).
#
# Usage: A=/tmp/busbar-before B=target/release/busbar DATA=/tmp/ffdata \
#          bash benches/filter-pair.sh
# Environment: A, B (the two binaries; B defaults to the release build),
# DATA (a directory holding KIND.json and FORMAT.ndjson, as
# filter-formats.sh leaves them), KINDS and FORMATS (space-separated;
# defaults: exact-10000 equals_ignore_case, compact python escaped), RUNS
# (default 7), CPU (default 1).
set -euo pipefail
A=${A:?set A to the binary to compare against}
B=${B:-target/release/busbar}
DATA=${DATA:?set DATA to the directory of filter-formats.sh}
KINDS=${KINDS:-exact-10000 equals_ignore_case}
FORMATS=${FORMATS:-compact python escaped}
RUNS=${RUNS:-7}
CPU=${CPU:-1}

# Microseconds one run of binary $1 takes over rule set $2 and file $3.
run() {
  local s e
  s=$(date +%s%N)
  taskset -c "$CPU" "$1" filter --count --rules "$DATA/$2.json" "$DATA/$3.ndjson" >/dev/null
  e=$(date +%s%N)
  echo $(((e - s) / 1000))
}

printf '| rule set | format | A (ms) | B (ms) | A ÷ B |\n|---|---|---:|---:|---:|\n'
for k in $KINDS; do
  for f in $FORMATS; do
    best_a=999999999
    best_b=999999999
    for _ in $(seq "$RUNS"); do
      t=$(run "$A" "$k" "$f")
      ((t < best_a)) && best_a=$t
      t=$(run "$B" "$k" "$f")
      ((t < best_b)) && best_b=$t
    done
    awk -v k="$k" -v f="$f" -v a="$best_a" -v b="$best_b" \
      'BEGIN { printf "| %s | %s | %.1f | %.1f | %.3f |\n", k, f, a / 1000, b / 1000, a / b }'
  done
done
