//! Broker configs as DescribeConfigs reports them, the dynamic broker configs AlterConfigs and
//! IncrementalAlterConfigs may set, the broker loggers, and how a topic config's value and source
//! follow from them.
//!
//! What broker "0" reports:
//! - kmock's real settings, from [`BrokerConfig`] under Kafka's names (`node.id`, `num.partitions`,
//!   `group.min.session.timeout.ms`, `socket.request.max.bytes`, ...): STATIC_BROKER_CONFIG when
//!   the value differs from Kafka's default (it must have been configured), DEFAULT_CONFIG when it
//!   equals it (kmock cannot tell a value given on the command line from its default). Read-only:
//!   kmock cannot change them while running (Kafka can change `max.connections`).
//! - every broker config that supplies a topic config's default (`log.retention.ms`,
//!   `message.max.bytes`, `log.message.timestamp.type`, ...), with Kafka's defaults. The first
//!   synonym of each topic config is a dynamic broker config, as in Kafka
//!   (`DynamicLogConfig.ReconfigurableConfigs`): settable for broker "0" (DYNAMIC_BROKER_CONFIG) or
//!   for the cluster, resource name "" (DYNAMIC_DEFAULT_BROKER_CONFIG), and it changes the default
//!   of every topic that does not override the topic config.
//! - names Kafka does not know, once set dynamically (Kafka accepts and reports them too).
//!
//! Altering any other known broker config answers INVALID_REQUEST "Cannot update these configs
//! dynamically: Set(...)", and a bad value INVALID_REQUEST with Kafka's `ConfigException` text, as
//! Kafka's `ConfigAdminManager` / `DynamicBrokerConfig.validate` do (KAFKA-13609: INVALID_REQUEST,
//! not INVALID_CONFIG, for broker resources).
//!
//! Broker loggers (resource type 8, broker "0"): `root` (INFO) and kmock's crates' tracing targets,
//! each reporting its level or its parent's; IncrementalAlterConfigs SET/DELETE change what is
//! reported (Kafka's `RuntimeLoggerManager` rules) but not kmock's own logging, which `RUST_LOG`
//! controls.
//!
//! Synonyms follow Kafka's `ConfigHelper.configSynonyms`: per synonym name, the dynamic per-broker
//! values, then the dynamic cluster defaults, then static values, then Kafka's defaults (a synonym
//! defined with a null default, such as `log.retention.ms`, is listed with a null value, as
//! Kafka lists it), starting at the described name.
//!
//! Limits: at most [`MAX_DYNAMIC_BROKER_CONFIGS`] dynamic configs per scope (broker or cluster).
//!
//! # References
//! - Kafka `ConfigHelper` (`createTopicConfigEntry`, `createBrokerConfigEntry`, `configSynonyms`)
//! - Kafka `DynamicBrokerConfig` (`brokerConfigSynonyms`, `validateConfigs`, `AllDynamicConfigs`),
//!   `DynamicLogConfig`, `ConfigAdminManager` (`validateResourceNameIsCurrentNodeId`,
//!   `prepareIncrementalConfigs`), `RuntimeLoggerManager`, `Log4jController`, `LogLevelConfig`
//! - `DescribeConfigsResponse.ConfigSource` / `ConfigType`; KIP-226 (dynamic broker configs)

use std::collections::BTreeMap;

use super::topic_config::{self, Check, ConfigType, InvalidConfig, TOPIC_CONFIGS, TopicConfigDef};
use crate::config::BrokerConfig;

/// Most dynamic configs one scope (broker "0", or the cluster default) holds.
pub const MAX_DYNAMIC_BROKER_CONFIGS: usize = 1_000;

