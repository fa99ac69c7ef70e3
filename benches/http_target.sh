#!/usr/bin/env bash
# An `http` target against an endpoint that answers after 20 ms (benches/http_endpoint.rs
# `serve`): deliveries/s of `busbar run` (stdin of EVENTS envelopes -> one http target; stdin's
# end waits until every event is delivered, so the wall time is end to end) with
# max_concurrency 1, 32 and 256, and with `ordering: {key: $.detail.customer}` over 100 keys at
# 32; busbar's CPU seconds per 1,000 deliveries (user + system, from /proc); and, as the ceiling,
# a plain hyper client (`http_endpoint load`) at the same concurrency against the same endpoint.
# A 20 ms endpoint allows 50/s one at a time, 1,600/s at 32 and 12,800/s at 256.
#
# Usage: bash benches/http_target.sh    (builds release binaries first)
# Environment:
#   EVENTS=20000        events per run (the max_concurrency 1 run sends EVENTS_SERIAL)
#   EVENTS_SERIAL=1000  events of the max_concurrency 1 run (20,000 at 50/s would take 400 s)
#   DELAY_MS=20         the endpoint's answer delay
#   SKIP_BUILD=1        use target/release as it is
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${EVENTS:-20000}
EVENTS_SERIAL=${EVENTS_SERIAL:-1000}
DELAY_MS=${DELAY_MS:-20}
if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release --quiet --bins
  EP=$(cargo build --release --quiet --bench http_endpoint --message-format=json |
    sed -n 's/.*"name":"http_endpoint".*"executable":"\([^"]*\)".*/\1/p' | tail -1)
else
  EP=$(ls -t target/release/deps/http_endpoint-* 2>/dev/null | grep -v '\.d$' | head -1 || true)
fi
[ -x "$EP" ] || { echo "no http_endpoint binary (cargo build --release --bench http_endpoint)" >&2; exit 1; }
B=target/release/busbar
dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$EP" serve --listen 127.0.0.1:$port --delay-ms "$DELAY_MS" &
pids+=($!)
sleep 0.5
python3 - "$dir" "$EVENTS" <<'PY'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
with open(f"{d}/events.ndjson", "w") as f:
    for i in range(n):
        f.write(json.dumps({"id": f"ev-{i}", "source": "shop", "detail-type": "Order Placed",
                            "detail": {"customer": f"c{i % 100}", "order": i, "note": "x" * 300}},
                           separators=(",", ":")) + "\n")
PY
head -n "$EVENTS_SERIAL" "$dir/events.ndjson" >"$dir/serial.ndjson"

echo "endpoint: answers after ${DELAY_MS} ms; cores: $(nproc); load average: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"
echo
printf '| run | events | seconds | deliveries/s | busbar CPU ms per 1,000 | plain hyper client, same concurrency |\n'
printf '|---|---|---|---|---|---|\n'
run() { # name concurrency ordering input
  local name=$1 c=$2 ordering=$3 input=$4
  cat >"$dir/busbar.yaml" <<YAML
sources:
  - {id: in, kind: stdin}
rules:
  - name: all
    event_pattern: {"source": ["shop"]}
    targets:
      - {id: hook, kind: http, url: "http://127.0.0.1:$port/hook", max_concurrency: $c$ordering}
admin: {listen: "127.0.0.1:0"}
log: {level: warn}
watch_config: false
YAML
  local n t0 t1
  n=$(wc -l <"$input")
  t0=$(date +%s.%N)
  # GNU time's user and system seconds: the last line of stderr.
  /usr/bin/env time -f '%U %S' "$B" run --config "$dir/busbar.yaml" <"$input" >/dev/null 2>"$dir/err" || true
  t1=$(date +%s.%N)
  local cpu
  cpu=$(tail -1 "$dir/err" | awk '{print $1+$2}')
  local ceiling
  ceiling=$("$EP" load --url "http://127.0.0.1:$port/ceiling" --concurrency "$c" --requests "$n" |
    python3 -c 'import json,sys; r=json.load(sys.stdin); print("{:,.0f}/s, {:.0f} ms CPU per 1,000".format(r["requests_per_s"], r["cpu_ms_per_1000"]))')
  python3 -c "
n=$n; s=$t1-$t0; cpu=$cpu
print(f'| $name | {n:,} | {s:.1f} | {n/s:,.0f} | {cpu*1e6/n:.0f} | $ceiling |')"
}
run "max_concurrency 1" 1 "" "$dir/serial.ndjson"
run "max_concurrency 32" 32 "" "$dir/events.ndjson"
run "max_concurrency 256" 256 "" "$dir/events.ndjson"
run "max_concurrency 32, ordering by key (100 keys)" 32 ", ordering: {key: \$.detail.customer}" "$dir/events.ndjson"
