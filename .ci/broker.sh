# shellcheck shell=bash
# A real Kafka-protocol broker for busbar's integration tests: tansu 0.6.0 with its in-memory
# storage engine (see the broker notes in the project's shared docs: why tansu, why memory://,
# and its known limits). Source it from the repository root or anywhere else:
#
#   source .ci/broker.sh          # prerequisites, then start (or reuse) the broker
#   source .ci/broker.sh prereqs  # only: OpenSSL headers, tansu, the Python venv
#   source .ci/broker.sh openssl  # only: OpenSSL headers (needed to build busbar's rdkafka)
#   source .ci/broker.sh start    # only: start (or reuse) the broker; needs the prerequisites
#
# Afterwards KAFKA_BOOTSTRAP (host:port) and BUSBAR_TEST_PYTHON (absolute path of the venv's
# python, which has confluent-kafka, boto3 and cloudevents) are exported. A broker this shell started is
# stopped when the shell exits (EXIT trap, chained after any EXIT trap already set). If a broker
# already answers on 127.0.0.1:$KAFKA_PORT it is reused and left running.
#
# Settings (environment): KAFKA_PORT (default 19092). Broker log: target/kafka/tansu.log.
# Works under `set -euo pipefail` and in an interactive shell (it returns non-zero on failure
# instead of exiting).

BUSBAR_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUSBAR_VENV=$BUSBAR_ROOT/.ci/venv
BUSBAR_TANSU_VERSION=0.6.0
BUSBAR_CONFLUENT_KAFKA_VERSION=2.16.1
BUSBAR_BOTO3_VERSION=1.44.5
BUSBAR_CLOUDEVENTS_VERSION=2.2.0