/// `DescribeConfigsResponse.ConfigSource` ids.
pub(crate) mod source {
    /// A topic's own value.
    pub(crate) const TOPIC_CONFIG: i8 = 1;
    /// A dynamic config of this broker.
    pub(crate) const DYNAMIC_BROKER_CONFIG: i8 = 2;
    /// A dynamic config of the cluster (resource name "").
    pub(crate) const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
    /// The broker's static configuration.
    pub(crate) const STATIC_BROKER_CONFIG: i8 = 4;
    /// Kafka's default.
    pub(crate) const DEFAULT_CONFIG: i8 = 5;
    /// A broker logger's level.
    pub(crate) const DYNAMIC_BROKER_LOGGER_CONFIG: i8 = 6;
}

/// One config as DescribeConfigs (and CreateTopics v5+) report it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DescribedConfig {
    pub(crate) name: String,
    pub(crate) value: Option<String>,
    pub(crate) source: i8,
    pub(crate) read_only: bool,
    /// `None`: a name Kafka does not know (ConfigType UNKNOWN).
    pub(crate) kind: Option<ConfigType>,
    pub(crate) synonyms: Vec<Synonym>,
    pub(crate) doc: Option<&'static str>,
}

/// One synonym of a described config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Synonym {
    pub(crate) name: String,
    pub(crate) value: Option<String>,
    pub(crate) source: i8,
}

/// Which dynamic broker configs a resource names: broker "0", or the cluster default ("").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BrokerScope {
    /// This broker.
    Node,
    /// Every broker (Kafka's cluster-wide default).
    Cluster,
}

/// One of kmock's settings reported as a Kafka broker config.
#[derive(Debug, Clone)]
struct StaticConfig {
    name: &'static str,
    kind: ConfigType,
    /// kmock's value.
    value: String,
    /// Kafka's default (`None`: Kafka has none, the config is required).
    kafka_default: Option<&'static str>,
    doc: &'static str,
}

/// A known broker config name: one of kmock's settings, or a synonym of a topic config.
#[derive(Debug, Clone, Copy)]
enum Known<'a> {
    Static(&'a StaticConfig),
    Synonym {
        topic: &'static TopicConfigDef,
        index: usize,
    },
}

/// The log levels Kafka accepts (`LogLevelConfig.VALID_LOG_LEVELS`), sorted as it lists them.
const LOG_LEVELS: &[&str] = &["DEBUG", "ERROR", "FATAL", "INFO", "TRACE", "WARN"];
/// The root logger (Kafka's `Log4jController.ROOT_LOGGER`).
pub(crate) const ROOT_LOGGER: &str = "root";
/// kmock's loggers besides root: its crates' tracing targets.
const LOGGERS: &[&str] = &["kmock", "kmock_broker", "kmock_core", "kmock_wire"];

/// Dynamic broker configs, kmock's static settings, and broker loggers. See the module docs.
#[derive(Debug, Clone)]
pub(crate) struct BrokerConfigs {
    node_id: i32,
    /// kmock's settings, in name order.
    statics: Vec<StaticConfig>,
    /// Dynamic configs of this broker.
    node: BTreeMap<String, String>,
    /// Dynamic configs of the cluster.
    cluster: BTreeMap<String, String>,
    /// Logger levels (`None`: the root logger's).
    loggers: BTreeMap<String, Option<String>>,
}

