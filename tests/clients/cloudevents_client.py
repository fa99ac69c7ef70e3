#!/usr/bin/env python3
"""Reads what busbar sent as CloudEvents with the CloudEvents SDK for Python (`cloudevents`),
the way a Knative or Dapr consumer would, and prints what the SDK understood. See README.md.

Subcommands (stdin: one JSON object per line; stdout: one JSON object per message):
  http   each line {"headers": {name: value}, "body": "<text>"}, a request an HTTP server
         received; parsed with cloudevents.core.bindings.http.from_http (binary or structured
         mode, detected as the SDK does)
  kafka  each line as `kafka_client.py consume` prints a record ({"key", "value", "headers"});
         parsed with cloudevents.core.bindings.kafka.from_kafka

Output per message: {"attributes": {...}, "data": ...} with `time` in ISO 8601, or
{"error": "..."} when the SDK rejects it. Exit 0 when every message parsed, else 1.
"""

import json
import sys

from cloudevents.core.bindings import http, kafka
from cloudevents.core.formats.json import JSONFormat


def show(event):
    attributes = {}
    for k, v in event.get_attributes().items():
        attributes[k] = v.isoformat() if hasattr(v, "isoformat") else v
    data = event.get_data()
    if isinstance(data, bytes):
        data = data.decode("utf-8", errors="replace")
    return {"attributes": attributes, "data": data}


def parse(line, mode):
    m = json.loads(line)
    if mode == "http":
        msg = http.HTTPMessage(headers=m["headers"], body=m["body"].encode("utf-8"))
        return http.from_http(msg, JSONFormat())
    headers = {k: (v or "").encode("utf-8") for k, v in (m.get("headers") or {}).items()}
    value = (m.get("value") or "").encode("utf-8")
    msg = kafka.KafkaMessage(headers=headers, key=m.get("key"), value=value)
    return kafka.from_kafka(msg, JSONFormat())


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in ("http", "kafka"):
        sys.exit(__doc__)
    ok = True
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            out = show(parse(line, sys.argv[1]))
        except Exception as e:  # the SDK's own validation errors, reported per message
            ok = False
            out = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(out), flush=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
