//! The client against a 3-broker kmock cluster on in-memory networks (one per broker, routed by
//! the advertised port), in paused virtual time: the producer follows NOT_LEADER_OR_FOLLOWER to
//! the new leader, the consumer group follows NOT_COORDINATOR to the new coordinator, and the
//! fetcher regroups its partitions when leaders move, across a broker down and up and a
//! coordinator move; a stop right after a coordinator move leaves at the new coordinator.

mod common;

use std::collections::BTreeSet;
use std::io;
use std::time::Duration;

use kmock_broker::BrokerConfig;
use kmock_broker::server::{Broker, BrokerHandle, MemoryNetwork};
use kmock_client::{Cluster, Consumer, FnConnector, Producer};

use common::env_test_settings;

const TOPIC: &str = "orders";
const PARTITIONS: i32 = 6;
/// Advertised ports of the three brokers (BrokerConfig's default port and the next two).
const FIRST_PORT: u16 = 9092;

/// Three brokers sharing one core, broker `i` on `networks[i]`.
fn three_brokers() -> (BrokerHandle, Vec<MemoryNetwork>) {
    let broker = Broker::start(BrokerConfig {
        brokers: 3,
        default_replication_factor: 3,
        default_partitions: PARTITIONS,
        group_initial_rebalance_delay_ms: 0,
        ..BrokerConfig::default()
    })
    .expect("valid config");
    let networks = (0..3)
        .map(|node| {
            let (network, listener) = MemoryNetwork::new();
            let serving = broker.clone();
            tokio::spawn(async move { serving.serve_memory_on(listener, node).await });
            network
        })
        .collect();
    (broker, networks)
}

async fn cluster(networks: &[MemoryNetwork], group: &str) -> Cluster {
    let networks = networks.to_vec();
    Cluster::connect(
        env_test_settings(group),
        FnConnector::new(move |_host: &str, port: u16| {
            let index = usize::from(port.saturating_sub(FIRST_PORT));
            networks.get(index).map_or_else(
                || {
                    Err(io::Error::new(
                        io::ErrorKind::ConnectionRefused,
                        "no broker",
                    ))
                },
                MemoryNetwork::connect,
            )
        }),
    )
    .await
    .expect("the cluster accepts the client")
}

async fn publish(producer: &Producer, batch: u32) -> BTreeSet<String> {
    let mut sent = BTreeSet::new();
    for i in 0..30u32 {
        let value = format!("b{batch}-{i}");
        let partition = i32::try_from(i).unwrap() % PARTITIONS;
        producer
            .publish_to(TOPIC, Some(partition), None, Some(value.as_bytes()), &[])
            .await
            .unwrap_or_else(|e| panic!("publish {value}: {e}"));
        sent.insert(value);
    }
    sent
}

