#!/usr/bin/env bash
# Soak: `busbar run` under a steady load for a long time, sampled every 10 s, to show that
# nothing grows (issue 18, section 6): RSS, open fds, p99 latency, events in flight.
#   kafka:     a kafka source (consumer group) -> one rule -> a kafka target topic; a python
#              producer feeds the input topic at a fixed rate, a python reader reads the output
#              topic from the start (every partition assigned, no group).
#   putevents: HTTP ingest, PutEvents requests of ENTRIES entries -> one rule -> a file target;
#              PUT_CONNECTIONS python generators (one keep-alive connection each) at a fixed
#              rate, a reader follows the file as it grows.
# Unless RATE is given, each scenario first runs PEAK_SECONDS with its generator unthrottled and
# takes its peak from busbar's deliveries after the first 10 s; the soak then runs at
# PEAK_FRACTION of that. Every event carries its generator, a sequence number and its send
# time: the readers count every id (sent = delivered, no duplicates) and measure end-to-end
# latency; the sampler takes p50/p99 from busbar's own busbar_delivery_latency_seconds bucket
# deltas per window. Generators and readers run on the same cores as busbar: their rows say
# when a generator fell behind its schedule, and the summary warns when it missed the rate.
#
# Usage: bash benches/soak.sh      (builds the release binary first; see benches/README.md)
# Environment:
#   SCENARIO=both          kafka | putevents | both (one after the other)
#   DURATION=1800          seconds of load per scenario (sampling goes on while it drains)
#   RATE=                  events/s for every scenario; empty = PEAK_FRACTION x the measured peak
#   PEAK_SECONDS=30        length of the peak run; PEAK_FRACTION=0.7
#   EVENT_BYTES=800        bytes of each event's detail (an order with line items; the Kafka
#                          envelope adds ~260 B, busbar's PutEvents envelope ~250 B)
#   ENTRIES=10             entries per PutEvents request; PUT_CONNECTIONS=2 generators
#   KAFKA_BOOTSTRAP=127.0.0.1:19092   the broker; OWN_BROKER=1 starts a private tansu
#                          (memory engine) on a free port for each run instead and stops it after
#   PARTITIONS=3           partitions of the input and output topics
#   FETCH_WAIT_MS=500      fetch.wait.max.ms of busbar's consumer and of the reader
#   LINGER_MS=100          linger.ms of the kafka generator and of busbar's producer
#                          (kafka.producer.linger.ms; busbar's default is 5)
#   KAFKA_DISTINCT=1       distinct detail bodies the kafka generator cycles through (putevents:
#                          512); MAX_AHEAD=200000 events the kafka peak run may run ahead of busbar
# tansu 0.6's memory engine keeps every record in memory and lists every batch object of a
# partition on each fetch (it holds a fetch for fetch.wait.max.ms even when data waits), so a
# 30-minute run at a high rate would measure the broker: larger batches (LINGER_MS), fewer
# fetches (FETCH_WAIT_MS) and records that compress well (KAFKA_DISTINCT) keep its memory and
# per-fetch cost down, and its RSS and CPU are sampled beside busbar's. The end-to-end latency
# of this scenario is therefore mostly the two fetch waits and lingers.
#   OUT=target/soak/DATE   where CSVs, configs, logs and summaries go
#   PYTHON=.ci/venv/bin/python        a python with confluent-kafka (BUSBAR_TEST_PYTHON wins)
#   SKIP_BUILD=1           use the binary as it is; BUSBAR=path picks another binary
#   PUNCH_MIB=64           the putevents reader frees the output file's blocks behind it every
#                          64 MiB (fallocate PUNCH_HOLE; the size stays): at 70% of the peak the
#                          file grows faster than a small disk holds for 30 minutes. 0 keeps it
#   KEEP_OUTPUT=1          keep the output file after the run (else deleted once counted)
set -euo pipefail
cd "$(dirname "$0")/.."
SCENARIO=${SCENARIO:-both}
DURATION=${DURATION:-1800}
RATE=${RATE:-}
PEAK_SECONDS=${PEAK_SECONDS:-30}
PEAK_FRACTION=${PEAK_FRACTION:-0.7}
EVENT_BYTES=${EVENT_BYTES:-800}
ENTRIES=${ENTRIES:-10}
PUT_CONNECTIONS=${PUT_CONNECTIONS:-2}
KAFKA_BOOTSTRAP=${KAFKA_BOOTSTRAP:-127.0.0.1:19092}
OWN_BROKER=${OWN_BROKER:-}
PARTITIONS=${PARTITIONS:-3}
FETCH_WAIT_MS=${FETCH_WAIT_MS:-500}
LINGER_MS=${LINGER_MS:-100}
KAFKA_DISTINCT=${KAFKA_DISTINCT:-1}
MAX_AHEAD=${MAX_AHEAD:-200000}
PUNCH_MIB=${PUNCH_MIB:-64}
OUT=${OUT:-target/soak/$(date +%Y%m%d-%H%M%S)}
PY=${BUSBAR_TEST_PYTHON:-${PYTHON:-.ci/venv/bin/python}}
WINDOW=10
SOAK=benches/soak.py
KC=tests/clients/kafka_client.py
case $SCENARIO in kafka | putevents) scenarios=$SCENARIO ;; both) scenarios="kafka putevents" ;;
  *) echo "SCENARIO must be kafka, putevents or both, not $SCENARIO" >&2; exit 2 ;; esac

