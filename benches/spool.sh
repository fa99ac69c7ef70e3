#!/usr/bin/env bash
# PutEvents into `busbar run` with the write-ahead spool off and on: the same load from
# benches/put_load.rs (kept-alive connections, 10 entries a request, ~400-byte Detail),
# one rule matching every entry, delivered to a file target in the same directory as the
# spool (one disk). Per row: entries/s accepted, MB/s of request bodies, busbar's CPU
# seconds per 100k entries (from /proc/PID/stat, so entries/s per core = 1e5 / that), and
# the request latency p50/p99/p99.9 as the client saw it (from the first byte sent to the
# answer read). With the spool on, every request is answered only after its record is
# written and fdatasync'd (group commit), so the p99 difference is the price of
# durability on this disk.
#
# Usage: bash benches/spool.sh          (builds release binaries first)
# Environment:
#   CONNECTIONS="1 16 64"   concurrent client connections per run
#   ENTRIES=10              entries per PutEvents request
#   SECONDS=15              seconds per run
#   DETAIL_BYTES=400        approximate Detail size
#   SHAPES="compact spaced" request JSON as compact, or spaced as Python's json.dumps writes it
#   DIR=...                 where the spool and the target file go (default: a temp dir
#                           under $TMPDIR, so name a directory on the disk you care about)
#   SKIP_BUILD=1            use target/release as it is
set -euo pipefail
cd "$(dirname "$0")/.."
CONNECTIONS=${CONNECTIONS:-1 16 64}
ENTRIES=${ENTRIES:-10}
SECONDS_PER_RUN=${SECONDS:-15}
DETAIL_BYTES=${DETAIL_BYTES:-400}
SHAPES=${SHAPES:-compact spaced}

if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release --quiet --bins
  LOAD=$(cargo build --release --quiet --bench put_load --message-format=json |
    sed -n 's/.*"name":"put_load".*"executable":"\([^"]*\)".*/\1/p' | tail -1)
else
  LOAD=$(ls -t target/release/deps/put_load-* 2>/dev/null | grep -v '\.d$' | head -1 || true)
fi
[ -x "$LOAD" ] || { echo "no put_load binary (cargo build --release --bench put_load)" >&2; exit 1; }
B=target/release/busbar
dir=${DIR:-$(mktemp -d)}
mkdir -p "$dir"
pid=
cleanup() {
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  [ -n "${DIR:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

echo "disk: $(df -hT "$dir" | tail -1 | awk '{print $1, $2}'), cores: $(nproc), $(date -u +%FT%TZ)"
echo "load: $ENTRIES entries/request, ~$DETAIL_BYTES-byte Detail, $SECONDS_PER_RUN s per run"
echo
printf '| shape | connections | spool | entries/s | MB/s | CPU s per 100k entries | p50 ms | p99 ms | p99.9 ms | throttled |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
hz=$(getconf CLK_TCK)
for shape in $SHAPES; do
  for c in $CONNECTIONS; do
    for spool in off on; do
      port=$(free_port)
      admin=$(free_port)
      rm -rf "$dir/spool" "$dir/out.ndjson"
      spool_cfg=
      [ "$spool" = off ] || spool_cfg="spool: {path: \"$dir/spool\"}"
      cat >"$dir/busbar.yaml" <<EOF
sources:
  - {id: api, kind: http, listen: "127.0.0.1:$port"}
rules:
  - name: all
    event_pattern: {"source": ["shop"]}
    targets:
      - {id: out, kind: file, path: "$dir/out.ndjson"}
$spool_cfg
watch_config: false
log: {level: warn}
EOF
      BUSBAR_ADMIN_ADDR=127.0.0.1:$admin $B run --config "$dir/busbar.yaml" 2>"$dir/stderr" &
      pid=$!
      for _ in $(seq 100); do
        curl -fs "http://127.0.0.1:$admin/readyz" >/dev/null 2>&1 && break
        sleep 0.1
      done
      spaced=
      [ "$shape" = compact ] || spaced=--spaced
      t0=$(cpu_ticks $pid)
      out=$("$LOAD" --addr 127.0.0.1:$port --connections "$c" --entries "$ENTRIES" \
        --seconds "$SECONDS_PER_RUN" --detail-bytes "$DETAIL_BYTES" $spaced)
      t1=$(cpu_ticks $pid)
      kill -TERM $pid
      wait $pid || true
      pid=
      python3 - "$out" "$t0" "$t1" "$hz" "$shape" "$c" "$spool" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
t0, t1, hz = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
cpu = (t1 - t0) / hz
per100k = cpu / max(r["entries"], 1) * 1e5
print(f"| {sys.argv[5]} | {sys.argv[6]} | {sys.argv[7]} | {r['entries_per_s']:,.0f} | {r['mb_per_s']:.1f} "
      f"| {per100k:.2f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['p999_ms']:.2f} | {r['throttled']} |")
if r["failed"]:
    print(f"  ({r['failed']} requests failed)")
PY
    done
  done
done
