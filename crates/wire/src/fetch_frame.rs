//! Fetch response frames whose record bytes come from the broker's stored batches without being
//! joined first.
//!
//! [`encode_response`](crate::encode_response) takes a `FetchResponse` whose partitions carry
//! their records as one `Bytes` each, so a broker has to join a partition's stored batches into a
//! buffer first and the encoder then copies that buffer into the frame: two copies of every record
//! served, the first into fresh memory. [`encode_fetch_response`] takes the records beside the
//! body, one [`FetchRecords`] per partition, and has each write itself into a [`FrameWriter`]:
//! bytes under [`REFERENCE_MIN_BYTES`] copied into the frame's buffer (from the response frame pool
//! when it is large), longer ones referenced, so the frame is a chain of parts ([`Frame`]).
//!
//! The frame is byte for byte the one [`encode_response`](crate::encode_response) makes for the
//! same body with each partition's `records` set to what its [`FetchRecords`] writes (tested
//! against it for every version, 4–18, refusals included). The layout follows kafka-protocol's
//! generated `FetchResponse`, `FetchableTopicResponse` and `PartitionData` encoders (Kafka's
//! `FetchResponse.json`), field by field (kafka-protocol keeps its primitive encoders private; the
//! nested structs are encoded by their own `Encodable` impls).

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{ApiKey, FetchResponse, ResponseHeader};
use std::collections::BTreeMap;

use kafka_protocol::protocol::Encodable;

use crate::WireError;
use crate::out_frame::{Frame, FrameWriter};
use crate::response::{FramePool, POOLED_FRAME_BYTES, PooledFrame, encode_failed, frame_length};

/// The record bytes of one partition of a Fetch response, written into the frame when it is
/// encoded.
pub trait FetchRecords {
    /// How many bytes [`FetchRecords::write_to`] appends.
    fn len(&self) -> usize;

    /// Whether there are no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many of the bytes [`FetchRecords::write_to`] copies into the frame's buffer (the
    /// others it references): sizes the buffer.
    fn copied_len(&self) -> usize {
        self.len()
    }

    /// Writes exactly [`FetchRecords::len`] bytes to `out`: copied into its buffer, or by
    /// reference ([`FrameWriter::reference`]) where they are at least [`REFERENCE_MIN_BYTES`].
    fn write_to(&self, out: &mut FrameWriter);
}

/// Record bytes at least this long are referenced by a frame rather than copied into it: below,
/// one more part to write costs more than the copy.
pub const REFERENCE_MIN_BYTES: usize = 4 * 1024;

impl FetchRecords for Bytes {
    fn len(&self) -> usize {
        Bytes::len(self)
    }

    fn copied_len(&self) -> usize {
        if self.len() >= REFERENCE_MIN_BYTES {
            0
        } else {
            self.len()
        }
    }

    fn write_to(&self, out: &mut FrameWriter) {
        if self.len() >= REFERENCE_MIN_BYTES {
            out.reference(self.clone());
        } else {
            out.buffer().extend_from_slice(self);
        }
    }
}

/// Encodes a Fetch response frame (with the length prefix) at `api_version`, partition `k` of
/// `body` (counting through every topic's partitions in order) with the bytes of `records[k]` as
/// its records. The `records` fields of `body` are ignored; every partition's records are
/// non-null (an error partition gets an empty `FetchRecords`, as Kafka answers with empty
/// records). An error if `records` has another length than the partition count, or for what
/// kafka-protocol refuses to encode (a version outside 4–18, a field set that the version lacks).
pub fn encode_fetch_response<R: FetchRecords>(
    api_version: i16,
    correlation_id: i32,
    body: &FetchResponse,
    records: &[R],
) -> Result<Frame, WireError> {
    let what = || format!("Fetch v{api_version} response");
    let encode_error = |e| encode_failed(&what, e);
    let partitions: usize = body.responses.iter().map(|t| t.partitions.len()).sum();
    if partitions != records.len() {
        return Err(encode_failed(
            &what,
            format!("{} record sets for {partitions} partitions", records.len()),
        ));
    }
    let header_version = ApiKey::Fetch.response_header_version(api_version);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let copied: usize = records.iter().map(FetchRecords::copied_len).sum();
    let mut out = if copied < SIZED_FROM_BYTES {
        // A few records (a consumer keeping up): the fields of a few partitions and the copied
        // records nearly always fit, without a walk over the fields to size them.
        Vec::with_capacity(SMALL_FIELDS_BYTES + copied)
    } else {
        let flexible = api_version >= 12;
        let mut size = 4
            + header.compute_size(header_version).map_err(encode_error)?
            + body_size_without_records(body, api_version).map_err(|e| encode_failed(&what, e))?;
        for set in records {
            size += records_prefix_len(set.len(), flexible) + set.copied_len();
        }
        if size >= POOLED_FRAME_BYTES {
            FramePool::take(size)
        } else {
            Vec::with_capacity(size)
        }
    };
    out.extend_from_slice(&[0; 4]);
    header
        .encode(&mut out, header_version)
        .map_err(encode_error)?;
    let mut out = FrameWriter::new(out);
    encode_body(body, api_version, records, &mut out).map_err(|e| encode_failed(&what, e))?;
    let len = frame_length(out.len(), what)?;
    out.patch(0, &len.to_be_bytes());
    Ok(out.finish(|buffer| {
        if buffer.capacity() >= POOLED_FRAME_BYTES {
            Bytes::from_owner(PooledFrame(buffer))
        } else {
            Bytes::from(buffer)
        }
    }))
}

