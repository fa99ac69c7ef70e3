#!/usr/bin/env python3
"""Load generators, readers and the sampler of the soak benchmark (benches/soak.sh).

Every process shares one clock: `--t0` (Unix seconds) starts window 0, and window w covers
[t0 + 10w, t0 + 10w + 10) (`--window` seconds). Each writes one CSV row per window it saw end,
so `summary` can join them by window index after the run.

Every event carries `"soak_g":G,"soak_id":N,"soak_ts":T` in its detail: G the generator, N its
sequence number (0, 1, 2, ... per generator), T the send time in Unix nanoseconds. The readers
keep a bitmap of ids per generator and compute end-to-end latency from T.

Subcommands:
  kafka-produce  a fixed-rate (or, --rate 0, unthrottled) confluent-kafka producer
  kafka-consume  reads the output topic (every partition assigned, no group); latency and ids
  put            PutEvents over HTTP/1.1 keep-alive, --entries per request, fixed or max rate
  tail           follows a file target's output file; latency and ids
  sample         every window: busbar's /metrics, VmRSS, open fds, CPU; loadavg; a broker's RSS
  summary        joins the CSVs into one, prints first vs last 5 minutes, maxima, slopes, verdict
"""

import argparse
import csv
import http.client
import json
import os
import random
import re
import signal
import sys
import time
import urllib.request

MARK = re.compile(rb'"soak_g":\s*(\d+),\s*"soak_id":\s*(\d+),\s*"soak_ts":\s*(\d+)')


def window_of(args, now=None):
    return int(((time.time() if now is None else now) - args.t0) // args.window)


def write_row(path, header, row):
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(header)
        w.writerow(row)


def pct(sorted_vals, q):
    if not sorted_vals:
        return ""
    return round(sorted_vals[min(len(sorted_vals) - 1, int(q * len(sorted_vals)))], 2)


# ---- events -----------------------------------------------------------------------------------

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november "
         "oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu").split()


def details(size, g, count=512, seed=7):
    """`count` distinct detail objects of about `size` bytes as (before_id, between, after_ts)
    byte pieces: an order with a customer, an address and line items of varied values (JSON of
    the kind applications send, compressible as such JSON is, not padding)."""
    rnd = random.Random(seed + g)
    out = []
    for _ in range(count):
        items, body = [], ""
        order = {
            "customer": {"id": f"c-{rnd.randrange(10**8):08d}", "tier": rnd.choice(["gold", "silver", "basic"]),
                         "email": f"{rnd.choice(WORDS)}.{rnd.choice(WORDS)}@example.com"},
            "address": {"street": f"{rnd.randrange(1, 999)} {rnd.choice(WORDS).title()} St",
                        "city": rnd.choice(WORDS).title(), "zip": f"{rnd.randrange(10**5):05d}",
                        "country": rnd.choice(["DE", "FR", "US", "GB", "JP", "BR"])},
            "currency": rnd.choice(["EUR", "USD", "GBP"]),
            "items": items,
        }
        while True:
            body = json.dumps(order, separators=(",", ":"))
            if len(body) + 70 >= size:
                break
            items.append({"sku": f"{rnd.choice(WORDS)[:3].upper()}-{rnd.randrange(10**6):06d}",
                          "qty": rnd.randrange(1, 9), "price": round(rnd.uniform(1, 500), 2),
                          "name": " ".join(rnd.choice(WORDS) for _ in range(rnd.randrange(1, 4)))})
        out.append((f'{{"soak_g":{g},"soak_id":'.encode(), b',"soak_ts":',
                    b',' + body[1:].encode()))
    return out


ENVELOPE = (b'{"version":"0","id":"00000000-0000-4000-8000-%012d","detail-type":"OrderPlaced",'
            b'"source":"soak.orders","account":"111122223333","time":"2025-01-01T00:00:00Z",'
            b'"region":"eu-west-1","resources":[],"detail":')


class Pacer:
    """How many units are due by now at `rate` per second (rate 0: always one more), and how far
    behind the schedule the sender is."""

    def __init__(self, rate):
        self.rate, self.start, self.max_behind = rate, time.monotonic(), 0

    def due(self, done):
        if self.rate <= 0:
            return done + 1
        d = int((time.monotonic() - self.start) * self.rate)
        self.max_behind = max(self.max_behind, d - done)
        return d


