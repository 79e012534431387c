//! The trace: one line per event, virtual time first, stable actor and connection names.
//!
//! Two sources are merged in virtual-time order: the broker's request log (each request with its
//! response summary, the fault applied and what became of the response) and the client-side
//! events the world records through the [`Recorder`] (actor started, assignment, records produced
//! and delivered, stop begun and ended, faults applied). Connections are named `conn-N` by the
//! broker in accept order; actors by their scenario names; member ids are replaced by the member's
//! name (`pool-a/0`), so nothing random, no port and no wall time reaches a line.
//!
//! Empty Fetch long-polls (no records, no error, no fault) are counted instead of printed, so a
//! 40-second idle period does not fill a snapshot.
//!
//! Owns: the recorder (shared observation state) and the rendering. Must not: read wall clocks.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kmock_client::consumer::protocol::{Assignment, decode_assignment};
use kmock_core::request_log::LogEntry;
use kmock_wire::kafka_protocol::messages::{
    FindCoordinatorResponse, JoinGroupResponse, LeaveGroupResponse, MetadataResponse,
    ProduceResponse, RequestKind, ResponseKind,
};
use tokio::sync::watch;
use tokio::time::Instant;

/// A client-side event.
#[derive(Debug, Clone)]
pub struct Event {
    /// Virtual time since the world started.
    pub time: Duration,
    /// Position among events and requests (see [`Observations::request_order`]).
    pub order: u64,
    /// Who (shared: a hot actor records an event per record, and keeps one copy of its name).
    pub actor: Arc<str>,
    /// What (formatted when the trace is rendered).
    pub text: EventText,
}

/// The text of an event. The two per-record events keep their parts and are formatted only when
/// the trace is rendered (a run that nobody renders does not format them); everything else is
/// plain text.
#[derive(Debug, Clone)]
pub enum EventText {
    /// Text as it appears in the trace.
    Text(String),
    /// `produced {producer}-{number} key=key-{key} -> {topic}[{partition}]@{offset}`: the
    /// simulated producer's record value is `{producer}-{number}` and its key `key-{key}`; the
    /// numbers are kept rather than the two strings, which a run would keep for every record.
    Produced {
        /// The producer's name (the value's prefix).
        producer: Arc<str>,
        /// The record's number (the value's suffix).
        number: u64,
        /// The key's number.
        key: u32,
        /// Topic.
        topic: Arc<str>,
        /// Partition.
        partition: i32,
        /// Offset.
        offset: i64,
    },
    /// `delivered {value} from {topic}[{partition}]@{offset}`, then ` (duplicate #{count})` when
    /// `count > 1`. The value is shown as lossy UTF-8 (empty for a tombstone).
    Delivered {
        /// The record value.
        value: Option<bytes::Bytes>,
        /// Topic.
        topic: Arc<str>,
        /// Partition.
        partition: i32,
        /// Offset.
        offset: i64,
        /// How many times the pool got this record so far.
        count: u64,
    },
}

impl std::fmt::Display for EventText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Text(text) => f.write_str(text),
            Self::Produced {
                producer,
                number,
                key,
                topic,
                partition,
                offset,
            } => write!(
                f,
                "produced {producer}-{number} key=key-{key} -> {topic}[{partition}]@{offset}"
            ),
            Self::Delivered {
                value,
                topic,
                partition,
                offset,
                count,
            } => {
                let value = value
                    .as_ref()
                    .map_or_else(String::new, |v| String::from_utf8_lossy(v).into_owned());
                write!(f, "delivered {value} from {topic}[{partition}]@{offset}")?;
                if *count > 1 {
                    write!(f, " (duplicate #{count})")?;
                }
                Ok(())
            }
        }
    }
}

