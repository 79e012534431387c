//! One classic group: its state machine, members, parked requests and deadlines.
//!
//! Owns the rules every group API shares, after Kafka's `GroupCoordinator`/`GroupMetadata`:
//! - **Join phase** (`PreparingRebalance`): ends when every member has a JoinGroup parked and no
//!   KIP-394 pending member is outstanding, or at the rebalance timeout (the largest of the members'
//!   rebalance timeouts); members that did not rejoin by then are removed. A rebalance of an
//!   `Empty` group is an *initial delayed join*: it waits `group.initial.rebalance.delay.ms`, and
//!   extends by that delay (up to the rebalance timeout) while new members keep arriving.
//! - **Completion**: generation + 1, a protocol chosen by the members' votes, a leader (the previous
//!   one if still a member, else the first member), join responses (the leader's lists every
//!   member's metadata), state `CompletingRebalance`, and a *pending sync* deadline at the rebalance
//!   timeout.
//! - **Pending sync**: members that have not sent SyncGroup by the deadline are removed and a
//!   rebalance starts; parked SyncGroups are then answered with REBALANCE_IN_PROGRESS.
//! - **Sessions**: each member's session deadline is refreshed by every valid JoinGroup response,
//!   SyncGroup, Heartbeat and OffsetCommit; a member past it is removed and the group rebalances. A
//!   member with a parked JoinGroup or SyncGroup does not expire (Kafka: awaiting a rebalance counts
//!   as a heartbeat); the join phase and pending-sync deadlines bound those waits instead.
//!
//! It does not decode requests or check versions: the per-API modules do, and call in here.
//!
//! # References
//! - Kafka `GroupCoordinator.scala`: `prepareRebalance`, `onCompleteJoin`, `onExpireHeartbeat`,
//!   `removeMemberAndUpdateGroup`, `InitialDelayedJoin`, pending-sync expiration (KAFKA-13107).
//! - KIP-394 (pending members), KIP-134 (initial rebalance delay).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use indexmap::IndexMap;

use super::answer::{JoinOutcome, JoinedMember, join_response, sync_error, sync_response};
use super::{CommittedOffsetSummary, GroupSummary, MemberSummary, Settings, error_code};
use crate::{BrokerTime, Completion, ResponseToken};

/// Kafka's group states (classic protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupState {
    /// No members (the group may still hold committed offsets).
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment.
    CompletingRebalance,
    /// Assigned; members heartbeat.
    Stable,
    /// Removed. DeleteGroups takes a group out of the table at once, so no group is ever in this
    /// state; unknown groups are described as Dead, as Kafka does.
    Dead,
}

impl GroupState {
    /// The name Kafka uses in DescribeGroups and ListGroups.
    pub fn name(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::PreparingRebalance => "PreparingRebalance",
            Self::CompletingRebalance => "CompletingRebalance",
            Self::Stable => "Stable",
            Self::Dead => "Dead",
        }
    }
}

/// A member of a group.
#[derive(Debug)]
pub(crate) struct Member {
    pub member_id: String,
    /// KIP-345 static instance id: the member's identity across restarts.
    pub group_instance_id: Option<String>,
    /// From the JoinGroup request header; shown by DescribeGroups.
    pub client_id: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    /// The protocols (assignors) the member supports, in its order of preference, with their
    /// opaque metadata.
    pub protocols: Vec<(String, Bytes)>,
    /// Opaque assignment from the leader's SyncGroup.
    pub assignment: Bytes,
    /// The member is removed when `now` passes this, unless it awaits a join or sync.
    pub session_deadline: BrokerTime,
    /// A JoinGroup parked until the join phase completes.
    pub awaiting_join: Option<ResponseToken>,
    /// A SyncGroup parked until the leader's assignment arrives.
    pub awaiting_sync: Option<ResponseToken>,
}

