//! Topic configs: Kafka's names, types, defaults and validation, each topic's overrides, and the
//! settings parsed from them that change what the log does.
//!
//! [`TOPIC_CONFIGS`] is Kafka's `LogConfig` table (the Kafka 3.9 set; `message.format.version` is
//! left out: it was ignored since 3.0 and removed in 4.0, so naming it gets INVALID_CONFIG as on a
//! Kafka 4 broker; `message.timestamp.difference.max.ms` and `message.downconversion.enable` are
//! kept as Kafka 3.x keeps them). Each entry has the broker configs that supply its default
//! (Kafka's `ServerTopicConfigSynonyms`, in priority order) with their Kafka defaults.
//!
//! A value is parsed as Kafka's `ConfigDef.parseType` parses it (trimmed; booleans in any case;
//! lists split at commas) and checked by the entry's validator; the stored and described form is
//! Kafka's `ConfigDef.convertToString` of the parsed value (`TRUE` → `true`, `1` for a double →
//! `1.0`). Every rejection is INVALID_CONFIG with Kafka's `ConfigException` text: `Invalid value X
//! for configuration Y: ...`, `Unknown topic config name: Y`.
//!
//! A topic's [`TopicConfig`] holds its overrides (what CreateTopics and AlterConfigs set) and the
//! [`LogSettings`] resolved from overrides, dynamic broker defaults and Kafka's defaults; the
//! settings are what Produce and retention read, recomputed whenever an input changes.
//!
//! Limits: a value is at most [`MAX_CONFIG_VALUE_BYTES`] long (a peer must not store megabytes in
//! a list config); names outside the table are rejected, so a topic holds at most one override per
//! entry.
//!
//! # References
//! - Kafka `LogConfig` (storage/.../log/LogConfig.java: definitions, `validate`, `validateValues`,
//!   `validateRemoteStorageOnlyIfSystemEnabled`), `TopicConfig` (names, documentation),
//!   `ServerTopicConfigSynonyms` (broker synonyms), `ServerLogConfigs` (broker defaults)
//! - Kafka `ConfigDef` (`parseType`, `convertToString`, `Range`, `ValidString`, `ValidList`),
//!   `ConfigException`, `ThrottledReplicaListValidator`, `CompressionType` level validators
//! - KIP-937 (`message.timestamp.before.max.ms` / `after.max.ms`), KIP-390 (compression levels)

use std::collections::BTreeMap;

/// Longest config value accepted (topic or broker), in bytes.
pub const MAX_CONFIG_VALUE_BYTES: usize = 64 * 1024;

/// `DescribeConfigsResponse.ConfigType`: how a config's value is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConfigType {
    Boolean,
    String,
    Short,
    Int,
    Long,
    Double,
    List,
}

impl ConfigType {
    /// The wire code (DescribeConfigs v3+ `config_type`).
    pub(crate) fn code(self) -> i8 {
        match self {
            Self::Boolean => 1,
            Self::String => 2,
            Self::Int => 3,
            Self::Short => 4,
            Self::Long => 5,
            Self::Double => 6,
            Self::List => 7,
        }
    }

    /// Kafka's name of the type, as its parse errors print it.
    fn kafka_name(self) -> &'static str {
        match self {
            Self::Boolean => "BOOLEAN",
            Self::String => "STRING",
            Self::Short => "SHORT",
            Self::Int => "INT",
            Self::Long => "LONG",
            Self::Double => "DOUBLE",
            Self::List => "LIST",
        }
    }
}

/// A config's validator (Kafka's `ConfigDef.Validator` of the definition).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Check {
    /// Any value of the type.
    Any,
    /// `Range.atLeast(min)`.
    AtLeast(i64),
    /// `Range.between(min, max)` (numbers, doubles included).
    Between(i64, i64),
    /// gzip's level: 1 to 9, or -1 (`CompressionType.GZIP.levelValidator`).
    GzipLevel,
    /// `ValidString.in(...)`.
    OneOf(&'static [&'static str]),
    /// `ValidList.in(...)`: every element one of these.
    EachOneOf(&'static [&'static str]),
    /// `ThrottledReplicaListValidator`: `*` or `partition:broker` pairs.
    ThrottledReplicas,
}

/// A broker config that supplies a topic config's default (Kafka's `ServerTopicConfigSynonyms`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BrokerSynonym {
    /// The broker config's name.
    pub(crate) name: &'static str,
    /// Its type.
    pub(crate) kind: ConfigType,
    /// Its Kafka default (`None`: defined with a null default, such as `log.retention.ms`).
    pub(crate) default: Option<&'static str>,
}

