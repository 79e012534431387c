//! One KIP-848 consumer group: members and their epochs, the subscription, the target assignment,
//! partition owners, resolved regular expressions, committed offsets and deadlines.
//!
//! The rules every consumer group API shares, after Kafka's `ConsumerGroup` and
//! `GroupMetadataManager`:
//! - **Epochs.** The *group epoch* goes up whenever the group's subscription changes (a member
//!   joins, leaves or subscribes differently; a subscribed topic appears, disappears or grows
//!   partitions); the *assignment epoch* is the group epoch the target assignment was computed
//!   for; each member has a *member epoch*, the assignment epoch it has reconciled to.
//! - **State** (derived, as Kafka's `maybeUpdateGroupState`): Empty without members; Assigning
//!   while the group epoch is ahead of the assignment epoch; Reconciling while a member is not
//!   Stable at the assignment epoch; otherwise Stable.
//! - **Partition owners.** Every partition a member has assigned or pending revocation is owned at
//!   that member's epoch; a partition is free for another member only once released.
//! - **Fencing** (leave with epoch -1, session timeout, rebalance timeout): the member and its
//!   target assignment go, its partitions are freed, and the group epoch goes up. The target is
//!   recomputed at the next heartbeat, as in Kafka.
//!
//! It does not decode requests: `heartbeat.rs` does, and calls in here.
//!
//! # References
//! - Kafka `ConsumerGroup`, `ModernGroup`, `GroupMetadataManager.consumerGroupHeartbeat` /
//!   `consumerGroupFenceMember` / `updateTargetAssignment` / `maybeUpdateRegularExpressions`,
//!   `TargetAssignmentBuilder` (4.0).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use uuid::Uuid;

use super::assignor::{self, AssignorMember, AssignorTopic};
use super::member::{Assignment, Member};
use super::regex::TopicRegex;
use crate::BrokerTime;
use crate::group::TopicCatalog;
use crate::group::state::CommittedOffset;

/// How often Kafka re-resolves a group's regular expressions at most
/// (`REGEX_BATCH_REFRESH_INTERVAL_MS`).
pub(crate) const REGEX_REFRESH_INTERVAL: Duration = Duration::from_secs(10);

/// Kafka's `ConsumerGroupState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConsumerGroupState {
    /// No members (the group may still hold committed offsets).
    Empty,
    /// The target assignment is behind the group epoch.
    Assigning,
    /// Some member has not reconciled to the target assignment yet.
    Reconciling,
    /// Every member owns its target assignment.
    Stable,
}

impl ConsumerGroupState {
    /// The name Kafka uses in ConsumerGroupDescribe and ListGroups.
    pub fn name(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::Assigning => "Assigning",
            Self::Reconciling => "Reconciling",
            Self::Stable => "Stable",
        }
    }
}

/// A subscribed topic that exists (Kafka's `TopicMetadata` in the subscription metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SubscribedTopic {
    pub topic_id: Uuid,
    pub partitions: i32,
}

/// The topics a regular expression resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvedRegex {
    pub topics: BTreeSet<String>,
}

/// One consumer group. See the module docs.
#[derive(Debug, Clone)]
pub(crate) struct ConsumerGroup {
    pub id: String,
    pub group_epoch: i32,
    /// The group epoch the target assignment was computed at.
    pub assignment_epoch: i32,
    /// Members by member id.
    pub members: BTreeMap<String, Member>,
    /// Static members: instance id → member id.
    pub static_members: BTreeMap<String, String>,
    /// Target assignment by member id.
    pub target: BTreeMap<String, Assignment>,
    /// Owner epoch of every partition some member owns or is revoking.
    pub partition_epochs: BTreeMap<(Uuid, i32), i32>,
    /// Subscribed topics that exist, by name.
    pub subscription_metadata: BTreeMap<String, SubscribedTopic>,
    /// Resolved regular expressions of the members, by pattern.
    pub resolved_regexes: BTreeMap<String, ResolvedRegex>,
    /// When the regular expressions were last resolved.
    pub last_regex_refresh: Option<BrokerTime>,
    /// Committed offsets by (topic, partition).
    pub offsets: BTreeMap<(String, i32), CommittedOffset>,
}

impl ConsumerGroup {
    pub fn new(id: String) -> Self {
        Self {
            id,
            group_epoch: 0,
            assignment_epoch: 0,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            target: BTreeMap::new(),
            partition_epochs: BTreeMap::new(),
            subscription_metadata: BTreeMap::new(),
            resolved_regexes: BTreeMap::new(),
            last_regex_refresh: None,
            offsets: BTreeMap::new(),
        }
    }

    /// Kafka's `maybeUpdateGroupState`, computed on demand.
    pub fn state(&self) -> ConsumerGroupState {
        if self.members.is_empty() {
            ConsumerGroupState::Empty
        } else if self.group_epoch > self.assignment_epoch {
            ConsumerGroupState::Assigning
        } else if self
            .members
            .values()
            .any(|m| !m.is_reconciled_to(self.assignment_epoch))
        {
            ConsumerGroupState::Reconciling
        } else {
            ConsumerGroupState::Stable
        }
    }

