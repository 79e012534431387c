//! kmock's broker as a pure state machine, after quinn-proto: no tokio, no clock, no sockets.
//!
//! This crate is the broker's core and nothing else: its Cargo.toml has no async runtime, socket or
//! clock dependency, so the rule holds by construction. `kmock-broker` drives it over TCP and
//! in-memory links; the simulation drives it in virtual time.
//!
//! Inputs: [`BrokerCore::connection_opened`], [`BrokerCore::handle_frame`] (one request frame,
//! without its length prefix), [`BrokerCore::handle_timeout`], [`BrokerCore::connection_closed`].
//! Time enters as `now`, a [`BrokerTime`] (an instant on the broker's clock, made by the driver).
//! Outputs: [`BrokerCore::poll_output`] (response frames addressed to connections, in request order
//! per connection) and [`BrokerCore::poll_timeout`] (the next deadline the driver must wake the core
//! at).
//!
//! Requests on one connection are processed one at a time: a frame that arrives while an earlier
//! request on the same connection awaits its response is queued and processed after it (the driver
//! normally mutes the connection, as Kafka does, so the queue stays short).
//!
//! What the core owns: the dispatch of requests to the [`log`] (topics, partitions, produce/fetch),
//! [`group`] (classic group coordinator) and [`txn`] (transaction coordinator) modules, the [`fault`] rules, the [`request_log`], the
//! per-connection ordering, and the timers for delayed responses and held requests. With several
//! brokers ([`cluster`]), each connection carries the node whose listener accepted it, requests at
//! the wrong broker get Kafka's answers, and cluster events (broker down/up, leader and
//! coordinator moves) are operations on the core.
//! [`BrokerCore::reset`] returns to a fresh state after answering or closing every request in
//! flight, so that no client is left waiting on a request the fresh state knows nothing of.
//!
//! # References
//! - Kafka `SocketServer` / `KafkaApis`: one in-flight request per connection (channel muting).
//! - KIP-511: ApiVersions fallback to v0 on an unsupported version.

pub mod acls;
pub mod api_versions;
pub mod authorized_operations;
pub mod cluster;
pub mod config;
pub mod fault;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
pub mod group;
pub mod log;
pub mod request_log;
mod reset;
pub mod time;
pub mod txn;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kmock_wire::kafka_protocol::messages::{ApiKey, ProduceRequest, RequestKind, ResponseKind};
use kmock_wire::{
    DecodedRequest, Frame, RequestPrefix, WireError, decode_request, encode_response,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use config::{BrokerConfig, ConfigError};
pub use fault::{FaultAction, FaultRule, FaultRuleId, FaultSpecError};
use fault::{FaultRules, RequestFacts};
pub use log::CreateTopicError;
use request_log::{LogEntry, RequestLog};
pub use reset::ResetReport;
pub use time::BrokerTime;

/// A connection, named by the driver. Stable names (not ports) keep traces deterministic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(pub u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn-{}", self.0)
    }
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Write this response frame (length prefix included). The connection's request is finished.
    Send {
        /// Where to.
        connection: ConnectionId,
        /// The frame: one buffer, or parts to write back to back (a Fetch response referencing
        /// stored record batches).
        frame: Frame,
    },
    /// The connection's request finished without a response (Produce with acks=0).
    Ready {
        /// Which connection.
        connection: ConnectionId,
    },
    /// Close the connection (after writing everything sent before).
    Close {
        /// Which connection.
        connection: ConnectionId,
        /// Why, for the log.
        reason: String,
    },
}

/// What a fault decided to do with a response once it exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponsePlan {
    /// Send it as soon as it is ready.
    #[default]
    Send,
    /// Send it this long after it is ready.
    Delay(Duration),
    /// Never send it; the connection stays busy with this request (a hung broker).
    Drop,
    /// Do not send it; close the connection instead.
    Close,
}

/// Identifies a request awaiting its response. Modules that park requests (JoinGroup, SyncGroup,
/// Fetch) keep the token and hand it back with the response in a [`Completion`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResponseToken {
    /// The requesting connection.
    pub connection: ConnectionId,
    /// The request's correlation id.
    pub correlation_id: i32,
    /// The API.
    pub api_key: ApiKey,
    /// The request version; the response is encoded at the same version.
    pub api_version: i16,
    /// The client id from the request header (empty when absent). Shared: a token is cloned
    /// for handlers and parked requests, and a connection's requests mostly carry the same id.
    pub client_id: Arc<str>,
    /// Sequence number of the request in the request log.
    pub seq: u64,
    /// What to do with the response (set by a fault rule).
    pub plan: ResponsePlan,
    /// The node id of the broker the request reached (its connection's).
    pub node: i32,
}

