//! librdkafka (through the `rdkafka` crate) against kmock's `MockBroker`, from plain `#[test]`s:
//! the broker runs on its own thread ([`MockBroker::start_blocking`]); the test drives
//! librdkafka's synchronous `BaseProducer` and `BaseConsumer`, adds a fault, reads the request log.

use std::time::{Duration, Instant};

use kmock_broker::{ApiKey, MockBroker, RequestFilter};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

/// Longest a librdkafka call may take here (its own defaults are far longer).
const TIMEOUT: Duration = Duration::from_secs(20);

fn producer(bootstrap: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("client.id", "rdkafka-producer")
        .set("retry.backoff.ms", "10")
        .create()
        .expect("a valid producer configuration")
}

fn consumer(bootstrap: &str, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("client.id", "rdkafka-consumer")
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create()
        .expect("a valid consumer configuration")
}

/// Sends one record and waits for its delivery report.
fn produce(producer: &BaseProducer, topic: &str, key: &str, value: &str) {
    producer
        .send(BaseRecord::to(topic).key(key).payload(value))
        .map_err(|(error, _)| error)
        .expect("the record is queued");
    producer.flush(TIMEOUT).expect("the record is delivered");
}

#[test]
fn a_librdkafka_producer_is_retried_through_a_fault_and_logged() {
    let broker = MockBroker::builder()
        .topic("orders", 1)
        .start_blocking()
        .expect("the broker starts");
    let producer = producer(&broker.bootstrap_servers());
    produce(&producer, "orders", "id-1", "created");

    // One Produce fails with a retriable error; librdkafka retries it, the record lands once.
    broker
        .add_fault("produce:error=not_leader_or_follower,once")
        .expect("a valid fault spec");
    produce(&producer, "orders", "id-1", "paid");

    let produces = broker
        .requests_matching(
            RequestFilter::new()
                .api(ApiKey::Produce)
                .client_id("rdkafka-producer"),
        )
        .expect("the broker runs");
    assert!(
        produces.iter().any(|entry| entry.fault.is_some()),
        "{produces:?}"
    );
    assert_eq!(
        broker.topics().expect("the broker runs")[0].high_watermarks,
        [2]
    );
}

#[test]
fn a_librdkafka_consumer_group_receives_what_was_produced() {
    let broker = MockBroker::start_blocking().expect("the broker starts");
    let bootstrap = broker.bootstrap_servers();
    produce(&producer(&bootstrap), "events", "k", "hello");

    let consumer = consumer(&bootstrap, "rdkafka-group");
    consumer.subscribe(&["events"]).expect("subscribe");
    let deadline = Instant::now() + TIMEOUT;
    let payload = loop {
        assert!(Instant::now() < deadline, "no message within {TIMEOUT:?}");
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.expect("a message, not an error");
            break message.payload().map(<[u8]>::to_vec);
        }
    };
    assert_eq!(payload.as_deref(), Some(&b"hello"[..]));
    let group = broker
        .group("rdkafka-group")
        .expect("the broker runs")
        .expect("the group exists");
    assert_eq!(group.members.len(), 1, "{group:?}");

    // Between tests: the group and the topic are gone; the consumer's connection stays usable.
    broker.reset().expect("the broker runs");
    assert_eq!(broker.groups().expect("the broker runs"), []);
    drop(consumer);
}
