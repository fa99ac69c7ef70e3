#!/usr/bin/env python3
"""Measure busbar's memory and CPU under the deploy/ examples' own configurations,
to size the pods' requests and limits (deploy/README.md, "Resources").

    python3 deploy/measure.py sidecar --busbar target/release/busbar
    python3 deploy/measure.py bridge  --busbar target/release/busbar   # needs KAFKA_BOOTSTRAP

It reads busbar.yaml out of deploy/<example>/configmap.yaml, points its addresses at loopback
(and its file dead letters at a temporary directory), runs busbar, drives it, and samples the
process's resident memory (VmRSS, peak VmHWM) and CPU time (utime + stime) from /proc every
0.5 s. Needs PyYAML (the deploy check's venv has it); the bridge also needs the test venv's
confluent-kafka (BUSBAR_TEST_PYTHON, see .ci/broker.sh) to fill its input topic.

sidecar: one phase per line of output, each --seconds long, --rate events/s sent as NDJSON
POSTs of 10 events (order events as the stand-in app sends them, half of them big orders):
  idle       no events
  healthy    the finance endpoint answers 200 at once
  outage     the finance endpoint answers 503: the big orders are retried, held in flight
             and then in its backlog (limits.max_backlog_*) while the other events flow
bridge: --count records (300 bytes, half `shop.orders`) produced to a fresh input topic before
busbar starts; busbar consumes them all (two deliveries for each `shop.orders` record, one for
the others), and the phase ends when every delivery is counted.
"""

import argparse
import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_config(example):
    with open(os.path.join(ROOT, "deploy", example, "configmap.yaml")) as f:
        cm = yaml.safe_load(f)
    return yaml.safe_load(cm["data"]["busbar.yaml"])


class Sampler(threading.Thread):
    """Samples RSS and CPU time of one process until stopped."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.stop_flag, self.rss_max = pid, threading.Event(), 0

    def cpu_seconds(self):
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    def rss(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def hwm(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return 0

    def reset(self):
        self.rss_max, self.t0, self.cpu0 = self.rss(), time.monotonic(), self.cpu_seconds()

    def report(self, phase, **extra):
        dt = time.monotonic() - self.t0
        cpu = self.cpu_seconds() - self.cpu0
        row = {"phase": phase, "seconds": round(dt, 1), "cpu_cores_avg": round(cpu / dt, 3),
               "rss_end_mib": round(self.rss() / 2**20, 1),
               "rss_max_mib": round(self.rss_max / 2**20, 1),
               "hwm_mib": round(self.hwm() / 2**20, 1)}
        row.update(extra)
        print(json.dumps(row), flush=True)

    def run(self):
        self.reset()
        while not self.stop_flag.wait(0.5):
            try:
                self.rss_max = max(self.rss_max, self.rss())
            except OSError:  # the process has exited
                return


def scrape(admin_port):
    conn = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=5)
    conn.request("GET", "/metrics")
    body = conn.getresponse().read().decode()
    conn.close()
    return body


def metric_sum(text, name):
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_ready(admin_port, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"busbar exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=1)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit("busbar did not turn ready")


def start(busbar, config, env, tmp):
    path = os.path.join(tmp, "busbar.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(config, f)
    proc = subprocess.Popen([busbar, "run", "--config", path], env=dict(os.environ, **env),
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "log"), "w"))
    return proc


class Finance(http.server.BaseHTTPRequestHandler):
    """The finance endpoint: 200, or 503 while `down` is set."""

    protocol_version = "HTTP/1.1"
    down = threading.Event()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(503 if Finance.down.is_set() else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_):
        pass


def sidecar(args, tmp):
    config = load_config("sidecar")
    for dl in config["dead_letters"].values():
        if dl["kind"] == "file":
            dl["path"] = os.path.join(tmp, os.path.basename(dl["path"]))
    finance_port = free_port()
    for rule in config["rules"]:
        for t in rule["targets"]:
            if t["kind"] == "http":
                t["url"] = f"http://127.0.0.1:{finance_port}/orders"
    http_port, admin_port = free_port(), free_port()
    proc = start(args.busbar, config, {"BUSBAR_HTTP_ADDR": f"127.0.0.1:{http_port}",
                                       "BUSBAR_ADMIN_ADDR": f"127.0.0.1:{admin_port}"}, tmp)
    try:
        wait_ready(admin_port, proc)
        sampler = Sampler(proc.pid)
        sampler.start()
        time.sleep(args.seconds)
        sampler.report("idle")

        server = http.server.ThreadingHTTPServer(("127.0.0.1", finance_port), Finance)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        sampler.reset()
        sent = drive(http_port, args.rate, args.seconds)
        sampler.report("healthy", events=sent, rate=args.rate)
        Finance.down.set()

        sampler.reset()
        sent = drive(http_port, args.rate, args.seconds)
        m = scrape(admin_port)
        sampler.report("outage", events=sent, rate=args.rate,
                       backlog_events=metric_sum(m, "busbar_target_backlog_events"),
                       backlog_mib=round(metric_sum(m, "busbar_target_backlog_bytes") / 2**20, 1),
                       in_flight_events=metric_sum(m, "busbar_in_flight_events"))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def drive(port, rate, seconds):
    """POSTs 10-event NDJSON bodies at `rate` events/s; returns events accepted."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    sent, i, t0 = 0, 0, time.monotonic()
    while time.monotonic() - t0 < seconds:
        lines = []
        for _ in range(10):
            i += 1
            lines.append(json.dumps({"order-id": f"o-{i}", "total": (i * 397) % 2000,
                                     "customer": f"c-{i % 5000}", "items": i % 7 + 1}))
        conn.request("POST", "/events", body="\n".join(lines).encode(),
                     headers={"Content-Type": "application/x-ndjson"})
        resp = conn.getresponse()
        resp.read()
        if resp.status == 200:
            sent += 10
        ahead = sent / rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
    conn.close()
    return sent


