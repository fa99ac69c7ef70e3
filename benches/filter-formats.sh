#!/usr/bin/env bash
# End to end, one core: `busbar filter --count --rules KIND.json FILE` for
# every benchmark rule set on the same citylots-like events written in each
# formatting (compact, python, spaced, escaped, shuffled; see
# `busbar gen-citylots --help`), beside `wc -l` on the same file (the I/O
# ceiling) and quamina-rs 0.7's in-memory matching loop on the same bytes
# and rules (`benches/quamina_file.rs`: file read and rules built before its
# clock starts). Process start, compiling the rules and reading the file
# count for busbar.
#
# Usage: bash benches/filter-formats.sh
# Environment: EVENTS (default 200000), RUNS (best of, default 5), CPU (the
# core to pin to with taskset, default 1), FORMATS and KINDS (space-separated
# subsets), BUSBAR (a built binary; default: build the release binary),
# DATA (a directory to keep the generated files in between runs),
# INSTRUCTIONS=1 (add a column of instructions per event, counted by
# valgrind's cachegrind over the first 20,000 events of the file, start-up
# and compiling included: the figure to compare changes by on a noisy
# machine), QUAMINA=0 (leave quamina out), QUAMINA_VALIDATE=serde_json or
# simd-json (quamina's loop also validates each event it selects with that
# parser, as busbar does; see `benches/quamina_file.rs`), PAGE_CACHE (see
# below).
#
# How the page cache holds the file changes every reader's speed up to
# twofold. A file written in small writes (4 KiB: `dd bs=4096`, or a
# program writing through a small buffer) is cached in small pieces, and
# mapping or reading 180 MB of them costs 15-20 ms more in the kernel
# (`wc -l` 37.5 ms against 23.6 ms on the compact file written with
# `bs=1M`, 2026-12-07); read from disk by readahead it is cached in pieces
# as large as the disk's read_ahead_kb allows (8 MiB here: 2 MiB pieces).
# gen-citylots writes each file in one write, but a machine may evict
# and re-read it meanwhile (this one runs DAMON with a pageout scheme,
# which evicts page cache left untouched). PAGE_CACHE=reread (the
# default) evicts each file from the cache and reads it back with cat
# before it is measured, so every run starts from the state a reboot
# leaves, whoever wrote the file; PAGE_CACHE=as-is measures the file as it
# is cached already.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${EVENTS:-200000}
RUNS=${RUNS:-5}
CPU=${CPU:-1}
FORMATS=${FORMATS:-compact python spaced escaped shuffled}
KINDS=${KINDS:-exact wildcard prefix prefix_equals_ignore_case suffix suffix_equals_ignore_case \
equals_ignore_case numeric anything_but anything_but_ignore_case anything_but_prefix \
anything_but_suffix anything_but_wildcard complex_arrays exact-10000 absent-10 every}
if [ -z "${BUSBAR:-}" ]; then
  cargo build --release --quiet
  BUSBAR=${CARGO_TARGET_DIR:-target}/release/busbar
fi
QUAMINA=${QUAMINA:-1}
PAGE_CACHE=${PAGE_CACHE:-reread}
case "$PAGE_CACHE" in
  reread | as-is) ;;
  *) echo "PAGE_CACHE must be reread or as-is, not $PAGE_CACHE" >&2; exit 2 ;;