impl BrokerConfigs {
    /// The broker configs of a broker built from `config`, with no dynamic configs.
    pub(crate) fn new(config: &BrokerConfig) -> Self {
        let node_id = config.node_id.to_string();
        let int = |value: i64| value.to_string();
        let mut statics = vec![
            StaticConfig {
                name: "auto.create.topics.enable",
                kind: ConfigType::Boolean,
                value: config.auto_create_topics.to_string(),
                kafka_default: Some("true"),
                doc: "Enable auto creation of topic on the server.",
            },
            StaticConfig {
                name: "broker.id",
                kind: ConfigType::Int,
                value: node_id.clone(),
                kafka_default: Some("-1"),
                doc: "The broker id for this server.",
            },
            StaticConfig {
                name: "default.replication.factor",
                kind: ConfigType::Int,
                value: "1".into(),
                kafka_default: Some("1"),
                doc: "The replication factor for automatically created topics, and for topics created with -1 as the replication factor",
            },
            StaticConfig {
                name: "group.initial.rebalance.delay.ms",
                kind: ConfigType::Int,
                value: int(config.group_initial_rebalance_delay_ms.into()),
                kafka_default: Some("3000"),
                doc: "The amount of time the group coordinator will wait for more consumers to join a new group before performing the first rebalance.",
            },
            StaticConfig {
                name: "group.max.session.timeout.ms",
                kind: ConfigType::Int,
                value: int(config.group_max_session_timeout_ms.into()),
                kafka_default: Some("1800000"),
                doc: "The maximum allowed session timeout for registered consumers.",
            },
            StaticConfig {
                name: "group.max.size",
                kind: ConfigType::Int,
                value: config.group_max_size.to_string(),
                kafka_default: Some("2147483647"),
                doc: "The maximum number of consumers that a single consumer group can accommodate.",
            },
            StaticConfig {
                name: "group.min.session.timeout.ms",
                kind: ConfigType::Int,
                value: int(config.group_min_session_timeout_ms.into()),
                kafka_default: Some("6000"),
                doc: "The minimum allowed session timeout for registered consumers.",
            },
            StaticConfig {
                name: "max.connections",
                kind: ConfigType::Int,
                value: config.max_connections.to_string(),
                kafka_default: Some("2147483647"),
                doc: "The maximum number of connections we allow in the broker at any time.",
            },
            StaticConfig {
                name: "node.id",
                kind: ConfigType::Int,
                value: node_id,
                kafka_default: None,
                doc: "The node ID associated with the roles this process is playing when process.roles is non-empty.",
            },
            StaticConfig {
                name: "num.partitions",
                kind: ConfigType::Int,
                value: int(config.default_partitions.into()),
                kafka_default: Some("1"),
                doc: "The default number of log partitions per topic",
            },
            StaticConfig {
                name: "offsets.topic.replication.factor",
                kind: ConfigType::Short,
                value: "1".into(),
                kafka_default: Some("3"),
                doc: "The replication factor for the offsets topic (set higher to ensure availability).",
            },
            StaticConfig {
                name: "socket.request.max.bytes",
                kind: ConfigType::Int,
                value: config.max_frame_bytes.to_string(),
                kafka_default: Some("104857600"),
                doc: "The maximum number of bytes in a socket request",
            },
        ];
        statics.sort_by_key(|s| s.name);
        let mut loggers: BTreeMap<String, Option<String>> = LOGGERS
            .iter()
            .map(|name| ((*name).to_owned(), None))
            .collect();
        loggers.insert(ROOT_LOGGER.to_owned(), Some("INFO".to_owned()));
        Self {
            node_id: config.node_id,
            statics,
            node: BTreeMap::new(),
            cluster: BTreeMap::new(),
            loggers,
        }
    }

    /// This broker's node id.
    pub(crate) fn node_id(&self) -> i32 {
        self.node_id
    }

    /// A topic config's value when the topic does not override it: the dynamic broker value of
    /// its first synonym, else the dynamic cluster value, else Kafka's default.
    pub(crate) fn topic_default(&self, def: &TopicConfigDef) -> String {
        def.synonyms
            .first()
            .and_then(|first| self.dynamic_value(first.name))
            .unwrap_or(def.default)
            .to_owned()
    }

    fn dynamic_value(&self, name: &str) -> Option<&str> {
        self.node
            .get(name)
            .or_else(|| self.cluster.get(name))
            .map(String::as_str)
    }

