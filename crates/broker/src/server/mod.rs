//! The tokio driver: a thin shell around the pure [`BrokerCore`].
//!
//! One **broker task** owns the core (an actor). Connection tasks and [`BrokerHandle`]s talk to it
//! over one unbounded channel of events (connection opened, request frame, connection closed,
//! command); it answers each connection through that connection's own channel. Between events it
//! sleeps until the core's next deadline ([`BrokerCore::poll_timeout`]) on one
//! `tokio::time::Sleep`, reset when that deadline moves. Time is `tokio::time::Instant` elapsed
//! since the broker started and nothing else, so the whole server runs in paused virtual time in
//! the simulation.
//!
//! One **connection task** per connection, generic over the byte stream (TCP or the in-memory
//! [`MemoryNetwork`]): it reads frames with [`kmock_wire::FrameDecoder`], hands one frame to the
//! broker and waits for that request's outcome (a response frame to write, "no response", or
//! "close") before it takes the next frame, as Kafka mutes a connection until its response is
//! written. Responses therefore leave in request order. The channels are unbounded but stay short:
//! a connection has at most one request in the broker, and the broker at most a response and a
//! close for it.
//!
//! Shutdown ([`BrokerHandle::shutdown`]): accept loops stop, every connection is sent a close
//! after the responses already produced, and the broker waits (at most [`SHUTDOWN_GRACE`]) for the
//! connection tasks to write them and close; then the remaining ones abort their writes.
//!
//! Limits: at most [`BrokerConfig::max_connections`] connections are served at once; a connection
//! accepted beyond that is closed at once with a logged reason (a peer that opens connections in a
//! loop must not grow the broker without bound). Each connection buffers at most one frame of
//! [`BrokerConfig::max_frame_bytes`] plus the read-ahead of its task.
//!
//! Must not: read the wall clock, hold broker state outside the core, decide anything Kafka-level
//! (that is the core's job), or panic on anything a peer does.
//!
//! # References
//! - Kafka `SocketServer`/`Processor`: channel muting, one in-flight request per connection.

mod connection;
pub mod memory;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use kmock_core::fault::{FaultRule, FaultRuleId, FaultRuleStatus};
use kmock_core::request_log::LogEntry;
use kmock_core::{BrokerConfig, ConfigError};
use kmock_core::{BrokerCore, BrokerTime, ConnectionId, Output};
use kmock_wire::Frame;

pub use memory::{MemoryListener, MemoryNetwork};

/// How long shutdown waits for connections to write what was already answered and close.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// After the grace period, how long connection tasks get to report that they aborted.
const ABORT_GRACE: Duration = Duration::from_secs(1);

/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// The broker task is gone (shut down, or its runtime stopped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the broker has stopped")]
pub struct BrokerStopped;

/// Why [`BrokerHandle::serve_connection`] did not serve a stream (it was dropped, i.e. closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The broker has stopped.
    #[error("the broker has stopped")]
    Stopped,
    /// [`BrokerConfig::max_connections`] connections are already open.
    #[error("too many connections: {max_connections} are open (max_connections)")]
    TooManyConnections {
        /// The configured limit.
        max_connections: usize,
    },
    /// The broker the connection is for is down (`BrokerCore::broker_down`): refused, as a
    /// closed listening socket refuses.
    #[error("broker {node} is down")]
    BrokerDown {
        /// Its node id.
        node: i32,
    },
}

impl From<BrokerStopped> for ServeError {
    fn from(BrokerStopped: BrokerStopped) -> Self {
        ServeError::Stopped
    }
}

/// Server lifecycle, broadcast to accept loops and connection tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerState {
    /// Accepting connections and serving requests.
    Running,
    /// Shutting down: no new connections; connections finish writing and close.
    Draining,
    /// The grace period is over: connection tasks abort whatever they are doing.
    Stopped,
}

/// What a connection task must do, sent by the broker task.
#[derive(Debug)]
enum ConnectionOutput {
    /// Write this response frame (length prefix included); the request is finished.
    Frame(Frame),
    /// The request finished without a response.
    Ready,
    /// Flush and close.
    Close(String),
}

/// A closure run by the broker task on the core.
type CoreCommand = Box<dyn FnOnce(&mut BrokerCore) + Send>;

