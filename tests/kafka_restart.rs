//! `busbar run` Kafka → Kafka while the broker restarts empty: same
//! address, every topic, record, committed offset and producer id gone
//! (tansu's `memory://` storage after a restart). Before busbar handled
//! it, the consumer kept its old position (records produced after the
//! restart were never consumed) and the idempotent producer was stuck on
//! `UNKNOWN_PRODUCER_ID` with `/readyz` 200.
//!
//! Two orders of events, each a test: the topics are created again before
//! busbar's member rejoins the group the broker forgot (it starts afresh at
//! `start`, and must not commit its old positions into the new log); or
//! only after the group formed again without partitions for it (busbar
//! joins again once they exist), with the group's old positions committed
//! meanwhile, past the new logs' ends, as a broker that kept its group
//! offsets but lost its records would have them (busbar resets them).
//!
//! A third test covers a broker that answers `OFFSET_OUT_OF_RANGE`, as
//! Kafka does and tansu does not, with librdkafka's mock cluster.
//!
//! The tansu tests run their own tansu (binary: `BUSBAR_TEST_TANSU`, else
//! `~/.cargo/bin/tansu`, which `.ci/run` installs), never the shared one.
//! Broker settings as in tests/kafka_bridge.rs: one record per batch into
//! the input topic, `fetch.wait.max.ms: 10` for busbar's consumer; and
//! statistics every 500 ms, so a position past the new log end is seen
//! within a second (busbar's default is 5 s); metadata every second, so a
//! topic created again is seen at once (librdkafka's default is 5 min).
//! For the second order the test waits until the member noticed that the
//! broker forgot it (heartbeats every 500 ms) before it creates the topics;
//! for the first it creates them at once.

mod support;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::kafka::{commit, committed, create, positions, produce, read, OwnBroker};

const KEYS: usize = 5;

/// `key<TAB>envelope` lines with ids `ev-{i}` and keys `k{i % KEYS}`: each
/// key has many ids, whose order the output must keep.
fn keyed_events(range: std::ops::Range<usize>) -> String {
    let mut s = String::new();
    for i in range {
        s.push_str(&format!(
            "k{}\t{{\"version\":\"0\",\"id\":\"ev-{i}\",\"detail-type\":\"T\",\"source\":\"restart\",\"account\":\"111122223333\",\"time\":\"2026-11-23T10:00:00Z\",\"region\":\"eu-west-1\",\"resources\":[],\"detail\":{{\"n\":{i}}}}}\n",
            i % KEYS
        ));
    }
    s
}

/// The id number and key of an output record.
fn id_and_key(m: &Value) -> (usize, String) {
    let v: Value = serde_json::from_str(m["value"].as_str().unwrap()).unwrap();
    let id = v["id"].as_str().unwrap()[3..].parse().unwrap();
    (id, m["key"].as_str().unwrap_or("").to_string())
}