def bridge(args, tmp):
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP") or sys.exit("bridge: set KAFKA_BOOTSTRAP")
    py = os.environ.get("BUSBAR_TEST_PYTHON") or sys.exit("bridge: set BUSBAR_TEST_PYTHON")
    config = load_config("bridge")
    run = uuid.uuid4().hex[:8]
    topic_in = f"measure-{run}.in"
    config["sources"][0]["topics"] = [topic_in]
    for rule in config["rules"]:
        for t in rule["targets"]:
            t["topic"] = f"measure-{run}.{t['id']}"
    for dl in config["dead_letters"].values():
        dl["topic"] = f"measure-{run}.dlq"
    produce = f"""
import sys
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
conf = {{"bootstrap.servers": "{bootstrap}", "log_level": 3}}
topics = ["{topic_in}"] + ["measure-{run}." + t for t in ("archive", "orders", "dlq")]
admin = AdminClient(conf)
for f in admin.create_topics([NewTopic(t, num_partitions={args.partitions},
                                       replication_factor=1) for t in topics]).values():
    f.result()
p = Producer(conf)
for i in range({args.count}):
    src = "shop.orders" if i % 2 else "shop.web"
    v = ('{{"source":"%s","detail-type":"OrderCreated","detail":{{"order-id":"o-%d","pad":"%s"}}}}'
         % (src, i, "x" * 200)).encode()
    while True:
        try:
            p.produce("{topic_in}", value=v, key=str(i).encode())
            break
        except BufferError:
            p.poll(0.05)
if p.flush(120):
    sys.exit("undelivered")
"""
    subprocess.run([py, "-c", produce], check=True)
    expected = args.count + args.count // 2
    admin_port = free_port()
    proc = start(args.busbar, config, {"BUSBAR_BROKERS": bootstrap,
                                       "BUSBAR_GROUP_ID": f"measure-{run}",
                                       "BUSBAR_ADMIN_ADDR": f"127.0.0.1:{admin_port}"}, tmp)
    try:
        sampler = Sampler(proc.pid)
        sampler.start()
        wait_ready(admin_port, proc)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            done = metric_sum(scrape(admin_port), "busbar_deliveries_total")
            if done >= expected:
                break
            time.sleep(0.5)
        sampler.report("drain", records=args.count, deliveries=int(done),
                       partitions=args.partitions)
        sampler.reset()
        time.sleep(args.seconds)
        sampler.report("idle")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("example", choices=["sidecar", "bridge"])
    p.add_argument("--busbar", default=os.path.join(ROOT, "target/release/busbar"))
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--rate", type=int, default=1000, help="sidecar: events per second")
    p.add_argument("--count", type=int, default=200000, help="bridge: records to route")
    p.add_argument("--partitions", type=int, default=2, help="bridge: input partitions")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (sidecar if args.example == "sidecar" else bridge)(args, tmp)


if __name__ == "__main__":
    main()
