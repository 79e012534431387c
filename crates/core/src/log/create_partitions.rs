//! CreatePartitions (API 37, v0–3): adds partitions to existing topics.
//!
//! Per topic, in Kafka's order: a name given more than once gets one INVALID_REQUEST result
//! ("Duplicate topic name.", listed first) and is not applied; an unknown topic
//! UNKNOWN_TOPIC_OR_PARTITION; a count equal to or below the current one INVALID_PARTITIONS
//! (negative counts included); a count beyond kmock's limits ([`super::MAX_PARTITIONS_PER_TOPIC`],
//! [`super::MAX_PARTITIONS_TOTAL`], as CreateTopics) INVALID_PARTITIONS. Manual `assignments` must give
//! one replica list per new partition, each non-empty, without repeats, naming only this broker
//! and as long as the topic's replication factor (1): otherwise INVALID_REPLICA_ASSIGNMENT.
//! `validate_only` checks everything and changes nothing. New partitions are empty, led by this
//! broker, and visible in Metadata at once. Error results carry Kafka's message.
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

/// Replicas per partition: one broker.
const REPLICATION_FACTOR: usize = 1;

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
                let outcome = check(store, topic).map(|additional| {
                    if !request.validate_only {
                        add_partitions(store, topic.name.as_str(), additional);
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

/// Checks one topic; the number of partitions to add if it may grow.
fn check(store: &LogStore, topic: &CreatePartitionsTopic) -> Result<usize, Failure> {
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
    if let Some(assignments) = &topic.assignments {
        check_assignments(assignments, additional, store.node_id)?;
    }
    Ok(additional)
}

/// Kafka's manual assignment rules for `additional` new partitions on a one-broker cluster.
fn check_assignments(
    assignments: &[CreatePartitionsAssignment],
    additional: usize,
    node_id: i32,
) -> Result<(), Failure> {
    let invalid = |message: String| Err((code::INVALID_REPLICA_ASSIGNMENT, message));
    if assignments.len() != additional {
        return invalid(format!(
            "Attempted to add {additional} additional partition(s), but only {} assignment(s) were specified.",
            assignments.len()
        ));
    }
    for assignment in assignments {
        let replicas = &assignment.broker_ids;
        if replicas.is_empty() {
            return invalid(
                "The manual partition assignment includes an empty replica list.".to_owned(),
            );
        }
        if let Some(unknown) = replicas.iter().find(|id| id.0 != node_id) {
            return invalid(format!(
                "The manual partition assignment includes broker {}, but no such broker is registered.",
                unknown.0
            ));
        }
        if replicas.len() != REPLICATION_FACTOR {
            // Only this broker may appear, so a longer list names it more than once.
            return invalid(format!(
                "The manual partition assignment includes the broker {node_id} more than once."
            ));
        }
    }
    Ok(())
}

/// Appends `additional` empty partitions to a topic [`check`] accepted.
fn add_partitions(store: &mut LogStore, name: &str, additional: usize) {
    let topic = store.topics.get_mut(name).expect("check found the topic");
    topic
        .partitions
        .extend((0..additional).map(|_| PartitionLog::default()));
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