fn metric_sum(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn wait_until(what: &str, within: Duration, b: &support::Busbar, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < within,
            "timed out waiting for {what}; busbar stderr:\n{}",
            b.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Read `out` from the beginning until every id of `want` is there, or
/// `within`; returns the records in topic order (one partition).
fn read_until(bootstrap: &str, want: &HashSet<usize>, within: Duration) -> Vec<(usize, String)> {
    let t = Instant::now();
    loop {
        let (_, got, _) = read(bootstrap, "out", want.len() * 3, 5);
        let records: Vec<(usize, String)> = got.iter().map(id_and_key).collect();
        let seen: HashSet<usize> = records.iter().map(|r| r.0).collect();
        if want.is_subset(&seen) || t.elapsed() > within {
            return records;
        }
    }
}

/// How the broker's restart plays out.
#[derive(Clone, Copy, PartialEq)]
enum Order {
    /// Topics created again before busbar's member notices it was forgotten.
    TopicsFirst,
    /// Topics created again only after the group formed again without them.
    GroupFirst,
}

fn restart_loses_nothing(order: Order) {
    need!(
        support::python(),
        "python with confluent-kafka (BUSBAR_TEST_PYTHON)"
    );
    let tansu = need!(
        OwnBroker::binary(),
        "tansu binary (BUSBAR_TEST_TANSU, or ~/.cargo/bin/tansu from .ci/run)"
    );
    let name = match order {
        Order::TopicsFirst => "restart-topics-first",
        Order::GroupFirst => "restart-group-first",
    };
    let dir = support::temp_dir(name);
    let mut broker = OwnBroker::start(&tansu, &dir);
    let bs = broker.bootstrap.clone();
    let topics = || {
        create(&bs, 2, &["in"]);
        create(&bs, 1, &["out"]);
    };
    topics();
    let heartbeat = match order {
        Order::TopicsFirst => r#"session.timeout.ms: "20000", heartbeat.interval.ms: "5000""#,
        Order::GroupFirst => r#"session.timeout.ms: "6000", heartbeat.interval.ms: "500""#,
    };
    let cfg = format!(
        r#"
bus: {{account: "111122223333", region: eu-west-1}}
sources:
  - {{id: in, kind: kafka, topics: [in], group_id: restart, start: earliest}}
rules:
  - name: all
    event_pattern: {{"source": ["restart"]}}
    targets: [{{id: out, kind: kafka, topic: out, key: source}}]
kafka:
  consumer: {{fetch.wait.max.ms: "10", statistics.interval.ms: "500", topic.metadata.refresh.interval.ms: "1000", {heartbeat}}}
  producer_stall_seconds: 5
admin: {{listen: "127.0.0.1:0"}}
shutdown_grace_seconds: 10
"#
    );
    let mut b = support::Busbar::start(
        &dir,
        &cfg,
        support::free_port(),
        &[("BUSBAR_BROKERS", bs.as_str())],
    );
    b.wait_ready(Duration::from_secs(60));

    // Before the restart: 0..300, all delivered.
    let before = 300;
    produce(&bs, "in", &keyed_events(0..before), &[]);
    let deliveries = |b: &support::Busbar| metric_sum(&b.metrics(), "busbar_deliveries_total");
    wait_until(
        "the first events delivered",
        Duration::from_secs(60),
        &b,
        || deliveries(&b) >= before as f64,
    );
    let want: HashSet<usize> = (0..before).collect();
    let out = read_until(&bs, &want, Duration::from_secs(30));
    let seen: HashSet<usize> = out.iter().map(|r| r.0).collect();
    assert!(want.is_subset(&seen), "ids before the restart missing");
    let old_positions = committed(&bs, "restart", "in");

    // The broker comes back empty after a second; the topics are created
    // again and fewer records than before are produced, so the old
    // positions lie past the new logs' ends.
    broker.restart(Duration::from_secs(1));
    if order == Order::GroupFirst {
        // The member learns it was forgotten; librdkafka then either joins
        // again at once, and gets nothing (the topic is missing), or waits
        // for the topic. The input topic comes back with the group's old
        // positions committed, before the member can join for it: busbar is
        // stopped (SIGSTOP) from the topic's creation until the commit has
        // landed. Without that, a member that saw the topic between the two
        // read no committed position, started at `start` and counted no
        // reset (once in seven runs). The pause is far inside the session
        // timeout (6 s).
        wait_until("the member to notice", Duration::from_secs(30), &b, || {
            b.stderr().contains("the group lost its partitions")
        });
        std::thread::sleep(Duration::from_secs(2));
        create(&bs, 1, &["out"]);
        let stale: Vec<(i32, i64)> = old_positions.iter().map(|(p, o)| (*p, *o)).collect();
        b.signal("STOP");
        commit(&bs, "restart", "in", Some(2), &stale);
        b.signal("CONT");
    } else {
        topics();
    }
    let after = before..before + 200;
    produce(&bs, "in", &keyed_events(after.clone()), &[]);
    // Where the new records lie: the end of each new log.
    let mut log_end: HashMap<i32, i64> = HashMap::new();
    for (_, (p, o)) in positions(&bs, "in", after.len(), 30) {
        let end = log_end.entry(p).or_default();
        *end = (*end).max(o + 1);
    }
    if order == Order::GroupFirst {
        for (p, o) in &old_positions {
            assert!(
                *o > log_end[p],
                "old position {o} of [{p}] not past the new end"
            );
        }
    }

    let want: HashSet<usize> = after.clone().collect();
    let out = read_until(&bs, &want, Duration::from_secs(90));
    let seen: HashSet<usize> = out.iter().map(|r| r.0).collect();
    let missing: Vec<usize> = after.clone().filter(|i| !seen.contains(i)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} ids produced after the restart missing, e.g. {:?}; busbar stderr:\n{}",
        missing.len(),
        after.len(),
        &missing[..missing.len().min(10)],
        b.stderr()
    );
    // In order per key (first arrivals: records consumed again after the
    // group was lost come again, later).
    let mut first: HashMap<String, Vec<usize>> = HashMap::new();
    let mut counted = HashSet::new();
    for (id, key) in &out {
        if counted.insert(*id) {
            first.entry(key.clone()).or_default().push(*id);
        }
    }
    assert_eq!(first.len(), KEYS, "{first:?}");
    for (key, ids) in &first {
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "key {key} out of order: {ids:?}"
        );
    }
    let duplicates = out.len() - counted.len();

    // The group's positions are in the new logs, and reach their ends.
    wait_until(
        "the positions committed",
        Duration::from_secs(30),
        &b,
        || committed(&bs, "restart", "in") == log_end,
    );

    // Ready again, and the metrics say what happened.
    b.wait_ready(Duration::from_secs(30));
    let m = b.metrics();
    let resets = metric_sum(&m, "busbar_kafka_offset_resets_total");
    let recreations = metric_sum(&m, "busbar_kafka_producer_recreations_total");
    assert!(recreations >= 1.0, "no producer recreation counted:\n{m}");
    assert_eq!(
        support::sample(&m, "busbar_kafka_producer_recovering"),
        Some(0.0)
    );

    // Each change logged once, not per record.
    let log = b.stderr();
    let count = |needle: &str| log.lines().filter(|l| l.contains(needle)).count();
    let reset_lines = count("no longer has this partition's position");
    match order {
        Order::TopicsFirst => {
            // The member is forgotten before it fetches the new log at its
            // old position, as a rule: the new group starts at `start`.
            // Should it fetch there first, that is reset once per partition.
            assert!(resets <= 2.0, "{m}");
            assert_eq!(reset_lines as f64, resets, "{log}");
        }
        Order::GroupFirst => {
            // Both partitions' committed positions lie past the new ends.
            assert_eq!(
                support::sample(
                    &m,
                    r#"busbar_kafka_offset_resets_total{reason="past_log_end",source="in",topic="in"}"#
                ),
                Some(2.0),
                "{m}"
            );
            assert_eq!(reset_lines, 2, "{log}");
            // Once, if librdkafka joined before the topic existed.
            assert!(count("joining again") <= 1, "{log}");
        }
    }
    assert_eq!(count("fetching paused"), 1, "{log}");
    assert_eq!(count("fetching resumed"), 1, "{log}");
    assert_eq!(count("kafka producer is stuck"), 1, "{log}");
    assert_eq!(count("kafka producer delivers again"), 1, "{log}");
    assert!(
        log.lines().count() < 150,
        "{} log lines:\n{log}",
        log.lines().count()
    );
    eprintln!(
        "{name}: {} records read, {duplicates} duplicates, {resets} offset resets, {recreations} producer recreations",
        out.len()
    );
    assert!(b.stop().success(), "{}", b.stderr());
}