/// One topic config: Kafka's definition.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TopicConfigDef {
    /// The name.
    pub(crate) name: &'static str,
    /// Its type.
    pub(crate) kind: ConfigType,
    /// Kafka's default, as `convertToString` prints it.
    pub(crate) default: &'static str,
    /// Its validator.
    pub(crate) check: Check,
    /// Broker configs that supply its default, highest priority first; the first is the one a
    /// dynamic broker config sets. Empty for Kafka's `CONFIGS_WITH_NO_SERVER_DEFAULTS`.
    pub(crate) synonyms: &'static [BrokerSynonym],
    /// The first sentence of Kafka's documentation (DescribeConfigs v3+).
    pub(crate) doc: &'static str,
}

const LONG_MAX: &str = "9223372036854775807";
const CLEANUP_POLICIES: &[&str] = &["compact", "delete"];
const COMPRESSION_TYPES: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];

const fn synonym(name: &'static str, kind: ConfigType, default: &'static str) -> BrokerSynonym {
    BrokerSynonym {
        name,
        kind,
        default: Some(default),
    }
}

const fn null_synonym(name: &'static str, kind: ConfigType) -> BrokerSynonym {
    BrokerSynonym {
        name,
        kind,
        default: None,
    }
}

use ConfigType::{Boolean, Double, Int, List, Long, String as Text};