/// Everything the broker task receives.
enum Event {
    Opened {
        connection: ConnectionId,
        /// The broker whose listener accepted it.
        node: i32,
        outputs: mpsc::UnboundedSender<ConnectionOutput>,
    },
    Frame {
        connection: ConnectionId,
        frame: Bytes,
    },
    Closed {
        connection: ConnectionId,
    },
    Run(CoreCommand),
    Shutdown(oneshot::Sender<()>),
}

/// Starts brokers.
#[derive(Debug)]
pub struct Broker;

impl Broker {
    /// Validates `config` and spawns the broker task on the current tokio runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime (as `tokio::spawn` does).
    pub fn start(config: BrokerConfig) -> Result<BrokerHandle, ConfigError> {
        config.validate()?;
        Ok(Self::start_with_core(BrokerCore::new(config)))
    }

    /// Spawns the broker task around an existing core (e.g. with faults already installed). The
    /// broker clock starts now; the core must not have seen a later `now`.
    pub fn start_with_core(core: BrokerCore) -> BrokerHandle {
        let (events, events_rx) = mpsc::unbounded_channel();
        let (state_tx, state) = watch::channel(ServerState::Running);
        let (down_tx, down_nodes) = watch::channel(down_nodes(&core));
        let max_frame_bytes = core.config().max_frame_bytes;
        let max_connections = core.config().max_connections;
        let first_node = core.cluster().first_node();
        let task = BrokerTask {
            state: state_tx,
            down_nodes: down_tx,
            start: Instant::now(),
        };
        tokio::spawn(run_broker(core, events_rx, task));
        BrokerHandle {
            shared: Arc::new(Shared {
                events,
                state,
                down_nodes,
                listening: watch::channel(BTreeSet::new()).0,
                first_node,
                next_connection: AtomicU64::new(1),
                max_frame_bytes,
                max_connections,
                open_connections: Arc::new(AtomicUsize::new(0)),
            }),
        }
    }
}

#[derive(Debug)]
struct Shared {
    events: mpsc::UnboundedSender<Event>,
    state: watch::Receiver<ServerState>,
    /// Brokers the core has down: their TCP listeners are dropped until they come back.
    down_nodes: watch::Receiver<BTreeSet<i32>>,
    /// Brokers whose TCP listener is bound now.
    listening: watch::Sender<BTreeSet<i32>>,
    /// The first broker's node id (what `serve_tcp`, `serve_memory`, `serve_connection` serve).
    first_node: i32,
    /// Connection ids are handed out in accept order: conn-1, conn-2, ...
    next_connection: AtomicU64,
    max_frame_bytes: usize,
    /// [`BrokerConfig::max_connections`].
    max_connections: usize,
    /// Connection tasks alive now; each holds an [`OpenConnection`] guard that counts it.
    open_connections: Arc<AtomicUsize>,
}

/// Counts one open connection while it lives (dropped when its task ends or is aborted).
#[derive(Debug)]
pub(crate) struct OpenConnection(Arc<AtomicUsize>);

impl OpenConnection {
    /// Takes a slot if fewer than `max` are taken.
    fn try_acquire(counter: &Arc<AtomicUsize>, max: usize) -> Option<Self> {
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < max).then_some(open + 1)
            })
            .ok()
            .map(|_| Self(Arc::clone(counter)))
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Opened {
                connection, node, ..
            } => write!(f, "Opened({connection} on {node})"),
            Event::Frame { connection, frame } => {
                write!(f, "Frame({connection}, {} bytes)", frame.len())
            }
            Event::Closed { connection } => write!(f, "Closed({connection})"),
            Event::Run(_) => f.write_str("Run"),
            Event::Shutdown(_) => f.write_str("Shutdown"),
        }
    }
}

/// A handle to a running broker: serve connections, install faults, read its state, shut it down.
/// Cheap to clone; every clone talks to the same broker task.
#[derive(Debug, Clone)]
pub struct BrokerHandle {
    shared: Arc<Shared>,
}

impl BrokerHandle {
    fn is_running(&self) -> bool {
        *self.shared.state.borrow() == ServerState::Running
    }

    /// Accepts TCP connections for the first broker until shutdown. Accept errors are logged
    /// and retried.
    pub async fn serve_tcp(&self, listener: TcpListener) {
        self.serve_tcp_on(listener, self.shared.first_node).await;
    }