esac
if [ "$QUAMINA" != 0 ]; then
  quamina=$(cargo bench --quiet --bench quamina_file --no-run --message-format=json |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "quamina_file" and m.get("executable"):
        print(m["executable"])')
fi
dir=${DATA:-$(mktemp -d)}
[ -n "${DATA:-}" ] || trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir"

# Best wall time of $RUNS runs of the command, nanoseconds; the first line
# of the last run's stdout in the file $dir/first-line.
best_of() {
  local best="" t s e
  for _ in $(seq "$RUNS"); do
    s=$(date +%s%N)
    # Status 1 (nothing selected, as grep) is a result here, not a failure.
    { taskset -c "$CPU" "$@" || [ $? = 1 ]; } | head -1 > "$dir/first-line"
    e=$(date +%s%N)
    t=$(( e - s ))
    if [ -z "$best" ] || [ "$t" -lt "$best" ]; then best=$t; fi
  done
  echo "$best"
}

# Instructions per event of the command over the first 20,000 events of
# the file, which is its last argument.
instructions() {
  local args=("$@") small
  small="${args[-1]%.ndjson}.20k"
  [ -s "$small" ] || head -20000 "${args[-1]}" > "$small"
  args[-1]=$small
  valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "${args[@]}" 2>&1 >/dev/null |
    awk '/I *refs:/ {gsub(",", "", $NF); printf "%.0f", $NF / 20000}'
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs; pinned to CPU $CPU; best of $RUNS;" \
  "page cache: $PAGE_CACHE"
q="quamina${QUAMINA_VALIDATE:+ + $QUAMINA_VALIDATE}"
printf '| rule set | format | matched | best (s) | events/s | MB/s | × wc -l |%s%s\n' \
  "${INSTRUCTIONS:+ instr./event |}" "$([ "$QUAMINA" = 0 ] || echo " $q events/s | busbar ÷ $q |")"
printf '|---|---|---:|---:|---:|---:|---:|%s%s\n' "${INSTRUCTIONS:+---:|}" "$([ "$QUAMINA" = 0 ] || printf '%s' '---:|---:|')"
for format in $FORMATS; do
  f="$dir/$format.ndjson"
  [ -s "$f" ] || "$BUSBAR" gen-citylots --count "$EVENTS" --format "$format" > "$f"
  bytes=$(stat -c %s "$f")
  if [ "$PAGE_CACHE" = reread ]; then
    # Written back, then dropped from the cache (dirty pages cannot be).
    sync "$f"
    dd if="$f" iflag=nocache count=0 status=none
  fi
  cat "$f" > /dev/null # warm the page cache
  wc_ns=$(best_of wc -l "$f")
  printf '| wc -l | %s | | %.3f | %.0f | %.0f | 1.00 |%s%s\n' "$format" \
    "$(echo "$wc_ns / 10^9" | bc -l)" "$(echo "$EVENTS * 10^9 / $wc_ns" | bc -l)" \
    "$(echo "$bytes * 1000 / $wc_ns" | bc -l)" "${INSTRUCTIONS:+ $(instructions wc -l "$f") |}" \
    "$([ "$QUAMINA" = 0 ] || echo ' | |')"
  for kind in $KINDS; do
    r="$dir/$kind.json"
    [ -s "$r" ] || "$BUSBAR" gen-citylots --rules "$kind" > "$r"
    ns=$(best_of "$BUSBAR" filter --count --rules "$r" "$f")
    matched=$(cat "$dir/first-line")
    q=""
    if [ "$QUAMINA" != 0 ]; then
      read -r q_matched q_ns < <(QUAMINA_RUNS=$RUNS taskset -c "$CPU" "$quamina" --bench "$kind" "$f")
      if [ "$q_matched" = n/a ]; then
        q=" n/a | — |"
      else
        # They differ only where event-ruler's rules and quamina's do: an
        # event number a double cannot hold exactly (numeric,
        # complex_arrays) is text to busbar, as to event-ruler.
        [ "$q_matched" = "$matched" ] || echo "$kind $format: quamina matched $q_matched, busbar $matched" >&2
        q=$(printf ' %.0f | %.2f× |' "$(echo "$EVENTS * 10^9 / $q_ns" | bc -l)" "$(echo "$q_ns / $ns" | bc -l)")
      fi
    fi
    printf '| %s | %s | %s | %.3f | %.0f | %.0f | %.2f |%s%s\n' "$kind" "$format" "$matched" \
      "$(echo "$ns / 10^9" | bc -l)" "$(echo "$EVENTS * 10^9 / $ns" | bc -l)" \
      "$(echo "$bytes * 1000 / $ns" | bc -l)" "$(echo "$ns / $wc_ns" | bc -l)" \
      "${INSTRUCTIONS:+ $(instructions "$BUSBAR" filter --count --rules "$r" "$f") |}" "$q"
  done
done
