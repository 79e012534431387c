//! CreatePartitions (API 37, v0–3): adds partitions to existing topics.
//!
//! Per topic, in Kafka's order: a name given more than once gets one INVALID_REQUEST result
//! ("Duplicate topic name.", listed first) and is not applied; an unknown topic
//! UNKNOWN_TOPIC_OR_PARTITION; a count equal to or below the current one INVALID_PARTITIONS
//! (negative counts included); a count beyond kmock's limits ([`super::MAX_PARTITIONS_PER_TOPIC`],
//! [`super::MAX_PARTITIONS_TOTAL`], as CreateTopics) INVALID_PARTITIONS. Manual `assignments` must give
//! one replica list per new partition, each non-empty, without repeats, naming registered brokers
//! and as long as the topic's replication factor: otherwise INVALID_REPLICA_ASSIGNMENT. Without
//! assignments the new partitions are placed as CreateTopics places them (continuing the
//! topic's partition ids), with its replication factor.
//! `validate_only` checks everything and changes nothing. New partitions are empty, led by their first
//! replica that is up, and visible in Metadata at once. Error results carry Kafka's message.
//!
//! # References
//! - Kafka `ControllerApis.createPartitions` (duplicate names), `ReplicationControlManager.
//!   createPartitions` / `validateManualPartitionAssignment` (KRaft), `ZkAdminManager.
//!   createPartitions` (the same rules under ZooKeeper), `QuorumController.createPartitions`
//!   (validate_only), `CreatePartitionsRequest.json`, `CreatePartitionsResponse.json`
//! - KIP-195 (CreatePartitions)

use std::collections::BTreeMap;

use kmock_wire::kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kmock_wire::kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kmock_wire::kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, TopicName,
};

use super::partition::PartitionLog;
use super::{LogStore, code, str_bytes};

/// A topic's failure: the error code and Kafka's message.
type Failure = (i16, String);

/// Answers a CreatePartitions request.
pub(crate) fn handle(
    store: &mut LogStore,
    request: &CreatePartitionsRequest,
    _version: i16,
) -> CreatePartitionsResponse {
    let mut occurrences: BTreeMap<&str, usize> = BTreeMap::new();
    for topic in &request.topics {
        *occurrences.entry(topic.name.as_str()).or_default() += 1;
    }
    // Kafka lists the duplicate names first, once each.
    let mut duplicates = Vec::new();
    let mut results = Vec::new();
    for topic in &request.topics {
        let Some(count) = occurrences.get_mut(topic.name.as_str()) else {
            continue;
        };
        match *count {
            0 => {}
            1 => {
                let outcome = check(store, topic).map(|replicas| {
                    if !request.validate_only {
                        add_partitions(store, topic.name.as_str(), replicas);
                    }
                });
                results.push(result(&topic.name, outcome));
            }
            _ => {
                *count = 0;
                let failure = (code::INVALID_REQUEST, "Duplicate topic name.".to_owned());
                duplicates.push(result(&topic.name, Err(failure)));
            }
        }
    }
    duplicates.extend(results);
    CreatePartitionsResponse::default().with_results(duplicates)
}

/// Checks one topic; the replicas of the partitions to add if it may grow.
fn check(store: &LogStore, topic: &CreatePartitionsTopic) -> Result<Vec<Vec<i32>>, Failure> {
    let name = topic.name.as_str();
    let Some(existing) = store.topics.get(name).map(|t| t.partitions.len()) else {
        return Err((
            code::UNKNOWN_TOPIC_OR_PARTITION,
            "This server does not host this topic-partition.".to_owned(),
        ));
    };
    let requested = usize::try_from(topic.count).unwrap_or(0);
    if requested == existing {
        return Err((
            code::INVALID_PARTITIONS,
            format!("Topic already has {existing} partition(s)."),
        ));
    }
    if requested < existing {
        return Err((
            code::INVALID_PARTITIONS,
            format!(
                "The topic {name} currently has {existing} partition(s); {} would not be an increase.",
                topic.count
            ),
        ));
    }
    store
        .check_partition_count(existing, topic.count)
        .map_err(|error| (error.code(), error.to_string()))?;
    let additional = requested - existing;
    let replication_factor = store.topics[name]
        .leadership
        .first()
        .map_or(1, |leadership| leadership.replicas.len());
    match &topic.assignments {
        Some(assignments) => check_assignments(store, assignments, additional, replication_factor),
        None => store
            .cluster
            .place_replicas(
                additional,
                i32::try_from(replication_factor).unwrap_or(i32::MAX),
                existing,
            )
            .map_err(|message| (code::INVALID_REPLICATION_FACTOR, message)),
    }
}

/// Kafka's manual assignment rules for `additional` new partitions of a topic with
/// `replication_factor` replicas per partition; the replicas if they hold.
fn check_assignments(
    store: &LogStore,
    assignments: &[CreatePartitionsAssignment],
    additional: usize,
    replication_factor: usize,
) -> Result<Vec<Vec<i32>>, Failure> {
    let invalid = |message: String| Err((code::INVALID_REPLICA_ASSIGNMENT, message));
    if assignments.len() != additional {
        return invalid(format!(
            "Attempted to add {additional} additional partition(s), but only {} assignment(s) were specified.",
            assignments.len()
        ));
    }
    let mut placed = Vec::with_capacity(additional);
    for assignment in assignments {
        let replicas: Vec<i32> = assignment.broker_ids.iter().map(|id| id.0).collect();
        if let Err(message) = store.cluster.check_manual_replicas(&replicas) {
            return invalid(message);
        }
        if replicas.len() != replication_factor {
            return invalid(format!(
                "The manual partition assignment includes a partition with {} replica(s), but this is not consistent with previous partitions, which have {replication_factor} replica(s).",
                replicas.len()
            ));
        }
        placed.push(replicas);
    }
    Ok(placed)
}

/// Appends empty partitions on these replicas to a topic [`check`] accepted.
fn add_partitions(store: &mut LogStore, name: &str, replicas: Vec<Vec<i32>>) {
    let additional = replicas.len();
    let leaderships: Vec<_> = replicas
        .into_iter()
        .map(|replicas| store.cluster.new_leadership(replicas))
        .collect();
    let topic = store.topics.get_mut(name).expect("check found the topic");
    topic
        .partitions
        .extend((0..additional).map(|_| PartitionLog::default()));
    topic.leadership.extend(leaderships);
    store.partitions_total += additional;
}

fn result(name: &TopicName, outcome: Result<(), Failure>) -> CreatePartitionsTopicResult {
    let result = CreatePartitionsTopicResult::default().with_name(name.clone());
    match outcome {
        Ok(()) => result,
        Err((error_code, message)) => result
            .with_error_code(error_code)
            .with_error_message(Some(str_bytes(&message))),
    }
}

/// A CreatePartitions response with `code` for every requested topic.
pub(crate) fn error_response(
    request: &CreatePartitionsRequest,
    _version: i16,
    code: i16,
) -> CreatePartitionsResponse {
    let results = request
        .topics
        .iter()
        .map(|topic| {
            CreatePartitionsTopicResult::default()
                .with_name(topic.name.clone())
                .with_error_code(code)
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}