impl Member {
    /// The member's metadata for `protocol` (empty if it does not support it).
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, metadata)| metadata.clone())
            .unwrap_or_default()
    }

    /// Same protocols, in the same order, with the same metadata.
    pub fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|(name, _)| name == protocol)
    }

    fn can_expire(&self) -> bool {
        self.awaiting_join.is_none() && self.awaiting_sync.is_none()
    }

    /// Answers the member's parked JoinGroup and SyncGroup, if any, with the error `code`.
    fn answer_parked(&mut self, code: i16, out: &mut Vec<Completion>) {
        if let Some(token) = self.awaiting_join.take() {
            let response =
                join_response(token.api_version, JoinOutcome::error(&self.member_id, code));
            out.push(Completion {
                token,
                response: response.into(),
            });
        }
        if let Some(token) = self.awaiting_sync.take() {
            let response = sync_error(token.api_version, code);
            out.push(Completion {
                token,
                response: response.into(),
            });
        }
    }

    fn summary(&self) -> MemberSummary {
        MemberSummary {
            member_id: self.member_id.clone(),
            group_instance_id: self.group_instance_id.clone(),
            client_id: self.client_id.clone(),
            session_timeout_ms: duration_ms(self.session_timeout),
            rebalance_timeout_ms: duration_ms(self.rebalance_timeout),
            assignment: self.assignment.clone(),
            awaiting_join: self.awaiting_join.is_some(),
            awaiting_sync: self.awaiting_sync.is_some(),
        }
    }
}

fn duration_ms(duration: Duration) -> i32 {
    i32::try_from(duration.as_millis()).unwrap_or(i32::MAX)
}

/// A running join phase.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JoinPhase {
    /// When the phase ends (or, for an initial delayed join, is reconsidered).
    pub deadline: BrokerTime,
    /// Set for the initial delayed join of an Empty group.
    pub initial: Option<InitialDelay>,
}

/// Kafka's `InitialDelayedJoin`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InitialDelay {
    /// `group.initial.rebalance.delay.ms`.
    pub delay: Duration,
    /// How much longer the phase may still be extended (rebalance timeout minus delays so far).
    pub remaining: Duration,
    /// A member joined since the phase started or was last extended.
    pub new_member_added: bool,
}

/// An offset committed to a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
}

/// One group. See the module docs.
#[derive(Debug)]
pub(crate) struct Group {
    pub id: String,
    pub state: GroupState,
    pub generation_id: i32,
    /// Set by the first member to join an empty group.
    pub protocol_type: Option<String>,
    /// Chosen when a join phase completes with members.
    pub protocol_name: Option<String>,
    pub leader_id: Option<String>,
    /// Members in join order (the first is the default leader).
    pub members: IndexMap<String, Member>,
    /// KIP-394: member ids handed out with MEMBER_ID_REQUIRED, with their expiry.
    pub pending_members: BTreeMap<String, BrokerTime>,
    /// Members that have not sent SyncGroup since the last join phase completed.
    pub pending_sync: BTreeSet<String>,
    pub join_phase: Option<JoinPhase>,
    /// End of the pending sync (while `pending_sync` is not empty).
    pub sync_deadline: Option<BrokerTime>,
    /// Committed offsets by (topic, partition).
    pub offsets: BTreeMap<(String, i32), CommittedOffset>,
}

impl Group {
    pub fn new(id: String) -> Self {
        Self {
            id,
            state: GroupState::Empty,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader_id: None,
            members: IndexMap::new(),
            pending_members: BTreeMap::new(),
            pending_sync: BTreeSet::new(),
            join_phase: None,
            sync_deadline: None,
            offsets: BTreeMap::new(),
        }
    }

    pub fn summary(&self) -> GroupSummary {
        GroupSummary {
            group_id: self.id.clone(),
            state: self.state,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader_id: self.leader_id.clone(),
            members: self.members.values().map(Member::summary).collect(),
            pending_member_ids: self.pending_members.keys().cloned().collect(),
            committed_offsets: self
                .offsets
                .iter()
                .map(|((topic, partition), committed)| CommittedOffsetSummary {
                    topic: topic.clone(),
                    partition: *partition,
                    offset: committed.offset,
                    leader_epoch: committed.leader_epoch,
                    metadata: committed.metadata.clone(),
                })
                .collect(),
        }
    }