    /// Accepts TCP connections for broker `node` until shutdown. While the core has the broker
    /// down, the listening socket is closed (connections are refused); when it comes back up, the
    /// same address is bound again (retried until it succeeds).
    pub async fn serve_tcp_on(&self, listener: TcpListener, node: i32) {
        let mut state = self.shared.state.clone();
        let mut down_nodes = self.shared.down_nodes.clone();
        let address = listener.local_addr().ok();
        let mut listener = Some(listener);
        loop {
            let Some(bound) = listener.take() else {
                tokio::select! {
                    biased;
                    () = until_not_running(&mut state) => return,
                    () = until_node(&mut down_nodes, node, false) => {}
                }
                listener = self.rebind(address, node).await;
                if listener.is_none() {
                    return;
                }
                continue;
            };
            self.set_listening(node, true);
            tokio::select! {
                biased;
                () = until_not_running(&mut state) => return,
                () = until_node(&mut down_nodes, node, true) => {
                    drop(bound);
                    self.set_listening(node, false);
                    tracing::info!(node, "broker down: listener closed");
                }
                () = self.accept_tcp(&bound, node) => return,
            }
        }
    }

    /// Accepts connections on `listener` for broker `node`; returns only when the broker has
    /// stopped.
    async fn accept_tcp(&self, listener: &TcpListener, node: i32) {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    if let Err(error) = stream.set_nodelay(true) {
                        tracing::debug!(%peer, %error, "cannot set TCP_NODELAY");
                    }
                    // Logged before the stream is dropped, so that a client seeing the close
                    // finds the reason in the log.
                    if let Some(error) = self.refusal(node) {
                        tracing::warn!(%peer, %error, "connection refused");
                        if error == ServeError::Stopped {
                            return;
                        }
                        continue;
                    }
                    match self.serve_connection_on(stream, node) {
                        Ok(connection) => tracing::info!(%connection, %peer, node, "accepted"),
                        Err(ServeError::Stopped) => return,
                        Err(error) => tracing::warn!(%peer, %error, "connection refused"),
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "accept failed; retrying");
                    tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                }
            }
        }
    }

    /// Binds `address` again for broker `node` (it came back up), retrying while the port is busy
    /// (`None` when the address was never known).
    async fn rebind(&self, address: Option<SocketAddr>, node: i32) -> Option<TcpListener> {
        let Some(address) = address else {
            tracing::error!(node, "broker up: its listener's address is unknown");
            return None;
        };
        loop {
            match TcpListener::bind(address).await {
                Ok(listener) => {
                    tracing::info!(node, %address, "broker up: listening again");
                    return Some(listener);
                }
                Err(error) => {
                    tracing::warn!(node, %address, %error, "cannot bind again; retrying");
                    tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                }
            }
        }
    }

    fn set_listening(&self, node: i32, listening: bool) {
        self.shared.listening.send_if_modified(|nodes| {
            if listening {
                nodes.insert(node)
            } else {
                nodes.remove(&node)
            }
        });
    }

    /// Resolves once broker `node`'s TCP listener is bound (after it came back up), or the
    /// broker stopped.
    pub async fn until_listening(&self, node: i32) {
        self.until_listening_is(node, true).await;
    }

    /// Resolves once broker `node` has no TCP listener bound (after it went down: connections
    /// are refused from then on), or the broker stopped.
    pub async fn until_not_listening(&self, node: i32) {
        self.until_listening_is(node, false).await;
    }

    async fn until_listening_is(&self, node: i32, listening: bool) {
        let mut nodes = self.shared.listening.subscribe();
        let mut state = self.shared.state.clone();
        tokio::select! {
            biased;
            () = until_not_running(&mut state) => {}
            _ = nodes.wait_for(|nodes| nodes.contains(&node) == listening) => {}
        }
    }

    /// Accepts in-memory connections for the first broker until shutdown or until every
    /// [`MemoryNetwork`] is dropped.
    pub async fn serve_memory(&self, listener: MemoryListener) {
        self.serve_memory_on(listener, self.shared.first_node).await;
    }

    /// Accepts in-memory connections for broker `node` (one [`MemoryNetwork`] per broker). While
    /// the broker is down, the core closes each connection at once.
    pub async fn serve_memory_on(&self, mut listener: MemoryListener, node: i32) {
        let mut state = self.shared.state.clone();
        loop {
            tokio::select! {
                biased;
                () = until_not_running(&mut state) => return,
                accepted = listener.accept() => match accepted {
                    Some(stream) => match self.serve_connection_on(stream, node) {
                        Ok(connection) => tracing::debug!(%connection, "accepted in-memory connection"),
                        Err(ServeError::Stopped) => return,
                        Err(error) => tracing::warn!(%error, "in-memory connection refused"),
                    },
                    None => return,
                },
            }
        }
    }

    /// Serves one connection to the first broker on a new task; returns its id (conn-1, conn-2,
    /// ... in call order). After shutdown, or with [`BrokerConfig::max_connections`] connections
    /// already open, the stream is dropped (closed) and the reason returned.
    pub fn serve_connection<S>(&self, stream: S) -> Result<ConnectionId, ServeError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.serve_connection_on(stream, self.shared.first_node)
    }

    /// Serves one connection to broker `node`, as [`BrokerHandle::serve_connection`].
    pub fn serve_connection_on<S>(&self, stream: S, node: i32) -> Result<ConnectionId, ServeError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        if let Some(error) = self.refusal(node) {
            return Err(error);
        }
        let Some(slot) =
            OpenConnection::try_acquire(&self.shared.open_connections, self.shared.max_connections)
        else {
            return Err(ServeError::TooManyConnections {
                max_connections: self.shared.max_connections,
            });
        };
        let connection = ConnectionId(self.shared.next_connection.fetch_add(1, Ordering::Relaxed));
        let (outputs, outputs_rx) = mpsc::unbounded_channel();
        // Opened goes out before the task exists, so the broker sees it before any frame.
        self.shared
            .events
            .send(Event::Opened {
                connection,
                node,
                outputs,
            })
            .map_err(|_| ServeError::Stopped)?;
        tokio::spawn(connection::run(
            stream,
            connection::Context {
                connection,
                events: self.shared.events.clone(),
                outputs: outputs_rx,
                state: self.shared.state.clone(),
                max_frame_bytes: self.shared.max_frame_bytes,
                _slot: slot,
            },
        ));
        Ok(connection)
    }

    /// Why a new connection to broker `node` would be refused now, if it would.
    fn refusal(&self, node: i32) -> Option<ServeError> {
        if !self.is_running() {
            Some(ServeError::Stopped)
        } else if self.is_down(node) {
            Some(ServeError::BrokerDown { node })
        } else if self.open_connections() >= self.shared.max_connections {
            Some(ServeError::TooManyConnections {
                max_connections: self.shared.max_connections,
            })
        } else {
            None
        }
    }

    /// Whether the core has broker `node` down (its connections are refused).
    pub fn is_down(&self, node: i32) -> bool {
        self.shared.down_nodes.borrow().contains(&node)
    }

    /// Connections served now (at most [`BrokerConfig::max_connections`]).
    pub fn open_connections(&self) -> usize {
        self.shared.open_connections.load(Ordering::Acquire)
    }

    /// Runs `f` on the core (mutable access) and returns its result. Outputs the closure causes
    /// are delivered as usual.
    pub async fn update<R, F>(&self, f: F) -> Result<R, BrokerStopped>
    where
        R: Send + 'static,
        F: FnOnce(&mut BrokerCore) -> R + Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        self.shared
            .events
            .send(Event::Run(Box::new(move |core| {
                let _ = reply.send(f(core));
            })))
            .map_err(|_| BrokerStopped)?;
        result.await.map_err(|_| BrokerStopped)
    }

    /// Runs `f` on the core (read access), e.g. to snapshot groups or topics for an assertion.
    pub async fn inspect<R, F>(&self, f: F) -> Result<R, BrokerStopped>
    where
        R: Send + 'static,
        F: FnOnce(&BrokerCore) -> R + Send + 'static,
    {
        self.update(move |core| f(core)).await
    }

    /// Installs a fault rule after the existing ones.
    pub async fn add_fault(&self, rule: FaultRule) -> Result<FaultRuleId, BrokerStopped> {
        self.update(move |core| core.add_fault(rule)).await
    }

    /// Removes a fault rule; returns it if it was installed.
    pub async fn remove_fault(&self, id: FaultRuleId) -> Result<Option<FaultRule>, BrokerStopped> {
        self.update(move |core| core.remove_fault(id)).await
    }

    /// Removes every fault rule.
    pub async fn clear_faults(&self) -> Result<(), BrokerStopped> {
        self.update(|core| {
            let ids: Vec<_> = core.faults().list().iter().map(|s| s.id).collect();
            for id in ids {
                core.remove_fault(id);
            }
        })
        .await
    }

    /// The installed fault rules in evaluation order, with their counters.
    pub async fn faults(&self) -> Result<Vec<FaultRuleStatus>, BrokerStopped> {
        self.inspect(|core| core.faults().list().to_vec()).await
    }

    /// Request log entries with `seq >= since`, oldest first.
    pub async fn request_log_since(&self, since: u64) -> Result<Vec<LogEntry>, BrokerStopped> {
        self.inspect(move |core| core.request_log().since(since).cloned().collect())
            .await
    }

    /// Sets the host and port advertised in Metadata and FindCoordinator.
    pub async fn set_advertised_address(
        &self,
        host: impl Into<String>,
        port: i32,
    ) -> Result<(), BrokerStopped> {
        let host = host.into();
        self.update(move |core| core.set_advertised_address(&host, port))
            .await
    }

    /// Resolves once the broker has stopped serving: after [`BrokerHandle::shutdown`], or if the
    /// broker task ended for any other reason (which would be a kmock bug).
    pub async fn stopped(&self) {
        let mut state = self.shared.state.clone();
        let _ = state.wait_for(|s| *s == ServerState::Stopped).await;
    }

    /// Asks the broker to shut down as [`BrokerHandle::shutdown`] does, without waiting for it.
    /// Needs no runtime (for `Drop` implementations).
    pub fn request_shutdown(&self) {
        let (reply, _) = oneshot::channel();
        let _ = self.shared.events.send(Event::Shutdown(reply));
    }

    /// Stops accepting, lets connections write the responses already produced, closes them, and
    /// waits for the broker task to finish (at most about [`SHUTDOWN_GRACE`]). Idempotent.
    pub async fn shutdown(&self) {
        let (reply, done) = oneshot::channel();
        if self.shared.events.send(Event::Shutdown(reply)).is_ok() {
            let _ = done.await;
        }
    }
}

