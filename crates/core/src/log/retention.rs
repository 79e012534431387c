//! Retention and compaction as an explicit operation: [`LogStore::clean_logs`] applies each
//! topic's `cleanup.policy` now and reports what it removed, so a test sees the effect of
//! `retention.ms`, `retention.bytes` and `compact` deterministically (Kafka runs them in background
//! threads every `log.retention.check.interval.ms` / as the cleaner gets to them). kmock never
//! cleans on its own.
//!
//! `delete` (the default policy): the oldest batches go while they are older than `retention.ms`
//! (their largest timestamp more than `retention.ms` before the broker's clock; -1: no limit), then
//! while the partition would still hold at least `retention.bytes` without them (negative: no
//! limit). The log start offset moves to the first batch kept (the log end offset if none is
//! kept), so Fetch below it answers OFFSET_OUT_OF_RANGE and ListOffsets earliest returns it. Kafka
//! deletes whole segments (and never the active one unless everything expired); kmock has no
//! segments and deletes batch by batch: the finest granularity Kafka could reach.
//!
//! `compact`: only the last record of each key stays; a tombstone (null value) stays until it is
//! older than `delete.retention.ms`; keyless records go (Kafka's cleaner drops them). Kafka
//! cleans only the log's inactive segments after `min.compaction.lag.ms`; kmock compacts the whole
//! log at once. A batch keeps its offsets: rewritten with fewer records, its header keeps its
//! original last offset (as Kafka's `MemoryRecords.filterTo` keeps it, so consumers move past the
//! gap); a batch left empty is dropped. The log start offset does not move. A batch kmock cannot
//! decode (lz4, zstd) is kept whole, and so is everything from the last stable offset on (the
//! records of open transactions, as Kafka's cleaner stops at the first unstable offset; records of
//! aborted transactions are compacted like others, where Kafka's cleaner drops them). `delete,compact` does both, deletion first.
//!
//! # References
//! - Kafka `UnifiedLog.deleteOldSegments` (`deleteRetentionMsBreachedSegments`,
//!   `deleteRetentionSizeBreachedSegments`), `LogCleaner` / `Cleaner.cleanInto`
//!   (`shouldRetainRecord`: latest offset per key, tombstones until the delete horizon),
//!   `MemoryRecords.filterTo`
//! - KIP-534 (delete horizon of tombstones)

use bytes::{Bytes, BytesMut};
use kmock_wire::kafka_protocol::records::{
    Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
};

use super::LogStore;
use super::batch;
use super::partition::{PartitionLog, StoredBatch};
use super::topic_config::LogSettings;
use crate::BrokerTime;

/// What cleaning removed from one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionCleanup {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The log start offset before cleaning.
    pub log_start_offset_before: i64,
    /// The log start offset after cleaning.
    pub log_start_offset: i64,
    /// Batches deleted by `retention.ms` / `retention.bytes`.
    pub deleted_batches: usize,
    /// Records removed by compaction (superseded values, expired tombstones, keyless records).
    pub compacted_records: usize,
}

/// What [`LogStore::clean_logs`] removed: one entry per partition that lost anything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RetentionReport {
    /// The partitions cleaned, in topic and partition order.
    pub partitions: Vec<PartitionCleanup>,
}

impl LogStore {
    /// Applies retention and compaction now (see the module docs) to `topic`, or to every topic;
    /// `None` if `topic` does not exist. `now` is the broker time; the broker's wall clock is
    /// `BrokerConfig::wall_clock_start_unix_ms` plus it.
    pub fn clean_logs(&mut self, topic: Option<&str>, now: BrokerTime) -> Option<RetentionReport> {
        if topic.is_some_and(|name| !self.topics.contains_key(name)) {
            return None;
        }
        let now_ms = self.wall_clock_ms(now);
        let mut report = RetentionReport::default();
        for (name, entry) in &mut self.topics {
            if topic.is_some_and(|wanted| wanted != name) {
                continue;
            }
            let settings = entry.config.settings.clone();
            for (index, log) in entry.partitions.iter_mut().enumerate() {
                let partition = i32::try_from(index).expect("partitions are bounded");
                let cleanup = clean_partition(log, &settings, now_ms, name, partition);
                if cleanup.deleted_batches > 0 || cleanup.compacted_records > 0 {
                    report.partitions.push(cleanup);
                }
            }
        }
        Some(report)
    }
}

fn clean_partition(
    log: &mut PartitionLog,
    settings: &LogSettings,
    now_ms: i64,
    topic: &str,
    partition: i32,
) -> PartitionCleanup {
    let log_start_offset_before = log.log_start_offset();
    let deleted_batches = if settings.delete {
        delete_expired(log, settings, now_ms)
    } else {
        0
    };
    let compacted_records = if settings.compact {
        compact(log, settings.delete_retention_ms, now_ms)
    } else {
        0
    };
    PartitionCleanup {
        topic: topic.to_owned(),
        partition,
        log_start_offset_before,
        log_start_offset: log.log_start_offset(),
        deleted_batches,
        compacted_records,
    }
}

