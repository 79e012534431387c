//! DeleteGroups, OffsetDelete and DescribeGroups' authorized operations: one test per Kafka rule.

use bytes::BytesMut;
use kmock_wire::kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kmock_wire::kafka_protocol::protocol::Encodable;

use super::*;
use crate::authorized_operations;

const GROUP_ID_NOT_FOUND: i16 = error_code::GROUP_ID_NOT_FOUND;
const NON_EMPTY_GROUP: i16 = error_code::NON_EMPTY_GROUP;
const GROUP_SUBSCRIBED_TO_TOPIC: i16 = error_code::GROUP_SUBSCRIBED_TO_TOPIC;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = error_code::UNKNOWN_TOPIC_OR_PARTITION;

/// A consumer protocol subscription to `topics` as a client writes it: version prefix, then the
/// body at that version.
fn subscription(topics: &[&str], version: i16) -> Vec<u8> {
    let mut buffer = BytesMut::new();
    buffer.extend_from_slice(&version.to_be_bytes());
    ConsumerProtocolSubscription::default()
        .with_topics(topics.iter().map(|t| sb(t)).collect())
        .encode(&mut buffer, version)
        .expect("a subscription encodes");
    buffer.to_vec()
}

impl Harness {
    /// `(group id, code)` of each DeleteGroups result.
    fn delete_groups(&mut self, version: i16, groups: &[&str]) -> Vec<(String, i16)> {
        let request = DeleteGroupsRequest::default()
            .with_groups_names(groups.iter().map(|g| GroupId(sb(g))).collect());
        let corr = self.send(&request, version, "admin", 0);
        response_as!(self, corr, DeleteGroups)
            .results
            .iter()
            .map(|r| (r.group_id.0.as_str().to_owned(), r.error_code))
            .collect()
    }

    /// The top-level code and `(topic, partition, code)` of each OffsetDelete result.
    fn delete_offsets(
        &mut self,
        group: &str,
        partitions: &[(&str, i32)],
    ) -> (i16, Vec<(String, i32, i16)>) {
        let topics = partitions
            .iter()
            .map(|(topic, partition)| {
                OffsetDeleteRequestTopic::default()
                    .with_name(TopicName(sb(topic)))
                    .with_partitions(vec![
                        OffsetDeleteRequestPartition::default().with_partition_index(*partition),
                    ])
            })
            .collect();
        let request = OffsetDeleteRequest::default()
            .with_group_id(GroupId(sb(group)))
            .with_topics(topics);
        let corr = self.send(&request, 0, "admin", 0);
        let response = response_as!(self, corr, OffsetDelete);
        let results = response
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| {
                    (
                        t.name.0.as_str().to_owned(),
                        p.partition_index,
                        p.error_code,
                    )
                })
            })
            .collect();
        (response.error_code, results)
    }

    /// A Stable group of one member whose protocol metadata is `metadata`; its member id.
    fn stable_with_metadata(&mut self, group: &str, metadata: &[u8]) -> String {
        let (corr, member_id) =
            self.join_new_with(group, "c", &[("range", metadata)], REBALANCE_MS, 0);
        let joined = response_as!(self, corr, JoinGroup);
        assert_eq!(joined.error_code, NONE);
        let corr = self.sync(3, group, joined.generation_id, &member_id, &[], 0);
        assert_eq!(response_as!(self, corr, SyncGroup).error_code, NONE);
        member_id
    }

    /// Offsets committed without group management (generation -1): the group stays Empty.
    fn simple_commit(&mut self, group: &str, offsets: &[(&str, i32, i64)]) {
        let results = self.commit(5, group, -1, "", offsets, 0);
        assert!(codes(&results).iter().all(|c| *c == NONE), "{results:?}");
    }
}

fn owned(results: &[(&str, i16)]) -> Vec<(String, i16)> {
    results.iter().map(|(g, c)| ((*g).to_owned(), *c)).collect()
}

