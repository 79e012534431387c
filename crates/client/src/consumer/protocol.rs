//! The consumer embedded protocol (Java's `ConsumerProtocol`): the subscription a member sends
//! as JoinGroup metadata and the assignment the leader sends in SyncGroup, each a 2-byte version
//! followed by the struct encoded at that version.
//!
//! Owns: encoding (subscription and assignment at version 0, which every consumer reads) and
//! decoding of any version up to 3 (newer versions are read as 3, ignoring what follows, as
//! Java's forward-compatible reader does). Nothing else.
//!
//! # References
//! - Kafka `ConsumerProtocol`, `ConsumerProtocolSubscription.json`,
//!   `ConsumerProtocolAssignment.json`.

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kmock_wire::kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kmock_wire::kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription,
};
use kmock_wire::kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::error::ClientError;

/// The `protocol_type` of consumer groups.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// Version written by this client.
const WRITE_VERSION: i16 = 0;
/// Highest version this client reads.
const READ_MAX_VERSION: i16 = 3;

/// Partitions by topic.
pub type Assignment = BTreeMap<String, Vec<i32>>;

/// Encodes a subscription to `topics`.
pub fn encode_subscription(topics: &[String]) -> Result<Bytes, ClientError> {
    let subscription = ConsumerProtocolSubscription::default().with_topics(
        topics
            .iter()
            .map(|t| StrBytes::from_string(t.clone()))
            .collect(),
    );
    let mut out = BytesMut::new();
    out.put_i16(WRITE_VERSION);
    subscription
        .encode(&mut out, WRITE_VERSION)
        .map_err(|e| ClientError::Protocol(format!("cannot encode a subscription: {e:#}")))?;
    Ok(out.freeze())
}

/// Decodes a member's subscription: its topics.
pub fn decode_subscription(metadata: &Bytes) -> Result<Vec<String>, ClientError> {
    let (version, mut body) = split_version(metadata, "subscription")?;
    let subscription = ConsumerProtocolSubscription::decode(&mut body, version)
        .map_err(|e| ClientError::Protocol(format!("malformed subscription: {e:#}")))?;
    Ok(subscription.topics.iter().map(|t| t.to_string()).collect())
}

/// Encodes an assignment.
pub fn encode_assignment(assignment: &Assignment) -> Result<Bytes, ClientError> {
    let message = ConsumerProtocolAssignment::default().with_assigned_partitions(
        assignment
            .iter()
            .map(|(topic, partitions)| {
                AssignedTopic::default()
                    .with_topic(StrBytes::from_string(topic.clone()).into())
                    .with_partitions(partitions.clone())
            })
            .collect(),
    );
    let mut out = BytesMut::new();
    out.put_i16(WRITE_VERSION);
    message
        .encode(&mut out, WRITE_VERSION)
        .map_err(|e| ClientError::Protocol(format!("cannot encode an assignment: {e:#}")))?;
    Ok(out.freeze())
}

/// Decodes an assignment; empty bytes are an empty assignment (a member the leader left out).
pub fn decode_assignment(bytes: &Bytes) -> Result<Assignment, ClientError> {
    if bytes.is_empty() {
        return Ok(Assignment::new());
    }
    let (version, mut body) = split_version(bytes, "assignment")?;
    let message = ConsumerProtocolAssignment::decode(&mut body, version)
        .map_err(|e| ClientError::Protocol(format!("malformed assignment: {e:#}")))?;
    let mut assignment = Assignment::new();
    for topic in message.assigned_partitions {
        let partitions = assignment.entry(topic.topic.0.to_string()).or_default();
        partitions.extend(topic.partitions);
        partitions.sort_unstable();
        partitions.dedup();
    }
    Ok(assignment)
}

fn split_version(bytes: &Bytes, what: &str) -> Result<(i16, Bytes), ClientError> {
    if bytes.len() < 2 {
        return Err(ClientError::Protocol(format!(
            "{what} shorter than its version"
        )));
    }
    let mut body = bytes.clone();
    let version = body.get_i16();
    if version < 0 {
        return Err(ClientError::Protocol(format!("{what} version {version}")));
    }
    Ok((version.min(READ_MAX_VERSION), body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_round_trips_with_a_java_style_version_prefix() {
        let topics = vec!["a".to_owned(), "b".to_owned()];
        let bytes = encode_subscription(&topics).unwrap();
        // version 0, then an array of 2 strings ("a", "b"), then null user data.
        assert_eq!(
            &bytes[..],
            &[
                0, 0, 0, 0, 0, 2, 0, 1, b'a', 0, 1, b'b', 0xff, 0xff, 0xff, 0xff
            ][..]
        );
        assert_eq!(decode_subscription(&bytes).unwrap(), topics);
    }

    #[test]
    fn assignment_round_trips() {
        let assignment: Assignment = [("t".to_owned(), vec![0, 2])].into_iter().collect();
        let bytes = encode_assignment(&assignment).unwrap();
        assert_eq!(decode_assignment(&bytes).unwrap(), assignment);
        assert_eq!(decode_assignment(&Bytes::new()).unwrap(), Assignment::new());
    }

    #[test]
    fn newer_versions_are_read_and_garbage_is_an_error() {
        let mut bytes = BytesMut::new();
        bytes.put_i16(1);
        ConsumerProtocolSubscription::default()
            .with_topics(vec![StrBytes::from_static_str("x")])
            .encode(&mut bytes, 1)
            .unwrap();
        assert_eq!(decode_subscription(&bytes.freeze()).unwrap(), vec!["x"]);
        assert!(decode_subscription(&Bytes::from_static(&[0])).is_err());
        assert!(decode_assignment(&Bytes::from_static(&[0, 0, 0x7f, 0xff, 0xff, 0xff])).is_err());
    }
}
