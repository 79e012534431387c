//! Cluster events on the leadership values: a broker fenced (down) or unfenced (up), a leader
//! moved, an ISR set; and their typed errors. [`crate::BrokerCore`] applies them to the topics
//! (through [`crate::log::LogStore`]) and to the internal tables here, then settles what they
//! strand (`crate::cluster_events`).
//!
//! # References
//! - Kafka `PartitionChangeBuilder` (election from the ISR, the last ISR member kept),
//!   `ReplicationControlManager.handleBrokerFenced` / `handleBrokerUnfenced`.

use super::{Cluster, CoordinatorKind, NO_LEADER, PartitionLeadership};

/// A cluster operation that cannot be applied, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// No broker has this node id.
    #[error("no broker has node id {node_id}")]
    UnknownNode {
        /// The node id asked for.
        node_id: i32,
    },
    /// The broker is down: it can lead nothing and join no ISR.
    #[error("broker {node_id} is down")]
    BrokerDown {
        /// The node id.
        node_id: i32,
    },
    /// No such topic or partition.
    #[error("unknown partition {topic}-{partition}")]
    UnknownPartition {
        /// The topic asked for.
        topic: String,
        /// The partition asked for.
        partition: i32,
    },
    /// The node does not hold a replica of the partition.
    #[error("broker {node_id} is not a replica of {topic}-{partition} (replicas {replicas:?})")]
    NotAReplica {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The node asked for.
        node_id: i32,
        /// The partition's replicas.
        replicas: Vec<i32>,
    },
    /// A leader must come from the ISR (no unclean election).
    #[error("broker {node_id} is not in the ISR of {topic}-{partition} (ISR {isr:?})")]
    NotInIsr {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The node asked for.
        node_id: i32,
        /// The partition's ISR.
        isr: Vec<i32>,
    },
    /// An ISR must be a non-empty set of replicas that are up and include the leader.
    #[error("invalid ISR {isr:?} for {topic}-{partition}: {reason}")]
    InvalidIsr {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The ISR asked for.
        isr: Vec<i32>,
        /// What is wrong.
        reason: String,
    },
}

impl ClusterError {
    /// Whether the error names something that does not exist (HTTP 404) rather than an
    /// operation that cannot be done (400).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Self::UnknownNode { .. } | Self::UnknownPartition { .. }
        )
    }
}

/// Which leaders an event changed: the core completes parked fetches of moved topic partitions
/// and unloads the groups of moved `__consumer_offsets` partitions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeadershipChanges {
    /// Topic partitions whose leader changed, in topic then partition order.
    pub partitions: Vec<(String, i32)>,
    /// `__consumer_offsets` partitions whose leader changed.
    pub group_partitions: Vec<usize>,
    /// `__transaction_state` partitions whose leader changed.
    pub transaction_partitions: Vec<usize>,
}

impl LeadershipChanges {
    /// Nothing changed leader.
    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty()
            && self.group_partitions.is_empty()
            && self.transaction_partitions.is_empty()
    }
}

/// A partition's name, for errors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PartitionName<'a> {
    pub(crate) topic: &'a str,
    pub(crate) partition: i32,
}

impl PartitionLeadership {
    /// `node` is fenced: it leaves the ISR (unless it is the last member) and, if it led, the
    /// first other up ISR replica leads, or nobody. Whether the leader changed.
    pub(crate) fn fence(&mut self, node: i32, up: impl Fn(i32) -> bool) -> bool {
        if !self.replicas.contains(&node) {
            return false;
        }
        if self.isr.len() > 1 {
            self.isr.retain(|member| *member != node);
        }
        if self.leader != node {
            return false;
        }
        let next = self
            .isr
            .iter()
            .copied()
            .find(|member| *member != node && up(*member))
            .unwrap_or(NO_LEADER);
        self.set_leader(next)
    }

    /// `node` is unfenced: it rejoins the ISR if the partition has a leader to follow, or leads a
    /// leaderless partition whose ISR it is in. Whether the leader changed.
    pub(crate) fn unfence(&mut self, node: i32) -> bool {
        if !self.replicas.contains(&node) {
            return false;
        }
        if self.leader == NO_LEADER {
            return self.isr.contains(&node) && self.set_leader(node);
        }
        if !self.isr.contains(&node) {
            self.isr.push(node);
            self.sort_isr();
        }
        false
    }

    /// Moves leadership to `node`, a replica that is up and in the ISR. Whether it changed.
    pub(crate) fn move_leader(
        &mut self,
        name: PartitionName<'_>,
        node: i32,
        cluster: &Cluster,
    ) -> Result<bool, ClusterError> {
        cluster.check_up(node)?;
        if !self.replicas.contains(&node) {
            return Err(ClusterError::NotAReplica {
                topic: name.topic.to_owned(),
                partition: name.partition,
                node_id: node,
                replicas: self.replicas.clone(),
            });
        }
        if !self.isr.contains(&node) {
            return Err(ClusterError::NotInIsr {
                topic: name.topic.to_owned(),
                partition: name.partition,
                node_id: node,
                isr: self.isr.clone(),
            });
        }
        Ok(self.set_leader(node))
    }

