//! The simulated network: a `Link` per client connection between the client and the broker,
//! with turmoil's verbs per actor: added latency, partition (bytes are held until healed), heal,
//! and disconnect (both ends dropped).
//!
//! A link of an actor that may get network faults hands the client one end of a
//! `tokio::io::duplex` pair; the broker gets the other end of a second pair through
//! [`BrokerHandle::serve_connection_on`]; two forwarding tasks copy the bytes between them and
//! apply the actor's current faults. A link of an actor the scenario never gives a network fault
//! (see [`Network::with_faults_only_for`]) is one pair: the client's end wrapped in a
//! [`LinkStream`] that scans what the client writes (for the trace's `request_sent`), the broker
//! serving the other end, no task in between. Either way, when one side closes, the other reads
//! EOF. Everything waits on `tokio::time` and `Notify`s, never polls, so virtual time jumps over
//! idle periods.
//!
//! Owns: the links and the per-actor fault state. Must not: read clocks, draw random numbers.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use kmock_broker::server::BrokerHandle;
use kmock_client::FnConnector;
use tokio::io::{
    AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf, ReadHalf, WriteHalf,
};
use tokio::sync::Notify;

use crate::trace::Recorder;

/// The port the first broker advertises in the simulation (`kmock:9092`); broker `i` advertises
/// `FIRST_PORT + i`.
pub const FIRST_PORT: u16 = 9092;

/// Bytes buffered in each direction of each pipe.
const PIPE_BYTES: usize = 64 * 1024;

/// Bytes a forwarding task moves per read.
const CHUNK_BYTES: usize = 16 * 1024;

/// Forwarding buffers kept for reuse on this thread, at most.
const SPARE_BUFFERS: usize = 64;

thread_local! {
    /// Forwarding buffers of finished links, reused by the next ones: a run opens a few links
    /// and every run of a property suite opens them again, and zeroing a fresh 16 KiB buffer per
    /// link was a tenth of a short scenario's work. Only `buffer[..n]` of a read is ever looked at,
    /// so what a previous link left in it is never seen.
    static SPARE: std::cell::RefCell<Vec<Box<[u8]>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A forwarding buffer from this thread's spares (or a new one); back to them when dropped.
struct ChunkBuffer(Box<[u8]>);

impl ChunkBuffer {
    fn take() -> Self {
        let spare = SPARE.with(|spare| spare.borrow_mut().pop());
        Self(spare.unwrap_or_else(|| vec![0u8; CHUNK_BYTES].into_boxed_slice()))
    }
}

impl Drop for ChunkBuffer {
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.0);
        // `try_with`: a task dropped while the thread's locals are being destroyed just frees.
        let _ = SPARE.try_with(|spare| {
            let mut spare = spare.borrow_mut();
            if spare.len() < SPARE_BUFFERS {
                spare.push(buffer);
            }
        });
    }
}

/// The fault state of one actor's links.
#[derive(Debug, Clone, Copy, Default)]
struct FaultState {
    latency: Duration,
    partitioned: bool,
    /// Bumped by a disconnect: links of an older epoch close.
    epoch: u64,
}

/// Shared state plus a wake-up for everyone waiting on it. A `Notify` rather than a `watch`
/// channel: tokio's watch spreads waiters over shards picked at random, so the order in which
/// waiting links wake (and forward their bytes) would differ between runs. `Notify` wakes its
/// waiters in a fixed order.
#[derive(Debug, Default)]
struct Shared<T> {
    state: Mutex<T>,
    changed: Notify,
}

impl<T: Copy> Shared<T> {
    fn get(&self) -> T {
        *self
            .state
            .lock()
            .expect("link state lock is never poisoned")
    }

    fn update(&self, f: impl FnOnce(&mut T)) {
        f(&mut self
            .state
            .lock()
            .expect("link state lock is never poisoned"));
        self.changed.notify_waiters();
    }

    /// Resolves once `done` holds for the state.
    async fn wait_for(&self, done: impl Fn(&T) -> bool) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if done(&self.get()) {
                return;
            }
            notified.await;
        }
    }
}