/// Time since the broker started: the only clock the core sees.
/// Broker time: how long ago the broker task started, on tokio's clock (paused in simulations).
fn elapsed(start: Instant) -> BrokerTime {
    BrokerTime::from_start(Instant::now().saturating_duration_since(start))
}

/// The broker task's state besides the core.
struct Router {
    /// Where to send each open connection's outputs (removed when the core closes it).
    outputs: BTreeMap<ConnectionId, mpsc::UnboundedSender<ConnectionOutput>>,
    /// Connection tasks that have not yet reported `Closed`.
    live: BTreeSet<ConnectionId>,
}

impl Router {
    fn send(&mut self, connection: ConnectionId, output: ConnectionOutput) {
        if let Some(outputs) = self.outputs.get(&connection) {
            // A send fails only when the task already ended; its Closed event is on the way.
            let _ = outputs.send(output);
        }
    }

    /// Delivers every output the core has.
    fn route(&mut self, core: &mut BrokerCore) {
        while let Some(output) = core.poll_output() {
            match output {
                Output::Send { connection, frame } => {
                    self.send(connection, ConnectionOutput::Frame(frame));
                }
                Output::Ready { connection } => self.send(connection, ConnectionOutput::Ready),
                Output::Close { connection, reason } => {
                    self.send(connection, ConnectionOutput::Close(reason));
                    self.outputs.remove(&connection);
                }
            }
        }
    }
}

