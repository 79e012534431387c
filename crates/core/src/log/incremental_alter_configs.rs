//! IncrementalAlterConfigs (v0–1): SET, DELETE, APPEND and SUBTRACT single configs of a topic,
//! of broker "0" or the cluster (""), or of the broker's loggers.
//!
//! The operations of a resource are applied to its current configs (a topic's overrides, a
//! scope's dynamic broker configs) and the result is checked as a whole, as AlterConfigs checks
//! (see [`super::alter_configs`]): nothing changes unless every operation of the resource is
//! valid. APPEND and SUBTRACT work on list configs only (`cleanup.policy`, the throttled replica
//! lists; `log.cleanup.policy` for brokers), starting from the current value or the default:
//! APPEND adds the comma-separated values not yet present, SUBTRACT removes them; on another type
//! they answer INVALID_CONFIG. DELETE of a config that is not set changes nothing. Broker loggers
//! take SET (a known logger, a Kafka log level) and DELETE (not of root); APPEND and SUBTRACT are
//! INVALID_REQUEST. An operation id other than 0–3 is INVALID_REQUEST; a null value is allowed
//! for DELETE only (INVALID_REQUEST). `validate_only` checks and changes nothing.
//!
//! # References
//! - Kafka `ConfigAdminManager.preprocess(IncrementalAlterConfigsRequestData)` and
//!   `prepareIncrementalConfigs` (brokers), `ConfigurationControlManager.incrementalAlterConfigResource`
//!   (topics: APPEND/SUBTRACT on lists), `RuntimeLoggerManager` (loggers), `AlterConfigOp.OpType`
//! - KIP-339 (IncrementalAlterConfigs)

use std::collections::BTreeMap;

use kmock_wire::kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource;
use kmock_wire::kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kmock_wire::kafka_protocol::messages::{
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};

use super::broker_config::BrokerScope;
use super::config_resource::{
    ApiError, Change, Purpose, Resource, alter_all, alter_resource, duplicate_names, error_for_all,
    null_values,
};
use super::topic_config::{self, ConfigType};
use super::{LogStore, code};

/// `AlterConfigOp.OpType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Set,
    Delete,
    Append,
    Subtract,
}

impl Op {
    fn from_id(id: i8) -> Option<Self> {
        Some(match id {
            0 => Self::Set,
            1 => Self::Delete,
            2 => Self::Append,
            3 => Self::Subtract,
            _ => return None,
        })
    }

    fn kafka_name(self) -> &'static str {
        match self {
            Self::Set => "SET",
            Self::Delete => "DELETE",
            Self::Append => "APPEND",
            Self::Subtract => "SUBTRACT",
        }
    }
}

/// One operation of a resource.
struct Operation<'a> {
    name: &'a str,
    op: Op,
    /// Empty for a DELETE without a value.
    value: &'a str,
}

alter_resource!(AlterConfigsResource => AlterConfigsResourceResponse);