impl From<String> for EventText {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<&str> for EventText {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

/// What is known about one pool member.
#[derive(Debug, Clone, Default)]
pub struct MemberObservation {
    /// The pool.
    pub pool: String,
    /// Not crashed and not stopped.
    pub alive: bool,
    /// Latest stable generation.
    pub generation: Option<i32>,
    /// Its member id once known.
    pub member_id: Option<String>,
    /// When it first became stable.
    pub first_stable: Option<Duration>,
}

/// A record: `(topic, partition, offset)`.
pub type RecordId = (Name, i32, i64);

/// A topic or pool name as a key of the run's record maps ([`Observations::acked`],
/// [`Observations::deliveries`]): ordered as its text, but two keys sharing one allocation are
/// equal without comparing bytes. The world hands out one `Arc` per name and step (or member), so
/// nearly every comparison in those maps is of that kind; comparing plain `Arc<str>` keys byte by
/// byte took about 2% of a simulated lifecycle case (BENCHMARKS.md part 8).
#[derive(Debug, Clone)]
pub struct Name(pub Arc<str>);

impl Name {
    /// The shared text.
    pub fn arc(&self) -> &Arc<str> {
        &self.0
    }
}

impl From<&str> for Name {
    fn from(name: &str) -> Self {
        Self(Arc::from(name))
    }
}

impl std::ops::Deref for Name {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || *self.0 == *other.0
    }
}

impl Eq for Name {}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if Arc::ptr_eq(&self.0, &other.0) {
            std::cmp::Ordering::Equal
        } else {
            self.0.cmp(&other.0)
        }
    }
}

/// Everything observed during a run.
#[derive(Debug, Default)]
pub struct Observations {
    /// Client-side events in order.
    pub events: Vec<Event>,
    /// Next position in the total order of events and forwarded requests.
    pub next_order: u64,
    /// `((connection, correlation id), position)` when the request's bytes reached the broker, in
    /// that order (a list, not a map: appended for every request, looked up only when the trace
    /// is rendered; a later entry for the same request wins).
    pub request_order: Vec<((u64, i32), u64)>,
    /// Broker connection number → actor name.
    pub connections: BTreeMap<u64, String>,
    /// Acknowledged records `(topic, partition, offset)` → producer.
    pub acked: BTreeMap<RecordId, Arc<str>>,
    /// Records whose publish failed.
    pub produce_failed: u64,
    /// Deliveries per pool and record.
    pub deliveries: BTreeMap<(Name, RecordId), u64>,
    /// Members by name (`pool-a/0`).
    pub members: BTreeMap<String, MemberObservation>,
    /// Every member id a member had (a member that rejoins after eviction gets a new one) → name.
    pub member_names: BTreeMap<String, String>,
    /// `(generation, member, partitions)` each time a member reported a stable assignment.
    pub assignments: Vec<crate::checkers::ReportedAssignment>,
    /// Consumer teardown durations by member name, and whether stop() failed.
    pub teardowns: BTreeMap<String, (Duration, bool)>,
    /// Pool teardown durations.
    pub pool_teardowns: BTreeMap<String, Duration>,
    /// When each pool started.
    pub pool_started: BTreeMap<String, Duration>,
    /// When every member of each pool was first stable in one generation.
    pub pool_all_assigned: BTreeMap<String, Duration>,
    /// When a member of each pool last crashed.
    pub crashed_at: BTreeMap<String, Duration>,
    /// When each pool last completed a `wait_rebalance`.
    pub rebalanced_at: BTreeMap<String, Duration>,
    /// A run-level failure (a wait that timed out, a step that could not run).
    pub failures: Vec<String>,
    /// Pipeline actors by name.
    pub pipelines: BTreeMap<String, crate::pipeline::PipelineObservation>,
    /// Brokers in the cluster (`[broker] brokers`; 0 when not set counts as 1). With more than
    /// one, each request line names the node it reached (`conn-5@2`); single-broker traces stay
    /// as they were.
    pub brokers: i32,
}

/// Records observations; shared by the world's tasks. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Recorder {
    start: Instant,
    state: Arc<Mutex<Observations>>,
    changes: Arc<watch::Sender<u64>>,
}