class CpuMeter:
    """This process's CPU (all its threads, librdkafka's included) since the last call, as a
    percentage of one core over the time since then."""

    def __init__(self, args):
        self.cpu, self.t = time.process_time(), time.monotonic()

    def pct(self):
        cpu, t = time.process_time(), time.monotonic()
        p = round((cpu - self.cpu) / max(t - self.t, 1e-9) * 100, 1)
        self.cpu, self.t = cpu, t
        return p


# ---- kafka-produce ----------------------------------------------------------------------------

def cmd_kafka_produce(args):
    from confluent_kafka import Producer

    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    conf = {"bootstrap.servers": args.bootstrap, "enable.idempotence": True, "log_level": 3,
            "linger.ms": args.linger_ms, "compression.type": "lz4",
            "queue.buffering.max.kbytes": 262144}
    p = Producer(conf)
    pieces = details(args.size, 0, args.distinct)
    acked, errors = [0], []
    # Unthrottled (a peak run), keep at most --max-ahead events between what was produced and
    # what busbar took in: the peak is then the rate busbar sustains, not how fast it drains a
    # backlog that a broker without retention serves slower the longer it grows.
    ahead_checked, taken = 0.0, 0

    def on_delivery(err, _msg):
        if err is None:
            acked[0] += 1
        else:
            errors.append(str(err))

    pacer = Pacer(args.rate)
    n, w, end = 0, window_of(args), time.monotonic() + args.duration
    w_sent, w_behind = 0, 0
    header = ["window", "sent", "acked_total", "behind_max", "errors", "cpu_pct"]
    cpu = CpuMeter(args)
    while not stop[0] and time.monotonic() < end:
        if args.max_ahead and n - taken >= args.max_ahead:
            if time.monotonic() - ahead_checked > 0.05:
                ahead_checked = time.monotonic()
                try:
                    taken = total(scrape(args.metrics), "busbar_events_received_total")
                except OSError:
                    pass
            if n - taken >= args.max_ahead:
                p.poll(0.005)
                continue
        due = pacer.due(n)
        while n < due:
            a, b, c = pieces[n % len(pieces)]
            v = b"".join((ENVELOPE % n, a, str(n).encode(), b, str(time.time_ns()).encode(), c, b"}"))
            try:
                p.produce(args.topic, value=v, key=str(n).encode(), on_delivery=on_delivery)
            except BufferError:
                p.poll(0.01)
                break
            n += 1
            w_sent += 1
            if args.rate <= 0 and n % 500 == 0:
                break
        p.poll(0)
        w_behind = max(w_behind, pacer.due(n) - n if args.rate > 0 else 0)
        now_w = window_of(args)
        if now_w != w:
            write_row(args.stats, header, [w, w_sent, acked[0], w_behind, len(errors), cpu.pct()])
            w, w_sent, w_behind = now_w, 0, 0
        if args.rate > 0:
            time.sleep(0.001)
    left = p.flush(120)
    write_row(args.stats, header, [w, w_sent, acked[0], w_behind, len(errors), cpu.pct()])
    print(json.dumps({"sent": n, "acked": acked[0], "errors": len(errors), "unflushed": left,
                      "first_error": errors[0] if errors else None,
                      "max_behind": pacer.max_behind}))
    return 0 if not left and not errors else 1


# ---- readers: ids and latency -----------------------------------------------------------------

