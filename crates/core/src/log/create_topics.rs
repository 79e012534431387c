//! CreateTopics (v2–7): creates topics with a partition count and replication factor.
//!
//! Per topic: `num_partitions` -1 means the default; `replication_factor` -1 means
//! `default_replication_factor`; the replicas are placed over the brokers that are up as Kafka's
//! `AdminUtils` places them (see [`crate::cluster`]), and a factor above that count (or not
//! positive) gets INVALID_REPLICATION_FACTOR with Kafka's message. Explicit `assignments` give
//! the partition count and replicas (both counts must be -1, else INVALID_REQUEST; partitions 0
//! to n-1, each list non-empty, of registered brokers, none twice, all of one length, else
//! INVALID_REPLICA_ASSIGNMENT); an existing topic gets TOPIC_ALREADY_EXISTS,
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
                Ok((topic_id, partitions, replication_factor, config)) => {
                    let mut result = result.with_topic_id(topic_id);
                    if version >= 5 {
                        result = result
                            .with_num_partitions(partitions)
                            .with_replication_factor(replication_factor)
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
) -> Result<(uuid::Uuid, i32, i16, TopicConfig), (i16, String)> {
    let name = topic.name.as_str();
    let replicas = if topic.assignments.is_empty() {
        let partitions = if topic.num_partitions == -1 {
            store.default_partitions
        } else {
            topic.num_partitions
        };
        store
            .check_new_topic(name, partitions)
            .map_err(|error| (error.code(), error.to_string()))?;
        let replication_factor = if topic.replication_factor == -1 {
            store.default_replication_factor
        } else {
            i32::from(topic.replication_factor)
        };
        let count = usize::try_from(partitions).expect("checked positive");
        store
            .cluster
            .place_replicas(count, replication_factor, 0)
            .map_err(|message| (code::INVALID_REPLICATION_FACTOR, message))?
    } else {
        let replicas = manual_replicas(store, topic)?;
        let partitions = i32::try_from(replicas.len()).unwrap_or(i32::MAX);
        store
            .check_new_topic(name, partitions)
            .map_err(|error| (error.code(), error.to_string()))?;
        replicas
    };
    let partitions = i32::try_from(replicas.len()).expect("checked count");
    let replication_factor = i16::try_from(replicas[0].len()).unwrap_or(i16::MAX);
    let config = topic_config(store, topic)?;
    if validate_only {
        return Ok((uuid::Uuid::nil(), partitions, replication_factor, config));
    }
    let topic_id = store.insert_topic_with(name, replicas, config.clone());
    Ok((topic_id, partitions, replication_factor, config))
}

/// Explicit `assignments`, checked as Kafka's `ReplicationControlManager.createTopic` checks
/// them: both counts -1 (else INVALID_REQUEST), partitions 0 to n-1, every replica list valid
/// and of the same length (else INVALID_REPLICA_ASSIGNMENT); the replicas by partition index.
fn manual_replicas(
    store: &LogStore,
    topic: &CreatableTopic,
) -> Result<Vec<Vec<i32>>, (i16, String)> {
    if topic.num_partitions != -1 || topic.replication_factor != -1 {
        return Err((
            code::INVALID_REQUEST,
            "both num_partitions and replication_factor must be -1 when assignments are given"
                .to_owned(),
        ));
    }
    let mut assignments: Vec<_> = topic.assignments.iter().collect();
    assignments.sort_by_key(|assignment| assignment.partition_index);
    if assignments
        .iter()
        .zip(0..)
        .any(|(assignment, expected)| assignment.partition_index != expected)
    {
        return Err((
            code::INVALID_REPLICA_ASSIGNMENT,
            "partition indexes must be consecutive from 0".to_owned(),
        ));
    }
    let mut replicas = Vec::with_capacity(assignments.len());
    for assignment in assignments {
        let nodes: Vec<i32> = assignment.broker_ids.iter().map(|id| id.0).collect();
        store
            .cluster
            .check_manual_replicas(&nodes)
            .map_err(|message| (code::INVALID_REPLICA_ASSIGNMENT, message))?;
        replicas.push(nodes);
    }
    if replicas
        .iter()
        .any(|nodes| nodes.len() != replicas[0].len())
    {
        return Err((
            code::INVALID_REPLICA_ASSIGNMENT,
            "All partitions in the manual partition assignment must have the same number of replicas."
                .to_owned(),
        ));
    }
    Ok(replicas)
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
