#!/usr/bin/env bash
# End-to-end `busbar filter --rules` throughput on a file, per benchmark rule
# set, to compare with the in-memory figures of `cargo bench --bench engine`.
# Data set: citylots-like, $EVENTS events (default 200000), seed 42.
# Usage: bash benches/filter-e2e.sh   (builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${EVENTS:-200000}
cargo build --release --quiet
B=target/release/busbar
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
$B gen-citylots --count "$EVENTS" > "$dir/events.ndjson"
bytes=$(stat -c %s "$dir/events.ndjson")
cat "$dir/events.ndjson" > /dev/null # warm the page cache
printf '| rule set | matched | best of 3 (s) | events/s | MB/s |\n|---|---:|---:|---:|---:|\n'
for kind in exact wildcard prefix prefix_equals_ignore_case suffix suffix_equals_ignore_case \
  equals_ignore_case numeric anything_but anything_but_ignore_case anything_but_prefix \
  anything_but_suffix anything_but_wildcard complex_arrays exact-10 exact-10000; do
  $B gen-citylots --rules "$kind" > "$dir/rules.json"
  best=""
  for _ in 1 2 3; do
    start=$(date +%s.%N)
    # Status 1 (nothing matched, as grep) is a result here, not a failure.
    matched=$( { $B filter --count --rules "$dir/rules.json" "$dir/events.ndjson" || [ $? = 1 ]; } | head -1)
    end=$(date +%s.%N)
    t=$(echo "$end - $start" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
  done
  printf '| %s | %s | %.3f | %.0f | %.0f |\n' "$kind" "$matched" "$best" \
    "$(echo "$EVENTS / $best" | bc -l)" "$(echo "$bytes / $best / 1000000" | bc -l)"
done