async fn consume_all(
    consumer: &mut Consumer,
    wanted: &BTreeSet<String>,
    seen: &mut BTreeSet<String>,
) {
    tokio::time::timeout(Duration::from_secs(120), async {
        while !wanted.is_subset(seen) {
            let record = consumer.recv().await.expect("the consumer keeps running");
            seen.insert(String::from_utf8(record.value.unwrap().to_vec()).unwrap());
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} records not consumed", wanted.difference(seen).count()));
}

#[tokio::test(start_paused = true)]
async fn producer_and_group_follow_a_broker_down_up_and_a_coordinator_move() {
    let (broker, networks) = three_brokers();
    let cluster = cluster(&networks, "followers").await;
    let producer = Producer::new(cluster.clone());
    let mut consumer = Consumer::start(cluster.clone(), &[TOPIC]);
    let mut seen = BTreeSet::new();

    let first = publish(&producer, 1).await;
    consume_all(&mut consumer, &first, &mut seen).await;

    let coordinator = broker
        .inspect(|core| core.group_coordinator("followers"))
        .await
        .unwrap();
    broker
        .update(move |core| core.broker_down(coordinator))
        .await
        .unwrap()
        .expect("the coordinator's broker goes down");
    let moved = broker
        .inspect(|core| core.group_coordinator("followers"))
        .await
        .unwrap();
    assert_ne!(moved, coordinator, "the coordinator moved");
    let second = publish(&producer, 2).await;
    consume_all(&mut consumer, &second, &mut seen).await;

    broker
        .update(move |core| core.broker_up(coordinator))
        .await
        .unwrap()
        .unwrap();
    broker
        .update(move |core| core.move_group_coordinator("followers", coordinator))
        .await
        .unwrap()
        .unwrap();
    broker
        .update(move |core| core.move_leader(TOPIC, 0, coordinator))
        .await
        .unwrap()
        .expect("the broker back up is in the ISR again");
    let third = publish(&producer, 3).await;
    consume_all(&mut consumer, &third, &mut seen).await;

    // The member rejoins at the moved coordinator (a rebalance, as Kafka's classic protocol
    // has for a rejoining leader): commits meanwhile get RebalanceInProgress, as in Java, or
    // NOT_COORDINATOR before the member noticed the move (the client hands both to the caller).
    let start = tokio::time::Instant::now();
    loop {
        match consumer.commit().await {
            Ok(()) => break,
            Err(
                kmock_client::ClientError::RebalanceInProgress
                | kmock_client::ClientError::Broker { code: 16, .. },
            ) if start.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("commit: {error} after {:?}", start.elapsed()),
        }
    }
    // Positions consumed in the new generation are committed there.
    let fourth = publish(&producer, 4).await;
    consume_all(&mut consumer, &fourth, &mut seen).await;
    consumer
        .commit()
        .await
        .expect("commit at the moved coordinator");
    let committed: i64 = broker
        .inspect(|core| {
            (0..PARTITIONS)
                .filter_map(|p| core.groups().committed_offset("followers", TOPIC, p))
                .sum()
        })
        .await
        .unwrap();
    assert_eq!(
        committed, 120,
        "every partition committed at its end (20 records each)"
    );

    // A leader moving without a rebalance: the fetcher regroups its partitions.
    let (leader, follower) = broker
        .inspect(|core| {
            let leadership = core.logs().leadership(TOPIC, 1).expect("partition 1");
            let follower = leadership
                .isr
                .iter()
                .copied()
                .find(|n| *n != leadership.leader);
            (leadership.leader, follower.expect("an in-sync follower"))
        })
        .await
        .unwrap();
    broker
        .update(move |core| core.move_leader(TOPIC, 1, follower))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("move partition 1 from {leader} to {follower}: {e}"));
    let fifth = publish(&producer, 5).await;
    consume_all(&mut consumer, &fifth, &mut seen).await;
    consumer.stop().await.expect("a clean stop");
    cluster.close().await;
}

/// The coordinator moves just before `stop()`: the member's LeaveGroup goes to the old
/// coordinator (its cached connection) and is answered NOT_COORDINATOR; the stop looks the
/// coordinator up again and leaves there, by the same deadline, so the member is gone at once
/// rather than lingering until its session expires (found by sims/coordinator-moves-on-stop.toml).
#[tokio::test(start_paused = true)]
async fn a_stop_after_a_coordinator_move_leaves_at_the_new_coordinator() {
    let (broker, networks) = three_brokers();
    let cluster = cluster(&networks, "movers").await;
    let producer = Producer::new(cluster.clone());
    let mut consumer = Consumer::start(cluster.clone(), &[TOPIC]);
    let mut seen = BTreeSet::new();
    let first = publish(&producer, 1).await;
    consume_all(&mut consumer, &first, &mut seen).await;

    let old = broker
        .inspect(|core| core.group_coordinator("movers"))
        .await
        .unwrap();
    let new = (old + 1) % 3;
    broker
        .update(move |core| core.move_group_coordinator("movers", new))
        .await
        .unwrap()
        .expect("the coordinator moves to an in-sync replica");
    let start = tokio::time::Instant::now();
    // The final commit may meet the move first (NOT_COORDINATOR is then the stop's error); the
    // LeaveGroup must still reach the new coordinator.
    let _ = consumer.stop().await;
    let took = start.elapsed();
    assert!(took <= Duration::from_secs(5), "stop took {took:?}");
    let members = broker
        .inspect(|core| core.groups().group("movers").map(|g| g.members.len()))
        .await
        .unwrap();
    assert_eq!(members, Some(0), "the member left at the new coordinator");
    cluster.close().await;
}
