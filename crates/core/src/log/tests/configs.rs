//! Topic and broker configs through the wire: CreateTopics with configs, DescribeConfigs,
//! AlterConfigs and IncrementalAlterConfigs at every version, the configs that change Produce, and
//! retention/compaction. A child of `log::tests`, whose harness it uses.

use std::time::Duration;

use bytes::Bytes;
use kmock_wire::kafka_protocol::messages::create_topics_request::CreatableTopicConfig;
use kmock_wire::kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kmock_wire::kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kmock_wire::kafka_protocol::messages::{
    AlterConfigsRequest, DescribeConfigsRequest, IncrementalAlterConfigsRequest,
    alter_configs_request, incremental_alter_configs_request,
};
use kmock_wire::kafka_protocol::records::{Compression, RecordBatchDecoder, TimestampType};

use super::*;
use crate::log::MAX_CONFIG_RESOURCES_PER_REQUEST;
use crate::log::broker_config::source;

pub(super) const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;
const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const BROKER_LOGGER: i8 = 8;

fn s(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_owned())
}

pub(super) fn describe_request(resource_type: i8, name: &str) -> DescribeConfigsRequest {
    DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name)),
    ])
}

pub(super) fn alter_request(
    resource_type: i8,
    name: &str,
    configs: &[(&str, &str)],
) -> AlterConfigsRequest {
    AlterConfigsRequest::default().with_resources(vec![
        alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))
            .with_configs(
                configs
                    .iter()
                    .map(|(name, value)| {
                        alter_configs_request::AlterableConfig::default()
                            .with_name(s(name))
                            .with_value(Some(s(value)))
                    })
                    .collect(),
            ),
    ])
}

pub(super) fn incremental_request(
    resource_type: i8,
    name: &str,
    ops: &[(&str, i8, Option<&str>)],
) -> IncrementalAlterConfigsRequest {
    IncrementalAlterConfigsRequest::default().with_resources(vec![
        incremental_alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))
            .with_configs(
                ops.iter()
                    .map(|(name, op, value)| {
                        incremental_alter_configs_request::AlterableConfig::default()
                            .with_name(s(name))
                            .with_config_operation(*op)
                            .with_value(value.map(s))
                    })
                    .collect(),
            ),
    ])
}

fn create_with_configs(topic: &str, configs: &[(&str, Option<&str>)]) -> CreateTopicsRequest {
    let mut request = create_request(topic, 1, 1);
    request.topics[0].configs = configs
        .iter()
        .map(|(name, value)| {
            CreatableTopicConfig::default()
                .with_name(s(name))
                .with_value(value.map(s))
        })
        .collect();
    request
}

/// Broker time zero on the wall clock of [`clocked_broker`].
const START_MS: i64 = 1_700_000_000_000;

/// A broker whose wall clock reads [`START_MS`] at broker time zero.
fn clocked_broker() -> Broker {
    Broker::with_config(BrokerConfig {
        wall_clock_start_unix_ms: START_MS,
        ..BrokerConfig::default()
    })
}

impl Broker {
    /// Creates a one-partition topic with configs (CreateTopics v7); its id.
    fn configured(&mut self, topic: &str, configs: &[(&str, Option<&str>)]) -> Uuid {
        let response = self.create_topics(&create_with_configs(topic, configs), 7);
        assert_eq!(response.topics[0].error_code, 0, "{response:?}");
        response.topics[0].topic_id
    }

    fn describe(
        &mut self,
        request: &DescribeConfigsRequest,
        version: i16,
    ) -> Vec<DescribeConfigsResult> {
        let ResponseKind::DescribeConfigs(r) = self.call(request, version) else {
            panic!()
        };
        r.results
    }

    /// A topic's or broker's configs by name (DescribeConfigs v4, synonyms included).
    fn configs(&mut self, resource_type: i8, name: &str) -> Vec<DescribeConfigsResourceResult> {
        let request = describe_request(resource_type, name).with_include_synonyms(true);
        let results = self.describe(&request, 4);
        assert_eq!(results[0].error_code, 0, "{:?}", results[0]);
        results[0].configs.clone()
    }

    fn config(&mut self, topic: &str, name: &str) -> DescribeConfigsResourceResult {
        let configs = self.configs(TOPIC, topic);
        configs
            .into_iter()
            .find(|c| c.name.as_str() == name)
            .unwrap_or_else(|| panic!("no {name}"))
    }

    /// AlterConfigs at `version`: (error code, message) of the first resource.
    fn alter(&mut self, request: &AlterConfigsRequest, version: i16) -> (i16, Option<String>) {
        let ResponseKind::AlterConfigs(r) = self.call(request, version) else {
            panic!()
        };
        let first = &r.responses[0];
        (
            first.error_code,
            first.error_message.as_ref().map(ToString::to_string),
        )
    }

    fn incremental(
        &mut self,
        request: &IncrementalAlterConfigsRequest,
        version: i16,
    ) -> (i16, Option<String>) {
        let ResponseKind::IncrementalAlterConfigs(r) = self.call(request, version) else {
            panic!()
        };
        let first = &r.responses[0];
        (
            first.error_code,
            first.error_message.as_ref().map(ToString::to_string),
        )
    }

