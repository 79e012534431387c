//! Client settings: a typed value read from the process environment and/or an env file such as
//! `.env.test`, with the seed project's variable names, Kafka's defaults, and validation.
//!
//! Owns: the variable names, their defaults, reading env files (`KEY=VALUE` lines in dotenvy's
//! syntax, see [`parse_env_file`]), and the rules between values. Reading a file never
//! mutates the process environment: values are looked up through a function
//! ([`Settings::from_lookup`]), so a test can load `.env.test` without touching global state.
//!
//! Rules (each with its own [`SettingsError`] naming the variable):
//! - every timeout and interval is a positive number of milliseconds that fits Kafka's `int32`;
//! - `KAFKA_REQUEST_TIMEOUT_MS < KAFKA_SESSION_TIMEOUT_MS`;
//! - `KAFKA_HEARTBEAT_INTERVAL_MS < KAFKA_SESSION_TIMEOUT_MS`;
//! - `SSE_CONSUMER_POOL_SIZE >= 1`.
//!
//! A heartbeat interval above a third of the session timeout is accepted with a
//! [`SettingsWarning`] (Kafka's recommendation), logged with `tracing::warn!` when loading.
//!
//! `KAFKA_GROUP_PROTOCOL=consumer` selects KIP-848's protocol (Kafka's `group.protocol`): the
//! broker then decides the session timeout and the heartbeat interval, so those two settings only
//! matter to the classic protocol (their rules are still checked, so an env file works for both).
//!
//! # References
//! - Kafka consumer configs: `session.timeout.ms`, `heartbeat.interval.ms`, `request.timeout.ms`,
//!   `max.poll.interval.ms`, `auto.offset.reset`, `enable.auto.commit`, `fetch.max.wait.ms`,
//!   `group.protocol` (KIP-848).

use std::cell::Cell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::str::FromStr;
use std::time::Duration;

/// Comma-separated `host:port` list to bootstrap from.
pub const KAFKA_BOOTSTRAP_SERVERS: &str = "KAFKA_BOOTSTRAP_SERVERS";
/// Session timeout of a group member (ms).
pub const KAFKA_SESSION_TIMEOUT_MS: &str = "KAFKA_SESSION_TIMEOUT_MS";
/// Heartbeat interval of a group member (ms).
pub const KAFKA_HEARTBEAT_INTERVAL_MS: &str = "KAFKA_HEARTBEAT_INTERVAL_MS";
/// Upper bound on every request (ms).
pub const KAFKA_REQUEST_TIMEOUT_MS: &str = "KAFKA_REQUEST_TIMEOUT_MS";
/// Consumers in a pool.
pub const SSE_CONSUMER_POOL_SIZE: &str = "SSE_CONSUMER_POOL_SIZE";
/// Consumer group id.
pub const KAFKA_GROUP_ID: &str = "KAFKA_GROUP_ID";
/// Client id sent in every request header.
pub const KAFKA_CLIENT_ID: &str = "KAFKA_CLIENT_ID";
/// Where to start without a committed offset: `earliest` or `latest`.
pub const KAFKA_AUTO_OFFSET_RESET: &str = "KAFKA_AUTO_OFFSET_RESET";
/// Commit consumed offsets periodically and on stop: `true` or `false`.
pub const KAFKA_ENABLE_AUTO_COMMIT: &str = "KAFKA_ENABLE_AUTO_COMMIT";
/// Period of automatic commits (ms).
pub const KAFKA_AUTO_COMMIT_INTERVAL_MS: &str = "KAFKA_AUTO_COMMIT_INTERVAL_MS";
/// Rebalance timeout sent in JoinGroup (Kafka's `max.poll.interval.ms`).
pub const KAFKA_MAX_POLL_INTERVAL_MS: &str = "KAFKA_MAX_POLL_INTERVAL_MS";
/// Longest a fetch waits on the broker for data (ms).
pub const KAFKA_FETCH_MAX_WAIT_MS: &str = "KAFKA_FETCH_MAX_WAIT_MS";
/// Producer acknowledgements: `all` (or `-1`), `1`, or `0`.
pub const KAFKA_ACKS: &str = "KAFKA_ACKS";
/// Assignors offered in JoinGroup, in preference order: `range`, `roundrobin`.
pub const KAFKA_PARTITION_ASSIGNMENT_STRATEGY: &str = "KAFKA_PARTITION_ASSIGNMENT_STRATEGY";
/// Pause before retrying a failed request or reconnecting (ms).
pub const KAFKA_RETRY_BACKOFF_MS: &str = "KAFKA_RETRY_BACKOFF_MS";
/// What a consumer reads of transactions: `read_uncommitted` or `read_committed`.
pub const KAFKA_ISOLATION_LEVEL: &str = "KAFKA_ISOLATION_LEVEL";

