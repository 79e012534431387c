//! What DescribeConfigs, AlterConfigs and IncrementalAlterConfigs share: the resources they name
//! (with Kafka's checks of a resource's type and name), per-resource errors, and the store
//! operations behind them (describe a topic or broker, replace a topic's overrides or a scope's
//! dynamic broker configs).
//!
//! Resource types (`ConfigResource.Type`): TOPIC (2), BROKER (4), BROKER_LOGGER (8). CLIENT_METRICS
//! (16) and GROUP (32) are not implemented (INVALID_REQUEST, as a Kafka broker without them
//! answers an unknown type). A topic resource's name must be a legal topic name
//! (INVALID_TOPIC_EXCEPTION; for alters an empty one is INVALID_REQUEST "Default topic resources are
//! not allowed.") of an existing topic (UNKNOWN_TOPIC_OR_PARTITION). A broker resource names this
//! broker ("0") or, for BROKER, the cluster default (""); anything else is INVALID_REQUEST.
//!
//! Limits: at most [`MAX_CONFIG_RESOURCES_PER_REQUEST`] resources per request; the ones beyond are
//! answered INVALID_REQUEST without being looked at (each answer no larger than its request).
//!
//! # References
//! - Kafka `ConfigHelper.describeConfigs`, `ConfigAdminManager.preprocess` /
//!   `validateResourceNameIsCurrentNodeId`, `ControllerConfigurationValidator.validate`,
//!   `ConfigurationControlManager` (`incrementalAlterConfigResource`, `legacyAlterConfigResource`,
//!   `validateAlterConfig`), `RuntimeLoggerManager.validateResourceNameIsNodeId`
//! - `ConfigResource.Type`; KIP-133 (DescribeConfigs, AlterConfigs), KIP-339
//!   (IncrementalAlterConfigs), KIP-412 (broker loggers)

use std::collections::BTreeMap;

use kmock_wire::kafka_protocol::protocol::StrBytes;

use super::broker_config::{BrokerScope, DescribedConfig};
use super::topic_config::{self, TopicConfig};
use super::{LogStore, code, is_valid_topic_name};

/// Most resources one config request may name.
pub const MAX_CONFIG_RESOURCES_PER_REQUEST: usize = 1_000;

/// `ConfigResource.Type.TOPIC`.
pub(crate) const TOPIC: i8 = 2;
/// `ConfigResource.Type.BROKER`.
pub(crate) const BROKER: i8 = 4;
/// `ConfigResource.Type.BROKER_LOGGER`.
pub(crate) const BROKER_LOGGER: i8 = 8;
/// `ConfigResource.Type.CLIENT_METRICS`.
pub(crate) const CLIENT_METRICS: i8 = 16;
/// `ConfigResource.Type.GROUP`.
pub(crate) const GROUP: i8 = 32;

/// An error for one resource: Kafka's code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) code: i16,
    pub(crate) message: Option<String>,
}

impl ApiError {
    pub(crate) fn new(code: i16, message: impl Into<String>) -> Self {
        Self {
            code,
            message: Some(message.into()),
        }
    }

    pub(crate) fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(code::INVALID_REQUEST, message)
    }

    /// The message as a response field.
    pub(crate) fn message_field(&self) -> Option<StrBytes> {
        self.message.as_deref().map(super::str_bytes)
    }

    /// The error code and message fields of a result: 0 and null without an error.
    pub(crate) fn fields(error: Option<&ApiError>) -> (i16, Option<StrBytes>) {
        error.map_or((code::NONE, None), |error| {
            (error.code, error.message_field())
        })
    }

    /// A resource beyond [`MAX_CONFIG_RESOURCES_PER_REQUEST`].
    pub(crate) fn over_limit() -> Self {
        Self {
            code: code::INVALID_REQUEST,
            message: None,
        }
    }
}

