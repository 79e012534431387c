//! Cluster events on [`BrokerCore`]: broker down and up, a partition leader moved, a coordinator
//! moved, an ISR set. Each changes the leaderships (topics in the log store, internal tables in
//! the cluster), then settles what the change strands, as Kafka does when leadership moves:
//!
//! - a broker going down closes its connections (their requests in flight die with it, as with a
//!   crashed broker; a fault's pending timers for them are dropped);
//! - groups whose `__consumer_offsets` partition changed leader are unloaded: a parked JoinGroup
//!   or SyncGroup gets NOT_COORDINATOR (Kafka's `GroupCoordinator.onGroupUnloaded`), so the
//!   member finds the new coordinator and rejoins there. The group itself stays (the core is
//!   shared; Kafka's new coordinator loads it from `__consumer_offsets`): members, generation and
//!   committed offsets survive;
//! - parked long-poll fetches are answered now when a topic partition changed leader (Kafka's
//!   `DelayedFetch` completes early when its broker stops leading); their next fetch meets
//!   NOT_LEADER_OR_FOLLOWER and the client refreshes its metadata.
//!
//! # References
//! - Kafka `GroupCoordinator.onResignation` / `onGroupUnloaded`, `DelayedFetch.tryComplete`,
//!   `ReplicationControlManager.handleBrokerFenced`.

use super::{ClusterError, CoordinatorKind, LeadershipChanges, NO_LEADER};
use crate::BrokerCore;

impl BrokerCore {
    /// Takes broker `node` down: its connections are closed, it leaves every ISR, the partitions
    /// and coordinators it led move to the next ISR replica that is up (or have no leader).
    /// A broker already down is left as it is (no changes).
    pub fn broker_down(&mut self, node: i32) -> Result<LeadershipChanges, ClusterError> {
        let mut changes = LeadershipChanges::default();
        if !self.logs.cluster.broker_down(node, &mut changes)? {
            return Ok(changes);
        }
        changes.partitions = self.logs.fence_topics(node);
        let on_node: Vec<_> = self
            .connections
            .iter()
            .filter(|(_, connection)| connection.node == node)
            .map(|(id, _)| *id)
            .collect();
        for connection in on_node {
            self.close(connection, format!("broker {node} is down"));
        }
        let connections = &self.connections;
        self.timers
            .retain(|_, timer| connections.contains_key(&timer.connection()));
        self.settle(&changes);
        Ok(changes)
    }

    /// Brings broker `node` back: it accepts connections again, rejoins the ISR of the partitions
    /// it replicates and leads those that had no leader and keep it in their ISR. Leadership
    /// elsewhere does not move back (see [`crate::cluster`]).
    pub fn broker_up(&mut self, node: i32) -> Result<LeadershipChanges, ClusterError> {
        let mut changes = LeadershipChanges::default();
        if !self.logs.cluster.broker_up(node, &mut changes)? {
            return Ok(changes);
        }
        changes.partitions = self.logs.unfence_topics(node);
        self.settle(&changes);
        Ok(changes)
    }

    /// Moves the leadership of a topic partition to `node` (a replica that is up and in the ISR),
    /// bumping its leader epoch.
    pub fn move_leader(
        &mut self,
        topic: &str,
        partition: i32,
        node: i32,
    ) -> Result<LeadershipChanges, ClusterError> {
        let mut changes = LeadershipChanges::default();
        if self
            .logs
            .change_leadership(topic, partition, |leadership, name, cluster| {
                leadership.move_leader(name, node, cluster)
            })?
        {
            changes.partitions.push((topic.to_owned(), partition));
        }
        self.settle(&changes);
        Ok(changes)
    }

    /// Sets the ISR of a topic partition (replicas that are up, including the leader).
    pub fn set_isr(
        &mut self,
        topic: &str,
        partition: i32,
        isr: &[i32],
    ) -> Result<LeadershipChanges, ClusterError> {
        let mut changes = LeadershipChanges::default();
        if self
            .logs
            .change_leadership(topic, partition, |leadership, name, cluster| {
                leadership.set_isr(name, isr, cluster)
            })?
        {
            changes.partitions.push((topic.to_owned(), partition));
        }
        self.settle(&changes);
        Ok(changes)
    }

    /// Moves the coordinator of group `group_id` to `node` by moving the leadership of its
    /// `__consumer_offsets` partition: every group hashing to that partition moves with it, as in
    /// Kafka. Parked joins and syncs of those groups get NOT_COORDINATOR.
    pub fn move_group_coordinator(
        &mut self,
        group_id: &str,
        node: i32,
    ) -> Result<LeadershipChanges, ClusterError> {
        self.move_coordinator(group_id, CoordinatorKind::Group, node)
    }

    /// Moves the coordinator of a transactional id (its `__transaction_state` partition) to
    /// `node`.
    pub fn move_transaction_coordinator(
        &mut self,
        transactional_id: &str,
        node: i32,
    ) -> Result<LeadershipChanges, ClusterError> {
        self.move_coordinator(transactional_id, CoordinatorKind::Transaction, node)
    }

    fn move_coordinator(
        &mut self,
        key: &str,
        kind: CoordinatorKind,
        node: i32,
    ) -> Result<LeadershipChanges, ClusterError> {
        let mut changes = LeadershipChanges::default();
        self.logs
            .cluster
            .move_coordinator(key, kind, node, &mut changes)?;
        self.settle(&changes);
        Ok(changes)
    }

    /// Answers what a leadership change strands (see the module docs).
    fn settle(&mut self, changes: &LeadershipChanges) {
        let mut completions = Vec::new();
        if !changes.group_partitions.is_empty() {
            self.groups
                .unload_partitions(&changes.group_partitions, &mut completions);
        }
        if !changes.partitions.is_empty() {
            self.logs.complete_every_parked_fetch(&mut completions);
        }
        self.complete_all(completions);
    }

    /// The node coordinating a group, or -1 when its partition has no leader.
    pub fn group_coordinator(&self, group_id: &str) -> i32 {
        self.logs
            .cluster
            .coordinator(group_id, CoordinatorKind::Group)
            .map_or(NO_LEADER, |broker| broker.node_id)
    }

    /// The node coordinating a transactional id, or -1.
    pub fn transaction_coordinator(&self, transactional_id: &str) -> i32 {
        self.logs
            .cluster
            .coordinator(transactional_id, CoordinatorKind::Transaction)
            .map_or(NO_LEADER, |broker| broker.node_id)
    }
}
