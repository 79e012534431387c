//! The cluster: N brokers in one process sharing one core. This module owns the brokers (node
//! ids, advertised addresses, up or down), the replica placement of new partitions, each
//! partition's leadership (replicas, ISR, leader, leader epoch) as a value
//! ([`PartitionLeadership`]), and the two internal partition tables that decide coordinators:
//! `__consumer_offsets` (groups) and `__transaction_state` (transactional ids), 50 partitions each.
//!
//! It holds no logs, groups or connections: the topics' leaderships live with their logs in
//! [`crate::log`], and [`crate::BrokerCore`] applies cluster events (broker down/up, leader and
//! coordinator moves, ISR changes: `ops.rs`) to both and closes or answers what they strand.
//! Which broker a request reached is the connection's node; `route.rs` answers requests for
//! groups and transactional ids that reach a broker that is not their coordinator.
//!
//! With one broker (the default) every partition has replicas `[node]`, ISR `[node]`, leader
//! `node`, epoch 0, and node coordinates everything: what kmock always answered.
//!
//! Deterministic where Kafka is random: replica placement follows Kafka's rack-unaware
//! `AdminUtils.assignReplicasToBrokers` with start index 0 and replica shift 0 instead of random
//! ones, so a topic's partition `p` has its first replica (its first leader) on the `p mod N`-th
//! broker that is up. Leader election picks the first replica (in replica order) that is up and in
//! the ISR, as Kafka's `PartitionChangeBuilder` does; a partition whose last ISR member goes down
//! keeps it in the ISR and has no leader (-1) until it comes back (no unclean election). A broker
//! coming back rejoins the ISR of every partition it replicates that has a leader at once (its log
//! is the shared one: nothing to catch up); leadership does not move back by itself (Kafka moves
//! it back only through preferred-leader election, `auto.leader.rebalance.enable`, every 5
//! minutes).
//!
//! The internal topics are not listed in Metadata: Kafka lists `__consumer_offsets` only in
//! all-topics requests or when named, and no client needs it; kmock keeps them as tables only.
//!
//! # References
//! - Kafka `AdminUtils.assignReplicasToBrokersRackUnaware` (placement),
//!   `PartitionChangeBuilder` (election, ISR), `GroupMetadataManager.partitionFor` /
//!   `TransactionStateManager.partitionFor` (`Utils.abs(key.hashCode) % 50`),
//!   `offsets.topic.num.partitions`, `transaction.state.log.num.partitions` (50),
//!   `offsets.topic.replication.factor` (3).

mod events;
mod ops;
pub(crate) mod route;
mod summary;
#[cfg(test)]
mod tests;

pub(crate) use ops::PartitionName;
pub use ops::{ClusterError, LeadershipChanges};
pub use summary::{ClusterSummary, PartitionSummary};

use crate::config::BrokerConfig;

/// Partitions of `__consumer_offsets` (Kafka's `offsets.topic.num.partitions`).
pub const OFFSETS_TOPIC_PARTITIONS: usize = 50;
/// Partitions of `__transaction_state` (Kafka's `transaction.state.log.num.partitions`).
pub const TRANSACTION_STATE_PARTITIONS: usize = 50;
/// Replication factor of the internal topics (Kafka's `offsets.topic.replication.factor` and
/// `transaction.state.log.replication.factor`), capped at the broker count.
pub const INTERNAL_TOPIC_REPLICATION_FACTOR: usize = 3;
/// Most brokers one process serves (each has a listener; a config must not open thousands).
pub const MAX_BROKERS: i32 = 64;
/// The group coordinator's internal topic.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// The transaction coordinator's internal topic.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// One broker of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerNode {
    /// Its node id (`node.id`).
    pub node_id: i32,
    /// Host advertised in Metadata and FindCoordinator.
    pub host: String,
    /// Port advertised in Metadata and FindCoordinator.
    pub port: i32,
    /// Serving (its listener accepts, it leads and coordinates); a down broker is fenced.
    pub up: bool,
}