/// Kafka's topic configs, in name order (see the module docs).
pub(crate) const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    TopicConfigDef {
        name: "cleanup.policy",
        kind: List,
        default: "delete",
        check: Check::EachOneOf(CLEANUP_POLICIES),
        synonyms: &[synonym("log.cleanup.policy", List, "delete")],
        doc: "This config designates the retention policy to use on log segments.",
    },
    TopicConfigDef {
        name: "compression.gzip.level",
        kind: Int,
        default: "-1",
        check: Check::GzipLevel,
        synonyms: &[synonym("compression.gzip.level", Int, "-1")],
        doc: "The compression level to use if compression.type is set to gzip.",
    },
    TopicConfigDef {
        name: "compression.lz4.level",
        kind: Int,
        default: "9",
        check: Check::Between(1, 17),
        synonyms: &[synonym("compression.lz4.level", Int, "9")],
        doc: "The compression level to use if compression.type is set to lz4.",
    },
    TopicConfigDef {
        name: "compression.type",
        kind: Text,
        default: "producer",
        check: Check::OneOf(COMPRESSION_TYPES),
        synonyms: &[synonym("compression.type", Text, "producer")],
        doc: "Specify the final compression type for a given topic.",
    },
    TopicConfigDef {
        name: "compression.zstd.level",
        kind: Int,
        default: "3",
        check: Check::Between(-131_072, 22),
        synonyms: &[synonym("compression.zstd.level", Int, "3")],
        doc: "The compression level to use if compression.type is set to zstd.",
    },
    TopicConfigDef {
        name: "delete.retention.ms",
        kind: Long,
        default: "86400000",
        check: Check::AtLeast(0),
        synonyms: &[synonym("log.cleaner.delete.retention.ms", Long, "86400000")],
        doc: "The amount of time to retain delete tombstone markers for log compacted topics.",
    },
    TopicConfigDef {
        name: "file.delete.delay.ms",
        kind: Long,
        default: "60000",
        check: Check::AtLeast(0),
        synonyms: &[synonym("log.segment.delete.delay.ms", Long, "60000")],
        doc: "The time to wait before deleting a file from the filesystem",
    },
    TopicConfigDef {
        name: "flush.messages",
        kind: Long,
        default: LONG_MAX,
        check: Check::AtLeast(1),
        synonyms: &[synonym("log.flush.interval.messages", Long, LONG_MAX)],
        doc: "This setting allows specifying an interval at which we will force an fsync of data written to the log.",
    },
    TopicConfigDef {
        name: "flush.ms",
        kind: Long,
        default: LONG_MAX,
        check: Check::AtLeast(0),
        synonyms: &[
            null_synonym("log.flush.interval.ms", Long),
            synonym("log.flush.scheduler.interval.ms", Long, LONG_MAX),
        ],
        doc: "This setting allows specifying a time interval at which we will force an fsync of data written to the log.",
    },
    TopicConfigDef {
        name: "follower.replication.throttled.replicas",
        kind: List,
        default: "",
        check: Check::ThrottledReplicas,
        synonyms: &[],
        doc: "A list of replicas for which log replication should be throttled on the follower side.",
    },
    TopicConfigDef {
        name: "index.interval.bytes",
        kind: Int,
        default: "4096",
        check: Check::AtLeast(0),
        synonyms: &[synonym("log.index.interval.bytes", Int, "4096")],
        doc: "This setting controls how frequently Kafka adds an index entry to its offset index.",
    },
    TopicConfigDef {
        name: "leader.replication.throttled.replicas",
        kind: List,
        default: "",
        check: Check::ThrottledReplicas,
        synonyms: &[],
        doc: "A list of replicas for which log replication should be throttled on the leader side.",
    },
    TopicConfigDef {
        name: "local.retention.bytes",
        kind: Long,
        default: "-2",
        check: Check::AtLeast(-2),
        synonyms: &[synonym("log.local.retention.bytes", Long, "-2")],
        doc: "The maximum size of local log segments that can grow for a partition before it deletes the old segments.",
    },
    TopicConfigDef {
        name: "local.retention.ms",
        kind: Long,
        default: "-2",
        check: Check::AtLeast(-2),
        synonyms: &[synonym("log.local.retention.ms", Long, "-2")],
        doc: "The number of milliseconds to keep the local log segment before it gets deleted.",
    },
    TopicConfigDef {
        name: "max.compaction.lag.ms",
        kind: Long,
        default: LONG_MAX,
        check: Check::AtLeast(1),
        synonyms: &[synonym("log.cleaner.max.compaction.lag.ms", Long, LONG_MAX)],
        doc: "The maximum time a message will remain ineligible for compaction in the log.",
    },
    TopicConfigDef {
        name: "max.message.bytes",
        kind: Int,
        default: "1048588",
        check: Check::AtLeast(0),
        synonyms: &[synonym("message.max.bytes", Int, "1048588")],
        doc: "The largest record batch size allowed by Kafka (after compression if compression is enabled).",
    },
    TopicConfigDef {
        name: "message.downconversion.enable",
        kind: Boolean,
        default: "true",
        check: Check::Any,
        synonyms: &[synonym(
            "log.message.downconversion.enable",
            Boolean,
            "true",
        )],
        doc: "This configuration controls whether down-conversion of message formats is enabled to satisfy consume requests.",
    },
    TopicConfigDef {
        name: "message.timestamp.after.max.ms",
        kind: Long,
        default: LONG_MAX,
        check: Check::AtLeast(0),
        synonyms: &[synonym(
            "log.message.timestamp.after.max.ms",
            Long,
            LONG_MAX,
        )],
        doc: "This configuration sets the allowable timestamp difference between the message timestamp and the broker's timestamp.",
    },
    TopicConfigDef {
        name: "message.timestamp.before.max.ms",
        kind: Long,
        default: LONG_MAX,
        check: Check::AtLeast(0),
        synonyms: &[synonym(
            "log.message.timestamp.before.max.ms",
            Long,
            LONG_MAX,
        )],
        doc: "This configuration sets the allowable timestamp difference between the broker's timestamp and the message timestamp.",
    },
    TopicConfigDef {
        name: "message.timestamp.difference.max.ms",
        kind: Long,
        default: LONG_MAX,
        check: Check::AtLeast(0),
        synonyms: &[synonym(
            "log.message.timestamp.difference.max.ms",
            Long,
            LONG_MAX,
        )],
        doc: "[DEPRECATED] The maximum difference allowed between the timestamp when a broker receives a message and the timestamp specified in the message.",
    },
    TopicConfigDef {
        name: "message.timestamp.type",
        kind: Text,
        default: "CreateTime",
        check: Check::OneOf(TIMESTAMP_TYPES),
        synonyms: &[synonym("log.message.timestamp.type", Text, "CreateTime")],
        doc: "Define whether the timestamp in the message is message create time or log append time.",
    },
    TopicConfigDef {
        name: "min.cleanable.dirty.ratio",
        kind: Double,
        default: "0.5",
        check: Check::Between(0, 1),
        synonyms: &[synonym("log.cleaner.min.cleanable.ratio", Double, "0.5")],
        doc: "This configuration controls how frequently the log compactor will attempt to clean the log (assuming log compaction is enabled).",
    },
    TopicConfigDef {
        name: "min.compaction.lag.ms",
        kind: Long,
        default: "0",
        check: Check::AtLeast(0),
        synonyms: &[synonym("log.cleaner.min.compaction.lag.ms", Long, "0")],
        doc: "The minimum time a message will remain uncompacted in the log.",
    },
    TopicConfigDef {
        name: "min.insync.replicas",
        kind: Int,
        default: "1",
        check: Check::AtLeast(1),
        synonyms: &[synonym("min.insync.replicas", Int, "1")],
        doc: "When a producer sets acks to \"all\" (or \"-1\"), this configuration specifies the minimum number of replicas that must acknowledge a write for the write to be considered successful.",
    },
    TopicConfigDef {
        name: "preallocate",
        kind: Boolean,
        default: "false",
        check: Check::Any,
        synonyms: &[synonym("log.preallocate", Boolean, "false")],
        doc: "True if we should preallocate the file on disk when creating a new log segment.",
    },
    TopicConfigDef {
        name: "remote.log.copy.disable",
        kind: Boolean,
        default: "false",
        check: Check::Any,
        synonyms: &[],
        doc: "Determines whether tiered data for a topic should become read only, and no more data uploading on a topic.",
    },
    TopicConfigDef {
        name: "remote.log.delete.on.disable",
        kind: Boolean,
        default: "false",
        check: Check::Any,
        synonyms: &[],
        doc: "Determines whether tiered data for a topic should be deleted after tiered storage is disabled on a topic.",
    },
    TopicConfigDef {
        name: "remote.storage.enable",
        kind: Boolean,
        default: "false",
        check: Check::Any,
        synonyms: &[],
        doc: "To enable tiered storage for a topic, set this configuration as true.",
    },
    TopicConfigDef {
        name: "retention.bytes",
        kind: Long,
        default: "-1",
        check: Check::Any,
        synonyms: &[synonym("log.retention.bytes", Long, "-1")],
        doc: "This configuration controls the maximum size a partition (which consists of log segments) can grow to before we will discard old log segments to free up space if we are using the \"delete\" retention policy.",
    },
    TopicConfigDef {
        name: "retention.ms",
        kind: Long,
        default: "604800000",
        check: Check::AtLeast(-1),
        synonyms: &[
            null_synonym("log.retention.ms", Long),
            null_synonym("log.retention.minutes", Int),
            synonym("log.retention.hours", Int, "168"),
        ],
        doc: "This configuration controls the maximum time we will retain a log before we will discard old log segments to free up space if we are using the \"delete\" retention policy.",
    },
    TopicConfigDef {
        name: "segment.bytes",
        kind: Int,
        default: "1073741824",
        check: Check::AtLeast(14),
        synonyms: &[synonym("log.segment.bytes", Int, "1073741824")],
        doc: "This configuration controls the segment file size for the log.",
    },
    TopicConfigDef {
        name: "segment.index.bytes",
        kind: Int,
        default: "10485760",
        check: Check::AtLeast(4),
        synonyms: &[synonym("log.index.size.max.bytes", Int, "10485760")],
        doc: "This configuration controls the size of the index that maps offsets to file positions.",
    },
    TopicConfigDef {
        name: "segment.jitter.ms",
        kind: Long,
        default: "0",
        check: Check::AtLeast(0),
        synonyms: &[
            null_synonym("log.roll.jitter.ms", Long),
            synonym("log.roll.jitter.hours", Int, "0"),
        ],
        doc: "The maximum random jitter subtracted from the scheduled segment roll time to avoid thundering herds of segment rolling",
    },
    TopicConfigDef {
        name: "segment.ms",
        kind: Long,
        default: "604800000",
        check: Check::AtLeast(1),
        synonyms: &[
            null_synonym("log.roll.ms", Long),
            synonym("log.roll.hours", Int, "168"),
        ],
        doc: "This configuration controls the period of time after which Kafka will force the log to roll even if the segment file isn't full to ensure that retention can delete or compact old data.",
    },
    TopicConfigDef {
        name: "unclean.leader.election.enable",
        kind: Boolean,
        default: "false",
        check: Check::Any,
        synonyms: &[synonym("unclean.leader.election.enable", Boolean, "false")],
        doc: "Indicates whether to enable replicas not in the ISR set to be elected as leader as a last resort, even though doing so may result in data loss.",
    },
];

