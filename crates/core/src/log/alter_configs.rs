//! AlterConfigs (v0–2), the legacy alter: each resource's configs *replace* its whole set.
//!
//! A topic's overrides become exactly the configs given (a config not named is back to its
//! default); the dynamic configs of broker "0" or of the cluster ("") become exactly those given.
//! Checks, per resource, in Kafka's order: a resource named twice in the request, a config named
//! twice, or a null value → INVALID_REQUEST; the resource's type and name (BROKER_LOGGER is not
//! alterable here: INVALID_REQUEST "Unknown resource type 8", as Kafka); for a topic, every config
//! name and value (INVALID_CONFIG), then the topic's existence (UNKNOWN_TOPIC_OR_PARTITION); for a
//! broker, the rules of dynamic broker configs (INVALID_REQUEST; see [`super::broker_config`]).
//! `validate_only` checks everything and changes nothing.
//!
//! # References
//! - Kafka `ConfigAdminManager.preprocess(AlterConfigsRequestData)`,
//!   `ConfigurationControlManager.legacyAlterConfigResource` (implicit deletion of unnamed
//!   configs), `AlterConfigsRequest.json`, `AlterConfigsResponse.json`
//! - KIP-133 (AlterConfigs)

use kmock_wire::kafka_protocol::messages::alter_configs_request::AlterConfigsResource;
use kmock_wire::kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kmock_wire::kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

use super::LogStore;
use super::config_resource::{
    ApiError, BROKER_LOGGER, Change, Purpose, Resource, alter_all, alter_resource, duplicate_names,
    error_for_all, null_values,
};

alter_resource!(AlterConfigsResource => AlterConfigsResourceResponse);

/// Answers an AlterConfigs request.
pub(crate) fn handle(
    store: &mut LogStore,
    request: &AlterConfigsRequest,
    _version: i16,
) -> AlterConfigsResponse {
    let responses = alter_all(store, &request.resources, request.validate_only, change);
    AlterConfigsResponse::default().with_responses(responses)
}

/// The change one resource asks for.
fn change(store: &LogStore, resource: &AlterConfigsResource) -> Result<Change, ApiError> {
    duplicate_names(resource.configs.iter().map(|c| c.name.as_str()))?;
    null_values(
        resource
            .configs
            .iter()
            .filter(|c| c.value.is_none())
            .map(|c| c.name.as_str()),
    )?;
    let configs = resource
        .configs
        .iter()
        .map(|c| {
            (
                c.name.to_string(),
                c.value.as_deref().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    // Kafka refuses the type before it looks at the name.
    let loggers_refused =
        || ApiError::invalid_request(format!("Unknown resource type {BROKER_LOGGER}"));
    if resource.resource_type == BROKER_LOGGER {
        return Err(loggers_refused());
    }
    let name = resource.resource_name.as_str();
    match store.resource(resource.resource_type, name, Purpose::Alter)? {
        Resource::Topic(topic) => Ok(Change::Topic {
            name: topic.to_owned(),
            overrides: configs,
        }),
        Resource::Broker(scope) => Ok(Change::Broker { scope, configs }),
        Resource::BrokerLogger => Err(loggers_refused()),
    }
}

/// An AlterConfigs response with `code` on every resource (fault rules).
pub(crate) fn error_response(
    request: &AlterConfigsRequest,
    _version: i16,
    code: i16,
) -> AlterConfigsResponse {
    AlterConfigsResponse::default().with_responses(error_for_all(&request.resources, code))
}