    /// The member registered under a static instance id.
    pub fn static_member(&self, instance_id: &str) -> Option<&Member> {
        self.static_members
            .get(instance_id)
            .and_then(|member_id| self.members.get(member_id))
    }

    /// The owner epoch of a partition, if a member owns it.
    pub fn partition_owner_epoch(&self, topic_id: Uuid, partition: i32) -> Option<i32> {
        self.partition_epochs.get(&(topic_id, partition)).copied()
    }

    /// Stores `member` (new or updated), keeping partition owners and static members in step
    /// (Kafka's `updateMember` with `maybeUpdatePartitionEpoch`).
    pub fn put_member(&mut self, member: Member) {
        if let Some(old) = self.members.get(&member.member_id) {
            let old = old.clone();
            self.release_partitions(&old);
        }
        for (topic_id, partitions) in member
            .assigned
            .iter()
            .chain(member.pending_revocation.iter())
        {
            for partition in partitions {
                self.partition_epochs
                    .insert((*topic_id, *partition), member.member_epoch);
            }
        }
        if let Some(instance_id) = &member.instance_id {
            self.static_members
                .insert(instance_id.clone(), member.member_id.clone());
        }
        self.members.insert(member.member_id.clone(), member);
    }

    /// Frees the partitions `member` owns at its epoch (Kafka's `removePartitionEpochs`).
    fn release_partitions(&mut self, member: &Member) {
        for (topic_id, partitions) in member
            .assigned
            .iter()
            .chain(member.pending_revocation.iter())
        {
            for partition in partitions {
                let key = (*topic_id, *partition);
                if self.partition_epochs.get(&key) == Some(&member.member_epoch) {
                    self.partition_epochs.remove(&key);
                }
            }
        }
    }

