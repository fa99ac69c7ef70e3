#!/usr/bin/env python3
"""A real AWS SDK client (boto3) against busbar's EventBridge-compatible PutEvents endpoint.

Subcommands:
  put-events          --endpoint URL --entries-json FILE_OR_-
      Calls events.put_events. The JSON is a list of entries or {"Entries": [...]}. Prints the
      response (minus ResponseMetadata) as JSON, exit 0. An error answer from the service prints
      {"Error": {"Code", "Message"}, "HTTPStatusCode": n} and exits 1.
  test-event-pattern  --endpoint URL --pattern P --event E
      Calls events.test_event_pattern. P and E are JSON text, or @FILE. Prints {"Result": bool}
      or {"Error": {"Code", "Message"}}, exit 0 either way.
  describe            --endpoint URL
      Looks at the loaded rules as an operator would: list_rules through boto3's paginator one
      rule per page (NextToken), describe_rule and list_targets_by_rule for each, list_rules
      with a NamePrefix, list_event_buses, describe_event_bus, and put_rule, which must fail.
      Prints {"Rules", "Described", "Targets", "Prefixed", "EventBuses", "EventBus",
      "PutRule"} as JSON (PutRule holds the error), exit 0.

Anything else (connection refused, timeouts, bad arguments) prints to stderr and exits 2.
Region us-east-1 by default; credentials from --access-key/--secret-key, else
$AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY, else dummy ones. --max-attempts defaults to 1 (no
retries), so a test sees throttling answers instead of the SDK retrying them away.
"""

import argparse
import json
import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def make_client(args):
    config = Config(
        region_name=args.region,
        # total_max_attempts counts the first attempt; botocore's `max_attempts` key would count
        # retries only (max_attempts=1 sends 2 requests and hides a throttling answer).
        retries={"total_max_attempts": args.max_attempts, "mode": "standard"},
        connect_timeout=args.timeout,
        read_timeout=args.timeout,
        parameter_validation=not args.no_param_validation,
    )
    session = boto3.session.Session(
        aws_access_key_id=args.access_key,
        aws_secret_access_key=args.secret_key,
        region_name=args.region,
    )
    return session.client("events", endpoint_url=args.endpoint, config=config)


def read_arg(value):
    """`@FILE` -> the file's text, `-` -> stdin, else the value itself."""
    if value == "-":
        return sys.stdin.read()
    if value.startswith("@"):
        with open(value[1:], encoding="utf-8") as f:
            return f.read()
    return value


def error_of(e):
    err = e.response.get("Error", {})
    return {"Code": err.get("Code"), "Message": err.get("Message")}


def dump(obj):
    print(json.dumps(obj, default=str))


def cmd_put_events(args):
    text = sys.stdin.read() if args.entries_json == "-" else open(
        args.entries_json, encoding="utf-8").read()
    entries = json.loads(text)
    if isinstance(entries, dict):
        entries = entries["Entries"]
    try:
        resp = make_client(args).put_events(Entries=entries)
    except ClientError as e:
        dump({"Error": error_of(e),
              "HTTPStatusCode": e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")})
        return 1
    resp.pop("ResponseMetadata", None)
    dump(resp)
    return 0


def cmd_test_event_pattern(args):
    try:
        resp = make_client(args).test_event_pattern(
            EventPattern=read_arg(args.pattern), Event=read_arg(args.event))
    except ClientError as e:
        dump({"Error": error_of(e)})
        return 0
    dump({"Result": resp["Result"]})
    return 0


def cmd_describe(args):
    c = make_client(args)
    out = {"Rules": [], "Described": {}, "Targets": {}}
    pages = c.get_paginator("list_rules").paginate(PaginationConfig={"PageSize": 1})
    for page in pages:
        out["Rules"].extend(page["Rules"])
    for r in out["Rules"]:
        d = c.describe_rule(Name=r["Name"])
        d.pop("ResponseMetadata", None)
        out["Described"][r["Name"]] = d
        t = c.list_targets_by_rule(Rule=r["Name"])
        out["Targets"][r["Name"]] = t["Targets"]
    prefix = out["Rules"][0]["Name"][:2] if out["Rules"] else "x"
    out["Prefixed"] = [r["Name"] for r in c.list_rules(NamePrefix=prefix)["Rules"]]
    out["EventBuses"] = c.list_event_buses()["EventBuses"]
    bus = c.describe_event_bus()
    bus.pop("ResponseMetadata", None)
    out["EventBus"] = bus
    try:
        c.put_rule(Name="new", EventPattern='{"source":["x"]}')
        out["PutRule"] = None
    except ClientError as e:
        out["PutRule"] = error_of(e)
    dump(out)
    return 0


def main():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--endpoint", required=True, help="e.g. http://127.0.0.1:8080")
    common.add_argument("--region", default="us-east-1")
    common.add_argument("--access-key", default=os.environ.get("AWS_ACCESS_KEY_ID", "test"))
    common.add_argument("--secret-key", default=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"))
    common.add_argument("--max-attempts", type=int, default=1,
                        help="total attempts per call, 1 = no retries (default)")
    common.add_argument("--timeout", type=float, default=10.0, help="connect/read timeout, s")
    common.add_argument("--no-param-validation", action="store_true",
                        help="send requests boto3 would reject client-side")

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("put-events", parents=[common])
    s.add_argument("--entries-json", required=True, metavar="FILE_OR_-")
    s.set_defaults(func=cmd_put_events)
    s = sub.add_parser("test-event-pattern", parents=[common])
    s.add_argument("--pattern", required=True, help="JSON text or @FILE")
    s.add_argument("--event", required=True, help="JSON text or @FILE")
    s.set_defaults(func=cmd_test_event_pattern)
    s = sub.add_parser("describe", parents=[common])
    s.set_defaults(func=cmd_describe)
    args = p.parse_args()
    try:
        sys.exit(args.func(args))
    except SystemExit:
        raise
    except Exception as e:  # connection errors, timeouts, bad JSON input, ...
        print(f"eventbridge_client: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