/// Answers an IncrementalAlterConfigs request.
pub(crate) fn handle(
    store: &mut LogStore,
    request: &IncrementalAlterConfigsRequest,
    _version: i16,
) -> IncrementalAlterConfigsResponse {
    let responses = alter_all(store, &request.resources, request.validate_only, change);
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

/// The change one resource asks for.
fn change(store: &LogStore, resource: &AlterConfigsResource) -> Result<Change, ApiError> {
    duplicate_names(resource.configs.iter().map(|c| c.name.as_str()))?;
    let operations = resource
        .configs
        .iter()
        .map(|config| {
            let op = Op::from_id(config.config_operation).ok_or_else(|| {
                ApiError::invalid_request(format!(
                    "Unknown operations type {}",
                    config.config_operation
                ))
            })?;
            Ok((op, config))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    null_values(
        operations
            .iter()
            .filter(|(op, config)| *op != Op::Delete && config.value.is_none())
            .map(|(_, config)| config.name.as_str()),
    )?;
    let operations: Vec<Operation<'_>> = operations
        .into_iter()
        .map(|(op, config)| Operation {
            name: config.name.as_str(),
            op,
            value: config.value.as_deref().unwrap_or_default(),
        })
        .collect();
    let name = resource.resource_name.as_str();
    match store.resource(resource.resource_type, name, Purpose::Alter)? {
        Resource::Topic(topic) => Ok(Change::Topic {
            name: topic.to_owned(),
            overrides: topic_overrides(store.topic_overrides(topic), &operations)?,
        }),
        Resource::Broker(scope) => Ok(Change::Broker {
            scope,
            configs: broker_configs(store, scope, &operations)?,
        }),
        Resource::BrokerLogger => logger_levels(&operations).map(Change::Loggers),
    }
}

/// A topic's overrides after the operations (Kafka's controller rules for lists).
fn topic_overrides(
    mut overrides: BTreeMap<String, String>,
    operations: &[Operation<'_>],
) -> Result<BTreeMap<String, String>, ApiError> {
    for operation in operations {
        let list_default = || {
            topic_config::definition(operation.name)
                .filter(|def| def.kind == ConfigType::List)
                .map(|def| def.default)
                .ok_or_else(|| {
                    ApiError::new(
                        code::INVALID_CONFIG,
                        format!(
                            "Can't {} to key {} because its type is not LIST.",
                            operation.op.kafka_name(),
                            operation.name
                        ),
                    )
                })
        };
        apply(&mut overrides, operation, list_default)?;
    }
    Ok(overrides)
}

/// A scope's dynamic configs after the operations (Kafka's `prepareIncrementalConfigs`).
fn broker_configs(
    store: &LogStore,
    scope: BrokerScope,
    operations: &[Operation<'_>],
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut configs = store.broker_configs.dynamic(scope).clone();
    for operation in operations {
        let list_default = || match store.broker_configs.broker_config_type(operation.name) {
            None => Err(ApiError::new(
                code::INVALID_CONFIG,
                format!("Unknown config name: {}", operation.name),
            )),
            Some((ConfigType::List, default)) => Ok(default.unwrap_or_default()),
            Some(_) => Err(ApiError::new(
                code::INVALID_CONFIG,
                format!(
                    "Config value {} is not allowed for config key: {}",
                    operation.op.kafka_name().to_lowercase(),
                    operation.name
                ),
            )),
        };
        apply(&mut configs, operation, list_default)?;
    }
    Ok(configs)
}

/// Applies one operation to a set of configs; `list_default` gives a list config's default (or
/// the error for a config that is not a list).
fn apply<'a>(
    configs: &mut BTreeMap<String, String>,
    operation: &Operation<'_>,
    list_default: impl FnOnce() -> Result<&'a str, ApiError>,
) -> Result<(), ApiError> {
    match operation.op {
        Op::Set => {
            configs.insert(operation.name.to_owned(), operation.value.to_owned());
        }
        Op::Delete => {
            configs.remove(operation.name);
        }
        Op::Append | Op::Subtract => {
            let default = list_default()?;
            let current = configs.get(operation.name).map_or(default, String::as_str);
            let combined = combine_list(operation.op, current, operation.value);
            configs.insert(operation.name.to_owned(), combined);
        }
    }
    Ok(())
}

/// APPEND adds each value not yet in the list; SUBTRACT removes each value once.
fn combine_list(op: Op, current: &str, values: &str) -> String {
    let mut items: Vec<&str> = current.split(',').filter(|item| !item.is_empty()).collect();
    // Java's String.split drops trailing empty strings.
    let values = values.trim_end_matches(',').split(',');
    for value in values {
        match op {
            Op::Append if !items.contains(&value) => items.push(value),
            Op::Subtract => {
                if let Some(at) = items.iter().position(|item| *item == value) {
                    items.remove(at);
                }
            }
            _ => {}
        }
    }
    items.join(",")
}

/// Logger levels to set (Kafka's `RuntimeLoggerManager.validateLogLevelConfigs`).
fn logger_levels(operations: &[Operation<'_>]) -> Result<Vec<(String, Option<String>)>, ApiError> {
    operations
        .iter()
        .map(|operation| match operation.op {
            Op::Set => Ok((operation.name.to_owned(), Some(operation.value.to_owned()))),
            Op::Delete => Ok((operation.name.to_owned(), None)),
            Op::Append | Op::Subtract => Err(ApiError::invalid_request(format!(
                "{} operation is not allowed for the BROKER_LOGGER resource",
                operation.op.kafka_name()
            ))),
        })
        .collect()
}

/// An IncrementalAlterConfigs response with `code` on every resource (fault rules).
pub(crate) fn error_response(
    request: &IncrementalAlterConfigsRequest,
    _version: i16,
    code: i16,
) -> IncrementalAlterConfigsResponse {
    IncrementalAlterConfigsResponse::default()
        .with_responses(error_for_all(&request.resources, code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_append_and_subtract_as_kafka_does() {
        assert_eq!(
            combine_list(Op::Append, "delete", "compact"),
            "delete,compact"
        );
        assert_eq!(
            combine_list(Op::Append, "delete", "delete,compact"),
            "delete,compact"
        );
        assert_eq!(combine_list(Op::Append, "", "compact,"), "compact");
        assert_eq!(
            combine_list(Op::Subtract, "delete,compact", "delete"),
            "compact"
        );
        assert_eq!(combine_list(Op::Subtract, "delete", "compact"), "delete");
    }
}
