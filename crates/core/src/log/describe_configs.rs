//! DescribeConfigs (v1–4): the configs of topics, of this broker (or the cluster's dynamic
//! defaults) and of the broker's loggers.
//!
//! Per resource (see [`super::config_resource`] for the resource checks): a topic reports every
//! topic config with its value and source (DYNAMIC_TOPIC_CONFIG for its own values, else where its
//! default comes from: a dynamic broker config or DEFAULT_CONFIG), an unknown topic
//! UNKNOWN_TOPIC_OR_PARTITION; broker "0" reports kmock's settings and the topic-default broker
//! configs, broker "" only the cluster's dynamic configs; a broker logger resource reports each
//! logger's level. `configuration_keys` (when not null or empty) keeps only the configs named.
//! Synonyms are included when `include_synonyms` (v1+) asks; v3+ carries each config's type and,
//! when `include_documentation` asks, its documentation. Nothing is sensitive: values are never
//! hidden.
//!
//! A resource of a type Kafka does not know fails the whole request (every resource
//! INVALID_REQUEST), as Kafka's `ConfigHelper.handleDescribeConfigsRequest` throws before
//! describing anything.
//!
//! # References
//! - Kafka `ConfigHelper` (`handleDescribeConfigsRequest`, `describeConfigs`),
//!   `DescribeConfigsRequest.json`, `DescribeConfigsResponse.json`
//! - KIP-133 (DescribeConfigs), KIP-226 (synonyms, v1), KIP-569 (type and documentation, v3)

use std::collections::BTreeSet;

use kmock_wire::kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kmock_wire::kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kmock_wire::kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::broker_config::DescribedConfig;
use super::config_resource::{
    ApiError, BROKER, BROKER_LOGGER, CLIENT_METRICS, GROUP, MAX_CONFIG_RESOURCES_PER_REQUEST,
    Purpose, Resource, TOPIC,
};
use super::{LogStore, str_bytes};

/// Resource types whose resources Kafka describes or answers one by one.
const KNOWN_RESOURCE_TYPES: &[i8] = &[TOPIC, BROKER, BROKER_LOGGER, CLIENT_METRICS, GROUP];

/// What to include with each config.
#[derive(Debug, Clone, Copy)]
struct Detail {
    version: i16,
    synonyms: bool,
    documentation: bool,
}

/// Answers a DescribeConfigs request.
pub(crate) fn handle(
    store: &LogStore,
    request: &DescribeConfigsRequest,
    version: i16,
) -> DescribeConfigsResponse {
    if let Some(unknown) = request
        .resources
        .iter()
        .find(|r| !KNOWN_RESOURCE_TYPES.contains(&r.resource_type))
    {
        let message = format!("Unexpected resource type {}", unknown.resource_type);
        return every_resource(request, &ApiError::invalid_request(message));
    }
    let detail = Detail {
        version,
        synonyms: request.include_synonyms,
        documentation: version >= 3 && request.include_documentation,
    };
    let results = request
        .resources
        .iter()
        .enumerate()
        .map(|(index, resource)| {
            let described = if index < MAX_CONFIG_RESOURCES_PER_REQUEST {
                describe(store, resource)
            } else {
                Err(ApiError::over_limit())
            };
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let (code, message) = ApiError::fields(described.as_ref().err());
            let result = result.with_error_code(code).with_error_message(message);
            match described {
                Ok(configs) => result.with_configs(selected(configs, resource, detail)),
                Err(_) => result,
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// Every config of one resource.
fn describe(
    store: &LogStore,
    resource: &DescribeConfigsResource,
) -> Result<Vec<DescribedConfig>, ApiError> {
    let name = resource.resource_name.as_str();
    match store.resource(resource.resource_type, name, Purpose::Describe)? {
        Resource::Topic(topic) => store.describe_topic_configs(topic),
        Resource::Broker(scope) => Ok(store.broker_configs.describe_broker(scope)),
        Resource::BrokerLogger => Ok(store.broker_configs.describe_loggers()),
    }
}

/// The configs `configuration_keys` asks for, at the request's version and detail.
fn selected(
    configs: Vec<DescribedConfig>,
    resource: &DescribeConfigsResource,
    detail: Detail,
) -> Vec<DescribeConfigsResourceResult> {
    let wanted: Option<BTreeSet<&str>> = resource
        .configuration_keys
        .as_ref()
        .filter(|keys| !keys.is_empty())
        .map(|keys| keys.iter().map(|key| key.as_str()).collect());
    configs
        .into_iter()
        .filter(|config| {
            wanted
                .as_ref()
                .is_none_or(|w| w.contains(config.name.as_str()))
        })
        .map(|config| config_result(config, detail))
        .collect()
}

fn config_result(config: DescribedConfig, detail: Detail) -> DescribeConfigsResourceResult {
    let mut result = DescribeConfigsResourceResult::default()
        .with_name(str_bytes(&config.name))
        .with_value(config.value.as_deref().map(str_bytes))
        .with_read_only(config.read_only)
        .with_config_source(config.source)
        .with_is_sensitive(false);
    if detail.synonyms {
        result = result.with_synonyms(
            config
                .synonyms
                .iter()
                .map(|synonym| {
                    DescribeConfigsSynonym::default()
                        .with_name(str_bytes(&synonym.name))
                        .with_value(synonym.value.as_deref().map(str_bytes))
                        .with_source(synonym.source)
                })
                .collect(),
        );
    }
    if detail.version >= 3 {
        result = result
            .with_config_type(config.kind.map_or(0, |kind| kind.code()))
            .with_documentation(config.doc.filter(|_| detail.documentation).map(str_bytes));
    }
    result
}

/// A response with the same error on every resource.
fn every_resource(request: &DescribeConfigsRequest, error: &ApiError) -> DescribeConfigsResponse {
    let results = request
        .resources
        .iter()
        .map(|resource| {
            DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone())
                .with_error_code(error.code)
                .with_error_message(error.message_field())
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// A DescribeConfigs response with `code` on every resource (fault rules).
pub(crate) fn error_response(
    request: &DescribeConfigsRequest,
    _version: i16,
    error_code: i16,
) -> DescribeConfigsResponse {
    let error = ApiError {
        code: error_code,
        message: None,
    };
    every_resource(request, &error)
}
