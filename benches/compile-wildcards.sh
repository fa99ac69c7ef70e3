#!/usr/bin/env bash
# Compiling many wildcards on one field: `busbar validate` wall time and peak RSS for rule sets of
# 10, 100 and 1,000 rules of two or three `*` each, all on field `a`, with distinct literals
# (`*k<i>x*q<i>z*`, `a<i>x*b<i>y*c`, `*foo<i>*bar*baz<i>` in turn); then `busbar filter --count`
# over the same EVENTS events with each set. The events name only rules 0-9 (present in every
# set) or rules that exist in none, so every set matches the same events and a difference in
# speed is the cost of the rule count alone.
# Data set: generated here, "wildcard values, $EVENTS events": {"a":"<value>","n":<j>} per line.
#
# Usage: bash benches/compile-wildcards.sh   (builds the release binary first)
# Environment: SIZES="10 100 1000", RUNS=3 (best of), EVENTS=200000, SKIP_BUILD=1 (use the
#              binary as it is), BUSBAR=path (another binary, e.g. a baseline build; a run is
#              cut off after TIMEOUT=60 seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-10 100 1000}
RUNS=${RUNS:-3}
EVENTS=${EVENTS:-200000}
TIMEOUT=${TIMEOUT:-60}
[ -n "${SKIP_BUILD:-}" ] || [ -n "${BUSBAR:-}" ] || cargo build --release --quiet --bins
B=${BUSBAR:-${CARGO_TARGET_DIR:-target}/release/busbar}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

glob() { # rule i -> its wildcard
  case $(($1 % 3)) in
    0) echo "*k$1x*q$1z*" ;;
    1) echo "a$1x*b$1y*c" ;;
    *) echo "*foo$1*bar*baz$1" ;;
  esac
}

awk -v n="$EVENTS" 'BEGIN {
  for (j = 0; j < n; j++) {
    r = (j % 2 == 0) ? (j * 7) % 10 : 1000 + (j * 13) % 9000;
    s = j % 4;
    if (s == 0) v = "x-k" r "x-" j "-q" r "z-y";
    else if (s == 1) v = "a" r "x-" j "-b" r "y-c";
    else if (s == 2) v = "foo" r "/bar/" j "/baz" r;
    else v = "nothing-" j "-k" r "x";
    printf "{\"a\":\"%s\",\"n\":%d}\n", v, j;
  }
}' >"$dir/events.ndjson"
cat "$dir/events.ndjson" >/dev/null # warm the page cache

printf '| rules | validate, best of %s (s) | peak RSS (MB) | filter events/s, end to end | matched |\n' "$RUNS"
printf '|---:|---:|---:|---:|---:|\n'
for n in $SIZES; do
  {
    echo "sources: [{id: in, kind: stdin}]"
    echo "rules:"
    for ((i = 0; i < n; i++)); do
      echo "  - {name: r$i, event_pattern: '{\"a\":[{\"wildcard\":\"$(glob "$i")\"}]}'}"
    done
  } >"$dir/rules-$n.yaml"
  {
    echo "{"
    for ((i = 0; i < n; i++)); do
      [ "$i" = 0 ] || echo ","
      echo "\"r$i\": {\"a\":[{\"wildcard\":\"$(glob "$i")\"}]}"
    done
    echo "}"
  } >"$dir/rules-$n.json"
  best="" rss=0
  for ((k = 0; k < RUNS; k++)); do
    if ! timeout "$TIMEOUT" /usr/bin/time -f '%e %M' -o "$dir/time" \
      "$B" validate --config "$dir/rules-$n.yaml" >/dev/null 2>"$dir/err"; then
      best="failed: $(tail -1 "$dir/err" | cut -c1-80)"
      break
    fi
    read -r t kb <"$dir/time"
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
    [ "$kb" -le "$rss" ] || rss=$kb
  done
  rate="" matched=""
  if [[ "$best" != failed* ]]; then
    # End to end, as users run it: process start, compiling and reading the
    # file count (subtracting a run over no events, as this script did at
    # first, went negative on a loaded machine). Best of RUNS.
    fbest=""
    for ((k = 0; k < RUNS; k++)); do
      start=$(date +%s.%N)
      matched=$( { "$B" filter --count --rules "$dir/rules-$n.json" "$dir/events.ndjson" || [ $? = 1 ]; } | sed -n 1p)
      end=$(date +%s.%N)
      t=$(echo "$end - $start" | bc -l)
      if [ -z "$fbest" ] || [ "$(echo "$t < $fbest" | bc -l)" = 1 ]; then fbest=$t; fi
    done
    rate=$(printf '%.0f' "$(echo "$EVENTS / $fbest" | bc -l)")
  fi
  printf '| %s | %s | %.1f | %s | %s |\n' "$n" "$best" "$(echo "$rss / 1024" | bc -l)" "$rate" "$matched"
done
