//! Shared fixtures: a kmock broker on the in-memory network (virtual time) or on TCP, and the
//! settings of the repository's `.env.test`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use kmock_broker::server::{Broker, BrokerHandle, MemoryNetwork};
use kmock_broker::{BrokerConfig, MockBroker};
use kmock_client::partitioner::partition_for_key;
use kmock_client::{
    AutoOffsetReset, Cluster, ConsumerPool, FnConnector, MemberState, Producer, Settings,
    TcpConnector,
};

/// Partitions of auto-created topics in these tests.
pub const PARTITIONS: i32 = 6;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The repository's `.env.test`, with a group id and `earliest` reset for tests.
pub fn env_test_settings(group_id: &str) -> Settings {
    let settings =
        Settings::from_env_file(repo_root().join(".env.test")).expect(".env.test is valid");
    Settings {
        group_id: group_id.to_owned(),
        auto_offset_reset: AutoOffsetReset::Earliest,
        ..settings
    }
}

pub fn broker_config() -> BrokerConfig {
    BrokerConfig {
        group_initial_rebalance_delay_ms: 0,
        default_partitions: PARTITIONS,
        ..BrokerConfig::default()
    }
}

/// A broker serving the in-memory network (for paused-time tests).
pub fn memory_broker() -> (BrokerHandle, MemoryNetwork) {
    let broker = Broker::start(broker_config()).expect("valid broker config");
    let (network, listener) = MemoryNetwork::new();
    let serving = broker.clone();
    tokio::spawn(async move { serving.serve_memory(listener).await });
    (broker, network)
}

/// The shared cluster handle over the in-memory network.
pub async fn memory_cluster(network: &MemoryNetwork, settings: Settings) -> Cluster {
    let network = network.clone();
    Cluster::connect(
        settings,
        FnConnector::new(move |_host: &str, _port: u16| network.connect()),
    )
    .await
    .expect("the in-memory broker accepts the client")
}

/// [`memory_cluster`] with options (e.g. capped API versions).
pub async fn memory_cluster_with(
    network: &MemoryNetwork,
    settings: Settings,
    options: kmock_client::ClusterOptions,
) -> Cluster {
    let network = network.clone();
    Cluster::connect_with(
        settings,
        FnConnector::new(move |_host: &str, _port: u16| network.connect()),
        options,
    )
    .await
    .expect("the in-memory broker accepts the client")
}

/// A broker on 127.0.0.1 with an ephemeral port; returns it and `host:port`.
pub async fn tcp_broker() -> (MockBroker, String) {
    let broker = MockBroker::builder()
        .config(broker_config())
        .start()
        .await
        .expect("valid broker config");
    let bootstrap = broker.bootstrap_servers();
    (broker, bootstrap)
}

pub async fn tcp_cluster(bootstrap: &str, settings: Settings) -> Cluster {
    let settings = Settings {
        bootstrap_servers: vec![bootstrap.to_owned()],
        ..settings
    };
    Cluster::connect(settings, TcpConnector)
        .await
        .expect("the broker accepts the client")
}

/// Done-means 1: produce `count` keyed records, consume them with a pool of `pool_size` members
/// in a stable group; every record exactly once, on its murmur2 partition.
pub async fn produce_and_consume(cluster: Cluster, topic: &str, count: usize, pool_size: usize) {
    let partitions = cluster.topic(topic).await.expect("topic").partition_count();
    assert!(partitions > 0);
    let pool = ConsumerPool::start_with_size(cluster.clone(), &[topic], pool_size);
    let generation = tokio::time::timeout(Duration::from_secs(60), pool.wait_stable())
        .await
        .expect("the pool becomes stable")
        .expect("members join");
    // Every member in that generation, and the partitions shared out among them, each once.
    let mut owned: Vec<i32> = Vec::new();
    for member in pool.members() {
        let MemberState::Stable {
            generation: member_generation,
            assignment,
            ..
        } = member.state()
        else {
            panic!("a member is not stable: {:?}", member.state());
        };
        assert_eq!(member_generation, generation, "one generation for all");
        owned.extend(assignment.get(topic).into_iter().flatten());
    }
    owned.sort_unstable();
    assert_eq!(
        owned,
        (0..partitions).collect::<Vec<_>>(),
        "every partition assigned to exactly one member of generation {generation}"
    );

    // The test fixture shape: a producer from the shared handle, no cleanup of its own.
    let producer = Producer::new(cluster.clone());
    let mut publishes = tokio::task::JoinSet::new();
    for i in 0..count {
        let producer = producer.clone();
        let topic = topic.to_owned();
        publishes.spawn(async move {
            let key = format!("key-{i}");
            let value = format!("value-{i}");
            let written = producer
                .publish(
                    &topic,
                    Some(key.as_bytes()),
                    value.as_bytes(),
                    &[("index", i.to_string().as_bytes())],
                )
                .await
                .expect("publish");
            (key, written)
        });
    }
    let mut written_at = BTreeMap::new();
    while let Some(joined) = publishes.join_next().await {
        let (key, written) = joined.unwrap();
        assert_eq!(
            written.partition,
            partition_for_key(key.as_bytes(), partitions),
            "{key} is on its murmur2 partition"
        );
        assert!(written.offset >= 0);
        assert!(
            written_at
                .insert((written.partition, written.offset), key)
                .is_none()
        );
    }
    assert_eq!(written_at.len(), count);

    let mut pool = pool;
    let mut seen: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    while seen.len() < count {
        let record = tokio::time::timeout(Duration::from_secs(30), pool.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {count} records consumed", seen.len()))
            .expect("the pool is running");
        let key = String::from_utf8(record.key.clone().unwrap().to_vec()).unwrap();
        assert_eq!(
            record.partition,
            partition_for_key(key.as_bytes(), partitions)
        );
        assert_eq!(
            written_at.get(&(record.partition, record.offset)),
            Some(&key)
        );
        let index = key.trim_start_matches("key-");
        assert_eq!(
            record.value.as_deref(),
            Some(format!("value-{index}").as_bytes())
        );
        assert_eq!(
            record.headers,
            vec![("index".to_owned(), Some(index.as_bytes().to_vec().into()))]
        );
        *seen.entry((record.partition, record.offset)).or_default() += 1;
    }
    // A stable group delivers nothing twice: nothing more arrives.
    assert!(
        tokio::time::timeout(Duration::from_secs(2), pool.recv())
            .await
            .is_err(),
        "a record was delivered twice"
    );
    assert!(seen.values().all(|n| *n == 1));
    pool.commit().await.expect("commit");
    pool.stop().await.expect("clean stop");
}
