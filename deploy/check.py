#!/usr/bin/env python3
"""The checks of deploy/ that need a program: deploy/check.sh installs the tools, then runs this
with the tools venv's Python (PyYAML). Each check prints one `deploy-check: NAME: ok ...` line or
fails the run with what is wrong.

  check.py render     kubectl kustomize every kustomization under deploy/ (Components are
                      rendered through the overlays that use them) into --out
  check.py static     on the rendered manifests: kubernetes-validate --strict for built-in
                      kinds, the CRD validators (check-crds.mjs) for the rest, every busbar
                      config in a ConfigMap or Secret through `busbar validate`, and the
                      structural tests below; promtool check/test rules on the PrometheusRule
  check.py checkov    read checkov's JSON report (check.sh runs checkov in the background):
                      no failed check, no parsing error, and every skip with its reason
  check.py live       run busbar with a small config, send events that exercise every metric
                      family, scrape /metrics, `promtool check metrics` the scrape, and check
                      that every metric name the dashboard and the alert rules use is in it

Structural tests (what no schema says):
- deploy/bridge-sasl's busbar.yaml is deploy/bridge's plus the SASL settings, nothing else
  (kustomize appends them; a base that stops keeping `kafka.settings` last would put them
  elsewhere or break the YAML);
- busbar's HTTP ingest in the sidecar is on loopback only: the config's `listen`, the
  BUSBAR_HTTP_ADDR env override, and no port of the container for it;
- the PrometheusRule's groups are the rules promtool tests (they are extracted from it);
- every scaler's maximum stays at or under the partitions the base documents;
- every namespaced object has a namespace.
"""

import argparse
import glob
import http.client
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEPLOY = os.path.join(ROOT, "deploy")
TOOLS = os.path.join(ROOT, ".ci", "tools")
BIN = os.path.join(TOOLS, "venv", "bin")

# The Kubernetes versions the manifests are validated against: 1.29 is the first with native
# sidecars (an init container with restartPolicy: Always), which the sidecar example uses.
K8S_VERSIONS = ["1.29.0", "1.33.0"]
# Kinds checked by check-crds.mjs against the CRD schemas of the npm packages
# @kubernetes-models/prometheus-operator and @kubernetes-models/keda (see check.sh).
CRD_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule", "ScaledObject"}
# Partitions of busbar.in that the scalers' comments name: replicas past it never turn ready.
INPUT_PARTITIONS = 6
# Metric names the rules or dashboard take from elsewhere than busbar, and from where.
EXTERNAL_METRICS = {
    "kube_pod_container_status_ready": "kube-state-metrics",
    "kube_pod_init_container_status_ready": "kube-state-metrics",
}


def ok(name, detail=""):
    print(f"deploy-check: {name}: ok{' (' + detail + ')' if detail else ''}", flush=True)


def fail(name, detail):
    sys.exit(f"deploy-check: {name}: FAILED: {detail}")