    fn set_topic(&mut self, topic: &str, name: &str, value: &str) {
        let request = incremental_request(TOPIC, topic, &[(name, SET, Some(value))]);
        assert_eq!(self.incremental(&request, 1), (0, None));
    }

    fn produce_partition(
        &mut self,
        topic: &str,
        records: Bytes,
        version: i16,
    ) -> PartitionProduceResponse {
        let response = self.produce(&produce_request(topic, 0, records, 1), version);
        response.responses[0].partition_responses[0].clone()
    }
}

use kmock_wire::kafka_protocol::messages::produce_response::PartitionProduceResponse;

fn value(config: &DescribeConfigsResourceResult) -> Option<&str> {
    config.value.as_ref().map(|v| v.as_str())
}

// ---------------------------------------------------------------------------------------------
// CreateTopics with configs

#[test]
fn create_topics_checks_and_stores_configs() {
    let mut broker = Broker::new();
    type Case<'a> = (&'a [(&'a str, Option<&'a str>)], i16, &'a str);
    let cases: [Case<'_>; 4] = [
        (
            &[("retention.mss", Some("1"))],
            code::INVALID_CONFIG,
            "Unknown topic config name: retention.mss",
        ),
        (
            &[("retention.ms", Some("soon"))],
            code::INVALID_CONFIG,
            "Invalid value soon for configuration retention.ms: Not a number of type LONG",
        ),
        (
            &[("max.message.bytes", Some("-5"))],
            code::INVALID_CONFIG,
            "Invalid value -5 for configuration max.message.bytes: Value must be at least 0",
        ),
        (
            &[("retention.ms", None)],
            code::INVALID_CONFIG,
            "Null value not supported for topic configs: retention.ms",
        ),
    ];
    for version in versions(ApiKey::CreateTopics) {
        for (configs, error_code, message) in cases {
            let response = broker.create_topics(&create_with_configs("bad", configs), version);
            let topic = &response.topics[0];
            assert_eq!(topic.error_code, error_code, "v{version} {configs:?}");
            assert_eq!(topic.error_message.as_deref(), Some(message), "v{version}");
        }
        assert!(
            broker.core.logs().topic_configs("bad").is_none(),
            "nothing created"
        );
    }
    let request = create_with_configs(
        "good",
        &[
            ("retention.ms", Some(" 1000 ")),
            ("cleanup.policy", Some("compact, delete")),
        ],
    );
    let response = broker.create_topics(&request, 7);
    assert_eq!(response.topics[0].error_code, 0);
    let configs = response.topics[0]
        .configs
        .as_ref()
        .expect("v5+ returns the configs");
    assert!(
        configs.windows(2).all(|w| w[0].name < w[1].name),
        "in name order"
    );
    let retention = configs
        .iter()
        .find(|c| c.name.as_str() == "retention.ms")
        .unwrap();
    assert_eq!(
        (retention.value.as_deref(), retention.config_source),
        (Some("1000"), source::TOPIC_CONFIG)
    );
    let max = configs
        .iter()
        .find(|c| c.name.as_str() == "max.message.bytes")
        .unwrap();
    assert_eq!(
        (max.value.as_deref(), max.config_source),
        (Some("1048588"), source::DEFAULT_CONFIG)
    );
    let stored = broker.core.logs().topic_configs("good").unwrap();
    assert_eq!(
        stored["cleanup.policy"], "compact,delete",
        "stored in Kafka's form"
    );
}

#[test]
fn create_topics_validate_only_checks_configs() {
    let mut broker = Broker::new();
    let mut request = create_with_configs("t", &[("segment.bytes", Some("1"))]);
    request.validate_only = true;
    let response = broker.create_topics(&request, 5);
    assert_eq!(response.topics[0].error_code, code::INVALID_CONFIG);
}

// ---------------------------------------------------------------------------------------------
// DescribeConfigs

#[test]
fn describe_topic_configs_at_every_version() {
    let mut broker = Broker::new();
    broker.configured("t", &[("retention.ms", Some("1000"))]);
    for version in versions(ApiKey::DescribeConfigs) {
        for (synonyms, documentation) in [(false, false), (true, true)] {
            let request = describe_request(TOPIC, "t")
                .with_include_synonyms(synonyms)
                .with_include_documentation(documentation && version >= 3);
            let results = broker.describe(&request, version);
            let result = &results[0];
            assert_eq!(
                (
                    result.error_code,
                    result.resource_type,
                    result.resource_name.as_str()
                ),
                (0, TOPIC, "t")
            );
            assert_eq!(
                result.configs.len(),
                super::super::topic_config::TOPIC_CONFIGS.len(),
                "v{version}"
            );
            let retention = result
                .configs
                .iter()
                .find(|c| c.name.as_str() == "retention.ms")
                .unwrap();
            assert_eq!(
                (
                    value(retention),
                    retention.config_source,
                    retention.read_only,
                    retention.is_sensitive
                ),
                (Some("1000"), source::TOPIC_CONFIG, false, false)
            );
            let max = result
                .configs
                .iter()
                .find(|c| c.name.as_str() == "max.message.bytes")
                .unwrap();
            assert_eq!(
                (value(max), max.config_source),
                (Some("1048588"), source::DEFAULT_CONFIG)
            );
            if synonyms {
                let names: Vec<(&str, i8)> = retention
                    .synonyms
                    .iter()
                    .map(|s| (s.name.as_str(), s.source))
                    .collect();
                assert_eq!(
                    names,
                    [
                        ("retention.ms", 1),
                        ("log.retention.ms", 5),
                        ("log.retention.minutes", 5),
                        ("log.retention.hours", 5)
                    ],
                    "v{version}"
                );
                assert_eq!(max.synonyms.len(), 1);
                assert_eq!(max.synonyms[0].name.as_str(), "message.max.bytes");
            } else {
                assert!(retention.synonyms.is_empty(), "v{version}");
            }
            if version >= 3 {
                assert_eq!(retention.config_type, 5, "LONG");
                assert_eq!(
                    retention.documentation.is_some(),
                    documentation,
                    "v{version}"
                );
            }
        }
    }
}