/// The definition of topic config `name`, if Kafka has one.
pub(crate) fn definition(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS
        .binary_search_by(|def| def.name.cmp(name))
        .ok()
        .map(|index| &TOPIC_CONFIGS[index])
}

/// A config value Kafka would reject, with Kafka's message. Topic configs answer it with
/// INVALID_CONFIG; dynamic broker configs with INVALID_REQUEST (as Kafka does, KAFKA-13609).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InvalidConfig(pub(crate) String);

impl InvalidConfig {
    fn value(name: &str, value: impl std::fmt::Display, why: impl std::fmt::Display) -> Self {
        Self(format!(
            "Invalid value {value} for configuration {name}: {why}"
        ))
    }
}

/// A parsed config value.
#[derive(Debug, Clone, PartialEq)]
enum Parsed {
    Boolean(bool),
    Text(String),
    Integer(i64),
    Double(f64),
    List(Vec<String>),
}

/// Parses and checks `raw` as config `name` of type `kind`; returns Kafka's string form of it.
pub(crate) fn normalize(
    name: &str,
    kind: ConfigType,
    check: Check,
    raw: &str,
) -> Result<String, InvalidConfig> {
    if raw.len() > MAX_CONFIG_VALUE_BYTES {
        return Err(InvalidConfig(format!(
            "the value of {name} is {} bytes long; kmock accepts at most {MAX_CONFIG_VALUE_BYTES}",
            raw.len()
        )));
    }
    let parsed = parse(name, kind, raw)?;
    validate(name, check, &parsed)?;
    Ok(kafka_string(&parsed))
}