/// Below this many copied record bytes, a frame's buffer is not sized exactly (see
/// [`SMALL_FIELDS_BYTES`]).
const SIZED_FROM_BYTES: usize = 16 * 1024;

/// Room for the fields of a Fetch response that is not sized exactly: a buffer that grows past
/// it is reallocated once or twice, which costs less than sizing every small response.
const SMALL_FIELDS_BYTES: usize = 512;

/// Bytes of the length prefix of `len` bytes of records (compact: unsigned varint of len + 1).
fn records_prefix_len(len: usize, flexible: bool) -> usize {
    if !flexible {
        return 4;
    }
    let mut value = len as u64 + 1;
    let mut bytes = 1;
    while value >= 0x80 {
        value >>= 7;
        bytes += 1;
    }
    bytes
}

/// kafka-protocol's size of `body` without the records fields (their length prefixes included).
fn body_size_without_records(body: &FetchResponse, version: i16) -> Result<usize, String> {
    let flexible = version >= 12;
    let null_marker = if flexible { 1 } else { 4 };
    let counted: usize = body
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| {
            p.records.as_ref().map_or(null_marker, |r| {
                records_prefix_len(r.len(), flexible) + r.len()
            })
        })
        .sum();
    Ok(body.compute_size(version).map_err(fmt)? - counted)
}

/// An encoder's error as text (kafka-protocol's are `anyhow` errors).
fn fmt(error: impl std::fmt::Display) -> String {
    format!("{error:#}")
}

fn int16(buf: &mut Vec<u8>, value: i16) {
    buf.extend_from_slice(&value.to_be_bytes());
}

fn int32(buf: &mut Vec<u8>, value: i32) {
    buf.extend_from_slice(&value.to_be_bytes());
}

fn int64(buf: &mut Vec<u8>, value: i64) {
    buf.extend_from_slice(&value.to_be_bytes());
}