impl Recorder {
    /// A recorder whose time 0 is now.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            state: Arc::new(Mutex::new(Observations::default())),
            changes: Arc::new(watch::channel(0).0),
        }
    }

    /// Virtual time since the world started.
    pub fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// The observations (briefly; never hold across an await).
    pub fn lock(&self) -> MutexGuard<'_, Observations> {
        self.state.lock().expect("recorder lock is never poisoned")
    }

    /// Signals waiters that observations changed. Without a receiver (no `wait` step running:
    /// most of a run) there is nobody to wake, and a later [`Recorder::subscribe`] starts from the
    /// current value anyway, so the send is skipped.
    pub fn changed(&self) {
        if self.changes.receiver_count() > 0 {
            self.changes.send_modify(|n| *n += 1);
        }
    }

    /// A receiver that wakes on every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Records a client-side event.
    pub fn event(&self, actor: &str, text: impl Into<EventText>) {
        self.event_by(&Arc::from(actor), text);
    }

    /// [`Recorder::event`] for an actor whose name the caller already shares.
    pub fn event_by(&self, actor: &Arc<str>, text: impl Into<EventText>) {
        let time = self.now();
        let mut o = self.lock();
        let order = o.next_order;
        o.next_order += 1;
        o.events.push(Event {
            time,
            order,
            actor: actor.clone(),
            text: text.into(),
        });
    }

    /// Records that a request's header reached the broker.
    pub fn request_sent(&self, connection: u64, correlation_id: i32) {
        let mut o = self.lock();
        let order = o.next_order;
        o.next_order += 1;
        o.request_order.push(((connection, correlation_id), order));
    }

    /// Records that broker connection `number` belongs to `actor`.
    pub fn connection(&self, number: u64, actor: &str) {
        self.lock().connections.insert(number, actor.to_owned());
    }

    /// Records a run failure (and an event for it).
    pub fn fail(&self, message: impl Into<String>) {
        let message = message.into();
        self.event("world", format!("FAILED: {message}"));
        self.lock().failures.push(message);
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

/// `      5000.000ms`
pub fn time(d: Duration) -> String {
    format!("{:>8}.{:03}ms", d.as_millis(), d.subsec_micros() % 1000)
}

/// `events[0,1,2] other[0]`, or `-` when empty.
pub fn assignment(assignment: &Assignment) -> String {
    let parts: Vec<String> = assignment
        .iter()
        .filter(|(_, partitions)| !partitions.is_empty())
        .map(|(topic, partitions)| {
            let list: Vec<String> = partitions.iter().map(i32::to_string).collect();
            format!("{topic}[{}]", list.join(","))
        })
        .collect();
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join(" ")
    }
}

/// The names of the non-zero error codes, consecutive repeats collapsed.
fn partition_errors(codes: impl Iterator<Item = i16>) -> Vec<String> {
    let mut errors: Vec<String> = codes.filter(|c| *c != 0).map(error).collect();
    errors.dedup();
    errors
}

/// `ok`, or the errors joined with commas.
fn errors_or_ok(errors: Vec<String>) -> String {
    if errors.is_empty() {
        "ok".to_owned()
    } else {
        errors.join(",")
    }
}
fn error(code: i16) -> String {
    if code == 0 {
        return "ok".to_owned();
    }
    match kmock_core::fault::error_code_name(code) {
        Some(name) => format!("{name}({code})"),
        None => format!("error({code})"),
    }
}

/// Names member ids by the member that owns them (`pool-a/0`), else `member-N` by first sight;
/// and topic ids (KIP-848 assignments) by the names Metadata responses gave them.
struct MemberNames {
    known: BTreeMap<String, String>,
    unknown: BTreeMap<String, String>,
    topics: BTreeMap<uuid::Uuid, String>,
}

impl MemberNames {
    fn name(&mut self, id: &str) -> String {
        if id.is_empty() {
            return "\"\"".to_owned();
        }
        if let Some(name) = self.known.get(id) {
            return name.clone();
        }
        let next = self.unknown.len() + 1;
        self.unknown
            .entry(id.to_owned())
            .or_insert_with(|| format!("member-{next}"))
            .clone()
    }
}

/// Member ids a request names (to attribute its connection to a member).
fn request_member(request: &RequestKind) -> Option<String> {
    let id = match request {
        RequestKind::JoinGroup(r) => r.member_id.to_string(),
        RequestKind::SyncGroup(r) => r.member_id.to_string(),
        RequestKind::Heartbeat(r) => r.member_id.to_string(),
        RequestKind::OffsetCommit(r) => r.member_id.to_string(),
        RequestKind::ConsumerGroupHeartbeat(r) => r.member_id.to_string(),
        RequestKind::LeaveGroup(r) => {
            if r.members.is_empty() {
                r.member_id.to_string()
            } else {
                r.members[0].member_id.to_string()
            }
        }
        _ => return None,
    };
    (!id.is_empty()).then_some(id)
}