/// What a consumer reads of transactional records (Kafka's `isolation.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationLevel {
    /// Every record up to the high watermark, aborted transactions included.
    #[default]
    ReadUncommitted,
    /// Records up to the last stable offset, without those of aborted transactions.
    ReadCommitted,
}

impl IsolationLevel {
    /// The wire value (Fetch and ListOffsets `isolation_level`).
    pub fn as_i8(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }
}

impl FromStr for IsolationLevel {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim().to_ascii_lowercase().as_str() {
            "read_uncommitted" => Ok(IsolationLevel::ReadUncommitted),
            "read_committed" => Ok(IsolationLevel::ReadCommitted),
            _ => Err(()),
        }
    }
}

/// The consumer group protocol: `classic` or `consumer` (KIP-848), Kafka's `group.protocol`.
pub const KAFKA_GROUP_PROTOCOL: &str = "KAFKA_GROUP_PROTOCOL";

/// Which consumer group protocol a consumer speaks (Kafka's `group.protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupProtocol {
    /// JoinGroup, SyncGroup, Heartbeat, LeaveGroup; the leader assigns (`classic`, the default).
    #[default]
    Classic,
    /// KIP-848's ConsumerGroupHeartbeat; the broker assigns (`consumer`). The broker decides the
    /// session timeout and the heartbeat interval; `KAFKA_SESSION_TIMEOUT_MS`,
    /// `KAFKA_HEARTBEAT_INTERVAL_MS` and `KAFKA_PARTITION_ASSIGNMENT_STRATEGY` do not apply.
    Consumer,
}

impl std::str::FromStr for GroupProtocol {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim().to_ascii_lowercase().as_str() {
            "classic" => Ok(GroupProtocol::Classic),
            "consumer" => Ok(GroupProtocol::Consumer),
            _ => Err(()),
        }
    }
}

/// Where a consumer starts in a partition without a committed offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoOffsetReset {
    /// The log start offset.
    Earliest,
    /// The high watermark (only records produced after the assignment).
    Latest,
}

/// How many replicas must acknowledge a produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// No acknowledgement: the broker sends no response; publish returns offset -1.
    None,
    /// The leader only.
    Leader,
    /// All in-sync replicas.
    All,
}

impl Acks {
    /// The `acks` field of a Produce request.
    pub fn as_i16(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

/// A partition assignment strategy (the protocol name sent in JoinGroup).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AssignmentStrategy {
    /// Kafka's `RangeAssignor` (`range`).
    Range,
    /// Kafka's `RoundRobinAssignor` (`roundrobin`).
    RoundRobin,
}

impl AssignmentStrategy {
    /// The protocol name in JoinGroup.
    pub fn protocol_name(self) -> &'static str {
        match self {
            AssignmentStrategy::Range => "range",
            AssignmentStrategy::RoundRobin => "roundrobin",
        }
    }

    /// The strategy with this protocol name.
    pub fn from_protocol_name(name: &str) -> Option<Self> {
        match name {
            "range" => Some(AssignmentStrategy::Range),
            "roundrobin" => Some(AssignmentStrategy::RoundRobin),
            _ => None,
        }
    }
}