    /// Members plus pending members: what `group.max.size` bounds.
    pub fn size(&self) -> usize {
        self.members.len() + self.pending_members.len()
    }

    pub fn is_leader(&self, member_id: &str) -> bool {
        self.leader_id.as_deref() == Some(member_id)
    }

    /// Kafka's `supportsProtocols`: an empty group takes any non-empty protocol type and list;
    /// otherwise the type must match and one protocol must be supported by every member.
    pub fn supports_protocols(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols
                .iter()
                .any(|(name, _)| self.members.values().all(|m| m.supports(name)))
    }

    /// The group-wide rebalance timeout: the largest over members.
    pub fn rebalance_timeout(&self) -> Duration {
        self.members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default()
    }

    /// The earliest moment this group needs `handle_timeout`.
    pub fn next_deadline(&self) -> Option<BrokerTime> {
        let sessions = self
            .members
            .values()
            .filter(|m| m.can_expire())
            .map(|m| m.session_deadline);
        let pending = self.pending_members.values().copied();
        sessions
            .chain(pending)
            .chain(self.join_phase.map(|phase| phase.deadline))
            .chain(self.sync_deadline)
            .min()
    }

    /// Fires every deadline due at `now`.
    pub fn handle_timeout(
        &mut self,
        now: BrokerTime,
        settings: &Settings,
        out: &mut Vec<Completion>,
    ) {
        let expired_pending: Vec<String> = self
            .pending_members
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for member_id in &expired_pending {
            tracing::debug!(group = %self.id, %member_id, "pending member expired");
            self.pending_members.remove(member_id);
        }
        if !expired_pending.is_empty() {
            self.poll_join(now, out);
        }
        if self.join_phase.is_some_and(|phase| phase.deadline <= now) {
            self.on_join_deadline(now, out);
        }
        if self.sync_deadline.is_some_and(|deadline| deadline <= now) {
            self.expire_pending_sync(now, settings, out);
        }
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| m.can_expire() && m.session_deadline <= now)
            .map(|m| m.member_id.clone())
            .collect();
        for member_id in expired {
            tracing::debug!(group = %self.id, %member_id, "member session expired");
            self.remove_member(&member_id, now, settings, out);
        }
    }

    /// Adds a member with a parked join and starts or continues a rebalance (Kafka's
    /// `addMemberAndRebalance`).
    pub fn add_member_and_rebalance(
        &mut self,
        member: Member,
        now: BrokerTime,
        settings: &Settings,
        out: &mut Vec<Completion>,
    ) {
        if self.state == GroupState::PreparingRebalance
            && let Some(JoinPhase {
                initial: Some(initial),
                ..
            }) = self.join_phase.as_mut()
        {
            initial.new_member_added = true;
        }
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if self.leader_id.is_none() {
            self.leader_id = Some(member.member_id.clone());
        }
        self.pending_members.remove(&member.member_id);
        self.members.insert(member.member_id.clone(), member);
        self.maybe_prepare_rebalance(now, settings, out);
        self.poll_join(now, out);
    }

    /// Starts a rebalance unless one is already being prepared.
    pub fn maybe_prepare_rebalance(
        &mut self,
        now: BrokerTime,
        settings: &Settings,
        out: &mut Vec<Completion>,
    ) {
        if matches!(
            self.state,
            GroupState::Empty | GroupState::Stable | GroupState::CompletingRebalance
        ) {
            self.prepare_rebalance(now, settings, out);
        }
    }

    /// Kafka's `prepareRebalance`: answers parked syncs with REBALANCE_IN_PROGRESS, drops the
    /// pending sync, and starts a join phase (an initial delayed one if the group is Empty).
    fn prepare_rebalance(
        &mut self,
        now: BrokerTime,
        settings: &Settings,
        out: &mut Vec<Completion>,
    ) {
        if self.state == GroupState::CompletingRebalance {
            for member in self.members.values_mut() {
                if let Some(token) = member.awaiting_sync.take() {
                    // As Kafka's propagateAssignment: an answered sync restarts the session.
                    member.session_deadline = now + member.session_timeout;
                    let response = sync_error(token.api_version, error_code::REBALANCE_IN_PROGRESS);
                    out.push(Completion {
                        token,
                        response: response.into(),
                    });
                }
            }
        }
        self.pending_sync.clear();
        self.sync_deadline = None;
        let rebalance_timeout = self.rebalance_timeout();
        self.join_phase = Some(if self.state == GroupState::Empty {
            let delay = settings.initial_rebalance_delay;
            JoinPhase {
                deadline: now + delay,
                initial: Some(InitialDelay {
                    delay,
                    remaining: rebalance_timeout.saturating_sub(delay),
                    new_member_added: false,
                }),
            }
        } else {
            JoinPhase {
                deadline: now + rebalance_timeout,
                initial: None,
            }
        });
        tracing::debug!(group = %self.id, from = self.state.name(), "preparing rebalance");
        self.state = GroupState::PreparingRebalance;
        self.poll_join(now, out);
    }

    /// Every member has a join parked and no pending member is outstanding.
    fn all_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.awaiting_join.is_some())
    }

    /// Completes the join phase if it can complete now (Kafka's `tryComplete` of the delayed join).
    pub fn poll_join(&mut self, now: BrokerTime, out: &mut Vec<Completion>) {
        let Some(phase) = self.join_phase else {
            return;
        };
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        if self.members.is_empty() && self.pending_members.is_empty() {
            // Everyone left: nothing to wait for, not even the initial delay.
            return self.complete_join(now, out);
        }
        let due = phase.deadline <= now;
        if phase.initial.is_some() {
            if due {
                self.on_join_deadline(now, out);
            }
        } else if due || self.all_joined() {
            self.complete_join(now, out);
        }
    }

    /// The join phase deadline passed: extend an initial delayed join if members keep arriving,
    /// otherwise complete (evicting members that did not rejoin).
    fn on_join_deadline(&mut self, now: BrokerTime, out: &mut Vec<Completion>) {
        let Some(phase) = self.join_phase.as_mut() else {
            return;
        };
        if let Some(initial) = phase.initial.as_mut()
            && initial.new_member_added
            && !initial.remaining.is_zero()
        {
            let extension = initial.delay.min(initial.remaining);
            phase.deadline = now + extension;
            initial.remaining = initial.remaining.saturating_sub(initial.delay);
            initial.new_member_added = false;
            if !extension.is_zero() {
                return;
            }
        }
        self.complete_join(now, out);
    }

    /// Kafka's `onCompleteJoin`.
    fn complete_join(&mut self, now: BrokerTime, out: &mut Vec<Completion>) {
        self.join_phase = None;
        let not_rejoined: Vec<String> = self
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for member_id in &not_rejoined {
            tracing::debug!(group = %self.id, %member_id, "member did not rejoin in time");
            self.remove_member_only(member_id, out);
        }
        self.generation_id = self.generation_id.wrapping_add(1);
        if self.members.is_empty() {
            self.protocol_name = None;
            self.leader_id = None;
            self.state = GroupState::Empty;
            return;
        }
        let protocol = self.select_protocol();
        self.protocol_name = Some(protocol.clone());
        self.state = GroupState::CompletingRebalance;
        if !self
            .leader_id
            .as_ref()
            .is_some_and(|leader| self.members.contains_key(leader))
        {
            self.leader_id = self.members.keys().next().cloned();
        }
        let leader = self.leader_id.clone().unwrap_or_default();
        let all_members: Vec<JoinedMember> = self
            .members
            .values()
            .map(|m| JoinedMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata(&protocol),
            })
            .collect();
        for member in self.members.values_mut() {
            member.session_deadline = now + member.session_timeout;
            let Some(token) = member.awaiting_join.take() else {
                continue;
            };
            let outcome = JoinOutcome {
                error_code: error_code::NONE,
                generation_id: self.generation_id,
                protocol_type: self.protocol_type.clone(),
                protocol_name: Some(protocol.clone()),
                leader: leader.clone(),
                member_id: member.member_id.clone(),
                members: if member.member_id == leader {
                    all_members.clone()
                } else {
                    Vec::new()
                },
            };
            let response = join_response(token.api_version, outcome);
            out.push(Completion {
                token,
                response: response.into(),
            });
        }
        self.pending_sync = self.members.keys().cloned().collect();
        self.sync_deadline = Some(now + self.rebalance_timeout());
        tracing::debug!(
            group = %self.id,
            generation = self.generation_id,
            %protocol,
            %leader,
            "join phase complete"
        );
    }

    /// Kafka's `selectProtocol`: among the protocols every member supports, each member votes for
    /// its most preferred one; most votes wins, ties go to the leader's preference.
    fn select_protocol(&self) -> String {
        let reference = self
            .leader_id
            .as_ref()
            .and_then(|leader| self.members.get(leader))
            .or_else(|| self.members.values().next());
        let Some(reference) = reference else {
            return String::new();
        };
        let candidates: Vec<&str> = reference
            .protocols
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| self.members.values().all(|m| m.supports(name)))
            .collect();
        let mut votes = vec![0usize; candidates.len()];
        for member in self.members.values() {
            let choice = member
                .protocols
                .iter()
                .find_map(|(name, _)| candidates.iter().position(|c| c == name));
            if let Some(index) = choice {
                votes[index] += 1;
            }
        }
        let mut best: Option<(usize, usize)> = None;
        for (index, count) in votes.iter().enumerate() {
            if best.is_none_or(|(_, best_count)| *count > best_count) {
                best = Some((index, *count));
            }
        }
        match best {
            Some((index, _)) => candidates[index].to_owned(),
            // Unreachable while joins are checked with `supports_protocols`; never panic on it.
            None => reference
                .protocols
                .first()
                .map(|(name, _)| name.clone())
                .unwrap_or_default(),
        }
    }

    /// Removes a member and lets the group react (Kafka's `removeMemberAndUpdateGroup`): a
    /// rebalance from Stable or CompletingRebalance, a join-phase check while preparing one.
    pub fn remove_member(
        &mut self,
        member_id: &str,
        now: BrokerTime,
        settings: &Settings,
        out: &mut Vec<Completion>,
    ) {
        if !self.remove_member_only(member_id, out) {
            return;
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => {}
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(now, settings, out);
            }
            GroupState::PreparingRebalance => self.poll_join(now, out),
        }
    }

    /// Removes a KIP-394 pending member; a join phase may now be complete.
    pub fn remove_pending_member(
        &mut self,
        member_id: &str,
        now: BrokerTime,
        out: &mut Vec<Completion>,
    ) {
        if self.pending_members.remove(member_id).is_some() {
            self.poll_join(now, out);
        }
    }

    /// Removes a member without starting a rebalance; its parked requests get UNKNOWN_MEMBER_ID.
    fn remove_member_only(&mut self, member_id: &str, out: &mut Vec<Completion>) -> bool {
        let Some(mut member) = self.members.shift_remove(member_id) else {
            return false;
        };
        member.answer_parked(error_code::UNKNOWN_MEMBER_ID, out);
        self.pending_sync.remove(member_id);
        if self.pending_sync.is_empty() {
            self.sync_deadline = None;
        }
        if self.is_leader(member_id) {
            self.leader_id = self.members.keys().next().cloned();
        }
        true
    }

    /// The pending sync deadline passed: remove the members that did not sync, then rebalance.
    fn expire_pending_sync(
        &mut self,
        now: BrokerTime,
        settings: &Settings,
        out: &mut Vec<Completion>,
    ) {
        self.sync_deadline = None;
        if !matches!(
            self.state,
            GroupState::CompletingRebalance | GroupState::Stable
        ) || self.pending_sync.is_empty()
        {
            self.pending_sync.clear();
            return;
        }
        let not_synced: Vec<String> = std::mem::take(&mut self.pending_sync).into_iter().collect();
        for member_id in &not_synced {
            tracing::debug!(group = %self.id, %member_id, "member did not sync in time");
            self.remove_member_only(member_id, out);
        }
        self.prepare_rebalance(now, settings, out);
    }

    /// The leader's assignment arrived: store it (members it omits get an empty assignment),
    /// answer every parked sync, and become Stable.
    pub fn set_assignment(
        &mut self,
        mut assignments: BTreeMap<String, Bytes>,
        now: BrokerTime,
        out: &mut Vec<Completion>,
    ) {
        let protocol_type = self.protocol_type.clone();
        let protocol_name = self.protocol_name.clone();
        for member in self.members.values_mut() {
            member.assignment = assignments.remove(&member.member_id).unwrap_or_default();
            if let Some(token) = member.awaiting_sync.take() {
                member.session_deadline = now + member.session_timeout;
                let response = sync_response(
                    token.api_version,
                    error_code::NONE,
                    member.assignment.clone(),
                    protocol_type.as_deref(),
                    protocol_name.as_deref(),
                );
                out.push(Completion {
                    token,
                    response: response.into(),
                });
            }
        }
        self.state = GroupState::Stable;
        tracing::debug!(group = %self.id, generation = self.generation_id, "group stable");
    }

    /// Join results of the current generation for an existing member (Kafka answers a rejoin with
    /// unchanged metadata this way instead of rebalancing).
    pub fn current_join_outcome(&self, member_id: &str, include_members: bool) -> JoinOutcome {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        JoinOutcome {
            error_code: error_code::NONE,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader_id.clone().unwrap_or_default(),
            member_id: member_id.to_owned(),
            members: if include_members {
                self.members
                    .values()
                    .map(|m| JoinedMember {
                        member_id: m.member_id.clone(),
                        group_instance_id: m.group_instance_id.clone(),
                        metadata: m.metadata(&protocol),
                    })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    /// KIP-345: the member id registered under a static instance id.
    pub fn static_member_id(&self, instance_id: &str) -> Option<&str> {
        self.members
            .values()
            .find(|m| m.group_instance_id.as_deref() == Some(instance_id))
            .map(|m| m.member_id.as_str())
    }

    /// KIP-345: the request names an instance id registered to another member id.
    pub fn is_static_member_fenced(&self, instance_id: Option<&str>, member_id: &str) -> bool {
        instance_id
            .and_then(|instance_id| self.static_member_id(instance_id))
            .is_some_and(|registered| registered != member_id)
    }

    /// KIP-345 (Kafka's `replaceStaticMember`): the static member `old_member_id` restarted and
    /// is now `new_member_id`, keeping its place, assignment and leadership. Requests the old
    /// incarnation had parked are answered with FENCED_INSTANCE_ID.
    pub fn replace_static_member(
        &mut self,
        old_member_id: &str,
        new_member_id: &str,
        out: &mut Vec<Completion>,
    ) {
        let Some(index) = self.members.get_index_of(old_member_id) else {
            return;
        };
        let Some((_, mut member)) = self.members.shift_remove_index(index) else {
            return;
        };
        member.answer_parked(error_code::FENCED_INSTANCE_ID, out);
        member.member_id = new_member_id.to_owned();
        self.members
            .shift_insert(index, new_member_id.to_owned(), member);
        if self.pending_sync.remove(old_member_id) {
            self.pending_sync.insert(new_member_id.to_owned());
        }
        if self.is_leader(old_member_id) {
            self.leader_id = Some(new_member_id.to_owned());
        }
    }

    /// The protocol the next join phase would choose with the current members.
    pub fn next_protocol(&self) -> String {
        self.select_protocol()
    }

    /// Kafka's `onGroupUnloaded`: this broker stops coordinating the group, and every parked
    /// JoinGroup and SyncGroup is answered NOT_COORDINATOR (the member looks the coordinator up
    /// again and rejoins). The group's state is left for the caller to drop.
    pub fn unload(&mut self, out: &mut Vec<Completion>) {
        for member in self.members.values_mut() {
            member.answer_parked(error_code::NOT_COORDINATOR, out);
        }
    }

    /// Refreshes a member's session (a valid heartbeat, sync or commit).
    pub fn touch(&mut self, member_id: &str, now: BrokerTime) {
        if let Some(member) = self.members.get_mut(member_id) {
            member.session_deadline = now + member.session_timeout;
        }
    }
}
