//! The client's KIP-848 member (`KAFKA_GROUP_PROTOCOL=consumer`) against the kmock broker on the
//! in-memory network, in paused virtual time: the broker's assignment split and moved, records
//! exactly once with commits on revocation, and stop() bounded by request_timeout when the leave
//! heartbeat is answered late.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use kmock_broker::server::{Broker, BrokerHandle, MemoryNetwork};
use kmock_broker::{BrokerConfig, FaultRule};
use kmock_client::{
    ClientError, Cluster, ClusterOptions, Consumer, GroupProtocol, MemberState, Producer, Settings,
};
use kmock_wire::kafka_protocol::messages::RequestKind;
use tokio::time::Instant;

use common::*;

const TOPIC: &str = "kip848";

/// A broker whose KIP-848 groups have a 6 s session and a 500 ms heartbeat interval.
fn kip848_broker() -> (BrokerHandle, MemoryNetwork) {
    let broker = Broker::start(BrokerConfig {
        group_consumer_session_timeout_ms: 6_000,
        group_consumer_min_session_timeout_ms: 6_000,
        group_consumer_heartbeat_interval_ms: 500,
        group_consumer_min_heartbeat_interval_ms: 100,
        default_partitions: 4,
        ..broker_config()
    })
    .expect("valid broker config");
    let (network, listener) = MemoryNetwork::new();
    let serving = broker.clone();
    tokio::spawn(async move { serving.serve_memory(listener).await });
    (broker, network)
}

fn settings(group: &str) -> Settings {
    Settings {
        group_protocol: GroupProtocol::Consumer,
        ..env_test_settings(group)
    }
}

async fn cluster(network: &MemoryNetwork, group: &str, seed: u64) -> Cluster {
    memory_cluster_with(
        network,
        settings(group),
        ClusterOptions::default().with_member_id_seed(seed),
    )
    .await
}

/// Waits until the consumer owns `count` partitions.
async fn wait_partitions(consumer: &Consumer, count: usize) -> Vec<i32> {
    let mut watch = consumer.watch_state();
    let state = tokio::time::timeout(
        Duration::from_secs(30),
        watch.wait_for(|s| match s {
            MemberState::Stable { assignment, .. } => {
                assignment.values().map(Vec::len).sum::<usize>() == count
            }
            _ => false,
        }),
    )
    .await
    .expect("in time")
    .expect("the member runs")
    .clone();
    match state {
        MemberState::Stable { assignment, .. } => {
            assignment.get(TOPIC).cloned().unwrap_or_default()
        }
        _ => unreachable!(),
    }
}

async fn produce(cluster: &Cluster, from: usize, count: usize) {
    let producer = Producer::new(cluster.clone());
    for i in from..from + count {
        let (key, value) = (format!("key-{i}"), format!("v{i}"));
        producer
            .publish(TOPIC, Some(key.as_bytes()), value.as_bytes(), &[])
            .await
            .expect("produced");
    }
}

async fn receive(consumer: &mut Consumer, count: usize, seen: &mut Vec<String>) {
    for _ in 0..count {
        let record = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .expect("a record in time")
            .expect("the consumer runs");
        seen.push(String::from_utf8_lossy(record.value.as_deref().unwrap_or_default()).into());
    }
}

#[tokio::test(start_paused = true)]
async fn two_members_split_four_partitions_and_the_survivor_takes_all_with_commits() {
    let (broker, network) = kip848_broker();
    let (c1, c2) = (
        cluster(&network, "split", 1).await,
        cluster(&network, "split", 2).await,
    );
    c1.create_topic(TOPIC, 4).await.expect("topic");
    let mut first = Consumer::start(c1.clone(), &[TOPIC]);
    let mut second = Consumer::start(c2.clone(), &[TOPIC]);
    let a = wait_partitions(&first, 2).await;
    let b = wait_partitions(&second, 2).await;
    let all: BTreeSet<i32> = a.iter().chain(&b).copied().collect();
    assert_eq!(all, BTreeSet::from([0, 1, 2, 3]), "{a:?} + {b:?}");
    let group = broker
        .inspect(|core| core.groups().consumer_group("split"))
        .await
        .unwrap()
        .expect("a consumer group");
    assert_eq!(group.members.len(), 2);
    // Records land on all four partitions; each member reads its own.
    produce(&c1, 0, 40).await;
    let mut seen = Vec::new();
    let mut from_each = [0usize; 2];
    while seen.len() < 40 {
        let (index, record) = tokio::select! {
            biased;
            Some(record) = first.recv() => (0, record),
            Some(record) = second.recv() => (1, record),
            () = tokio::time::sleep(Duration::from_secs(30)) => panic!("records missing: {seen:?}"),
        };
        from_each[index] += 1;
        seen.push(String::from_utf8_lossy(record.value.as_deref().unwrap_or_default()).into());
    }
    assert!(
        from_each[0] > 0 && from_each[1] > 0,
        "both members read: {from_each:?}"
    );
    first.stop().await.expect("a clean stop");
    assert_eq!(wait_partitions(&second, 4).await, [0, 1, 2, 3]);
    produce(&c1, 40, 20).await;
    receive(&mut second, 20, &mut seen).await;
    let distinct: BTreeSet<&String> = seen.iter().collect();
    assert_eq!((seen.len(), distinct.len()), (60, 60), "exactly once");
    second.stop().await.expect("a clean stop");
    let committed: i64 = broker
        .inspect(|core| {
            (0..4)
                .map(|p| {
                    core.groups()
                        .committed_offset("split", TOPIC, p)
                        .unwrap_or(0)
                })
                .sum()
        })
        .await
        .unwrap();
    assert_eq!(committed, 60, "every consumed record committed");
    c1.close().await;
    c2.close().await;
}