class Ledger:
    """Ids seen per generator (a count per id, so duplicates show) and this window's latencies."""

    def __init__(self, args, header_extra=()):
        self.args, self.seen, self.lat, self.got, self.distinct = args, {}, [], 0, 0
        self.w = window_of(args)
        self.header = (["window", "received", "e2e_p50_ms", "e2e_p99_ms", "e2e_max_ms", "cpu_pct"]
                       + list(header_extra))
        self.cpu = CpuMeter(args)

    def record(self, line, now_ns):
        m = MARK.search(line)
        if not m:
            return False
        g, i, ts = int(m.group(1)), int(m.group(2)), int(m.group(3))
        s = self.seen.get(g)
        if s is None:
            s = self.seen[g] = bytearray(1 << 20)
        if i >= len(s):
            s.extend(bytearray(max(i + 1 - len(s), len(s))))
        if s[i] == 0:
            self.distinct += 1
        if s[i] < 255:
            s[i] += 1
        self.lat.append((now_ns - ts) / 1e6)
        self.got += 1
        return True

    def tick(self, extra=()):
        now_w = window_of(self.args)
        if now_w != self.w:
            self.flush(extra)
            self.w = now_w

    def flush(self, extra=()):
        lat = sorted(self.lat)
        write_row(self.args.stats, self.header,
                  [self.w, len(lat), pct(lat, 0.5), pct(lat, 0.99), round(lat[-1], 2) if lat else "",
                   self.cpu.pct()] + list(extra))
        self.lat = []

    def unique(self):
        # Kept as a running count: counting the bitmaps (80 M ids after 30 minutes) on every
        # poll made the reader spend its time there once the load had ended.
        return self.distinct

    def verdict(self, sent):
        """sent: {generator: count}. Missing ids, duplicates, ids nobody sent."""
        missing, dups, first_missing, unexpected = 0, 0, [], 0
        for g, count in sent.items():
            s = self.seen.get(g, bytearray())
            have = s[:count]
            miss = count - (len(have) - have.count(0))
            missing += miss
            if miss and len(first_missing) < 10:
                for i in range(count):
                    if i >= len(s) or s[i] == 0:
                        first_missing.append(f"{g}:{i}")
                        if len(first_missing) >= 10:
                            break
            dups += sum(c - 1 for c in have if c > 1)
            unexpected += len(s[count:]) - s[count:].count(0)
        for g, s in self.seen.items():
            if g not in sent:
                unexpected += len(s) - s.count(0)
        return {"sent": sum(sent.values()), "received": self.got, "unique": self.unique(),
                "missing": missing, "duplicates": dups, "unexpected": unexpected,
                "first_missing": first_missing}


def read_sent(path):
    """The generators' final counts, once the driver has written them: {generator: sent}."""
    try:
        with open(path) as f:
            return {int(k): v for k, v in json.load(f).items()}
    except (OSError, ValueError):
        return None


def finish_when_complete(ledger, args, last_progress):
    """True once the driver has written the sent counts and every id arrived, or nothing new
    came for --idle seconds after that."""
    sent = read_sent(args.sent)
    if sent is None:
        return False
    if ledger.unique() >= sum(sent.values()):
        return True
    return time.monotonic() - last_progress > args.idle


# ---- kafka-consume ----------------------------------------------------------------------------

def cmd_kafka_consume(args):
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    c = Consumer({"bootstrap.servers": args.bootstrap, "group.id": f"soak-reader-{os.getpid()}",
                  "enable.auto.commit": False, "fetch.wait.max.ms": args.fetch_wait_ms,
                  "log_level": 3})
    parts = sorted(c.list_topics(args.topic, timeout=30).topics[args.topic].partitions)
    c.assign([TopicPartition(args.topic, p, OFFSET_BEGINNING) for p in parts])
    ledger = Ledger(args)
    last_progress = time.monotonic()
    while True:
        msgs = c.consume(1000, 0.1)
        now_ns = time.time_ns()
        for m in msgs:
            if m.error():
                if m.error().code() != KafkaError._PARTITION_EOF:
                    print(f"soak: consume: {m.error()}", file=sys.stderr)
                continue
            if ledger.record(m.value(), now_ns):
                last_progress = time.monotonic()
        ledger.tick()
        if finish_when_complete(ledger, args, last_progress):
            break
    ledger.flush()
    c.close()
    print(json.dumps(ledger.verdict(read_sent(args.sent))))


# ---- put --------------------------------------------------------------------------------------

