//! Scenario files (`sims/*.toml`): the format documented in `sims/README.md`, parsed with serde +
//! toml, then checked. Every error names the file, the line and the column, and what was
//! expected: toml's own messages for syntax and types, ours (from `toml::Spanned` byte ranges) for
//! meaning (an unknown actor in the timeline, an unknown metric in an expectation, a bad fault
//! spec).
//!
//! Owns: the scenario model the world runs. Must not: run anything, read clocks.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kmock_broker::FaultRule;
use kmock_client::Settings;
use serde::Deserialize;
use toml::Spanned;

use crate::checkers::{Expectation, METRICS};

/// A scenario file could not be read or makes no sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ScenarioError {
    /// The file (as given).
    pub file: String,
    /// 1-based line (0 when the error has no position, e.g. the file cannot be read).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What went wrong and what was expected.
    pub message: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    max_virtual_ms: Option<u64>,
    #[serde(default)]
    settings: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    broker: RawBroker,
    #[serde(default)]
    topics: Vec<RawTopic>,
    #[serde(default)]
    actors: Vec<RawActor>,
    #[serde(default)]
    faults: Vec<Spanned<RawFault>>,
    #[serde(default)]
    timeline: Vec<RawStep>,
    #[serde(default)]
    expect: Vec<Spanned<String>>,
    #[serde(default)]
    random: Option<Spanned<RawRandom>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRandom {
    pool_size: Option<[usize; 2]>,
    fault_delay_ms: Option<[u64; 2]>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBroker {
    initial_rebalance_delay_ms: Option<i32>,
    min_session_timeout_ms: Option<i32>,
    max_session_timeout_ms: Option<i32>,
    default_partitions: Option<i32>,
    consumer_session_timeout_ms: Option<i32>,
    consumer_heartbeat_interval_ms: Option<i32>,
    brokers: Option<i32>,
    default_replication_factor: Option<i32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopic {
    name: String,
    #[serde(default = "one")]
    partitions: i32,
}

fn one() -> i32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawActor {
    name: Spanned<String>,
    kind: Spanned<String>,
    #[serde(default)]
    topics: Vec<String>,
    size: Option<usize>,
    group: Option<String>,
    records: Option<u32>,
    output: Option<String>,
    transactional_id: Option<String>,
    batch: Option<u32>,
    transaction_timeout_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    rule: Option<Spanned<String>>,
    network: Option<Spanned<String>>,
    actor: Option<Spanned<String>>,
    latency_ms: Option<u64>,
    #[serde(default)]
    at_ms: u64,
    until_ms: Option<u64>,
    cluster: Option<Spanned<String>>,
    node: Option<i32>,
    topic: Option<String>,
    partition: Option<i32>,
    group: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    at_ms: Option<u64>,
    #[serde(rename = "do")]
    action: Spanned<String>,
    actor: Option<Spanned<String>>,
    records: Option<u32>,
    member: Option<usize>,
    rule: Option<Spanned<String>>,
    latency_ms: Option<u64>,
    ms: Option<u64>,
    timeout_ms: Option<u64>,
    node: Option<i32>,
    topic: Option<String>,
    partition: Option<i32>,
    group: Option<String>,
}

/// A scenario, checked and ready to run.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Name (the file stem unless `name` is given).
    pub name: String,
    /// The file it came from, as given (for the reproduction line).
    pub file: String,
    /// What it shows.
    pub description: String,
    /// The default seed (`--seed` overrides it).
    pub seed: u64,
    /// Client settings shared by every actor (client id and group id are set per actor).
    pub settings: Settings,
    /// Where the settings came from, for the trace header (`defaults`, `.env.test`, inline keys).
    pub settings_source: String,
    /// Broker options.
    pub broker: BrokerOptions,
    /// Topics created before the timeline starts.
    pub topics: Vec<(String, i32)>,
    /// Producers and consumer pools.
    pub actors: Vec<Actor>,
    /// Faults with times.
    pub faults: Vec<TimedFault>,
    /// The steps, run in order.
    pub timeline: Vec<Step>,
    /// What must hold at the end.
    pub expectations: Vec<Expectation>,
    /// Virtual-time budget for the whole timeline.
    pub max_virtual: Duration,
    /// What the seed randomises (`[random]`; empty: nothing beyond the seed's own draws).
    pub random: RandomRanges,
}

/// The `[random]` table: inclusive ranges drawn from the seed before a run (see
/// [`Scenario::randomized`]), so `kmock sim explore` varies them and `kmock sim run --seed N`
/// reproduces the draw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RandomRanges {
    /// Size of every consumer pool.
    pub pool_size: Option<(usize, usize)>,
    /// Delay of every broker fault rule that delays a response or holds a request.
    pub fault_delay_ms: Option<(u64, u64)>,
}

/// SplitMix64: a tiny seeded generator for the `[random]` draws (independent of the world's).
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn draw(state: &mut u64, (low, high): (u64, u64)) -> u64 {
    low + splitmix(state) % (high - low + 1)
}

