//! A test file of a project outside the kmock workspace: the broker in one line, a producer from
//! kmock-client, a fault, the request log, a reset, and the drop that shuts the broker down.

use std::error::Error;

use kmock_broker::{ApiKey, MockBroker, RequestFilter};
use kmock_client::{Cluster, Producer, Settings, TcpConnector};

#[tokio::test]
async fn publish_with_a_fault_read_the_request_log_and_reset() -> Result<(), Box<dyn Error>> {
    let broker = MockBroker::start().await?;

    let settings = Settings {
        bootstrap_servers: vec![broker.bootstrap_servers()],
        client_id: "example".into(),
        ..Settings::default()
    };
    let cluster = Cluster::connect(settings, TcpConnector).await?;
    let producer = Producer::new(cluster.clone());
    producer
        .publish("orders", Some(b"id-1"), b"created", &[])
        .await?;

    // The next Produce fails once with a retriable error: the producer retries, the test sees it.
    broker
        .add_fault("produce:error=not_leader_or_follower,once")
        .await?;
    let written = producer
        .publish("orders", Some(b"id-1"), b"paid", &[])
        .await?;
    assert_eq!(written.offset, 1);

    let produces = broker
        .requests_matching(
            RequestFilter::new()
                .api(ApiKey::Produce)
                .client_id("example"),
        )
        .await?;
    let faulted: Vec<bool> = produces.iter().map(|entry| entry.fault.is_some()).collect();
    assert_eq!(faulted, [false, true, false]);

    // Between tests: no topics, groups or faults, an empty request log.
    broker.reset().await?;
    assert!(broker.topics().await?.is_empty());
    assert!(broker.requests().await?.is_empty());
    assert!(broker.faults().await?.is_empty());
    cluster.close().await;
    drop(broker);
    Ok(())
}

/// No async test, no runtime of the test's own: the broker runs on its own thread.
#[test]
fn start_blocking_from_a_plain_test() -> Result<(), Box<dyn Error>> {
    let broker = MockBroker::builder()
        .topic("orders", 3)
        .fault("fetch:hold=100ms")
        .start_blocking()?;
    let bootstrap = broker.bootstrap_servers();
    std::net::TcpStream::connect(&bootstrap)?;
    assert_eq!(broker.topics()?[0].high_watermarks, [0, 0, 0]);
    assert_eq!(broker.faults()?[0].rule.to_string(), "fetch:hold=100ms");
    broker.reset()?;
    assert_eq!(broker.topics()?.len(), 1, "the start topic comes back");
    drop(broker);
    assert!(std::net::TcpStream::connect(&bootstrap).is_err());
    Ok(())
}
