//! The classic consumer-group coordinator: group membership, rebalances and committed offsets.
//!
//! Owns every group (its state, generation, members, parked JoinGroup and SyncGroup requests, and
//! deadlines) and the offsets committed to it. It is pure: time enters as `now` (a [`BrokerTime`]), parked requests leave as `Completion`s, and [`GroupCoordinator::next_deadline`]
//! says when `GroupCoordinator::handle_timeout` must be called. It never reads a clock and only
//! reads topics through [`TopicCatalog`] (implemented by the [`LogStore`]); it must not touch logs.
//!
//! One file per Kafka API, all of the same shape (`handle` applies a request to the state and builds
//! the response at the token's version; `error_response` builds the same response carrying one error
//! code), dispatched from the match in `GroupCoordinator::handle`. The group state machine shared
//! by those APIs (join phase, pending sync, session expiry) lives in `state`.
//!
//! Static membership (KIP-345) covers what clients see: static members join without
//! MEMBER_ID_REQUIRED, a restarted one replaces its old incarnation (without a rebalance when the
//! group is Stable and the protocol would not change), fenced instance ids get FENCED_INSTANCE_ID,
//! and LeaveGroup finds members by instance id.
//!
//! The KIP-848 consumer protocol (ConsumerGroupHeartbeat, ConsumerGroupDescribe) lives in
//! [`consumer`], with its own table of groups; the classic APIs consult it for group ids it holds.
//!
//! Transactional offset commits (TxnOffsetCommit) stay pending per producer until their transaction
//! ends (`txn_offsets.rs`; the transaction coordinator in `crate::txn` drives them).
//!
//! Not implemented: offset expiry
//! (and with it the periodic removal of empty groups without offsets), and the 5-minute timeout
//! Kafka applies to new members awaiting their first join.
//!
//! # References
//! - Kafka `GroupCoordinator.scala` / `GroupMetadata.scala` (classic protocol, 3.x).
//! - KIP-394: member id required on the first JoinGroup (v4+).
//! - KIP-345: static membership (`group_instance_id`; LeaveGroup v3+ batches).
//! - KIP-429 / KIP-430 / KIP-518 / KIP-709: ListGroups state filter, OffsetFetch batching.
//! - KIP-229 (DeleteGroups), KIP-496 (OffsetDelete).

mod answer;
pub mod consumer;
mod delete_groups;
mod describe_groups;
mod find_coordinator;
mod heartbeat;
mod join_group;
mod leave_group;
mod list_groups;
mod offset_commit;
mod offset_delete;
mod offset_fetch;
mod state;
mod sync_group;
mod txn_offsets;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kmock_wire::kafka_protocol::messages::{RequestKind, ResponseKind};
use kmock_wire::kafka_protocol::protocol::StrBytes;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::log::LogStore;
use super::{Completion, Reply, ResponseToken};
use crate::BrokerTime;
use crate::config::BrokerConfig;
use state::Group;
pub use state::GroupState;
pub use txn_offsets::MAX_PENDING_TRANSACTIONAL_OFFSETS;
pub(crate) use txn_offsets::{TransactionalCommitter, TransactionalOffset};

/// Kafka error codes, from the workspace's one table.
pub(crate) use kmock_wire::error_code;

/// Groups the coordinator holds at most; a peer must not grow state without bound.
pub const MAX_GROUPS: usize = 100_000;

/// Longest committed-offset metadata accepted (Kafka's `offset.metadata.max.bytes` default).
pub const MAX_OFFSET_METADATA_BYTES: usize = 4_096;

/// Constant mixed into the config seed so generated member ids do not correlate with the other
/// uses of the seed (fault probabilities, topic ids).
const MEMBER_ID_SEED_SALT: u64 = 0x6b6d_6f63_6b67_7270; // "kmockgrp"