/// A resource a config request names, once its type and name are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resource<'a> {
    /// An existing topic.
    Topic(&'a str),
    /// This broker, or the cluster default.
    Broker(BrokerScope),
    /// This broker's loggers.
    BrokerLogger,
}

/// Which request names the resource: the checks and messages differ slightly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Describe,
    Alter,
}

impl LogStore {
    /// Checks a resource's type and name (see the module docs); a topic's existence is checked by
    /// the caller, after the configs (Kafka validates the configs of an unknown topic first).
    pub(crate) fn resource<'a>(
        &self,
        resource_type: i8,
        name: &'a str,
        purpose: Purpose,
    ) -> Result<Resource<'a>, ApiError> {
        match resource_type {
            TOPIC if name.is_empty() && purpose == Purpose::Alter => Err(
                ApiError::invalid_request("Default topic resources are not allowed."),
            ),
            TOPIC if !is_valid_topic_name(name) => Err(ApiError::new(
                code::INVALID_TOPIC_EXCEPTION,
                format!("Topic name {name:?} is illegal"),
            )),
            TOPIC => Ok(Resource::Topic(name)),
            BROKER if name.is_empty() => Ok(Resource::Broker(BrokerScope::Cluster)),
            BROKER => self
                .check_node(name, purpose)
                .map(|()| Resource::Broker(BrokerScope::Node)),
            BROKER_LOGGER if name.is_empty() => {
                Err(ApiError::invalid_request("Broker id must not be empty"))
            }
            BROKER_LOGGER => self
                .check_node(name, purpose)
                .map(|()| Resource::BrokerLogger),
            CLIENT_METRICS | GROUP => Err(ApiError::invalid_request(format!(
                "kmock does not implement {} config resources",
                if resource_type == GROUP {
                    "GROUP"
                } else {
                    "CLIENT_METRICS"
                }
            ))),
            other => Err(ApiError::invalid_request(format!(
                "Unknown resource type {other}"
            ))),
        }
    }

    /// The name must be this broker's id (Kafka's `resourceNameToBrokerId` /
    /// `validateResourceNameIsCurrentNodeId`).
    fn check_node(&self, name: &str, purpose: Purpose) -> Result<(), ApiError> {
        let node_id = self.broker_configs.node_id();
        let what = if purpose == Purpose::Describe {
            "Broker"
        } else {
            "Node"
        };
        let id: i32 = name.parse().map_err(|_| {
            ApiError::invalid_request(format!("{what} id must be an integer, but it is: {name}"))
        })?;
        if id == node_id {
            Ok(())
        } else {
            Err(ApiError::invalid_request(format!(
                "Unexpected broker id, expected {node_id}, but received {name}"
            )))
        }
    }

    /// The configs of an existing topic, as DescribeConfigs reports them.
    pub(crate) fn describe_topic_configs(
        &self,
        name: &str,
    ) -> Result<Vec<DescribedConfig>, ApiError> {
        let topic = self.topics.get(name).ok_or_else(|| unknown_topic(name))?;
        Ok(self.broker_configs.describe_topic(&topic.config.overrides))
    }

    /// A topic's current overrides (what an incremental alter starts from).
    pub(crate) fn topic_overrides(&self, name: &str) -> BTreeMap<String, String> {
        self.topics
            .get(name)
            .map(|topic| topic.config.overrides.clone())
            .unwrap_or_default()
    }

    /// Checks a topic's configs for creation or an alter: every name known, every value valid
    /// (INVALID_CONFIG otherwise). Returns the topic config to store.
    pub(crate) fn check_topic_configs(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> Result<TopicConfig, ApiError> {
        let overrides = topic_config::validate_overrides(overrides, |def| {
            self.broker_configs.topic_default(def)
        })
        .map_err(|invalid| ApiError::new(code::INVALID_CONFIG, invalid.0))?;
        Ok(self.topic_config(overrides))
    }

    /// A topic config with these (valid) overrides and the settings they resolve to.
    pub(crate) fn topic_config(&self, overrides: BTreeMap<String, String>) -> TopicConfig {
        let settings = topic_config::LogSettings::resolve(|name| {
            overrides.get(name).cloned().unwrap_or_else(|| {
                let def = topic_config::definition(name).expect("a name from the table");
                self.broker_configs.topic_default(def)
            })
        });
        TopicConfig {
            overrides,
            settings,
        }
    }

    /// Replaces a topic's overrides with `overrides` (Kafka checks the configs, then that the
    /// topic exists); with `validate_only` nothing changes.
    pub(crate) fn replace_topic_configs(
        &mut self,
        name: &str,
        overrides: &BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), ApiError> {
        let config = self.check_topic_configs(overrides)?;
        let topic = self
            .topics
            .get_mut(name)
            .ok_or_else(|| unknown_topic(name))?;
        if !validate_only {
            topic.config = config;
        }
        Ok(())
    }

    /// Replaces the dynamic broker configs of `scope` (INVALID_REQUEST if Kafka would refuse them);
    /// every topic's settings follow.
    pub(crate) fn replace_broker_configs(
        &mut self,
        scope: BrokerScope,
        configs: &BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), ApiError> {
        let configs = self
            .broker_configs
            .check_dynamic(configs)
            .map_err(|invalid| ApiError::invalid_request(invalid.0))?;
        if !validate_only {
            self.broker_configs.set_dynamic(scope, configs);
            self.refresh_topic_settings();
        }
        Ok(())
    }

    /// Re-resolves every topic's settings (after a dynamic broker config changed).
    fn refresh_topic_settings(&mut self) {
        let names: Vec<String> = self.topics.keys().cloned().collect();
        for name in names {
            let overrides = self.topics[&name].config.overrides.clone();
            let config = self.topic_config(overrides);
            if let Some(topic) = self.topics.get_mut(&name) {
                topic.config = config;
            }
        }
    }
}