/// A handler's answer to a request. Short-lived (returned and matched at once), so the size of
/// the `Now` variant does not matter.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Reply {
    /// The response is ready now.
    Now(ResponseKind),
    /// The response is ready now, and already encoded (a Fetch response: see [`Encoded`]).
    Encoded(Encoded),
    /// The handler kept the token and will complete it later.
    Parked,
    /// The request has no response (Produce with acks=0).
    NoResponse,
    /// Close the connection (e.g. a failed acks=0 produce, as Kafka does).
    Close(String),
}

/// A response its handler encoded itself, with the body the request log keeps.
///
/// Fetch responses: their records go from the stored batches straight into the frame
/// (`kmock_wire::encode_fetch_response`), which needs the partition logs the handler holds, so
/// the body here has no records and `record_bytes` says how many the frame carries.
#[derive(Debug)]
pub(crate) struct Encoded {
    /// The response body, without its records.
    pub body: ResponseKind,
    /// The whole frame, or why it could not be encoded.
    pub frame: Result<Frame, kmock_wire::WireError>,
    /// Record bytes in the frame.
    pub record_bytes: usize,
}

/// A response: a body to encode, or one already encoded.
#[derive(Debug)]
pub(crate) enum Response {
    /// A body, encoded by [`BrokerCore::respond`].
    Body(ResponseKind),
    /// Encoded by its handler.
    Encoded(Encoded),
}

impl From<ResponseKind> for Response {
    fn from(body: ResponseKind) -> Self {
        Self::Body(body)
    }
}

/// A response to a request parked earlier.
#[derive(Debug)]
pub(crate) struct Completion {
    /// The parked request.
    pub token: ResponseToken,
    /// Its response.
    pub response: Response,
}

/// Pending timers, ordered by deadline then insertion.
#[derive(Debug)]
enum Timer {
    /// A response delayed by a fault.
    DelayedResponse { token: ResponseToken, frame: Frame },
    /// A request held by a fault, processed when the timer fires.
    HeldRequest {
        token: ResponseToken,
        body: Box<RequestKind>,
    },
}

impl Timer {
    /// The connection the timer's request came on.
    fn connection(&self) -> ConnectionId {
        match self {
            Timer::DelayedResponse { token, .. } | Timer::HeldRequest { token, .. } => {
                token.connection
            }
        }
    }
}

#[derive(Debug)]
struct Connection {
    /// A request is being processed (its response is not yet out).
    busy: bool,
    /// Frames that arrived while busy.
    queued: VecDeque<Bytes>,
    /// The node id of the broker whose listener accepted it.
    node: i32,
    /// The client id of its last request, shared with that request's token: the next request
    /// with the same id (the usual case) reuses it instead of allocating one.
    client_id: Option<Arc<str>>,
}

impl Connection {
    fn on(node: i32) -> Self {
        Self {
            busy: false,
            queued: VecDeque::new(),
            node,
            client_id: None,
        }
    }
}

/// Frames queued behind a busy request before the connection is closed.
const MAX_QUEUED_FRAMES_PER_CONNECTION: usize = 1_024;

/// The broker state machine. See the module docs.
#[derive(Debug)]
pub struct BrokerCore {
    config: BrokerConfig,
    /// Topics, partition logs, parked fetches, producer ids.
    pub(crate) logs: log::LogStore,
    /// Classic consumer groups and committed offsets.
    pub(crate) groups: group::GroupCoordinator,
    /// Producer ids, transactional ids and their transactions.
    pub(crate) txns: txn::TransactionCoordinator,
    faults: FaultRules,
    request_log: RequestLog,
    connections: BTreeMap<ConnectionId, Connection>,
    timers: BTreeMap<(BrokerTime, u64), Timer>,
    next_timer_seq: u64,
    outputs: VecDeque<Output>,
    /// Fault probabilities are drawn from here (and only here) so a seed reproduces a run.
    rng: ChaCha8Rng,
    /// Latest `now` seen; the core never goes back in time.
    now: BrokerTime,
    /// An empty list of completions with room, reused by every request: a Produce that answers
    /// a parked Fetch would otherwise allocate one per request.
    spare_completions: Vec<Completion>,
}