impl Scenario {
    /// The scenario with its `[random]` ranges drawn from `seed` (a copy when there are none).
    /// The draws are named in the settings line of the trace header.
    pub fn randomized(&self, seed: u64) -> Scenario {
        let mut scenario = self.clone();
        if self.random == RandomRanges::default() {
            return scenario;
        }
        let mut state = seed ^ 0x6B6D_6F63_6B72_616E; // "kmockran"
        let mut drawn = Vec::new();
        if let Some((low, high)) = self.random.pool_size {
            let size = usize::try_from(draw(&mut state, (low as u64, high as u64))).unwrap_or(low);
            for actor in &mut scenario.actors {
                if let ActorKind::Pool { size: s, .. } = &mut actor.kind {
                    *s = size.max(1);
                }
            }
            drawn.push(format!("pool_size={size}"));
        }
        if let Some(range) = self.random.fault_delay_ms {
            let delay = Duration::from_millis(draw(&mut state, range));
            let patch = |rule: &mut FaultRule| match &mut rule.action {
                kmock_broker::FaultAction::DelayResponse(d)
                | kmock_broker::FaultAction::HoldRequest(d) => *d = delay,
                _ => {}
            };
            for fault in &mut scenario.faults {
                if let FaultKind::Broker(rule) = &mut fault.kind {
                    patch(rule);
                }
            }
            for step in &mut scenario.timeline {
                if let Action::Fault(rule) = &mut step.action {
                    patch(rule);
                }
            }
            drawn.push(format!("fault_delay_ms={}", delay.as_millis()));
        }
        scenario.settings_source =
            format!("{} + random: {}", scenario.settings_source, drawn.join(" "));
        scenario
    }
}

