//! The transactional producer and read_committed consumers against the kmock broker on the
//! in-memory network, in paused virtual time: commit and abort seen through isolation levels, a
//! consume-transform-produce step whose offsets move only on commit, fencing, and retries through
//! faults (a lost EndTxn answer, dropped Produce answers, CONCURRENT_TRANSACTIONS).

mod common;

use std::sync::Arc;
use std::time::Duration;

use kmock_broker::FaultRule;
use kmock_broker::server::BrokerHandle;
use kmock_client::settings::IsolationLevel;
use kmock_client::{
    ClientError, Cluster, Consumer, GroupMember, MemberState, Settings, TransactionalProducer,
};
use kmock_wire::error_code;

use common::*;

const TIMEOUT: Duration = Duration::from_secs(60);

fn clock() -> kmock_client::producer::WallClock {
    Arc::new(|| 1_700_000_000_000)
}

async fn producer(cluster: &Cluster, transactional_id: &str) -> TransactionalProducer {
    TransactionalProducer::init(cluster.clone(), transactional_id, TIMEOUT, clock())
        .await
        .expect("init_transactions")
}

/// Values a fresh consumer of `topic` in a new group reads with `isolation_level` within 3 s of
/// virtual time.
async fn read(cluster: &Cluster, topic: &str, isolation_level: IsolationLevel) -> Vec<String> {
    let settings = Settings {
        group_id: format!("reader-{topic}-{isolation_level:?}"),
        isolation_level,
        enable_auto_commit: false,
        ..cluster.settings().clone()
    };
    let network = NETWORK.with(|n| n.borrow().clone()).expect("a network");
    let reader_cluster = memory_cluster(&network, settings).await;
    let mut consumer = Consumer::start(reader_cluster.clone(), &[topic]);
    consumer.wait_stable().await.expect("joins");
    let mut values = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Ok(Some(record)) = tokio::time::timeout_at(deadline, consumer.recv()).await {
        values.push(String::from_utf8(record.value.unwrap().to_vec()).unwrap());
    }
    consumer.stop().await.expect("stops");
    reader_cluster.close().await;
    values
}

thread_local! {
    static NETWORK: std::cell::RefCell<Option<kmock_broker::server::MemoryNetwork>> =
        const { std::cell::RefCell::new(None) };
}

/// A broker on the in-memory network and a cluster handle with `.env.test` settings.
async fn setup(name: &str) -> (BrokerHandle, Cluster) {
    let (broker, network) = memory_broker();
    NETWORK.with(|n| *n.borrow_mut() = Some(network.clone()));
    let cluster = memory_cluster(&network, env_test_settings(name)).await;
    (broker, cluster)
}

#[tokio::test(start_paused = true)]
async fn committed_records_are_read_committed_and_aborted_ones_only_read_uncommitted() {
    let (_broker, cluster) = setup("txn-isolation").await;
    cluster.create_topic("orders", 1).await.unwrap();
    let mut producer = producer(&cluster, "orders-tx").await;
    producer.begin().unwrap();
    producer
        .send("orders", Some(0), None, b"kept-1")
        .await
        .unwrap();
    producer.commit().await.unwrap();
    producer.begin().unwrap();
    producer
        .send("orders", Some(0), None, b"dropped")
        .await
        .unwrap();
    producer.abort().await.unwrap();
    producer.begin().unwrap();
    producer
        .send("orders", Some(0), None, b"kept-2")
        .await
        .unwrap();
    producer.commit().await.unwrap();
    assert_eq!(
        read(&cluster, "orders", IsolationLevel::ReadCommitted).await,
        vec!["kept-1", "kept-2"]
    );
    assert_eq!(
        read(&cluster, "orders", IsolationLevel::ReadUncommitted).await,
        vec!["kept-1", "dropped", "kept-2"]
    );
    cluster.close().await;
}