impl BrokerCore {
    /// A broker with no topics, groups or faults. Validate the config first.
    pub fn new(config: BrokerConfig) -> Self {
        Self {
            logs: log::LogStore::new(&config),
            groups: group::GroupCoordinator::new(&config),
            txns: txn::TransactionCoordinator::new(&config),
            faults: FaultRules::default(),
            request_log: RequestLog::new(config.request_log_capacity),
            connections: BTreeMap::new(),
            timers: BTreeMap::new(),
            next_timer_seq: 0,
            outputs: VecDeque::new(),
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            now: BrokerTime::ZERO,
            spare_completions: Vec::new(),
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// Changes the first broker's advertised address (the server learns its port only after
    /// binding).
    pub fn set_advertised_address(&mut self, host: &str, port: i32) {
        self.config.advertised_host = host.to_owned();
        self.config.advertised_port = port;
        let first = self.logs.cluster.first_node();
        self.logs
            .cluster
            .set_address(first, host, port)
            .expect("the first broker exists");
        self.groups.set_advertised_address(host, port);
    }

    /// Changes the address broker `node` advertises (each broker has its own listener).
    pub fn set_broker_address(
        &mut self,
        node: i32,
        host: &str,
        port: i32,
    ) -> Result<(), cluster::ClusterError> {
        if node == self.logs.cluster.first_node() {
            self.set_advertised_address(host, port);
            return Ok(());
        }
        self.logs.cluster.set_address(node, host, port)
    }

    /// The brokers and coordinators' internal tables.
    pub fn cluster(&self) -> &cluster::Cluster {
        &self.logs.cluster
    }

    /// Installs a fault rule after the existing ones.
    pub fn add_fault(&mut self, rule: FaultRule) -> FaultRuleId {
        self.faults.add(rule)
    }

    /// Removes a fault rule; returns it if it existed.
    pub fn remove_fault(&mut self, id: FaultRuleId) -> Option<FaultRule> {
        self.faults.remove(id)
    }

    /// The installed fault rules in evaluation order, with their match counts.
    pub fn faults(&self) -> &FaultRules {
        &self.faults
    }

    /// The request log.
    pub fn request_log(&self) -> &RequestLog {
        &self.request_log
    }

    /// Read access to the group coordinator (for assertions and the control API).
    pub fn groups(&self) -> &group::GroupCoordinator {
        &self.groups
    }

    /// Read access to topics and logs (for assertions and the control API).
    pub fn logs(&self) -> &log::LogStore {
        &self.logs
    }

    /// Read access to the transaction coordinator (for assertions and the control API).
    pub fn transactions(&self) -> &txn::TransactionCoordinator {
        &self.txns
    }

    /// Creates a topic directly, without a request (set-up of the simulation and of tests).
    /// Fails as CreateTopics would ([`CreateTopicError::code`] is its Kafka error code).
    pub fn create_topic(&mut self, name: &str, partitions: i32) -> Result<(), CreateTopicError> {
        self.logs.create_topic(name, partitions).map(|_| ())
    }

    /// Applies retention and compaction now to `topic` (or every topic) as its configs say
    /// (`retention.ms`, `retention.bytes`, `cleanup.policy`); reports what was removed, or `None`
    /// for an unknown topic. "Now" is the latest broker time the core has seen (the last request
    /// or timer). See [`log::RetentionReport`].
    /// Fetches parked below a new log start offset are answered (OFFSET_OUT_OF_RANGE) at once.
    pub fn clean_logs(&mut self, topic: Option<&str>) -> Option<log::RetentionReport> {
        let report = self.logs.clean_logs(topic, self.now);
        let mut completions = self.take_completions();
        self.logs.handle_timeout(self.now, &mut completions);
        self.complete_all(completions);
        report
    }

    /// A new connection to the first broker (a single-broker driver).
    pub fn connection_opened(&mut self, connection: ConnectionId) {
        let first = self.logs.cluster.first_node();
        self.connection_opened_on(connection, first);
    }

    /// A new connection accepted by broker `node`'s listener. A connection to a broker that is
    /// down or unknown is closed at once (a listener racing with `broker_down`).
    pub fn connection_opened_on(&mut self, connection: ConnectionId, node: i32) {
        self.connections.insert(connection, Connection::on(node));
        if !self.logs.cluster.is_up(node) {
            self.close(connection, format!("broker {node} is down"));
        }
    }

    /// A connection went away. Its parked requests will be answered into the void; group members
    /// it carried stay until their session expires, as in Kafka.
    pub fn connection_closed(&mut self, connection: ConnectionId, now: BrokerTime) {
        self.advance(now);
        self.connections.remove(&connection);
        self.logs.connection_closed(connection);
    }

    /// Next output for the driver, if any.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The earliest time the core needs [`BrokerCore::handle_timeout`] called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<BrokerTime> {
        [
            self.timers.keys().next().map(|(at, _)| *at),
            self.groups.next_deadline(),
            self.logs.next_deadline(),
            self.txns.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Fires every timer due at `now`. A spurious call is a no-op.
    pub fn handle_timeout(&mut self, now: BrokerTime) {
        self.advance(now);
        let now = self.now;
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let timer = entry.remove();
            self.fire(timer);
        }
        let mut completions = self.take_completions();
        self.groups
            .handle_timeout(now, &self.logs, &mut completions);
        self.logs.handle_timeout(now, &mut completions);
        self.txns.handle_timeout(
            now,
            &mut txn::Effects {
                logs: &mut self.logs,
                groups: &mut self.groups,
                out: &mut completions,
            },
        );
        self.complete_all(completions);
    }

    /// A timer's time has come.
    fn fire(&mut self, timer: Timer) {
        match timer {
            Timer::DelayedResponse { token, frame } => self.emit_frame(&token, frame),
            Timer::HeldRequest { token, body } => self.process(token, *body),
        }
    }

    /// One request frame (the bytes after the length prefix) from `connection`.
    pub fn handle_frame(&mut self, connection: ConnectionId, frame: Bytes, now: BrokerTime) {
        self.advance(now);
        let Some(conn) = self.connections.get_mut(&connection) else {
            // A frame from a connection we never saw opened: treat it as opened now (on the
            // first broker), unless it was closed.
            self.connection_opened(connection);
            if !self.connections.contains_key(&connection) {
                return;
            }
            return self.handle_frame(connection, frame, now);
        };
        if conn.busy {
            if conn.queued.len() >= MAX_QUEUED_FRAMES_PER_CONNECTION {
                self.close(
                    connection,
                    format!(
                        "more than {MAX_QUEUED_FRAMES_PER_CONNECTION} requests queued behind an unanswered one"
                    ),
                );
            } else {
                conn.queued.push_back(frame);
            }
            return;
        }
        conn.busy = true;
        self.start_request(connection, frame);
    }

    /// The node whose listener accepted `connection` (the first broker for an unknown one).
    fn node_of(&self, connection: ConnectionId) -> i32 {
        self.connections
            .get(&connection)
            .map_or(self.logs.cluster.first_node(), |conn| conn.node)
    }

    /// `client_id` as a shared string, the one `connection`'s previous request had if equal.
    fn client_id_of(&mut self, connection: ConnectionId, client_id: &str) -> Arc<str> {
        let Some(conn) = self.connections.get_mut(&connection) else {
            return Arc::from(client_id);
        };
        match &conn.client_id {
            Some(last) if **last == *client_id => last.clone(),
            _ => conn.client_id.insert(Arc::from(client_id)).clone(),
        }
    }

    fn advance(&mut self, now: BrokerTime) {
        self.now = self.now.max(now);
    }

    /// Moves the core's clock to `now` (never backwards) without firing the timers due by then
    /// (`handle_timeout` does that): for an operation from outside that completes parked
    /// requests (a cluster event: a broker down, a leader or coordinator moved), so that their
    /// responses are stamped with the time of the operation, not of the last input.
    pub fn advance_to(&mut self, now: BrokerTime) {
        self.advance(now);
    }

    fn start_request(&mut self, connection: ConnectionId, frame: Bytes) {
        let request = match decode_request(frame.clone()) {
            Ok(request) => request,
            Err(error) => return self.bad_request(connection, &frame, error),
        };
        if !api_versions::is_supported(request.api_key, request.api_version) {
            let reason = format!(
                "{:?} v{} is not implemented by kmock (see ApiVersions)",
                request.api_key, request.api_version
            );
            return self.reject(connection, &frame, reason);
        }
        // Only the error paths above need the whole frame: release this handle before the request
        // is applied (the decoded request keeps the slices it needs, e.g. Produce record sets).
        drop(frame);
        let node = self.node_of(connection);
        let facts = RequestFacts::of(connection, &request).on_node(node);
        let applied = self.faults.evaluate(&facts, self.now, &mut self.rng);
        let DecodedRequest {
            api_key,
            api_version,
            header,
            body,
            trailing_bytes,
        } = request;
        if trailing_bytes > 0 {
            // Kafka's RequestContext.parseRequest ignores what follows a fully read body; so do we.
            tracing::debug!(%connection, "{api_key:?} v{api_version} request has {trailing_bytes} trailing bytes (ignored, as Kafka does)");
        }
        let client_id = self.client_id_of(connection, header.client_id.as_deref().unwrap_or(""));
        // A Produce without a fault is handled from a borrow of its body, which the log then
        // takes (`process_produce`); every other request is logged as a copy, since handlers
        // consume their request.
        let produce_borrowed = applied.is_none() && matches!(body, RequestKind::Produce(_));
        let mut entry = LogEntry::request(
            self.now,
            connection,
            &client_id,
            api_key,
            api_version,
            header.correlation_id,
            applied.as_ref().map(|a| a.describe()),
            (!produce_borrowed).then(|| body.clone()),
        )
        .on_node(node);
        entry.trailing_bytes = trailing_bytes;
        let seq = self.request_log.record_request(entry);
        let mut token = ResponseToken {
            connection,
            correlation_id: header.correlation_id,
            api_key,
            api_version,
            client_id,
            seq,
            plan: ResponsePlan::Send,
            node,
        };
        let Some(applied) = applied else {
            if let RequestKind::Produce(request) = &body {
                self.process_produce(token, request);
                self.request_log.record_request_body(seq, body);
                return;
            }
            return self.process(token, body);
        };
        tracing::debug!(%connection, fault = %applied.describe(), "fault applied to {api_key:?}");
        match applied.action {
            FaultAction::DelayResponse(delay) => {
                token.plan = ResponsePlan::Delay(delay);
                self.process(token, body);
            }
            FaultAction::HoldRequest(delay) => {
                self.add_timer(
                    self.now + delay,
                    Timer::HeldRequest {
                        token,
                        body: Box::new(body),
                    },
                );
            }
            FaultAction::Error(code) => match error_response(&body, api_version, code) {
                Some(response) => self.respond(token, response),
                None => {
                    let reason = format!("fault: no error response for {api_key:?}");
                    self.request_log.record_outcome(seq, self.now, &reason);
                    self.close(connection, reason);
                }
            },
            FaultAction::Drop => {
                token.plan = ResponsePlan::Drop;
                self.process(token, body);
            }
            FaultAction::CloseBefore => {
                self.request_log
                    .record_outcome(seq, self.now, "connection closed by fault");
                self.close(connection, format!("fault: {}", applied.describe()));
            }
            FaultAction::CloseAfter => {
                token.plan = ResponsePlan::Close;
                self.process(token, body);
            }
        }
    }

    /// Runs a request through its handler.
    fn process(&mut self, token: ResponseToken, body: RequestKind) {
        let now = self.now;
        if let Some(response) = cluster::route::not_coordinator(&self.logs.cluster, &token, &body) {
            return self.respond(token, response);
        }
        let mut completions = self.take_completions();
        let reply = match body {
            RequestKind::ApiVersions(request) => Reply::Now(api_versions::handle(&token, &request)),
            body @ (RequestKind::Metadata(_)
            | RequestKind::CreateTopics(_)
            | RequestKind::DeleteTopics(_)
            | RequestKind::Produce(_)
            | RequestKind::Fetch(_)
            | RequestKind::ListOffsets(_)
            | RequestKind::CreatePartitions(_)
            | RequestKind::DeleteRecords(_)
            | RequestKind::DescribeConfigs(_)
            | RequestKind::AlterConfigs(_)
            | RequestKind::IncrementalAlterConfigs(_)) => {
                self.logs
                    .handle(token.clone(), body, now, &mut self.txns, &mut completions)
            }
            body @ (RequestKind::InitProducerId(_)
            | RequestKind::AddPartitionsToTxn(_)
            | RequestKind::AddOffsetsToTxn(_)
            | RequestKind::EndTxn(_)
            | RequestKind::TxnOffsetCommit(_)
            | RequestKind::DescribeTransactions(_)
            | RequestKind::ListTransactions(_)) => self.txns.handle(
                &token,
                body,
                now,
                &mut txn::Effects {
                    logs: &mut self.logs,
                    groups: &mut self.groups,
                    out: &mut completions,
                },
            ),
            body @ (RequestKind::FindCoordinator(_)
            | RequestKind::JoinGroup(_)
            | RequestKind::SyncGroup(_)
            | RequestKind::Heartbeat(_)
            | RequestKind::LeaveGroup(_)
            | RequestKind::OffsetCommit(_)
            | RequestKind::OffsetFetch(_)
            | RequestKind::DescribeGroups(_)
            | RequestKind::ListGroups(_)
            | RequestKind::DeleteGroups(_)
            | RequestKind::OffsetDelete(_)
            | RequestKind::ConsumerGroupHeartbeat(_)
            | RequestKind::ConsumerGroupDescribe(_)) => {
                self.groups
                    .handle(token.clone(), body, now, &self.logs, &mut completions)
            }
            // The ACL APIs; anything else was filtered out before by api_versions::is_supported.
            other => acls::handle(&other).map_or_else(
                || Reply::Close(format!("no handler for {:?}", token.api_key)),
                Reply::Now,
            ),
        };
        self.conclude(token, reply, now, completions);
    }

    /// [`BrokerCore::process`] for a Produce the caller keeps (to log it afterwards): the Produce
    /// handler only reads its request. No coordinator check: Produce is served by any broker
    /// (its leadership check is the handler's).
    fn process_produce(&mut self, token: ResponseToken, request: &ProduceRequest) {
        let now = self.now;
        let mut completions = self.take_completions();
        let reply = self.logs.handle_produce(
            token.clone(),
            request,
            now,
            &mut self.txns,
            &mut completions,
        );
        self.conclude(token, reply, now, completions);
    }

    /// Sends, parks or closes as a handler's reply says, then answers what it completed.
    fn conclude(
        &mut self,
        token: ResponseToken,
        reply: Reply,
        now: BrokerTime,
        completions: Vec<Completion>,
    ) {
        match reply {
            Reply::Now(mut response) => {
                cluster::route::keep_own_listings(&self.logs.cluster, &token, &mut response);
                self.respond(token, response);
            }
            Reply::Encoded(encoded) => self.respond_with(token, Response::Encoded(encoded)),
            Reply::Parked => {}
            Reply::NoResponse => {
                self.request_log
                    .record_outcome(token.seq, now, "no response (acks=0)");
                self.finish(token.connection);
                self.outputs.push_back(Output::Ready {
                    connection: token.connection,
                });
            }
            Reply::Close(reason) => {
                self.request_log.record_outcome(token.seq, now, &reason);
                self.close(token.connection, reason);
            }
        }
        self.complete_all(completions);
    }

    /// An empty list for completions (the spare one when it is not in use: a response can start
    /// a connection's next queued request, which takes a list of its own).
    fn take_completions(&mut self) -> Vec<Completion> {
        std::mem::take(&mut self.spare_completions)
    }

    fn complete_all(&mut self, mut completions: Vec<Completion>) {
        for Completion { token, response } in completions.drain(..) {
            self.respond_with(token, response);
        }
        if self.spare_completions.capacity() < completions.capacity() {
            self.spare_completions = completions;
        }
    }

    /// Encodes a response and sends, delays, drops or replaces it with a close, per its plan.
    fn respond(&mut self, token: ResponseToken, response: ResponseKind) {
        self.respond_with(token, Response::Body(response));
    }

    /// [`BrokerCore::respond`] for a response that may be encoded already.
    fn respond_with(&mut self, token: ResponseToken, response: Response) {
        let (body, frame, record_bytes) = match response {
            Response::Body(body) => {
                let frame = encode_response(
                    token.api_key,
                    token.api_version,
                    token.correlation_id,
                    &body,
                )
                .map(Frame::from);
                (body, frame, 0)
            }
            Response::Encoded(Encoded {
                body,
                frame,
                record_bytes,
            }) => (body, frame, record_bytes),
        };
        let frame = match frame {
            Ok(frame) => frame,
            Err(error) => {
                // A response we cannot encode is a kmock bug; never take the process down for it.
                tracing::error!(connection = %token.connection, %error, "cannot encode response");
                self.request_log
                    .record_outcome(token.seq, self.now, &error.to_string());
                return self.close(token.connection, format!("internal error: {error}"));
            }
        };
        self.request_log
            .record_response(token.seq, self.now, token.plan, body, record_bytes);
        match token.plan {
            ResponsePlan::Send => self.emit_frame(&token, frame),
            ResponsePlan::Delay(delay) => {
                self.add_timer(self.now + delay, Timer::DelayedResponse { token, frame });
            }
            ResponsePlan::Drop => {
                tracing::debug!(connection = %token.connection, "fault: response dropped");
            }
            ResponsePlan::Close => {
                self.close(token.connection, "fault: closed after processing".into());
            }
        }
    }

    fn emit_frame(&mut self, token: &ResponseToken, frame: Frame) {
        if !self.connections.contains_key(&token.connection) {
            return;
        }
        self.outputs.push_back(Output::Send {
            connection: token.connection,
            frame,
        });
        self.finish(token.connection);
    }

    /// The connection's current request is done: start the next queued one, if any.
    fn finish(&mut self, connection: ConnectionId) {
        let Some(conn) = self.connections.get_mut(&connection) else {
            return;
        };
        conn.busy = false;
        if let Some(next) = conn.queued.pop_front() {
            conn.busy = true;
            self.start_request(connection, next);
        }
    }

    fn add_timer(&mut self, at: BrokerTime, timer: Timer) {
        self.timers.insert((at, self.next_timer_seq), timer);
        self.next_timer_seq += 1;
    }

    fn close(&mut self, connection: ConnectionId, reason: String) {
        if self.connections.remove(&connection).is_none() {
            return;
        }
        tracing::info!(%connection, %reason, "closing connection");
        self.logs.connection_closed(connection);
        self.outputs.push_back(Output::Close { connection, reason });
    }

    /// A frame that did not decode: answer if Kafka would, otherwise close with a logged reason.
    fn bad_request(&mut self, connection: ConnectionId, frame: &Bytes, error: WireError) {
        if let WireError::UnsupportedVersion {
            api_key,
            api_version,
            correlation_id,
            ..
        } = &error
            && *api_key == ApiKey::ApiVersions as i16
        {
            // KIP-511: answer an ApiVersions request we cannot parse with a v0 body that carries
            // UNSUPPORTED_VERSION and our ranges, so the client can retry at a version we speak.
            let response = api_versions::unsupported_version_response();
            let seq = self.request_log.record_request(
                LogEntry::undecodable(
                    self.now,
                    connection,
                    *api_key,
                    *api_version,
                    *correlation_id,
                    &error.to_string(),
                )
                .on_node(self.node_of(connection)),
            );
            let token = ResponseToken {
                connection,
                correlation_id: *correlation_id,
                api_key: ApiKey::ApiVersions,
                api_version: 0,
                client_id: Arc::from(""),
                seq,
                plan: ResponsePlan::Send,
                node: self.node_of(connection),
            };
            return self.respond(token, response);
        }
        self.reject(connection, frame, error.to_string());
    }

    /// Logs a request that cannot be answered and closes its connection, as Kafka does.
    fn reject(&mut self, connection: ConnectionId, frame: &Bytes, reason: String) {
        let prefix = RequestPrefix::peek(frame).ok();
        tracing::warn!(%connection, %reason, "rejecting request");
        if let Some(prefix) = prefix {
            let seq = self.request_log.record_request(
                LogEntry::undecodable(
                    self.now,
                    connection,
                    prefix.api_key,
                    prefix.api_version,
                    prefix.correlation_id,
                    &reason,
                )
                .on_node(self.node_of(connection)),
            );
            self.request_log
                .record_outcome(seq, self.now, "connection closed");
        }
        self.close(connection, reason);
    }
}

/// The response a fault's `error=CODE` sends: the request's own response type, at its version, with
/// the code in every error field a client reads. `None` only for APIs kmock does not serve.
pub fn error_response(body: &RequestKind, api_version: i16, code: i16) -> Option<ResponseKind> {
    match body {
        RequestKind::ApiVersions(_) => Some(api_versions::error_response(code)),
        other => log::error_response(other, api_version, code)
            .or_else(|| group::error_response(other, api_version, code))
            .or_else(|| txn::error_response(other, api_version, code))
            .or_else(|| acls::error_response(other, code)),
    }
}

#[cfg(test)]
mod tests;
