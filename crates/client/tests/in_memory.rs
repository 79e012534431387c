//! Against the kmock broker on the in-memory network, in paused virtual time: produce/consume with
//! a pool, teardown bounds under LeaveGroup faults, rejoin on rebalance errors.

mod common;

use std::time::Duration;

use kmock_broker::FaultRule;
use kmock_client::{ClientError, Consumer, ConsumerPool, MemberState, Producer, Settings};
use kmock_wire::kafka_protocol::messages::{RequestKind, ResponseKind};
use tokio::time::Instant;

use common::*;

/// Scheduling slack allowed around a virtual-time bound.
const SLACK: Duration = Duration::from_millis(10);

#[tokio::test(start_paused = true)]
async fn thousand_keyed_records_are_consumed_exactly_once_by_a_pool_of_three() {
    let (_broker, network) = memory_broker();
    let cluster = memory_cluster(&network, env_test_settings("pool-of-three")).await;
    produce_and_consume(cluster.clone(), "events", 1000, 3).await;
    cluster.close().await;
}

/// Starts one stable consumer with `settings` against a broker with `fault` installed after it
/// joined; returns how long `stop()` took in virtual time and its result.
async fn timed_stop(settings: Settings, fault: &str) -> (Duration, Result<(), ClientError>) {
    let (broker, network) = memory_broker();
    let cluster = memory_cluster(&network, settings).await;
    let mut consumer = Consumer::start(cluster.clone(), &["teardown"]);
    consumer.wait_stable().await.expect("joins");
    broker
        .add_fault(fault.parse::<FaultRule>().expect("valid fault spec"))
        .await
        .unwrap();
    let started = Instant::now();
    let result = consumer.stop().await;
    let elapsed = started.elapsed();
    cluster.close().await;
    (elapsed, result)
}

