//! Requests the broker parks, for the reset tests: `crates/core/src/reset/tests.rs`,
//! `crates/broker/tests/mock_broker.rs` and `tests/tests/control_api.rs` include this file with
//! `#[path]` (it needs only kmock-wire and bytes, which all three have).

#![allow(dead_code)] // each includer uses what it needs

use bytes::Bytes;
use kmock_wire::kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kmock_wire::kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kmock_wire::kafka_protocol::messages::{FetchRequest, GroupId, JoinGroupRequest};
use kmock_wire::kafka_protocol::protocol::StrBytes;

/// JoinGroup v3 and older need no member id round trip (KIP-394 starts at v4).
pub const JOIN_GROUP_VERSION: i16 = 3;
/// The oldest Fetch version kmock serves; topics by name.
pub const FETCH_VERSION: i16 = 4;

/// A JoinGroup (at most v3) of `member_id` (empty for a new member) to consumer group `group`:
/// the first one to an empty group parks for the initial rebalance delay.
pub fn join_group(group: &str, member_id: &str) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_owned())))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(60_000)
        .with_member_id(StrBytes::from_string(member_id.to_owned()))
        .with_protocol_type(StrBytes::from_static_str("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(StrBytes::from_static_str("range"))
                .with_metadata(Bytes::from_static(b"m")),
        ])
}

/// A Fetch (at most v12: by name) of partition 0 of `topic` from offset 0 that waits up to
/// `max_wait_ms` for one byte: parks while the partition is empty.
pub fn long_poll_fetch(topic: &str, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(StrBytes::from_string(topic.to_owned()).into())
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ])
}