#[test]
fn a_broker_restarted_empty_gets_every_later_event_in_order_per_key() {
    restart_loses_nothing(Order::TopicsFirst);
}

#[test]
fn a_group_formed_again_before_its_topics_picks_them_up() {
    restart_loses_nothing(Order::GroupFirst);
}

/// A Kafka broker answers a fetch at a position it no longer has with
/// `OFFSET_OUT_OF_RANGE` (tansu never does): librdkafka resets to `start`
/// and says so only in a log line, which busbar must catch. librdkafka's
/// own mock cluster (in this process, reachable over loopback) answers like
/// Kafka; the group's committed position is put past the log's end.
#[test]
fn an_offset_out_of_range_follows_start_and_is_counted() {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

    let mock = MockCluster::new(1).expect("mock cluster");
    let bs = mock.bootstrap_servers();
    mock.create_topic("in", 1, 1).unwrap();
    mock.create_topic("out", 1, 1).unwrap();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bs)
        .create()
        .unwrap();
    let lines = keyed_events(0..20);
    for line in lines.lines() {
        let (key, value) = line.split_once('\t').unwrap();
        producer
            .send(BaseRecord::to("in").key(key).payload(value))
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    // The group's position: 1,000, on a log of 20.
    let committer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bs)
        .set("group.id", "oor")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("in", 0, Offset::Offset(1000))
        .unwrap();
    committer.commit(&tpl, CommitMode::Sync).unwrap();
    drop(committer);

    let dir = support::temp_dir("out-of-range");
    let cfg = r#"