fn request_summary(request: &RequestKind, names: &mut MemberNames) -> String {
    match request {
        RequestKind::JoinGroup(r) => format!(
            "member={} session={}ms rebalance={}ms",
            names.name(&r.member_id),
            r.session_timeout_ms,
            r.rebalance_timeout_ms
        ),
        RequestKind::SyncGroup(r) => format!(
            "member={} gen={}{}",
            names.name(&r.member_id),
            r.generation_id,
            if r.assignments.is_empty() {
                String::new()
            } else {
                format!(" assignments={}", r.assignments.len())
            }
        ),
        RequestKind::Heartbeat(r) => {
            format!(
                "member={} gen={}",
                names.name(&r.member_id),
                r.generation_id
            )
        }
        RequestKind::LeaveGroup(r) => {
            let mut ids: Vec<String> = r.members.iter().map(|m| names.name(&m.member_id)).collect();
            if ids.is_empty() {
                ids.push(names.name(&r.member_id));
            }
            format!("members={}", ids.join(","))
        }
        RequestKind::OffsetCommit(r) => {
            let offsets: Vec<String> = r
                .topics
                .iter()
                .flat_map(|t| {
                    t.partitions.iter().map(move |p| {
                        format!(
                            "{}[{}]={}",
                            t.name.as_str(),
                            p.partition_index,
                            p.committed_offset
                        )
                    })
                })
                .collect();
            format!(
                "member={} gen={} {}",
                names.name(&r.member_id),
                r.generation_id_or_member_epoch,
                offsets.join(" ")
            )
        }
        RequestKind::Produce(r) => {
            let parts: Vec<String> = r
                .topic_data
                .iter()
                .flat_map(|t| {
                    t.partition_data
                        .iter()
                        .map(move |p| format!("{}[{}]", t.name.as_str(), p.index))
                })
                .collect();
            parts.join(" ")
        }
        RequestKind::ConsumerGroupHeartbeat(r) => consumer_group_heartbeat_summary(r, names),
        RequestKind::FindCoordinator(r) => {
            if r.coordinator_keys.is_empty() {
                format!("key={}", r.key.as_str())
            } else {
                let keys: Vec<&str> = r.coordinator_keys.iter().map(|k| k.as_str()).collect();
                format!("keys={}", keys.join(","))
            }
        }
        other => transaction_request_summary(other),
    }
}

/// The transaction APIs: which transactional id, epoch, partitions, group and outcome asked for.
fn transaction_request_summary(request: &RequestKind) -> String {
    match request {
        RequestKind::InitProducerId(r) => match r.transactional_id.as_deref() {
            Some(id) => format!("txn={} timeout={}ms", id.as_str(), r.transaction_timeout_ms),
            None => "idempotent".to_owned(),
        },
        RequestKind::AddPartitionsToTxn(r) => {
            let parts: Vec<String> = r
                .v3_and_below_topics
                .iter()
                .flat_map(|t| {
                    t.partitions
                        .iter()
                        .map(move |p| format!("{}[{p}]", t.name.as_str()))
                })
                .collect();
            format!(
                "txn={} epoch={} {}",
                r.v3_and_below_transactional_id.as_str(),
                r.v3_and_below_producer_epoch,
                parts.join(" ")
            )
        }
        RequestKind::AddOffsetsToTxn(r) => format!(
            "txn={} epoch={} group={}",
            r.transactional_id.as_str(),
            r.producer_epoch,
            r.group_id.as_str()
        ),
        RequestKind::TxnOffsetCommit(r) => {
            let offsets: Vec<String> = r
                .topics
                .iter()
                .flat_map(|t| {
                    t.partitions.iter().map(move |p| {
                        format!(
                            "{}[{}]={}",
                            t.name.as_str(),
                            p.partition_index,
                            p.committed_offset
                        )
                    })
                })
                .collect();
            format!(
                "txn={} epoch={} group={} {}",
                r.transactional_id.as_str(),
                r.producer_epoch,
                r.group_id.as_str(),
                offsets.join(" ")
            )
        }
        RequestKind::EndTxn(r) => format!(
            "txn={} epoch={} {}",
            r.transactional_id.as_str(),
            r.producer_epoch,
            if r.committed { "commit" } else { "abort" }
        ),
        _ => String::new(),
    }
}

