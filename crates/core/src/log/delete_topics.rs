//! DeleteTopics (v1–6): deletes topics by name (v1–5 `topic_names`, v6 `topics[].name`) or by id
//! (v6 `topics[].topic_id` with a null name).
//!
//! An unknown name gets UNKNOWN_TOPIC_OR_PARTITION, an unknown id UNKNOWN_TOPIC_ID. Deletion is
//! immediate: the topic's logs are dropped, parked fetches on it are answered with the error, and a
//! topic created again under the same name gets a new id.
//!
//! # References
//! - Kafka `KafkaApis.handleDeleteTopicsRequest`, `DeleteTopicsRequest.json`,
//!   `DeleteTopicsResponse.json`
//! - KIP-516 (v6: delete by topic id)

use kmock_wire::kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kmock_wire::kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use uuid::Uuid;

use super::{LogStore, code, topic_name};

/// A topic to delete, as the request names it.
enum Target {
    Name(TopicName),
    Id(Uuid),
}

fn targets(request: &DeleteTopicsRequest, version: i16) -> Vec<Target> {
    if version >= 6 {
        request
            .topics
            .iter()
            .map(|topic| match &topic.name {
                Some(name) => Target::Name(name.clone()),
                None => Target::Id(topic.topic_id),
            })
            .collect()
    } else {
        request
            .topic_names
            .iter()
            .map(|name| Target::Name(name.clone()))
            .collect()
    }
}

/// Answers a DeleteTopics request.
pub(crate) fn handle(
    store: &mut LogStore,
    request: &DeleteTopicsRequest,
    version: i16,
) -> DeleteTopicsResponse {
    let responses = targets(request, version)
        .into_iter()
        .map(|target| match target {
            Target::Name(name) => match store.topic_id(name.as_str()) {
                Some(id) => {
                    store.remove_topic(name.as_str());
                    DeletableTopicResult::default()
                        .with_name(Some(name))
                        .with_topic_id(id)
                }
                None => DeletableTopicResult::default()
                    .with_name(Some(name))
                    .with_error_code(code::UNKNOWN_TOPIC_OR_PARTITION),
            },
            Target::Id(id) => match store.topic_name(id).map(str::to_owned) {
                Some(name) => {
                    store.remove_topic(&name);
                    DeletableTopicResult::default()
                        .with_name(Some(topic_name(&name)))
                        .with_topic_id(id)
                }
                None => DeletableTopicResult::default()
                    .with_topic_id(id)
                    .with_error_code(code::UNKNOWN_TOPIC_ID),
            },
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}

/// A DeleteTopics response with `code` on every requested topic.
pub(crate) fn error_response(
    request: &DeleteTopicsRequest,
    version: i16,
    code: i16,
) -> DeleteTopicsResponse {
    let responses = targets(request, version)
        .into_iter()
        .map(|target| {
            let result = DeletableTopicResult::default().with_error_code(code);
            match target {
                Target::Name(name) => result.with_name(Some(name)),
                Target::Id(id) => result.with_topic_id(id),
            }
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}