def cmd_put(args):
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    pieces = []
    for a, b, c in details(args.size, args.g):
        # Detail is a JSON string inside the request's JSON: escape the pieces once.
        esc = [json.dumps(x.decode())[1:-1].encode() for x in (a, b, c)]
        pieces.append(esc)
    head = b'{"Source":"soak.orders","DetailType":"OrderPlaced","EventBusName":"default","Detail":"'
    conn = http.client.HTTPConnection(args.host, args.port, timeout=30)
    hdrs = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSEvents.PutEvents"}
    pacer = Pacer(args.rate / args.entries if args.rate > 0 else 0)
    header = ["window", "sent", "requests", "throttled", "behind_max_events", "rtt_p99_ms", "cpu_pct"]
    cpu = CpuMeter(args)
    n = reqs = 0
    w, w_sent, w_reqs, w_thr, w_behind, rtts = window_of(args), 0, 0, 0, 0, []
    throttled = errors = 0
    end = time.monotonic() + args.duration
    while not stop[0] and time.monotonic() < end:
        if pacer.due(reqs) > reqs:
            ts = str(time.time_ns()).encode()
            entries = []
            for j in range(args.entries):
                i = n + j
                a, b, c = pieces[i % len(pieces)]
                entries.append(b"".join((head, a, str(i).encode(), b, ts, c, b'"}')))
            body = b'{"Entries":[' + b",".join(entries) + b"]}"
            while True:
                t = time.monotonic()
                try:
                    conn.request("POST", "/", body, hdrs)
                    r = conn.getresponse()
                    data = r.read()
                except (OSError, http.client.HTTPException) as e:
                    errors += 1
                    print(f"soak: put: {e!r}; reconnecting", file=sys.stderr)
                    conn.close()
                    time.sleep(0.1)
                    continue
                rtts.append((time.monotonic() - t) * 1000)
                if r.status == 200 and b'"FailedEntryCount":0' in data:
                    break
                if r.status == 400 and b"ThrottlingException" in data:
                    throttled += 1
                    w_thr += 1
                    time.sleep(0.01)
                    continue
                sys.exit(f"soak: put: unexpected answer {r.status}: {data[:300]!r}")
            n += args.entries
            reqs += 1
            w_sent += args.entries
            w_reqs += 1
        else:
            time.sleep(0.0005)
        if args.rate > 0:
            w_behind = max(w_behind, (pacer.due(reqs) - reqs) * args.entries)
        now_w = window_of(args)
        if now_w != w:
            rtts.sort()
            write_row(args.stats, header,
                      [w, w_sent, w_reqs, w_thr, w_behind, pct(rtts, 0.99), cpu.pct()])
            w, w_sent, w_reqs, w_thr, w_behind, rtts = now_w, 0, 0, 0, 0, []
    rtts.sort()
    write_row(args.stats, header, [w, w_sent, w_reqs, w_thr, w_behind, pct(rtts, 0.99), cpu.pct()])
    print(json.dumps({"g": args.g, "sent": n, "requests": reqs, "throttled": throttled,
                      "connection_errors": errors,
                      "max_behind_events": pacer.max_behind * args.entries}))


# ---- tail -------------------------------------------------------------------------------------

