#!/usr/bin/env python3
"""A real outside Kafka client for busbar's integration tests, on confluent-kafka.

Debian's kcat carries librdkafka 2.0.2, which cannot talk to the tansu broker the tests use;
this script (confluent-kafka 2.16.1, librdkafka 2.16.0) stands in for it. See README.md.

Subcommands (--bootstrap defaults to $KAFKA_BOOTSTRAP):
  ping          --bootstrap B [--timeout S]
  create-topics --bootstrap B --partitions N TOPIC...
  produce       --bootstrap B --topic T [--one-per-batch] [--header k=v|k=@FILE ...] [--partition P]
  consume       --bootstrap B --topic T --count N [--group G] [--timeout S] [--from-beginning]
  committed     --bootstrap B --topic T --group G [--timeout S]
  commit        --bootstrap B --topic T --group G [--create PARTITIONS] PARTITION:OFFSET...
  rate          --bootstrap B --topic T --count N --size BYTES [--partitions N] [--one-per-batch]

Every subcommand takes -X key=value (repeatable) to pass a librdkafka setting to its clients.
"""

import argparse
import json
import os
import sys
import time
import uuid

from confluent_kafka import (OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException,
                             Producer, TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic


def base_config(args):
    conf = {"bootstrap.servers": args.bootstrap, "client.id": "busbar-test-client"}
    if not args.verbose:
        # librdkafka logs connection refusals etc. to stderr; tests read our stdout only, but
        # keep stderr readable for real errors.
        conf["log_level"] = 3
    for item in args.X:
        key, sep, value = item.partition("=")
        if not sep:
            sys.exit(f"-X expects key=value, got {item!r}")
        conf[key] = value
    return conf


def config_with(args, settings):
    """base_config with this subcommand's own settings, which -X still overrides."""
    conf = base_config(args)
    conf.update(settings)
    conf.update(base_config(args))
    return conf


def fail(msg, code=1):
    print(f"kafka_client: {msg}", file=sys.stderr)
    sys.exit(code)


def topic_partitions(admin_or_client, topic, timeout):
    """Partition ids of `topic` once the broker's metadata lists it, else None after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        md = admin_or_client.list_topics(topic=topic, timeout=max(1.0, deadline - time.monotonic()))
        t = md.topics.get(topic)
        if t is not None and t.error is None and t.partitions:
            return sorted(t.partitions)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


# ---- ping -------------------------------------------------------------------------------------

def cmd_ping(args):
    conf = base_config(args)
    conf["log_level"] = 0
    try:
        md = AdminClient(conf).list_topics(timeout=args.timeout)
    except KafkaException as e:
        fail(f"no metadata from {args.bootstrap}: {e}")
    print(json.dumps({"brokers": [f"{b.host}:{b.port}" for b in md.brokers.values()],
                      "topics": len(md.topics)}))


# ---- create-topics ----------------------------------------------------------------------------

def cmd_create_topics(args):
    admin = AdminClient(base_config(args))
    futures = admin.create_topics(
        [NewTopic(t, num_partitions=args.partitions, replication_factor=1) for t in args.topics],
        operation_timeout=args.timeout, request_timeout=args.timeout)
    failed = False
    for topic, fut in futures.items():
        try:
            fut.result()
            print(f"created {topic}")
        except KafkaException as e:
            err = e.args[0]
            if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                print(f"exists {topic}")
            else:
                print(f"kafka_client: create {topic}: {err}", file=sys.stderr)
                failed = True
    if failed:
        sys.exit(1)
    # Wait until the metadata shows every topic, so a producer or consumer started right after
    # does not race the creation.
    for topic in args.topics:
        if topic_partitions(admin, topic, args.timeout) is None:
            fail(f"topic {topic} not in the broker's metadata after {args.timeout} s")


# ---- produce ----------------------------------------------------------------------------------

def parse_headers(items):
    headers = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            fail(f"--header expects k=v, got {item!r}", 2)
        if value.startswith("@"):
            # A value too large for a command line (ARG_MAX): read it from a file.
            with open(value[1:], "rb") as f:
                headers.append((key, f.read()))
        else:
            headers.append((key, value.encode()))
    return headers


def cmd_produce(args):
    conf = base_config(args)
    conf.setdefault("enable.idempotence", "true")
    if args.one_per_batch:
        # tansu's memory engine serves a fetch only with batches starting at or after the fetch
        # offset: a group resuming mid-batch would skip the rest. One record per batch makes every
        # committed offset a batch boundary.
        conf["linger.ms"] = 0
        conf["batch.num.messages"] = 1
    producer = Producer(conf)
    headers = parse_headers(args.header) or None
    delivered = 0
    errors = []

    def on_delivery(err, _msg):
        nonlocal delivered
        if err is None:
            delivered += 1
        else:
            errors.append(str(err))

    extra = {} if args.partition is None else {"partition": args.partition}
    for raw in sys.stdin.buffer:
        line = raw[:-1] if raw.endswith(b"\n") else raw
        if line.endswith(b"\r"):
            line = line[:-1]
        key, sep, value = line.partition(b"\t")
        if not sep:
            key, value = None, line
        while True:
            try:
                producer.produce(args.topic, value=value, key=key, headers=headers,
                                 on_delivery=on_delivery, **extra)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    remaining = producer.flush(args.timeout)
    print(delivered)
    if remaining or errors:
        fail(f"{len(errors)} delivery errors, {remaining} undelivered after {args.timeout} s"
             + (f"; first error: {errors[0]}" if errors else ""))


# ---- consume ----------------------------------------------------------------------------------

def text(b):
    return None if b is None else b.decode("utf-8", errors="replace")


def cmd_consume(args):
    consumer = Consumer(config_with(args, {
        # tansu holds each fetch for about fetch.wait.max.ms even when data waits.
        "fetch.wait.max.ms": 10,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest" if args.from_beginning else "latest",
        "group.id": args.group or f"busbar-test-{uuid.uuid4()}",
    }))
    deadline = time.monotonic() + args.timeout
    if args.group:
        consumer.subscribe([args.topic])
    else:
        # No group: assign every partition directly (no group join, which takes seconds on tansu).
        parts = topic_partitions(consumer, args.topic, args.timeout)
        if parts is None:
            consumer.close()
            fail(f"topic {args.topic} not found within {args.timeout} s")
        start = OFFSET_BEGINNING if args.from_beginning else OFFSET_END
        consumer.assign([TopicPartition(args.topic, p, start) for p in parts])
    got = 0
    try:
        while got < args.count:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            msg = consumer.poll(min(left, 0.5))
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() != KafkaError._PARTITION_EOF:
                    print(f"kafka_client: consume: {msg.error()}", file=sys.stderr)
                continue
            print(json.dumps({
                "topic": msg.topic(),
                "partition": msg.partition(),
                "offset": msg.offset(),
                "key": text(msg.key()),
                "value": text(msg.value()),
                "headers": {k: text(v) for k, v in (msg.headers() or [])},
            }), flush=True)
            got += 1
        if args.group and got:
            consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    if got < args.count:
        print(f"kafka_client: timeout after {args.timeout} s: {got} of {args.count} messages",
              file=sys.stderr)
        sys.exit(1)


# ---- committed --------------------------------------------------------------------------------

def cmd_committed(args):
    """The group's committed offset of each partition of the topic, as one JSON object
    {"partition": offset}; -1 where the group has committed nothing. Reads only (OffsetFetch):
    it does not join the group, so it can look at a group whose member was just killed."""
    consumer = Consumer(config_with(args, {"group.id": args.group, "enable.auto.commit": False}))
    try:
        parts = topic_partitions(consumer, args.topic, args.timeout)
        if parts is None:
            fail(f"topic {args.topic} not found within {args.timeout} s")
        got = consumer.committed([TopicPartition(args.topic, p) for p in parts],
                                 timeout=args.timeout)
    finally:
        consumer.close()
    print(json.dumps({str(tp.partition): (tp.offset if tp.offset >= 0 else -1) for tp in got}))


# ---- commit -----------------------------------------------------------------------------------

def cmd_commit(args):
    """Commit the given offsets for a group without joining it (a position the group may not
    have reached: tests use it to leave a committed offset past a partition's end)."""
    if args.create:
        # Create the topic first, in the same process, so the commit follows its creation
        # within milliseconds (a broker refuses commits for topics it does not have).
        admin = AdminClient(base_config(args))
        admin.create_topics([NewTopic(args.topic, num_partitions=args.create,
                                      replication_factor=1)])[args.topic].result()
        if topic_partitions(admin, args.topic, 30) is None:
            fail(f"topic {args.topic} not in the broker's metadata after 30 s")
    consumer = Consumer(config_with(args, {"group.id": args.group, "enable.auto.commit": False}))
    try:
        offsets = []
        for item in args.offsets:
            partition, sep, offset = item.partition(":")
            if not sep:
                fail(f"--offsets expects partition:offset, got {item!r}", 2)
            offsets.append(TopicPartition(args.topic, int(partition), int(offset)))
        for tp in consumer.commit(offsets=offsets, asynchronous=False):
            if tp.error is not None:
                fail(f"commit {tp.topic} [{tp.partition}]: {tp.error}")
    finally:
        consumer.close()
    print(len(offsets))


# ---- rate -------------------------------------------------------------------------------------

def cmd_rate(args):
    conf = base_config(args)
    admin = AdminClient(conf)
    fut = admin.create_topics([NewTopic(args.topic, num_partitions=args.partitions,
                                        replication_factor=1)])[args.topic]
    try:
        fut.result()
    except KafkaException as e:
        if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            fail(f"create {args.topic}: {e}")
    if topic_partitions(admin, args.topic, 30) is None:
        fail(f"topic {args.topic} not in metadata")

    # Produce: idempotent producer, librdkafka's default batching (or one record per batch),
    # keyed JSON-ish values with 2 headers.
    pconf = dict(conf, **{"enable.idempotence": "true"})
    if args.one_per_batch:
        pconf.update({"linger.ms": 0, "batch.num.messages": 1})
    producer = Producer(pconf)
    value = (b'{"n":0,"pad":"' + b"x" * args.size)[:args.size - 2] + b'"}' if args.size > 2 \
        else b"x" * args.size
    headers = [("source", b"rate"), ("type", b"bench")]
    errors = []

    def on_delivery(err, _msg):
        if err is not None:
            errors.append(err)

    t0 = time.monotonic()
    for i in range(args.count):
        while True:
            try:
                producer.produce(args.topic, value=value, key=str(i).encode(), headers=headers,
                                 on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.01)
        if i % 1000 == 0:
            producer.poll(0)
    if producer.flush(120):
        fail("produce: messages undelivered after 120 s")
    produce_s = time.monotonic() - t0
    if errors:
        fail(f"produce: {len(errors)} delivery errors, first: {errors[0]}")

    # Consume in a fresh group from the beginning, synchronous commit every 1,000 messages.
    cconf = dict(conf, **{
        "group.id": f"busbar-rate-{uuid.uuid4()}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "fetch.wait.max.ms": 10,
    })
    consumer = Consumer(cconf)
    consumer.subscribe([args.topic])
    t_sub = time.monotonic()
    t_first = None
    got = 0
    deadline = t_sub + 120
    while got < args.count and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        if t_first is None:
            t_first = time.monotonic()
        got += 1
        if got % 1000 == 0:
            consumer.commit(asynchronous=False)
    t_end = time.monotonic()
    try:
        consumer.commit(asynchronous=False)
    except KafkaException:
        pass  # _NO_OFFSET: everything was committed already
    consumer.close()
    if got < args.count:
        fail(f"consume: {got} of {args.count} messages within 120 s")
    consume_s = t_end - t_first
    print(json.dumps({
        "count": args.count,
        "size": args.size,
        "partitions": args.partitions,
        "produce_msgs_per_s": round(args.count / produce_s),
        "consume_msgs_per_s": round(args.count / consume_s) if consume_s > 0 else None,
        "produce_s": round(produce_s, 3),
        "consume_s": round(consume_s, 3),
        "group_join_s": round(t_first - t_sub, 3),
        "one_per_batch": args.one_per_batch,
    }))


# ---- main -------------------------------------------------------------------------------------

def main():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP"),
                        help="host:port (default $KAFKA_BOOTSTRAP)")
    common.add_argument("-X", action="append", default=[], metavar="KEY=VALUE",
                        help="extra librdkafka setting (repeatable)")
    common.add_argument("--verbose", action="store_true", help="keep librdkafka's logging")

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("ping", parents=[common], help="exit 0 when the broker answers metadata")
    s.add_argument("--timeout", type=float, default=5.0)
    s.set_defaults(func=cmd_ping)

    s = sub.add_parser("create-topics", parents=[common], help="create topics (exists = OK)")
    s.add_argument("--partitions", type=int, required=True)
    s.add_argument("--timeout", type=float, default=30.0)
    s.add_argument("topics", nargs="+", metavar="TOPIC")
    s.set_defaults(func=cmd_create_topics)

    s = sub.add_parser("produce", parents=[common],
                       help="produce stdin lines `key<TAB>value` (or `value`); prints the count")
    s.add_argument("--topic", required=True)
    s.add_argument("--one-per-batch", action="store_true",
                   help="linger.ms=0, batch.num.messages=1 (for topics a group will resume)")
    s.add_argument("--header", action="append", default=[], metavar="K=V",
                   help="a header on every record; K=@FILE reads the value from FILE")
    s.add_argument("--partition", type=int, default=None)
    s.add_argument("--timeout", type=float, default=60.0, help="flush timeout, seconds")
    s.set_defaults(func=cmd_produce)

    s = sub.add_parser("consume", parents=[common],
                       help="print N messages as JSON lines; exit 1 on timeout")
    s.add_argument("--topic", required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--group", default=None,
                   help="consume in this group and commit; without it, assign all partitions")
    s.add_argument("--timeout", type=float, default=30.0)
    s.add_argument("--from-beginning", action="store_true",
                   help="start at the earliest offset (when the group has no committed offset)")
    s.set_defaults(func=cmd_consume)

    s = sub.add_parser("committed", parents=[common],
                       help="print the group's committed offset per partition as JSON")
    s.add_argument("--topic", required=True)
    s.add_argument("--group", required=True)
    s.add_argument("--timeout", type=float, default=10.0)
    s.set_defaults(func=cmd_committed)

    s = sub.add_parser("commit", parents=[common],
                       help="commit offsets for a group without joining it")
    s.add_argument("--topic", required=True)
    s.add_argument("--group", required=True)
    s.add_argument("--create", type=int, default=0, metavar="PARTITIONS",
                   help="create the topic with this many partitions first")
    s.add_argument("offsets", nargs="+", metavar="PARTITION:OFFSET")
    s.set_defaults(func=cmd_commit)

    s = sub.add_parser("rate", parents=[common], help="bare broker produce/consume throughput")
    s.add_argument("--topic", required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--size", type=int, required=True, help="value size in bytes")
    s.add_argument("--partitions", type=int, default=3, help="if the topic must be created")
    s.add_argument("--one-per-batch", action="store_true",
                   help="produce with linger.ms=0, batch.num.messages=1")
    s.set_defaults(func=cmd_rate)

    args = p.parse_args()
    if not args.bootstrap:
        p.error("--bootstrap not given and KAFKA_BOOTSTRAP not set")
    args.func(args)


if __name__ == "__main__":
    main()
