//! Load on loopback TCP, bounded in time and count, stopping by itself:
//!
//! 1. [`thousand_connections_do_api_versions_and_metadata`]: 1,000 connections open at once, each
//!    sends ApiVersions and Metadata a few times; every request is answered, in order, on its own
//!    connection.
//! 2. [`hundred_member_group_rebalances_while_a_producer_pushes`]: 100 consumers join one group
//!    (one stable generation with every partition assigned once), half of them leave and new ones
//!    join (two more rebalances) while a producer keeps publishing with acks=-1; afterwards every
//!    acknowledged record was delivered at least once and the group is empty once all have left.
//!
//! The broker runs in this process (so the figures are for broker and clients together). Each test
//! prints one `LOAD ...` line with its counts, wall time and the process's peak RSS (`VmHWM`); the
//! figures recorded in ROBUSTNESS.md come from `cargo test -p kmock-tests --test load --
//! --nocapture`. The tests run one at a time (a lock), so each peak is for its own phase or an
//! earlier one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kmock_broker::{BrokerConfig, MockBroker};
use kmock_client::{
    AutoOffsetReset, Cluster, Consumer, MemberState, Producer, Settings, TcpConnector,
};
use kmock_core::group::GroupState;
use kmock_wire::kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, MetadataRequest, ResponseKind, TopicName,
    metadata_request::MetadataRequestTopic,
};
use kmock_wire::kafka_protocol::protocol::StrBytes;
use kmock_wire::{decode_response, encode_request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

/// One load test at a time (held across awaits, hence tokio's mutex).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Peak resident set size of this process in KiB (`VmHWM`).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

#[allow(clippy::print_stdout)]
fn report(line: &str) {
    println!("LOAD {line} peak_rss_kib={}", peak_rss_kib());
}

async fn tcp_broker(config: BrokerConfig) -> (MockBroker, String) {
    let broker = MockBroker::builder()
        .config(config)
        .start()
        .await
        .expect("valid broker config");
    let bootstrap = broker.bootstrap_servers();
    (broker, bootstrap)
}

// ---------------------------------------------------------------------------------------------

const CONNECTIONS: usize = 1_000;
const ROUNDS_PER_CONNECTION: i32 = 3;

async fn read_frame(stream: &mut TcpStream) -> std::io::Result<Bytes> {
    let mut prefix = [0u8; 4];
    stream.read_exact(&mut prefix).await?;
    let mut body = vec![0u8; u32::from_be_bytes(prefix) as usize];
    stream.read_exact(&mut body).await?;
    Ok(body.into())
}

/// One connection: ApiVersions v3 and Metadata v12 per round; returns the answered requests.
async fn api_versions_and_metadata(
    mut stream: TcpStream,
    index: usize,
    mut go: watch::Receiver<bool>,
) -> usize {
    let _ = go.wait_for(|go| *go).await;
    let client_id = format!("load-{index}");
    let metadata = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("load")))),
    ]));
    let api_versions = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("kmock-load"))
        .with_client_software_version(StrBytes::from_static_str("1"));
    let mut answered = 0;
    for round in 0..ROUNDS_PER_CONNECTION {
        let correlation_id = round * 2;
        let frame = encode_request(&api_versions, 3, correlation_id, Some(&client_id)).unwrap();
        stream.write_all(&frame).await.unwrap();
        let body = read_frame(&mut stream).await.expect("ApiVersions answered");
        let (id, response) = decode_response(ApiKey::ApiVersions, 3, body).unwrap();
        assert_eq!(id, correlation_id);
        let ResponseKind::ApiVersions(response) = response else {
            panic!("not an ApiVersions response")
        };
        assert_eq!(response.error_code, 0);
        answered += 1;

        let frame = encode_request(&metadata, 12, correlation_id + 1, Some(&client_id)).unwrap();
        stream.write_all(&frame).await.unwrap();
        let body = read_frame(&mut stream).await.expect("Metadata answered");
        let (id, response) = decode_response(ApiKey::Metadata, 12, body).unwrap();
        assert_eq!(id, correlation_id + 1);
        let ResponseKind::Metadata(response) = response else {
            panic!("not a Metadata response")
        };
        assert_eq!(response.topics.len(), 1);
        assert_eq!(response.topics[0].error_code, 0);
        answered += 1;
    }
    answered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_connections_do_api_versions_and_metadata() {
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let (broker, bootstrap) = tcp_broker(BrokerConfig::default()).await;
    let (go_tx, go) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    // Open every connection first, so all 1,000 are open at once; then they all send together.
    for index in 0..CONNECTIONS {
        let stream = TcpStream::connect(&bootstrap).await.expect("connect");
        tasks.spawn(api_versions_and_metadata(stream, index, go.clone()));
    }
    let deadline = Duration::from_secs(120);
    tokio::time::timeout(deadline, async {
        while broker.handle().open_connections() < CONNECTIONS {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the broker serves every connection");
    assert_eq!(broker.handle().open_connections(), CONNECTIONS);
    go_tx.send_replace(true);
    let answered = tokio::time::timeout(deadline, async {
        let mut answered = 0;
        while let Some(result) = tasks.join_next().await {
            answered += result.expect("a connection task panicked");
        }
        answered
    })
    .await
    .expect("every connection finishes in time");
    let expected = CONNECTIONS * ROUNDS_PER_CONNECTION as usize * 2;
    assert_eq!(answered, expected, "every request answered");
    let logged = broker.requests().await.unwrap();
    assert_eq!(logged.len(), expected, "every request logged once");
    broker.shutdown().await;
    assert_eq!(
        broker.handle().open_connections(),
        0,
        "every connection closed"
    );
    report(&format!(
        "connections={CONNECTIONS} requests={expected} answered={answered} seconds={:.2}",
        started.elapsed().as_secs_f64()
    ));
}

// ---------------------------------------------------------------------------------------------

const GROUP_MEMBERS: usize = 100;
/// Members that leave (and as many new ones that join) in the middle.
const REPLACED_MEMBERS: usize = 50;
const GROUP_PARTITIONS: i32 = 100;
const GROUP_TOPIC: &str = "load-group";

fn group_settings(bootstrap: &str, client_id: &str) -> Settings {
    Settings {
        bootstrap_servers: vec![bootstrap.to_owned()],
        group_id: "load-group".into(),
        client_id: client_id.into(),
        session_timeout_ms: 10_000,
        heartbeat_interval_ms: 500,
        request_timeout_ms: 5_000,
        max_poll_interval_ms: 30_000,
        auto_offset_reset: AutoOffsetReset::Earliest,
        auto_commit_interval_ms: 1_000,
        fetch_max_wait_ms: 200,
        ..Settings::default()
    }
}

/// A consumer in its own task: forwards `(partition, offset)` of every record until told to stop,
/// then stops (commit, LeaveGroup, close).
struct RunningConsumer {
    stop: watch::Sender<bool>,
    state: watch::Receiver<MemberState>,
    task: tokio::task::JoinHandle<()>,
}

fn run_consumer(cluster: Cluster, seen: mpsc::UnboundedSender<(i32, i64)>) -> RunningConsumer {
    let mut consumer = Consumer::start(cluster, &[GROUP_TOPIC]);
    let state = consumer.watch_state();
    let (stop, mut stopping) = watch::channel(false);
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                _ = stopping.wait_for(|s| *s) => break,
                record = consumer.recv() => match record {
                    Some(record) => {
                        let _ = seen.send((record.partition, record.offset));
                    }
                    None => break,
                },
            }
        }
        // A LeaveGroup answered late is not a loss; the assertions are on the records.
        let _ = consumer.stop().await;
    });
    RunningConsumer { stop, state, task }
}