/// Broker options a scenario may set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerOptions {
    /// `group.initial.rebalance.delay.ms` (sims default to 0).
    pub initial_rebalance_delay_ms: i32,
    /// `group.min.session.timeout.ms`.
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`.
    pub max_session_timeout_ms: i32,
    /// Partitions of auto-created topics.
    pub default_partitions: i32,
    /// `group.consumer.session.timeout.ms` of KIP-848 groups, when set (its minimum is lowered
    /// to it if needed; Kafka's default 45000 otherwise).
    pub consumer_session_timeout_ms: Option<i32>,
    /// `group.consumer.heartbeat.interval.ms` of KIP-848 groups, when set (its minimum is
    /// lowered to it if needed; Kafka's default 5000 otherwise).
    pub consumer_heartbeat_interval_ms: Option<i32>,
    /// Brokers in the cluster (default 1), each on its own in-memory listener.
    pub brokers: i32,
    /// `default.replication.factor` (default 1).
    pub default_replication_factor: i32,
}

/// What an actor is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorKind {
    /// A producer publishing `records` per produce step (default) to `topic`.
    Producer {
        /// Topic written to.
        topic: String,
        /// Records per produce step unless the step says otherwise.
        records: u32,
    },
    /// A consumer pool of `size` members in `group`, subscribed to `topics`.
    Pool {
        /// Topics.
        topics: Vec<String>,
        /// Members.
        size: usize,
        /// Group id.
        group: String,
    },
    /// An exactly-once consume-transform-produce loop (see `pipeline.rs`): a read_committed
    /// consumer of `input` in `group` and a transactional producer to `output`.
    Pipeline {
        /// Topic consumed.
        input: String,
        /// Topic produced to (same partitions as the input).
        output: String,
        /// Group of the consumer (its offsets are committed in the transactions).
        group: String,
        /// The producer's `transactional.id`.
        transactional_id: String,
        /// Most input records per transaction.
        batch: u32,
        /// The producer's transaction timeout.
        transaction_timeout: Duration,
    },
}

/// A named client of the world; its name is its client id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Name (also the client id).
    pub name: String,
    /// Kind.
    pub kind: ActorKind,
}

/// A network fault on an actor's links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkFault {
    /// Hold every byte between the actor and the broker until healed.
    Partition,
    /// Add this much latency to every chunk in both directions.
    Latency(Duration),
    /// Close every open connection of the actor (both ends).
    Disconnect,
}

/// A fault and when it applies.
#[derive(Debug, Clone)]
pub enum FaultKind {
    /// A broker fault rule (docs/fault-spec.md).
    Broker(FaultRule),
    /// A network fault on one actor.
    Network {
        /// The actor.
        actor: String,
        /// What.
        fault: NetworkFault,
    },
    /// A cluster event at a virtual time, whatever the timeline is doing then (a `stop`, a
    /// `produce`); `broker_down` with `until_ms` brings the broker back up then.
    Cluster(ClusterEvent),
}

/// A fault from the `[[faults]]` list.
#[derive(Debug, Clone)]
pub struct TimedFault {
    /// What.
    pub kind: FaultKind,
    /// Installed at this virtual time.
    pub at: Duration,
    /// Removed (healed) at this virtual time, if given.
    pub until: Option<Duration>,
}

/// One timeline step.
#[derive(Debug, Clone)]
pub struct Step {
    /// Wait until this virtual time before the step (if not already later).
    pub at: Option<Duration>,
    /// What to do.
    pub action: Action,
    /// The step as written (`line:column`), for errors.
    pub position: String,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    /// Start an actor (connect; a pool starts its members).
    Start(String),
    /// Wait until every live member of a pool is stable in one generation.
    WaitStable(String, Duration),
    /// Wait until every live member is stable in a generation newer than the current one.
    WaitRebalance(String, Duration),
    /// Publish records and wait for their acknowledgements.
    Produce(String, u32),
    /// Wait until the pool delivered every acknowledged record of its topics.
    WaitDelivered(String, Duration),
    /// Wait until a pipeline's group committed offsets past every record of its input.
    WaitProcessed(String, Duration),
    /// Stop a pool (timed; shared deadline = request_timeout).
    Stop(String),
    /// Abort one member without LeaveGroup: it stops heartbeating.
    Crash(String, usize),
    /// Install a broker fault rule.
    Fault(FaultRule),
    /// Remove every broker fault rule.
    ClearFaults,
    /// Apply a network fault.
    Network(String, NetworkFault),
    /// Heal a partition and remove added latency.
    Heal(String),
    /// Let virtual time pass.
    Sleep(Duration),
    /// A cluster event (broker down/up, a leader or coordinator moved).
    Cluster(ClusterEvent),
}

/// A cluster event of the timeline (see `kmock_core::cluster`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterEvent {
    /// `broker_down`: the broker's connections close and it refuses new ones.
    BrokerDown(i32),
    /// `broker_up`: the broker serves again.
    BrokerUp(i32),
    /// `move_leader`: a partition's leadership moves to the node.
    MoveLeader {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The new leader.
        node: i32,
    },
    /// `move_coordinator`: a group's coordinator moves to the node.
    MoveCoordinator {
        /// The group.
        group: String,
        /// The new coordinator.
        node: i32,
    },
}

impl fmt::Display for ClusterEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterEvent::BrokerDown(node) => write!(f, "broker {node} down"),
            ClusterEvent::BrokerUp(node) => write!(f, "broker {node} up"),
            ClusterEvent::MoveLeader {
                topic,
                partition,
                node,
            } => write!(f, "leader of {topic}-{partition} -> broker {node}"),
            ClusterEvent::MoveCoordinator { group, node } => {
                write!(f, "coordinator of {group} -> broker {node}")
            }
        }
    }
}

const STEP_ACTIONS: &str = "start, wait_stable, wait_rebalance, produce, wait_delivered, wait_processed, stop, crash, fault, clear_faults, partition, latency, disconnect, heal, sleep, broker_down, broker_up, move_leader, move_coordinator";

/// Default time a `wait_*` step may take.
const DEFAULT_WAIT: Duration = Duration::from_secs(120);

struct Positions<'a> {
    file: &'a str,
    text: &'a str,
}

impl Positions<'_> {
    fn at(&self, span: Range<usize>, message: impl Into<String>) -> ScenarioError {
        let (line, column) = line_column(self.text, span.start);
        ScenarioError {
            file: self.file.to_owned(),
            line,
            column,
            message: message.into(),
        }
    }

    fn position(&self, span: Range<usize>) -> String {
        let (line, column) = line_column(self.text, span.start);
        format!("{line}:{column}")
    }
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.chars().count(), |i| before[i + 1..].chars().count())
        + 1;
    (line, column)
}

impl Scenario {
    /// Reads and checks a scenario file. `env = "..."` paths are resolved against the file's
    /// directory, then its parent (so `sims/x.toml` may say `env = ".env.test"`).
    pub fn load(path: impl AsRef<Path>) -> Result<Scenario, ScenarioError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ScenarioError {
            file: file.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read the scenario: {error}"),
        })?;
        let stem = path.file_stem().map_or_else(
            || "scenario".to_owned(),
            |s| s.to_string_lossy().into_owned(),
        );
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&file, &stem, &text, &dir)
    }

    /// Parses scenario text; `file` names it in errors, `default_name` is used without `name`,
    /// `dir` resolves `env` files.
    pub fn parse(
        file: &str,
        default_name: &str,
        text: &str,
        dir: &Path,
    ) -> Result<Scenario, ScenarioError> {
        Self::parse_with_env(file, default_name, text, &EnvFiles::Dir(dir))
    }

    /// Parses scenario text whose `env` files are given in memory as `(name, text)` pairs (for
    /// scenarios embedded in a binary, e.g. `kmock demo`): no file system access.
    pub fn parse_embedded(
        file: &str,
        default_name: &str,
        text: &str,
        env_files: &[(&str, &str)],
    ) -> Result<Scenario, ScenarioError> {
        Self::parse_with_env(file, default_name, text, &EnvFiles::Embedded(env_files))
    }

    fn parse_with_env(
        file: &str,
        default_name: &str,
        text: &str,
        env_files: &EnvFiles<'_>,
    ) -> Result<Scenario, ScenarioError> {
        let at = Positions { file, text };
        let raw = parse_toml(file, text)?;
        let (settings, settings_source) = settings(&at, &raw.settings, env_files)?;
        let broker = broker_options(&raw.broker);
        let topics: Vec<(String, i32)> = raw
            .topics
            .iter()
            .map(|t| (t.name.clone(), t.partitions))
            .collect();
        let actors = actors(&at, &raw.actors, &topics, &settings)?;
        let faults = faults(&at, &raw.faults, &actors)?;
        let timeline = timeline(&at, &raw.timeline, &actors)?;
        let expectations = expectations(&at, &raw.expect, &actors)?;
        let random = random_ranges(&at, raw.random.as_ref())?;
        Ok(Scenario {
            name: raw.name.unwrap_or_else(|| default_name.to_owned()),
            file: file.to_owned(),
            description: raw.description.trim().to_owned(),
            seed: raw.seed,
            settings,
            settings_source,
            broker,
            topics,
            actors,
            faults,
            timeline,
            expectations,
            max_virtual: Duration::from_millis(raw.max_virtual_ms.unwrap_or(3_600_000)),
            random,
        })
    }
}

/// The file as toml, with toml's own message and position for syntax and type errors.
fn parse_toml(file: &str, text: &str) -> Result<RawScenario, ScenarioError> {
    toml::from_str(text).map_err(|error| {
        let (line, column) = error
            .span()
            .map_or((0, 0), |span| line_column(text, span.start));
        ScenarioError {
            file: file.to_owned(),
            line,
            column,
            message: error.message().trim_end().to_owned(),
        }
    })
}

/// `[broker]` with the simulation's defaults (no initial rebalance delay).
fn broker_options(raw: &RawBroker) -> BrokerOptions {
    BrokerOptions {
        initial_rebalance_delay_ms: raw.initial_rebalance_delay_ms.unwrap_or(0),
        min_session_timeout_ms: raw.min_session_timeout_ms.unwrap_or(6_000),
        max_session_timeout_ms: raw.max_session_timeout_ms.unwrap_or(1_800_000),
        default_partitions: raw.default_partitions.unwrap_or(1),
        consumer_session_timeout_ms: raw.consumer_session_timeout_ms,
        consumer_heartbeat_interval_ms: raw.consumer_heartbeat_interval_ms,
        brokers: raw.brokers.unwrap_or(1),
        default_replication_factor: raw.default_replication_factor.unwrap_or(1),
    }
}

/// `[[actors]]`: unique valid names; a producer's topic and a pool's topics, size and group
/// default to the `[[topics]]` and the settings.
fn actors(
    at: &Positions<'_>,
    raw: &[RawActor],
    topics: &[(String, i32)],
    settings: &Settings,
) -> Result<Vec<Actor>, ScenarioError> {
    let mut actors: Vec<Actor> = Vec::new();
    for actor in raw {
        let name = actor.name.get_ref().clone();
        if name.is_empty() || name.contains(char::is_whitespace) || name.contains('/') {
            return Err(at.at(
                actor.name.span(),
                format!(
                    "invalid actor name {name:?}: expected a non-empty name without spaces or '/'"
                ),
            ));
        }
        if actors.iter().any(|a| a.name == name) {
            return Err(at.at(actor.name.span(), format!("duplicate actor name {name:?}")));
        }
        let kind = actor_kind(at, actor, topics, settings)?;
        actors.push(Actor { name, kind });
    }
    Ok(actors)
}

/// The kind of one `[[actors]]` entry, with its defaults filled in.
fn actor_kind(
    at: &Positions<'_>,
    actor: &RawActor,
    topics: &[(String, i32)],
    settings: &Settings,
) -> Result<ActorKind, ScenarioError> {
    let first_topic = || {
        actor
            .topics
            .first()
            .cloned()
            .or_else(|| topics.first().map(|t| t.0.clone()))
    };
    let kind = match actor.kind.get_ref().as_str() {
        "producer" => ActorKind::Producer {
            topic: first_topic().ok_or_else(|| {
                at.at(
                    actor.kind.span(),
                    "a producer needs `topics` (or a [[topics]] entry)",
                )
            })?,
            records: actor.records.unwrap_or(10),
        },
        "pool" => ActorKind::Pool {
            topics: if actor.topics.is_empty() {
                topics.iter().map(|t| t.0.clone()).collect()
            } else {
                actor.topics.clone()
            },
            size: actor.size.unwrap_or(settings.consumer_pool_size).max(1),
            group: actor
                .group
                .clone()
                .unwrap_or_else(|| settings.group_id.clone()),
        },
        "pipeline" => {
            let Some(output) = actor.output.clone() else {
                return Err(at.at(
                    actor.kind.span(),
                    "a pipeline needs `output = \"TOPIC\"` (and `topics = [\"INPUT\"]` or a [[topics]] entry)",
                ));
            };
            ActorKind::Pipeline {
                input: first_topic().ok_or_else(|| {
                    at.at(
                        actor.kind.span(),
                        "a pipeline needs `topics = [\"INPUT\"]` (or a [[topics]] entry)",
                    )
                })?,
                output,
                group: actor
                    .group
                    .clone()
                    .unwrap_or_else(|| settings.group_id.clone()),
                transactional_id: actor
                    .transactional_id
                    .clone()
                    .unwrap_or_else(|| actor.name.get_ref().clone()),
                batch: actor.batch.unwrap_or(10).max(1),
                transaction_timeout: Duration::from_millis(
                    actor.transaction_timeout_ms.unwrap_or(60_000),
                ),
            }
        }
        other => {
            return Err(at.at(
                actor.kind.span(),
                format!(
                    "unknown actor kind {other:?}: expected \"producer\", \"pool\" or \"pipeline\""
                ),
            ));
        }
    };
    if let ActorKind::Pool { topics: t, .. } = &kind
        && t.is_empty()
    {
        return Err(at.at(
            actor.name.span(),
            "a pool needs `topics` (or [[topics]] entries)",
        ));
    }
    Ok(kind)
}