    /// Sets the ISR: replicas that are up, each once, including the leader (a leaderless partition
    /// gets the first of them as leader). Whether the leader changed.
    pub(crate) fn set_isr(
        &mut self,
        name: PartitionName<'_>,
        isr: &[i32],
        cluster: &Cluster,
    ) -> Result<bool, ClusterError> {
        let invalid = |reason: String| ClusterError::InvalidIsr {
            topic: name.topic.to_owned(),
            partition: name.partition,
            isr: isr.to_vec(),
            reason,
        };
        if isr.is_empty() {
            return Err(invalid("an ISR needs at least one replica".into()));
        }
        for (index, node) in isr.iter().enumerate() {
            cluster.check_up(*node)?;
            if !self.replicas.contains(node) {
                return Err(invalid(format!(
                    "broker {node} is not a replica (replicas {:?})",
                    self.replicas
                )));
            }
            if isr[..index].contains(node) {
                return Err(invalid(format!("broker {node} is named more than once")));
            }
        }
        if self.leader != NO_LEADER && !isr.contains(&self.leader) {
            return Err(invalid(format!(
                "the leader {} must stay in the ISR (move the leader first)",
                self.leader
            )));
        }
        self.isr = isr.to_vec();
        self.sort_isr();
        if self.leader == NO_LEADER {
            return Ok(self.set_leader(self.isr[0]));
        }
        Ok(false)
    }
}

impl Cluster {
    /// `Ok` if the broker exists and is up.
    pub(crate) fn check_up(&self, node_id: i32) -> Result<(), ClusterError> {
        match self.broker(node_id) {
            None => Err(ClusterError::UnknownNode { node_id }),
            Some(broker) if !broker.up => Err(ClusterError::BrokerDown { node_id }),
            Some(_) => Ok(()),
        }
    }

    /// Marks a broker down and fences it in the internal tables (`changes` gets their moved
    /// partitions). Topics are the caller's. `Ok(false)` if it was down already.
    pub(crate) fn broker_down(
        &mut self,
        node_id: i32,
        changes: &mut LeadershipChanges,
    ) -> Result<bool, ClusterError> {
        let broker = self.broker_mut(node_id)?;
        if !broker.up {
            return Ok(false);
        }
        broker.up = false;
        for kind in [CoordinatorKind::Group, CoordinatorKind::Transaction] {
            let up: Vec<i32> = self.up_brokers().map(|b| b.node_id).collect();
            let moved: Vec<usize> = self
                .internal_partitions_mut(kind)
                .iter_mut()
                .enumerate()
                .filter_map(|(index, p)| p.fence(node_id, |n| up.contains(&n)).then_some(index))
                .collect();
            changes.internal_mut(kind).extend(moved);
        }
        Ok(true)
    }

    /// Marks a broker up and unfences it in the internal tables. `Ok(false)` if it was up.
    pub(crate) fn broker_up(
        &mut self,
        node_id: i32,
        changes: &mut LeadershipChanges,
    ) -> Result<bool, ClusterError> {
        let broker = self.broker_mut(node_id)?;
        if broker.up {
            return Ok(false);
        }
        broker.up = true;
        for kind in [CoordinatorKind::Group, CoordinatorKind::Transaction] {
            let moved: Vec<usize> = self
                .internal_partitions_mut(kind)
                .iter_mut()
                .enumerate()
                .filter_map(|(index, p)| p.unfence(node_id).then_some(index))
                .collect();
            changes.internal_mut(kind).extend(moved);
        }
        Ok(true)
    }

    /// Moves the coordinator of `key` to `node_id` by moving the leadership of the internal
    /// partition it hashes to: every other key hashing there moves too, as in Kafka.
    pub(crate) fn move_coordinator(
        &mut self,
        key: &str,
        kind: CoordinatorKind,
        node_id: i32,
        changes: &mut LeadershipChanges,
    ) -> Result<usize, ClusterError> {
        let index = Self::partition_for(key, kind);
        let topic = match kind {
            CoordinatorKind::Group => super::OFFSETS_TOPIC,
            CoordinatorKind::Transaction => super::TRANSACTION_STATE_TOPIC,
        };
        let name = PartitionName {
            topic,
            partition: i32::try_from(index).expect("50 partitions"),
        };
        let mut leadership = self.internal_partitions(kind)[index].clone();
        if leadership.move_leader(name, node_id, self)? {
            changes.internal_mut(kind).push(index);
        }
        self.internal_partitions_mut(kind)[index] = leadership;
        Ok(index)
    }

    /// Back to every broker up with fresh internal tables, addresses kept (reset).
    pub(crate) fn reset(&mut self) {
        for broker in &mut self.brokers {
            broker.up = true;
        }
        self.reset_internal_tables();
    }
}

impl LeadershipChanges {
    fn internal_mut(&mut self, kind: CoordinatorKind) -> &mut Vec<usize> {
        match kind {
            CoordinatorKind::Group => &mut self.group_partitions,
            CoordinatorKind::Transaction => &mut self.transaction_partitions,
        }
    }
}