bus: {account: "111122223333", region: eu-west-1}
sources:
  - {id: in, kind: kafka, topics: [in], group_id: oor, start: earliest}
rules:
  - name: all
    event_pattern: {"source": ["restart"]}
    targets: [{id: out, kind: kafka, topic: out, key: source}]
kafka:
  consumer: {fetch.wait.max.ms: "10"}
admin: {listen: "127.0.0.1:0"}
shutdown_grace_seconds: 10
"#;
    let mut b = support::Busbar::start(
        &dir,
        cfg,
        support::free_port(),
        &[("BUSBAR_BROKERS", bs.as_str())],
    );
    b.wait_ready(Duration::from_secs(60));
    wait_until("the events delivered", Duration::from_secs(60), &b, || {
        metric_sum(&b.metrics(), "busbar_deliveries_total") >= 20.0
    });

    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bs)
        .set("group.id", "reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("out", 0, Offset::Beginning)
        .unwrap();
    reader.assign(&tpl).unwrap();
    let mut ids = Vec::new();
    let t = Instant::now();
    while ids.len() < 20 && t.elapsed() < Duration::from_secs(30) {
        if let Some(Ok(m)) = reader.poll(Duration::from_millis(200)) {
            let v: Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
            ids.push(v["id"].as_str().unwrap()[3..].parse::<usize>().unwrap());
        }
    }
    assert_eq!(ids, (0..20).collect::<Vec<_>>(), "{}", b.stderr());

    let m = b.metrics();
    assert_eq!(
        support::sample(
            &m,
            r#"busbar_kafka_offset_resets_total{reason="out_of_range",source="in",topic="in"}"#
        ),
        Some(1.0),
        "{m}\n{}",
        b.stderr()
    );
    let log = b.stderr();
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("no longer has this partition's position"))
            .count(),
        1,
        "{log}"
    );
    // The new position is committed, not the old one.
    let checker: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bs)
        .set("group.id", "oor")
        .create()
        .unwrap();
    wait_until(
        "the new position committed",
        Duration::from_secs(30),
        &b,
        || {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition("in", 0);
            checker
                .committed_offsets(tpl, Duration::from_secs(5))
                .is_ok_and(|c| {
                    c.find_partition("in", 0).map(|e| e.offset()) == Some(Offset::Offset(20))
                })
        },
    );
    assert!(b.stop().success(), "{}", b.stderr());
}