/// Where a partition's replicas are and which one leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLeadership {
    /// Replica node ids; the first is the preferred leader.
    pub replicas: Vec<i32>,
    /// In-sync replicas, in replica order.
    pub isr: Vec<i32>,
    /// The leader's node id, or -1 (no leader: every ISR member is down).
    pub leader: i32,
    /// Bumped at every leader change.
    pub leader_epoch: i32,
}

/// No leader (Kafka's `LeaderConstants.NO_LEADER`).
pub const NO_LEADER: i32 = -1;

impl PartitionLeadership {
    /// A new partition on these replicas: all in sync, the first up one (in `up`) leads.
    pub(crate) fn new(replicas: Vec<i32>, up: impl Fn(i32) -> bool) -> Self {
        let isr: Vec<i32> = replicas.iter().copied().filter(|node| up(*node)).collect();
        let isr = if isr.is_empty() {
            replicas.clone()
        } else {
            isr
        };
        let leader = isr
            .iter()
            .copied()
            .find(|node| up(*node))
            .unwrap_or(NO_LEADER);
        Self {
            replicas,
            isr,
            leader,
            leader_epoch: 0,
        }
    }

    /// Replicas on brokers that are down (Metadata's `offline_replicas`).
    pub fn offline_replicas(&self, cluster: &Cluster) -> Vec<i32> {
        self.replicas
            .iter()
            .copied()
            .filter(|node| !cluster.is_up(*node))
            .collect()
    }

    /// Sets a new leader, bumping the epoch if it changed; whether it changed.
    fn set_leader(&mut self, leader: i32) -> bool {
        if self.leader == leader {
            return false;
        }
        self.leader = leader;
        self.leader_epoch = self.leader_epoch.saturating_add(1);
        true
    }

    /// Keeps the ISR in replica order.
    fn sort_isr(&mut self) {
        let replicas = &self.replicas;
        self.isr
            .sort_by_key(|node| replicas.iter().position(|r| r == node));
    }
}

/// The brokers and the internal partition tables. See the module docs.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// By node id order (ids are `config.node_id`, `+1`, ...).
    brokers: Vec<BrokerNode>,
    /// `__consumer_offsets`: the leader of partition `partition_for(group)` coordinates the group.
    /// Built at its first use (see [`InternalTable`]).
    offsets: InternalTable,
    /// `__transaction_state`: the same for transactional ids.
    transaction_state: InternalTable,
}

/// An internal partition table, built at its first use. A fresh table depends only on the node
/// ids (every partition starts with all brokers up, as `Cluster::new` and `reset` make it), and
/// every read or change goes through [`Cluster::internal_partitions`] or
/// `internal_partitions_mut`, which build it first; so building it late gives the same table.
/// Two tables of 50 partitions cost about 200 allocations, paid by every core a simulation makes
/// (two per run) although most runs look at one table, and some at none.
type InternalTable = std::sync::OnceLock<Vec<PartitionLeadership>>;

/// Which internal table a coordinator key hashes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CoordinatorKind {
    /// A group id, over `__consumer_offsets`.
    Group,
    /// A transactional id, over `__transaction_state`.
    Transaction,
}

impl Cluster {
    /// `config.brokers` brokers, all up, node ids from `config.node_id`, the first advertised at
    /// `config.advertised_host:advertised_port`, the next at the following ports (the server sets
    /// the real addresses once it has bound its listeners).
    pub fn new(config: &BrokerConfig) -> Self {
        let count = config.brokers.clamp(1, MAX_BROKERS);
        let brokers: Vec<BrokerNode> = (0..count)
            .map(|index| BrokerNode {
                node_id: config.node_id.saturating_add(index),
                host: config.advertised_host.clone(),
                port: config.advertised_port.saturating_add(index),
                up: true,
            })
            .collect();
        Self {
            brokers,
            offsets: InternalTable::new(),
            transaction_state: InternalTable::new(),
        }
    }

    /// A fresh internal table of `kind` (every broker up).
    fn internal_table(&self, kind: CoordinatorKind) -> Vec<PartitionLeadership> {
        let partitions = match kind {
            CoordinatorKind::Group => OFFSETS_TOPIC_PARTITIONS,
            CoordinatorKind::Transaction => TRANSACTION_STATE_PARTITIONS,
        };
        let replication_factor = INTERNAL_TOPIC_REPLICATION_FACTOR.min(self.brokers.len());
        let nodes = self.node_ids();
        assign_replicas(&nodes, partitions, replication_factor, 0)
            .into_iter()
            .map(|replicas| PartitionLeadership::new(replicas, |_| true))
            .collect()
    }

