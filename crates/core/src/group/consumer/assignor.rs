//! The server-side assignors of KIP-848: `uniform` (the default) and `range`, after Kafka's.
//!
//! Input: the members (id, instance id, the topic ids they subscribe to that exist, their current
//! target assignment) and each subscribed topic's partition count. Output: the new target
//! assignment of every member. Both are pure and deterministic: members are taken in member id
//! order (Kafka iterates a hash map, whose order is not part of any contract), topics in topic
//! name order, partitions ascending.
//!
//! - **uniform, homogeneous subscriptions** (every member subscribes to the same topics): Kafka's
//!   `UniformHomogeneousAssignmentBuilder` step for step: quotas of `partitions / members`, the
//!   first `partitions % members` members get one more; each member keeps what it held up to its
//!   quota (partitions beyond it are revoked), then the unassigned partitions fill the members with
//!   room, in order.
//! - **uniform, heterogeneous subscriptions**: the same principles as Kafka's
//!   `UniformHeterogeneousAssignmentBuilder` (balance first, then stickiness), with a simpler
//!   procedure: keep every partition a member still subscribes to, give each unassigned partition
//!   to the least loaded subscriber of its topic (topics with fewer subscribers first), then move
//!   partitions from the most to the least loaded subscriber of a topic while they differ by more
//!   than one (at most 16 rounds, Kafka's `MAX_ITERATION_COUNT`). The balance reached is the same in
//!   the common cases; which partition moves may differ from Kafka's.
//! - **range**: Kafka's `RangeAssignor` exactly: members sorted by instance id (static members
//!   first) then member id; each topic split in contiguous ranges, the first members of the order
//!   getting one extra partition. Not sticky, as in Kafka.
//!
//! # References
//! - Kafka `UniformAssignor`, `UniformHomogeneousAssignmentBuilder`,
//!   `UniformHeterogeneousAssignmentBuilder`, `RangeAssignor`, `ModernGroup.subscriptionType` (4.0).
//! - KIP-848 "Assignors".

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::member::Assignment;

/// Name of the uniform assignor (Kafka's default).
pub const UNIFORM: &str = "uniform";
/// Name of the range assignor.
pub const RANGE: &str = "range";
/// The assignors this broker offers, the default first (Kafka's `group.consumer.assignors`).
pub const ASSIGNORS: &[&str] = &[UNIFORM, RANGE];

/// Rounds of the heterogeneous balancing phase (Kafka's `MAX_ITERATION_COUNT`).
const MAX_BALANCE_ROUNDS: usize = 16;

/// A member as an assignor sees it.
#[derive(Debug, Clone)]
pub(crate) struct AssignorMember<'a> {
    pub member_id: &'a str,
    pub instance_id: Option<&'a str>,
    /// Subscribed topics that exist, by id.
    pub topics: BTreeSet<Uuid>,
    /// Its current target assignment.
    pub current: &'a Assignment,
}

/// A subscribed topic as an assignor sees it.
#[derive(Debug, Clone)]
pub(crate) struct AssignorTopic {
    pub name: String,
    pub partitions: i32,
}

/// Runs the assignor `name` (`uniform` for anything else). `homogeneous` is Kafka's subscription
/// type. Returns every member's new target assignment, by member id.
pub(crate) fn assign(
    name: &str,
    members: &[AssignorMember<'_>],
    topics: &BTreeMap<Uuid, AssignorTopic>,
    homogeneous: bool,
) -> BTreeMap<String, Assignment> {
    let mut sorted: Vec<&AssignorMember<'_>> = members.iter().collect();
    sorted.sort_by(|a, b| a.member_id.cmp(b.member_id));
    if sorted.is_empty() {
        return BTreeMap::new();
    }
    match name {
        RANGE => range(sorted, topics),
        _ if homogeneous => uniform_homogeneous(&sorted, topics),
        _ => uniform_heterogeneous(&sorted, topics),
    }
}

/// Topic ids in topic name order.
fn by_name<'a>(
    ids: impl Iterator<Item = &'a Uuid>,
    topics: &BTreeMap<Uuid, AssignorTopic>,
) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = ids.filter(|id| topics.contains_key(id)).copied().collect();
    ids.sort_by(|a, b| topics[a].name.cmp(&topics[b].name).then(a.cmp(b)));
    ids.dedup();
    ids
}

