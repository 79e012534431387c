//! Against the kmock broker over real TCP sockets (real time: never mix paused time and sockets).

mod common;

use common::*;
use kmock_broker::MockBroker;
use kmock_client::Producer;

#[tokio::test]
async fn thousand_keyed_records_over_tcp_with_a_pool_of_three() {
    let (broker, bootstrap) = tcp_broker().await;
    let cluster = tcp_cluster(&bootstrap, env_test_settings("tcp-pool")).await;
    produce_and_consume(cluster.clone(), "tcp-events", 1000, 3).await;
    cluster.close().await;
    broker.shutdown().await;
}

/// A producer outlives the runtime it first published on (one kept in a static and used by one
/// `#[tokio::test]` after another): its partition's sender task died with that runtime, and the
/// next runtime's publish starts a new one instead of queueing behind the dead one.
#[test]
fn a_producer_publishes_again_after_its_first_runtime_is_gone() {
    let broker = MockBroker::builder()
        .config(broker_config())
        .start_blocking()
        .expect("valid broker config");
    let bootstrap = broker.bootstrap_servers();
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    };
    let first = runtime();
    let (cluster, producer) = first.block_on(async {
        let cluster = tcp_cluster(&bootstrap, env_test_settings("two-runtimes")).await;
        let producer = Producer::new(cluster.clone());
        producer
            .publish_to("two-runtimes", Some(0), None, Some(b"first"), &[])
            .await
            .expect("published on the first runtime");
        (cluster, producer)
    });
    drop(first);
    let second = runtime();
    let published = second.block_on(async {
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            producer.publish_to("two-runtimes", Some(0), None, Some(b"second"), &[]),
        )
        .await
    });
    let metadata = published
        .expect("the publish on the second runtime finished within 10 s")
        .expect("published on the second runtime");
    assert_eq!(metadata.offset, 1);
    drop(cluster);
}
