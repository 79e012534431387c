//! [`ClusterSummary`]: a read-only view of the cluster for assertions and the control API.

use super::{BrokerNode, CoordinatorKind, NO_LEADER, PartitionLeadership};
use crate::BrokerCore;

/// The brokers, every topic partition's leadership, and the coordinators of the groups and
/// transactional ids the broker knows, at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterSummary {
    /// Every broker, up or down, in node id order.
    pub brokers: Vec<BrokerNode>,
    /// The controller Metadata reports (-1 when every broker is down).
    pub controller_id: i32,
    /// Topic partitions in topic then partition order.
    pub partitions: Vec<PartitionSummary>,
    /// `(group id, coordinator node or -1)`, classic and KIP-848 groups, in group id order.
    pub group_coordinators: Vec<(String, i32)>,
    /// `(transactional id, coordinator node or -1)`, in id order.
    pub transaction_coordinators: Vec<(String, i32)>,
}

/// One topic partition's leadership.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionSummary {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// Its replicas, ISR, leader and leader epoch.
    pub leadership: PartitionLeadership,
}

impl ClusterSummary {
    /// The summary of `core`'s cluster now.
    pub fn of(core: &BrokerCore) -> Self {
        let cluster = core.cluster();
        let coordinator = |key: &str, kind| {
            cluster
                .coordinator(key, kind)
                .map_or(NO_LEADER, |broker| broker.node_id)
        };
        let mut groups: Vec<String> = core.groups().groups().map(|g| g.group_id).collect();
        groups.extend(core.groups().consumer_groups().map(|g| g.group_id));
        groups.sort();
        groups.dedup();
        Self {
            brokers: cluster.brokers().to_vec(),
            controller_id: cluster.controller_id(),
            partitions: core
                .logs()
                .leaderships()
                .map(|(topic, partition, leadership)| PartitionSummary {
                    topic: topic.to_owned(),
                    partition,
                    leadership: leadership.clone(),
                })
                .collect(),
            group_coordinators: groups
                .into_iter()
                .map(|group| {
                    let node = coordinator(&group, CoordinatorKind::Group);
                    (group, node)
                })
                .collect(),
            transaction_coordinators: core
                .transactions()
                .transactions()
                .map(|t| {
                    let node = coordinator(&t.transactional_id, CoordinatorKind::Transaction);
                    (t.transactional_id, node)
                })
                .collect(),
        }
    }
}
