//! The exactly-once pipeline actor (`kind = "pipeline"`): a consume-transform-produce loop of the
//! client crate's read_committed [`Consumer`] and [`TransactionalProducer`].
//!
//! Each transaction: up to `batch` records from `input` (the first waited for, the rest taken
//! while they come within [`GATHER_WINDOW`]); for each, one record to `output` (same partition,
//! value `topic/partition/offset` of the input record, so the output names what it came from);
//! the consumed positions committed to the group inside the transaction (`send_offsets`); commit.
//! Any error of a transaction restarts the pipeline, as an exactly-once application does: the
//! transaction is aborted (unless the producer was fenced), the consumer stops without committing,
//! the producer initialises again (fencing what is left of the old one: its open transaction
//! aborts) and a new consumer resumes from the group's committed offsets, so the records of the
//! failed transaction are processed again and their first outputs stay invisible.
//!
//! [`committed_output`] reads a topic as a read_committed consumer would, from the broker's logs
//! (up to the last stable offset, without aborted transactions): what the exactly-once checks
//! count.
//!
//! Owns: the loop of one pipeline actor. Must not: read the wall clock, use unbiased `select!`.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kmock_client::producer::WallClock;
use kmock_client::settings::IsolationLevel;
use kmock_client::{
    Cluster, Consumer, ConsumerRecord, GroupMember, MemberState, TransactionalProducer,
};
use kmock_core::BrokerCore;
use kmock_wire::kafka_protocol::records::RecordBatchDecoder;
use tokio::sync::watch;

use crate::trace::Recorder;

/// After the first record of a transaction, how long further records are awaited.
pub const GATHER_WINDOW: Duration = Duration::from_millis(50);

/// What one pipeline actor does (from the scenario).
#[derive(Debug, Clone)]
pub(crate) struct PipelineSpec {
    pub(crate) name: String,
    pub(crate) input: String,
    pub(crate) output: String,
    pub(crate) group: String,
    pub(crate) transactional_id: String,
    pub(crate) batch: u32,
    pub(crate) transaction_timeout: Duration,
}

/// What the run observed of a pipeline (client side).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineObservation {
    /// Transactions committed.
    pub committed: u64,
    /// Transactions that failed (aborted or fenced) and restarted the pipeline.
    pub restarts: u64,
}

/// Runs the pipeline until `stop` turns true; `cluster` has the pipeline's settings
/// (read_committed, no auto-commit, its group).
pub(crate) async fn run(
    spec: PipelineSpec,
    cluster: Cluster,
    clock: WallClock,
    recorder: Recorder,
    mut stop: watch::Receiver<bool>,
) {
    let name = spec.name.clone();
    'incarnation: while !*stop.borrow() {
        let producer = TransactionalProducer::init(
            cluster.clone(),
            &spec.transactional_id,
            spec.transaction_timeout,
            clock.clone(),
        )
        .await;
        let mut producer = match producer {
            Ok(producer) => producer,
            Err(error) => {
                recorder.event(
                    &name,
                    format!("init_transactions failed: {error}; retrying"),
                );
                tokio::time::sleep(cluster.settings().retry_backoff()).await;
                continue;
            }
        };
        let (id, epoch) = producer.producer();
        recorder.event(
            &name,
            format!("transactions initialised: producer {id} epoch {epoch}"),
        );
        let mut consumer = Consumer::start(cluster.clone(), &[spec.input.as_str()]);
        loop {
            let Some(first) = next_record(&mut consumer, &mut stop, None).await else {
                let _ = consumer.stop().await;
                break 'incarnation;
            };
            let mut records = vec![first];
            while records.len() < spec.batch as usize {
                match next_record(&mut consumer, &mut stop, Some(GATHER_WINDOW)).await {
                    Some(record) => records.push(record),
                    None => break,
                }
            }
            let member = match consumer.state() {
                MemberState::Stable {
                    generation,
                    member_id,
                    ..
                } => GroupMember {
                    member_id,
                    generation_id: generation,
                },
                _ => GroupMember {
                    member_id: String::new(),
                    generation_id: -1,
                },
            };
            match transaction(&spec, &mut producer, &records, &member).await {
                Ok(()) => {
                    recorder
                        .lock()
                        .pipelines
                        .entry(name.clone())
                        .or_default()
                        .committed += 1;
                    recorder.event(
                        &name,
                        format!("transaction committed: {}", describe(&records)),
                    );
                    recorder.changed();
                }
                Err(error) => {
                    recorder.event(
                        &name,
                        format!(
                            "transaction failed ({}): {error}; restarting",
                            describe(&records)
                        ),
                    );
                    if producer.in_transaction()
                        && let Err(error) = producer.abort().await
                    {
                        recorder.event(&name, format!("abort failed: {error}"));
                    }
                    recorder
                        .lock()
                        .pipelines
                        .entry(name.clone())
                        .or_default()
                        .restarts += 1;
                    let _ = consumer.stop().await;
                    continue 'incarnation;
                }
            }
        }
    }
    recorder.event(&name, "pipeline stopped");
}