fn unknown_topic(name: &str) -> ApiError {
    ApiError::new(
        code::UNKNOWN_TOPIC_OR_PARTITION,
        format!("Topic {name} does not exist"),
    )
}

/// Kafka's check that no name appears twice in a resource's configs.
pub(crate) fn duplicate_names<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<(), ApiError> {
    let mut seen = std::collections::BTreeSet::new();
    if names.into_iter().all(|name| seen.insert(name)) {
        Ok(())
    } else {
        Err(ApiError::invalid_request(
            "Error due to duplicate config keys",
        ))
    }
}

/// Kafka's check that only DELETE may carry a null value: the names that do not.
pub(crate) fn null_values<'a>(nulls: impl IntoIterator<Item = &'a str>) -> Result<(), ApiError> {
    let nulls: Vec<&str> = nulls.into_iter().collect();
    if nulls.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid_request(format!(
            "Null value not supported for : {}",
            nulls.join(", ")
        )))
    }
}

/// The (type, name) pairs a request names more than once.
fn repeated_resources<'a>(
    resources: impl IntoIterator<Item = (i8, &'a str)>,
) -> std::collections::BTreeSet<(i8, &'a str)> {
    let mut seen = std::collections::BTreeSet::new();
    let mut repeated = std::collections::BTreeSet::new();
    for resource in resources {
        if !seen.insert(resource) {
            repeated.insert(resource);
        }
    }
    repeated
}

/// The error of a resource named twice.
fn repeated_resource_error() -> ApiError {
    ApiError::invalid_request("Each resource must appear at most once.")
}

/// A checked change to one resource: what it becomes.
#[derive(Debug)]
pub(crate) enum Change {
    /// A topic's complete new overrides.
    Topic {
        name: String,
        overrides: BTreeMap<String, String>,
    },
    /// A scope's complete new dynamic broker configs.
    Broker {
        scope: BrokerScope,
        configs: BTreeMap<String, String>,
    },
    /// Logger levels to set (`None`: unset, back to root's).
    Loggers(Vec<(String, Option<String>)>),
}