def punch_hole(fd, offset, length):
    """Free the disk blocks of [offset, offset + length) of the file; its size stays, and reads
    there return zeros (fallocate(2) FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    if libc.fallocate(fd, 3, offset, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"fallocate(PUNCH_HOLE): {os.strerror(e)}")


def cmd_tail(args):
    ledger = Ledger(args, ["bad_lines"])
    while not os.path.exists(args.path):
        time.sleep(0.05)
    rest, bad, lines, nbytes, punched = b"", 0, 0, 0, 0
    last_progress = time.monotonic()
    # Freeing blocks needs a descriptor open for writing; nothing is written through it.
    wfd = os.open(args.path, os.O_WRONLY) if args.punch_mib else -1
    with open(args.path, "rb") as f:
        while True:
            chunk = f.read(1 << 22)
            if chunk:
                now_ns = time.time_ns()
                nbytes += len(chunk)
                # At 70% of the peak the file grows by tens of MB/s, more than the disk holds
                # in 30 minutes: free what was read (whole 4 KiB blocks behind the read
                # position). busbar appends and never reads the file back, so it cannot tell.
                if args.punch_mib and nbytes - punched >= args.punch_mib << 20:
                    upto = (nbytes - len(rest) - len(chunk)) // 4096 * 4096
                    if upto > punched:
                        punch_hole(wfd, punched, upto - punched)
                        punched = upto
                data = rest + chunk
                cut = data.rfind(b"\n") + 1
                rest = data[cut:]
                for line in data[:cut].split(b"\n")[:-1]:
                    lines += 1
                    if not ledger.record(line, now_ns):
                        bad += 1
                last_progress = time.monotonic()
            else:
                time.sleep(args.poll_ms / 1000)
            ledger.tick([bad])
            if finish_when_complete(ledger, args, last_progress):
                break
    ledger.flush([bad])
    v = ledger.verdict(read_sent(args.sent))
    v.update({"lines": lines, "bad_lines": bad, "bytes_read": nbytes,
              "file_size": os.path.getsize(args.path), "partial_tail_bytes": len(rest),
              "bytes_freed": punched})
    print(json.dumps(v))


# ---- sample -----------------------------------------------------------------------------------

def scrape(url):
    """{metric name: {label text: value}} from a Prometheus text page."""
    out = {}
    with urllib.request.urlopen(url, timeout=5) as r:
        for line in r.read().decode().splitlines():
            if not line or line[0] == "#":
                continue
            name_labels, _, value = line.rpartition(" ")
            name, _, labels = name_labels.partition("{")
            out.setdefault(name, {})[labels.rstrip("}")] = float(value)
    return out


def total(m, name):
    return sum(m.get(name, {}).values())


def buckets(m):
    """Cumulative counts of busbar_delivery_latency_seconds, summed over kinds: {le: count}."""
    b = {}
    for labels, v in m.get("busbar_delivery_latency_seconds_bucket", {}).items():
        le = re.search(r'le="([^"]+)"', labels).group(1)
        le = float("inf") if le == "+Inf" else float(le)
        b[le] = b.get(le, 0) + v
    return b


def quantile_from_buckets(prev, cur, q):
    """Prometheus' histogram_quantile over the window's bucket deltas (linear inside a bucket),
    in ms; '' when nothing was observed; the upper bound of the last finite bucket past it."""
    les = sorted(cur)
    deltas = [cur[le] - prev.get(le, 0) for le in les]
    n = deltas[-1] if deltas else 0
    if n <= 0:
        return ""
    rank, lower, below = q * n, 0.0, 0.0
    for le, c in zip(les, deltas):
        if c >= rank:
            if le == float("inf"):
                return round(lower * 1000, 2)
            return round((lower + (le - lower) * (rank - below) / max(c - below, 1e-9)) * 1000, 2)
        lower, below = le, c
    return ""


def proc_stats(pid):
    """(VmRSS KiB, open fds, CPU seconds) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return rss, fds, cpu
    except (OSError, AttributeError):
        return None