#[tokio::test(start_paused = true)]
async fn send_offsets_moves_the_group_offset_only_when_the_transaction_commits() {
    let (broker, cluster) = setup("txn-offsets").await;
    cluster.create_topic("in", 1).await.unwrap();
    let mut consumer = Consumer::start(cluster.clone(), &["in"]);
    consumer.wait_stable().await.unwrap();
    let MemberState::Stable {
        generation,
        member_id,
        ..
    } = consumer.state()
    else {
        panic!("stable")
    };
    let member = GroupMember {
        member_id,
        generation_id: generation,
    };
    let group = cluster.settings().group_id.clone();
    let committed = |broker: BrokerHandle, group: String| async move {
        broker
            .inspect(move |core| core.groups().committed_offset(&group, "in", 0))
            .await
            .unwrap()
    };
    let mut producer = producer(&cluster, "pipeline").await;
    producer.begin().unwrap();
    producer
        .send_offsets(&group, &[("in".into(), 0, 5)], &member)
        .await
        .unwrap();
    assert_eq!(committed(broker.clone(), group.clone()).await, None, "open");
    producer.abort().await.unwrap();
    assert_eq!(
        committed(broker.clone(), group.clone()).await,
        None,
        "aborted"
    );
    producer.begin().unwrap();
    producer
        .send_offsets(&group, &[("in".into(), 0, 7)], &member)
        .await
        .unwrap();
    producer.commit().await.unwrap();
    assert_eq!(committed(broker.clone(), group.clone()).await, Some(7));
    consumer.stop().await.unwrap();
    cluster.close().await;
}

#[tokio::test(start_paused = true)]
async fn a_second_instance_fences_the_first_and_its_open_transaction_aborts() {
    let (_broker, cluster) = setup("txn-fencing").await;
    cluster.create_topic("fenced", 1).await.unwrap();
    let mut first = producer(&cluster, "shared-id").await;
    first.begin().unwrap();
    first
        .send("fenced", Some(0), None, b"zombie")
        .await
        .unwrap();
    let mut second = producer(&cluster, "shared-id").await;
    assert!(second.producer().1 > first.producer().1, "a newer epoch");
    let error = first.commit().await.unwrap_err();
    assert_eq!(error.code(), Some(error_code::PRODUCER_FENCED), "{error}");
    let again = first.begin().unwrap_err();
    assert_eq!(
        again.code(),
        Some(error_code::PRODUCER_FENCED),
        "fatal: {again}"
    );
    second.begin().unwrap();
    second
        .send("fenced", Some(0), None, b"survivor")
        .await
        .unwrap();
    second.commit().await.unwrap();
    assert_eq!(
        read(&cluster, "fenced", IsolationLevel::ReadCommitted).await,
        vec!["survivor"]
    );
    cluster.close().await;
}

#[tokio::test(start_paused = true)]
async fn lost_answers_and_concurrent_transactions_are_retried_without_duplicates() {
    let (broker, cluster) = setup("txn-faults").await;
    cluster.create_topic("retried", 1).await.unwrap();
    let mut producer = producer(&cluster, "retrying").await;
    for spec in [
        "produce:drop,times=2",
        "add_partitions_to_txn:error=concurrent_transactions,times=2",
        "end_txn:delay=30s,once",
    ] {
        broker
            .add_fault(spec.parse::<FaultRule>().unwrap())
            .await
            .unwrap();
    }
    producer.begin().unwrap();
    for value in ["a", "b", "c"] {
        producer
            .send("retried", Some(0), None, value.as_bytes())
            .await
            .unwrap();
    }
    producer.commit().await.unwrap();
    assert_eq!(
        read(&cluster, "retried", IsolationLevel::ReadCommitted).await,
        vec!["a", "b", "c"],
        "each record once although two Produce answers were lost"
    );
    let states = broker
        .inspect(|core| core.transactions().transaction("retrying").unwrap().state)
        .await
        .unwrap();
    assert_eq!(states, kmock_broker::TransactionState::CompleteCommit);
    cluster.close().await;
}

#[tokio::test(start_paused = true)]
async fn a_transaction_left_open_past_its_timeout_is_aborted_and_its_producer_fenced() {
    let (_broker, cluster) = setup("txn-timeout").await;
    cluster.create_topic("late", 1).await.unwrap();
    let mut producer =
        TransactionalProducer::init(cluster.clone(), "slow", Duration::from_secs(10), clock())
            .await
            .unwrap();
    producer.begin().unwrap();
    producer
        .send("late", Some(0), None, b"never")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(11)).await;
    let error: ClientError = producer.commit().await.unwrap_err();
    assert_eq!(error.code(), Some(error_code::PRODUCER_FENCED), "{error}");
    assert!(
        read(&cluster, "late", IsolationLevel::ReadCommitted)
            .await
            .is_empty()
    );
    cluster.close().await;
}