/// The actor an entry names with `actor = "NAME"` (`span` places the error when it names none);
/// `want_pool` rejects a producer.
fn actor_ref(
    at: &Positions<'_>,
    actors: &[Actor],
    name: &Option<Spanned<String>>,
    span: Range<usize>,
    want_pool: bool,
) -> Result<String, ScenarioError> {
    let Some(name) = name else {
        return Err(at.at(span, "this needs `actor = \"NAME\"`"));
    };
    let Some(actor) = actors.iter().find(|a| &a.name == name.get_ref()) else {
        let known: Vec<_> = actors.iter().map(|a| a.name.as_str()).collect();
        return Err(at.at(
            name.span(),
            format!(
                "unknown actor {:?}: expected one of {}",
                name.get_ref(),
                known.join(", ")
            ),
        ));
    };
    if want_pool && !matches!(actor.kind, ActorKind::Pool { .. }) {
        return Err(at.at(
            name.span(),
            format!("actor {:?} is not a pool", name.get_ref()),
        ));
    }
    Ok(actor.name.clone())
}

/// A fault spec (docs/fault-spec.md), its parse error placed at the spec.
fn fault_rule(at: &Positions<'_>, rule: &Spanned<String>) -> Result<FaultRule, ScenarioError> {
    rule.get_ref()
        .parse::<FaultRule>()
        .map_err(|error| at.at(rule.span(), error.to_string()))
}