def run(cmd, name, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        fail(name, f"`{' '.join(cmd)}` exited {p.returncode}:\n{p.stdout}{p.stderr}")
    return p.stdout


# ---- render ------------------------------------------------------------------------------------

def kustomizations():
    """Directories under deploy/ with a Kustomization (not a Component), relative names."""
    found = []
    for path in sorted(glob.glob(os.path.join(DEPLOY, "**", "kustomization.yaml"), recursive=True)):
        with open(path) as f:
            if yaml.safe_load(f).get("kind", "Kustomization") == "Kustomization":
                found.append(os.path.relpath(os.path.dirname(path), DEPLOY))
    return found


def cmd_render(args):
    os.makedirs(args.out, exist_ok=True)
    names = kustomizations()
    for name in names:
        text = run([os.path.join(BIN, "kubectl"), "kustomize", os.path.join(DEPLOY, name)],
                   f"render {name}")
        with open(os.path.join(args.out, name.replace("/", "_") + ".yaml"), "w") as f:
            f.write(text)
    ok("kustomize", f"kubectl kustomize (kustomize v5) rendered {len(names)}: {', '.join(names)}")


def rendered(out):
    """{kustomization name: [objects]} from the render step."""
    docs = {}
    for path in sorted(glob.glob(os.path.join(out, "*.yaml"))):
        with open(path) as f:
            docs[os.path.basename(path)[:-5]] = [d for d in yaml.safe_load_all(f) if d]
    return docs


# ---- static ------------------------------------------------------------------------------------

def busbar_configs(objs):
    """(object, key, text) for every busbar configuration in ConfigMaps and Secrets."""
    for o in objs:
        if o["kind"] not in ("ConfigMap", "Secret"):
            continue
        for field in ("data", "stringData"):
            for key, text in (o.get(field) or {}).items():
                if o["kind"] == "Secret" and field == "data":
                    continue  # base64: the examples keep configs in stringData
                if key == "busbar.yaml":
                    yield o, key, text  # busbar validate reports a file that does not parse
                elif key.endswith((".yaml", ".yml")):
                    try:
                        parsed = yaml.safe_load(text)
                    except yaml.YAMLError:
                        continue
                    if isinstance(parsed, dict) and ("rules" in parsed or "sources" in parsed):
                        yield o, key, text


def check_kubernetes_validate(docs, work):
    builtin = os.path.join(work, "builtin")
    os.makedirs(builtin, exist_ok=True)
    count = 0
    for name, objs in docs.items():
        keep = [o for o in objs if o["kind"] not in CRD_KINDS]
        count += len(keep)
        with open(os.path.join(builtin, name + ".yaml"), "w") as f:
            yaml.safe_dump_all(keep, f)
    files = sorted(glob.glob(os.path.join(builtin, "*.yaml")))
    for version in K8S_VERSIONS:
        run([os.path.join(BIN, "kubernetes-validate"), "--strict", "--quiet", "-k", version, *files],
            f"kubernetes-validate {version}")
    ok("kubernetes-validate", f"--strict, Kubernetes {' and '.join(K8S_VERSIONS)}: "
       f"{count} objects of built-in kinds")


def check_crds(docs, work):
    objs = [o for objs in docs.values() for o in objs if o["kind"] in CRD_KINDS]
    path = os.path.join(work, "crds.json")
    with open(path, "w") as f:
        json.dump(objs, f)
    out = run(["node", os.path.join(DEPLOY, "check-crds.mjs"), path], "CRD schemas",
              env=dict(os.environ, KUBERNETES_MODELS=os.path.join(TOOLS, "node", "node_modules")))
    kinds = sorted({o["kind"] for o in objs})
    missing = CRD_KINDS - set(kinds)
    if missing:
        fail("CRD schemas", f"no {', '.join(sorted(missing))} rendered: is a kustomization gone?")
    ok("CRD schemas", out.strip() or f"{len(objs)} objects: {', '.join(kinds)}")


def check_busbar_validate(docs, busbar, work):
    seen = 0
    for name, objs in docs.items():
        for o, key, text in busbar_configs(objs):
            path = os.path.join(work, f"{name}.{o['kind']}.{o['metadata']['name']}.{key}")
            with open(path, "w") as f:
                f.write(text)
            # The same environment overrides the Deployment sets would apply; validate reads
            # BUSBAR_* from its own environment, so give it none of the runner's.
            env = {k: v for k, v in os.environ.items() if not k.startswith("BUSBAR_")}
            run([busbar, "validate", "--config", path],
                f"busbar validate {name}: {o['kind']}/{o['metadata']['name']} {key}", env=env)
            seen += 1
    if seen == 0:
        fail("busbar validate", "no busbar configuration found in any ConfigMap or Secret")
    ok("busbar validate", f"{seen} embedded configurations")


def config_of(objs, kind, name, key="busbar.yaml"):
    for o in objs:
        if o["kind"] == kind and o["metadata"]["name"] == name:
            return yaml.safe_load((o.get("data") or o.get("stringData"))[key])
    fail("structure", f"no {kind}/{name} rendered")


def check_sasl_derived(docs):
    base = config_of(docs["bridge"], "ConfigMap", "busbar-bridge")
    sasl = config_of(docs["bridge-sasl"], "Secret", "busbar-bridge-sasl")
    extra = {k: v for k, v in sasl["kafka"]["settings"].items()
             if k not in base["kafka"]["settings"]}
    stripped = json.loads(json.dumps(sasl))
    for k in extra:
        del stripped["kafka"]["settings"][k]
    if stripped != base:
        fail("bridge-sasl config", "the Secret's busbar.yaml is not deploy/bridge's plus SASL "
             "settings under kafka.settings (keep `kafka.settings` last in the base config)")
    if extra.get("security.protocol") != "SASL_SSL" or "sasl.password" not in extra:
        fail("bridge-sasl config", f"SASL settings missing from kafka.settings: {sorted(extra)}")
    if any(o["kind"] == "ConfigMap" for o in docs["bridge-sasl"]):
        fail("bridge-sasl config", "a ConfigMap is still rendered beside the Secret")
    ok("bridge-sasl config", f"the base config plus {', '.join(sorted(extra))}")


def is_loopback(addr):
    host = addr.rsplit(":", 1)[0].strip("[]")
    return ipaddress.ip_address(host).is_loopback


def check_sidecar_loopback(docs):
    objs = docs["sidecar"]
    config = config_of(objs, "ConfigMap", "busbar-sidecar")
    deploy = next(o for o in objs if o["kind"] == "Deployment")
    spec = deploy["spec"]["template"]["spec"]
    busbar = next(c for c in spec.get("initContainers", []) + spec["containers"]
                  if c["name"] == "busbar")
    env = {e["name"]: e.get("value") for e in busbar.get("env", [])}
    sources = [s for s in config["sources"] if s["kind"] == "http"]
    if not sources:
        fail("sidecar ingest", "the sidecar config has no http source")
    ports = set()
    for s in sources:
        listen = env.get("BUSBAR_HTTP_ADDR") or s.get("listen", "127.0.0.1:8787")
        if not is_loopback(listen):
            fail("sidecar ingest", f"source {s['id']} listens on {listen}, not loopback")
        ports.add(int(listen.rsplit(":", 1)[1]))
    exposed = {p["containerPort"] for p in busbar.get("ports", [])}
    if ports & exposed:
        fail("sidecar ingest", f"container port {sorted(ports & exposed)} exposes the ingest")
    ok("sidecar ingest", f"loopback only: {', '.join(s.get('listen', '') for s in sources)}")


def check_namespaces(docs):
    """Every namespaced object names its namespace: one without lands wherever kubectl's
    context points, away from the objects it refers to (a scaler away from its Deployment)."""
    cluster_scoped = {"Namespace"}
    bare = [f"{name}: {o['kind']}/{o['metadata']['name']}" for name, objs in docs.items()
            for o in objs if o["kind"] not in cluster_scoped and not o["metadata"].get("namespace")]
    if bare:
        fail("namespaces", "objects without a namespace: " + "; ".join(bare))
    spaces = sorted({o["metadata"]["namespace"] for objs in docs.values() for o in objs
                     if o["kind"] not in cluster_scoped})
    ok("namespaces", f"every namespaced object has one: {', '.join(spaces)}")


def check_scalers(docs):
    seen = []
    for name, objs in docs.items():
        for o in objs:
            top = {"ScaledObject": "maxReplicaCount",
                   "HorizontalPodAutoscaler": "maxReplicas"}.get(o["kind"])
            if top:
                n = o["spec"][top]
                if n > INPUT_PARTITIONS:
                    fail("scalers", f"{name}: {o['kind']} {top} {n} > {INPUT_PARTITIONS} "
                         "partitions of busbar.in: replicas past it never turn ready")
                if "replicas" in next(d for d in objs if d["kind"] == "Deployment")["spec"]:
                    fail("scalers", f"{name}: the Deployment still sets replicas beside {o['kind']}")
                seen.append(f"{name} {o['kind']} max {n}")
    ok("scalers", "; ".join(seen) + f" (<= {INPUT_PARTITIONS} partitions)")


def prometheus_rules(docs):
    rules = [o for o in docs["prometheus"] if o["kind"] == "PrometheusRule"]
    if len(rules) != 1:
        fail("promtool", f"expected one PrometheusRule in deploy/prometheus, got {len(rules)}")
    return rules[0]["spec"]


def check_promtool_rules(docs, promtool, work):
    rules_dir = os.path.join(work, "rules")
    os.makedirs(rules_dir, exist_ok=True)
    # The unit tests name `rules.yaml`: the groups of the PrometheusRule, as promtool reads them.
    with open(os.path.join(rules_dir, "rules.yaml"), "w") as f:
        yaml.safe_dump(prometheus_rules(docs), f)
    shutil.copy(os.path.join(DEPLOY, "prometheus", "rules-test.yaml"), rules_dir)
    out = run([promtool, "check", "rules", os.path.join(rules_dir, "rules.yaml")],
              "promtool check rules")
    ok("promtool check rules", out.strip().splitlines()[-1].strip())
    out = run([promtool, "test", "rules", os.path.join(rules_dir, "rules-test.yaml")],
              "promtool test rules")
    alerts = [r["alert"] for g in prometheus_rules(docs)["groups"] for r in g["rules"]
              if "alert" in r]
    with open(os.path.join(DEPLOY, "prometheus", "rules-test.yaml")) as f:
        tests = yaml.safe_load(f)
    tested = {a["alertname"] for t in tests["tests"] for a in t.get("alert_rule_test", [])}
    untested = sorted(set(alerts) - tested)
    if untested:
        fail("promtool test rules", f"alerts without a unit test: {', '.join(untested)}")
    ok("promtool test rules", f"{len(tests['tests'])} tests, every one of {len(alerts)} alerts")


def cmd_static(args):
    docs = rendered(args.out)
    work = tempfile.mkdtemp(dir=args.out)
    check_kubernetes_validate(docs, work)
    check_crds(docs, work)
    check_busbar_validate(docs, args.busbar, work)
    check_namespaces(docs)
    check_sasl_derived(docs)
    check_sidecar_loopback(docs)
    check_scalers(docs)
    check_promtool_rules(docs, args.promtool, work)


# ---- live --------------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port():
    """A loopback port nothing listens on (bound, then released)."""
    return free_port()


LIVE_CONFIG = """
bus: {{name: default, account: "111122223333", region: eu-west-1}}
sources:
  - id: ingest
    kind: http
    listen: 127.0.0.1:{http_port}
    source: deploy.check
    dead_letter: parse-failures
{kafka_source}
rules:
  - name: delivered
    event_pattern: {{"source": ["deploy.check"]}}
    targets:
      - {{id: file, kind: file, path: {work}/delivered.ndjson}}
  - name: dead-lettered
    event_pattern: {{"detail": {{"fail": [true]}}}}
    targets:
      - id: down
        kind: http
        url: http://127.0.0.1:{closed_port}/down
        retry: {{maximum_retry_attempts: 1, maximum_event_age_seconds: 60}}
        dead_letter: undeliverable
  - name: dropped
    event_pattern: {{"detail": {{"drop": [true]}}}}
    targets:
      - id: down
        kind: http
        url: http://127.0.0.1:{closed_port}/down
        retry: {{maximum_retry_attempts: 0, maximum_event_age_seconds: 60}}
dead_letters:
  parse-failures: {{kind: file, path: {work}/parse-failures.ndjson}}
  undeliverable: {{kind: file, path: {work}/undeliverable.ndjson}}
admin:
  listen: 127.0.0.1:{admin_port}
spool:
  path: {work}/spool
  max_bytes: 1048576
  segment_bytes: 65536
watch_config: false
shutdown_grace_seconds: 2
log: {{level: warn, format: text}}
"""

KAFKA_SOURCE = """  - id: kafka
    kind: kafka
    topics: [{topic}]
    group_id: {topic}
    start: earliest
    dead_letter: parse-failures
"""


def http_get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path)
    r = conn.getresponse()
    return r.status, r.read().decode()