[ -n "${SKIP_BUILD:-}" ] || [ -n "${BUSBAR:-}" ] || cargo build --release --quiet --bins
B=${BUSBAR:-${CARGO_TARGET_DIR:-target}/release/busbar}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
pids=()
broker_pid=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -z "$broker_pid" ] || kill "$broker_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  [ -n "${KEEP_OUTPUT:-}" ] || rm -f "$OUT"/*/out.ndjson
}
trap cleanup EXIT
calc() { echo "$*" | bc -l; }
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
log() { echo "[$(date +%T)] $*" >&2; }

echo "busbar: $B ($(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ', dirty'))"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); results in $OUT"

# ---- broker -----------------------------------------------------------------------------------
# A memory broker keeps every record for its lifetime (tansu 0.6 has no retention there), so
# OWN_BROKER=1 gives each run a fresh one and frees its memory after.
start_broker() { # RUNDIR: sets bootstrap and broker_pid
  if [ -n "$OWN_BROKER" ]; then
    local port tansu
    port=$(free_port)
    tansu=${TANSU:-$(command -v tansu || echo "${CARGO_HOME:-$HOME/.cargo}/bin/tansu")}
    RUST_LOG=warn "$tansu" broker --listener-url "tcp://127.0.0.1:$port" \
      --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine memory://tansu/ \
      >"$1/broker.log" 2>&1 &
    broker_pid=$!
    bootstrap=127.0.0.1:$port
  else
    bootstrap=$KAFKA_BOOTSTRAP
    broker_pid=$(ss -ltnpH "sport = :${bootstrap##*:}" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1)
  fi
  for i in $(seq 60); do
    $PY $KC ping --bootstrap "$bootstrap" --timeout 1 >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "no broker answers at $bootstrap" >&2
  exit 1
}
stop_broker() {
  if [ -n "$OWN_BROKER" ] && [ -n "$broker_pid" ]; then
    kill "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
  fi
  broker_pid=""
}