/// The broker task's channels besides its events.
struct BrokerTask {
    state: watch::Sender<ServerState>,
    /// Published after every command: the brokers the core has down.
    down_nodes: watch::Sender<BTreeSet<i32>>,
    start: Instant,
}

/// The brokers the core has down.
fn down_nodes(core: &BrokerCore) -> BTreeSet<i32> {
    core.cluster()
        .brokers()
        .iter()
        .filter(|broker| !broker.up)
        .map(|broker| broker.node_id)
        .collect()
}

async fn run_broker(
    mut core: BrokerCore,
    mut events: mpsc::UnboundedReceiver<Event>,
    task: BrokerTask,
) {
    let BrokerTask {
        state,
        down_nodes: down_tx,
        start,
    } = task;
    let mut router = Router {
        outputs: BTreeMap::new(),
        live: BTreeSet::new(),
    };
    let mut shutdown_replies = Vec::new();
    // One timer for the task's life, moved only when the core's next deadline moves: a new
    // `Sleep` per event registered and removed a timer-wheel entry for every request (0.7% of a
    // simulated lifecycle case's instructions, BENCHMARKS.md part 8).
    let timer = tokio::time::sleep_until(start);
    tokio::pin!(timer);
    let mut armed = Some(start);
    loop {
        router.route(&mut core);
        let deadline = core
            .poll_timeout()
            .and_then(|at| start.checked_add(at.since_start()));
        if let Some(at) = deadline
            && armed != Some(at)
        {
            timer.as_mut().reset(at);
            armed = Some(at);
        }
        tokio::select! {
            biased;
            () = &mut timer, if deadline.is_some() => {
                core.handle_timeout(elapsed(start));
            }
            event = events.recv() => match event {
                // Every handle and connection is gone: nobody can talk to us any more.
                None => return,
                Some(Event::Opened { connection, node, outputs }) => {
                    router.outputs.insert(connection, outputs);
                    router.live.insert(connection);
                    core.connection_opened_on(connection, node);
                }
                Some(Event::Frame { connection, frame }) => {
                    core.handle_frame(connection, frame, elapsed(start));
                }
                Some(Event::Closed { connection }) => {
                    router.outputs.remove(&connection);
                    router.live.remove(&connection);
                    core.connection_closed(connection, elapsed(start));
                }
                Some(Event::Run(command)) => {
                    // A cluster operation completes parked requests: at this time, not the
                    // time of the core's last input.
                    core.advance_to(elapsed(start));
                    command(&mut core);
                    let now_down = down_nodes(&core);
                    down_tx.send_if_modified(|down| {
                        let changed = *down != now_down;
                        *down = now_down;
                        changed
                    });
                }
                Some(Event::Shutdown(reply)) => {
                    shutdown_replies.push(reply);
                    break;
                }
            },
        }
    }

    tracing::info!(connections = router.live.len(), "broker shutting down");
    state.send_replace(ServerState::Draining);
    router.route(&mut core);
    for outputs in std::mem::take(&mut router.outputs).into_values() {
        let _ = outputs.send(ConnectionOutput::Close("broker shutting down".into()));
    }
    // Phase 1: wait for connections to write and close; phase 2 (after the grace period): they
    // abort, and we give them a moment to report it.
    let mut phase_end = Instant::now() + SHUTDOWN_GRACE;
    let mut stopped = false;
    while !router.live.is_empty() {
        tokio::select! {
            biased;
            () = tokio::time::sleep_until(phase_end) => {
                if stopped {
                    tracing::warn!(connections = router.live.len(), "connections did not report closing");
                    break;
                }
                tracing::warn!(
                    connections = router.live.len(),
                    "connections still writing after the shutdown grace period; aborting them"
                );
                state.send_replace(ServerState::Stopped);
                stopped = true;
                phase_end = Instant::now() + ABORT_GRACE;
            }
            event = events.recv() => match event {
                None => break,
                Some(Event::Opened { connection, outputs, .. }) => {
                    router.live.insert(connection);
                    let _ = outputs.send(ConnectionOutput::Close("broker shutting down".into()));
                }
                // New requests are not served any more; their connections are closing.
                Some(Event::Frame { .. }) => {}
                Some(Event::Closed { connection }) => {
                    router.live.remove(&connection);
                    core.connection_closed(connection, elapsed(start));
                }
                Some(Event::Run(command)) => command(&mut core),
                Some(Event::Shutdown(reply)) => shutdown_replies.push(reply),
            },
        }
    }
    state.send_replace(ServerState::Stopped);
    tracing::info!("broker stopped");
    for reply in shutdown_replies {
        let _ = reply.send(());
    }
}

/// Resolves once broker `node` is down (`down`) or up (`!down`), or the broker task is gone.
async fn until_node(down_nodes: &mut watch::Receiver<BTreeSet<i32>>, node: i32, down: bool) {
    let gone = down_nodes
        .wait_for(|nodes| nodes.contains(&node) == down)
        .await
        .is_err();
    if gone {
        std::future::pending::<()>().await;
    }
}

/// Resolves once the broker is no longer [`ServerState::Running`] (or gone).
async fn until_not_running(state: &mut watch::Receiver<ServerState>) {
    let _ = state.wait_for(|s| *s != ServerState::Running).await;
}

#[cfg(test)]
mod tests;