#[test]
fn describe_filters_by_configuration_keys() {
    let mut broker = Broker::new();
    broker.create("t", 1);
    let mut request = describe_request(TOPIC, "t");
    request.resources[0].configuration_keys = Some(vec![s("retention.ms"), s("no.such.config")]);
    let results = broker.describe(&request, 2);
    let names: Vec<&str> = results[0].configs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["retention.ms"]);
}

#[test]
fn describe_errors_per_resource_and_the_connection_keeps_working() {
    let mut broker = Broker::new();
    broker.create("t", 1);
    let mut request = describe_request(TOPIC, "missing");
    for (resource_type, name) in [
        (TOPIC, "bad/name"),
        (BROKER, "1"),
        (BROKER, "zero"),
        (BROKER_LOGGER, ""),
        (32, "group"),
        (TOPIC, "t"),
    ] {
        request.resources.push(
            DescribeConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(s(name)),
        );
    }
    let results = broker.describe(&request, 4);
    let codes: Vec<i16> = results.iter().map(|r| r.error_code).collect();
    assert_eq!(
        codes,
        [
            code::UNKNOWN_TOPIC_OR_PARTITION,
            code::INVALID_TOPIC_EXCEPTION,
            code::INVALID_REQUEST,
            code::INVALID_REQUEST,
            code::INVALID_REQUEST,
            code::INVALID_REQUEST,
            0
        ]
    );
    assert_eq!(
        results[2].error_message.as_deref(),
        Some("Unexpected broker id, expected 0, but received 1")
    );
    assert!(results[6].configs.len() > 30);
    // A type Kafka does not know fails every resource, as Kafka's handler throws.
    let mut unknown = describe_request(TOPIC, "t");
    unknown.resources.push(
        DescribeConfigsResource::default()
            .with_resource_type(3)
            .with_resource_name(s("x")),
    );
    let results = broker.describe(&unknown, 4);
    assert!(
        results
            .iter()
            .all(|r| r.error_code == code::INVALID_REQUEST && r.configs.is_empty())
    );
    assert_eq!(
        broker.configs(TOPIC, "t").len(),
        super::super::topic_config::TOPIC_CONFIGS.len(),
        "still served"
    );
}