/// Set when either direction of a link ends, so that the other ends too. What `Shared<bool>` was
/// for this (the same `Notify`, set before it wakes anyone), plus a wait that is cheap to poll
/// again: the forwarding task polls it every time it wakes, for every chunk.
#[derive(Debug, Default)]
struct LinkClosed {
    closed: AtomicBool,
    changed: Notify,
}

impl LinkClosed {
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Resolves once the link is closed. Joins the `Notify`'s waiters at its first poll, as a
    /// `Shared::wait_for` did, and stays there; later polls only read the flag. The waiter keeps
    /// the task's waker (the future never leaves its task), and `close` is the only thing that
    /// notifies, after setting the flag.
    fn kept_wait(&self) -> impl Future<Output = ()> + '_ {
        let mut notified = Box::pin(self.changed.notified());
        let mut registered = false;
        std::future::poll_fn(move |cx| {
            if self.is_closed() {
                return std::task::Poll::Ready(());
            }
            if !registered {
                registered = true;
                if notified.as_mut().poll(cx).is_ready() {
                    return std::task::Poll::Ready(());
                }
            }
            std::task::Poll::Pending
        })
    }
}

/// The network between the clients and the broker. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Network {
    broker: BrokerHandle,
    /// Brokers behind the network: a connection to port `FIRST_PORT + i` reaches broker `i`.
    brokers: i32,
    recorder: Recorder,
    actors: Arc<Mutex<BTreeMap<String, Arc<Shared<FaultState>>>>>,
    /// The actors that may get network faults, when known (see
    /// [`Network::with_faults_only_for`]); `None`: any actor may.
    faultable: Option<Arc<BTreeSet<String>>>,
}

/// The controls a forwarding task watches.
struct LinkWatch {
    faults: Arc<Shared<FaultState>>,
    my_epoch: u64,
    /// The actor never gets a network fault: its fault state never changes and nothing ever
    /// notifies its waiters, so its links need no forwarding tasks (see the module docs).
    quiet: bool,
}

impl LinkWatch {
    async fn disconnected(&self) {
        let mine = self.my_epoch;
        self.faults.wait_for(|s| s.epoch != mine).await;
    }
}

impl Network {
    /// A network in front of `broker`.
    pub fn new(broker: BrokerHandle, recorder: Recorder) -> Self {
        Self {
            broker,
            brokers: 1,
            recorder,
            actors: Arc::new(Mutex::new(BTreeMap::new())),
            faultable: None,
        }
    }

    /// The same network, told that only `actors` ever get network faults (partition, latency,
    /// heal, disconnect): the links of every other actor connect the client straight to the
    /// broker, without forwarding tasks (a request round trip then wakes two tasks fewer and
    /// copies its bytes twice instead of four times). Removing the tasks changes the order in
    /// which tasks run within a virtual instant, not what a link delivers or when (virtual time):
    /// with no faults, forwarding added neither delay nor reordering. A fault verb on another
    /// actor panics (the world derives `actors` from the scenario it runs).
    pub fn with_faults_only_for(mut self, actors: BTreeSet<String>) -> Self {
        self.faultable = Some(Arc::new(actors));
        self
    }

    /// The actor's faults, for a fault verb (see [`Network::with_faults_only_for`]).
    fn faults_to_change(&self, actor: &str) -> Arc<Shared<FaultState>> {
        assert!(
            self.faultable
                .as_ref()
                .is_none_or(|actors| actors.contains(actor)),
            "network fault on {actor}, which the world declared without network faults"
        );
        self.faults(actor)
    }

    /// The same network in front of `brokers` brokers (node ids 0..brokers, advertised at ports
    /// [`FIRST_PORT`], `FIRST_PORT + 1`, ...).
    pub fn with_brokers(mut self, brokers: i32) -> Self {
        self.brokers = brokers.max(1);
        self
    }

    fn faults(&self, actor: &str) -> Arc<Shared<FaultState>> {
        let mut actors = self.actors.lock().expect("network lock is never poisoned");
        actors.entry(actor.to_owned()).or_default().clone()
    }

    fn watch(&self, actor: &str) -> LinkWatch {
        let faults = self.faults(actor);
        let my_epoch = faults.get().epoch;
        let quiet = self
            .faultable
            .as_ref()
            .is_some_and(|actors| !actors.contains(actor));
        LinkWatch {
            faults,
            my_epoch,
            quiet,
        }
    }