impl LogStore {
    /// Checks and (unless `validate_only`) applies a change.
    pub(crate) fn apply_change(
        &mut self,
        change: Change,
        validate_only: bool,
    ) -> Result<(), ApiError> {
        match change {
            Change::Topic { name, overrides } => {
                self.replace_topic_configs(&name, &overrides, validate_only)
            }
            Change::Broker { scope, configs } => {
                self.replace_broker_configs(scope, &configs, validate_only)
            }
            Change::Loggers(levels) => self.change_loggers(&levels, validate_only),
        }
    }

    /// Every logger change is checked before any is made (Kafka's `RuntimeLoggerManager`).
    fn change_loggers(
        &mut self,
        levels: &[(String, Option<String>)],
        validate_only: bool,
    ) -> Result<(), ApiError> {
        for (logger, level) in levels {
            self.broker_configs
                .check_logger_change(logger, level.as_deref())
                .map_err(|(code, message)| ApiError::new(code, message))?;
        }
        if !validate_only {
            for (logger, level) in levels {
                self.broker_configs.set_logger(logger, level.as_deref());
            }
        }
        Ok(())
    }
}

/// A resource of an alter request (legacy or incremental): its type and name, and its answer.
pub(crate) trait AlterResource {
    /// The per-resource response of the request's response.
    type Response;
    fn type_and_name(&self) -> (i8, &str);
    /// This resource's answer: success, or `error`.
    fn response(&self, error: Option<ApiError>) -> Self::Response;
}

/// Implements [`AlterResource`] for a request resource type and its response type (the legacy
/// and the incremental messages have the same fields in different types).
macro_rules! alter_resource {
    ($resource:ty => $response:ty) => {
        impl $crate::log::config_resource::AlterResource for $resource {
            type Response = $response;

            fn type_and_name(&self) -> (i8, &str) {
                (self.resource_type, self.resource_name.as_str())
            }

            fn response(&self, error: Option<$crate::log::config_resource::ApiError>) -> $response {
                let (code, message) =
                    $crate::log::config_resource::ApiError::fields(error.as_ref());
                <$response>::default()
                    .with_resource_type(self.resource_type)
                    .with_resource_name(self.resource_name.clone())
                    .with_error_code(code)
                    .with_error_message(message)
            }
        }
    };
}
pub(crate) use alter_resource;

/// Answers every resource of an alter request: `change` says what a resource asks for, which is
/// then checked and (unless `validate_only`) applied. Kafka's request-level check comes first (a
/// resource named twice fails, every time it is named); resources beyond
/// [`MAX_CONFIG_RESOURCES_PER_REQUEST`] are not looked at.
pub(crate) fn alter_all<R: AlterResource>(
    store: &mut LogStore,
    resources: &[R],
    validate_only: bool,
    change: impl Fn(&LogStore, &R) -> Result<Change, ApiError>,
) -> Vec<R::Response> {
    let repeated = repeated_resources(resources.iter().map(AlterResource::type_and_name));
    resources
        .iter()
        .enumerate()
        .map(|(index, resource)| {
            let outcome = if index >= MAX_CONFIG_RESOURCES_PER_REQUEST {
                Err(ApiError::over_limit())
            } else if repeated.contains(&resource.type_and_name()) {
                Err(repeated_resource_error())
            } else {
                change(store, resource).and_then(|change| store.apply_change(change, validate_only))
            };
            resource.response(outcome.err())
        })
        .collect()
}

/// Every resource answered with `code` (fault rules).
pub(crate) fn error_for_all<R: AlterResource>(resources: &[R], code: i16) -> Vec<R::Response> {
    resources
        .iter()
        .map(|resource| {
            resource.response(Some(ApiError {
                code,
                message: None,
            }))
        })
        .collect()
}