/// Every client setting. Build it with [`Settings::default`] and struct update, or load it with
/// [`Settings::from_env`], [`Settings::from_env_file`] or [`Settings::from_lookup`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `host:port` addresses tried in order to bootstrap (`KAFKA_BOOTSTRAP_SERVERS`,
    /// default `localhost:9092`).
    pub bootstrap_servers: Vec<String>,
    /// The broker evicts a member that has not heartbeated for this long
    /// (`KAFKA_SESSION_TIMEOUT_MS`, default 45000).
    pub session_timeout_ms: u32,
    /// How often a member heartbeats (`KAFKA_HEARTBEAT_INTERVAL_MS`, default 10000).
    pub heartbeat_interval_ms: u32,
    /// Upper bound on every request, LeaveGroup on stop included (`KAFKA_REQUEST_TIMEOUT_MS`,
    /// default 40000).
    pub request_timeout_ms: u32,
    /// Consumers in a [`crate::ConsumerPool`] (`SSE_CONSUMER_POOL_SIZE`, default 10).
    pub consumer_pool_size: usize,
    /// Consumer group id (`KAFKA_GROUP_ID`, default `kmock-group`).
    pub group_id: String,
    /// Client id in request headers (`KAFKA_CLIENT_ID`, default `kmock-client`).
    pub client_id: String,
    /// Start position without a committed offset (`KAFKA_AUTO_OFFSET_RESET`, default `latest`
    /// as in Kafka).
    pub auto_offset_reset: AutoOffsetReset,
    /// Commit consumed offsets every `auto_commit_interval_ms` and on stop
    /// (`KAFKA_ENABLE_AUTO_COMMIT`, default `true`).
    pub enable_auto_commit: bool,
    /// Period of automatic commits (`KAFKA_AUTO_COMMIT_INTERVAL_MS`, default 5000).
    pub auto_commit_interval_ms: u32,
    /// Rebalance timeout sent in JoinGroup (`KAFKA_MAX_POLL_INTERVAL_MS`, default 300000).
    pub max_poll_interval_ms: u32,
    /// Longest a fetch waits on the broker for data (`KAFKA_FETCH_MAX_WAIT_MS`, default 500).
    pub fetch_max_wait_ms: u32,
    /// Producer acknowledgements (`KAFKA_ACKS`, default `all`).
    pub acks: Acks,
    /// Assignors offered in JoinGroup, preferred first (`KAFKA_PARTITION_ASSIGNMENT_STRATEGY`,
    /// default `range,roundrobin`).
    pub assignment_strategies: Vec<AssignmentStrategy>,
    /// Pause before retrying or reconnecting (`KAFKA_RETRY_BACKOFF_MS`, default 100).
    pub retry_backoff_ms: u32,
    /// What consumers read of transactions (`KAFKA_ISOLATION_LEVEL`, default `read_uncommitted`
    /// as in Kafka).
    pub isolation_level: IsolationLevel,
    /// The consumer group protocol (`KAFKA_GROUP_PROTOCOL`: `classic` or `consumer`, default
    /// `classic`).
    pub group_protocol: GroupProtocol,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bootstrap_servers: vec!["localhost:9092".into()],
            session_timeout_ms: 45_000,
            heartbeat_interval_ms: 10_000,
            request_timeout_ms: 40_000,
            consumer_pool_size: 10,
            group_id: "kmock-group".into(),
            client_id: "kmock-client".into(),
            auto_offset_reset: AutoOffsetReset::Latest,
            enable_auto_commit: true,
            auto_commit_interval_ms: 5_000,
            max_poll_interval_ms: 300_000,
            fetch_max_wait_ms: 500,
            acks: Acks::All,
            assignment_strategies: vec![AssignmentStrategy::Range, AssignmentStrategy::RoundRobin],
            retry_backoff_ms: 100,
            isolation_level: IsolationLevel::ReadUncommitted,
            group_protocol: GroupProtocol::Classic,
        }
    }
}

/// A setting that is malformed or breaks a rule. Every variant names the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// The value does not parse.
    #[error("{name}={value:?}: expected {expected}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its raw value.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A value that must be positive is not.
    #[error("{name} must be positive, got {value}")]
    NotPositive {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: i64,
    },
    /// A value above Kafka's `int32` range.
    #[error("{name} must be at most {max}, got {value}")]
    TooLarge {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: i64,
        /// The largest allowed value.
        max: i64,
    },
    /// `name` must be strictly less than `other`.
    #[error("{name} ({value}) must be less than {other} ({other_value})")]
    NotLessThan {
        /// The variable that is too large.
        name: &'static str,
        /// Its value.
        value: i64,
        /// The variable it must stay below.
        other: &'static str,
        /// That variable's value.
        other_value: i64,
    },
    /// `SSE_CONSUMER_POOL_SIZE` is 0.
    #[error("{name} must be at least 1, got {value}")]
    PoolTooSmall {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: i64,
    },
    /// The env file cannot be read.
    #[error("cannot read env file {path}: {reason}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// A line of the env file is not `KEY=VALUE`.
    #[error("{path}:{line}: expected KEY=VALUE, got {text:?}")]
    FileSyntax {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The line.
        text: String,
    },
}

/// A setting that is allowed but not recommended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SettingsWarning {
    /// The heartbeat interval is above a third of the session timeout: one lost heartbeat can
    /// cost the membership.
    HeartbeatAboveThirdOfSession {
        /// `KAFKA_HEARTBEAT_INTERVAL_MS`.
        heartbeat_interval_ms: u32,
        /// `KAFKA_SESSION_TIMEOUT_MS`.
        session_timeout_ms: u32,
    },
}

impl fmt::Display for SettingsWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingsWarning::HeartbeatAboveThirdOfSession {
                heartbeat_interval_ms,
                session_timeout_ms,
            } => write!(
                f,
                "{KAFKA_HEARTBEAT_INTERVAL_MS} ({heartbeat_interval_ms}) is above a third of \
                 {KAFKA_SESSION_TIMEOUT_MS} ({session_timeout_ms}); Kafka recommends at most a third"
            ),
        }
    }
}