    /// Opens a link for `actor` to the first broker: serves the broker end, starts the
    /// forwarding tasks (if the actor may get network faults) and returns the client end.
    pub fn connect(&self, actor: &str) -> io::Result<LinkStream> {
        self.connect_to(actor, 0)
    }

    /// Opens a link for `actor` to broker `node` (a broker that is down closes it at once).
    pub fn connect_to(&self, actor: &str, node: i32) -> io::Result<LinkStream> {
        let (client_end, link_client) = tokio::io::duplex(PIPE_BYTES);
        let watch = self.watch(actor);
        if watch.quiet {
            // No faults to apply: the broker serves the other end of the client's own pipe, and
            // the client's end records the requests it writes.
            let connection = self
                .broker
                .serve_connection_on(link_client, node)
                .map_err(|error| io::Error::new(io::ErrorKind::ConnectionRefused, error))?;
            self.recorder.connection(connection.0, actor);
            return Ok(LinkStream {
                stream: client_end,
                scanner: Some(RequestScanner::new(self.recorder.clone(), connection.0)),
            });
        }
        let (link_broker, broker_end) = tokio::io::duplex(PIPE_BYTES);
        let connection = self
            .broker
            .serve_connection_on(broker_end, node)
            .map_err(|error| io::Error::new(io::ErrorKind::ConnectionRefused, error))?;
        self.recorder.connection(connection.0, actor);
        let (client_read, client_write) = tokio::io::split(link_client);
        let (broker_read, broker_write) = tokio::io::split(link_broker);
        let scanner = RequestScanner::new(self.recorder.clone(), connection.0);
        // When either direction ends (a close, EOF, a disconnect), the whole link closes, as a TCP
        // connection does: both pipes are dropped and both peers see EOF.
        let closed = Arc::new(LinkClosed::default());
        tokio::spawn(forward(
            client_read,
            broker_write,
            watch,
            closed.clone(),
            Some(scanner),
        ));
        tokio::spawn(forward(
            broker_read,
            client_write,
            self.watch(actor),
            closed,
            None,
        ));
        Ok(LinkStream {
            stream: client_end,
            scanner: None,
        })
    }

    /// A connector for the client crate that opens links for `actor`.
    pub fn connector(
        &self,
        actor: &str,
    ) -> FnConnector<impl Fn(&str, u16) -> io::Result<LinkStream> + Send + Sync + 'static> {
        let network = self.clone();
        let actor = actor.to_owned();
        FnConnector::new(move |_host: &str, port: u16| {
            // Routed by port; any other port (a bootstrap address) reaches the first broker.
            let node = i32::from(port) - i32::from(FIRST_PORT);
            let node = if (0..network.brokers).contains(&node) {
                node
            } else {
                0
            };
            network.connect_to(&actor, node)
        })
    }

    /// Holds every byte of `actor`'s links until [`Network::heal`].
    pub fn partition(&self, actor: &str) {
        self.faults_to_change(actor)
            .update(|s| s.partitioned = true);
    }

    /// Adds `latency` to every chunk of `actor`'s links.
    pub fn set_latency(&self, actor: &str, latency: Duration) {
        self.faults_to_change(actor).update(|s| s.latency = latency);
    }

    /// Ends a partition and removes added latency.
    pub fn heal(&self, actor: &str) {
        self.faults_to_change(actor).update(|s| {
            s.partitioned = false;
            s.latency = Duration::ZERO;
        });
    }

    /// Closes every open link of `actor` (both ends). New connections work again.
    pub fn disconnect(&self, actor: &str) {
        self.faults_to_change(actor).update(|s| s.epoch += 1);
    }
}

/// Finds the request headers in the client-to-broker byte stream, so the trace can place each
/// request among the client-side events (by the moment its bytes reached the broker).
struct RequestScanner {
    recorder: Recorder,
    connection: u64,
    /// Bytes left of the current frame's body (after the 4-byte length).
    remaining: usize,
    /// The length prefix and the first header bytes (api key, version, correlation id).
    header: Vec<u8>,
}

impl RequestScanner {
    fn new(recorder: Recorder, connection: u64) -> Self {
        Self {
            recorder,
            connection,
            remaining: 0,
            header: Vec::with_capacity(12),
        }
    }