#[tokio::test(start_paused = true)]
async fn stop_with_the_leave_heartbeat_delayed_60s_takes_request_timeout_and_the_member_is_gone() {
    let (broker, network) = kip848_broker();
    let c1 = cluster(&network, "slow-leave", 1).await;
    c1.create_topic(TOPIC, 4).await.expect("topic");
    let consumer = Consumer::start(c1.clone(), &[TOPIC]);
    wait_partitions(&consumer, 4).await;
    broker
        .add_fault(
            "consumer_group_heartbeat,epoch=-1:delay=60s"
                .parse::<FaultRule>()
                .expect("valid fault spec"),
        )
        .await
        .unwrap();
    let started = Instant::now();
    let result = consumer.stop().await;
    let elapsed = started.elapsed();
    // .env.test: request_timeout 5 s.
    assert!(
        elapsed >= Duration::from_millis(4_990) && elapsed <= Duration::from_millis(5_010),
        "stop took {elapsed:?}"
    );
    assert!(
        matches!(result, Err(ClientError::RequestTimeout { .. })),
        "{result:?}"
    );
    let members = broker
        .inspect(|core| {
            core.groups()
                .consumer_group("slow-leave")
                .map(|g| g.members.len())
        })
        .await
        .unwrap();
    assert_eq!(members, Some(0), "the leave took effect when it arrived");
    c1.close().await;
}

#[tokio::test(start_paused = true)]
async fn a_member_the_broker_forgot_rejoins_with_epoch_zero() {
    let (broker, network) = kip848_broker();
    let c1 = cluster(&network, "forgotten", 1).await;
    c1.create_topic(TOPIC, 4).await.expect("topic");
    let consumer = Consumer::start(c1.clone(), &[TOPIC]);
    wait_partitions(&consumer, 4).await;
    broker
        .add_fault(
            "consumer_group_heartbeat:error=unknown_member_id,once"
                .parse::<FaultRule>()
                .expect("valid fault spec"),
        )
        .await
        .unwrap();
    // The next heartbeat is refused; the member loses its partitions and joins again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(wait_partitions(&consumer, 4).await, [0, 1, 2, 3]);
    let joins = broker
        .inspect(|core| {
            core.request_log()
                .entries()
                .filter(|e| {
                    matches!(
                        &e.request,
                        Some(RequestKind::ConsumerGroupHeartbeat(r)) if r.member_epoch == 0
                    )
                })
                .count()
        })
        .await
        .unwrap();
    assert_eq!(joins, 2, "joined, then rejoined with epoch 0");
    consumer.stop().await.expect("a clean stop");
    c1.close().await;
}

#[tokio::test(start_paused = true)]
async fn a_broker_without_kip848_makes_the_member_fail() {
    let (broker, network) = memory_broker();
    // The group id is taken by a classic group with a member: GROUP_ID_NOT_FOUND is fatal.
    let classic = memory_cluster(&network, env_test_settings("taken")).await;
    let mut classic_member = Consumer::start(classic.clone(), &["t"]);
    classic_member.wait_stable().await.expect("joins");
    let c1 = memory_cluster_with(&network, settings("taken"), ClusterOptions::default()).await;
    let mut member = Consumer::start(c1.clone(), &["t"]);
    let error = member.wait_stable().await.expect_err("cannot join");
    assert_eq!(error.code(), Some(69), "{error}");
    let _ = broker;
    member.stop().await.expect("stops");
    classic_member.stop().await.expect("stops");
}