/// Parses an env file into `(key, value)` pairs, in file order, with `dotenvy`'s iterator over the
/// text (never its loaders: the process environment is not written).
///
/// dotenvy's syntax: blank lines, `#` comments, an optional `export ` prefix, values in single
/// quotes (literal), double quotes (escapes, may span lines) or none (a `#` after whitespace
/// starts a comment), and `$NAME` / `${NAME}` substitution in unquoted and double-quoted values
/// from the process environment (read, not written) or earlier lines: single-quote a value that
/// holds a `$`, and keep `$` out of the env files of simulations, which must not depend on the
/// process environment.
pub fn parse_env_file(path: &Path, text: &str) -> Result<Vec<(String, String)>, SettingsError> {
    let line_count = Rc::new(Cell::new(0));
    let reader = LineByLine {
        rest: text.as_bytes(),
        lines_started: line_count.clone(),
        continues_line: false,
    };
    dotenvy::from_read_iter(reader)
        .map(|pair| {
            pair.map_err(|error| match error {
                dotenvy::Error::LineParse(entry, _) => {
                    // The entry may span lines (a quoted value); name the line it starts on.
                    let entry = entry.trim_end_matches(['\r', '\n']);
                    let spanned = entry.matches('\n').count();
                    SettingsError::FileSyntax {
                        path: path.to_path_buf(),
                        line: line_count.get().saturating_sub(spanned).max(1),
                        text: entry.to_owned(),
                    }
                }
                other => SettingsError::ReadFile {
                    path: path.to_path_buf(),
                    reason: other.to_string(),
                },
            })
        })
        .collect()
}

/// Hands out text at most one line per `read`, counting the lines started, so that when
/// dotenvy's iterator (which reads through a `BufReader`, a line at a time) reports an entry
/// it cannot parse, the count is the number of the last line it read: dotenvy's errors carry
/// the entry and a column, not a line number.
struct LineByLine<'a> {
    rest: &'a [u8],
    lines_started: Rc<Cell<usize>>,
    /// The last `read` stopped inside a line.
    continues_line: bool,
}

impl std::io::Read for LineByLine<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let line_end = self
            .rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.rest.len(), |i| i + 1);
        let n = line_end.min(buffer.len());
        if n == 0 {
            return Ok(0);
        }
        buffer[..n].copy_from_slice(&self.rest[..n]);
        // A line starts here unless this continues one cut short by a small buffer.
        if !self.continues_line {
            self.lines_started.set(self.lines_started.get() + 1);
        }
        self.continues_line = self.rest[n - 1] != b'\n';
        self.rest = &self.rest[n..];
        Ok(n)
    }
}

fn parse_ms(name: &'static str, raw: &str) -> Result<u32, SettingsError> {
    let value: i64 = raw.trim().parse().map_err(|_| SettingsError::Invalid {
        name,
        value: raw.to_owned(),
        expected: "an integer number of milliseconds",
    })?;
    check_ms(name, value)
}

fn check_ms(name: &'static str, value: i64) -> Result<u32, SettingsError> {
    if value <= 0 {
        return Err(SettingsError::NotPositive { name, value });
    }
    let max = i64::from(i32::MAX);
    if value > max {
        return Err(SettingsError::TooLarge { name, value, max });
    }
    Ok(value as u32)
}

impl FromStr for AutoOffsetReset {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim().to_ascii_lowercase().as_str() {
            "earliest" | "smallest" | "beginning" => Ok(AutoOffsetReset::Earliest),
            "latest" | "largest" | "end" => Ok(AutoOffsetReset::Latest),
            _ => Err(()),
        }
    }
}