/// Kafka's `ConfigDef.parseType`.
fn parse(name: &str, kind: ConfigType, raw: &str) -> Result<Parsed, InvalidConfig> {
    let trimmed = raw.trim();
    let not_a_number = || {
        InvalidConfig::value(
            name,
            raw,
            format!("Not a number of type {}", kind.kafka_name()),
        )
    };
    Ok(match kind {
        ConfigType::Boolean if trimmed.eq_ignore_ascii_case("true") => Parsed::Boolean(true),
        ConfigType::Boolean if trimmed.eq_ignore_ascii_case("false") => Parsed::Boolean(false),
        ConfigType::Boolean => {
            return Err(InvalidConfig::value(
                name,
                raw,
                "Expected value to be either true or false",
            ));
        }
        ConfigType::String => Parsed::Text(trimmed.to_owned()),
        ConfigType::Short => {
            Parsed::Integer(trimmed.parse::<i16>().map_err(|_| not_a_number())?.into())
        }
        ConfigType::Int => {
            Parsed::Integer(trimmed.parse::<i32>().map_err(|_| not_a_number())?.into())
        }
        ConfigType::Long => Parsed::Integer(trimmed.parse::<i64>().map_err(|_| not_a_number())?),
        ConfigType::Double => Parsed::Double(trimmed.parse::<f64>().map_err(|_| not_a_number())?),
        ConfigType::List if trimmed.is_empty() => Parsed::List(Vec::new()),
        ConfigType::List => Parsed::List(
            trimmed
                .split(',')
                .map(|part| part.trim().to_owned())
                .collect(),
        ),
    })
}

/// Kafka's validators (see [`Check`]).
fn validate(name: &str, check: Check, parsed: &Parsed) -> Result<(), InvalidConfig> {
    match (check, parsed) {
        (Check::AtLeast(min), Parsed::Integer(n)) if *n < min => Err(InvalidConfig::value(
            name,
            n,
            format!("Value must be at least {min}"),
        )),
        (Check::Between(min, _), Parsed::Integer(n)) if *n < min => Err(InvalidConfig::value(
            name,
            n,
            format!("Value must be at least {min}"),
        )),
        (Check::Between(_, max), Parsed::Integer(n)) if *n > max => Err(InvalidConfig::value(
            name,
            n,
            format!("Value must be no more than {max}"),
        )),
        // Comparisons with NaN are false in Kafka (Java) too: NaN passes, as it does there.
        (Check::Between(min, _), Parsed::Double(x)) if *x < min as f64 => {
            Err(InvalidConfig::value(
                name,
                java_double(*x),
                format!("Value must be at least {min}"),
            ))
        }
        (Check::Between(_, max), Parsed::Double(x)) if *x > max as f64 => {
            Err(InvalidConfig::value(
                name,
                java_double(*x),
                format!("Value must be no more than {max}"),
            ))
        }
        (Check::GzipLevel, Parsed::Integer(n)) if *n > 9 || (*n < 1 && *n != -1) => Err(
            InvalidConfig::value(name, n, "Value must be between 1 and 9 or equal to -1"),
        ),
        (Check::OneOf(allowed), Parsed::Text(text)) => one_of(name, allowed, text),
        (Check::EachOneOf(allowed), Parsed::List(items)) => items
            .iter()
            .try_for_each(|item| one_of(name, allowed, item)),
        (Check::ThrottledReplicas, Parsed::List(items)) => throttled_replicas(name, items),
        _ => Ok(()),
    }
}

fn one_of(name: &str, allowed: &[&str], value: &str) -> Result<(), InvalidConfig> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(InvalidConfig::value(
            name,
            value,
            format!("String must be one of: {}", allowed.join(", ")),
        ))
    }
}