#[test]
fn delete_groups_removes_an_empty_group_and_its_offsets_at_every_version() {
    for version in 0..=2 {
        let mut h = Harness::new();
        h.simple_commit("g", &[("orders", 0, 7), ("payments", 0, 3)]);
        assert_eq!(h.group("g").state, GroupState::Empty);
        assert_eq!(
            h.delete_groups(version, &["g"]),
            owned(&[("g", NONE)]),
            "v{version}"
        );
        assert!(
            h.coordinator.group("g").is_none(),
            "v{version}: the group is gone"
        );
        assert_eq!(h.coordinator.committed_offset("g", "orders", 0), None);
        assert_eq!(
            h.delete_groups(version, &["g"]),
            owned(&[("g", GROUP_ID_NOT_FOUND)]),
            "v{version}: already deleted"
        );
    }
}

#[test]
fn delete_groups_refuses_a_group_with_members_until_they_leave() {
    let mut h = Harness::new();
    let (members, _) = h.stable_group("g", &["a", "b"], 0);
    h.simple_commit("other", &[("orders", 0, 1)]);
    assert_eq!(
        h.delete_groups(2, &["g", "unknown", "other"]),
        owned(&[
            ("g", NON_EMPTY_GROUP),
            ("unknown", GROUP_ID_NOT_FOUND),
            ("other", NONE)
        ])
    );
    assert_eq!(h.group("g").members.len(), 2, "nothing changed");
    let member = members[0].clone();
    h.leave_v3("g", &[&member], 10);
    assert_eq!(h.group("g").state, GroupState::PreparingRebalance);
    assert_eq!(h.delete_groups(2, &["g"]), owned(&[("g", NON_EMPTY_GROUP)]));
    let member = members[1].clone();
    h.leave_v3("g", &[&member], 20);
    assert_eq!(h.group("g").state, GroupState::Empty);
    assert_eq!(h.delete_groups(2, &["g"]), owned(&[("g", NONE)]));
}

#[test]
fn delete_groups_answers_each_distinct_id_once() {
    let mut h = Harness::new();
    h.simple_commit("g", &[("orders", 0, 7)]);
    assert_eq!(
        h.delete_groups(1, &["g", "x", "g", ""]),
        owned(&[
            ("g", NONE),
            ("x", GROUP_ID_NOT_FOUND),
            ("", GROUP_ID_NOT_FOUND)
        ])
    );
}

#[test]
fn delete_groups_ignores_member_ids_never_used_to_join() {
    let mut h = Harness::new();
    let request = join_request(5, "g", "", RANGE, SESSION_MS, REBALANCE_MS);
    let corr = h.send(&request, 5, "c", 0);
    assert_eq!(
        response_as!(h, corr, JoinGroup).error_code,
        MEMBER_ID_REQUIRED
    );
    assert_eq!(h.group("g").pending_member_ids.len(), 1);
    assert_eq!(h.delete_groups(2, &["g"]), owned(&[("g", NONE)]));
    assert_eq!(
        h.coordinator.next_deadline(),
        None,
        "no deadline left behind"
    );
}

#[test]
fn offset_delete_group_errors_replace_partition_results() {
    let mut h = Harness::new();
    assert_eq!(
        h.delete_offsets("", &[("orders", 0)]),
        (error_code::INVALID_GROUP_ID, vec![])
    );
    assert_eq!(
        h.delete_offsets("unknown", &[("orders", 0)]),
        (GROUP_ID_NOT_FOUND, vec![])
    );
    let request = JoinGroupRequest::default()
        .with_group_id(GroupId(sb("connect")))
        .with_session_timeout_ms(SESSION_MS)
        .with_rebalance_timeout_ms(REBALANCE_MS)
        .with_member_id(sb(""))
        .with_protocol_type(sb("connect"))
        .with_protocols(protocols(RANGE));
    h.send(&request, 3, "worker", 0);
    assert_eq!(h.group("connect").members.len(), 1);
    assert_eq!(
        h.delete_offsets("connect", &[("orders", 0)]),
        (NON_EMPTY_GROUP, vec![])
    );
}