impl RunningConsumer {
    async fn stop(self) {
        self.stop.send_replace(true);
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("a consumer stops in time")
            .expect("the consumer task did not panic");
    }
}

/// Waits until every consumer is stable in one generation and the partitions are assigned once.
async fn wait_one_generation(consumers: &[RunningConsumer], broker: &MockBroker) -> i32 {
    loop {
        let states: Vec<MemberState> = consumers.iter().map(|c| c.state.borrow().clone()).collect();
        let generations: BTreeSet<i32> = states
            .iter()
            .filter_map(|s| match s {
                MemberState::Stable { generation, .. } => Some(*generation),
                _ => None,
            })
            .collect();
        let stable = states
            .iter()
            .all(|s| matches!(s, MemberState::Stable { .. }));
        let group = broker.group("load-group").await.unwrap();
        let settled = group.as_ref().is_some_and(|g| {
            g.state == GroupState::Stable
                && g.members.len() == consumers.len()
                && generations.first() == Some(&g.generation_id)
        });
        if stable && generations.len() == 1 && settled {
            let mut assigned = BTreeMap::new();
            for state in &states {
                if let MemberState::Stable { assignment, .. } = state {
                    for (topic, partitions) in assignment {
                        for partition in partitions {
                            *assigned.entry((topic.clone(), *partition)).or_insert(0) += 1;
                        }
                    }
                }
            }
            assert_eq!(assigned.len(), GROUP_PARTITIONS as usize, "{assigned:?}");
            assert!(assigned.values().all(|n| *n == 1), "{assigned:?}");
            return *generations.first().expect("one generation");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_member_group_rebalances_while_a_producer_pushes() {
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let (broker, bootstrap) = tcp_broker(BrokerConfig {
        group_initial_rebalance_delay_ms: 0,
        ..BrokerConfig::default()
    })
    .await;
    let cluster = Cluster::connect(group_settings(&bootstrap, "load-consumers"), TcpConnector)
        .await
        .expect("connect");
    cluster
        .create_topic(GROUP_TOPIC, GROUP_PARTITIONS)
        .await
        .expect("create the topic");

    // The producer publishes until told to stop; it records what was acknowledged.
    let producer_cluster =
        Cluster::connect(group_settings(&bootstrap, "load-producer"), TcpConnector)
            .await
            .expect("connect");
    let acknowledged: Arc<Mutex<BTreeSet<(i32, i64)>>> = Arc::default();
    let (stop_producing, mut producing) = watch::channel(false);
    let producer_task = {
        let acknowledged = Arc::clone(&acknowledged);
        let producer = Producer::new(producer_cluster.clone());
        tokio::spawn(async move {
            let mut failed = 0u64;
            for i in 0u64.. {
                if *producing.borrow_and_update() {
                    break;
                }
                let key = format!("key-{i}");
                match producer
                    .publish(GROUP_TOPIC, Some(key.as_bytes()), b"value", &[])
                    .await
                {
                    Ok(written) => {
                        acknowledged
                            .lock()
                            .unwrap()
                            .insert((written.partition, written.offset));
                    }
                    Err(_) => failed += 1,
                }
                if i % 16 == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            failed
        })
    };

    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel();
    let deadline = Duration::from_secs(150);
    let (consumers, rebalances) = tokio::time::timeout(deadline, async {
        let mut consumers: Vec<RunningConsumer> = (0..GROUP_MEMBERS)
            .map(|_| run_consumer(cluster.clone(), seen_tx.clone()))
            .collect();
        let first = wait_one_generation(&consumers, &broker).await;
        // Half leave (one rebalance per LeaveGroup, merged while the group is rebalancing)...
        let leaving: Vec<RunningConsumer> = consumers.drain(..REPLACED_MEMBERS).collect();
        futures_join_all(leaving.into_iter().map(RunningConsumer::stop)).await;
        let second = wait_one_generation(&consumers, &broker).await;
        // ... and as many join.
        consumers
            .extend((0..REPLACED_MEMBERS).map(|_| run_consumer(cluster.clone(), seen_tx.clone())));
        let third = wait_one_generation(&consumers, &broker).await;
        assert!(first < second && second < third, "{first} {second} {third}");
        stop_producing.send_replace(true);
        (consumers, (first, second, third))
    })
    .await
    .expect("the group settles in time");
    let failed_publishes = producer_task.await.unwrap();
    let acknowledged = std::mem::take(&mut *acknowledged.lock().unwrap());
    assert!(!acknowledged.is_empty());

    // Every acknowledged record is delivered at least once.
    let mut seen: BTreeMap<(i32, i64), u32> = BTreeMap::new();
    let consumed = tokio::time::timeout(Duration::from_secs(60), async {
        while !acknowledged.iter().all(|key| seen.contains_key(key)) {
            let Some(record) = seen_rx.recv().await else {
                break;
            };
            *seen.entry(record).or_default() += 1;
        }
    })
    .await;
    let missing: Vec<_> = acknowledged
        .iter()
        .filter(|key| !seen.contains_key(key))
        .take(10)
        .collect();
    assert!(
        consumed.is_ok() && missing.is_empty(),
        "{} of {} acknowledged records never delivered, e.g. {missing:?}",
        acknowledged.len() - acknowledged.iter().filter(|k| seen.contains_key(k)).count(),
        acknowledged.len()
    );
    let duplicates: u32 = seen.values().map(|n| n - 1).sum();

    // Everyone leaves: the group ends empty.
    futures_join_all(consumers.into_iter().map(RunningConsumer::stop)).await;
    let group = broker
        .group("load-group")
        .await
        .unwrap()
        .expect("the group exists");
    assert!(group.members.is_empty(), "{:?}", group.members);
    cluster.close().await;
    producer_cluster.close().await;
    broker.shutdown().await;
    let (first, second, third) = rebalances;
    report(&format!(
        "members={GROUP_MEMBERS} replaced={REPLACED_MEMBERS} partitions={GROUP_PARTITIONS} \
         generations={first},{second},{third} acknowledged={} failed_publishes={failed_publishes} \
         delivered_distinct={} redelivered={duplicates} lost=0 seconds={:.2}",
        acknowledged.len(),
        seen.len(),
        started.elapsed().as_secs_f64()
    ));
}

/// Runs futures concurrently to completion (no `futures` dependency needed).
async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for future in futures {
        set.spawn(future);
    }
    while let Some(result) = set.join_next().await {
        result.expect("no panic");
    }
}