/// `ThrottledReplicaListValidator`: `*`, or items that are empty or `partition:broker`.
fn throttled_replicas(name: &str, items: &[String]) -> Result<(), InvalidConfig> {
    let pair = |item: &str| {
        item.is_empty()
            || item.split_once(':').is_some_and(|(partition, broker)| {
                [partition, broker]
                    .iter()
                    .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
            })
    };
    if items.iter().all(|item| pair(item)) || items.concat() == "*" {
        return Ok(());
    }
    Err(InvalidConfig::value(
        name,
        format!("[{}]", items.join(", ")),
        format!(
            "{name} must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."
        ),
    ))
}

/// Kafka's `ConfigDef.convertToString` of a parsed value.
fn kafka_string(parsed: &Parsed) -> String {
    match parsed {
        Parsed::Boolean(b) => b.to_string(),
        Parsed::Text(text) => text.clone(),
        Parsed::Integer(n) => n.to_string(),
        Parsed::Double(x) => java_double(*x),
        Parsed::List(items) => items.join(","),
    }
}

/// Java's `Double.toString`: `1.0`, `0.5`, `1.0E-4`, `NaN`.
fn java_double(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "NaN".to_owned()
        } else if x > 0.0 {
            "Infinity".to_owned()
        } else {
            "-Infinity".to_owned()
        };
    }
    let magnitude = x.abs();
    if x == 0.0 || (1e-3..1e7).contains(&magnitude) {
        let plain = x.to_string();
        return if plain.contains('.') {
            plain
        } else {
            format!("{plain}.0")
        };
    }
    let scientific = format!("{x:E}");
    match scientific.split_once('E') {
        Some((mantissa, exponent)) if !mantissa.contains('.') => format!("{mantissa}.0E{exponent}"),
        _ => scientific,
    }
}

/// Checks a topic's complete override set: every name known, every value valid, and the checks
/// across values Kafka makes (`LogConfig.validateValues`, remote storage). Returns the overrides
/// in Kafka's string form. `default_of` gives a config's value when not overridden.
pub(crate) fn validate_overrides(
    overrides: &BTreeMap<String, String>,
    default_of: impl Fn(&TopicConfigDef) -> String,
) -> Result<BTreeMap<String, String>, InvalidConfig> {
    if let Some(unknown) = overrides.keys().find(|name| definition(name).is_none()) {
        return Err(InvalidConfig(format!(
            "Unknown topic config name: {unknown}"
        )));
    }
    let mut normalized = BTreeMap::new();
    for (name, raw) in overrides {
        let def = definition(name).expect("names checked above");
        normalized.insert(name.clone(), normalize(def.name, def.kind, def.check, raw)?);
    }
    let value = |name: &str| {
        let def = definition(name).expect("a name from the table");
        normalized
            .get(name)
            .cloned()
            .unwrap_or_else(|| default_of(def))
    };
    let min_lag: i64 = value("min.compaction.lag.ms").parse().unwrap_or(0);
    let max_lag: i64 = value("max.compaction.lag.ms").parse().unwrap_or(i64::MAX);
    if min_lag > max_lag {
        return Err(InvalidConfig(format!(
            "conflict topic config setting min.compaction.lag.ms ({min_lag}) > max.compaction.lag.ms ({max_lag})"
        )));
    }
    if value("remote.storage.enable") == "true" {
        return Err(InvalidConfig(
            "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."
                .to_owned(),
        ));
    }
    Ok(normalized)
}

/// A topic's timestamp type (`message.timestamp.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimestampType {
    /// The producer's timestamps are kept (checked against the before/after limits).
    CreateTime,
    /// The broker stamps each batch with its clock when appending.
    LogAppendTime,
}

/// The settings of a topic that change the log's behaviour, resolved from its configs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LogSettings {
    /// `max.message.bytes`: largest record batch accepted (MESSAGE_TOO_LARGE beyond).
    pub(crate) max_message_bytes: i32,
    /// `segment.bytes`: largest append of one partition (RECORD_LIST_TOO_LARGE beyond).
    pub(crate) segment_bytes: i32,
    /// `message.timestamp.type`.
    pub(crate) timestamp_type: TimestampType,
    /// How far in the past a CreateTime record may be (`message.timestamp.before.max.ms`, or
    /// the deprecated `difference.max.ms` while `before` has its default, as Kafka 3.x).
    pub(crate) timestamp_before_max_ms: i64,
    /// How far in the future a CreateTime record may be (`message.timestamp.after.max.ms`, idem).
    pub(crate) timestamp_after_max_ms: i64,
    /// `retention.ms` (-1: no time limit).
    pub(crate) retention_ms: i64,
    /// `retention.bytes` (negative: no size limit).
    pub(crate) retention_bytes: i64,
    /// `delete.retention.ms`: how long compaction keeps tombstones.
    pub(crate) delete_retention_ms: i64,
    /// `cleanup.policy` contains `delete`.
    pub(crate) delete: bool,
    /// `cleanup.policy` contains `compact` (records need keys).
    pub(crate) compact: bool,
    /// `min.insync.replicas`: an acks=-1 Produce needs this many ISR members
    /// (NOT_ENOUGH_REPLICAS otherwise).
    pub(crate) min_insync_replicas: i32,
}