/// `[[faults]]`: each a broker rule or a network fault on one actor, with its times.
fn faults(
    at: &Positions<'_>,
    raw: &[Spanned<RawFault>],
    actors: &[Actor],
) -> Result<Vec<TimedFault>, ScenarioError> {
    let mut faults = Vec::new();
    for entry in raw {
        let fault = entry.get_ref();
        let kind = match (&fault.rule, &fault.network, &fault.cluster) {
            (Some(rule), None, None) => FaultKind::Broker(fault_rule(at, rule)?),
            (None, Some(network), None) => {
                let actor = actor_ref(at, actors, &fault.actor, network.span(), false)?;
                let fault = network_fault(at, network, fault.latency_ms)?;
                FaultKind::Network { actor, fault }
            }
            (None, None, Some(cluster)) => FaultKind::Cluster(cluster_fault(at, fault, cluster)?),
            (None, None, None) => {
                return Err(at.at(
                    entry.span(),
                    "a [[faults]] entry needs `rule = \"SPEC\"`, `network = \"partition|latency|disconnect\"` or `cluster = \"broker_down|move_leader|move_coordinator\"`",
                ));
            }
            _ => {
                return Err(at.at(
                    entry.span(),
                    "a fault has one of `rule`, `network` or `cluster`, not several",
                ));
            }
        };
        faults.push(TimedFault {
            kind,
            at: Duration::from_millis(fault.at_ms),
            until: fault.until_ms.map(Duration::from_millis),
        });
    }
    Ok(faults)
}

/// `[[faults]] cluster = "..."`: a cluster event at `at_ms`; only `broker_down` takes `until_ms`
/// (the broker comes back up then).
fn cluster_fault(
    at: &Positions<'_>,
    fault: &RawFault,
    cluster: &Spanned<String>,
) -> Result<ClusterEvent, ScenarioError> {
    let name = cluster.get_ref().as_str();
    if !matches!(
        name,
        "broker_down" | "broker_up" | "move_leader" | "move_coordinator"
    ) {
        return Err(at.at(
            cluster.span(),
            format!(
                "unknown cluster event {name:?}: expected broker_down, broker_up, move_leader or move_coordinator"
            ),
        ));
    }
    if fault.until_ms.is_some() && name != "broker_down" {
        return Err(at.at(
            cluster.span(),
            format!("`until_ms` is for `cluster = \"broker_down\"` (up again then), not {name:?}"),
        ));
    }
    let fields = ClusterFields {
        node: fault.node,
        topic: fault.topic.as_ref(),
        partition: fault.partition,
        group: fault.group.as_ref(),
    };
    cluster_event(at, cluster.span(), name, &fields)
}