    /// Both internal tables back to fresh (built again at their next use).
    pub(crate) fn reset_internal_tables(&mut self) {
        self.offsets = InternalTable::new();
        self.transaction_state = InternalTable::new();
    }

    /// Every broker, up or down, in node id order.
    pub fn brokers(&self) -> &[BrokerNode] {
        &self.brokers
    }

    /// The brokers that are up, in node id order (what Metadata lists).
    pub fn up_brokers(&self) -> impl Iterator<Item = &BrokerNode> {
        self.brokers.iter().filter(|broker| broker.up)
    }

    /// The broker with this node id.
    pub fn broker(&self, node_id: i32) -> Option<&BrokerNode> {
        self.brokers.iter().find(|broker| broker.node_id == node_id)
    }

    /// Whether the broker exists and is up.
    pub fn is_up(&self, node_id: i32) -> bool {
        self.broker(node_id).is_some_and(|broker| broker.up)
    }

    /// Node ids of every broker.
    pub fn node_ids(&self) -> Vec<i32> {
        self.brokers.iter().map(|broker| broker.node_id).collect()
    }

    /// The first broker's node id (single-broker call sites, `config.node_id`).
    pub fn first_node(&self) -> i32 {
        self.brokers[0].node_id
    }

    /// The controller Metadata reports: the first broker that is up (Kafka's KRaft brokers report
    /// a random live broker; the first keeps kmock deterministic), or -1.
    pub fn controller_id(&self) -> i32 {
        self.up_brokers().next().map_or(NO_LEADER, |b| b.node_id)
    }

    /// Sets the address a broker advertises (the server learns its ports after binding).
    pub fn set_address(&mut self, node_id: i32, host: &str, port: i32) -> Result<(), ClusterError> {
        let broker = self.broker_mut(node_id)?;
        host.clone_into(&mut broker.host);
        broker.port = port;
        Ok(())
    }

    fn broker_mut(&mut self, node_id: i32) -> Result<&mut BrokerNode, ClusterError> {
        self.brokers
            .iter_mut()
            .find(|broker| broker.node_id == node_id)
            .ok_or(ClusterError::UnknownNode { node_id })
    }

    /// Replicas for `partitions` new partitions with `replication_factor` replicas each, over the
    /// brokers that are up, starting at partition id `first_partition` (CreatePartitions continues
    /// a topic). `Err` with Kafka's message when there are fewer brokers up than replicas asked.
    pub fn place_replicas(
        &self,
        partitions: usize,
        replication_factor: i32,
        first_partition: usize,
    ) -> Result<Vec<Vec<i32>>, String> {
        let up: Vec<i32> = self.up_brokers().map(|b| b.node_id).collect();
        if replication_factor <= 0 {
            return Err(
                "Replication factor must be larger than 0, or -1 to use the default value."
                    .to_owned(),
            );
        }
        let replication_factor = usize::try_from(replication_factor).unwrap_or(usize::MAX);
        if replication_factor > up.len() {
            return Err(format!(
                "Unable to replicate the partition {replication_factor} time(s): The target replication factor of {replication_factor} cannot be reached because only {} broker(s) are registered.",
                up.len()
            ));
        }
        Ok(assign_replicas(
            &up,
            partitions,
            replication_factor,
            first_partition,
        ))
    }

    /// Kafka's checks of one partition's manual replica assignment (CreateTopics,
    /// CreatePartitions), with Kafka's messages.
    pub fn check_manual_replicas(&self, replicas: &[i32]) -> Result<(), String> {
        if replicas.is_empty() {
            return Err("The manual partition assignment includes an empty replica list.".into());
        }
        for (index, node) in replicas.iter().enumerate() {
            if self.broker(*node).is_none() {
                return Err(format!(
                    "The manual partition assignment includes broker {node}, but no such broker is registered."
                ));
            }
            if replicas[..index].contains(node) {
                return Err(format!(
                    "The manual partition assignment includes the broker {node} more than once."
                ));
            }
        }
        if !replicas.iter().any(|node| self.is_up(*node)) {
            return Err(
                "All brokers specified in the manual partition assignment are fenced or in controlled shutdown."
                    .into(),
            );
        }
        Ok(())
    }

