//! The bare Kafka → Kafka copy that `benches/service.sh` times busbar's
//! bridge against: librdkafka (the `rdkafka` crate busbar uses) consuming in
//! a group and producing every record to another topic, unchanged (key,
//! value, headers), with no parsing and no matching. The producer has
//! busbar's settings (`linger.ms=5`, `compression.type=lz4`,
//! `enable.idempotence=true`, see `src/targets/kafka.rs`); the consumer reads
//! in a group from the earliest offset with `fetch.wait.max.ms=10` (tansu
//! holds every fetch that long) and busbar's assignment strategy.
//!
//! ```sh
//! cargo build --release --bench kafka_copy
//! target/release/deps/kafka_copy-* --bootstrap 127.0.0.1:19092 \
//!     --input in --output out --group g1 --count 50000   # 0: run until killed
//! ```
//!
//! Prints one JSON line: the count, the seconds from start to the first
//! consumed record (group join), from the first record to the last one
//! delivered, and msgs/s over the latter. Run by `cargo bench` or
//! `cargo test --benches` without `--input`, it prints how to use it and
//! exits 0.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

#[derive(Default)]
struct Counts {
    delivered: AtomicU64,
    failed: AtomicU64,
}

struct Ctx(Arc<Counts>);

impl ClientContext for Ctx {}

impl ProducerContext for Ctx {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        match r {
            Ok(_) => self.0.delivered.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.0.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

fn main() {
    let mut bootstrap = std::env::var("KAFKA_BOOTSTRAP").unwrap_or_default();
    let (mut input, mut output, mut group, mut count) =
        (String::new(), String::new(), String::new(), 0u64);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_default();
        match a.as_str() {
            "--bootstrap" => bootstrap = val(),
            "--input" => input = val(),
            "--output" => output = val(),
            "--group" => group = val(),
            "--count" => count = val().parse().expect("--count N"),
            _ => {} // `--bench` and friends from cargo
        }
    }
    if input.is_empty() || output.is_empty() || bootstrap.is_empty() {
        eprintln!(
            "kafka_copy: nothing to do; usage: kafka_copy --bootstrap HOST:PORT --input T \
             --output T [--group G] [--count N]  (see benches/service.sh)"
        );
        return;
    }
    if group.is_empty() {
        group = format!("kafka-copy-{}", std::process::id());
    }

    let counts = Arc::new(Counts::default());
    let producer: ThreadedProducer<Ctx> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        .set("enable.idempotence", "true")
        .create_with_context(Ctx(counts.clone()))
        .expect("producer");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", &group)
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "10")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("enable.auto.commit", "true")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&input]).expect("subscribe");

    let start = Instant::now();
    let mut first: Option<Instant> = None;
    let mut consumed = 0u64;
    while count == 0 || consumed < count {
        let m = match consumer.poll(Duration::from_millis(100)) {
            None => continue,
            Some(Err(e)) => {
                eprintln!("kafka_copy: consume: {e}");
                continue;
            }
            Some(Ok(m)) => m,
        };
        first.get_or_insert_with(Instant::now);
        let headers = m
            .headers()
            .map(|h| h.detach())
            .unwrap_or_else(OwnedHeaders::new);
        let mut rec = BaseRecord::<[u8], [u8]>::to(&output).headers(headers);
        if let Some(k) = m.key() {
            rec = rec.key(k);
        }
        if let Some(p) = m.payload() {
            rec = rec.payload(p);
        }
        let mut rec = rec;
        loop {
            match producer.send(rec) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    rec = r;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => panic!("produce: {e}"),
            }
        }
        consumed += 1;
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    let end = Instant::now();
    let first = first.unwrap_or(end);
    let copy_s = (end - first).as_secs_f64();
    println!(
        "{{\"count\":{},\"delivered\":{},\"failed\":{},\"join_s\":{:.3},\"copy_s\":{:.3},\"msgs_per_s\":{:.0}}}",
        consumed,
        counts.delivered.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed),
        (first - start).as_secs_f64(),
        copy_s,
        consumed as f64 / copy_s.max(1e-9)
    );
}