# ---- one run ----------------------------------------------------------------------------------
# run SCENARIO LABEL RATE SECONDS: busbar under the load; writes $OUT/LABEL/ and $OUT/LABEL.csv.
# Rate 0 (a peak run): generators unthrottled, no reader, no id count.
run() {
  local scenario=$1 label=$2 rate=$3 secs=$4
  local d=$OUT/$label
  mkdir -p "$d"
  rm -f "$d"/*.csv "$d"/sent.json
  local aport
  aport=$(free_port)
  local common="admin:
  listen: 127.0.0.1:$aport
watch_config: false
shutdown_grace_seconds: 30
log: {level: warn}"
  local hport="" tin tout
  if [ "$scenario" = kafka ]; then
    start_broker "$d"
    tin="soak-$label-$$-$(date +%s).in" tout="soak-$label-$$-$(date +%s).out"
    $PY $KC create-topics --bootstrap "$bootstrap" --partitions "$PARTITIONS" "$tin" "$tout" >/dev/null
    cat >"$d/busbar.yaml" <<EOF
sources:
  - id: in
    kind: kafka
    topics: [$tin]
    group_id: soak-$label-$$
    start: earliest
rules:
  - name: all
    event_pattern: {"source": [{"prefix": ""}]}
    targets:
      - id: out
        kind: kafka
        topic: $tout
kafka:
  brokers: $bootstrap
  consumer: {fetch.wait.max.ms: "$FETCH_WAIT_MS"}
  producer: {linger.ms: "$LINGER_MS"}
$common
EOF
  else
    hport=$(free_port)
    cat >"$d/busbar.yaml" <<EOF
sources:
  - id: putevents
    kind: http
    listen: 127.0.0.1:$hport
rules:
  - name: all
    event_pattern: {"source": [{"prefix": ""}]}
    targets:
      - id: file
        kind: file
        path: $d/out.ndjson
$common
EOF
    rm -f "$d/out.ndjson"
  fi
  $B validate --config "$d/busbar.yaml" >/dev/null
  $B run --config "$d/busbar.yaml" >"$d/busbar.stdout" 2>"$d/busbar.log" &
  local bpid=$!
  pids+=("$bpid")
  local i
  for i in $(seq 120); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$aport/readyz")" = 200 ] && break
    kill -0 "$bpid" 2>/dev/null || { tail "$d/busbar.log" >&2; exit 1; }
    [ "$i" = 120 ] && { echo "busbar not ready after 60 s" >&2; exit 1; }
    sleep 0.5
  done
  local t0 reader="" gens=() g
  t0=$(date +%s.%N)
  local clock="--t0 $t0 --window $WINDOW"
  if [ "$rate" != 0 ]; then
    if [ "$scenario" = kafka ]; then
      $PY $SOAK kafka-consume $clock --bootstrap "$bootstrap" --topic "$tout" --fetch-wait-ms "$FETCH_WAIT_MS" \
        --stats "$d/reader.csv" --sent "$d/sent.json" >"$d/reader.json" 2>"$d/reader.log" &
    else
      $PY $SOAK tail $clock --path "$d/out.ndjson" --stats "$d/reader.csv" --sent "$d/sent.json" \
        --punch-mib "$PUNCH_MIB" >"$d/reader.json" 2>"$d/reader.log" &
    fi
    reader=$!
    pids+=("$reader")
  fi
  $PY $SOAK sample $clock --pid "$bpid" --metrics "http://127.0.0.1:$aport/metrics" \
    --broker-pid "${broker_pid:-0}" --csv "$d/samples.csv" 2>"$d/sample.log" &
  local spid=$!
  pids+=("$spid")
  if [ "$scenario" = kafka ]; then
    $PY $SOAK kafka-produce $clock --bootstrap "$bootstrap" --topic "$tin" --rate "$rate" \
      --duration "$secs" --size "$EVENT_BYTES" --linger-ms "$LINGER_MS" --distinct "$KAFKA_DISTINCT" \
      --max-ahead "$([ "$rate" = 0 ] && echo "$MAX_AHEAD" || echo 0)" \
      --metrics "http://127.0.0.1:$aport/metrics" --stats "$d/gen0.csv" \
      >"$d/gen0.json" 2>"$d/gen0.log" &
    gens+=($!)
  else
    for g in $(seq 0 $((PUT_CONNECTIONS - 1))); do
      $PY $SOAK put $clock --port "$hport" --g "$g" --rate "$(calc "$rate / $PUT_CONNECTIONS")" \
        --duration "$secs" --entries "$ENTRIES" --size "$EVENT_BYTES" --stats "$d/gen$g.csv" \
        >"$d/gen$g.json" 2>"$d/gen$g.log" &
      gens+=($!)
    done
  fi
  pids+=("${gens[@]}")
  log "$label: busbar pid $bpid, rate $rate/s, $secs s, ${#gens[@]} generator(s)"
  local ok=1
  for g in "${gens[@]}"; do wait "$g" || ok=0; done
  [ "$ok" = 1 ] || { log "$label: a generator failed:"; tail -n 5 "$d"/gen*.log "$d"/gen*.json >&2; }
  # The generators' final counts, for the reader's id check.
  $PY -c 'import json, sys
out = {}
for p in sys.argv[1:]:
    j = json.load(open(p))
    out[j.get("g", 0)] = j["sent"]
print(json.dumps(out))' "$d"/gen*.json >"$d/sent.json.tmp"
  mv "$d/sent.json.tmp" "$d/sent.json"
  log "$label: load done: sent $(cat "$d/sent.json")"
  if [ -n "$reader" ]; then
    local rrc=0
    wait "$reader" || rrc=$?
    if [ ! -s "$d/reader.json" ]; then
      log "$label: the reader failed: exit $rrc$( ((rrc > 128)) && echo " (signal $((rrc - 128)))")"
      tail "$d/reader.log" >&2
    fi
    log "$label: reader: $(cat "$d/reader.json")"
  fi
  # Let the sampler see the drained state (in flight 0) before it stops.
  sleep $((WINDOW + 1))
  kill "$spid" 2>/dev/null || true
  wait "$spid" 2>/dev/null || true
  curl -s "http://127.0.0.1:$aport/metrics" >"$d/metrics-end.txt" || true
  kill -TERM "$bpid"
  local rc=0
  wait "$bpid" || rc=$?
  echo "$rc" >"$d/busbar.exit"
  log "$label: busbar exit $rc; last log lines:"
  tail -n 3 "$d/busbar.log" >&2 || true
  [ "$scenario" != kafka ] || stop_broker
  if [ "$scenario" = putevents ] && [ -f "$d/out.ndjson" ]; then
    # With blocks freed, the holes read as zeros: the reader's count (every line parsed as it
    # was written) stands; without, count the file itself too.
    echo "$(stat -c %s "$d/out.ndjson") bytes, $(du -k "$d/out.ndjson" | cut -f1) KiB on disk" \
      "$([ "$PUNCH_MIB" != 0 ] || echo ", $(wc -l <"$d/out.ndjson") lines (wc -l)")" >"$d/out.size"
  fi
  local gargs=() f
  for f in "$d"/gen*.csv; do gargs+=(--generator "$f"); done
  $PY $SOAK summary --samples "$d/samples.csv" "${gargs[@]}" --reader "$d/reader.csv" \
    --out "$OUT/$label.csv" --label "$label" --rate "$rate" --duration "$secs" \
    --first-last $((secs >= 600 ? 300 : secs / 6)) >"$d/summary.txt" || true
}

# peak LABEL: events/s busbar delivered in the peak run after its first window.
peak_of() {
  $PY -c 'import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if 1 <= int(r["window"]) < float(sys.argv[2]) / 10]
print(round(sum(int(r["events_out"]) for r in rows) / (10 * len(rows))))' "$OUT/$1.csv" "$PEAK_SECONDS"
}

for s in $scenarios; do
  if [ -n "$RATE" ]; then
    rate=$RATE
    echo "== $s: RATE=$rate events/s given"
  else
    run "$s" "$s-peak" 0 "$PEAK_SECONDS"
    peak=$(peak_of "$s-peak")
    rate=$(calc "$peak * $PEAK_FRACTION" | cut -d. -f1)
    echo "== $s: peak $peak events/s (unthrottled, $PEAK_SECONDS s, windows after the first 10 s); soak at $PEAK_FRACTION: $rate events/s"
    echo "$peak $rate" >"$OUT/$s-rates"
  fi
  run "$s" "$s" "$rate" "$DURATION"
  d=$OUT/$s
  echo
  echo "==== $s: $DURATION s at $rate events/s ($(date -u +%FT%TZ)) ===="
  cat "$d/summary.txt"
  echo
  echo "ids: $(cat "$d/reader.json" 2>/dev/null || echo 'no reader result')"
  [ ! -f "$d/out.size" ] || echo "file target: $(cat "$d/out.size")"
  echo "busbar exit status: $(cat "$d/busbar.exit"); busbar totals at the end:"
  grep -E '^busbar_(events_received_total|deliveries_total|dead_letters_total|dropped_total|delivery_failures_total|backpressure_total)' \
    "$d/metrics-end.txt" | sed 's/^/  /' || true
  echo "samples: $OUT/$s.csv"
done