fn unsigned_varint(buf: &mut Vec<u8>, mut value: u32) {
    while value >= 0x80 {
        buf.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

/// A length or count as an unsigned varint (flexible versions' compact forms).
fn varint_len(buf: &mut Vec<u8>, len: usize) -> Result<(), String> {
    unsigned_varint(
        buf,
        u32::try_from(len).map_err(|_| format!("{len} is too long to encode"))?,
    );
    Ok(())
}

/// An array's (or nullable array's) length: compact (unsigned varint of len + 1, 0 for null)
/// from v12, int32 (-1 for null) before.
fn array_len(buf: &mut Vec<u8>, len: Option<usize>, version: i16) -> Result<(), String> {
    match len {
        Some(len) if version >= 12 => varint_len(buf, len + 1),
        Some(len) => {
            int32(
                buf,
                i32::try_from(len).map_err(|_| format!("array of {len} is too long"))?,
            );
            Ok(())
        }
        None if version >= 12 => {
            unsigned_varint(buf, 0);
            Ok(())
        }
        None => {
            int32(buf, -1);
            Ok(())
        }
    }
}

/// Structs encoded by their own `Encodable` impls, after the array length.
fn structs<T: Encodable>(
    buf: &mut Vec<u8>,
    items: Option<&[T]>,
    version: i16,
) -> Result<(), String> {
    array_len(buf, items.map(<[T]>::len), version)?;
    for item in items.unwrap_or_default() {
        item.encode(buf, version).map_err(fmt)?;
    }
    Ok(())
}

/// Unknown tagged fields with a tag of at least `from`: tag, size, bytes.
fn unknown_tagged(
    buf: &mut Vec<u8>,
    from: i32,
    fields: &BTreeMap<i32, Bytes>,
) -> Result<(), String> {
    for (&tag, value) in fields.range(from..) {
        unsigned_varint(buf, tag as u32);
        varint_len(buf, value.len())?;
        buf.extend_from_slice(value);
    }
    Ok(())
}

/// One known tagged field: tag, size, the struct.
fn tagged<T: Encodable>(
    buf: &mut Vec<u8>,
    tag: u32,
    value: &T,
    version: i16,
) -> Result<(), String> {
    let size = value.compute_size(version).map_err(fmt)?;
    unsigned_varint(buf, tag);
    varint_len(buf, size)?;
    value.encode(buf, version).map_err(fmt)
}

/// `FetchResponse::encode` with the records taken from `records`.
fn encode_body<R: FetchRecords>(
    body: &FetchResponse,
    version: i16,
    records: &[R],
    out: &mut FrameWriter,
) -> Result<(), String> {
    if !(4..=18).contains(&version) {
        return Err("specified version not supported by this message type".into());
    }
    int32(out.buffer(), body.throttle_time_ms);
    if version >= 7 {
        int16(out.buffer(), body.error_code);
        int32(out.buffer(), body.session_id);
    } else if body.session_id != 0 {
        return Err(NOT_IN_VERSION.into());
    }
    array_len(out.buffer(), Some(body.responses.len()), version)?;
    let mut next = records.iter();
    for topic in &body.responses {
        encode_topic(topic, version, &mut next, out)?;
    }
    if version >= 12 {
        // The response's tagged fields, as `FetchResponse::encode` writes them.
        let endpoints = version >= 16 && !body.node_endpoints.is_empty();
        varint_len(
            out.buffer(),
            body.unknown_tagged_fields.len() + usize::from(endpoints),
        )?;
        if endpoints {
            let mut field = Vec::new();
            structs(&mut field, Some(&body.node_endpoints), version)?;
            unsigned_varint(out.buffer(), 0);
            varint_len(out.buffer(), field.len())?;
            out.buffer().extend_from_slice(&field);
        }
        unknown_tagged(out.buffer(), 1, &body.unknown_tagged_fields)?;
    }
    Ok(())
}

/// kafka-protocol's words for a field the version does not have.
const NOT_IN_VERSION: &str =
    "A field is set that is not available on the selected protocol version";

/// `FetchableTopicResponse::encode` with the records taken from `records`.
fn encode_topic<'r, R: FetchRecords + 'r>(
    topic: &FetchableTopicResponse,
    version: i16,
    records: &mut impl Iterator<Item = &'r R>,
    out: &mut FrameWriter,
) -> Result<(), String> {
    if version <= 12 {
        let name = topic.topic.as_bytes();
        if version == 12 {
            varint_len(out.buffer(), name.len() + 1)?;
        } else {
            int16(
                out.buffer(),
                i16::try_from(name.len()).map_err(|_| "topic name too long".to_owned())?,
            );
        }
        out.buffer().extend_from_slice(name);
    } else {
        out.buffer().extend_from_slice(topic.topic_id.as_bytes());
    }
    array_len(out.buffer(), Some(topic.partitions.len()), version)?;
    for partition in &topic.partitions {
        let set = records
            .next()
            .ok_or_else(|| "fewer record sets than partitions".to_owned())?;
        encode_partition(partition, version, set, out)?;
    }
    if version >= 12 {
        varint_len(out.buffer(), topic.unknown_tagged_fields.len())?;
        unknown_tagged(out.buffer(), 0, &topic.unknown_tagged_fields)?;
    }
    Ok(())
}

/// `PartitionData::encode` with `records` as the records.
fn encode_partition<R: FetchRecords>(
    partition: &PartitionData,
    version: i16,
    records: &R,
    out: &mut FrameWriter,
) -> Result<(), String> {
    int32(out.buffer(), partition.partition_index);
    int16(out.buffer(), partition.error_code);
    int64(out.buffer(), partition.high_watermark);
    int64(out.buffer(), partition.last_stable_offset);
    if version >= 5 {
        int64(out.buffer(), partition.log_start_offset);
    }
    structs(
        out.buffer(),
        partition.aborted_transactions.as_deref(),
        version,
    )?;
    if version >= 11 {
        int32(out.buffer(), partition.preferred_read_replica.0);
    } else if partition.preferred_read_replica.0 != -1 {
        return Err(NOT_IN_VERSION.into());
    }
    let len = records.len();
    if version >= 12 {
        varint_len(out.buffer(), len + 1)?;
    } else {
        int32(
            out.buffer(),
            i32::try_from(len).map_err(|_| format!("{len} bytes of records are too many"))?,
        );
    }
    let before = out.len();
    records.write_to(out);
    if out.len() - before != len {
        return Err(format!(
            "records wrote {} bytes, announced {len}",
            out.len() - before
        ));
    }
    if version >= 12 {
        // The partition's tagged fields, as `PartitionData::encode` writes them: each known one
        // only when it differs from its default.
        let diverging = partition.diverging_epoch != Default::default();
        let leader = partition.current_leader != Default::default();
        let snapshot = partition.snapshot_id != Default::default();
        varint_len(
            out.buffer(),
            partition.unknown_tagged_fields.len()
                + usize::from(diverging)
                + usize::from(leader)
                + usize::from(snapshot),
        )?;
        if diverging {
            tagged(out.buffer(), 0, &partition.diverging_epoch, version)?;
        }
        if leader {
            tagged(out.buffer(), 1, &partition.current_leader, version)?;
        }
        if snapshot {
            tagged(out.buffer(), 2, &partition.snapshot_id, version)?;
        }
        unknown_tagged(out.buffer(), 3, &partition.unknown_tagged_fields)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode_response;
    use kafka_protocol::messages::fetch_response::{
        AbortedTransaction, EpochEndOffset, LeaderIdAndEpoch, NodeEndpoint, SnapshotId,
    };
    use kafka_protocol::messages::{BrokerId, ProducerId, ResponseKind, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use proptest::prelude::*;

    /// The response with each partition's records set, as `encode_response` takes it.
    fn joined(body: &FetchResponse, records: &[Bytes]) -> FetchResponse {
        let mut body = body.clone();
        let mut sets = records.iter();
        for partition in body.responses.iter_mut().flat_map(|t| &mut t.partitions) {
            partition.records = sets.next().cloned();
        }
        body
    }

    fn partition(seed: u64, records: &Bytes) -> PartitionData {
        let pick = |bit: u32| seed >> bit & 1 == 1;
        let mut data = PartitionData::default()
            .with_partition_index((seed % 7) as i32)
            .with_error_code(if pick(1) { 1 } else { 0 })
            .with_high_watermark((seed % 1000) as i64)
            .with_last_stable_offset((seed % 900) as i64)
            .with_log_start_offset((seed % 5) as i64)
            .with_aborted_transactions(match seed % 3 {
                0 => None,
                1 => Some(vec![]),
                _ => Some(vec![
                    AbortedTransaction::default()
                        .with_producer_id(ProducerId(seed as i64 % 97))
                        .with_first_offset(3),
                ]),
            })
            .with_records(Some(records.clone()));
        if pick(3) {
            data = data.with_preferred_read_replica(BrokerId(2));
        }
        if pick(4) {
            data = data
                .with_diverging_epoch(EpochEndOffset::default().with_epoch(4).with_end_offset(40));
        }
        if pick(5) {
            data = data.with_current_leader(
                LeaderIdAndEpoch::default()
                    .with_leader_id(BrokerId(1))
                    .with_leader_epoch(9),
            );
        }
        if pick(6) {
            data = data.with_snapshot_id(SnapshotId::default().with_end_offset(5).with_epoch(6));
        }
        if pick(7) {
            data = data.with_unknown_tagged_field(7, Bytes::from_static(b"tag"));
        }
        data
    }

    /// A response whose topics hold `shape[t]` partitions each; `records` one set per partition.
    fn response(seed: u64, shape: &[usize], records: &[Bytes]) -> FetchResponse {
        let mut sets = records.iter();
        let topics = shape
            .iter()
            .enumerate()
            .map(|(t, &partitions)| {
                let mut topic = FetchableTopicResponse::default()
                    .with_topic(TopicName(StrBytes::from_string(format!(
                        "topic-{t}-{seed}"
                    ))))
                    .with_topic_id(uuid::Uuid::from_u128(u128::from(seed) << 8 | t as u128))
                    .with_partitions(
                        (0..partitions)
                            .map(|p| {
                                partition(seed.rotate_left(p as u32 * 9), sets.next().unwrap())
                            })
                            .collect(),
                    );
                if seed >> 8 & 1 == 1 {
                    topic = topic.with_unknown_tagged_field(3, Bytes::from_static(b"t"));
                }
                topic
            })
            .collect();
        let mut body = FetchResponse::default()
            .with_throttle_time_ms((seed % 50) as i32)
            .with_error_code((seed % 2) as i16)
            .with_session_id((seed >> 9 & 1) as i32)
            .with_responses(topics);
        if seed >> 10 & 1 == 1 {
            body = body.with_node_endpoints(vec![
                NodeEndpoint::default()
                    .with_node_id(BrokerId(1))
                    .with_host(StrBytes::from_static_str("kmock"))
                    .with_port(9093)
                    .with_rack((seed >> 11 & 1 == 1).then(|| StrBytes::from_static_str("r1"))),
            ]);
        }
        if seed >> 12 & 1 == 1 {
            body = body.with_unknown_tagged_field(5, Bytes::from_static(b"response"));
        }
        body
    }

    proptest! {
        /// Byte for byte the frame `encode_response` makes of the same response with its records
        /// joined, at every version; and refused where that one is refused.
        #[test]
        fn frames_equal_kafka_protocols(
            seed in any::<u64>(),
            shape in proptest::collection::vec(0usize..4, 0..4),
            // Some sets long enough to be referenced rather than copied.
            lengths in proptest::collection::vec(prop_oneof![4 => 0usize..300, 1 => REFERENCE_MIN_BYTES..REFERENCE_MIN_BYTES + 300], 12),
            version in 3i16..=19,
        ) {
            let records: Vec<Bytes> = (0..shape.iter().sum::<usize>())
                .map(|i| Bytes::from(vec![i as u8; lengths[i % lengths.len()]]))
                .collect();
            let body = response(seed, &shape, &records);
            // The records fields are ignored: give them other bytes than the sets.
            let mut ignored = body.clone();
            for partition in ignored.responses.iter_mut().flat_map(|t| &mut t.partitions) {
                partition.records = if seed & 1 == 1 { None } else { Some(Bytes::from_static(b"xx")) };
            }
            let ours = encode_fetch_response(version, 77, &ignored, &records);
            let theirs = encode_response(
                ApiKey::Fetch,
                version,
                77,
                &ResponseKind::Fetch(joined(&body, &records)),
            );
            match (ours, theirs) {
                (Ok(ours), Ok(theirs)) => prop_assert_eq!(ours.to_bytes(), theirs, "v{}", version),
                (Err(_), Err(_)) => {}
                (ours, theirs) => prop_assert!(false, "v{version}: ours {ours:?}, kafka-protocol {theirs:?}"),
            }
        }
    }

    #[test]
    fn large_frames_equal_kafka_protocols() {
        for version in [4, 11, 12, 13, 16, 18] {
            let records = vec![
                Bytes::from(vec![1; 3 << 20]),
                Bytes::new(),
                Bytes::from(vec![2; 200_000]),
            ];
            // Every field set that v4 has too (no session id, no preferred read replica).
            let mut body = response(0x5a5a, &[2, 1], &records).with_session_id(0);
            for partition in body.responses.iter_mut().flat_map(|t| &mut t.partitions) {
                partition.preferred_read_replica = BrokerId(-1);
            }
            let ours = encode_fetch_response(version, 1, &body, &records).unwrap();
            let theirs = encode_response(
                ApiKey::Fetch,
                version,
                1,
                &ResponseKind::Fetch(joined(&body, &records)),
            )
            .unwrap();
            assert_eq!(ours.len(), theirs.len(), "v{version}");
            // The large sets are referenced: the fields and the empty set around them copied
            // (after the last set only flexible versions have more: tagged fields).
            assert_eq!(
                ours.parts().len(),
                if version >= 12 { 5 } else { 4 },
                "v{version}"
            );
            assert_eq!(ours.parts()[1], records[0], "v{version}");
            assert_eq!(ours.parts()[3], records[2], "v{version}");
            assert!(ours.to_bytes() == theirs, "v{version}: frames differ");
        }
    }

    /// Writes one byte more than it announces.
    struct Liar;

    impl FetchRecords for Liar {
        fn len(&self) -> usize {
            1
        }

        fn write_to(&self, out: &mut FrameWriter) {
            out.buffer().extend_from_slice(b"ab");
        }
    }

    #[test]
    fn a_record_set_count_or_length_that_does_not_match_is_an_error() {
        let records = vec![Bytes::from_static(b"r")];
        let body = response(1, &[1], &records);
        let error = encode_fetch_response(12, 1, &body, &[] as &[Bytes]).unwrap_err();
        assert!(
            error.to_string().contains("0 record sets for 1 partitions"),
            "{error}"
        );
        let error = encode_fetch_response(12, 1, &body, &[Liar]).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("records wrote 2 bytes, announced 1"),
            "{error}"
        );
    }
}