fn assert_about(elapsed: Duration, expected: Duration) {
    assert!(
        elapsed + SLACK >= expected && elapsed <= expected + SLACK,
        "took {elapsed:?}, expected {expected:?} ± {SLACK:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn stop_with_leave_group_delayed_60s_takes_request_timeout_from_env_test() {
    let (elapsed, result) =
        timed_stop(env_test_settings("slow-leave"), "leave_group:delay=60s").await;
    assert_about(elapsed, Duration::from_secs(5));
    assert!(
        matches!(result, Err(ClientError::RequestTimeout { .. })),
        "{result:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn stop_with_leave_group_delayed_60s_takes_the_default_request_timeout() {
    let settings = Settings {
        group_id: "slow-leave-defaults".into(),
        ..Settings::default()
    };
    let (elapsed, result) = timed_stop(settings, "leave_group:delay=60s").await;
    assert_about(elapsed, Duration::from_secs(40));
    assert!(result.is_err());
}

#[tokio::test(start_paused = true)]
async fn stop_with_leave_group_response_dropped_takes_request_timeout() {
    let (elapsed, result) =
        timed_stop(env_test_settings("dropped-leave"), "leave_group:drop").await;
    assert_about(elapsed, Duration::from_secs(5));
    assert!(
        matches!(result, Err(ClientError::RequestTimeout { .. })),
        "{result:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn stop_with_leave_group_error_is_prompt() {
    let (elapsed, result) = timed_stop(
        env_test_settings("failing-leave"),
        "leave_group:error=coordinator_not_available",
    )
    .await;
    assert!(elapsed <= SLACK, "took {elapsed:?}");
    assert_eq!(result.unwrap_err().code(), Some(15));
}

#[tokio::test(start_paused = true)]
async fn stop_with_connection_closed_on_leave_group_is_prompt() {
    for fault in ["leave_group:close", "leave_group:close=after"] {
        let (elapsed, result) = timed_stop(env_test_settings("closed-leave"), fault).await;
        assert!(elapsed <= SLACK, "{fault}: took {elapsed:?}");
        assert!(
            matches!(result, Err(ClientError::ConnectionClosed { .. })),
            "{fault}: {result:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn stop_without_faults_is_prompt_and_clean() {
    let (elapsed, result) =
        timed_stop(env_test_settings("clean-leave"), "fetch,client=nobody:drop").await;
    assert!(elapsed <= SLACK, "took {elapsed:?}");
    result.unwrap();
}

#[tokio::test(start_paused = true)]
async fn pool_of_ten_teardown_is_bounded_by_one_request_timeout() {
    let (broker, network) = memory_broker();
    let settings = Settings {
        consumer_pool_size: 10,
        ..env_test_settings("pool-of-ten")
    };
    let cluster = memory_cluster(&network, settings).await;
    let pool = ConsumerPool::start(cluster.clone(), &["pool-teardown"]);
    assert_eq!(pool.members().len(), 10);
    pool.wait_stable().await.expect("all ten join");
    broker
        .add_fault("leave_group:delay=60s".parse().unwrap())
        .await
        .unwrap();
    let started = Instant::now();
    let result = pool.stop().await;
    let elapsed = started.elapsed();
    assert_about(elapsed, Duration::from_secs(5));
    assert!(result.is_err());
    cluster.close().await;
}

/// Dropping a consumer without `stop()` aborts it: no LeaveGroup, no more heartbeats, so the broker
/// keeps the member until its session times out, and only then can a new member of the group
/// become stable (the rebalance waits for the old one).
#[tokio::test(start_paused = true)]
async fn dropping_a_consumer_without_stop_leaves_it_to_the_session_timeout() {
    let (broker, network) = memory_broker();
    let settings = env_test_settings("dropped");
    let session = settings.session_timeout();
    let heartbeat = settings.heartbeat_interval();
    let cluster = memory_cluster(&network, settings).await;
    let mut consumer = Consumer::start(cluster.clone(), &["drop"]);
    consumer.wait_stable().await.unwrap();
    let since = broker.request_log_since(0).await.unwrap().len() as u64;
    let dropped = Instant::now();
    drop(consumer);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let members = |broker: kmock_broker::server::BrokerHandle| async move {
        broker
            .inspect(|core| {
                core.groups()
                    .group("dropped")
                    .map_or(0, |g| g.members.len())
            })
            .await
            .unwrap()
    };
    assert_eq!(
        members(broker.clone()).await,
        1,
        "a dropped consumer does not leave the group"
    );
    let mut next = Consumer::start(cluster.clone(), &["drop"]);
    tokio::time::timeout(Duration::from_secs(30), next.wait_stable())
        .await
        .unwrap()
        .unwrap();
    let took = dropped.elapsed();
    // The old member's last heartbeat was at most one interval before the drop.
    assert!(
        took >= session - heartbeat && took <= session + SLACK,
        "the next member became stable {took:?} after the drop; want the old member's session \
         timeout ({session:?}, less at most one heartbeat interval)"
    );
    let log = broker.request_log_since(since).await.unwrap();
    assert!(
        log.iter().all(|entry| entry.api_name() != "LeaveGroup"),
        "no LeaveGroup after a drop: {:?}",
        log.iter().map(|e| e.api_name()).collect::<Vec<_>>()
    );
    next.stop().await.unwrap();
    cluster.close().await;
}

#[tokio::test(start_paused = true)]
async fn heartbeat_rebalance_error_makes_the_member_rejoin() {
    let (broker, network) = memory_broker();
    let cluster = memory_cluster(&network, env_test_settings("rejoin")).await;
    let mut consumer = Consumer::start(cluster.clone(), &["rejoin"]);
    let (generation, _) = consumer.wait_stable().await.unwrap();
    for (i, code) in [
        "rebalance_in_progress",
        "illegal_generation",
        "unknown_member_id",
    ]
    .iter()
    .enumerate()
    {
        broker
            .add_fault(format!("heartbeat:error={code},once").parse().unwrap())
            .await
            .unwrap();
        let mut state = consumer.watch_state();
        tokio::time::timeout(
            Duration::from_secs(30),
            state.wait_for(|s| {
                matches!(s, MemberState::Stable { generation: g, .. } if *g > generation + i as i32)
            }),
        )
        .await
        .unwrap_or_else(|_| panic!("no rejoin after {code}"))
        .unwrap();
    }
    consumer.stop().await.unwrap();
    cluster.close().await;
}

#[tokio::test(start_paused = true)]
async fn manual_commit_is_resumed_by_the_next_member() {
    let (_broker, network) = memory_broker();
    let settings = Settings {
        enable_auto_commit: false,
        ..env_test_settings("manual")
    };
    let cluster = memory_cluster(&network, settings).await;
    let producer = Producer::new(cluster.clone());
    for i in 0..10u8 {
        producer
            .publish_to("manual", Some(0), None, Some(&[i]), &[])
            .await
            .unwrap();
    }
    let mut consumer = Consumer::start(cluster.clone(), &["manual"]);
    consumer.wait_stable().await.unwrap();
    for i in 0..4u8 {
        assert_eq!(
            consumer.recv().await.unwrap().value.as_deref(),
            Some(&[i][..])
        );
    }
    consumer.commit().await.unwrap();
    consumer.stop().await.unwrap();
    let mut next = Consumer::start(cluster.clone(), &["manual"]);
    next.wait_stable().await.unwrap();
    let record = next.recv().await.unwrap();
    assert_eq!((record.partition, record.offset), (0, 4));
    next.stop().await.unwrap();
    cluster.close().await;
}

#[tokio::test(start_paused = true)]
async fn unkeyed_records_spread_across_partitions() {
    let (_broker, network) = memory_broker();
    let cluster = memory_cluster(&network, env_test_settings("unkeyed")).await;
    let producer = Producer::new(cluster.clone());
    let mut partitions = std::collections::BTreeSet::new();
    for _ in 0..PARTITIONS {
        partitions.insert(
            producer
                .publish("unkeyed", None, b"v", &[])
                .await
                .unwrap()
                .partition,
        );
    }
    assert_eq!(partitions.len(), PARTITIONS as usize);
    cluster.close().await;
}

#[tokio::test(start_paused = true)]
async fn requests_time_out_with_a_typed_error() {
    let (broker, network) = memory_broker();
    let cluster = memory_cluster(&network, env_test_settings("timeouts")).await;
    broker
        .add_fault("produce:drop".parse().unwrap())
        .await
        .unwrap();
    let producer = Producer::new(cluster.clone());
    let started = Instant::now();
    let error = producer
        .publish("slow", Some(b"k"), b"v", &[])
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert_about(started.elapsed(), Duration::from_secs(5));
    // The handle reconnects: with the fault gone, the next publish works.
    broker.clear_faults().await.unwrap();
    producer
        .publish("slow", Some(b"k"), b"v", &[])
        .await
        .unwrap();
    cluster.close().await;
}

#[tokio::test(start_paused = true)]
async fn invalid_session_timeout_is_reported_by_wait_stable() {
    let (_broker, network) = memory_broker();
    let settings = Settings {
        session_timeout_ms: 5_500,
        request_timeout_ms: 5_000,
        heartbeat_interval_ms: 1_000,
        ..env_test_settings("bad-session")
    };
    let cluster = memory_cluster(&network, settings).await;
    let mut consumer = Consumer::start(cluster.clone(), &["t"]);
    let error = consumer.wait_stable().await.unwrap_err();
    assert_eq!(error.code(), Some(26), "{error}");
    consumer.stop().await.unwrap();
    cluster.close().await;
}

#[tokio::test(start_paused = true)]
async fn stop_while_a_join_is_parked_leaves_on_a_fresh_connection_promptly() {
    let (broker, network) = memory_broker();
    // The first JoinGroup gets MEMBER_ID_REQUIRED; the second (with the member id) is held.
    broker
        .add_fault("join_group:hold=60s,nth=2".parse().unwrap())
        .await
        .unwrap();
    let cluster = memory_cluster(&network, env_test_settings("parked-join")).await;
    let consumer = Consumer::start(cluster.clone(), &["parked"]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(consumer.state(), MemberState::Joining);
    let started = Instant::now();
    let result = consumer.stop().await;
    assert!(started.elapsed() <= SLACK, "took {:?}", started.elapsed());
    result.expect("the LeaveGroup is answered");
    // The LeaveGroup went out, named the member the broker gave out, on another connection than
    // the held JoinGroup, and was answered without error.
    let log = broker.request_log_since(0).await.unwrap();
    let joins: Vec<_> = log.iter().filter(|e| e.api_name() == "JoinGroup").collect();
    assert_eq!(joins.len(), 2, "{log:?}");
    let Some(ResponseKind::JoinGroup(first)) = &joins[0].response else {
        panic!("the first JoinGroup was answered: {:?}", joins[0]);
    };
    let member_id = first.member_id.to_string();
    assert!(
        !member_id.is_empty(),
        "MEMBER_ID_REQUIRED gives a member id"
    );
    let leaves: Vec<_> = log
        .iter()
        .filter(|e| e.api_name() == "LeaveGroup")
        .collect();
    assert_eq!(leaves.len(), 1, "one LeaveGroup: {log:?}");
    let leave = leaves[0];
    assert_ne!(
        leave.connection, joins[1].connection,
        "the LeaveGroup does not queue behind the held JoinGroup"
    );
    let Some(RequestKind::LeaveGroup(request)) = &leave.request else {
        panic!("a LeaveGroup request: {leave:?}");
    };
    let named: Vec<String> = request
        .members
        .iter()
        .map(|m| m.member_id.to_string())
        .chain(Some(request.member_id.to_string()).filter(|id| !id.is_empty()))
        .collect();
    assert_eq!(named, [member_id], "{request:?}");
    let Some(ResponseKind::LeaveGroup(response)) = &leave.response else {
        panic!("the LeaveGroup was answered: {leave:?}");
    };
    assert_eq!(response.error_code, 0, "{response:?}");
    assert!(
        response.members.iter().all(|m| m.error_code == 0),
        "{response:?}"
    );
    cluster.close().await;
}

#[tokio::test(start_paused = true)]
async fn bootstrap_failure_is_typed() {
    let (network, listener) = kmock_broker::server::MemoryNetwork::new();
    drop(listener);
    let connector =
        kmock_client::FnConnector::new(move |_host: &str, _port: u16| network.connect());
    let error = kmock_client::Cluster::connect(env_test_settings("none"), connector)
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::Bootstrap { .. }), "{error:?}");
    assert!(
        error.to_string().contains("no bootstrap server reachable"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_closed_handle_refuses_requests() {
    let (_broker, network) = memory_broker();
    let cluster = memory_cluster(&network, env_test_settings("closed")).await;
    let producer = Producer::new(cluster.clone());
    producer.publish("closed", None, b"v", &[]).await.unwrap();
    cluster.close().await;
    let error = producer
        .publish("other", None, b"v", &[])
        .await
        .unwrap_err();
    assert_eq!(error, ClientError::Closed);
}

#[tokio::test(start_paused = true)]
async fn stop_during_a_slow_auto_commit_commits_and_leaves_on_a_fresh_connection() {
    let (broker, network) = memory_broker();
    let settings = Settings {
        auto_commit_interval_ms: 1_000,
        ..env_test_settings("slow-commit")
    };
    let cluster = memory_cluster(&network, settings).await;
    let producer = Producer::new(cluster.clone());
    for i in 0..5u8 {
        producer
            .publish_to("slow-commit", Some(0), None, Some(&[i]), &[])
            .await
            .unwrap();
    }
    let mut consumer = Consumer::start(cluster.clone(), &["slow-commit"]);
    consumer.wait_stable().await.unwrap();
    for _ in 0..3 {
        consumer.recv().await.unwrap();
    }
    broker
        .add_fault("offset_commit:delay=60s,once".parse().unwrap())
        .await
        .unwrap();
    // The auto-commit tick fires and its response is held back.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        broker.faults().await.unwrap()[0].applied,
        1,
        "the auto-commit is in flight"
    );
    let started = Instant::now();
    consumer
        .stop()
        .await
        .expect("commit and leave succeed on a fresh connection");
    assert!(started.elapsed() <= SLACK, "took {:?}", started.elapsed());
    // The next member resumes after the three consumed records.
    let mut next = Consumer::start(cluster.clone(), &["slow-commit"]);
    next.wait_stable().await.unwrap();
    assert_eq!(next.recv().await.unwrap().offset, 3);
    next.stop().await.unwrap();
    cluster.close().await;
}

#[tokio::test(start_paused = true)]
async fn unknown_topic_is_a_typed_error_when_auto_creation_is_off() {
    let broker = kmock_broker::server::Broker::start(kmock_broker::BrokerConfig {
        auto_create_topics: false,
        ..broker_config()
    })
    .unwrap();
    let (network, listener) = kmock_broker::server::MemoryNetwork::new();
    let serving = broker.clone();
    tokio::spawn(async move { serving.serve_memory(listener).await });
    let cluster = memory_cluster(&network, env_test_settings("no-topic")).await;
    let producer = Producer::new(cluster.clone());
    let error = producer
        .publish("missing", Some(b"k"), b"v", &[])
        .await
        .unwrap_err();
    assert_eq!(
        error,
        ClientError::UnknownTopic {
            topic: "missing".into()
        }
    );
    // Created explicitly, it works.
    cluster.create_topic("missing", 2).await.unwrap();
    let written = producer
        .publish("missing", Some(b"k"), b"v", &[])
        .await
        .unwrap();
    assert_eq!(
        written.partition,
        kmock_client::partitioner::partition_for_key(b"k", 2)
    );
    cluster.close().await;
}

#[tokio::test(start_paused = true)]
async fn acks_zero_publishes_without_waiting_for_a_response() {
    let (_broker, network) = memory_broker();
    let settings = Settings {
        acks: kmock_client::Acks::None,
        ..env_test_settings("acks-zero")
    };
    let cluster = memory_cluster(&network, settings).await;
    let producer = Producer::new(cluster.clone());
    let written = producer
        .publish_to("acks0", Some(1), Some(b"k"), Some(b"v"), &[])
        .await
        .unwrap();
    assert_eq!((written.partition, written.offset), (1, -1));
    let mut consumer = Consumer::start(cluster.clone(), &["acks0"]);
    consumer.wait_stable().await.unwrap();
    let record = consumer.recv().await.unwrap();
    assert_eq!((record.partition, record.offset), (1, 0));
    consumer.stop().await.unwrap();
    cluster.close().await;
}

#[tokio::test(start_paused = true)]
async fn concurrent_publishes_to_a_partition_are_batched() {
    let (broker, network) = memory_broker();
    let cluster = memory_cluster(&network, env_test_settings("batching")).await;
    let producer = Producer::new(cluster.clone());
    cluster.topic("batched").await.unwrap();
    let mut publishes = tokio::task::JoinSet::new();
    for i in 0..100u8 {
        let producer = producer.clone();
        publishes.spawn(async move {
            producer
                .publish_to("batched", Some(0), None, Some(&[i]), &[])
                .await
                .unwrap()
                .offset
        });
    }
    let mut offsets = Vec::new();
    while let Some(offset) = publishes.join_next().await {
        offsets.push(offset.unwrap());
    }
    offsets.sort_unstable();
    assert_eq!(offsets, (0..100).collect::<Vec<i64>>());
    let produce_requests = broker
        .request_log_since(0)
        .await
        .unwrap()
        .iter()
        .filter(|entry| entry.api_key == 0)
        .count();
    assert!(
        produce_requests < 10,
        "{produce_requests} Produce requests for 100 records"
    );
    // One record batch per request, without a sequence (no idempotence): base sequence -1 at
    // bytes 53..57 of the batch header, record count at 57..61.
    let batches = broker
        .update(|core| core.logs().batches("batched", 0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(batches.len(), produce_requests);
    let mut records = 0;
    for batch in &batches {
        assert_eq!(i32::from_be_bytes(batch[53..57].try_into().unwrap()), -1);
        records += i32::from_be_bytes(batch[57..61].try_into().unwrap());
    }
    assert_eq!(records, 100);
    cluster.close().await;
}

#[tokio::test(start_paused = true)]
async fn join_handles_member_id_required() {
    use kmock_core::request_log::LogEntry;
    use kmock_wire::kafka_protocol::messages::ResponseKind;

    fn join_group_error(response: &ResponseKind) -> Option<i16> {
        match response {
            ResponseKind::JoinGroup(join) => Some(join.error_code),
            _ => None,
        }
    }

    let (broker, network) = memory_broker();
    let cluster = memory_cluster(&network, env_test_settings("member-id-required")).await;
    let mut consumer = Consumer::start(cluster.clone(), &["t"]);
    consumer.wait_stable().await.unwrap();
    let joins: Vec<i16> = broker
        .request_log_since(0)
        .await
        .unwrap()
        .iter()
        .filter_map(|entry: &LogEntry| join_group_error(entry.response.as_ref()?))
        .collect();
    // KIP-394: the first JoinGroup (empty member id) gets MEMBER_ID_REQUIRED, the retry with the
    // assigned id succeeds.
    assert_eq!(joins, vec![79, 0]);
    consumer.stop().await.unwrap();
    cluster.close().await;
}

/// Runs the produce/consume scenario with every API capped at the given versions.
async fn produce_and_consume_at(versions: &[(ApiKey, i16)], group: &str) {
    let (_broker, network) = memory_broker();
    let mut options = kmock_client::ClusterOptions::default();
    for (api, version) in versions {
        options = options.with_max_version(*api, *version);
    }
    let cluster = memory_cluster_with(&network, env_test_settings(group), options).await;
    for (api, version) in versions {
        assert_eq!(
            cluster.versions().version(*api).unwrap(),
            *version,
            "{api:?}"
        );
    }
    produce_and_consume(cluster.clone(), "versions", 100, 2).await;
    cluster.close().await;
}

use kmock_wire::kafka_protocol::messages::ApiKey;

#[tokio::test(start_paused = true)]
async fn works_at_the_oldest_versions_the_client_implements() {
    produce_and_consume_at(
        &[
            (ApiKey::Produce, 3),
            (ApiKey::Fetch, 4),
            (ApiKey::ListOffsets, 1),
            (ApiKey::Metadata, 1),
            (ApiKey::OffsetCommit, 2),
            (ApiKey::OffsetFetch, 1),
            (ApiKey::FindCoordinator, 0),
            (ApiKey::JoinGroup, 0),
            (ApiKey::Heartbeat, 0),
            (ApiKey::LeaveGroup, 0),
            (ApiKey::SyncGroup, 0),
        ],
        "oldest",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn works_at_the_last_versions_before_flexible_encoding() {
    produce_and_consume_at(
        &[
            (ApiKey::Produce, 8),
            (ApiKey::Fetch, 11),
            (ApiKey::ListOffsets, 5),
            (ApiKey::Metadata, 8),
            (ApiKey::OffsetCommit, 7),
            (ApiKey::OffsetFetch, 5),
            (ApiKey::FindCoordinator, 2),
            (ApiKey::JoinGroup, 5),
            (ApiKey::Heartbeat, 3),
            (ApiKey::LeaveGroup, 3),
            (ApiKey::SyncGroup, 3),
        ],
        "pre-flexible",
    )
    .await;
}

/// A producer keeps one sender task per partition it published to, idle between records, and
/// those tasks end when the last producer handle is dropped.
#[tokio::test(start_paused = true)]
async fn sender_tasks_are_kept_per_partition_and_end_with_the_producer() {
    let (_broker, network) = memory_broker();
    let cluster = memory_cluster(&network, env_test_settings("senders")).await;
    let alive = || {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    };
    let producer = Producer::new(cluster.clone());
    let copy = producer.clone();
    producer
        .publish_to("senders", Some(0), None, Some(b"a"), &[])
        .await
        .unwrap();
    let before = alive();
    for partition in 0..3 {
        for value in [b"b", b"c"] {
            copy.publish_to("senders", Some(partition), None, Some(value), &[])
                .await
                .unwrap();
        }
    }
    // Partitions 1 and 2 got a sender each; partition 0 reused its own.
    assert_eq!(alive(), before + 2);
    drop(producer);
    tokio::task::yield_now().await;
    assert_eq!(alive(), before + 2, "a producer handle is still alive");
    drop(copy);
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        alive(),
        before - 1,
        "every sender task ended with the producer"
    );
    cluster.close().await;
}

/// A hundred publishes started at once to a topic the client does not know yet share one Metadata
/// request for it (Kafka's clients keep one metadata request in flight), and all of them land.
#[tokio::test(start_paused = true)]
async fn concurrent_first_publishes_to_a_topic_share_one_metadata_lookup() {
    let (broker, network) = memory_broker();
    let cluster = memory_cluster(&network, env_test_settings("single-flight")).await;
    let since = broker.request_log_since(0).await.unwrap().len() as u64;
    let producer = Producer::new(cluster.clone());
    let results = publish_all_at_once(&producer, "cold-topic", 100).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let log = broker.request_log_since(since).await.unwrap();
    assert_eq!(
        metadata_requests_naming(&log, "cold-topic"),
        1,
        "Metadata requests naming the topic"
    );
    // A lookup that fails is shared too, and the next one starts afresh.
    let bad = "no such topic!";
    let results = publish_all_at_once(&producer, bad, 100).await;
    assert!(
        results.iter().all(|r| r == &results[0] && r.is_err()),
        "{results:?}"
    );
    assert!(producer.publish(bad, None, b"x", &[]).await.is_err());
    let log = broker.request_log_since(since).await.unwrap();
    assert_eq!(metadata_requests_naming(&log, bad), 2, "one per lookup");
    cluster.close().await;
}

fn metadata_requests_naming(log: &[kmock_core::request_log::LogEntry], topic: &str) -> usize {
    log.iter()
        .filter(|e| match &e.request {
            Some(RequestKind::Metadata(request)) => request.topics.as_ref().is_some_and(|topics| {
                topics
                    .iter()
                    .any(|t| t.name.as_ref().is_some_and(|n| n.as_str() == topic))
            }),
            _ => false,
        })
        .count()
}

/// Publishes `count` one-byte records to `topic`, all started at once (one task each); their
/// results, in the order they finished.
async fn publish_all_at_once(
    producer: &Producer,
    topic: &str,
    count: u8,
) -> Vec<Result<kmock_client::RecordMetadata, ClientError>> {
    let mut publishes = tokio::task::JoinSet::new();
    for i in 0..count {
        let (producer, topic) = (producer.clone(), topic.to_owned());
        publishes.spawn(async move { producer.publish(&topic, None, &[i], &[]).await });
    }
    publishes.join_all().await
}