    fn scan(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.remaining > 0 && self.header.len() >= 12 {
                let n = self.remaining.min(bytes.len());
                self.remaining -= n;
                bytes = &bytes[n..];
                if self.remaining == 0 {
                    self.header.clear();
                }
                continue;
            }
            // Collect the length prefix and the first 8 header bytes.
            let want = 12 - self.header.len();
            let n = want.min(bytes.len());
            self.header.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.header.len() == 4 {
                let length = u32::from_be_bytes([
                    self.header[0],
                    self.header[1],
                    self.header[2],
                    self.header[3],
                ]);
                self.remaining = length as usize;
            }
            if self.header.len() == 12 {
                let length = u32::from_be_bytes([
                    self.header[0],
                    self.header[1],
                    self.header[2],
                    self.header[3],
                ]) as usize;
                let correlation_id = i32::from_be_bytes([
                    self.header[8],
                    self.header[9],
                    self.header[10],
                    self.header[11],
                ]);
                self.recorder.request_sent(self.connection, correlation_id);
                self.remaining = length.saturating_sub(8);
                if self.remaining == 0 {
                    self.header.clear();
                }
            }
        }
    }
}

/// The client's end of a link. On a quiet link (no forwarding tasks) it scans the bytes the
/// client writes, as the client-to-broker forwarding task does on the other links: a request is
/// recorded as sent when the pipe to the broker accepted its header.
#[derive(Debug)]
pub struct LinkStream {
    stream: DuplexStream,
    scanner: Option<RequestScanner>,
}

impl std::fmt::Debug for RequestScanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestScanner")
            .field("connection", &self.connection)
            .finish_non_exhaustive()
    }
}

impl AsyncRead for LinkStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for LinkStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = Pin::new(&mut this.stream).poll_write(cx, buf);
        if let (Poll::Ready(Ok(n)), Some(scanner)) = (&written, &mut this.scanner) {
            scanner.scan(&buf[..*n]);
        }
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        if let (Poll::Ready(Ok(n)), Some(scanner)) = (&written, &mut this.scanner) {
            let mut left = *n;
            for buf in bufs {
                let taken = left.min(buf.len());
                scanner.scan(&buf[..taken]);
                left -= taken;
            }
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Copies bytes from `from` to `to`, applying latency and partitions, until either side closes or
/// the actor is disconnected. Dropping both halves closes the pipe, so the peer sees EOF.
async fn forward(
    mut from: ReadHalf<DuplexStream>,
    mut to: WriteHalf<DuplexStream>,
    link: LinkWatch,
    closed: Arc<LinkClosed>,
    scanner: Option<RequestScanner>,
) {
    tokio::select! {
        biased;
        () = closed.kept_wait() => {}
        () = copy(&mut from, &mut to, link, scanner) => {}
    }
    closed.close();
    let _ = to.shutdown().await;
}

async fn copy(
    from: &mut ReadHalf<DuplexStream>,
    to: &mut WriteHalf<DuplexStream>,
    link: LinkWatch,
    mut scanner: Option<RequestScanner>,
) {
    let mut chunk = ChunkBuffer::take();
    let buffer = &mut chunk.0;
    loop {
        // A fresh disconnect wait per chunk, unlike the link's closed wait: where it sits in the
        // actor's `Notify` list (the order in which the links last went idle) is the order in
        // which a fault wakes them, which can show in the trace.
        let n = tokio::select! {
            biased;
            () = link.disconnected() => return,
            read = from.read(buffer) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
        };
        // One look at the actor's faults decides the common case without registering a waiter:
        // disconnected, return; no latency and no partition, forward now. This is what the
        // (biased) selects below conclude in the same poll when nothing is pending.
        let faults = link.faults.get();
        if faults.epoch != link.my_epoch {
            return;
        }
        if !faults.latency.is_zero() {
            tokio::select! {
                biased;
                () = link.disconnected() => return,
                () = tokio::time::sleep(faults.latency) => {}
            }
        }
        if !faults.latency.is_zero() || faults.partitioned {
            tokio::select! {
                biased;
                () = link.disconnected() => return,
                () = link.faults.wait_for(|s| !s.partitioned) => {}
            }
        }
        if let Some(scanner) = &mut scanner {
            scanner.scan(&buffer[..n]);
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}