/// What the coordinator reads about topics: the [`LogStore`] in the broker, a fixed table in tests.
pub trait TopicCatalog {
    /// Partitions of `topic`, if it exists.
    fn partition_count(&self, topic: &str) -> Option<i32>;
    /// Id of the topic named `topic`.
    fn topic_id(&self, topic: &str) -> Option<uuid::Uuid>;
    /// Name of the topic with this id.
    fn topic_name(&self, topic_id: uuid::Uuid) -> Option<String>;
    /// Every topic name, in name order (KIP-848 regex subscriptions resolve against them). A
    /// catalog that cannot list its topics resolves no regex.
    fn topic_names(&self) -> Vec<String> {
        Vec::new()
    }
}

impl TopicCatalog for LogStore {
    fn partition_count(&self, topic: &str) -> Option<i32> {
        LogStore::partition_count(self, topic)
    }

    fn topic_id(&self, topic: &str) -> Option<uuid::Uuid> {
        LogStore::topic_id(self, topic)
    }

    fn topic_name(&self, topic_id: uuid::Uuid) -> Option<String> {
        LogStore::topic_name(self, topic_id).map(str::to_owned)
    }

    fn topic_names(&self) -> Vec<String> {
        let mut names: Vec<String> = LogStore::topic_names(self).map(str::to_owned).collect();
        names.sort();
        names
    }
}

/// The broker settings the coordinator uses.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// This broker's node id: the coordinator of every group.
    pub node_id: i32,
    /// Advertised host, returned by FindCoordinator.
    pub host: String,
    /// Advertised port, returned by FindCoordinator.
    pub port: i32,
    /// `group.min.session.timeout.ms`.
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`.
    pub max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`, as a duration.
    pub initial_rebalance_delay: Duration,
    /// `group.max.size`.
    pub max_group_size: usize,
    /// `group.consumer.session.timeout.ms`, as a duration.
    pub consumer_session_timeout: Duration,
    /// `group.consumer.heartbeat.interval.ms`.
    pub consumer_heartbeat_interval_ms: i32,
    /// `group.consumer.max.size`.
    pub consumer_max_group_size: usize,
}

/// All groups and their committed offsets. See the module docs.
#[derive(Debug)]
pub struct GroupCoordinator {
    pub(crate) settings: Settings,
    /// Groups by id. Ordered so ListGroups and deadline scans are deterministic.
    pub(crate) groups: BTreeMap<String, Group>,
    /// KIP-848 consumer groups by id; an id is never in both tables (see [`consumer`]).
    pub(crate) consumer_groups: BTreeMap<String, consumer::group::ConsumerGroup>,
    /// Source of generated member ids (seeded, so a seed reproduces the ids).
    rng: ChaCha8Rng,
    /// Offsets committed by open transactions (`txn_offsets.rs`).
    pending_transactional: txn_offsets::PendingTransactionalOffsets,
}

impl GroupCoordinator {
    /// An empty coordinator.
    pub fn new(config: &BrokerConfig) -> Self {
        Self {
            settings: Settings {
                node_id: config.node_id,
                host: config.advertised_host.clone(),
                port: config.advertised_port,
                min_session_timeout_ms: config.group_min_session_timeout_ms,
                max_session_timeout_ms: config.group_max_session_timeout_ms,
                initial_rebalance_delay: config.initial_rebalance_delay(),
                max_group_size: config.group_max_size,
                consumer_session_timeout: config.consumer_session_timeout(),
                consumer_heartbeat_interval_ms: config.group_consumer_heartbeat_interval_ms,
                consumer_max_group_size: config.group_consumer_max_size,
            },
            groups: BTreeMap::new(),
            consumer_groups: BTreeMap::new(),
            rng: ChaCha8Rng::seed_from_u64(config.seed ^ MEMBER_ID_SEED_SALT),
            pending_transactional: Default::default(),
        }
    }

    /// See [`super::BrokerCore::set_advertised_address`].
    pub fn set_advertised_address(&mut self, host: &str, port: i32) {
        self.settings.host = host.to_owned();
        self.settings.port = port;
    }

    /// Earliest deadline (join phase end, pending sync end, session or pending-member expiry;
    /// KIP-848 session and rebalance timeouts).
    pub fn next_deadline(&self) -> Option<BrokerTime> {
        self.groups
            .values()
            .filter_map(Group::next_deadline)
            .chain(self.consumer_next_deadline())
            .min()
    }