    /// Every topic config of a topic with these overrides, in name order (Kafka's
    /// `createTopicConfigEntry`).
    pub(crate) fn describe_topic(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> Vec<DescribedConfig> {
        TOPIC_CONFIGS
            .iter()
            .map(|def| self.describe_topic_config(def, overrides.get(def.name)))
            .collect()
    }

    fn describe_topic_config(
        &self,
        def: &'static TopicConfigDef,
        override_value: Option<&String>,
    ) -> DescribedConfig {
        let mut synonyms = Vec::new();
        if let Some(value) = override_value {
            synonyms.push(Synonym {
                name: def.name.to_owned(),
                value: Some(value.clone()),
                source: source::TOPIC_CONFIG,
            });
        }
        if let Some(first) = def.synonyms.first() {
            synonyms.extend(self.synonyms(first.name, BrokerScope::Node));
        }
        DescribedConfig {
            name: def.name.to_owned(),
            value: Some(
                override_value
                    .cloned()
                    .unwrap_or_else(|| self.topic_default(def)),
            ),
            source: synonyms
                .first()
                .map_or(source::DEFAULT_CONFIG, |s| s.source),
            read_only: false,
            kind: Some(def.kind),
            synonyms,
            doc: Some(def.doc),
        }
    }

    /// What broker "0" (`Node`) or the cluster default (`Cluster`, only its dynamic configs)
    /// reports, in name order (Kafka's `createBrokerConfigEntry`).
    pub(crate) fn describe_broker(&self, scope: BrokerScope) -> Vec<DescribedConfig> {
        let mut names: Vec<String> = match scope {
            BrokerScope::Cluster => self.cluster.keys().cloned().collect(),
            BrokerScope::Node => self
                .statics
                .iter()
                .map(|s| s.name.to_owned())
                .chain(
                    TOPIC_CONFIGS
                        .iter()
                        .flat_map(|def| def.synonyms.iter().map(|s| s.name.to_owned())),
                )
                .chain(self.node.keys().cloned())
                .chain(self.cluster.keys().cloned())
                .collect(),
        };
        names.sort();
        names.dedup();
        names
            .into_iter()
            .map(|name| self.describe_broker_config(name, scope))
            .collect()
    }

    fn describe_broker_config(&self, name: String, scope: BrokerScope) -> DescribedConfig {
        let synonyms = self.synonyms(&name, scope);
        let known = self.known(&name);
        let (kind, doc, dynamic) = match known {
            Some(Known::Static(config)) => (Some(config.kind), Some(config.doc), false),
            Some(Known::Synonym { topic, index }) => (
                Some(topic.synonyms[index].kind),
                Some(topic.doc),
                index == 0,
            ),
            None => (None, None, false),
        };
        DescribedConfig {
            value: synonyms.first().and_then(|s| s.value.clone()),
            source: synonyms
                .first()
                .map_or(source::DEFAULT_CONFIG, |s| s.source),
            read_only: !dynamic,
            kind,
            synonyms,
            doc,
            name,
        }
    }

    /// Kafka's `configSynonyms(name, brokerConfigSynonyms(name))`: the values of `name` and its
    /// broker synonyms by source, from `name` on; for `Cluster` only dynamic cluster values.
    fn synonyms(&self, name: &str, scope: BrokerScope) -> Vec<Synonym> {
        let group = self.synonym_group(name);
        let entry = |name: &str, value: Option<&str>, source: i8| Synonym {
            name: name.to_owned(),
            value: value.map(str::to_owned),
            source,
        };
        let mut all = Vec::new();
        for member in &group {
            if let Some(value) = self.node.get(*member) {
                all.push(entry(member, Some(value), source::DYNAMIC_BROKER_CONFIG));
            }
        }
        for member in &group {
            if let Some(value) = self.cluster.get(*member) {
                all.push(entry(
                    member,
                    Some(value),
                    source::DYNAMIC_DEFAULT_BROKER_CONFIG,
                ));
            }
        }
        for member in &group {
            if let Some(Known::Static(config)) = self.known(member)
                && config.kafka_default != Some(config.value.as_str())
            {
                all.push(entry(
                    member,
                    Some(&config.value),
                    source::STATIC_BROKER_CONFIG,
                ));
            }
        }
        for member in &group {
            match self.known(member) {
                Some(Known::Static(StaticConfig {
                    kafka_default: Some(default),
                    ..
                })) => {
                    all.push(entry(member, Some(default), source::DEFAULT_CONFIG));
                }
                Some(Known::Synonym { topic, index }) => {
                    all.push(entry(
                        member,
                        topic.synonyms[index].default,
                        source::DEFAULT_CONFIG,
                    ));
                }
                _ => {}
            }
        }
        all.into_iter()
            .skip_while(|synonym| synonym.name != name)
            .filter(|synonym| {
                scope == BrokerScope::Node
                    || synonym.source == source::DYNAMIC_DEFAULT_BROKER_CONFIG
            })
            .collect()
    }

    /// Kafka's `DynamicBrokerConfig.brokerConfigSynonyms`: the time configs in ms/minutes/hours
    /// (and `log.flush.interval.ms` with its scheduler default) go together; others stand alone.
    fn synonym_group<'a>(&self, name: &'a str) -> Vec<&'a str> {
        match self.known(name) {
            Some(Known::Synonym { topic, index })
                if topic.synonyms.len() > 1 && (topic.name != "flush.ms" || index == 0) =>
            {
                topic.synonyms.iter().map(|s| s.name).collect()
            }
            _ => vec![name],
        }
    }

    fn known(&self, name: &str) -> Option<Known<'_>> {
        if let Ok(index) = self.statics.binary_search_by(|s| s.name.cmp(name)) {
            return Some(Known::Static(&self.statics[index]));
        }
        TOPIC_CONFIGS.iter().find_map(|topic| {
            topic
                .synonyms
                .iter()
                .position(|s| s.name == name)
                .map(|index| Known::Synonym { topic, index })
        })
    }

    /// The dynamic configs of `scope` now (what an incremental alter starts from).
    pub(crate) fn dynamic(&self, scope: BrokerScope) -> &BTreeMap<String, String> {
        match scope {
            BrokerScope::Node => &self.node,
            BrokerScope::Cluster => &self.cluster,
        }
    }

    /// The type of a known broker config (APPEND and SUBTRACT need a list).
    pub(crate) fn broker_config_type(&self, name: &str) -> Option<(ConfigType, Option<&str>)> {
        match self.known(name)? {
            Known::Static(config) => Some((config.kind, config.kafka_default)),
            Known::Synonym { topic, index } => {
                let synonym = &topic.synonyms[index];
                Some((synonym.kind, synonym.default))
            }
        }
    }

    /// Checks a complete new set of dynamic configs for `scope` (Kafka's
    /// `DynamicBrokerConfig.validateConfigs`); returns it in Kafka's string form. Errors are
    /// INVALID_REQUEST messages.
    pub(crate) fn check_dynamic(
        &self,
        configs: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, InvalidConfig> {
        let fixed: Vec<&str> = configs
            .keys()
            .map(String::as_str)
            .filter(|name| match self.known(name) {
                Some(Known::Synonym { index, .. }) => index != 0,
                Some(Known::Static(_)) => true,
                None => false,
            })
            .collect();
        if !fixed.is_empty() {
            return Err(InvalidConfig(format!(
                "Cannot update these configs dynamically: Set({})",
                fixed.join(", ")
            )));
        }
        if configs.len() > MAX_DYNAMIC_BROKER_CONFIGS {
            return Err(InvalidConfig(format!(
                "kmock holds at most {MAX_DYNAMIC_BROKER_CONFIGS} dynamic broker configs per broker or cluster, got {}",
                configs.len()
            )));
        }
        configs
            .iter()
            .map(|(name, raw)| {
                let value = match self.known(name) {
                    Some(Known::Synonym { topic, .. }) => {
                        topic_config::normalize(name, topic.kind, topic.check, raw)?
                    }
                    _ => topic_config::normalize(name, ConfigType::String, Check::Any, raw)?,
                };
                Ok((name.clone(), value))
            })
            .collect()
    }

    /// Replaces the dynamic configs of `scope` with a set [`Self::check_dynamic`] accepted.
    pub(crate) fn set_dynamic(&mut self, scope: BrokerScope, configs: BTreeMap<String, String>) {
        match scope {
            BrokerScope::Node => self.node = configs,
            BrokerScope::Cluster => self.cluster = configs,
        }
    }

    /// The broker loggers and their levels (a logger without its own level reports root's).
    pub(crate) fn describe_loggers(&self) -> Vec<DescribedConfig> {
        let root = self.loggers.get(ROOT_LOGGER).cloned().flatten();
        self.loggers
            .iter()
            .map(|(name, level)| DescribedConfig {
                name: name.clone(),
                value: level.clone().or_else(|| root.clone()),
                source: source::DYNAMIC_BROKER_LOGGER_CONFIG,
                read_only: false,
                kind: None,
                synonyms: Vec::new(),
                doc: None,
            })
            .collect()
    }

    /// Checks a logger change (Kafka's `RuntimeLoggerManager.validateLogLevelConfigs`): SET needs
    /// a known logger and level, DELETE a known logger other than root. Errors: code and message.
    pub(crate) fn check_logger_change(
        &self,
        logger: &str,
        level: Option<&str>,
    ) -> Result<(), (i16, String)> {
        use kmock_wire::error_code::{INVALID_CONFIG, INVALID_REQUEST};
        if !self.loggers.contains_key(logger) {
            return Err((INVALID_CONFIG, format!("Logger {logger} does not exist!")));
        }
        match level {
            Some(level) if !LOG_LEVELS.contains(&level) => Err((
                INVALID_CONFIG,
                format!(
                    "Cannot set the log level of {logger} to {level} as it is not a supported log level. Valid log levels are {}",
                    LOG_LEVELS.join(", ")
                ),
            )),
            None if logger == ROOT_LOGGER => Err((
                INVALID_REQUEST,
                format!("Removing the log level of the {ROOT_LOGGER} logger is not allowed"),
            )),
            _ => Ok(()),
        }
    }

    /// Sets (or, with `None`, unsets) a logger's level; [`Self::check_logger_change`] accepted it.
    pub(crate) fn set_logger(&mut self, logger: &str, level: Option<&str>) {
        if let Some(entry) = self.loggers.get_mut(logger) {
            *entry = level.map(str::to_owned);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configs() -> BrokerConfigs {
        BrokerConfigs::new(&BrokerConfig {
            group_initial_rebalance_delay_ms: 0,
            ..BrokerConfig::default()
        })
    }

    fn find<'a>(configs: &'a [DescribedConfig], name: &str) -> &'a DescribedConfig {
        configs
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no {name}"))
    }

    fn set(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn broker_reports_kmocks_settings_with_sources() {
        let broker = configs().describe_broker(BrokerScope::Node);
        let delay = find(&broker, "group.initial.rebalance.delay.ms");
        assert_eq!(delay.value.as_deref(), Some("0"));
        assert_eq!(delay.source, source::STATIC_BROKER_CONFIG);
        assert!(delay.read_only);
        assert_eq!(
            delay.synonyms.iter().map(|s| s.source).collect::<Vec<_>>(),
            [source::STATIC_BROKER_CONFIG, source::DEFAULT_CONFIG]
        );
        let partitions = find(&broker, "num.partitions");
        assert_eq!(
            (partitions.value.as_deref(), partitions.source),
            (Some("1"), source::DEFAULT_CONFIG)
        );
        let node = find(&broker, "node.id");
        assert_eq!(
            (node.value.as_deref(), node.source),
            (Some("0"), source::STATIC_BROKER_CONFIG)
        );
        let message_max = find(&broker, "message.max.bytes");
        assert_eq!(message_max.value.as_deref(), Some("1048588"));
        assert!(!message_max.read_only, "a dynamic broker config");
        let hours = find(&broker, "log.retention.hours");
        assert_eq!(
            (hours.value.as_deref(), hours.read_only),
            (Some("168"), true)
        );
        let millis = find(&broker, "log.retention.ms");
        assert_eq!(millis.value, None, "defined with a null default");
        assert_eq!(millis.synonyms.len(), 3, "{:?}", millis.synonyms);
    }

    #[test]
    fn dynamic_broker_configs_change_topic_defaults() {
        let mut broker = configs();
        let cluster = broker
            .check_dynamic(&set(&[("log.retention.ms", "1000")]))
            .unwrap();
        broker.set_dynamic(BrokerScope::Cluster, cluster);
        let node = broker
            .check_dynamic(&set(&[("log.retention.ms", "2000")]))
            .unwrap();
        broker.set_dynamic(BrokerScope::Node, node);
        let retention = topic_config::definition("retention.ms").unwrap();
        assert_eq!(broker.topic_default(retention), "2000");
        let described = broker.describe_topic(&BTreeMap::new());
        let entry = find(&described, "retention.ms");
        assert_eq!(entry.source, source::DYNAMIC_BROKER_CONFIG);
        assert_eq!(
            entry
                .synonyms
                .iter()
                .map(|s| (s.name.as_str(), s.source))
                .collect::<Vec<_>>()[..2],
            [
                ("log.retention.ms", source::DYNAMIC_BROKER_CONFIG),
                ("log.retention.ms", source::DYNAMIC_DEFAULT_BROKER_CONFIG)
            ]
        );
        let cluster_view = broker.describe_broker(BrokerScope::Cluster);
        assert_eq!(cluster_view.len(), 1);
        assert_eq!(cluster_view[0].value.as_deref(), Some("1000"));
        assert_eq!(cluster_view[0].synonyms.len(), 1);
    }

    #[test]
    fn read_only_and_bad_broker_values_are_refused() {
        let broker = configs();
        let fixed = broker.check_dynamic(&set(&[
            ("num.partitions", "3"),
            ("log.retention.hours", "1"),
        ]));
        assert_eq!(
            fixed,
            Err(InvalidConfig(
                "Cannot update these configs dynamically: Set(log.retention.hours, num.partitions)"
                    .into()
            ))
        );
        let bad = broker
            .check_dynamic(&set(&[("message.max.bytes", "big")]))
            .unwrap_err();
        assert_eq!(
            bad.0,
            "Invalid value big for configuration message.max.bytes: Not a number of type INT"
        );
        let custom = broker
            .check_dynamic(&set(&[("custom.plugin.setting", "x")]))
            .unwrap();
        assert_eq!(
            custom["custom.plugin.setting"], "x",
            "Kafka accepts names it does not know"
        );
    }

    #[test]
    fn loggers_follow_kafkas_rules() {
        let mut broker = configs();
        assert_eq!(
            broker
                .check_logger_change("nope", Some("DEBUG"))
                .unwrap_err()
                .0,
            kmock_wire::error_code::INVALID_CONFIG
        );
        assert_eq!(
            broker
                .check_logger_change("kmock_core", Some("LOUD"))
                .unwrap_err()
                .0,
            kmock_wire::error_code::INVALID_CONFIG
        );
        assert_eq!(
            broker.check_logger_change(ROOT_LOGGER, None).unwrap_err().0,
            kmock_wire::error_code::INVALID_REQUEST
        );
        broker.set_logger("kmock_core", Some("DEBUG"));
        broker.set_logger(ROOT_LOGGER, Some("WARN"));
        let loggers = broker.describe_loggers();
        assert_eq!(find(&loggers, "kmock_core").value.as_deref(), Some("DEBUG"));
        assert_eq!(
            find(&loggers, "kmock_wire").value.as_deref(),
            Some("WARN"),
            "inherits root"
        );
    }
}