/// `[[timeline]]`: the steps in file order, each with its position for run-time errors.
fn timeline(
    at: &Positions<'_>,
    raw: &[RawStep],
    actors: &[Actor],
) -> Result<Vec<Step>, ScenarioError> {
    raw.iter()
        .map(|step| {
            Ok(Step {
                at: step.at_ms.map(Duration::from_millis),
                action: step_action(at, actors, step)?,
                position: at.position(step.action.span()),
            })
        })
        .collect()
}

/// What one `[[timeline]]` step does (`do = "..."` and the keys that action needs).
fn step_action(
    at: &Positions<'_>,
    actors: &[Actor],
    step: &RawStep,
) -> Result<Action, ScenarioError> {
    let span = step.action.span();
    let wait = step.timeout_ms.map_or(DEFAULT_WAIT, Duration::from_millis);
    let actor = |want_pool: bool| actor_ref(at, actors, &step.actor, span.clone(), want_pool);
    Ok(match step.action.get_ref().as_str() {
        "start" => Action::Start(actor(false)?),
        "wait_stable" => Action::WaitStable(actor(true)?, wait),
        "wait_rebalance" => Action::WaitRebalance(actor(true)?, wait),
        "wait_delivered" => Action::WaitDelivered(actor(true)?, wait),
        "wait_processed" => {
            let name = actor(false)?;
            pipeline_ref(at, actors, &name, span.clone())?;
            Action::WaitProcessed(name, wait)
        }
        "produce" => produce_step(at, actors, step, actor(false)?)?,
        "stop" => {
            let name = actor(false)?;
            if pipeline_ref(at, actors, &name, span.clone()).is_err() {
                // Not a pipeline: it must be a pool.
                actor(true)?;
            }
            Action::Stop(name)
        }
        "crash" => crash_step(at, actors, step, actor(true)?)?,
        "fault" => {
            let Some(rule) = &step.rule else {
                return Err(at.at(
                    span,
                    "`do = \"fault\"` needs `rule = \"SPEC\"` (docs/fault-spec.md)",
                ));
            };
            Action::Fault(fault_rule(at, rule)?)
        }
        "clear_faults" => Action::ClearFaults,
        "partition" | "latency" | "disconnect" => {
            let actor = actor(false)?;
            Action::Network(actor, network_fault(at, &step.action, step.latency_ms)?)
        }
        "heal" => Action::Heal(actor(false)?),
        "sleep" => {
            let Some(ms) = step.ms else {
                return Err(at.at(span, "`do = \"sleep\"` needs `ms = N`"));
            };
            Action::Sleep(Duration::from_millis(ms))
        }
        name @ ("broker_down" | "broker_up" | "move_leader" | "move_coordinator") => {
            Action::Cluster(cluster_event(
                at,
                step.action.span(),
                name,
                &ClusterFields {
                    node: step.node,
                    topic: step.topic.as_ref(),
                    partition: step.partition,
                    group: step.group.as_ref(),
                },
            )?)
        }
        other => {
            return Err(at.at(
                span,
                format!("unknown step {other:?}: expected one of {STEP_ACTIONS}"),
            ));
        }
    })
}

/// The fields of a cluster step or cluster fault.
struct ClusterFields<'a> {
    node: Option<i32>,
    topic: Option<&'a String>,
    partition: Option<i32>,
    group: Option<&'a String>,
}

/// A cluster step or fault: `node` always, `topic` and `partition` to move a leader, `group` to
/// move a coordinator. Whether the node and partition exist is the broker's to say when it runs.
fn cluster_event(
    at: &Positions<'_>,
    span: Range<usize>,
    name: &str,
    step: &ClusterFields<'_>,
) -> Result<ClusterEvent, ScenarioError> {
    let missing = |fields: &str| at.at(span.clone(), format!("`{name}` needs {fields}"));
    let node = step.node.ok_or_else(|| missing("`node = N`"))?;
    Ok(match name {
        "broker_down" => ClusterEvent::BrokerDown(node),
        "broker_up" => ClusterEvent::BrokerUp(node),
        "move_leader" => match (step.topic, step.partition) {
            (Some(topic), Some(partition)) => ClusterEvent::MoveLeader {
                topic: topic.clone(),
                partition,
                node,
            },
            _ => {
                return Err(missing(
                    "`topic = \"NAME\"`, `partition = N` and `node = N`",
                ));
            }
        },
        _ => match step.group {
            Some(group) => ClusterEvent::MoveCoordinator {
                group: group.clone(),
                node,
            },
            None => return Err(missing("`group = \"ID\"` and `node = N`")),
        },
    })
}

/// Ok if the actor `name` is a pipeline.
fn pipeline_ref(
    at: &Positions<'_>,
    actors: &[Actor],
    name: &str,
    span: Range<usize>,
) -> Result<(), ScenarioError> {
    match actors.iter().find(|a| a.name == name) {
        Some(Actor {
            kind: ActorKind::Pipeline { .. },
            ..
        }) => Ok(()),
        _ => Err(at.at(span, format!("actor {name:?} is not a pipeline"))),
    }
}