#[test]
fn offset_delete_removes_offsets_of_an_empty_group() {
    let mut h = Harness::new();
    h.simple_commit(
        "g",
        &[("orders", 0, 7), ("orders", 1, 8), ("payments", 0, 3)],
    );
    let (top_level, results) = h.delete_offsets(
        "g",
        &[("orders", 0), ("unknown", 0), ("orders", 9), ("orders", 2)],
    );
    assert_eq!(top_level, NONE);
    assert_eq!(
        results,
        [
            ("orders".to_owned(), 0, NONE),
            ("unknown".to_owned(), 0, UNKNOWN_TOPIC_OR_PARTITION),
            ("orders".to_owned(), 9, UNKNOWN_TOPIC_OR_PARTITION),
            ("orders".to_owned(), 2, NONE),
        ]
    );
    assert_eq!(h.coordinator.committed_offset("g", "orders", 0), None);
    assert_eq!(h.coordinator.committed_offset("g", "orders", 1), Some(8));
    assert_eq!(h.coordinator.committed_offset("g", "payments", 0), Some(3));
    h.delete_offsets("g", &[("orders", 1), ("payments", 0)]);
    assert_eq!(
        h.group("g").state,
        GroupState::Empty,
        "the group outlives its offsets, as in Kafka 4"
    );
}

#[test]
fn offset_delete_keeps_offsets_of_topics_an_active_member_subscribes_to() {
    for version in 0..=3 {
        let mut h = Harness::new();
        let member = h.stable_with_metadata("g", &subscription(&["orders"], version));
        let generation = h.group("g").generation_id;
        let results = h.commit(
            5,
            "g",
            generation,
            &member,
            &[("orders", 0, 5), ("payments", 0, 6)],
            0,
        );
        assert!(codes(&results).iter().all(|c| *c == NONE));
        let (top_level, results) = h.delete_offsets("g", &[("orders", 0), ("payments", 0)]);
        assert_eq!(top_level, NONE, "subscription v{version}");
        assert_eq!(
            results,
            [
                ("orders".to_owned(), 0, GROUP_SUBSCRIBED_TO_TOPIC),
                ("payments".to_owned(), 0, NONE),
            ],
            "subscription v{version}"
        );
        assert_eq!(h.coordinator.committed_offset("g", "orders", 0), Some(5));
        assert_eq!(h.coordinator.committed_offset("g", "payments", 0), None);
    }
}

#[test]
fn offset_delete_treats_every_topic_as_subscribed_when_subscriptions_do_not_parse() {
    for metadata in [&b"range-metadata"[..], b"", b"\xff\xff\0\0\0\0"] {
        let mut h = Harness::new();
        let member = h.stable_with_metadata("g", metadata);
        let generation = h.group("g").generation_id;
        h.commit(5, "g", generation, &member, &[("payments", 0, 6)], 0);
        let (_, results) = h.delete_offsets("g", &[("payments", 0)]);
        assert_eq!(
            results,
            [("payments".to_owned(), 0, GROUP_SUBSCRIBED_TO_TOPIC)],
            "{metadata:?}"
        );
        assert_eq!(h.coordinator.committed_offset("g", "payments", 0), Some(6));
    }
}

#[test]
fn describe_groups_reports_authorized_operations_when_asked() {
    let mut h = Harness::new();
    h.stable_group("g", &["a"], 0);
    for version in 3..=6 {
        for asked in [false, true] {
            let request = DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(sb("g")), GroupId(sb("unknown"))])
                .with_include_authorized_operations(asked);
            let corr = h.send(&request, version, "c", 0);
            let response = response_as!(h, corr, DescribeGroups);
            let operations = if asked {
                authorized_operations::GROUP
            } else {
                i32::MIN
            };
            assert_eq!(
                response.groups[0].authorized_operations, operations,
                "v{version}"
            );
            // Kafka sets them only on groups described without an error (v6: GROUP_ID_NOT_FOUND).
            let unknown = if version >= 6 { i32::MIN } else { operations };
            assert_eq!(
                response.groups[1].authorized_operations, unknown,
                "v{version}"
            );
        }
    }
}