impl FromStr for Acks {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim().to_ascii_lowercase().as_str() {
            "all" | "-1" => Ok(Acks::All),
            "1" | "leader" => Ok(Acks::Leader),
            "0" | "none" => Ok(Acks::None),
            _ => Err(()),
        }
    }
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads an env file only (the process environment is ignored and left untouched).
    pub fn from_env_file(path: impl AsRef<Path>) -> Result<Self, SettingsError> {
        let pairs = read_env_file(path.as_ref())?;
        Self::from_lookup(|name| lookup_pairs(&pairs, name))
    }

    /// Reads an env file, with variables set in the process environment taking precedence (the
    /// dotenv convention). The process environment is not modified.
    pub fn from_env_file_and_env(path: impl AsRef<Path>) -> Result<Self, SettingsError> {
        let pairs = read_env_file(path.as_ref())?;
        Self::from_lookup(|name| {
            std::env::var(name)
                .ok()
                .or_else(|| lookup_pairs(&pairs, name))
        })
    }

    /// Builds settings from a lookup function (`name -> value`), applies defaults for unset
    /// variables, validates, and logs warnings.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let mut settings = Settings::default();
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        if let Some(raw) = get(KAFKA_BOOTSTRAP_SERVERS) {
            // `PLAINTEXT://host:port` is accepted too (the scheme is dropped).
            settings.bootstrap_servers = raw
                .split(',')
                .map(|s| {
                    let s = s.trim();
                    s.split_once("://")
                        .map_or(s, |(_, address)| address)
                        .to_owned()
                })
                .filter(|s| !s.is_empty())
                .collect();
            if settings
                .bootstrap_servers
                .iter()
                .any(|s| split_host_port(s).is_none())
            {
                return Err(SettingsError::Invalid {
                    name: KAFKA_BOOTSTRAP_SERVERS,
                    value: raw,
                    expected: "a comma-separated list of host:port",
                });
            }
        }
        let ms_fields: [(&'static str, &mut u32); 7] = [
            (KAFKA_SESSION_TIMEOUT_MS, &mut settings.session_timeout_ms),
            (
                KAFKA_HEARTBEAT_INTERVAL_MS,
                &mut settings.heartbeat_interval_ms,
            ),
            (KAFKA_REQUEST_TIMEOUT_MS, &mut settings.request_timeout_ms),
            (
                KAFKA_AUTO_COMMIT_INTERVAL_MS,
                &mut settings.auto_commit_interval_ms,
            ),
            (
                KAFKA_MAX_POLL_INTERVAL_MS,
                &mut settings.max_poll_interval_ms,
            ),
            (KAFKA_FETCH_MAX_WAIT_MS, &mut settings.fetch_max_wait_ms),
            (KAFKA_RETRY_BACKOFF_MS, &mut settings.retry_backoff_ms),
        ];
        for (name, field) in ms_fields {
            if let Some(raw) = get(name) {
                *field = parse_ms(name, &raw)?;
            }
        }
        if let Some(raw) = get(SSE_CONSUMER_POOL_SIZE) {
            let value: i64 = raw.trim().parse().map_err(|_| SettingsError::Invalid {
                name: SSE_CONSUMER_POOL_SIZE,
                value: raw.clone(),
                expected: "an integer",
            })?;
            if value < 1 {
                return Err(SettingsError::PoolTooSmall {
                    name: SSE_CONSUMER_POOL_SIZE,
                    value,
                });
            }
            settings.consumer_pool_size = usize::try_from(value).unwrap_or(usize::MAX);
        }
        if let Some(raw) = get(KAFKA_GROUP_ID) {
            settings.group_id = raw.trim().to_owned();
        }
        if let Some(raw) = get(KAFKA_CLIENT_ID) {
            settings.client_id = raw.trim().to_owned();
        }
        if let Some(raw) = get(KAFKA_AUTO_OFFSET_RESET) {
            settings.auto_offset_reset = raw.parse().map_err(|()| SettingsError::Invalid {
                name: KAFKA_AUTO_OFFSET_RESET,
                value: raw.clone(),
                expected: "earliest or latest",
            })?;
        }
        if let Some(raw) = get(KAFKA_ISOLATION_LEVEL) {
            settings.isolation_level = raw.parse().map_err(|()| SettingsError::Invalid {
                name: KAFKA_ISOLATION_LEVEL,
                value: raw.clone(),
                expected: "read_uncommitted or read_committed",
            })?;
        }
        if let Some(raw) = get(KAFKA_ENABLE_AUTO_COMMIT) {
            settings.enable_auto_commit = match raw.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => {
                    return Err(SettingsError::Invalid {
                        name: KAFKA_ENABLE_AUTO_COMMIT,
                        value: raw,
                        expected: "true or false",
                    });
                }
            };
        }
        if let Some(raw) = get(KAFKA_ACKS) {
            settings.acks = raw.parse().map_err(|()| SettingsError::Invalid {
                name: KAFKA_ACKS,
                value: raw.clone(),
                expected: "all, -1, 1 or 0",
            })?;
        }
        if let Some(raw) = get(KAFKA_PARTITION_ASSIGNMENT_STRATEGY) {
            let strategies: Option<Vec<_>> = raw
                .split(',')
                .map(|s| AssignmentStrategy::from_protocol_name(&s.trim().to_ascii_lowercase()))
                .collect();
            settings.assignment_strategies =
                strategies
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| SettingsError::Invalid {
                        name: KAFKA_PARTITION_ASSIGNMENT_STRATEGY,
                        value: raw.clone(),
                        expected: "a comma-separated list of range, roundrobin",
                    })?;
        }
        if let Some(raw) = get(KAFKA_GROUP_PROTOCOL) {
            settings.group_protocol = raw.parse().map_err(|()| SettingsError::Invalid {
                name: KAFKA_GROUP_PROTOCOL,
                value: raw.clone(),
                expected: "classic or consumer",
            })?;
        }
        for warning in settings.validate()? {
            tracing::warn!("{warning}");
        }
        Ok(settings)
    }

    /// Checks every rule; returns the warnings of a valid value.
    pub fn validate(&self) -> Result<Vec<SettingsWarning>, SettingsError> {
        for (name, value) in [
            (KAFKA_SESSION_TIMEOUT_MS, self.session_timeout_ms),
            (KAFKA_HEARTBEAT_INTERVAL_MS, self.heartbeat_interval_ms),
            (KAFKA_REQUEST_TIMEOUT_MS, self.request_timeout_ms),
            (KAFKA_AUTO_COMMIT_INTERVAL_MS, self.auto_commit_interval_ms),
            (KAFKA_MAX_POLL_INTERVAL_MS, self.max_poll_interval_ms),
            (KAFKA_FETCH_MAX_WAIT_MS, self.fetch_max_wait_ms),
            (KAFKA_RETRY_BACKOFF_MS, self.retry_backoff_ms),
        ] {
            check_ms(name, i64::from(value))?;
        }
        if self.consumer_pool_size < 1 {
            return Err(SettingsError::PoolTooSmall {
                name: SSE_CONSUMER_POOL_SIZE,
                value: 0,
            });
        }
        if self.request_timeout_ms >= self.session_timeout_ms {
            return Err(SettingsError::NotLessThan {
                name: KAFKA_REQUEST_TIMEOUT_MS,
                value: self.request_timeout_ms.into(),
                other: KAFKA_SESSION_TIMEOUT_MS,
                other_value: self.session_timeout_ms.into(),
            });
        }
        if self.heartbeat_interval_ms >= self.session_timeout_ms {
            return Err(SettingsError::NotLessThan {
                name: KAFKA_HEARTBEAT_INTERVAL_MS,
                value: self.heartbeat_interval_ms.into(),
                other: KAFKA_SESSION_TIMEOUT_MS,
                other_value: self.session_timeout_ms.into(),
            });
        }
        if self.bootstrap_servers.is_empty() {
            return Err(SettingsError::Invalid {
                name: KAFKA_BOOTSTRAP_SERVERS,
                value: String::new(),
                expected: "at least one host:port",
            });
        }
        let mut warnings = Vec::new();
        if u64::from(self.heartbeat_interval_ms) * 3 > u64::from(self.session_timeout_ms) {
            warnings.push(SettingsWarning::HeartbeatAboveThirdOfSession {
                heartbeat_interval_ms: self.heartbeat_interval_ms,
                session_timeout_ms: self.session_timeout_ms,
            });
        }
        Ok(warnings)
    }

    /// The session timeout.
    pub fn session_timeout(&self) -> Duration {
        Duration::from_millis(self.session_timeout_ms.into())
    }

    /// The heartbeat interval.
    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_millis(self.heartbeat_interval_ms.into())
    }

    /// The bound on every request.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms.into())
    }

    /// The auto-commit period.
    pub fn auto_commit_interval(&self) -> Duration {
        Duration::from_millis(self.auto_commit_interval_ms.into())
    }

    /// The retry and reconnect backoff.
    pub fn retry_backoff(&self) -> Duration {
        Duration::from_millis(self.retry_backoff_ms.into())
    }
}

