//! CreateTopics (v2–7): creates topics with a partition count and replication factor 1.
//!
//! Per topic: `num_partitions` -1 means the default; explicit `assignments` give the partition
//! count (and then both counts must be -1, else INVALID_REQUEST; each must list this broker only,
//! for partitions 0 to n-1, else INVALID_REPLICA_ASSIGNMENT); `replication_factor` must be -1
//! or 1 (one broker), else INVALID_REPLICATION_FACTOR; an existing topic gets TOPIC_ALREADY_EXISTS,
//! an illegal name INVALID_TOPIC_EXCEPTION, a name given twice in one request INVALID_REQUEST.
//! `validate_only` checks without creating. Configs are checked as Kafka checks them (an unknown
//! name, a bad value or a null value: INVALID_CONFIG with Kafka's message; a name given twice: the
//! last value) and stored (see [`super::topic_config`]); v5+ answers every config of the new topic
//! with its value and source, in name order, as Kafka's controller does. v7 returns the topic id.
//!
//! # References
//! - Kafka `ZkAdminManager.createTopics` / `ControllerApis.createTopics`, `CreateTopicsRequest.json`,
//!   `CreateTopicsResponse.json`
//! - Kafka `ReplicationControlManager.createTopics` (`computeConfigChanges`: null config values;
//!   the effective configs in the response)
//! - KIP-525 (v5: configs in the response), KIP-516 (v7: topic ids)

use kmock_wire::kafka_protocol::messages::create_topics_request::CreatableTopic;
use kmock_wire::kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use std::collections::BTreeMap;

use kmock_wire::kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse, TopicName};

use super::topic_config::TopicConfig;
use super::{LogStore, code, str_bytes};

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
                Ok((topic_id, partitions, config)) => {
                    let mut result = result.with_topic_id(topic_id);
                    if version >= 5 {
                        result = result
                            .with_num_partitions(partitions)
                            .with_replication_factor(1)
                            .with_configs(Some(response_configs(store, &config)));
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

/// Every config of a new topic, as the v5+ response carries them.
fn response_configs(store: &LogStore, config: &TopicConfig) -> Vec<CreatableTopicConfigs> {
    store
        .broker_configs
        .describe_topic(&config.overrides)
        .into_iter()
        .map(|described| {
            CreatableTopicConfigs::default()
                .with_name(str_bytes(&described.name))
                .with_value(described.value.as_deref().map(str_bytes))
                .with_read_only(described.read_only)
                .with_config_source(described.source)
                .with_is_sensitive(false)
        })
        .collect()
}

/// The configs a CreateTopics topic asks for, checked (INVALID_CONFIG).
fn topic_config(store: &LogStore, topic: &CreatableTopic) -> Result<TopicConfig, (i16, String)> {
    let nulls: Vec<&str> = topic
        .configs
        .iter()
        .filter(|config| config.value.is_none())
        .map(|config| config.name.as_str())
        .collect();
    if !nulls.is_empty() {
        return Err((
            code::INVALID_CONFIG,
            format!(
                "Null value not supported for topic configs: {}",
                nulls.join(",")
            ),
        ));
    }
    let overrides = topic
        .configs
        .iter()
        .map(|config| {
            let value = config.value.as_deref().unwrap_or_default();
            (config.name.to_string(), value.to_owned())
        })
        .collect();
    store
        .check_topic_configs(&overrides)
        .map_err(|error| (error.code, error.message.unwrap_or_default()))
}

/// Validates and (unless `validate_only`) creates one topic: its id (nil when only validated),
/// partition count and configs, or the error code and message.
fn create(
    store: &mut LogStore,
    topic: &CreatableTopic,
    validate_only: bool,
) -> Result<(uuid::Uuid, i32, TopicConfig), (i16, String)> {
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
    let config = topic_config(store, topic)?;
    if validate_only {
        return Ok((uuid::Uuid::nil(), partitions, config));
    }
    let topic_id = store.insert_topic_with(name, partitions, config.clone());
    Ok((topic_id, partitions, config))
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