def machine_cpu():
    """The machine's CPU time so far from /proc/stat: (busy without nice, nice, idle + iowait)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = v
    return user + system + irq + softirq + steal, nice, idle + iowait


def cpu_pressure():
    """The kernel's CPU pressure (PSI): % of the last 10 s in which some runnable task waited for
    a CPU; '' where the kernel does not expose it."""
    try:
        with open("/proc/pressure/cpu") as f:
            return float(re.search(r"avg10=([0-9.]+)", f.readline()).group(1))
    except (OSError, AttributeError):
        return ""


def cmd_sample(args):
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    header = ["window", "t_s", "events_in", "events_out", "busbar_p99_ms", "busbar_p50_ms",
              "rss_kib", "fds", "in_flight", "cpu_pct", "load1", "broker_rss_kib",
              "broker_cpu_pct", "backpressure", "failures", "dead_letters", "dropped",
              "machine_busy_pct", "machine_nice_pct", "machine_idle_pct", "cpu_pressure_pct"]
    # Where the machine's CPU went: busy (not niced: busbar, the load generators, other
    # builds), niced (background jobs that yield), idle; in % of all cores.
    prev_c = machine_cpu()
    prev_m = scrape(args.metrics)
    prev_p = proc_stats(args.pid)
    prev_b = proc_stats(args.broker_pid) if args.broker_pid else None
    w = window_of(args)
    while not stop[0]:
        # Sleep to the next window boundary of the shared clock.
        nxt = args.t0 + (w + 1) * args.window
        while not stop[0] and time.time() < nxt:
            time.sleep(min(0.2, max(0.0, nxt - time.time())))
        if stop[0]:
            break
        try:
            m = scrape(args.metrics)
        except OSError as e:
            print(f"soak: sample: /metrics: {e}", file=sys.stderr)
            break
        p = proc_stats(args.pid)
        if p is None:
            print("soak: sample: busbar is gone", file=sys.stderr)
            break
        b = proc_stats(args.broker_pid) if args.broker_pid else None
        c = machine_cpu()
        pb, cb = buckets(prev_m), buckets(m)
        d = lambda name: int(total(m, name) - total(prev_m, name))
        with open("/proc/loadavg") as f:
            load1 = f.read().split()[0]
        write_row(args.csv, header, [
            w, round(time.time() - args.t0, 1),
            d("busbar_events_received_total"), d("busbar_deliveries_total"),
            quantile_from_buckets(pb, cb, 0.99), quantile_from_buckets(pb, cb, 0.5),
            p[0], p[1], int(total(m, "busbar_in_flight_events")),
            round((p[2] - prev_p[2]) / args.window * 100, 1), load1,
            b[0] if b else "", round((b[2] - prev_b[2]) / args.window * 100, 1) if b and prev_b else "",
            d("busbar_backpressure_total"), d("busbar_delivery_failures_total"),
            d("busbar_dead_letters_total"), d("busbar_events_dropped_total"),
        ] + [round(100 * (x - y) / max(sum(c) - sum(prev_c), 1), 1) for x, y in zip(c, prev_c)]
          + [cpu_pressure()])
        prev_m, prev_p, prev_b, prev_c = m, p, b, c
        w += 1


# ---- summary ----------------------------------------------------------------------------------

def load(path):
    if not path or not os.path.exists(path):
        return {}
    with open(path) as f:
        rows = {}
        for r in csv.DictReader(f):
            w = int(r["window"])
            if w in rows:  # a generator's last partial row: add its counts to the window
                for k in ("sent", "requests", "throttled"):
                    if k in r and r[k]:
                        rows[w][k] = str(int(rows[w][k]) + int(r[k]))
            else:
                rows[w] = r
        return rows


def num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def median(vals):
    vals = sorted(v for v in vals if v is not None)
    return vals[len(vals) // 2] if vals else None


def slope_per_min(points):
    """Least-squares slope of (t_s, y) in y per minute."""
    pts = [(t, y) for t, y in points if y is not None]
    if len(pts) < 3:
        return None
    n = len(pts)
    mt = sum(t for t, _ in pts) / n
    my = sum(y for _, y in pts) / n
    var = sum((t - mt) ** 2 for t, _ in pts)
    return sum((t - mt) * (y - my) for t, y in pts) / var * 60 if var else None


def cmd_summary(args):
    samples = load(args.samples)
    gens = [load(p) for p in args.generator]
    reader = load(args.reader)
    rows = []
    for w in sorted(samples):
        s = dict(samples[w])
        sent = sum(int(g[w]["sent"]) for g in gens if w in g)
        behind = max([int(g[w].get("behind_max", g[w].get("behind_max_events", 0)) or 0)
                      for g in gens if w in g] or [0])
        thr = sum(int(g[w].get("throttled", 0) or 0) for g in gens if w in g)
        gcpu = sum(num(g[w].get("cpu_pct")) or 0 for g in gens if w in g)
        r = reader.get(w, {})
        s.update({"generator_sent": sent, "generator_behind_max": behind, "throttled": thr,
                  "generator_cpu_pct": round(gcpu, 1) if any(w in g for g in gens) else "",
                  "reader_received": r.get("received", ""), "e2e_p50_ms": r.get("e2e_p50_ms", ""),
                  "e2e_p99_ms": r.get("e2e_p99_ms", ""), "e2e_max_ms": r.get("e2e_max_ms", ""),
                  "reader_cpu_pct": r.get("cpu_pct", "")})
        rows.append(s)
    if not rows:
        sys.exit("soak: summary: no samples")
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

    span = args.first_last / args.window
    # The load runs over windows 0 .. duration/window - 1; later samples are the drain.
    load_rows = [r for r in rows if int(r["window"]) < args.duration / args.window]
    first = [r for r in load_rows if int(r["window"]) < span]
    last = load_rows[-int(span):] if len(load_rows) >= 2 * span else load_rows[len(load_rows) // 2:]
    late = [r for r in load_rows if int(r["window"]) >= span]  # after the first 5 minutes
    cols = [("rss_kib", "RSS MiB", 1 / 1024), ("fds", "open fds", 1),
            ("in_flight", "in flight events", 1), ("busbar_p99_ms", "p99 ms (busbar histogram)", 1),
            ("e2e_p99_ms", "p99 ms (end to end, reader)", 1), ("cpu_pct", "busbar CPU %", 1),
            ("generator_cpu_pct", "generator CPU %", 1), ("reader_cpu_pct", "reader CPU %", 1),
            ("broker_cpu_pct", "broker CPU %", 1), ("load1", "load average (1 min)", 1),
            ("machine_busy_pct", "machine CPU busy, not niced (% of all cores)", 1),
            ("machine_nice_pct", "machine CPU niced (% of all cores)", 1),
            ("cpu_pressure_pct", "CPU pressure, some (PSI avg10, %)", 1),
            ("broker_rss_kib", "broker RSS MiB", 1 / 1024)]
    span_min = f"{args.first_last / 60:g} min"
    print(f"\n| {args.label} | first {span_min} (median) | last {span_min} (median) "
          f"| max | slope after the first {span_min} (per min) |")
    print("|---|---:|---:|---:|---:|")
    slopes = {}
    for key, name, scale in cols:
        vals = [num(r.get(key)) for r in load_rows]
        if all(v is None for v in vals):
            continue
        f_med, l_med = median(num(r.get(key)) for r in first), median(num(r.get(key)) for r in last)
        mx = max(v for v in vals if v is not None)
        sl = slope_per_min((num(r["t_s"]), num(r.get(key))) for r in late)
        slopes[key] = sl
        fmt = lambda v: "" if v is None else f"{v * scale:,.1f}"
        print(f"| {name} | {fmt(f_med)} | {fmt(l_med)} | {fmt(mx)} | {fmt(sl)} |")
    secs = len(load_rows) * args.window
    ins = sum(int(r["events_in"]) for r in load_rows)
    outs = sum(int(r["events_out"]) for r in load_rows)
    sent = sum(int(r["generator_sent"]) for r in load_rows)
    behind = max(int(r["generator_behind_max"]) for r in load_rows)
    print(f"\nload phase: {secs} s; generator sent {sent:,} ({sent / secs:,.0f}/s, target "
          f"{args.rate:,.0f}/s); busbar took in {ins:,} ({ins / secs:,.0f}/s), delivered {outs:,}; "
          f"generator at most {behind:,} events behind its schedule"
          + (f"; {sum(int(r['throttled']) for r in load_rows):,} PutEvents requests throttled"
             if any(int(r["throttled"]) for r in load_rows) else ""))
    # Window 0 is short for the generators (they start a moment after t0): judge the rate they
    # kept on the windows after it.
    full = load_rows[1:]
    kept = sum(int(r["generator_sent"]) for r in full) / (len(full) * args.window) if full else 0
    if args.rate > 0 and kept < 0.98 * args.rate:
        print(f"WARNING: the load generator did not keep the rate: {kept:,.0f}/s of "
              f"{args.rate:,.0f}/s (windows after the first)")
    if any(r["reader_received"] != "" for r in load_rows):
        # A reader starved of CPU falls behind; its end-to-end figures then include that wait.
        lag = outs - sum(int(r["reader_received"] or 0) for r in load_rows)
        print(f"reader behind busbar's deliveries at the end of the load: {lag:,} events"
              + (" (its end-to-end latency is then mostly its own backlog)" if lag > 2 * args.rate * args.window else ""))
    loads = [num(r["load1"]) for r in load_rows]
    print(f"load average (1 min) during the load: min {min(loads):.2f}, median {median(loads):.2f}, "
          f"max {max(loads):.2f} on {os.cpu_count()} cores")
    idle = [num(r.get("machine_idle_pct")) for r in load_rows]
    if any(v is not None for v in idle):
        print(f"machine CPU idle during the load: median {median(idle):.1f}% "
              f"(busy, not niced: median {median(num(r.get('machine_busy_pct')) for r in load_rows):.1f}%; "
              f"niced: {median(num(r.get('machine_nice_pct')) for r in load_rows):.1f}%)")

    # Growth verdict over the windows after the first 5 minutes (warm-up: allocator arenas,
    # librdkafka buffers and the page cache fill there).
    mins = (len(late) * args.window) / 60
    verdicts = []
    rss_med = median(num(r["rss_kib"]) for r in late) or 1
    rs = slopes.get("rss_kib")
    if rs is not None:
        grow = rs * mins
        ok = grow < max(2048, 0.05 * rss_med)
        verdicts.append(f"RSS {rs:+.1f} KiB/min ({grow / 1024:+.1f} MiB over {mins:.0f} min): "
                        + ("flat" if ok else "GROWS") + " (flat: fitted rise < max(2 MiB, 5% of median))")
    fs = slopes.get("fds")
    if fs is not None:
        ok = fs * mins < 2
        verdicts.append(f"fds {fs:+.3f}/min: " + ("flat" if ok else "GROWS") + " (flat: fitted rise < 2)")
    for key in ("busbar_p99_ms", "e2e_p99_ms"):
        sl = slopes.get(key)
        if sl is None:
            continue
        base = median(num(r.get(key)) for r in first) or 1
        ok = sl * mins < max(5, 0.25 * base)
        verdicts.append(f"{key} {sl:+.3f} ms/min: " + ("flat" if ok else "GROWS")
                        + " (flat: fitted rise < max(5 ms, 25% of the first minutes' median))")
    print("\nverdict: " + "; ".join(verdicts))


# ---- main -------------------------------------------------------------------------------------

def main():
    clock = argparse.ArgumentParser(add_help=False)
    clock.add_argument("--t0", type=float, required=True, help="Unix seconds that start window 0")
    clock.add_argument("--window", type=float, default=10.0)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("kafka-produce", parents=[clock])
    s.add_argument("--bootstrap", required=True)
    s.add_argument("--topic", required=True)
    s.add_argument("--rate", type=float, required=True, help="events/s; 0 = as fast as it can")
    s.add_argument("--duration", type=float, required=True)
    s.add_argument("--size", type=int, default=800, help="about this many bytes of detail")
    s.add_argument("--linger-ms", type=int, default=20)
    s.add_argument("--distinct", type=int, default=512, help="distinct detail bodies, cycled")
    s.add_argument("--max-ahead", type=int, default=0,
                   help="with --rate 0: at most this many events ahead of busbar's intake")
    s.add_argument("--metrics", default="", help="busbar's /metrics, for --max-ahead")
    s.add_argument("--stats", required=True)
    s.set_defaults(func=cmd_kafka_produce)

    for name, func in (("kafka-consume", cmd_kafka_consume), ("tail", cmd_tail)):
        s = sub.add_parser(name, parents=[clock])
        s.add_argument("--stats", required=True)
        s.add_argument("--sent", required=True, help="JSON {generator: sent}, written by the driver at the end")
        s.add_argument("--idle", type=float, default=60, help="give up this long after the last event")
        if name == "kafka-consume":
            s.add_argument("--bootstrap", required=True)
            s.add_argument("--topic", required=True)
            s.add_argument("--fetch-wait-ms", type=int, default=100)
        else:
            s.add_argument("--path", required=True)
            s.add_argument("--poll-ms", type=float, default=20)
            s.add_argument("--punch-mib", type=int, default=0,
                           help="free the file's blocks behind the reader every N MiB (0: keep)")
        s.set_defaults(func=func)

    s = sub.add_parser("put", parents=[clock])
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--g", type=int, required=True, help="generator number (id space)")
    s.add_argument("--rate", type=float, required=True, help="events/s; 0 = as fast as it can")
    s.add_argument("--duration", type=float, required=True)
    s.add_argument("--entries", type=int, default=10)
    s.add_argument("--size", type=int, default=800)
    s.add_argument("--stats", required=True)
    s.set_defaults(func=cmd_put)

    s = sub.add_parser("sample", parents=[clock])
    s.add_argument("--pid", type=int, required=True)
    s.add_argument("--metrics", required=True)
    s.add_argument("--broker-pid", type=int, default=0)
    s.add_argument("--csv", required=True)
    s.set_defaults(func=cmd_sample)

    s = sub.add_parser("summary")
    s.add_argument("--window", type=float, default=10.0)
    s.add_argument("--samples", required=True)
    s.add_argument("--generator", action="append", default=[])
    s.add_argument("--reader", default="")
    s.add_argument("--out", required=True)
    s.add_argument("--label", default="")
    s.add_argument("--rate", type=float, required=True)
    s.add_argument("--duration", type=float, required=True)
    s.add_argument("--first-last", type=int, default=300, help="seconds compared at each end")
    s.set_defaults(func=cmd_summary)

    args = p.parse_args()
    sys.exit(args.func(args) or 0)


if __name__ == "__main__":
    main()