/// The next record, or `None` when stopped (or, with `window`, when none came within it).
async fn next_record(
    consumer: &mut Consumer,
    stop: &mut watch::Receiver<bool>,
    window: Option<Duration>,
) -> Option<ConsumerRecord> {
    if *stop.borrow() {
        return None;
    }
    let deadline = window.map(|window| tokio::time::Instant::now() + window);
    tokio::select! {
        biased;
        _ = stop.wait_for(|stopped| *stopped) => None,
        _ = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        } => None,
        record = consumer.recv() => record,
    }
}

/// One transaction over `records` (see the module docs).
async fn transaction(
    spec: &PipelineSpec,
    producer: &mut TransactionalProducer,
    records: &[ConsumerRecord],
    member: &GroupMember,
) -> Result<(), kmock_client::ClientError> {
    producer.begin()?;
    let mut positions: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for record in records {
        let value = format!("{}/{}/{}", record.topic, record.partition, record.offset);
        producer
            .send(
                &spec.output,
                Some(record.partition),
                record.key.as_deref(),
                value.as_bytes(),
            )
            .await?;
        let next = positions
            .entry((record.topic.clone(), record.partition))
            .or_insert(0);
        *next = (*next).max(record.offset + 1);
    }
    let offsets: Vec<(String, i32, i64)> = positions
        .into_iter()
        .map(|((topic, partition), offset)| (topic, partition, offset))
        .collect();
    producer.send_offsets(&spec.group, &offsets, member).await?;
    producer.commit().await
}

/// `in[0]@3..5 in[1]@0` for the trace.
fn describe(records: &[ConsumerRecord]) -> String {
    let mut ranges: BTreeMap<(String, i32), (i64, i64)> = BTreeMap::new();
    for record in records {
        let range = ranges
            .entry((record.topic.clone(), record.partition))
            .or_insert((record.offset, record.offset));
        range.0 = range.0.min(record.offset);
        range.1 = range.1.max(record.offset);
    }
    let parts: Vec<String> = ranges
        .into_iter()
        .map(|((topic, partition), (first, last))| {
            if first == last {
                format!("{topic}[{partition}]@{first}")
            } else {
                format!("{topic}[{partition}]@{first}..{last}")
            }
        })
        .collect();
    format!("{} records {}", records.len(), parts.join(" "))
}

/// The settings of a pipeline's cluster handle: its group, read_committed, no auto-commit.
pub(crate) fn settings(
    base: &kmock_client::Settings,
    spec: &PipelineSpec,
) -> kmock_client::Settings {
    kmock_client::Settings {
        client_id: spec.name.clone(),
        group_id: spec.group.clone(),
        isolation_level: IsolationLevel::ReadCommitted,
        enable_auto_commit: false,
        ..base.clone()
    }
}

/// The values of `topic` a read_committed consumer reads, partition by partition: records below
/// each partition's last stable offset, without control records and aborted transactions.
pub fn committed_output(core: &BrokerCore, topic: &str) -> Vec<String> {
    let logs = core.logs();
    let partitions = logs.partition_count(topic).unwrap_or(0);
    let mut values = Vec::new();
    for partition in 0..partitions {
        let stable = logs.last_stable_offset(topic, partition).unwrap_or(0);
        let aborted = logs.aborted_transactions(topic, partition);
        for batch in logs.batches(topic, partition).unwrap_or_default() {
            let mut bytes: Bytes = batch;
            let Ok(set) = RecordBatchDecoder::decode(&mut bytes) else {
                continue;
            };
            for record in set.records {
                let in_aborted = aborted.iter().any(|(producer_id, first, last)| {
                    *producer_id == record.producer_id && (*first..=*last).contains(&record.offset)
                });
                if record.control || record.offset >= stable || in_aborted {
                    continue;
                }
                if let Some(value) = record.value {
                    values.push(String::from_utf8_lossy(&value).into_owned());
                }
            }
        }
    }
    values
}