    /// Fires deadlines due at `now`; responses to parked requests go to `out`. A call before any
    /// deadline is a no-op.
    pub(crate) fn handle_timeout(
        &mut self,
        now: BrokerTime,
        topics: &dyn TopicCatalog,
        out: &mut Vec<Completion>,
    ) {
        let settings = self.settings.clone();
        for group in self.groups.values_mut() {
            group.handle_timeout(now, &settings, out);
        }
        self.consumer_handle_timeout(now, topics);
    }

    /// Answers every parked JoinGroup and SyncGroup with NOT_COORDINATOR, as Kafka does when it
    /// unloads a group (see [`BrokerCore::reset`](crate::BrokerCore::reset)). The groups stay.
    pub(crate) fn unload_all(&mut self, out: &mut Vec<Completion>) {
        for group in self.groups.values_mut() {
            group.unload(out);
        }
    }

    /// Handles a group request.
    pub(crate) fn handle(
        &mut self,
        token: ResponseToken,
        body: RequestKind,
        now: BrokerTime,
        logs: &LogStore,
        out: &mut Vec<Completion>,
    ) -> Reply {
        self.handle_with_catalog(token, body, now, logs, out)
    }

    /// [`GroupCoordinator::handle`] with any topic catalog (tests use a fixed table).
    pub(crate) fn handle_with_catalog(
        &mut self,
        token: ResponseToken,
        body: RequestKind,
        now: BrokerTime,
        topics: &dyn TopicCatalog,
        out: &mut Vec<Completion>,
    ) -> Reply {
        if let Some(response) = consumer::handle(self, &token, &body, now, topics) {
            return Reply::Now(response);
        }
        match body {
            RequestKind::FindCoordinator(request) => {
                Reply::Now(find_coordinator::handle(self, &token, &request))
            }
            RequestKind::JoinGroup(request) => join_group::handle(self, token, request, now, out),
            RequestKind::SyncGroup(request) => sync_group::handle(self, token, request, now, out),
            RequestKind::Heartbeat(request) => {
                Reply::Now(heartbeat::handle(self, &token, &request, now))
            }
            RequestKind::LeaveGroup(request) => {
                Reply::Now(leave_group::handle(self, &token, &request, now, out))
            }
            RequestKind::OffsetCommit(request) => {
                Reply::Now(offset_commit::handle(self, &token, &request, now, topics))
            }
            RequestKind::OffsetFetch(request) => {
                Reply::Now(offset_fetch::handle(self, &token, &request, topics))
            }
            RequestKind::DescribeGroups(request) => {
                Reply::Now(describe_groups::handle(self, &token, &request))
            }
            RequestKind::ListGroups(request) => {
                Reply::Now(list_groups::handle(self, &token, &request))
            }
            RequestKind::DeleteGroups(request) => Reply::Now(delete_groups::handle(self, &request)),
            RequestKind::OffsetDelete(request) => {
                Reply::Now(offset_delete::handle(self, &request, topics))
            }
            _ => Reply::Close(format!(
                "the group coordinator does not handle {:?}",
                token.api_key
            )),
        }
    }