/// `do = "produce"` by the actor `name`: a producer; `records` defaults to the actor's.
fn produce_step(
    at: &Positions<'_>,
    actors: &[Actor],
    step: &RawStep,
    name: String,
) -> Result<Action, ScenarioError> {
    let actor = actors.iter().find(|a| a.name == name).expect("just found");
    let ActorKind::Producer { records, .. } = actor.kind else {
        return Err(at.at(
            step.action.span(),
            format!("actor {name:?} is not a producer"),
        ));
    };
    Ok(Action::Produce(name, step.records.unwrap_or(records)))
}

/// `do = "crash"` of member `member` (default 0) of the pool `name`: the member must exist.
fn crash_step(
    at: &Positions<'_>,
    actors: &[Actor],
    step: &RawStep,
    name: String,
) -> Result<Action, ScenarioError> {
    let member = step.member.unwrap_or(0);
    let size = actors
        .iter()
        .find_map(|a| match &a.kind {
            ActorKind::Pool { size, .. } if a.name == name => Some(*size),
            _ => None,
        })
        .unwrap_or(0);
    if member >= size {
        return Err(at.at(
            step.action.span(),
            format!("member {member} does not exist: pool {name:?} has {size} members (0-based)"),
        ));
    }
    Ok(Action::Crash(name, member))
}

/// `expect = [...]`: each parsed, its metrics known and its qualifiers naming an actor or group.
fn expectations(
    at: &Positions<'_>,
    raw: &[Spanned<String>],
    actors: &[Actor],
) -> Result<Vec<Expectation>, ScenarioError> {
    let mut expectations = Vec::new();
    for text in raw {
        let expectation =
            Expectation::parse(text.get_ref()).map_err(|message| at.at(text.span(), message))?;
        for (metric, qualifier) in expectation.metrics() {
            check_metric(at, actors, text.span(), metric, qualifier)?;
        }
        expectations.push(expectation);
    }
    Ok(expectations)
}

/// A metric an expectation reads: a known name, qualified (`metric[q]`) by a known actor (or
/// `actor/member`) or group.
fn check_metric(
    at: &Positions<'_>,
    actors: &[Actor],
    span: Range<usize>,
    metric: &str,
    qualifier: Option<&str>,
) -> Result<(), ScenarioError> {
    if !METRICS.iter().any(|(name, _)| *name == metric) {
        let known: Vec<_> = METRICS.iter().map(|(n, _)| *n).collect();
        return Err(at.at(
            span,
            format!(
                "unknown metric {metric:?}: expected one of {}",
                known.join(", ")
            ),
        ));
    }
    if let Some(q) = qualifier {
        let base = q.split('/').next().unwrap_or(q);
        let is_group = actors
            .iter()
            .any(|a| matches!(&a.kind, ActorKind::Pool { group, .. } if group == q));
        if !is_group && !actors.iter().any(|a| a.name == base) {
            return Err(at.at(
                span,
                format!("unknown actor or group {q:?} in {metric}[{q}]"),
            ));
        }
    }
    Ok(())
}

/// `[random]`: each range `[MIN, MAX]` with MIN <= MAX (and a pool of at least one member).
fn random_ranges(
    at: &Positions<'_>,
    raw: Option<&Spanned<RawRandom>>,
) -> Result<RandomRanges, ScenarioError> {
    let mut random = RandomRanges::default();
    let Some(spanned) = raw else {
        return Ok(random);
    };
    let r = spanned.get_ref();
    if let Some([low, high]) = r.pool_size {
        if low == 0 || low > high {
            return Err(at.at(
                spanned.span(),
                format!(
                    "[random] pool_size = [{low}, {high}]: expected [MIN, MAX] with 1 <= MIN <= MAX"
                ),
            ));
        }
        random.pool_size = Some((low, high));
    }
    if let Some([low, high]) = r.fault_delay_ms {
        if low > high {
            return Err(at.at(
                spanned.span(),
                format!(
                    "[random] fault_delay_ms = [{low}, {high}]: expected [MIN, MAX] with MIN <= MAX"
                ),
            ));
        }
        random.fault_delay_ms = Some((low, high));
    }
    Ok(random)
}

fn network_fault(
    at: &Positions<'_>,
    kind: &Spanned<String>,
    latency_ms: Option<u64>,
) -> Result<NetworkFault, ScenarioError> {
    match kind.get_ref().as_str() {
        "partition" => Ok(NetworkFault::Partition),
        "disconnect" => Ok(NetworkFault::Disconnect),
        "latency" => {
            let Some(ms) = latency_ms else {
                return Err(at.at(kind.span(), "a latency fault needs `latency_ms = N`"));
            };
            Ok(NetworkFault::Latency(Duration::from_millis(ms)))
        }
        other => Err(at.at(
            kind.span(),
            format!("unknown network fault {other:?}: expected partition, latency or disconnect"),
        )),
    }
}