    /// A new partition's leadership on these replicas.
    pub fn new_leadership(&self, replicas: Vec<i32>) -> PartitionLeadership {
        PartitionLeadership::new(replicas, |node| self.is_up(node))
    }

    /// The internal partition `key` hashes to: `Utils.abs(key.hashCode) % 50`.
    pub fn partition_for(key: &str, kind: CoordinatorKind) -> usize {
        let partitions = match kind {
            CoordinatorKind::Group => OFFSETS_TOPIC_PARTITIONS,
            CoordinatorKind::Transaction => TRANSACTION_STATE_PARTITIONS,
        };
        let hash = java_string_hash(key);
        // Kafka's Utils.abs maps i32::MIN to 0.
        let abs = if hash == i32::MIN { 0 } else { hash.abs() };
        usize::try_from(abs).expect("non-negative") % partitions
    }

    /// The internal table of a coordinator kind.
    pub fn internal_partitions(&self, kind: CoordinatorKind) -> &[PartitionLeadership] {
        let table = match kind {
            CoordinatorKind::Group => &self.offsets,
            CoordinatorKind::Transaction => &self.transaction_state,
        };
        table.get_or_init(|| self.internal_table(kind))
    }

    fn internal_partitions_mut(&mut self, kind: CoordinatorKind) -> &mut [PartitionLeadership] {
        let fresh = match kind {
            CoordinatorKind::Group => self.offsets.get(),
            CoordinatorKind::Transaction => self.transaction_state.get(),
        }
        .is_none()
        .then(|| self.internal_table(kind));
        let table = match kind {
            CoordinatorKind::Group => &mut self.offsets,
            CoordinatorKind::Transaction => &mut self.transaction_state,
        };
        if let Some(fresh) = fresh {
            *table = InternalTable::from(fresh);
        }
        table
            .get_mut()
            .expect("the table was built just above if it was not yet")
    }

    /// The broker coordinating `key`, or `None` when its partition has no leader (FindCoordinator
    /// answers COORDINATOR_NOT_AVAILABLE).
    pub fn coordinator(&self, key: &str, kind: CoordinatorKind) -> Option<&BrokerNode> {
        let leader = self.internal_partitions(kind)[Self::partition_for(key, kind)].leader;
        self.broker(leader).filter(|broker| broker.up)
    }

    /// Whether `node` coordinates `key`.
    pub fn coordinates(&self, node: i32, key: &str, kind: CoordinatorKind) -> bool {
        self.coordinator(key, kind)
            .is_some_and(|broker| broker.node_id == node)
    }
}

/// Java's `String.hashCode` over the UTF-16 code units of `s`.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |hash, unit| {
        hash.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// Kafka's `AdminUtils.assignReplicasToBrokersRackUnaware` with a fixed start index and replica
/// shift of 0 (Kafka draws both at random when not given): partition `p`'s first replica is
/// `nodes[p mod n]`, the others follow at a shift that grows every `n` partitions.
/// `nodes` must not be empty and `replication_factor` at most its length.
pub(crate) fn assign_replicas(
    nodes: &[i32],
    partitions: usize,
    replication_factor: usize,
    first_partition: usize,
) -> Vec<Vec<i32>> {
    let count = nodes.len();
    let start_index = 0;
    let mut next_replica_shift = 0;
    let mut assignment = Vec::with_capacity(partitions);
    for partition in first_partition..first_partition + partitions {
        if partition > 0 && partition % count == 0 {
            next_replica_shift += 1;
        }
        let first_replica_index = (partition + start_index) % count;
        let mut replicas = vec![nodes[first_replica_index]];
        for j in 0..replication_factor.saturating_sub(1) {
            let shift = 1 + (next_replica_shift + j) % (count - 1);
            replicas.push(nodes[(first_replica_index + shift) % count]);
        }
        assignment.push(replicas);
    }
    assignment
}