impl LogSettings {
    /// Resolves the settings from each config's effective value (valid by construction).
    pub(crate) fn resolve(value_of: impl Fn(&str) -> String) -> Self {
        let number = |name: &str| -> i64 {
            value_of(name)
                .parse()
                .expect("effective config values are validated")
        };
        let int = |name: &str| -> i32 { i32::try_from(number(name)).unwrap_or(i32::MAX) };
        let difference = number("message.timestamp.difference.max.ms");
        let bounded = |name: &str| match number(name) {
            i64::MAX => difference,
            value => value,
        };
        let policies = value_of("cleanup.policy");
        let has_policy = |policy: &str| policies.split(',').any(|p| p.eq_ignore_ascii_case(policy));
        Self {
            max_message_bytes: int("max.message.bytes"),
            segment_bytes: int("segment.bytes"),
            timestamp_type: if value_of("message.timestamp.type") == "LogAppendTime" {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            },
            timestamp_before_max_ms: bounded("message.timestamp.before.max.ms"),
            timestamp_after_max_ms: bounded("message.timestamp.after.max.ms"),
            retention_ms: number("retention.ms"),
            retention_bytes: number("retention.bytes"),
            delete_retention_ms: number("delete.retention.ms"),
            delete: has_policy("delete"),
            compact: has_policy("compact"),
            min_insync_replicas: int("min.insync.replicas"),
        }
    }

    /// The settings of a topic with no overrides on a broker with Kafka's defaults.
    pub(crate) fn kafka_defaults() -> Self {
        Self::resolve(|name| {
            definition(name)
                .expect("a name from the table")
                .default
                .to_owned()
        })
    }
}

/// One topic's configs: its overrides and the settings resolved from them.
#[derive(Debug, Clone)]
pub(crate) struct TopicConfig {
    /// The topic's own values (Kafka's dynamic topic configs), in Kafka's string form.
    pub(crate) overrides: BTreeMap<String, String>,
    /// What the log reads.
    pub(crate) settings: LogSettings,
}

impl Default for TopicConfig {
    fn default() -> Self {
        Self {
            overrides: BTreeMap::new(),
            settings: LogSettings::kafka_defaults(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, raw: &str) -> Result<String, String> {
        let def = definition(name).expect("known");
        normalize(def.name, def.kind, def.check, raw).map_err(|e| e.0)
    }

    fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn kafka_default(def: &TopicConfigDef) -> String {
        def.default.to_owned()
    }

    #[test]
    fn the_table_is_sorted_and_every_default_is_valid() {
        for pair in TOPIC_CONFIGS.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{} before {}",
                pair[0].name,
                pair[1].name
            );
        }
        for def in TOPIC_CONFIGS {
            assert_eq!(
                check(def.name, def.default).as_deref(),
                Ok(def.default),
                "{}",
                def.name
            );
            for synonym in def.synonyms {
                if let Some(default) = synonym.default {
                    normalize(synonym.name, synonym.kind, Check::Any, default).unwrap();
                }
            }
        }
        assert_eq!(definition("max.message.bytes").unwrap().default, "1048588");
        assert!(definition("message.format.version").is_none());
    }

    #[test]
    fn values_are_parsed_and_printed_as_kafka_does() {
        assert_eq!(check("preallocate", " TRUE ").as_deref(), Ok("true"));
        assert_eq!(check("retention.ms", " 1000").as_deref(), Ok("1000"));
        assert_eq!(
            check("min.cleanable.dirty.ratio", "1").as_deref(),
            Ok("1.0")
        );
        assert_eq!(
            check("min.cleanable.dirty.ratio", "0.0001").as_deref(),
            Ok("1.0E-4")
        );
        assert_eq!(
            check("cleanup.policy", "compact, delete").as_deref(),
            Ok("compact,delete")
        );
        assert_eq!(check("cleanup.policy", "").as_deref(), Ok(""));
        assert_eq!(
            check("leader.replication.throttled.replicas", "*").as_deref(),
            Ok("*")
        );
        assert_eq!(
            check("leader.replication.throttled.replicas", "0:0, 1:0").as_deref(),
            Ok("0:0,1:0")
        );
        assert_eq!(check("compression.gzip.level", "-1").as_deref(), Ok("-1"));
    }