def post_events(port, lines):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/events", body="\n".join(lines).encode(),
                 headers={"Content-Type": "application/x-ndjson"})
    r = conn.getresponse()
    return r.status, r.read().decode()


def wait_for(what, cond, detail=lambda: "", timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    fail("live scrape", f"timed out waiting for {what} {detail()}".strip())


def sample_names(scrape):
    names = set()
    for line in scrape.splitlines():
        if line and not line.startswith("#"):
            names.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return names


def metric_value(scrape, name, **labels):
    total = None
    for line in scrape.splitlines():
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$", line)
        if m and m.group(1) == name and all(f'{k}="{v}"' in (m.group(2) or "")
                                            for k, v in labels.items()):
            total = (total or 0) + float(m.group(3))
    return total


def produce_kafka(topic):
    """Creates `topic` and writes two events and one record that is not an event."""
    py = os.environ.get("BUSBAR_TEST_PYTHON")
    if not py:
        fail("live scrape", "BUSBAR_TEST_PYTHON unset (deploy/check.sh sources .ci/broker.sh)")
    script = f"""
import sys
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
conf = {{"bootstrap.servers": "{os.environ['KAFKA_BOOTSTRAP']}", "log_level": 3}}
admin = AdminClient(conf)
for f in admin.create_topics([NewTopic("{topic}", num_partitions=1,
                                       replication_factor=1)]).values():
    f.result()
p = Producer(conf)
for v in [b'{{"source":"deploy.check","detail-type":"t","detail":{{}}}}'] * 2 + [b"not json"]:
    p.produce("{topic}", value=v)
sys.exit(1 if p.flush(30) else 0)
"""
    run([py, "-c", script], "live scrape: produce to Kafka")


def metric_names_used():
    """{metric name: [where]} over the alert rules and the dashboard."""
    used = {}
    pattern = re.compile(r"\b((?:busbar|process|kube)_[a-zA-Z0-9_]+)")

    def note(expr, where):
        for name in pattern.findall(expr):
            used.setdefault(name, []).append(where)

    with open(os.path.join(DEPLOY, "prometheus", "prometheusrule.yaml")) as f:
        for g in yaml.safe_load(f)["spec"]["groups"]:
            for r in g["rules"]:
                note(r["expr"], f"rule {r.get('alert') or r.get('record')}")
    for path in glob.glob(os.path.join(DEPLOY, "grafana", "*.json")):
        with open(path) as f:
            dash = json.load(f)
        for panel in dash["panels"]:
            for t in panel.get("targets", []):
                note(t["expr"], f"panel {panel['title']!r}")
        for v in dash.get("templating", {}).get("list", []):
            note(json.dumps(v.get("query", "")), f"variable {v['name']}")
    return used


def cmd_live(args):
    work = tempfile.mkdtemp(prefix="live-", dir=args.out)
    http_port, admin_port = free_port(), free_port()
    topic = ""
    if os.environ.get("KAFKA_BOOTSTRAP"):
        topic = f"deploy-check-{uuid.uuid4().hex[:8]}"
        produce_kafka(topic)
    config = LIVE_CONFIG.format(
        http_port=http_port, admin_port=admin_port, closed_port=closed_port(), work=work,
        kafka_source=KAFKA_SOURCE.format(topic=topic) if topic else "")
    path = os.path.join(work, "busbar.yaml")
    with open(path, "w") as f:
        f.write(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUSBAR_")}
    if topic:
        env["BUSBAR_BROKERS"] = os.environ["KAFKA_BOOTSTRAP"]
    log = open(os.path.join(work, "busbar.log"), "w")
    proc = subprocess.Popen([args.busbar, "run", "--config", path], env=env,
                            stdout=subprocess.DEVNULL, stderr=log)
    try:
        def ready():
            if proc.poll() is not None:
                fail("live scrape", f"busbar exited {proc.returncode}: "
                     + open(os.path.join(work, "busbar.log")).read())
            try:
                return http_get(admin_port, "/readyz")[0] == 200
            except OSError:
                return False
        wait_for("/readyz", ready)
        first = http_get(admin_port, "/metrics")[1]
        # What a running busbar exports before its first event: reported, since a counter that
        # appears only with its first increment hides that first increment from increase().
        before = sample_names(first)

        status, body = post_events(http_port, [
            '{"n": 1}', '{"n": 2}', '{"fail": true}', '{"drop": true}', "not json"])
        if status != 200:
            fail("live scrape", f"POST /events answered {status}: {body}")
        # A reload that fails, then one that succeeds.
        with open(path, "w") as f:
            f.write(config.replace("rules:", "rules: [", 1))
        proc.send_signal(signal.SIGHUP)
        wait_for("the failed reload", lambda: metric_value(
            http_get(admin_port, "/metrics")[1], "busbar_config_reloads_total",
            result="failed"))
        with open(path, "w") as f:
            f.write(config)
        proc.send_signal(signal.SIGHUP)
        # (name, labels, whether it must be above 0 rather than just present)
        wanted = [("busbar_config_reloads_total", {"result": "ok"}, True),
                  ("busbar_dead_letters_total", {"stage": "target"}, True),
                  ("busbar_dead_letters_total", {"stage": "source"}, True),
                  ("busbar_events_dropped_total", {}, True),
                  ("busbar_delivery_retries_total", {}, True),
                  ("busbar_deliveries_total", {}, True)]
        if topic:
            wanted += [("busbar_events_received_total", {"source": "kafka"}, True),
                       ("busbar_consumer_lag_messages", {"topic": topic}, False)]

        missing = []

        def all_there():
            s = http_get(admin_port, "/metrics")[1]
            missing[:] = [f"{n}{lab or ''}" for n, lab, positive in wanted
                          if (v := metric_value(s, n, **lab)) is None or (positive and v <= 0)]
            return not missing
        wait_for("every metric family to show its first event", all_there,
                 lambda: f"(still missing: {', '.join(missing)})")
        scrape = http_get(admin_port, "/metrics")[1]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    with open(os.path.join(args.out, "metrics.txt"), "w") as f:
        f.write(scrape)

    p = subprocess.run([args.promtool, "check", "metrics"], input=scrape, capture_output=True,
                       text=True)
    if p.returncode != 0:
        fail("promtool check metrics", p.stdout + p.stderr)
    ok("promtool check metrics", f"live scrape of {len(sample_names(scrape))} series names")

    names = sample_names(scrape)
    used = metric_names_used()
    missing = {n: w for n, w in used.items() if n not in names and n not in EXTERNAL_METRICS}
    if missing:
        fail("metric names", "not in a live scrape of busbar: "
             + "; ".join(f"{n} (used by {', '.join(sorted(set(w)))})"
                         for n, w in sorted(missing.items())))
    external = sorted(n for n in used if n in EXTERNAL_METRICS)
    ok("metric names", f"{len(used) - len(external)} busbar names used by the rules and the "
       f"dashboard are in the live scrape; external: "
       + ", ".join(f"{n} ({EXTERNAL_METRICS[n]})" for n in external))
    late = sorted(n for n in used if n in names and n not in before)
    if late:
        print("deploy-check: note: absent from /metrics until their first event (the rules "
              "allow for it): " + ", ".join(late), flush=True)


def cmd_checkov(args):
    with open(args.checkov_err) as f:
        err = f.read()
    try:
        with open(args.checkov_json) as f:
            reports = json.load(f)
    except ValueError:
        fail("checkov", f"exited {args.checkov_rc} without a JSON report:\n{err}")
    reports = reports if isinstance(reports, list) else [reports]
    lines, skipped = [], set()
    for r in reports:
        summary = r["summary"]
        failed = r["results"].get("failed_checks", [])
        if failed or summary["parsing_errors"]:
            fail("checkov", "; ".join(f"{c['check_id']} {c['check_name']} on {c['resource']}"
                                     for c in failed) or f"{summary['parsing_errors']} parsing errors")
        skipped |= {c["check_id"] for c in r["results"].get("skipped_checks", [])}
        lines.append(f"{r['check_type']} {summary['passed']} passed, {summary['skipped']} skipped")
    if args.checkov_rc != 0:
        fail("checkov", f"exited {args.checkov_rc}:\n{err}")
    # Every skip says why, next to it: `checkov.io/skipN: ID=reason` annotations in the
    # manifests, `# checkov:skip=ID: reason` in the Dockerfile.
    reasons = {}
    for objs in rendered(args.out).values():
        for o in objs:
            for k, v in (o["metadata"].get("annotations") or {}).items():
                if k.startswith("checkov.io/skip"):
                    check, _, why = v.partition("=")
                    reasons.setdefault(check, []).append(why.strip())
    with open(os.path.join(DEPLOY, "Dockerfile")) as f:
        for m in re.finditer(r"#\s*checkov:skip=([A-Z0-9_]+):?(.*)", f.read()):
            reasons.setdefault(m.group(1), []).append(m.group(2).strip())
    bare = sorted(c for c, whys in reasons.items() if any(len(w) < 20 for w in whys))
    if bare:
        fail("checkov", f"skips without a reason: {', '.join(bare)}")
    if skipped - set(reasons):
        fail("checkov", f"skipped without an annotation here: {sorted(skipped - set(reasons))}")
    ok("checkov", f"{checkov_version(reports)}; {'; '.join(lines)}; 0 failed; skips with reasons: "
       + ", ".join(sorted(reasons)))


def checkov_version(reports):
    return "checkov " + reports[0]["summary"].get("checkov_version", "?")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("step", choices=["render", "static", "live", "checkov"])
    p.add_argument("--out", required=True, help="the rendered manifests' directory")
    p.add_argument("--busbar", help="the busbar binary (static, live)")
    p.add_argument("--promtool", help="promtool (static, live)")
    p.add_argument("--checkov-json", help="checkov's JSON report (checkov)")
    p.add_argument("--checkov-err", help="checkov's standard error (checkov)")
    p.add_argument("--checkov-rc", type=int, help="checkov's exit status (checkov)")
    args = p.parse_args()
    {"render": cmd_render, "static": cmd_static, "live": cmd_live,
     "checkov": cmd_checkov}[args.step](args)


if __name__ == "__main__":
    main()