fn response_summary(response: &ResponseKind, names: &mut MemberNames) -> String {
    match response {
        ResponseKind::JoinGroup(r) => join_group_summary(r, names),
        ResponseKind::SyncGroup(r) => {
            if r.error_code != 0 {
                return error(r.error_code);
            }
            match decode_assignment(&r.assignment) {
                Ok(a) => format!("ok assignment={}", assignment(&a)),
                Err(_) => format!("ok assignment={} bytes", r.assignment.len()),
            }
        }
        ResponseKind::Heartbeat(r) => error(r.error_code),
        ResponseKind::ConsumerGroupHeartbeat(r) => {
            if r.error_code != 0 {
                return error(r.error_code);
            }
            let assignment = r.assignment.as_ref().map_or(String::new(), |a| {
                let parts: Vec<String> = a
                    .topic_partitions
                    .iter()
                    .map(|t| {
                        format!(
                            "{}{}",
                            topic_label(&t.topic_id, names),
                            partition_list(&t.partitions)
                        )
                    })
                    .collect();
                format!(" assignment=[{}]", parts.join(" "))
            });
            format!(
                "ok epoch={} interval={}ms{assignment}",
                r.member_epoch, r.heartbeat_interval_ms
            )
        }
        ResponseKind::LeaveGroup(r) => leave_group_summary(r, names),
        ResponseKind::FindCoordinator(r) => find_coordinator_summary(r),
        ResponseKind::OffsetCommit(r) => errors_or_ok(partition_errors(
            r.topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
        )),
        ResponseKind::Produce(r) => produce_summary(r),
        ResponseKind::Fetch(r) => {
            let mut errors = partition_errors(
                r.responses
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
            );
            if r.error_code != 0 {
                errors.insert(0, error(r.error_code));
            }
            errors_or_ok(errors)
        }
        ResponseKind::Metadata(r) => metadata_summary(r),
        ResponseKind::ApiVersions(r) => error(r.error_code),
        ResponseKind::OffsetFetch(r) => error(r.error_code),
        ResponseKind::InitProducerId(r) if r.error_code == 0 => {
            format!("ok producer={} epoch={}", r.producer_id.0, r.producer_epoch)
        }
        ResponseKind::InitProducerId(r) => error(r.error_code),
        ResponseKind::AddPartitionsToTxn(r) => errors_or_ok(partition_errors(
            r.results_by_topic_v3_and_below.iter().flat_map(|t| {
                t.results_by_partition
                    .iter()
                    .map(|p| p.partition_error_code)
            }),
        )),
        ResponseKind::AddOffsetsToTxn(r) => error(r.error_code),
        ResponseKind::TxnOffsetCommit(r) => errors_or_ok(partition_errors(
            r.topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
        )),
        ResponseKind::EndTxn(r) => error(r.error_code),
        ResponseKind::CreateTopics(r) => {
            let parts: Vec<String> = r
                .topics
                .iter()
                .map(|t| format!("{} {}", t.name.as_str(), error(t.error_code)))
                .collect();
            parts.join(" ")
        }
        _ => "ok".to_owned(),
    }
}

/// A topic id in a trace line: the topic's name, else its first 8 hex digits (topic ids come from
/// the broker's seeded PRNG, so they are stable for a seed).
fn topic_label(topic_id: &uuid::Uuid, names: &MemberNames) -> String {
    match names.topics.get(topic_id) {
        Some(name) => name.clone(),
        None => format!("topic:{}", &topic_id.simple().to_string()[..8]),
    }
}

/// `[0,1,2]`.
fn partition_list(partitions: &[i32]) -> String {
    let parts: Vec<String> = partitions.iter().map(i32::to_string).collect();
    format!("[{}]", parts.join(","))
}

/// ConsumerGroupHeartbeat (KIP-848): member, epoch (join 0, leave -1/-2), and what a full
/// request or an acknowledgement carries.
fn consumer_group_heartbeat_summary(
    r: &kmock_wire::kafka_protocol::messages::ConsumerGroupHeartbeatRequest,
    names: &mut MemberNames,
) -> String {
    let mut line = format!(
        "member={} epoch={}",
        names.name(&r.member_id),
        r.member_epoch
    );
    if let Some(topics) = &r.subscribed_topic_names {
        let topics: Vec<&str> = topics.iter().map(|t| t.as_str()).collect();
        line.push_str(&format!(" subscribe=[{}]", topics.join(",")));
    }
    if let Some(regex) = &r.subscribed_topic_regex {
        line.push_str(&format!(" regex={}", regex.as_str()));
    }
    if r.rebalance_timeout_ms >= 0 {
        line.push_str(&format!(" rebalance={}ms", r.rebalance_timeout_ms));
    }
    if let Some(owned) = &r.topic_partitions {
        let parts: Vec<String> = owned
            .iter()
            .map(|t| {
                format!(
                    "{}{}",
                    topic_label(&t.topic_id, names),
                    partition_list(&t.partitions)
                )
            })
            .collect();
        line.push_str(&format!(" owned=[{}]", parts.join(" ")));
    }
    line
}