/// The variables the client crate reads (`kmock_client::settings`).
const SETTING_NAMES: [&str; 17] = {
    use kmock_client::settings::*;
    [
        KAFKA_BOOTSTRAP_SERVERS,
        KAFKA_SESSION_TIMEOUT_MS,
        KAFKA_HEARTBEAT_INTERVAL_MS,
        KAFKA_REQUEST_TIMEOUT_MS,
        SSE_CONSUMER_POOL_SIZE,
        KAFKA_GROUP_ID,
        KAFKA_CLIENT_ID,
        KAFKA_AUTO_OFFSET_RESET,
        KAFKA_ENABLE_AUTO_COMMIT,
        KAFKA_AUTO_COMMIT_INTERVAL_MS,
        KAFKA_MAX_POLL_INTERVAL_MS,
        KAFKA_FETCH_MAX_WAIT_MS,
        KAFKA_ACKS,
        KAFKA_PARTITION_ASSIGNMENT_STRATEGY,
        KAFKA_RETRY_BACKOFF_MS,
        KAFKA_ISOLATION_LEVEL,
        KAFKA_GROUP_PROTOCOL,
    ]
};

/// Where `env = "..."` files come from.
enum EnvFiles<'a> {
    /// Next to the scenario file, or in its parent directory.
    Dir(&'a Path),
    /// In memory: `(name, text)` pairs.
    Embedded(&'a [(&'a str, &'a str)]),
}

/// Builds the client settings: sim defaults, then the `env` file, then inline keys.
fn settings(
    at: &Positions<'_>,
    raw: &BTreeMap<String, Spanned<toml::Value>>,
    env_files: &EnvFiles<'_>,
) -> Result<(Settings, String), ScenarioError> {
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    // Sim defaults: a stable bootstrap name and `earliest`, so records produced before a pool
    // joins are still delivered (the delivery checkers count them).
    values.insert("KAFKA_BOOTSTRAP_SERVERS".into(), "kmock:9092".into());
    values.insert("KAFKA_AUTO_OFFSET_RESET".into(), "earliest".into());
    let mut sources = vec!["defaults".to_owned()];
    if let Some(env) = raw.get("env") {
        let toml::Value::String(name) = env.get_ref() else {
            return Err(at.at(
                env.span(),
                "`env` must be a string path, e.g. env = \".env.test\"",
            ));
        };
        let (path, text) = match env_files {
            EnvFiles::Dir(dir) => {
                let path = [dir.join(name), dir.join("..").join(name)]
                    .into_iter()
                    .find(|p| p.is_file())
                    .ok_or_else(|| {
                        at.at(
                            env.span(),
                            format!("env file {name:?} not found next to the scenario or in its parent directory"),
                        )
                    })?;
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    at.at(env.span(), format!("cannot read {}: {e}", path.display()))
                })?;
                (path, text)
            }
            EnvFiles::Embedded(files) => {
                let (_, text) = files.iter().find(|(n, _)| n == name).ok_or_else(|| {
                    at.at(env.span(), format!("env file {name:?} is not embedded"))
                })?;
                (PathBuf::from(name), (*text).to_owned())
            }
        };
        let pairs = kmock_client::settings::parse_env_file(&path, &text)
            .map_err(|e| at.at(env.span(), e.to_string()))?;
        values.extend(pairs);
        sources.push(name.clone());
    }
    let mut inline = Vec::new();
    for (key, value) in raw {
        if key == "env" {
            continue;
        }
        let text = match value.get_ref() {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => {
                return Err(at.at(
                    value.span(),
                    format!("setting {key}: expected a string, an integer or a boolean"),
                ));
            }
        };
        if !SETTING_NAMES.contains(&key.as_str()) {
            return Err(at.at(
                value.span(),
                format!(
                    "unknown setting {key:?}: expected `env` or one of {}",
                    SETTING_NAMES.join(", ")
                ),
            ));
        }
        inline.push(format!("{key}={text}"));
        values.insert(key.clone(), text);
    }
    if !inline.is_empty() {
        sources.push(inline.join(" "));
    }
    let settings = Settings::from_lookup(|name| values.get(name).cloned()).map_err(|e| {
        let span = raw.values().next().map_or(0..0, |v| v.span());
        at.at(span, format!("invalid settings: {e}"))
    })?;
    settings.validate().map_err(|e| {
        at.at(
            raw.values().next().map_or(0..0, |v| v.span()),
            format!("invalid settings: {e}"),
        )
    })?;
    Ok((settings, sources.join(" + ")))
}

impl fmt::Display for NetworkFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkFault::Partition => f.write_str("partition"),
            NetworkFault::Latency(d) => write!(f, "latency {}ms", d.as_millis()),
            NetworkFault::Disconnect => f.write_str("disconnect"),
        }
    }
}

/// Every `*.toml` in `dir`, sorted by name.
pub fn scenario_files(dir: impl AsRef<Path>) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    Ok(files)
}