#[test]
fn describe_broker_reports_kmocks_real_settings() {
    let mut broker = Broker::with_config(BrokerConfig {
        default_partitions: 3,
        group_initial_rebalance_delay_ms: 0,
        ..BrokerConfig::default()
    });
    let configs = broker.configs(BROKER, "0");
    let find = |name: &str| {
        configs
            .iter()
            .find(|c| c.name.as_str() == name)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert_eq!(
        (
            value(find("num.partitions")),
            find("num.partitions").config_source
        ),
        (Some("3"), source::STATIC_BROKER_CONFIG)
    );
    assert_eq!(value(find("group.initial.rebalance.delay.ms")), Some("0"));
    assert_eq!(
        (
            value(find("group.min.session.timeout.ms")),
            find("group.min.session.timeout.ms").config_source
        ),
        (Some("6000"), source::DEFAULT_CONFIG)
    );
    assert_eq!(value(find("socket.request.max.bytes")), Some("104857600"));
    assert_eq!(value(find("auto.create.topics.enable")), Some("true"));
    assert_eq!(value(find("message.max.bytes")), Some("1048588"));
    assert_eq!(value(find("node.id")), Some("0"));
    assert!(find("num.partitions").read_only);
    assert!(!find("log.retention.ms").read_only);
    // The cluster default holds only dynamic configs; loggers report their levels.
    assert!(broker.configs(BROKER, "").is_empty());
    let loggers = broker.configs(BROKER_LOGGER, "0");
    let root = loggers.iter().find(|c| c.name.as_str() == "root").unwrap();
    assert_eq!(
        (value(root), root.config_source),
        (Some("INFO"), source::DYNAMIC_BROKER_LOGGER_CONFIG)
    );
}

// ---------------------------------------------------------------------------------------------
// AlterConfigs (legacy): replaces the whole set

#[test]
fn alter_configs_replaces_the_topics_overrides_at_every_version() {
    for version in versions(ApiKey::AlterConfigs) {
        let mut broker = Broker::new();
        broker.configured("t", &[("retention.ms", Some("1000"))]);
        let request = alter_request(TOPIC, "t", &[("max.message.bytes", "2000")]);
        assert_eq!(broker.alter(&request, version), (0, None), "v{version}");
        let retention = broker.config("t", "retention.ms");
        assert_eq!(
            (value(&retention), retention.config_source),
            (Some("604800000"), source::DEFAULT_CONFIG),
            "v{version}: not named, back to its default"
        );
        let max = broker.config("t", "max.message.bytes");
        assert_eq!(
            (value(&max), max.config_source),
            (Some("2000"), source::TOPIC_CONFIG)
        );
    }
}

#[test]
fn alter_configs_refuses_bad_input_with_kafkas_codes() {
    let mut broker = Broker::new();
    broker.create("t", 1);
    let invalid_request = code::INVALID_REQUEST;
    let cases: Vec<(AlterConfigsRequest, i16, &str)> = vec![
        (
            alter_request(TOPIC, "missing", &[("retention.ms", "1")]),
            code::UNKNOWN_TOPIC_OR_PARTITION,
            "Topic missing does not exist",
        ),
        (
            alter_request(TOPIC, "missing", &[("nope", "1")]),
            code::INVALID_CONFIG,
            "Unknown topic config name: nope",
        ),
        (
            alter_request(TOPIC, "t", &[("retention.ms", "-7")]),
            code::INVALID_CONFIG,
            "Invalid value -7 for configuration retention.ms: Value must be at least -1",
        ),
        (
            alter_request(TOPIC, "t", &[("retention.ms", "1"), ("retention.ms", "2")]),
            invalid_request,
            "Error due to duplicate config keys",
        ),
        (
            alter_request(TOPIC, "", &[]),
            invalid_request,
            "Default topic resources are not allowed.",
        ),
        (
            alter_request(BROKER, "0", &[("num.partitions", "4")]),
            invalid_request,
            "Cannot update these configs dynamically: Set(num.partitions)",
        ),
        (
            alter_request(BROKER, "0", &[("message.max.bytes", "x")]),
            invalid_request,
            "Invalid value x for configuration message.max.bytes: Not a number of type INT",
        ),
        (
            alter_request(BROKER, "7", &[]),
            invalid_request,
            "Unexpected broker id, expected 0, but received 7",
        ),
        (
            alter_request(BROKER_LOGGER, "0", &[("root", "DEBUG")]),
            invalid_request,
            "Unknown resource type 8",
        ),
    ];
    for version in versions(ApiKey::AlterConfigs) {
        for (request, error_code, message) in &cases {
            assert_eq!(
                broker.alter(request, version),
                (*error_code, Some((*message).to_owned())),
                "v{version}"
            );
        }
    }
    // Strings longer than 32767 bytes exist only in flexible versions (v2).
    let huge = alter_request(TOPIC, "t", &[("segment.bytes", &"9".repeat(70_000))]);
    let message = "the value of segment.bytes is 70000 bytes long; kmock accepts at most 65536";
    assert_eq!(
        broker.alter(&huge, 2),
        (code::INVALID_CONFIG, Some(message.to_owned()))
    );
    let mut null_value = alter_request(TOPIC, "t", &[("retention.ms", "1")]);
    null_value.resources[0].configs[0].value = None;
    assert_eq!(
        broker.alter(&null_value, 0),
        (
            invalid_request,
            Some("Null value not supported for : retention.ms".into())
        )
    );
    let mut twice = alter_request(TOPIC, "t", &[("retention.ms", "1")]);
    twice.resources.push(twice.resources[0].clone());
    let ResponseKind::AlterConfigs(response) = broker.call(&twice, 1) else {
        panic!()
    };
    assert!(
        response
            .responses
            .iter()
            .all(|r| r.error_code == invalid_request
                && r.error_message.as_deref() == Some("Each resource must appear at most once."))
    );
    assert!(
        broker.core.logs().topic_configs("t").unwrap().is_empty(),
        "nothing changed"
    );
}

#[test]
fn validate_only_changes_nothing() {
    let mut broker = Broker::new();
    broker.create("t", 1);
    let mut legacy = alter_request(TOPIC, "t", &[("retention.ms", "5")]);
    legacy.validate_only = true;
    assert_eq!(broker.alter(&legacy, 2), (0, None));
    let mut incremental = incremental_request(BROKER, "0", &[("log.retention.ms", SET, Some("5"))]);
    incremental.validate_only = true;
    assert_eq!(broker.incremental(&incremental, 1), (0, None));
    let mut bad = incremental_request(TOPIC, "t", &[("retention.ms", SET, Some("x"))]);
    bad.validate_only = true;
    assert_eq!(
        broker.incremental(&bad, 1).0,
        code::INVALID_CONFIG,
        "still validated"
    );
    assert_eq!(
        value(&broker.config("t", "retention.ms")),
        Some("604800000")
    );
}

// ---------------------------------------------------------------------------------------------
// IncrementalAlterConfigs

#[test]
fn incremental_operations_at_every_version() {
    for version in versions(ApiKey::IncrementalAlterConfigs) {
        let mut broker = Broker::new();
        broker.configured(
            "t",
            &[("retention.ms", Some("1000")), ("segment.ms", Some("5000"))],
        );
        let ops = [
            ("cleanup.policy", APPEND, Some("compact")),
            ("retention.ms", DELETE, None),
            ("max.message.bytes", SET, Some("777")),
        ];
        assert_eq!(
            broker.incremental(&incremental_request(TOPIC, "t", &ops), version),
            (0, None),
            "v{version}"
        );
        let stored = broker.core.logs().topic_configs("t").unwrap().clone();
        let expected: Vec<(&str, &str)> = vec![
            ("cleanup.policy", "delete,compact"),
            ("max.message.bytes", "777"),
            ("segment.ms", "5000"),
        ];
        assert_eq!(
            stored
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
            expected,
            "v{version}"
        );
        let subtract =
            incremental_request(TOPIC, "t", &[("cleanup.policy", SUBTRACT, Some("delete"))]);
        assert_eq!(broker.incremental(&subtract, version), (0, None));
        assert_eq!(
            value(&broker.config("t", "cleanup.policy")),
            Some("compact")
        );
    }
}

#[test]
fn incremental_refuses_bad_operations() {
    let mut broker = Broker::new();
    broker.create("t", 1);
    let cases: Vec<(IncrementalAlterConfigsRequest, i16, &str)> = vec![
        (
            incremental_request(TOPIC, "t", &[("retention.ms", APPEND, Some("1"))]),
            code::INVALID_CONFIG,
            "Can't APPEND to key retention.ms because its type is not LIST.",
        ),
        (
            incremental_request(TOPIC, "t", &[("retention.ms", 9, Some("1"))]),
            code::INVALID_REQUEST,
            "Unknown operations type 9",
        ),
        (
            incremental_request(TOPIC, "t", &[("retention.ms", SET, None)]),
            code::INVALID_REQUEST,
            "Null value not supported for : retention.ms",
        ),
        (
            incremental_request(TOPIC, "t", &[("cleanup.policy", APPEND, Some("shred"))]),
            code::INVALID_CONFIG,
            "Invalid value shred for configuration cleanup.policy: String must be one of: compact, delete",
        ),
        (
            incremental_request(
                TOPIC,
                "t",
                &[
                    ("min.compaction.lag.ms", SET, Some("10")),
                    ("max.compaction.lag.ms", SET, Some("5")),
                ],
            ),
            code::INVALID_CONFIG,
            "conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)",
        ),
        (
            incremental_request(TOPIC, "gone", &[("retention.ms", SET, Some("1"))]),
            code::UNKNOWN_TOPIC_OR_PARTITION,
            "Topic gone does not exist",
        ),
        (
            incremental_request(BROKER, "0", &[("message.max.bytes", APPEND, Some("1"))]),
            code::INVALID_CONFIG,
            "Config value append is not allowed for config key: message.max.bytes",
        ),
        (
            incremental_request(BROKER_LOGGER, "0", &[("root", DELETE, None)]),
            code::INVALID_REQUEST,
            "Removing the log level of the root logger is not allowed",
        ),
        (
            incremental_request(BROKER_LOGGER, "0", &[("nobody", SET, Some("DEBUG"))]),
            code::INVALID_CONFIG,
            "Logger nobody does not exist!",
        ),
        (
            incremental_request(BROKER_LOGGER, "0", &[("root", APPEND, Some("DEBUG"))]),
            code::INVALID_REQUEST,
            "APPEND operation is not allowed for the BROKER_LOGGER resource",
        ),
    ];
    for version in versions(ApiKey::IncrementalAlterConfigs) {
        for (request, error_code, message) in &cases {
            assert_eq!(
                broker.incremental(request, version),
                (*error_code, Some((*message).to_owned())),
                "v{version} {request:?}"
            );
        }
    }
    assert!(
        broker.core.logs().topic_configs("t").unwrap().is_empty(),
        "nothing changed"
    );
}

#[test]
fn dynamic_broker_defaults_reach_every_topic() {
    let mut broker = Broker::new();
    broker.create("t", 1);
    let cluster = incremental_request(BROKER, "", &[("message.max.bytes", SET, Some("200"))]);
    assert_eq!(broker.incremental(&cluster, 1), (0, None));
    let max = broker.config("t", "max.message.bytes");
    assert_eq!(
        (value(&max), max.config_source),
        (Some("200"), source::DYNAMIC_DEFAULT_BROKER_CONFIG)
    );
    // The new default applies to Produce at once (MESSAGE_TOO_LARGE for a batch over 200 bytes).
    let large = batch_of(&[&"x".repeat(300)]);
    assert_eq!(
        broker.produce_batch("t", 0, large.clone()).0,
        code::MESSAGE_TOO_LARGE
    );
    let node = incremental_request(BROKER, "0", &[("message.max.bytes", SET, Some("100000"))]);
    assert_eq!(broker.incremental(&node, 0), (0, None));
    assert_eq!(
        broker.config("t", "max.message.bytes").config_source,
        source::DYNAMIC_BROKER_CONFIG
    );
    assert_eq!(broker.produce_batch("t", 0, large).0, 0);
    let broker_view = broker.configs(BROKER, "");
    assert_eq!(broker_view.len(), 1);
    assert_eq!(
        broker_view[0].config_source,
        source::DYNAMIC_DEFAULT_BROKER_CONFIG
    );
    let loggers = incremental_request(BROKER_LOGGER, "0", &[("kmock_core", SET, Some("TRACE"))]);
    assert_eq!(broker.incremental(&loggers, 1), (0, None));
    let levels = broker.configs(BROKER_LOGGER, "0");
    assert_eq!(
        levels
            .iter()
            .find(|c| c.name.as_str() == "kmock_core")
            .and_then(value),
        Some("TRACE")
    );
}

#[test]
fn resources_beyond_the_limit_are_refused_without_a_look() {
    let mut broker = Broker::new();
    broker.create("t", 1);
    let mut request = incremental_request(TOPIC, "t", &[("retention.ms", SET, Some("1"))]);
    let template = request.resources[0].clone();
    request.resources = (0..MAX_CONFIG_RESOURCES_PER_REQUEST + 2)
        .map(|i| template.clone().with_resource_name(s(&format!("t{i}"))))
        .collect();
    let ResponseKind::IncrementalAlterConfigs(response) = broker.call(&request, 1) else {
        panic!()
    };
    assert_eq!(
        response.responses.len(),
        MAX_CONFIG_RESOURCES_PER_REQUEST + 2
    );
    assert!(
        response.responses[..MAX_CONFIG_RESOURCES_PER_REQUEST]
            .iter()
            .all(|r| r.error_code == code::UNKNOWN_TOPIC_OR_PARTITION)
    );
    assert!(
        response.responses[MAX_CONFIG_RESOURCES_PER_REQUEST..]
            .iter()
            .all(|r| r.error_code == code::INVALID_REQUEST && r.error_message.is_none())
    );
}

#[test]
fn config_apis_take_faults() {
    let mut broker = Broker::new();
    broker.create("t", 1);
    for spec in [
        "describe_configs:error=cluster_authorization_failed",
        "alter_configs:error=policy_violation",
        "incremental_alter_configs:error=44",
    ] {
        broker.core.add_fault(spec.parse().unwrap());
    }
    assert_eq!(
        broker.describe(&describe_request(TOPIC, "t"), 4)[0].error_code,
        code::CLUSTER_AUTHORIZATION_FAILED
    );
    assert_eq!(
        broker.alter(&alter_request(TOPIC, "t", &[]), 2).0,
        code::POLICY_VIOLATION
    );
    assert_eq!(
        broker
            .incremental(&incremental_request(TOPIC, "t", &[]), 1)
            .0,
        code::POLICY_VIOLATION
    );
    let logged: Vec<String> = broker
        .core
        .request_log()
        .since(0)
        .map(|e| e.api_name())
        .collect();
    assert!(
        logged.ends_with(&[
            "DescribeConfigs".into(),
            "AlterConfigs".into(),
            "IncrementalAlterConfigs".into()
        ]),
        "{logged:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Produce under topic configs

/// A batch of `(key, value)` records with timestamps from `timestamp` on.
fn keyed_batch(pairs: &[(Option<&str>, Option<&str>)], timestamp: i64) -> Bytes {
    let mut batch = records(&vec![""; pairs.len()], timestamp, PLAIN);
    for (record, (key, value)) in batch.iter_mut().zip(pairs) {
        record.key = key.map(|k| Bytes::from(k.to_owned()));
        record.value = value.map(|v| Bytes::from(v.to_owned()));
    }
    encode_records(&batch, Compression::None)
}

fn high_watermark(broker: &Broker, topic: &str) -> i64 {
    broker.core.logs().high_watermark(topic, 0).unwrap()
}

#[test]
fn a_batch_over_max_message_bytes_is_refused_and_not_stored() {
    let mut broker = Broker::new();
    broker.create("t", 1);
    // Kafka's default (1048588): a 3 MiB record is refused.
    let huge = batch_of(&[&"x".repeat(3 << 20)]);
    for version in versions(ApiKey::Produce) {
        if version >= 13 {
            continue; // addressed by topic id; covered by every_version
        }
        let partition = broker.produce_partition("t", huge.clone(), version);
        assert_eq!(
            (partition.error_code, partition.base_offset),
            (code::MESSAGE_TOO_LARGE, -1),
            "v{version}"
        );
    }
    assert_eq!(high_watermark(&broker, "t"), 0);
    let small = batch_of(&["fits"]);
    broker.set_topic("t", "max.message.bytes", &small.len().to_string());
    assert_eq!(
        broker.produce_batch("t", 0, small.clone()).0,
        0,
        "a batch exactly at the limit fits"
    );
    broker.set_topic("t", "max.message.bytes", &(small.len() - 1).to_string());
    assert_eq!(
        broker.produce_batch("t", 0, small).0,
        code::MESSAGE_TOO_LARGE
    );
    assert_eq!(high_watermark(&broker, "t"), 1);
}

#[test]
fn an_append_over_segment_bytes_is_record_list_too_large() {
    let mut broker = Broker::new();
    broker.configured("t", &[("segment.bytes", Some("100"))]);
    assert_eq!(
        broker
            .produce_batch("t", 0, batch_of(&[&"y".repeat(200)]))
            .0,
        code::RECORD_LIST_TOO_LARGE
    );
    assert_eq!(high_watermark(&broker, "t"), 0);
}

#[test]
fn log_append_time_stamps_batches_with_the_brokers_clock() {
    let mut broker = clocked_broker();
    broker.configured(
        "stamped",
        &[("message.timestamp.type", Some("LogAppendTime"))],
    );
    broker.create("plain", 1);
    broker.now += Duration::from_millis(5_000);
    let stamp = START_MS + 5_000;
    let partition = broker.produce_partition("stamped", batch_of(&["a", "b"]), 9);
    assert_eq!(
        (partition.error_code, partition.log_append_time_ms),
        (0, stamp)
    );
    assert_eq!(
        broker
            .produce_partition("plain", batch_of(&["a"]), 9)
            .log_append_time_ms,
        -1
    );
    let served = broker.core.logs().batches("stamped", 0).unwrap();
    batch::parse_batches(&served[0]).expect("the CRC covers the new attributes and max timestamp");
    let mut bytes = served[0].clone();
    let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
    assert!(
        set.records
            .iter()
            .all(|r| r.timestamp_type == TimestampType::LogAppend)
    );
    assert_eq!(
        i64::from_be_bytes(served[0][35..43].try_into().unwrap()),
        stamp,
        "max timestamp"
    );
    // ListOffsets by timestamp sees the append time, not the producer's.
    let ResponseKind::ListOffsets(offsets) =
        broker.call(&list_offsets_request("stamped", 0, stamp), 7)
    else {
        panic!()
    };
    assert_eq!(
        (
            offsets.topics[0].partitions[0].offset,
            offsets.topics[0].partitions[0].timestamp
        ),
        (0, stamp)
    );
}

#[test]
fn compacted_topics_refuse_keyless_records_with_record_errors() {
    let mut broker = Broker::new();
    broker.configured("c", &[("cleanup.policy", Some("compact"))]);
    let partition = broker.produce_partition(
        "c",
        keyed_batch(&[(Some("k"), Some("v")), (None, Some("v"))], 1_000),
        9,
    );
    assert_eq!(partition.error_code, code::INVALID_RECORD);
    assert_eq!(partition.record_errors.len(), 1);
    assert_eq!(partition.record_errors[0].batch_index, 1);
    assert!(
        partition
            .error_message
            .as_deref()
            .unwrap()
            .starts_with("One or more records have been rejected due to 1 record errors")
    );
    let old = broker.produce_partition("c", keyed_batch(&[(None, Some("v"))], 1_000), 7);
    assert_eq!(
        (old.error_code, old.record_errors.len()),
        (code::INVALID_RECORD, 0),
        "v7 has no record errors"
    );
    assert_eq!(high_watermark(&broker, "c"), 0);
}

#[test]
fn create_time_limits_refuse_out_of_range_timestamps() {
    let mut broker = clocked_broker();
    broker.configured(
        "t",
        &[
            ("message.timestamp.before.max.ms", Some("60000")),
            ("message.timestamp.after.max.ms", Some("1000")),
        ],
    );
    let stale = broker.produce_partition(
        "t",
        keyed_batch(&[(None, Some("old"))], START_MS - 120_000),
        9,
    );
    assert_eq!(stale.error_code, code::INVALID_TIMESTAMP);
    assert_eq!(
        stale.error_message.as_deref(),
        Some("One or more records have been rejected due to invalid timestamp")
    );
    let future = broker.produce_partition(
        "t",
        keyed_batch(&[(None, Some("new"))], START_MS + 5_000),
        9,
    );
    assert_eq!(future.error_code, code::INVALID_TIMESTAMP);
    let fine = broker.produce_partition("t", keyed_batch(&[(None, Some("now"))], START_MS - 10), 9);
    assert_eq!(fine.error_code, 0);
}

// ---------------------------------------------------------------------------------------------
// Retention and compaction

fn earliest(broker: &mut Broker, topic: &str) -> i64 {
    let ResponseKind::ListOffsets(r) = broker.call(&list_offsets_request(topic, 0, -2), 7) else {
        panic!()
    };
    r.topics[0].partitions[0].offset
}

#[test]
fn retention_ms_deletes_old_batches_and_moves_the_log_start_offset() {
    let mut broker = clocked_broker();
    let topic_id = broker.create("t", 1);
    broker.set_topic("t", "retention.ms", "60000");
    broker.produce_batch(
        "t",
        0,
        keyed_batch(
            &[(None, Some("old")), (None, Some("old"))],
            START_MS - 3_600_000,
        ),
    );
    broker.produce_batch("t", 0, keyed_batch(&[(None, Some("new"))], START_MS));
    let report = broker.core.logs.clean_logs(None, broker.now).unwrap();
    assert_eq!(report.partitions.len(), 1);
    let cleaned = &report.partitions[0];
    assert_eq!(
        (
            cleaned.deleted_batches,
            cleaned.log_start_offset_before,
            cleaned.log_start_offset
        ),
        (1, 0, 2)
    );
    assert_eq!(earliest(&mut broker, "t"), 2);
    let fetch = broker.fetch(&fetch_request(12, "t", topic_id, 0, 0, 1), 12);
    assert_eq!(
        fetch.responses[0].partitions[0].error_code,
        code::OFFSET_OUT_OF_RANGE
    );
    let fetch = broker.fetch(&fetch_request(12, "t", topic_id, 2, 0, 1), 12);
    assert_eq!(
        decode(fetch.responses[0].partitions[0].records.as_ref().unwrap()),
        [(2, "new".to_owned())]
    );
    assert_eq!(
        broker
            .core
            .logs
            .clean_logs(Some("t"), broker.now)
            .unwrap()
            .partitions,
        [],
        "nothing more to remove"
    );
    assert!(
        broker
            .core
            .logs
            .clean_logs(Some("missing"), broker.now)
            .is_none()
    );
}

#[test]
fn retention_bytes_keeps_the_newest_batches_within_the_limit() {
    let mut broker = Broker::new();
    broker.create("t", 1);
    let batch = batch_of(&["0123456789"]);
    for _ in 0..4 {
        broker.produce_batch("t", 0, batch.clone());
    }
    broker.set_topic("t", "retention.ms", "-1");
    // Batches go while the partition keeps at least retention.bytes without them.
    broker.set_topic("t", "retention.bytes", &(2 * batch.len()).to_string());
    let report = broker.core.logs.clean_logs(Some("t"), broker.now).unwrap();
    assert_eq!(report.partitions[0].deleted_batches, 2);
    assert_eq!(earliest(&mut broker, "t"), 2);
    // compact only: retention does not delete.
    broker.set_topic("t", "cleanup.policy", "compact");
    broker.set_topic("t", "retention.bytes", "0");
    assert_eq!(
        broker
            .core
            .logs
            .clean_logs(Some("t"), broker.now)
            .unwrap()
            .partitions[0]
            .deleted_batches,
        0
    );
}

#[test]
fn compaction_keeps_the_latest_value_of_each_key() {
    let mut broker = clocked_broker();
    let topic_id = broker
        .create_topics(
            &create_with_configs(
                "c",
                &[
                    ("cleanup.policy", Some("compact")),
                    ("delete.retention.ms", Some("1000")),
                ],
            ),
            7,
        )
        .topics[0]
        .topic_id;
    broker.produce_batch(
        "c",
        0,
        keyed_batch(
            &[
                (Some("a"), Some("a1")),
                (Some("b"), Some("b1")),
                (Some("a"), Some("a2")),
            ],
            START_MS,
        ),
    );
    broker.produce_batch(
        "c",
        0,
        keyed_batch(&[(Some("b"), None), (Some("c"), Some("c1"))], START_MS),
    );
    broker.produce_batch("c", 0, keyed_batch(&[(Some("d"), None)], START_MS - 10_000));
    let report = broker.core.logs.clean_logs(Some("c"), broker.now).unwrap();
    assert_eq!(
        report.partitions[0].compacted_records, 3,
        "a1, b1, and d's expired tombstone"
    );
    assert_eq!(
        report.partitions[0].log_start_offset, 0,
        "compaction does not move the log start"
    );
    let fetch = broker.fetch(&fetch_request(12, "c", topic_id, 0, 0, 1), 12);
    let mut records = fetch.responses[0].partitions[0].records.clone().unwrap();
    let mut kept = Vec::new();
    let mut last_offsets = Vec::new();
    while bytes::Buf::has_remaining(&records) {
        let header_last = i64::from_be_bytes(records[0..8].try_into().unwrap())
            + i64::from(i32::from_be_bytes(records[23..27].try_into().unwrap()));
        last_offsets.push(header_last);
        let set = RecordBatchDecoder::decode(&mut records).unwrap();
        kept.extend(set.records.iter().map(|r| {
            (
                r.offset,
                r.key
                    .clone()
                    .map(|k| String::from_utf8(k.to_vec()).unwrap()),
                r.value.is_some(),
            )
        }));
    }
    assert_eq!(
        kept,
        [
            (2, Some("a".into()), true),
            (3, Some("b".into()), false),
            (4, Some("c".into()), true)
        ]
    );
    assert_eq!(
        last_offsets,
        [2, 4],
        "a rewritten batch keeps its last offset; an emptied one goes"
    );
    assert_eq!(high_watermark(&broker, "c"), 6);
}

#[test]
fn a_fetch_parked_below_the_new_log_start_gets_offset_out_of_range_at_once() {
    let mut broker = clocked_broker();
    let topic_id = broker.configured("t", &[("retention.bytes", Some("0"))]);
    broker.produce_batch("t", 0, batch_of(&["a", "b"]));
    // Waits for a megabyte from offset 1 (long poll, 10 s).
    broker.send(
        CONN,
        &fetch_request(12, "t", topic_id, 1, 10_000, 1 << 20),
        12,
    );
    assert!(broker.core.poll_output().is_none(), "parked");
    let report = broker.core.clean_logs(Some("t")).unwrap();
    assert_eq!(report.partitions[0].log_start_offset, 2);
    let (_, response) = broker
        .output(ApiKey::Fetch, 12)
        .expect("answered by the cleaning");
    let ResponseKind::Fetch(fetch) = response else {
        panic!()
    };
    assert_eq!(
        fetch.responses[0].partitions[0].error_code,
        code::OFFSET_OUT_OF_RANGE
    );
}