/// JoinGroup: the error (and the member id it may carry), or generation, member, leader and how
/// many members the leader got.
fn join_group_summary(r: &JoinGroupResponse, names: &mut MemberNames) -> String {
    if r.error_code != 0 {
        let member = if r.member_id.is_empty() {
            String::new()
        } else {
            format!(" member={}", names.name(&r.member_id))
        };
        return format!("{}{member}", error(r.error_code));
    }
    format!(
        "ok gen={} member={} leader={}{}",
        r.generation_id,
        names.name(&r.member_id),
        names.name(&r.leader),
        if r.members.is_empty() {
            String::new()
        } else {
            format!(" members={}", r.members.len())
        }
    )
}

/// LeaveGroup: the top-level error, then each member's (v3+).
fn leave_group_summary(r: &LeaveGroupResponse, names: &mut MemberNames) -> String {
    let members: Vec<String> = r
        .members
        .iter()
        .map(|m| format!("{}:{}", names.name(&m.member_id), error(m.error_code)))
        .collect();
    if members.is_empty() {
        error(r.error_code)
    } else {
        format!("{} [{}]", error(r.error_code), members.join(" "))
    }
}

/// FindCoordinator: the node, or the error, per key (v4+ answers a list).
fn find_coordinator_summary(r: &FindCoordinatorResponse) -> String {
    if r.coordinators.is_empty() {
        if r.error_code == 0 {
            format!("ok node={}", r.node_id.0)
        } else {
            error(r.error_code)
        }
    } else {
        let parts: Vec<String> = r
            .coordinators
            .iter()
            .map(|c| {
                if c.error_code == 0 {
                    format!("ok node={}", c.node_id.0)
                } else {
                    error(c.error_code)
                }
            })
            .collect();
        parts.join(" ")
    }
}

/// Produce: `topic[partition]@base_offset` or the partition's error, per partition.
fn produce_summary(r: &ProduceResponse) -> String {
    let parts: Vec<String> = r
        .responses
        .iter()
        .flat_map(|t| {
            t.partition_responses.iter().map(move |p| {
                if p.error_code == 0 {
                    format!("{}[{}]@{}", t.name.as_str(), p.index, p.base_offset)
                } else {
                    format!("{}[{}] {}", t.name.as_str(), p.index, error(p.error_code))
                }
            })
        })
        .collect();
    parts.join(" ")
}

/// Metadata: `topic/partitions` or the topic's error, per topic (the broker count for none).
fn metadata_summary(r: &MetadataResponse) -> String {
    let topics: Vec<String> = r
        .topics
        .iter()
        .map(|t| {
            let name = t.name.as_ref().map_or("?", |n| n.as_str());
            if t.error_code == 0 {
                format!("{name}/{}", t.partitions.len())
            } else {
                format!("{name} {}", error(t.error_code))
            }
        })
        .collect();
    if topics.is_empty() {
        format!("ok brokers={}", r.brokers.len())
    } else {
        format!("ok {}", topics.join(" "))
    }
}

fn is_quiet_fetch(entry: &LogEntry) -> bool {
    entry.api_key == 1
        && entry.fault.is_none()
        && entry.record_bytes == 0
        && matches!(&entry.response, Some(ResponseKind::Fetch(_)))
        && entry.response.as_ref().is_some_and(|r| {
            response_summary(
                r,
                &mut MemberNames {
                    known: BTreeMap::new(),
                    unknown: BTreeMap::new(),
                    topics: BTreeMap::new(),
                },
            ) == "ok"
        })
        && entry.outcome.as_deref() == Some("sent")
}

/// A connection that names a member (in a group request) belongs to that member; the others
/// to whoever the network saw open them.
fn connection_owners(
    observations: &Observations,
    log: &[&LogEntry],
    names: &MemberNames,
) -> BTreeMap<u64, String> {
    let mut connection_owner: BTreeMap<u64, String> = observations.connections.clone();
    for entry in log {
        if let Some(id) = entry.request.as_ref().and_then(request_member)
            && let Some(name) = names.known.get(&id)
        {
            connection_owner.insert(entry.connection.0, name.clone());
        }
    }
    connection_owner
}