busbar_apt_install() {
    local sudo=
    [ "$(id -u)" = 0 ] || sudo=sudo
    echo "broker.sh: apt-get install $*" >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# OpenSSL headers: busbar's rdkafka dependency builds librdkafka with its `ssl` feature.
busbar_ensure_openssl() {
    if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists openssl; then
        return 0
    fi
    busbar_apt_install libssl-dev pkg-config || return 1
    pkg-config --exists openssl || { echo "broker.sh: openssl still not found by pkg-config" >&2; return 1; }
}

busbar_ensure_tansu() {
    BUSBAR_TANSU=${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin/tansu
    # Fast path: the right version is installed with the dynostore feature. Skips cargo (and its
    # package-cache lock, which a concurrent build may hold) when nothing is to be done.
    local manifest=${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/.crates2.json
    if [ -x "$BUSBAR_TANSU" ] && [ "$("$BUSBAR_TANSU" --version 2>/dev/null)" = "tansu $BUSBAR_TANSU_VERSION" ] &&
        [ -f "$manifest" ] && python3 - "$manifest" "$BUSBAR_TANSU_VERSION" <<'EOF' 2>/dev/null
import json, sys
installs = json.load(open(sys.argv[1]))["installs"]
sys.exit(0 if any(k.startswith("tansu " + sys.argv[2] + " ") and "dynostore" in v.get("features", [])
                  for k, v in installs.items()) else 1)
EOF
    then
        return 0
    fi
    # Idempotent: cargo answers "already installed" when version and features match. The first
    # install compiles ~400 crates (about 10-12 minutes on 2 cores).
    cargo install tansu --version "$BUSBAR_TANSU_VERSION" --locked --features dynostore || return 1
}

busbar_ensure_venv() {
    local py=$BUSBAR_VENV/bin/python
    local check="import confluent_kafka, boto3, cloudevents, sys
sys.exit(0 if confluent_kafka.__version__ == '$BUSBAR_CONFLUENT_KAFKA_VERSION' and boto3.__version__ == '$BUSBAR_BOTO3_VERSION' and cloudevents.__version__ == '$BUSBAR_CLOUDEVENTS_VERSION' else 1)"
    if [ -x "$py" ] && "$py" -c "$check" 2>/dev/null; then
        export BUSBAR_TEST_PYTHON=$py
        return 0
    fi
    if [ ! -x "$py" ]; then
        # Debian's python3 lacks ensurepip until python3-venv is installed.
        python3 -m venv "$BUSBAR_VENV" 2>/dev/null || {
            rm -rf "$BUSBAR_VENV"
            busbar_apt_install python3-venv && python3 -m venv "$BUSBAR_VENV"
        } || return 1
    fi
    "$py" -m pip install -q --disable-pip-version-check \
        "confluent-kafka==$BUSBAR_CONFLUENT_KAFKA_VERSION" "boto3==$BUSBAR_BOTO3_VERSION" \
        "cloudevents==$BUSBAR_CLOUDEVENTS_VERSION" || return 1
    "$py" -c "$check" || { echo "broker.sh: venv check failed after pip install" >&2; return 1; }
    export BUSBAR_TEST_PYTHON=$py
}

busbar_kafka_prereqs() {
    busbar_ensure_openssl && busbar_ensure_tansu && busbar_ensure_venv
}

# True when a Kafka broker answers a metadata request at $1 within $2 seconds.
busbar_kafka_ping() {
    "$BUSBAR_VENV/bin/python" "$BUSBAR_ROOT/tests/clients/kafka_client.py" ping \
        --bootstrap "$1" --timeout "${2:-1}" >/dev/null 2>&1
}

busbar_kafka_stop() {
    if [ -n "${BUSBAR_TANSU_PID:-}" ]; then
        kill "$BUSBAR_TANSU_PID" 2>/dev/null || true
        wait "$BUSBAR_TANSU_PID" 2>/dev/null || true
        BUSBAR_TANSU_PID=
    fi
}

busbar_kafka_start() {
    local port=${KAFKA_PORT:-19092}
    export KAFKA_BOOTSTRAP=127.0.0.1:$port
    [ -n "${BUSBAR_TEST_PYTHON:-}" ] || busbar_ensure_venv || return 1
    if busbar_kafka_ping "$KAFKA_BOOTSTRAP" 1; then
        echo "broker.sh: reusing the Kafka broker already answering on $KAFKA_BOOTSTRAP" >&2
        return 0
    fi
    [ -n "${BUSBAR_TANSU:-}" ] || BUSBAR_TANSU=${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin/tansu
    local log=$BUSBAR_ROOT/target/kafka/tansu.log
    mkdir -p "$(dirname "$log")" || return 1
    # RUST_LOG=warn, never debug (gigabytes of log a minute). Explicit flags override tansu's
    # environment variables (LISTENER_URL, STORAGE_ENGINE, ...).
    RUST_LOG=warn "$BUSBAR_TANSU" broker \
        --listener-url "tcp://$KAFKA_BOOTSTRAP" \
        --advertised-listener-url "tcp://$KAFKA_BOOTSTRAP" \
        --storage-engine memory://tansu/ \
        </dev/null >"$log" 2>&1 &
    BUSBAR_TANSU_PID=$!
    # Stop it when this shell exits, after whatever EXIT trap was already there.
    local prev
    prev=$(trap -p EXIT)
    if [ -n "$prev" ]; then
        eval "set -- $prev"   # trap -- 'command' EXIT
        # shellcheck disable=SC2064
        trap "busbar_kafka_stop; $3" EXIT
    else
        trap busbar_kafka_stop EXIT
    fi
    local i
    for i in $(seq 60); do # ready when it answers a metadata request (30 s max)
        if ! kill -0 "$BUSBAR_TANSU_PID" 2>/dev/null; then
            echo "broker.sh: tansu exited; last lines of $log:" >&2
            tail -20 "$log" >&2
            BUSBAR_TANSU_PID=
            return 1
        fi
        if busbar_kafka_ping "$KAFKA_BOOTSTRAP" 1; then
            echo "broker.sh: tansu $BUSBAR_TANSU_VERSION (pid $BUSBAR_TANSU_PID) answers on $KAFKA_BOOTSTRAP, log $log" >&2
            return 0
        fi
        sleep 0.5
    done
    echo "broker.sh: broker did not come up on $KAFKA_BOOTSTRAP; last lines of $log:" >&2
    tail -20 "$log" >&2
    busbar_kafka_stop
    return 1
}

case "${1:-all}" in
    openssl) busbar_ensure_openssl ;;
    prereqs) busbar_kafka_prereqs ;;
    start) busbar_kafka_start ;;
    all) busbar_kafka_prereqs && busbar_kafka_start ;;
    *) echo "broker.sh: unknown argument '$1' (openssl, prereqs, start or none)" >&2; false ;;
esac