/// Deletes the oldest batches past `retention.ms`, then past `retention.bytes`.
fn delete_expired(log: &mut PartitionLog, settings: &LogSettings, now_ms: i64) -> usize {
    let batches = log.batches();
    let mut expired = 0;
    if settings.retention_ms >= 0 {
        expired = batches
            .iter()
            .take_while(|b| now_ms.saturating_sub(b.max_timestamp) > settings.retention_ms)
            .count();
    }
    if settings.retention_bytes >= 0 {
        let size = |b: &StoredBatch| i64::try_from(b.bytes.len()).unwrap_or(i64::MAX);
        let total: i64 = batches[expired..].iter().map(size).sum();
        let mut excess = total - settings.retention_bytes;
        for batch in &batches[expired..] {
            if excess - size(batch) < 0 {
                break;
            }
            excess -= size(batch);
            expired += 1;
        }
    }
    if expired == 0 {
        return 0;
    }
    let new_start = batches.get(expired).map_or(log.log_end_offset(), |b| {
        b.base_offset.max(log.log_start_offset())
    });
    // Every batch below the new start is one of the `expired` ones.
    log.truncate_before(new_start);
    expired
}

/// Keeps the last record of each key (see the module docs); returns the records removed.
fn compact(log: &mut PartitionLog, delete_retention_ms: i64, now_ms: i64) -> usize {
    // Kafka's cleaner stops at the first unstable offset: records of open transactions may still
    // abort, so neither they nor what they would supersede are touched.
    let stable = log.last_stable_offset();
    let decoded: Vec<Option<Vec<Record>>> = log
        .batches()
        .iter()
        .map(|stored| {
            (stored.last_offset < stable)
                .then(|| decode(stored))
                .flatten()
        })
        .collect();
    let mut latest: std::collections::BTreeMap<&Bytes, i64> = std::collections::BTreeMap::new();
    for record in decoded.iter().flatten().flatten() {
        if let Some(key) = &record.key {
            latest.insert(key, record.offset);
        }
    }
    let keep = |record: &Record| {
        let is_latest = record
            .key
            .as_ref()
            .is_some_and(|key| latest.get(key) == Some(&record.offset));
        let live_tombstone = now_ms.saturating_sub(record.timestamp) <= delete_retention_ms;
        is_latest && (record.value.is_some() || live_tombstone)
    };
    let mut removed = 0;
    let mut batches = Vec::with_capacity(log.batches().len());
    for (stored, records) in log.batches().iter().zip(&decoded) {
        let Some(records) = records else {
            batches.push(stored.clone());
            continue;
        };
        let retained: Vec<Record> = records.iter().filter(|r| keep(r)).cloned().collect();
        if retained.is_empty() {
            removed += records.len();
            continue;
        }
        match rewrite(stored, &retained).filter(|_| retained.len() < records.len()) {
            Some(rewritten) => {
                removed += records.len() - retained.len();
                batches.push(rewritten);
            }
            // Nothing removed, or a batch kmock cannot re-encode: kept as it was.
            None => batches.push(stored.clone()),
        }
    }
    if removed > 0 {
        log.replace_batches(batches);
    }
    removed
}

/// The records of a stored batch (a LogAppendTime batch's records carry the batch's time), or
/// `None` if kmock cannot decode it (or it is a control batch, which compaction keeps).
fn decode(stored: &StoredBatch) -> Option<Vec<Record>> {
    let mut bytes = stored.served();
    let set = RecordBatchDecoder::decode(&mut bytes).ok()?;
    if set.records.iter().any(|r| r.control) {
        return None;
    }
    let log_append_time = batch::is_log_append_time(&stored.bytes);
    Some(
        set.records
            .into_iter()
            .map(|mut record| {
                if log_append_time {
                    record.timestamp = stored.max_timestamp;
                }
                record
            })
            .collect(),
    )
}

/// `stored` rewritten with only `retained` (not empty), keeping its compression, its last offset
/// and its LogAppendTime stamp; `None` if it cannot be re-encoded.
fn rewrite(stored: &StoredBatch, retained: &[Record]) -> Option<StoredBatch> {
    let first = retained.first()?;
    let mut probe = stored.bytes.clone();
    let compression = RecordBatchDecoder::decode_batch_info(&mut probe)
        .ok()?
        .first()?
        .compression;
    let mut buffer = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buffer, retained, &options).ok()?;
    let last_offset_delta = i32::try_from(stored.last_offset - first.offset).ok()?;
    batch::set_last_offset_delta(&mut buffer, last_offset_delta);
    if batch::is_log_append_time(&stored.bytes) {
        batch::stamp_log_append_time(&mut buffer, stored.max_timestamp);
    }
    Some(StoredBatch {
        base_offset: first.offset,
        last_offset: stored.last_offset,
        max_timestamp: retained
            .iter()
            .map(|r| r.timestamp)
            .max()
            .unwrap_or(stored.max_timestamp),
        bytes: buffer.freeze(),
    })
}