    /// A summary of every group, in group id order (for assertions and the control API).
    pub fn groups(&self) -> impl Iterator<Item = GroupSummary> + '_ {
        self.groups.values().map(Group::summary)
    }

    /// A summary of one group.
    pub fn group(&self, group_id: &str) -> Option<GroupSummary> {
        self.groups.get(group_id).map(Group::summary)
    }

    /// The offset committed by `group_id` (a classic or a consumer group) for a partition.
    pub fn committed_offset(&self, group_id: &str, topic: &str, partition: i32) -> Option<i64> {
        let offsets = match self.consumer_groups.get(group_id) {
            Some(group) => &group.offsets,
            None => &self.groups.get(group_id)?.offsets,
        };
        offsets
            .get(&(topic.to_owned(), partition))
            .map(|committed| committed.offset)
    }

    /// A new member id, `{client_id}-{uuid}` as Kafka makes them, from the seeded PRNG.
    pub(crate) fn generate_member_id(&mut self, client_id: &str) -> String {
        let mut bytes = [0u8; 16];
        self.rng.fill_bytes(&mut bytes);
        let uuid = uuid::Builder::from_random_bytes(bytes).into_uuid();
        format!("{client_id}-{uuid}")
    }

    /// The group, created Empty if it does not exist and the group table has room (never over a
    /// consumer group of the same id).
    pub(crate) fn group_or_create(&mut self, group_id: &str) -> Option<&mut Group> {
        if !self.groups.contains_key(group_id) {
            if !self.has_room_for_new_group() || self.consumer_groups.contains_key(group_id) {
                return None;
            }
            self.groups
                .insert(group_id.to_owned(), Group::new(group_id.to_owned()));
        }
        self.groups.get_mut(group_id)
    }
}

/// The error response for a group request (for fault rules), or `None` if not a group API.
pub fn error_response(body: &RequestKind, api_version: i16, code: i16) -> Option<ResponseKind> {
    Some(match body {
        RequestKind::FindCoordinator(request) => {
            find_coordinator::error_response(request, api_version, code)
        }
        RequestKind::JoinGroup(request) => join_group::error_response(request, api_version, code),
        RequestKind::SyncGroup(request) => sync_group::error_response(request, api_version, code),
        RequestKind::Heartbeat(_) => heartbeat::response(code),
        RequestKind::LeaveGroup(request) => leave_group::error_response(request, api_version, code),
        RequestKind::OffsetCommit(request) => {
            offset_commit::error_response(request, api_version, code)
        }
        RequestKind::OffsetFetch(request) => {
            offset_fetch::error_response(request, api_version, code)
        }
        RequestKind::DescribeGroups(request) => {
            describe_groups::error_response(request, api_version, code)
        }
        RequestKind::ListGroups(_) => list_groups::error_response(code),
        RequestKind::DeleteGroups(request) => delete_groups::error_response(request, code),
        RequestKind::OffsetDelete(request) => offset_delete::error_response(request, code),
        other => return consumer::error_response(other, code),
    })
}

/// A read-only view of a group, for assertions and the control API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSummary {
    /// The group id.
    pub group_id: String,
    /// Its state.
    pub state: GroupState,
    /// The current generation (0 before the first rebalance completes).
    pub generation_id: i32,
    /// The protocol type of its members (`consumer` for consumers), once a member joined.
    pub protocol_type: Option<String>,
    /// The protocol (assignor) chosen at the last completed join phase.
    pub protocol_name: Option<String>,
    /// The leader's member id.
    pub leader_id: Option<String>,
    /// Members in join order.
    pub members: Vec<MemberSummary>,
    /// Members that were given an id (KIP-394) but have not joined with it yet.
    pub pending_member_ids: Vec<String>,
    /// Committed offsets, by topic then partition.
    pub committed_offsets: Vec<CommittedOffsetSummary>,
}

/// A read-only view of a group member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSummary {
    /// The member id.
    pub member_id: String,
    /// The static instance id, if the member sent one.
    pub group_instance_id: Option<String>,
    /// The client id of its last JoinGroup.
    pub client_id: String,
    /// Its session timeout.
    pub session_timeout_ms: i32,
    /// Its rebalance timeout.
    pub rebalance_timeout_ms: i32,
    /// Its assignment from the last SyncGroup of the leader (opaque bytes).
    pub assignment: Bytes,
    /// It has a JoinGroup parked.
    pub awaiting_join: bool,
    /// It has a SyncGroup parked.
    pub awaiting_sync: bool,
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffsetSummary {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The committed offset.
    pub offset: i64,
    /// The leader epoch sent with the commit (-1 when absent).
    pub leader_epoch: i32,
    /// The metadata string sent with the commit.
    pub metadata: String,
}

/// A `StrBytes` copy of `s`.
pub(crate) fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

#[cfg(test)]
mod tests;
