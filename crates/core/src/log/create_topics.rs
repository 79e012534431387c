//! CreateTopics (v2–7): creates topics with a partition count and replication factor 1.
//!
//! Per topic: `num_partitions` -1 means the default; explicit `assignments` give the partition
//! count (and then both counts must be -1, else INVALID_REQUEST; each must list this broker only,
//! for partitions 0 to n-1, else INVALID_REPLICA_ASSIGNMENT); `replication_factor` must be -1
//! or 1 (one broker), else INVALID_REPLICATION_FACTOR; an existing topic gets TOPIC_ALREADY_EXISTS,
//! an illegal name INVALID_TOPIC_EXCEPTION, a name given twice in one request INVALID_REQUEST.
//! `validate_only` checks without creating. Configs are accepted without interpretation and echoed
//! (v5+) as dynamic topic configs. v7 returns the topic id.
//!
//! # References
//! - Kafka `ZkAdminManager.createTopics` / `ControllerApis.createTopics`, `CreateTopicsRequest.json`,
//!   `CreateTopicsResponse.json`
//! - KIP-525 (v5: configs in the response), KIP-516 (v7: topic ids)

use kmock_wire::kafka_protocol::messages::create_topics_request::CreatableTopic;
use kmock_wire::kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use std::collections::BTreeMap;

use kmock_wire::kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse, TopicName};

use super::{LogStore, code, str_bytes};

/// `ConfigSource.DYNAMIC_TOPIC_CONFIG`.
const DYNAMIC_TOPIC_CONFIG: i8 = 1;

/// Answers a CreateTopics request.
pub(crate) fn handle(
    store: &mut LogStore,
    request: &CreateTopicsRequest,
    version: i16,
) -> CreateTopicsResponse {
    let mut name_counts: BTreeMap<&TopicName, usize> = BTreeMap::new();
    for topic in &request.topics {
        *name_counts.entry(&topic.name).or_default() += 1;
    }
    let results = request
        .topics
        .iter()
        .map(|topic| {
            let duplicate = name_counts.get(&topic.name).is_some_and(|count| *count > 1);
            let outcome = if duplicate {
                Err((
                    code::INVALID_REQUEST,
                    "the request names this topic more than once".to_owned(),
                ))
            } else {
                create(store, topic, request.validate_only)
            };
            let result = CreatableTopicResult::default().with_name(topic.name.clone());
            match outcome {
                Ok((topic_id, partitions)) => {
                    let mut result = result.with_topic_id(topic_id);
                    if version >= 5 {
                        let configs = topic
                            .configs
                            .iter()
                            .map(|config| {
                                CreatableTopicConfigs::default()
                                    .with_name(config.name.clone())
                                    .with_value(config.value.clone())
                                    .with_config_source(DYNAMIC_TOPIC_CONFIG)
                            })
                            .collect();
                        result = result
                            .with_num_partitions(partitions)
                            .with_replication_factor(1)
                            .with_configs(Some(configs));
                    }
                    result
                }
                Err((error_code, message)) => {
                    let result = result
                        .with_error_code(error_code)
                        .with_error_message(Some(str_bytes(&message)));
                    if version >= 5 {
                        result.with_configs(None)
                    } else {
                        result
                    }
                }
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(results)
}

/// Validates and (unless `validate_only`) creates one topic: its id (nil when only validated) and
/// partition count, or the error code and message.
fn create(
    store: &mut LogStore,
    topic: &CreatableTopic,
    validate_only: bool,
) -> Result<(uuid::Uuid, i32), (i16, String)> {
    let name = topic.name.as_str();
    let partitions = if topic.assignments.is_empty() {
        if topic.num_partitions == -1 {
            store.default_partitions
        } else {
            topic.num_partitions
        }
    } else {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err((
                code::INVALID_REQUEST,
                "both num_partitions and replication_factor must be -1 when assignments are given"
                    .to_owned(),
            ));
        }
        let node = store.node_id;
        if topic
            .assignments
            .iter()
            .any(|assignment| assignment.broker_ids.iter().map(|id| id.0).ne([node]))
        {
            return Err((
                code::INVALID_REPLICA_ASSIGNMENT,
                format!("kmock has one broker: each partition's replicas must be [{node}]"),
            ));
        }
        let mut indexes: Vec<i32> = topic
            .assignments
            .iter()
            .map(|assignment| assignment.partition_index)
            .collect();
        indexes.sort_unstable();
        if indexes
            .iter()
            .zip(0..)
            .any(|(index, expected)| *index != expected)
        {
            return Err((
                code::INVALID_REPLICA_ASSIGNMENT,
                "partition indexes must be consecutive from 0".to_owned(),
            ));
        }
        i32::try_from(topic.assignments.len()).unwrap_or(i32::MAX)
    };
    if !matches!(topic.replication_factor, -1 | 1) {
        return Err((
            code::INVALID_REPLICATION_FACTOR,
            format!(
                "replication factor must be 1 (one broker), got {}",
                topic.replication_factor
            ),
        ));
    }
    store
        .check_new_topic(name, partitions)
        .map_err(|error| (error.code(), error.to_string()))?;
    if validate_only {
        return Ok((uuid::Uuid::nil(), partitions));
    }
    Ok((store.insert_topic(name, partitions), partitions))
}

/// A CreateTopics response with `code` on every requested topic.
pub(crate) fn error_response(
    request: &CreateTopicsRequest,
    version: i16,
    code: i16,
) -> CreateTopicsResponse {
    let results = request
        .topics
        .iter()
        .map(|topic| {
            let result = CreatableTopicResult::default()
                .with_name(topic.name.clone())
                .with_error_code(code);
            if version >= 5 {
                result.with_configs(None)
            } else {
                result
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(results)
}