    #[test]
    fn bad_values_get_kafkas_messages() {
        let cases = [
            (
                "retention.ms",
                "soon",
                "Invalid value soon for configuration retention.ms: Not a number of type LONG",
            ),
            (
                "retention.ms",
                "-2",
                "Invalid value -2 for configuration retention.ms: Value must be at least -1",
            ),
            (
                "max.message.bytes",
                "-1",
                "Invalid value -1 for configuration max.message.bytes: Value must be at least 0",
            ),
            (
                "max.message.bytes",
                "3000000000",
                "Invalid value 3000000000 for configuration max.message.bytes: Not a number of type INT",
            ),
            (
                "preallocate",
                "yes",
                "Invalid value yes for configuration preallocate: Expected value to be either true or false",
            ),
            (
                "message.timestamp.type",
                "logappendtime",
                "Invalid value logappendtime for configuration message.timestamp.type: String must be one of: CreateTime, LogAppendTime",
            ),
            (
                "cleanup.policy",
                "delete,shred",
                "Invalid value shred for configuration cleanup.policy: String must be one of: compact, delete",
            ),
            (
                "min.cleanable.dirty.ratio",
                "1.5",
                "Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more than 1",
            ),
            (
                "compression.gzip.level",
                "0",
                "Invalid value 0 for configuration compression.gzip.level: Value must be between 1 and 9 or equal to -1",
            ),
            (
                "compression.zstd.level",
                "23",
                "Invalid value 23 for configuration compression.zstd.level: Value must be no more than 22",
            ),
            (
                "segment.bytes",
                "13",
                "Invalid value 13 for configuration segment.bytes: Value must be at least 14",
            ),
        ];
        for (name, raw, message) in cases {
            assert_eq!(check(name, raw), Err(message.to_owned()), "{name}={raw}");
        }
        let throttled = check("follower.replication.throttled.replicas", "0:x").unwrap_err();
        assert!(throttled.starts_with("Invalid value [0:x] for configuration follower.replication.throttled.replicas: follower.replication.throttled.replicas must be the literal '*'"), "{throttled}");
        let huge = "delete,".repeat(MAX_CONFIG_VALUE_BYTES);
        assert!(
            check("cleanup.policy", &huge)
                .unwrap_err()
                .contains("kmock accepts at most")
        );
    }

    #[test]
    fn override_sets_are_checked_as_a_whole() {
        let unknown = validate_overrides(
            &overrides(&[("retention.ms", "1"), ("retention.mss", "1")]),
            kafka_default,
        );
        assert_eq!(
            unknown,
            Err(InvalidConfig(
                "Unknown topic config name: retention.mss".into()
            ))
        );
        let conflict = validate_overrides(
            &overrides(&[
                ("min.compaction.lag.ms", "10"),
                ("max.compaction.lag.ms", "5"),
            ]),
            kafka_default,
        );
        assert_eq!(conflict, Err(InvalidConfig("conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)".into())));
        let remote = validate_overrides(
            &overrides(&[("remote.storage.enable", "true")]),
            kafka_default,
        );
        assert!(
            remote
                .unwrap_err()
                .0
                .starts_with("Tiered Storage functionality is disabled")
        );
        let ok = validate_overrides(&overrides(&[("preallocate", "TRUE")]), kafka_default).unwrap();
        assert_eq!(ok, overrides(&[("preallocate", "true")]));
    }

    #[test]
    fn settings_follow_the_effective_values() {
        let defaults = LogSettings::kafka_defaults();
        assert_eq!(defaults.max_message_bytes, 1_048_588);
        assert_eq!(defaults.timestamp_type, TimestampType::CreateTime);
        assert_eq!((defaults.delete, defaults.compact), (true, false));
        assert_eq!(defaults.retention_ms, 604_800_000);
        assert_eq!(defaults.timestamp_before_max_ms, i64::MAX);
        let custom = LogSettings::resolve(|name| match name {
            "cleanup.policy" => "compact".into(),
            "message.timestamp.type" => "LogAppendTime".into(),
            "message.timestamp.difference.max.ms" => "5000".into(),
            "message.timestamp.after.max.ms" => "100".into(),
            other => definition(other).unwrap().default.to_owned(),
        });
        assert_eq!((custom.delete, custom.compact), (false, true));
        assert_eq!(custom.timestamp_type, TimestampType::LogAppendTime);
        assert_eq!(
            custom.timestamp_before_max_ms, 5000,
            "difference.max.ms stands in for before"
        );
        assert_eq!(custom.timestamp_after_max_ms, 100);
    }
}