fn partitions_of(topics: &BTreeMap<Uuid, AssignorTopic>, topic_id: &Uuid) -> i32 {
    topics.get(topic_id).map_or(0, |t| t.partitions.max(0))
}

/// Kafka's `UniformHomogeneousAssignmentBuilder.build`.
fn uniform_homogeneous(
    members: &[&AssignorMember<'_>],
    topics: &BTreeMap<Uuid, AssignorTopic>,
) -> BTreeMap<String, Assignment> {
    let subscribed = &members[0].topics;
    let topic_order = by_name(subscribed.iter(), topics);
    if topic_order.is_empty() {
        return members
            .iter()
            .map(|m| (m.member_id.to_owned(), Assignment::new()))
            .collect();
    }
    // Partitions currently assigned to one of the members.
    let held: BTreeSet<(Uuid, i32)> = members
        .iter()
        .flat_map(|m| {
            m.current
                .iter()
                .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
        })
        .collect();
    let mut unassigned: Vec<(Uuid, i32)> = Vec::new();
    let mut total = 0usize;
    for topic_id in &topic_order {
        let count = partitions_of(topics, topic_id);
        for partition in 0..count {
            if !held.contains(&(*topic_id, partition)) {
                unassigned.push((*topic_id, partition));
            }
        }
        total += count as usize;
    }
    let member_count = members.len();
    let min_quota = total / member_count;
    let mut extra = total % member_count;
    let mut result: BTreeMap<String, Assignment> = BTreeMap::new();
    let mut unfilled: Vec<(&str, usize)> = Vec::new();
    for member in members {
        let mut quota = min_quota;
        if extra > 0 {
            quota += 1;
            extra -= 1;
        }
        let mut kept = Assignment::new();
        for (topic_id, partitions) in member.current {
            if !subscribed.contains(topic_id) || !topics.contains_key(topic_id) {
                continue;
            }
            let count = partitions_of(topics, topic_id);
            for partition in partitions {
                if *partition >= count {
                    continue;
                }
                if quota > 0 {
                    quota -= 1;
                    kept.entry(*topic_id).or_default().insert(*partition);
                } else {
                    unassigned.push((*topic_id, *partition));
                }
            }
        }
        if quota > 0 {
            unfilled.push((member.member_id, quota));
        }
        result.insert(member.member_id.to_owned(), kept);
    }
    let mut next = unassigned.into_iter();
    for (member_id, quota) in unfilled {
        let assignment = result.entry(member_id.to_owned()).or_default();
        for (topic_id, partition) in next.by_ref().take(quota) {
            assignment.entry(topic_id).or_default().insert(partition);
        }
    }
    result
}

/// Balance first, then stickiness, for members with different subscriptions. See the module docs.
fn uniform_heterogeneous(
    members: &[&AssignorMember<'_>],
    topics: &BTreeMap<Uuid, AssignorTopic>,
) -> BTreeMap<String, Assignment> {
    let mut load = vec![0usize; members.len()];
    let mut owner: BTreeMap<(Uuid, i32), usize> = BTreeMap::new();
    // Keep what members still subscribe to.
    for (index, member) in members.iter().enumerate() {
        for (topic_id, partitions) in member.current {
            if !member.topics.contains(topic_id) {
                continue;
            }
            let count = partitions_of(topics, topic_id);
            for partition in partitions {
                if *partition < count && !owner.contains_key(&(*topic_id, *partition)) {
                    owner.insert((*topic_id, *partition), index);
                    load[index] += 1;
                }
            }
        }
    }
    let subscribers: BTreeMap<Uuid, Vec<usize>> =
        by_name(members.iter().flat_map(|m| m.topics.iter()), topics)
            .into_iter()
            .map(|topic_id| {
                let subscribed = (0..members.len())
                    .filter(|i| members[*i].topics.contains(&topic_id))
                    .collect();
                (topic_id, subscribed)
            })
            .collect();
    // Topics with fewer subscribers first (their partitions have fewer places to go).
    let mut topic_order: Vec<Uuid> = by_name(subscribers.keys(), topics);
    topic_order.sort_by_key(|t| subscribers[t].len());
    for topic_id in &topic_order {
        let candidates = &subscribers[topic_id];
        for partition in 0..partitions_of(topics, topic_id) {
            if owner.contains_key(&(*topic_id, partition)) {
                continue;
            }
            if let Some(&least) = candidates.iter().min_by_key(|i| (load[**i], **i)) {
                owner.insert((*topic_id, partition), least);
                load[least] += 1;
            }
        }
    }
    for _ in 0..MAX_BALANCE_ROUNDS {
        let mut moved = false;
        for topic_id in &topic_order {
            let candidates = &subscribers[topic_id];
            while let Some(&least) = candidates.iter().min_by_key(|i| (load[**i], **i)) {
                // The most loaded subscriber that holds a partition of this topic.
                let most = candidates
                    .iter()
                    .filter(|i| owner.iter().any(|((t, _), o)| t == topic_id && *o == **i))
                    .max_by_key(|i| (load[**i], std::cmp::Reverse(**i)))
                    .copied();
                let Some(most) = most else { break };
                if load[most] <= load[least] + 1 {
                    break;
                }
                let partition = owner
                    .iter()
                    .filter(|((t, _), o)| t == topic_id && **o == most)
                    .map(|((_, p), _)| *p)
                    .max();
                let Some(partition) = partition else { break };
                owner.insert((*topic_id, partition), least);
                load[most] -= 1;
                load[least] += 1;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    let mut result: BTreeMap<String, Assignment> = members
        .iter()
        .map(|m| (m.member_id.to_owned(), Assignment::new()))
        .collect();
    for ((topic_id, partition), index) in owner {
        if let Some(assignment) = result.get_mut(members[index].member_id) {
            assignment.entry(topic_id).or_default().insert(partition);
        }
    }
    result
}

/// Kafka's `RangeAssignor`: homogeneous and heterogeneous cases in one (each topic is split among
/// its subscribers, in the sorted member order).
fn range(
    mut members: Vec<&AssignorMember<'_>>,
    topics: &BTreeMap<Uuid, AssignorTopic>,
) -> BTreeMap<String, Assignment> {
    members.sort_by(|a, b| match (a.instance_id, b.instance_id) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.member_id.cmp(b.member_id),
    });
    // Per topic: (partitions, subscribers, next range start, extra partitions left).
    let mut ranges: BTreeMap<Uuid, (i32, i32, i32, i32)> = BTreeMap::new();
    for member in &members {
        for topic_id in &member.topics {
            if topics.contains_key(topic_id) {
                ranges
                    .entry(*topic_id)
                    .or_insert((partitions_of(topics, topic_id), 0, 0, -1))
                    .1 += 1;
            }
        }
    }
    let mut result = BTreeMap::new();
    for member in &members {
        let mut assignment = Assignment::new();
        for topic_id in &member.topics {
            let Some((count, subscribers, next, extra)) = ranges.get_mut(topic_id) else {
                continue;
            };
            let min_quota = *count / (*subscribers).max(1);
            if *extra < 0 {
                *extra = *count % (*subscribers).max(1);
            }
            let mut quota = min_quota;
            if *extra > 0 {
                quota += 1;
                *extra -= 1;
            }
            let start = *next;
            let end = (start + quota).min(*count);
            *next = end;
            if start < end {
                assignment.insert(*topic_id, (start..end).collect());
            }
        }
        result.insert(member.member_id.to_owned(), assignment);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str, partitions: i32) -> AssignorTopic {
        AssignorTopic {
            name: name.into(),
            partitions,
        }
    }

    fn ids(assignment: &Assignment, topic_id: Uuid) -> Vec<i32> {
        assignment
            .get(&topic_id)
            .map(|p| p.iter().copied().collect())
            .unwrap_or_default()
    }

    const A: Uuid = Uuid::from_u128(1);
    const B: Uuid = Uuid::from_u128(2);

    #[test]
    fn uniform_splits_four_partitions_two_and_two() {
        let topics = BTreeMap::from([(A, topic("a", 4))]);
        let empty = Assignment::new();
        let members = [
            AssignorMember {
                member_id: "m1",
                instance_id: None,
                topics: BTreeSet::from([A]),
                current: &empty,
            },
            AssignorMember {
                member_id: "m2",
                instance_id: None,
                topics: BTreeSet::from([A]),
                current: &empty,
            },
        ];
        let result = assign(UNIFORM, &members, &topics, true);
        assert_eq!(ids(&result["m1"], A), [0, 1]);
        assert_eq!(ids(&result["m2"], A), [2, 3]);
    }

    #[test]
    fn uniform_keeps_what_a_member_holds_within_its_quota() {
        let topics = BTreeMap::from([(A, topic("a", 4))]);
        let held = Assignment::from([(A, BTreeSet::from([0, 1, 2, 3]))]);
        let empty = Assignment::new();
        let members = [
            AssignorMember {
                member_id: "m1",
                instance_id: None,
                topics: BTreeSet::from([A]),
                current: &empty,
            },
            AssignorMember {
                member_id: "m2",
                instance_id: None,
                topics: BTreeSet::from([A]),
                current: &held,
            },
        ];
        let result = assign(UNIFORM, &members, &topics, true);
        // m2 keeps its first two, the two beyond its quota go to m1.
        assert_eq!(ids(&result["m2"], A), [0, 1]);
        assert_eq!(ids(&result["m1"], A), [2, 3]);
    }

    #[test]
    fn uniform_heterogeneous_gives_each_topic_to_its_subscribers_in_balance() {
        let topics = BTreeMap::from([(A, topic("a", 3)), (B, topic("b", 3))]);
        let empty = Assignment::new();
        let members = [
            AssignorMember {
                member_id: "m1",
                instance_id: None,
                topics: BTreeSet::from([A]),
                current: &empty,
            },
            AssignorMember {
                member_id: "m2",
                instance_id: None,
                topics: BTreeSet::from([A, B]),
                current: &empty,
            },
        ];
        let result = assign(UNIFORM, &members, &topics, false);
        assert_eq!(ids(&result["m1"], B), Vec::<i32>::new());
        assert_eq!(ids(&result["m2"], B), [0, 1, 2]);
        let m1 = ids(&result["m1"], A).len();
        let m2 = ids(&result["m2"], A).len() + 3;
        assert_eq!(m1 + m2, 6);
        assert!(m1.abs_diff(m2) <= 1, "m1 {m1} m2 {m2}");
    }

    #[test]
    fn range_gives_contiguous_ranges_static_members_first() {
        let topics = BTreeMap::from([(A, topic("a", 5))]);
        let empty = Assignment::new();
        let members = [
            AssignorMember {
                member_id: "a-dynamic",
                instance_id: None,
                topics: BTreeSet::from([A]),
                current: &empty,
            },
            AssignorMember {
                member_id: "z-static",
                instance_id: Some("instance-1"),
                topics: BTreeSet::from([A]),
                current: &empty,
            },
        ];
        let result = assign(RANGE, &members, &topics, true);
        assert_eq!(ids(&result["z-static"], A), [0, 1, 2]);
        assert_eq!(ids(&result["a-dynamic"], A), [3, 4]);
    }
}