    /// Removes a member, its target assignment and its partition ownership (Kafka's
    /// `removeMember` records replayed).
    pub fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        let member = self.members.remove(member_id)?;
        self.release_partitions(&member);
        self.target.remove(member_id);
        if let Some(instance_id) = &member.instance_id
            && self.static_members.get(instance_id).map(String::as_str) == Some(member_id)
        {
            self.static_members.remove(instance_id);
        }
        Some(member)
    }

    /// Kafka's `consumerGroupFenceMember` (without the downgrade): the member goes, the
    /// subscription metadata is recomputed, the group epoch goes up.
    pub fn fence_member(&mut self, member_id: &str, topics: &dyn TopicCatalog) -> bool {
        if self.remove_member(member_id).is_none() {
            return false;
        }
        self.subscription_metadata = self.compute_subscription_metadata(topics);
        self.resolved_regexes.retain(|regex, _| {
            self.members
                .values()
                .any(|m| m.subscribed_topic_regex.as_deref() == Some(regex))
        });
        self.group_epoch = self.group_epoch.saturating_add(1);
        true
    }

    /// Every topic name some member subscribes to, by name or through its resolved regex.
    pub fn subscribed_topic_names(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for member in self.members.values() {
            names.extend(self.member_topic_names(member));
        }
        names
    }

    /// The topic names one member subscribes to.
    pub fn member_topic_names(&self, member: &Member) -> BTreeSet<String> {
        let mut names: BTreeSet<String> = member.subscribed_topic_names.iter().cloned().collect();
        if let Some(resolved) = member
            .subscribed_topic_regex
            .as_ref()
            .and_then(|regex| self.resolved_regexes.get(regex))
        {
            names.extend(resolved.topics.iter().cloned());
        }
        names
    }

    /// Kafka's `computeSubscriptionMetadata`: the subscribed topics that exist.
    pub fn compute_subscription_metadata(
        &self,
        topics: &dyn TopicCatalog,
    ) -> BTreeMap<String, SubscribedTopic> {
        self.subscribed_topic_names()
            .into_iter()
            .filter_map(|name| {
                let partitions = topics.partition_count(&name)?;
                let topic_id = topics.topic_id(&name)?;
                Some((
                    name,
                    SubscribedTopic {
                        topic_id,
                        partitions,
                    },
                ))
            })
            .collect()
    }

    /// The regular expressions members subscribe to.
    pub fn subscribed_regexes(&self) -> BTreeSet<String> {
        self.members
            .values()
            .filter_map(|m| m.subscribed_topic_regex.clone())
            .filter(|regex| !regex.is_empty())
            .collect()
    }

    /// Resolves every subscribed regular expression against the topics (Kafka's
    /// `refreshRegularExpressions` + `handleRegularExpressionsResult`, run at once). Returns
    /// whether a resolution changed. Patterns were validated when a member brought them; one that
    /// no longer compiles resolves to nothing.
    pub fn refresh_regexes(&mut self, topics: &dyn TopicCatalog, now: BrokerTime) -> bool {
        let names = topics.topic_names();
        let mut changed = false;
        let mut resolved = BTreeMap::new();
        for regex in self.subscribed_regexes() {
            let matching: BTreeSet<String> = match TopicRegex::compile(&regex) {
                Ok(compiled) => names
                    .iter()
                    .filter(|name| compiled.matches(name))
                    .cloned()
                    .collect(),
                Err(_) => BTreeSet::new(),
            };
            let old = self.resolved_regexes.get(&regex).map(|r| &r.topics);
            changed |= old != Some(&matching) && !(old.is_none() && matching.is_empty());
            resolved.insert(regex, ResolvedRegex { topics: matching });
        }
        self.resolved_regexes = resolved;
        self.last_regex_refresh = Some(now);
        changed
    }

    /// The regexes are due for a refresh: one is unresolved, or the last refresh is older than
    /// [`REGEX_REFRESH_INTERVAL`].
    pub fn regexes_need_refresh(&self, now: BrokerTime) -> bool {
        let regexes = self.subscribed_regexes();
        if regexes.is_empty() {
            return false;
        }
        regexes
            .iter()
            .any(|r| !self.resolved_regexes.contains_key(r))
            || self
                .last_regex_refresh
                .is_none_or(|at| now.saturating_duration_since(at) >= REGEX_REFRESH_INTERVAL)
    }

    /// Kafka's `computePreferredServerAssignor`: the assignor most members asked for (ties to the
    /// first name), else the default.
    pub fn preferred_assignor(&self) -> &'static str {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for member in self.members.values() {
            if let Some(name) = &member.server_assignor {
                *counts.entry(name.as_str()).or_default() += 1;
            }
        }
        let mut best: Option<(&str, usize)> = None;
        for (name, count) in counts {
            if best.is_none_or(|(_, best_count)| count > best_count) {
                best = Some((name, count));
            }
        }
        let name = best.map_or(assignor::UNIFORM, |(name, _)| name);
        assignor::ASSIGNORS
            .iter()
            .copied()
            .find(|known| *known == name)
            .unwrap_or(assignor::UNIFORM)
    }

    /// Kafka's `subscriptionType`: homogeneous when every member subscribes to the same topics.
    fn is_homogeneous(&self) -> bool {
        let mut subscriptions = self.members.values().map(|m| self.member_topic_names(m));
        match subscriptions.next() {
            None => true,
            Some(first) => subscriptions.all(|s| s == first),
        }
    }

    /// Kafka's `updateTargetAssignment` for every member: runs the preferred assignor over the
    /// members and the subscription metadata, stores the result at the group epoch.
    pub fn compute_target_assignment(&mut self) {
        let topics: BTreeMap<Uuid, AssignorTopic> = self
            .subscription_metadata
            .iter()
            .map(|(name, topic)| {
                (
                    topic.topic_id,
                    AssignorTopic {
                        name: name.clone(),
                        partitions: topic.partitions,
                    },
                )
            })
            .collect();
        let empty = Assignment::new();
        let members: Vec<AssignorMember<'_>> = self
            .members
            .values()
            .map(|m| AssignorMember {
                member_id: &m.member_id,
                instance_id: m.instance_id.as_deref(),
                topics: self
                    .member_topic_names(m)
                    .iter()
                    .filter_map(|name| self.subscription_metadata.get(name))
                    .map(|topic| topic.topic_id)
                    .collect(),
                current: self.target.get(&m.member_id).unwrap_or(&empty),
            })
            .collect();
        let target = assignor::assign(
            self.preferred_assignor(),
            &members,
            &topics,
            self.is_homogeneous(),
        );
        self.target = target;
        self.assignment_epoch = self.group_epoch;
    }

    /// The topic name of an id the group knows (from its subscription metadata).
    pub fn topic_name(&self, topic_id: Uuid) -> Option<&str> {
        self.subscription_metadata
            .iter()
            .find(|(_, topic)| topic.topic_id == topic_id)
            .map(|(name, _)| name.as_str())
    }

    /// The earliest session or rebalance deadline of a member.
    pub fn next_deadline(&self) -> Option<BrokerTime> {
        self.members
            .values()
            .flat_map(|m| {
                std::iter::once(m.session_deadline)
                    .chain(m.rebalance_deadline.map(|(deadline, _)| deadline))
            })
            .min()
    }

    /// Members whose session or rebalance timeout has passed at `now`, with the reason.
    pub fn expired_members(&self, now: BrokerTime) -> Vec<(String, &'static str)> {
        self.members
            .values()
            .filter_map(|m| {
                if m.session_deadline <= now {
                    Some((m.member_id.clone(), "the member session expired"))
                } else if m
                    .rebalance_deadline
                    .is_some_and(|(deadline, epoch)| deadline <= now && epoch == m.member_epoch)
                {
                    Some((
                        m.member_id.clone(),
                        "the member failed to revoke its partitions within the rebalance timeout",
                    ))
                } else {
                    None
                }
            })
            .collect()
    }
}