/// One request log entry as a trace line: time, actor, connection (with the node it reached,
/// `conn-5@2`, when `with_node`: a cluster), API and version, the request's summary, then what
/// became of it (the response, when it was sent, its fault).
fn request_line(entry: &LogEntry, actor: &str, with_node: bool, names: &mut MemberNames) -> String {
    let connection = if with_node {
        format!("{}@{}", entry.connection, entry.node)
    } else {
        entry.connection.to_string()
    };
    let mut line = format!(
        "{}  {actor:<10} {connection:<7} {} v{}",
        time(entry.time.since_start()),
        entry.api_name(),
        entry.api_version
    );
    if let Some(request) = &entry.request {
        let summary = request_summary(request, names);
        if !summary.is_empty() {
            let _ = write!(line, " {summary}");
        }
    }
    match (&entry.response, entry.outcome.as_deref()) {
        (Some(response), outcome) => {
            let _ = write!(line, " -> {}", response_summary(response, names));
            if entry.api_key == 1 && entry.record_bytes > 0 {
                let _ = write!(line, " records={}B", entry.record_bytes);
            }
            if let Some(at) = entry.response_time
                && at > entry.time
            {
                let _ = write!(line, " (after {}ms)", (at - entry.time).as_millis());
            }
            match outcome {
                Some("sent") | None => {}
                Some(other) => {
                    let _ = write!(line, "; {other}");
                }
            }
        }
        (None, Some(outcome)) => {
            let _ = write!(line, " -> {outcome}");
        }
        (None, None) => line.push_str(" -> no response"),
    }
    if let Some(fault) = &entry.fault {
        let _ = write!(line, " [{fault}]");
    }
    line
}

/// Renders the trace: `header` lines, then events and requests in virtual-time order.
pub fn render<'a>(
    header: &[String],
    observations: &Observations,
    log: impl IntoIterator<Item = &'a LogEntry>,
) -> String {
    let log: Vec<&LogEntry> = log.into_iter().collect();
    let mut names = MemberNames {
        known: observations.member_names.clone(),
        unknown: BTreeMap::new(),
        topics: log
            .iter()
            .filter_map(|entry| match &entry.response {
                Some(ResponseKind::Metadata(r)) => Some(r),
                _ => None,
            })
            .flat_map(|r| r.topics.iter())
            .filter(|t| !t.topic_id.is_nil())
            .filter_map(|t| Some((t.topic_id, t.name.as_ref()?.to_string())))
            .collect(),
    };
    let connection_owner = connection_owners(observations, &log, &names);
    let request_order: BTreeMap<(u64, i32), u64> =
        observations.request_order.iter().copied().collect();

    // (time, order, source rank, index): at one instant, in the order things happened (a request
    // when its bytes reached the broker); requests the network did not see come last.
    let mut lines: Vec<(Duration, u64, u8, usize, String)> = Vec::new();
    let mut quiet_fetches: BTreeMap<String, u64> = BTreeMap::new();
    for (index, entry) in log.iter().enumerate() {
        let actor = connection_owner
            .get(&entry.connection.0)
            .cloned()
            .unwrap_or_else(|| {
                if entry.client_id.is_empty() {
                    "?".to_owned()
                } else {
                    entry.client_id.clone()
                }
            });
        if is_quiet_fetch(entry) {
            *quiet_fetches.entry(actor).or_default() += 1;
            continue;
        }
        let line = request_line(entry, &actor, observations.brokers > 1, &mut names);
        let order = request_order
            .get(&(entry.connection.0, entry.correlation_id))
            .copied()
            .unwrap_or(u64::MAX);
        lines.push((entry.time.since_start(), order, 0, index, line));
    }
    for (index, event) in observations.events.iter().enumerate() {
        lines.push((
            event.time,
            event.order,
            1,
            index,
            format!("{}  {:<10} {}", time(event.time), event.actor, event.text),
        ));
    }
    lines.sort_by_key(|a| (a.0, a.1, a.2, a.3));

    let mut out = String::new();
    for line in header {
        let _ = writeln!(out, "# {line}");
    }
    for (_, _, _, _, line) in &lines {
        let _ = writeln!(out, "{}", line.trim_end());
    }
    if !quiet_fetches.is_empty() {
        let parts: Vec<String> = quiet_fetches
            .iter()
            .map(|(actor, n)| format!("{actor}={n}"))
            .collect();
        let _ = writeln!(
            out,
            "# empty Fetch long-polls not shown: {}",
            parts.join(" ")
        );
    }
    out
}
