//! Partition assignors run by the group leader, as Java's `RangeAssignor` and
//! `RoundRobinAssignor` compute them (members sorted by member id).
//!
//! Owns: the pure function from (member subscriptions, partition counts) to assignments. Topics
//! without a known partition count are skipped.
//!
//! # References
//! - Kafka `RangeAssignor`, `RoundRobinAssignor`, `AbstractPartitionAssignor`.

use std::collections::BTreeMap;

use super::protocol::Assignment;
use crate::settings::AssignmentStrategy;

/// Assigns partitions to members. `subscriptions`: member id → subscribed topics;
/// `partition_counts`: topic → partitions. Every member gets an entry, possibly empty.
pub fn assign(
    strategy: AssignmentStrategy,
    subscriptions: &BTreeMap<String, Vec<String>>,
    partition_counts: &BTreeMap<String, i32>,
) -> BTreeMap<String, Assignment> {
    let mut result: BTreeMap<String, Assignment> = subscriptions
        .keys()
        .map(|member| (member.clone(), Assignment::new()))
        .collect();
    match strategy {
        AssignmentStrategy::Range => {
            for (topic, count) in partition_counts {
                // BTreeMap keys: members sorted by id.
                let members: Vec<&String> = subscriptions
                    .iter()
                    .filter(|(_, topics)| topics.contains(topic))
                    .map(|(member, _)| member)
                    .collect();
                if members.is_empty() || *count <= 0 {
                    continue;
                }
                let n = members.len() as i32;
                let per_member = count / n;
                let extra = count % n;
                for (i, member) in members.into_iter().enumerate() {
                    let i = i as i32;
                    let start = per_member * i + i.min(extra);
                    let length = per_member + i32::from(i < extra);
                    if length > 0 {
                        result
                            .get_mut(member)
                            .expect("every member has an entry")
                            .entry(topic.clone())
                            .or_default()
                            .extend(start..start + length);
                    }
                }
            }
        }
        AssignmentStrategy::RoundRobin => {
            let members: Vec<&String> = subscriptions.keys().collect();
            if members.is_empty() {
                return result;
            }
            let mut next = 0usize;
            for (topic, count) in partition_counts {
                if !subscriptions.values().any(|topics| topics.contains(topic)) {
                    continue;
                }
                for partition in 0..*count {
                    // The next member (cyclically) subscribed to this topic.
                    loop {
                        let member = members[next % members.len()];
                        next += 1;
                        if subscriptions[member].contains(topic) {
                            result
                                .get_mut(member)
                                .expect("every member has an entry")
                                .entry(topic.clone())
                                .or_default()
                                .push(partition);
                            break;
                        }
                    }
                }
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subs(members: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        members
            .iter()
            .map(|(m, ts)| {
                (
                    (*m).to_owned(),
                    ts.iter().map(|t| (*t).to_owned()).collect(),
                )
            })
            .collect()
    }

    fn counts(topics: &[(&str, i32)]) -> BTreeMap<String, i32> {
        topics.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect()
    }

    fn parts(result: &BTreeMap<String, Assignment>, member: &str, topic: &str) -> Vec<i32> {
        result[member].get(topic).cloned().unwrap_or_default()
    }

    /// Java `RangeAssignorTest.testTwoConsumersTwoTopicsSixPartitions`-style: 3 partitions over
    /// 2 members gives [0,1] and [2] per topic.
    #[test]
    fn range_gives_leading_members_the_extra_partitions() {
        let s = subs(&[("c1", &["t1", "t2"]), ("c0", &["t1", "t2"])]);
        let result = assign(
            AssignmentStrategy::Range,
            &s,
            &counts(&[("t1", 3), ("t2", 3)]),
        );
        assert_eq!(parts(&result, "c0", "t1"), vec![0, 1]);
        assert_eq!(parts(&result, "c1", "t1"), vec![2]);
        assert_eq!(parts(&result, "c0", "t2"), vec![0, 1]);
        assert_eq!(parts(&result, "c1", "t2"), vec![2]);
    }

    #[test]
    fn range_with_more_members_than_partitions() {
        let s = subs(&[("a", &["t"]), ("b", &["t"]), ("c", &["t"])]);
        let result = assign(AssignmentStrategy::Range, &s, &counts(&[("t", 2)]));
        assert_eq!(parts(&result, "a", "t"), vec![0]);
        assert_eq!(parts(&result, "b", "t"), vec![1]);
        assert!(result["c"].is_empty());
    }

    /// Java `RoundRobinAssignorTest.testTwoConsumersTwoTopicsSixPartitions`.
    #[test]
    fn round_robin_interleaves_across_topics() {
        let s = subs(&[("c0", &["t1", "t2"]), ("c1", &["t1", "t2"])]);
        let result = assign(
            AssignmentStrategy::RoundRobin,
            &s,
            &counts(&[("t1", 3), ("t2", 3)]),
        );
        assert_eq!(parts(&result, "c0", "t1"), vec![0, 2]);
        assert_eq!(parts(&result, "c0", "t2"), vec![1]);
        assert_eq!(parts(&result, "c1", "t1"), vec![1]);
        assert_eq!(parts(&result, "c1", "t2"), vec![0, 2]);
    }

    #[test]
    fn round_robin_skips_members_not_subscribed() {
        let s = subs(&[("a", &["t1"]), ("b", &["t1", "t2"])]);
        let result = assign(
            AssignmentStrategy::RoundRobin,
            &s,
            &counts(&[("t1", 2), ("t2", 2)]),
        );
        assert_eq!(parts(&result, "a", "t1"), vec![0]);
        assert_eq!(parts(&result, "b", "t1"), vec![1]);
        assert_eq!(parts(&result, "b", "t2"), vec![0, 1]);
    }

    proptest::proptest! {
        /// Every partition of a subscribed topic goes to exactly one subscribed member.
        #[test]
        fn every_partition_assigned_once(
            members in 1usize..6,
            partitions in 0i32..20,
            round_robin in proptest::bool::ANY,
        ) {
            let names: Vec<String> = (0..members).map(|i| format!("m{i}")).collect();
            let s: BTreeMap<String, Vec<String>> =
                names.iter().map(|m| (m.clone(), vec!["t".to_owned()])).collect();
            let strategy = if round_robin { AssignmentStrategy::RoundRobin } else { AssignmentStrategy::Range };
            let result = assign(strategy, &s, &counts(&[("t", partitions)]));
            let mut all: Vec<i32> = result.values().flat_map(|a| a.get("t").cloned().unwrap_or_default()).collect();
            all.sort_unstable();
            proptest::prop_assert_eq!(all, (0..partitions).collect::<Vec<_>>());
            let sizes: Vec<usize> = result.values().map(|a| a.get("t").map_or(0, Vec::len)).collect();
            let (min, max) = (sizes.iter().min().copied().unwrap_or(0), sizes.iter().max().copied().unwrap_or(0));
            proptest::prop_assert!(max - min <= 1);
        }
    }
}
