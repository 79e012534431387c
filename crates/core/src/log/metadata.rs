//! Metadata (v0–13): the brokers that are up, the cluster id, the controller, and topics with
//! their partitions (leader, leader epoch, replicas, ISR, offline replicas) and ids; auto-creates
//! requested topics when allowed. A partition without a leader (every ISR member down) gets
//! LEADER_NOT_AVAILABLE and leader -1, as Kafka's `MetadataCache` answers it. Every broker answers
//! the same.
//!
//! Topics listed: all (null list in v1+, empty list in v0) in name order, or the requested ones in
//! request order without duplicates. A requested topic that does not exist is created with the
//! default partition count when `auto_create_topics` is on and (v4+) the request allows it;
//! otherwise it gets UNKNOWN_TOPIC_OR_PARTITION. An illegal name gets INVALID_TOPIC_EXCEPTION.
//! Topics requested by id (v10+, name null) that do not exist get UNKNOWN_TOPIC_ID.
//! Unlike Kafka, an auto-created topic is reported ready at once (no LEADER_NOT_AVAILABLE round).
//!
//! Authorized operations (KIP-430), as Kafka reports them without an authorizer: with
//! `include_topic_authorized_operations` (v8+) every named topic carries all topic operations, and
//! with `include_cluster_authorized_operations` (v8–10) the cluster all cluster operations (see
//! [`crate::authorized_operations`]); when not asked, `i32::MIN`.
//!
//! # References
//! - Kafka `KafkaApis.handleTopicMetadataRequest` (authorized operations: `AuthHelper.
//!   authorizedOperations`), `MetadataRequest.json`, `MetadataResponse.json`
//! - KIP-516 (topic ids in v10+), KIP-430 (authorized operations, v8+)

use std::collections::BTreeSet;

use kmock_wire::kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kmock_wire::kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse};
use uuid::Uuid;

use super::{LogStore, code, str_bytes, topic_name};
use crate::authorized_operations;
use crate::cluster::NO_LEADER;

/// Answers a Metadata request.
pub(crate) fn handle(
    store: &mut LogStore,
    request: &MetadataRequest,
    version: i16,
) -> MetadataResponse {
    let all = match &request.topics {
        None => true,
        Some(topics) => version == 0 && topics.is_empty(),
    };
    let mut topics = Vec::new();
    if all {
        for name in store.topics.keys() {
            topics.push(describe(store, name, version));
        }
    } else {
        let allow_create =
            store.auto_create_topics && (version < 4 || request.allow_auto_topic_creation);
        let mut seen_names: BTreeSet<&str> = BTreeSet::new();
        let mut seen_ids: BTreeSet<Uuid> = BTreeSet::new();
        for requested in request.topics.iter().flatten() {
            // v10+ clients name topics by id with a null (or empty) name.
            let by_id = match requested.name.as_deref() {
                None => true,
                Some(name) => name.is_empty() && !requested.topic_id.is_nil(),
            };
            let Some(name) = requested.name.as_deref().filter(|_| !by_id) else {
                if !seen_ids.insert(requested.topic_id) {
                    continue;
                }
                match store.topic_name(requested.topic_id).map(str::to_owned) {
                    Some(name) => topics.push(describe(store, &name, version)),
                    None => topics.push(
                        MetadataResponseTopic::default()
                            .with_error_code(code::UNKNOWN_TOPIC_ID)
                            .with_topic_id(requested.topic_id),
                    ),
                }
                continue;
            };
            let name = name.as_str();
            if !seen_names.insert(name) {
                continue;
            }
            if store.topics.contains_key(name) {
                topics.push(describe(store, name, version));
                continue;
            }
            let error_code = if !super::is_valid_topic_name(name) {
                code::INVALID_TOPIC_EXCEPTION
            } else if allow_create {
                let partitions = store.default_partitions;
                match store
                    .check_new_topic(name, partitions)
                    .and_then(|()| store.place_default(partitions))
                {
                    Ok(replicas) => {
                        store.insert_topic(name, replicas);
                        topics.push(describe(store, name, version));
                        continue;
                    }
                    Err(error) => error.code(),
                }
            } else {
                code::UNKNOWN_TOPIC_OR_PARTITION
            };
            topics.push(
                MetadataResponseTopic::default()
                    .with_error_code(error_code)
                    .with_name(Some(topic_name(name))),
            );
        }
    }
    if version >= 8 {
        with_authorized_operations(&mut topics, request.include_topic_authorized_operations);
    }
    let brokers = store
        .cluster
        .up_brokers()
        .map(|broker| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(broker.node_id))
                .with_host(str_bytes(&broker.host))
                .with_port(broker.port)
        })
        .collect();
    let response = MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(str_bytes(&store.cluster_id)))
        .with_controller_id(BrokerId(store.cluster.controller_id()))
        .with_topics(topics);
    if (8..=10).contains(&version) {
        response.with_cluster_authorized_operations(authorized_operations::if_requested(
            request.include_cluster_authorized_operations,
            authorized_operations::CLUSTER,
        ))
    } else {
        response
    }
}

/// Kafka sets the topic operations on every topic named in the response (not on unknown ids).
fn with_authorized_operations(topics: &mut [MetadataResponseTopic], requested: bool) {
    let operations = authorized_operations::if_requested(requested, authorized_operations::TOPIC);
    for topic in topics.iter_mut().filter(|topic| topic.name.is_some()) {
        topic.topic_authorized_operations = operations;
    }
}

/// An existing topic with its partitions.
fn describe(store: &LogStore, name: &str, version: i16) -> MetadataResponseTopic {
    let topic = store
        .topics
        .get(name)
        .expect("describe is called for existing topics");
    let ids = |nodes: &[i32]| nodes.iter().copied().map(BrokerId).collect::<Vec<_>>();
    let partitions = topic
        .leadership
        .iter()
        .enumerate()
        .map(|(index, leadership)| {
            let mut partition = MetadataResponsePartition::default()
                .with_partition_index(i32::try_from(index).expect("partitions are bounded"))
                .with_leader_id(BrokerId(leadership.leader))
                .with_replica_nodes(ids(&leadership.replicas))
                .with_isr_nodes(ids(&leadership.isr));
            if leadership.leader == NO_LEADER {
                partition.error_code = code::LEADER_NOT_AVAILABLE;
            }
            if version >= 7 {
                partition.leader_epoch = leadership.leader_epoch;
            }
            if version >= 5 {
                partition.offline_replicas = ids(&leadership.offline_replicas(&store.cluster));
            }
            partition
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(topic_name(name)))
        .with_topic_id(topic.id)
        .with_partitions(partitions)
}

/// A Metadata response with `code` at the top level (v13) and on every requested topic.
pub(crate) fn error_response(
    request: &MetadataRequest,
    _version: i16,
    code: i16,
) -> MetadataResponse {
    let topics = request
        .topics
        .iter()
        .flatten()
        .map(|requested| {
            MetadataResponseTopic::default()
                .with_error_code(code)
                .with_name(requested.name.clone())
                .with_topic_id(requested.topic_id)
        })
        .collect();
    MetadataResponse::default()
        .with_error_code(code)
        .with_topics(topics)
}