fn read_env_file(path: &Path) -> Result<Vec<(String, String)>, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|e| SettingsError::ReadFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    parse_env_file(path, &text)
}

/// The last value of `name` (later lines win, as in a shell).
fn lookup_pairs(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// Splits `host:port` (the host may be a bracketed IPv6 address).
pub fn split_host_port(address: &str) -> Option<(String, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = port.parse().ok()?;
    (!host.is_empty()).then(|| (host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_pairs(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|name| lookup_pairs(&pairs, name))
    }

    fn repo_env_test() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.env.test")
    }

    #[test]
    fn defaults_are_the_seed_production_values() {
        let settings = from_pairs(&[]).unwrap();
        assert_eq!(settings, Settings::default());
        assert_eq!(settings.session_timeout_ms, 45_000);
        assert_eq!(settings.heartbeat_interval_ms, 10_000);
        assert_eq!(settings.request_timeout_ms, 40_000);
        assert_eq!(settings.consumer_pool_size, 10);
        assert_eq!(settings.validate().unwrap(), vec![]);
    }

    #[test]
    fn repository_env_test_loads_and_validates() {
        let settings = Settings::from_env_file(repo_env_test()).unwrap();
        assert_eq!(settings.consumer_pool_size, 1);
        assert_eq!(settings.session_timeout_ms, 6_000);
        assert_eq!(settings.heartbeat_interval_ms, 2_000);
        assert_eq!(settings.request_timeout_ms, 5_000);
        assert_eq!(settings.request_timeout(), Duration::from_secs(5));
        assert_eq!(settings.validate().unwrap(), vec![]);
    }

    #[test]
    fn request_timeout_must_be_below_session_timeout() {
        let err = from_pairs(&[
            (KAFKA_SESSION_TIMEOUT_MS, "6000"),
            (KAFKA_REQUEST_TIMEOUT_MS, "6000"),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "KAFKA_REQUEST_TIMEOUT_MS (6000) must be less than KAFKA_SESSION_TIMEOUT_MS (6000)"
        );
    }

    #[test]
    fn heartbeat_interval_must_be_below_session_timeout() {
        let err = from_pairs(&[
            (KAFKA_SESSION_TIMEOUT_MS, "6000"),
            (KAFKA_REQUEST_TIMEOUT_MS, "5000"),
            (KAFKA_HEARTBEAT_INTERVAL_MS, "7000"),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "KAFKA_HEARTBEAT_INTERVAL_MS (7000) must be less than KAFKA_SESSION_TIMEOUT_MS (6000)"
        );
    }

    #[test]
    fn timeouts_must_be_positive() {
        for name in [
            KAFKA_SESSION_TIMEOUT_MS,
            KAFKA_HEARTBEAT_INTERVAL_MS,
            KAFKA_REQUEST_TIMEOUT_MS,
        ] {
            for value in ["0", "-5"] {
                let err = from_pairs(&[(name, value)]).unwrap_err();
                assert_eq!(
                    err.to_string(),
                    format!("{name} must be positive, got {value}")
                );
            }
        }
    }

    #[test]
    fn timeouts_must_fit_in_int32() {
        let err = from_pairs(&[(KAFKA_SESSION_TIMEOUT_MS, "3000000000")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "KAFKA_SESSION_TIMEOUT_MS must be at most 2147483647, got 3000000000"
        );
    }

    #[test]
    fn pool_size_must_be_at_least_one() {
        let err = from_pairs(&[(SSE_CONSUMER_POOL_SIZE, "0")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SSE_CONSUMER_POOL_SIZE must be at least 1, got 0"
        );
        let settings = Settings {
            consumer_pool_size: 0,
            ..Settings::default()
        };
        assert!(matches!(
            settings.validate(),
            Err(SettingsError::PoolTooSmall { .. })
        ));
    }

    #[test]
    fn non_numbers_are_rejected_with_the_variable_name() {
        let err = from_pairs(&[(KAFKA_REQUEST_TIMEOUT_MS, "5s")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "KAFKA_REQUEST_TIMEOUT_MS=\"5s\": expected an integer number of milliseconds"
        );
        let err = from_pairs(&[(SSE_CONSUMER_POOL_SIZE, "many")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SSE_CONSUMER_POOL_SIZE=\"many\": expected an integer"
        );
        let err = from_pairs(&[(KAFKA_AUTO_OFFSET_RESET, "middle")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "KAFKA_AUTO_OFFSET_RESET=\"middle\": expected earliest or latest"
        );
        let err = from_pairs(&[(KAFKA_BOOTSTRAP_SERVERS, "localhost")]).unwrap_err();
        assert!(
            err.to_string().starts_with("KAFKA_BOOTSTRAP_SERVERS="),
            "{err}"
        );
    }

    #[test]
    fn heartbeat_above_a_third_of_session_is_a_warning() {
        let settings = from_pairs(&[
            (KAFKA_SESSION_TIMEOUT_MS, "6000"),
            (KAFKA_REQUEST_TIMEOUT_MS, "5000"),
            (KAFKA_HEARTBEAT_INTERVAL_MS, "2001"),
        ])
        .unwrap();
        let warnings = settings.validate().unwrap();
        assert_eq!(
            warnings,
            vec![SettingsWarning::HeartbeatAboveThirdOfSession {
                heartbeat_interval_ms: 2001,
                session_timeout_ms: 6000
            }]
        );
        assert!(warnings[0].to_string().contains("a third"));
    }

    #[test]
    fn optional_settings_parse() {
        let settings = from_pairs(&[
            (KAFKA_BOOTSTRAP_SERVERS, "a:1, PLAINTEXT://b:2"),
            (KAFKA_GROUP_ID, "g"),
            (KAFKA_AUTO_OFFSET_RESET, "earliest"),
            (KAFKA_ENABLE_AUTO_COMMIT, "false"),
            (KAFKA_ACKS, "1"),
            (KAFKA_PARTITION_ASSIGNMENT_STRATEGY, "roundrobin"),
        ])
        .unwrap();
        assert_eq!(settings.bootstrap_servers, vec!["a:1", "b:2"]);
        assert_eq!(settings.group_id, "g");
        assert_eq!(settings.auto_offset_reset, AutoOffsetReset::Earliest);
        assert!(!settings.enable_auto_commit);
        assert_eq!(settings.acks, Acks::Leader);
        assert_eq!(
            settings.assignment_strategies,
            vec![AssignmentStrategy::RoundRobin]
        );
    }

    #[test]
    fn group_protocol_is_classic_unless_consumer_is_asked_for() {
        assert_eq!(
            from_pairs(&[]).unwrap().group_protocol,
            GroupProtocol::Classic
        );
        let settings = from_pairs(&[(KAFKA_GROUP_PROTOCOL, "Consumer")]).unwrap();
        assert_eq!(settings.group_protocol, GroupProtocol::Consumer);
        let error = from_pairs(&[(KAFKA_GROUP_PROTOCOL, "kip848")]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "KAFKA_GROUP_PROTOCOL=\"kip848\": expected classic or consumer"
        );
    }

    #[test]
    fn env_file_syntax() {
        let path = Path::new("x.env");
        let pairs = parse_env_file(
            path,
            "# comment\n\nexport A=1\nB = \"two # not a comment\"\nC='3'\nD=4 # comment\n",
        )
        .unwrap();
        assert_eq!(
            pairs,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two # not a comment".into()),
                ("C".into(), "3".into()),
                ("D".into(), "4".into()),
            ]
        );
        let err = parse_env_file(path, "A=1\nnot a pair\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.env:2: expected KEY=VALUE, got \"not a pair\""
        );
    }

    #[test]
    fn env_file_errors_name_the_line_an_entry_starts_on() {
        let path = Path::new("x.env");
        // After comments, blank lines and a quoted value spanning two lines.
        let text = "# c\n\nA=\"x\ny\"\nB=2\n\nC D\n";
        let err = parse_env_file(path, text).unwrap_err();
        assert_eq!(err.to_string(), "x.env:7: expected KEY=VALUE, got \"C D\"");
        // An unterminated quote: the line where the entry starts.
        let err = parse_env_file(path, "A=1\nB=\"open\nstill open\n").unwrap_err();
        assert!(
            matches!(err, SettingsError::FileSyntax { line: 2, .. }),
            "{err}"
        );
        // A line longer than dotenvy's read buffer still counts once.
        let long = "v".repeat(20_000);
        let text = format!("A={long}\nB={long}\n=bad\n");
        let err = parse_env_file(path, &text).unwrap_err();
        assert!(
            matches!(err, SettingsError::FileSyntax { line: 3, .. }),
            "{err}"
        );
        // No trailing newline.
        let err = parse_env_file(path, "A=1\n!").unwrap_err();
        assert!(
            matches!(err, SettingsError::FileSyntax { line: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn env_file_does_not_touch_the_process_environment() {
        let name = "KMOCK_SETTINGS_TEST_NEVER_SET";
        let pairs = parse_env_file(Path::new("x.env"), &format!("{name}=1\n")).unwrap();
        assert_eq!(pairs, vec![(name.to_owned(), "1".to_owned())]);
        assert!(std::env::var_os(name).is_none());
    }

    #[test]
    fn missing_env_file_is_a_typed_error() {
        let err = Settings::from_env_file("/nonexistent/.env.test").unwrap_err();
        assert!(matches!(err, SettingsError::ReadFile { .. }), "{err}");
    }

    proptest::proptest! {
        /// A (session, heartbeat, request) triple is accepted iff every rule holds.
        #[test]
        fn triple_accepted_iff_rules_hold(
            session in -10i64..100_000,
            heartbeat in -10i64..100_000,
            request in -10i64..100_000,
        ) {
            let (s, h, r) = (session.to_string(), heartbeat.to_string(), request.to_string());
            let result = from_pairs(&[
                (KAFKA_SESSION_TIMEOUT_MS, &s),
                (KAFKA_HEARTBEAT_INTERVAL_MS, &h),
                (KAFKA_REQUEST_TIMEOUT_MS, &r),
            ]);
            let rules_hold = session > 0 && heartbeat > 0 && request > 0
                && request < session && heartbeat < session;
            proptest::prop_assert_eq!(result.is_ok(), rules_hold, "{:?}", result);
        }
    }
}
