//! One framed Kafka connection over any `ByteStream`: correlation ids, pipelined requests,
//! responses matched by correlation id, and a timeout on every request.
//!
//! Owns: the stream (split into a reader task and a writer) and the table of requests awaiting a
//! response. A request's frame is written by its caller when the stream takes it whole at once
//! (an idle TCP socket, a simulated link); what the stream does not take at once goes to the
//! writer task, and later frames queue behind it, so frames never interleave or reorder. Callers
//! share a [`Connection`] by cloning it; the tasks end when the connection is closed
//! ([`Connection::close`], a timeout, a failed read or write, the peer closing) or when the last
//! clone is dropped. A closed connection stays closed: reconnecting is the owner's job
//! ([`crate::cluster`]).
//!
//! A request that times out closes the connection, as Kafka's `NetworkClient` does: the broker
//! processes one request at a time per connection, so a late response would hold up every request
//! behind it.
//!
//! Must not: read the wall clock (only `tokio::time`), block, or panic on anything a peer sends.

use std::pin::Pin;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use kmock_wire::kafka_protocol::messages::{ApiKey, ResponseHeader};
use kmock_wire::kafka_protocol::protocol::{Decodable, Request};
use kmock_wire::{FrameDecoder, WireError, encode_request};
use tokio::io::{AsyncReadExt, AsyncWrite, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, oneshot};

use crate::error::ClientError;
use crate::transport::BoxStream;

/// Largest response frame accepted (Kafka's clients have no limit; 100 MiB is plenty).
pub const MAX_RESPONSE_FRAME_BYTES: usize = kmock_wire::DEFAULT_MAX_FRAME_BYTES;

type Reply = oneshot::Sender<Result<Bytes, ClientError>>;

#[derive(Debug, Default)]
struct Pending {
    /// Why the connection closed, once it has.
    closed: Option<String>,
    /// Requests awaiting a response, by correlation id.
    waiting: Waiting,
}

/// Requests awaiting a response, in the order they were sent: what a map by correlation id was,
/// without a map node allocated and freed for every request of an otherwise idle connection.
/// Responses come back in request order (the broker answers one request at a time per
/// connection), so the one looked for is nearly always the first. Correlation ids are unique
/// among them: they are handed out in sequence and wrap only after 2^31 requests.
#[derive(Debug, Default)]
struct Waiting(std::collections::VecDeque<(i32, Reply)>);

impl Waiting {
    fn insert(&mut self, correlation_id: i32, reply: Reply) {
        self.0.push_back((correlation_id, reply));
    }

    fn remove(&mut self, correlation_id: i32) -> Option<Reply> {
        let index = self.0.iter().position(|(id, _)| *id == correlation_id)?;
        self.0.remove(index).map(|(_, reply)| reply)
    }

    /// Every request, in correlation id order (as the map gave them).
    fn take_all(&mut self) -> Vec<(i32, Reply)> {
        let mut all: Vec<_> = std::mem::take(&mut self.0).into();
        all.sort_by_key(|(id, _)| *id);
        all
    }
}

#[derive(Debug)]
struct Shared {
    address: String,
    pending: Mutex<Pending>,
    /// `true` once closed; wakes both tasks.
    shutdown: ShutdownSignal,
}

impl Shared {
    fn close(&self, reason: &str) {
        let waiting = {
            let mut pending = self.pending.lock().expect("pending lock is never poisoned");
            if pending.closed.is_none() {
                pending.closed = Some(reason.to_owned());
            }
            pending.waiting.take_all()
        };
        for (_, reply) in waiting {
            let _ = reply.send(Err(ClientError::ConnectionClosed {
                address: self.address.clone(),
                reason: reason.to_owned(),
            }));
        }
        self.shutdown.fire();
    }

    fn closed_error(&self, reason: String) -> ClientError {
        ClientError::ConnectionClosed {
            address: self.address.clone(),
            reason,
        }
    }
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    client_id: String,
    next_correlation_id: AtomicI32,
    writer: Arc<Mutex<Writer>>,
    /// Frames (or their unwritten rest) for the writer task.
    writes: mpsc::UnboundedSender<Bytes>,
}

/// The stream's write half, shared by callers (who write a frame themselves when the stream
/// takes all of it at once) and the writer task (which writes what it did not take).
struct Writer {
    half: WriteHalf<BoxStream>,
    /// Frames sent to the writer task and not yet written whole (and flushed). While there is
    /// one, callers queue behind it instead of writing.
    queued: usize,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("queued", &self.queued)
            .finish_non_exhaustive()
    }
}

impl Inner {
    /// Writes `frame` now if nothing is queued and the stream takes it whole without waiting;
    /// otherwise hands the rest of it to the writer task. Never waits, so a caller cancelled after
    /// this returns cannot leave half a frame on the stream. The hand-over happens under the
    /// writer's lock: two callers on two threads queue in the order they took it.
    fn write(&self, frame: Bytes) -> Result<(), String> {
        let mut writer = self.writer.lock().expect("writer lock is never poisoned");
        let rest = if writer.queued == 0 {
            write_now(&mut writer.half, frame)?
        } else {
            Some(frame)
        };
        if let Some(rest) = rest {
            self.writes
                .send(rest)
                .map_err(|_| "writer task ended".to_owned())?;
            writer.queued += 1;
        }
        Ok(())
    }
}

/// Writes as much of `frame` as `half` takes without waiting, then flushes. `Ok(None)` when all of
/// it was written and flushed; `Ok(Some(rest))` with what is left for the writer task (empty when
/// only the flush is).
fn write_now(half: &mut WriteHalf<BoxStream>, mut frame: Bytes) -> Result<Option<Bytes>, String> {
    // Whatever waker the stream keeps from these polls is replaced when the writer task polls it.
    match poll_write_frame(half, &mut Context::from_waker(Waker::noop()), &mut frame) {
        Poll::Ready(Ok(())) => Ok(None),
        Poll::Ready(Err(error)) => Err(format!("write failed: {error}")),
        Poll::Pending => Ok(Some(frame)),
    }
}

/// Writes `frame` to `half` and flushes, taking what was written off the front of `frame`:
/// `Pending` leaves the rest in it for the next poll.
fn poll_write_frame(
    half: &mut WriteHalf<BoxStream>,
    cx: &mut Context<'_>,
    frame: &mut Bytes,
) -> Poll<std::io::Result<()>> {
    while !frame.is_empty() {
        match std::task::ready!(Pin::new(&mut *half).poll_write(cx, frame)) {
            Ok(0) => return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into())),
            Ok(n) => {
                let _ = frame.split_to(n);
            }
            Err(error) => return Poll::Ready(Err(error)),
        }
    }
    Pin::new(half).poll_flush(cx)
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.close("connection dropped");
    }
}

/// A Kafka connection. Cheap to clone; all clones share the stream.
#[derive(Debug, Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

impl Connection {
    /// Takes over `stream` and spawns its reader and writer tasks. `address` names the peer in
    /// errors and logs.
    pub fn spawn(
        stream: BoxStream,
        address: impl Into<String>,
        client_id: impl Into<String>,
    ) -> Self {
        let shutdown = ShutdownSignal::default();
        let shared = Arc::new(Shared {
            address: address.into(),
            pending: Mutex::new(Pending::default()),
            shutdown,
        });
        let (read, write) = tokio::io::split(stream);
        let writer = Arc::new(Mutex::new(Writer {
            half: write,
            queued: 0,
        }));
        let (writes, writes_rx) = mpsc::unbounded_channel();
        tokio::spawn(read_loop(read, shared.clone()));
        tokio::spawn(write_loop(writer.clone(), writes_rx, shared.clone()));
        Self {
            inner: Arc::new(Inner {
                shared,
                client_id: client_id.into(),
                next_correlation_id: AtomicI32::new(1),
                writer,
                writes,
            }),
        }
    }

    /// The peer's address, as given to [`Connection::spawn`].
    pub fn address(&self) -> &str {
        &self.inner.shared.address
    }

    /// Whether the connection has closed (it never reopens).
    pub fn is_closed(&self) -> bool {
        self.inner.shared.shutdown.is_fired()
    }

    /// Resolves once the connection has closed.
    pub async fn closed(&self) {
        self.inner.shared.shutdown.wait().await;
    }

    /// Closes the connection: pending requests fail with [`ClientError::ConnectionClosed`].
    pub fn close(&self, reason: &str) {
        self.inner.shared.close(reason);
    }

    fn next_correlation_id(&self) -> i32 {
        // Wraps within the non-negative range.
        self.inner
            .next_correlation_id
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |id| {
                Some(if id == i32::MAX { 0 } else { id + 1 })
            })
            .expect("the update closure always returns Some")
    }

    /// Sends `body` at `api_version` and returns the raw response frame (header included), or an
    /// error after `timeout` (which also closes the connection).
    pub async fn round_trip<R: Request>(
        &self,
        body: &R,
        api_version: i16,
        timeout: Duration,
    ) -> Result<Bytes, ClientError> {
        let correlation_id = self.next_correlation_id();
        let frame = encode_request(
            body,
            api_version,
            correlation_id,
            Some(&self.inner.client_id),
        )?;
        let shared = &self.inner.shared;
        let (reply, response) = oneshot::channel();
        {
            let mut pending = shared
                .pending
                .lock()
                .expect("pending lock is never poisoned");
            if let Some(reason) = &pending.closed {
                return Err(shared.closed_error(reason.clone()));
            }
            pending.waiting.insert(correlation_id, reply);
        }
        if let Err(reason) = self.inner.write(frame) {
            shared.close(&reason);
        }
        match tokio::time::timeout(timeout, response).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(shared.closed_error("connection task ended".into())),
            Err(_) => {
                // Formatted here, not for every request: only a timeout needs the name.
                let api = api_name::<R>();
                tracing::debug!(address = %shared.address, %api, ?timeout, "request timed out; closing the connection");
                shared.close(&format!("{api} request timed out"));
                Err(ClientError::RequestTimeout {
                    api,
                    address: shared.address.clone(),
                    timeout,
                })
            }
        }
    }

    /// Sends `body` at `api_version` and decodes the response, within `timeout`.
    pub async fn send<R: Request>(
        &self,
        body: &R,
        api_version: i16,
        timeout: Duration,
    ) -> Result<R::Response, ClientError> {
        let frame = self.round_trip(body, api_version, timeout).await?;
        decode_response_body::<R>(api_version, frame)
    }

    /// Sends a request the broker does not answer (Produce with `acks=0`).
    pub fn send_without_response<R: Request>(
        &self,
        body: &R,
        api_version: i16,
    ) -> Result<(), ClientError> {
        let frame = encode_request(
            body,
            api_version,
            self.next_correlation_id(),
            Some(&self.inner.client_id),
        )?;
        let shared = &self.inner.shared;
        if let Some(reason) = &shared.pending.lock().expect("never poisoned").closed {
            return Err(shared.closed_error(reason.clone()));
        }
        self.inner.write(frame).map_err(|reason| {
            shared.close(&reason);
            shared.closed_error(reason)
        })
    }
}

/// The API name of a request type (`LeaveGroup`).
pub fn api_name<R: Request>() -> String {
    kmock_wire::api_name(R::KEY)
}

/// Decodes a response frame (header and body) of request type `R` at `api_version`.
pub fn decode_response_body<R: Request>(
    api_version: i16,
    mut frame: Bytes,
) -> Result<R::Response, ClientError> {
    let api_key =
        ApiKey::try_from(R::KEY).map_err(|()| ClientError::Protocol("unknown API key".into()))?;
    let header_version = api_key.response_header_version(api_version);
    let malformed = |what: &str, e: &dyn std::fmt::Display| {
        ClientError::Wire(WireError::Malformed {
            what: format!("{api_key:?} v{api_version} response {what}"),
            reason: format!("{e:#}"),
        })
    };
    ResponseHeader::decode(&mut frame, header_version).map_err(|e| malformed("header", &e))?;
    let body = R::Response::decode(&mut frame, api_version).map_err(|e| malformed("body", &e))?;
    if !frame.is_empty() {
        tracing::debug!(
            api = ?api_key,
            api_version,
            extra = frame.len(),
            "ignoring trailing bytes in a response"
        );
    }
    Ok(body)
}

async fn read_loop(mut read: ReadHalf<BoxStream>, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.kept_wait();
    let mut decoder = FrameDecoder::new(MAX_RESPONSE_FRAME_BYTES);
    loop {
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => deliver(&shared, frame),
                Ok(None) => break,
                Err(error) => {
                    shared.close(&format!("bad frame from the broker: {error}"));
                    return;
                }
            }
        }
        tokio::select! {
            biased;
            () = &mut shutdown => return,
            read = read.read_buf(decoder.buffer_mut()) => match read {
                Ok(0) => {
                    shared.close("closed by the broker");
                    return;
                }
                Ok(_) => {}
                Err(error) => {
                    shared.close(&format!("read failed: {error}"));
                    return;
                }
            },
        }
    }
}

/// Hands a response frame to the request waiting for its correlation id. Responses to requests
/// that gave up (timed out) are dropped.
fn deliver(shared: &Shared, frame: Bytes) {
    let Some(prefix) = frame.get(..4) else {
        shared.close("response frame shorter than its header");
        return;
    };
    let correlation_id = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    let reply = shared
        .pending
        .lock()
        .expect("pending lock is never poisoned")
        .waiting
        .remove(correlation_id);
    match reply {
        Some(reply) => {
            let _ = reply.send(Ok(frame));
        }
        None => tracing::debug!(
            address = %shared.address,
            correlation_id,
            "response nobody waits for (timed out?)"
        ),
    }
}

/// Writes what callers could not write at once ([`Inner::write`]), in order.
async fn write_loop(
    writer: Arc<Mutex<Writer>>,
    mut writes: mpsc::UnboundedReceiver<Bytes>,
    shared: Arc<Shared>,
) {
    let mut shutdown = shared.shutdown.kept_wait();
    loop {
        let mut frame = tokio::select! {
            biased;
            () = &mut shutdown => break,
            frame = writes.recv() => match frame {
                Some(frame) => frame,
                None => break,
            },
        };
        // The lock is taken per poll, never held while waiting.
        let written = tokio::select! {
            biased;
            () = &mut shutdown => break,
            written = std::future::poll_fn(|cx| {
                let mut writer = writer.lock().expect("writer lock is never poisoned");
                let written = std::task::ready!(poll_write_frame(&mut writer.half, cx, &mut frame));
                writer.queued -= 1;
                Poll::Ready(written)
            }) => written,
        };
        if let Err(error) = written {
            shared.close(&format!("write failed: {error}"));
            break;
        }
    }
}

/// A one-way "closed" flag with a wake-up for every waiter. Not a `watch` channel: tokio's watch
/// registers waiters on shards picked at random, so the order in which the reader, the writer and
/// `closed()` wake would differ between runs of the same simulation. `Notify` wakes in a fixed
/// order.
#[derive(Debug, Default)]
struct ShutdownSignal {
    fired: std::sync::atomic::AtomicBool,
    notify: tokio::sync::Notify,
}

impl ShutdownSignal {
    fn fire(&self) {
        self.fired.store(true, std::sync::atomic::Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    fn is_fired(&self) -> bool {
        self.fired.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Resolves once [`ShutdownSignal::fire`] was called (immediately if it already was).
    async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_fired() {
                return;
            }
            notified.await;
        }
    }

    /// A wait for [`ShutdownSignal::fire`] that a loop keeps across its iterations and polls in
    /// every `select!`: see [`KeptShutdownWait`].
    fn kept_wait(&self) -> KeptShutdownWait<'_> {
        KeptShutdownWait {
            signal: self,
            notified: Box::pin(self.notify.notified()),
            registered: false,
        }
    }
}

/// [`ShutdownSignal::wait`] for the reader and writer loops, which poll it every time they wake.
/// A fresh `wait()` per iteration joined the `Notify`'s waiters and left them again each time (two
/// locks and a list update per request and direction); this one joins once, at its first poll,
/// and afterwards only reads the flag. That is enough: the registered waiter keeps the task's
/// waker (the future never leaves its task), and `fire` sets the flag before it wakes anyone.
/// Only these two loops wait on a connection's signal (`closed()` aside, used by tests), and both
/// just end when it fires, so the order in which they wake is not observable.
struct KeptShutdownWait<'a> {
    signal: &'a ShutdownSignal,
    notified: std::pin::Pin<Box<tokio::sync::futures::Notified<'a>>>,
    registered: bool,
}

impl Future for KeptShutdownWait<'_> {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.signal.is_fired() {
            return std::task::Poll::Ready(());
        }
        if !self.registered {
            self.registered = true;
            if self.notified.as_mut().poll(cx).is_ready() {
                // Only `fire` notifies, and it sets the flag first.
                return std::task::Poll::Ready(());
            }
        }
        std::task::Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmock_wire::kafka_protocol::messages::{
        ApiVersionsRequest, HeartbeatRequest, HeartbeatResponse, ResponseKind,
    };
    use kmock_wire::kafka_protocol::protocol::StrBytes;
    use kmock_wire::{RequestPrefix, encode_response};
    use tokio::io::{AsyncRead, AsyncWriteExt, DuplexStream};

    /// Reads one request frame body from the broker side of a duplex pipe (one request in flight
    /// at a time, so no bytes of a later frame are lost).
    async fn read_request(server: &mut DuplexStream) -> Bytes {
        let mut decoder = FrameDecoder::new(1 << 20);
        loop {
            if let Some(frame) = decoder.next_frame().unwrap() {
                return frame;
            }
            let read = server.read_buf(decoder.buffer_mut()).await.unwrap();
            assert!(read > 0, "the client closed the connection");
        }
    }

    /// Reads `n` request frame bodies.
    async fn read_requests(server: &mut DuplexStream, n: usize) -> Vec<Bytes> {
        read_requests_after(server, &[], n).await
    }

    /// Reads `n` request frame bodies, the first starting with `head` (bytes already read).
    async fn read_requests_after(server: &mut DuplexStream, head: &[u8], n: usize) -> Vec<Bytes> {
        let mut decoder = FrameDecoder::new(1 << 20);
        decoder.buffer_mut().extend_from_slice(head);
        let mut frames = Vec::new();
        while frames.len() < n {
            if let Some(frame) = decoder.next_frame().unwrap() {
                frames.push(frame);
                continue;
            }
            let read = server.read_buf(decoder.buffer_mut()).await.unwrap();
            assert!(read > 0, "the client closed the connection");
        }
        frames
    }

    fn heartbeat_response(correlation_id: i32, error_code: i16) -> Bytes {
        encode_response(
            ApiKey::Heartbeat,
            4,
            correlation_id,
            &ResponseKind::Heartbeat(HeartbeatResponse::default().with_error_code(error_code)),
        )
        .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn responses_are_matched_by_correlation_id() {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let connection = Connection::spawn(Box::new(client), "test:1", "c");
        let timeout = Duration::from_secs(5);
        let heartbeat = HeartbeatRequest::default();
        let first = connection.send(&heartbeat, 4, timeout);
        let second = connection.send(&heartbeat, 4, timeout);
        let broker = async {
            let frames = read_requests(&mut server, 2).await;
            let a = RequestPrefix::peek(&frames[0]).unwrap();
            let b = RequestPrefix::peek(&frames[1]).unwrap();
            // Answer out of order, with different error codes.
            server
                .write_all(&heartbeat_response(b.correlation_id, 27))
                .await
                .unwrap();
            server
                .write_all(&heartbeat_response(a.correlation_id, 0))
                .await
                .unwrap();
        };
        let (first, second, ()) = tokio::join!(first, second, broker);
        assert_eq!(first.unwrap().error_code, 0);
        assert_eq!(second.unwrap().error_code, 27);
    }

    /// A pipe that takes 7 bytes at a time: no frame fits, so the first frame's rest goes to the
    /// writer task and the later ones queue behind it, whole and in order. The group ids differ in
    /// length so that a frame cut or interleaved with another would not decode as the one sent.
    #[tokio::test(start_paused = true)]
    async fn frames_a_stream_does_not_take_at_once_arrive_whole_and_in_order() {
        let (client, mut server) = tokio::io::duplex(7);
        let connection = Connection::spawn(Box::new(client), "test:1", "c");
        let timeout = Duration::from_secs(5);
        let requests: Vec<HeartbeatRequest> = (0..4)
            .map(|i| {
                HeartbeatRequest::default()
                    .with_group_id(StrBytes::from_string("g".repeat(10 + 30 * i)).into())
            })
            .collect();
        let sends = futures_join_all(requests.iter().map(|r| connection.send(r, 4, timeout)));
        let broker = async {
            let frames = read_requests(&mut server, requests.len()).await;
            for (i, frame) in frames.iter().enumerate() {
                let body = answer_heartbeat(&mut server, frame, i as i16).await;
                assert_eq!(body.group_id, requests[i].group_id, "frame {i}");
            }
        };
        let (results, ()) = tokio::join!(sends, broker);
        for (i, result) in results.into_iter().enumerate() {
            assert_eq!(result.unwrap().error_code, i as i16);
        }
        // Once the writer task caught up, a frame that fits is written by its caller again:
        // whole, during the send's first poll, before any other task runs.
        let after = connection.send(&requests[0], 4, timeout);
        tokio::pin!(after);
        let mut frame = [0u8; 64];
        let read = std::future::poll_fn(|cx| {
            assert!(after.as_mut().poll(cx).is_pending());
            let mut buf = tokio::io::ReadBuf::new(&mut frame);
            let mut noop = Context::from_waker(Waker::noop());
            assert!(matches!(
                Pin::new(&mut server).poll_read(&mut noop, &mut buf),
                Poll::Ready(Ok(()))
            ));
            Poll::Ready(buf.filled().len())
        })
        .await;
        assert_eq!(
            read, 7,
            "the pipe takes 7 bytes: the caller wrote as much as it could"
        );
        let head = frame[..read].to_vec();
        let broker = async {
            let frames = read_requests_after(&mut server, &head, 1).await;
            answer_heartbeat(&mut server, &frames[0], 9).await;
        };
        let (after, ()) = tokio::join!(after, broker);
        assert_eq!(after.unwrap().error_code, 9);
    }

    /// The case the writer's queue exists for: a frame is half written by the writer task, the
    /// peer reads some of it (so the pipe has room again), and a caller sends the next frame
    /// before the writer task runs. Written at once, it would land inside the first frame.
    #[tokio::test(start_paused = true)]
    async fn a_frame_sent_while_an_earlier_one_is_half_written_waits_for_it() {
        let (client, mut server) = tokio::io::duplex(64);
        let connection = Connection::spawn(Box::new(client), "test:1", "c");
        let timeout = Duration::from_secs(5);
        let group = |n: usize| StrBytes::from_string("g".repeat(n)).into();
        let first = HeartbeatRequest::default().with_group_id(group(200));
        let second = HeartbeatRequest::default().with_group_id(group(3));
        let first_send = tokio::spawn({
            let connection = connection.clone();
            async move { connection.send(&first, 4, timeout).await }
        });
        // The spawned send writes the first 64 bytes and hands the rest to the writer task.
        tokio::task::yield_now().await;
        let mut head = [0u8; 16];
        server.read_exact(&mut head).await.unwrap();
        // The pipe has 16 bytes of room; the writer task has not run since.
        let second_send = connection.send(&second, 4, timeout);
        tokio::pin!(second_send);
        std::future::poll_fn(|cx| {
            assert!(second_send.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        let broker = async {
            let frames = read_requests_after(&mut server, &head, 2).await;
            for (frame, (length, code)) in frames.iter().zip([(200, 1), (3, 2)]) {
                let body = answer_heartbeat(&mut server, frame, code).await;
                assert_eq!(body.group_id.len(), length);
            }
        };
        let (second_result, ()) = tokio::join!(second_send, broker);
        assert_eq!(first_send.await.unwrap().unwrap().error_code, 1);
        assert_eq!(second_result.unwrap().error_code, 2);
    }

    /// Callers on several threads over a pipe that takes 64 bytes at a time: some frames are
    /// written by their callers, some by the writer task, and every one still arrives whole.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn callers_on_many_threads_never_interleave_frames() {
        const CALLERS: usize = 8;
        const REQUESTS: usize = 1000;
        let (client, mut server) = tokio::io::duplex(64);
        let connection = Connection::spawn(Box::new(client), "test:1", "c");
        let broker = tokio::spawn(async move {
            let mut decoder = FrameDecoder::new(1 << 20);
            for _ in 0..CALLERS * REQUESTS {
                let frame = loop {
                    if let Some(frame) = decoder.next_frame().unwrap() {
                        break frame;
                    }
                    assert!(server.read_buf(decoder.buffer_mut()).await.unwrap() > 0);
                };
                let body = answer_heartbeat(&mut server, &frame, 0).await;
                // Each caller's group id is its own letter, repeated: a cut frame would not
                // decode, a spliced one would mix letters.
                let id = body.group_id.as_str();
                assert!(id.chars().all(|c| id.starts_with(c)), "{id:?}");
            }
        });
        let callers: Vec<_> = (0..CALLERS)
            .map(|caller| {
                let connection = connection.clone();
                tokio::spawn(async move {
                    let letter = char::from(b'a' + caller as u8).to_string();
                    for i in 0..REQUESTS {
                        let group = StrBytes::from_string(letter.repeat(1 + (i * 7 + caller) % 90));
                        let request = HeartbeatRequest::default().with_group_id(group.into());
                        let response = connection
                            .send(&request, 4, Duration::from_secs(30))
                            .await
                            .unwrap();
                        assert_eq!(response.error_code, 0);
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.await.unwrap();
        }
        broker.await.unwrap();
    }

    /// Decodes `frame` as a Heartbeat request (panics if it is not one), answers it with
    /// `error_code` and returns its body.
    async fn answer_heartbeat(
        server: &mut DuplexStream,
        frame: &Bytes,
        error_code: i16,
    ) -> HeartbeatRequest {
        let decoded = kmock_wire::decode_request(frame.clone()).unwrap();
        let kmock_wire::kafka_protocol::messages::RequestKind::Heartbeat(body) = decoded.body
        else {
            panic!("not a Heartbeat: {decoded:?}");
        };
        server
            .write_all(&heartbeat_response(
                decoded.header.correlation_id,
                error_code,
            ))
            .await
            .unwrap();
        body
    }

    /// Polls every future to completion, concurrently, in order of the results.
    async fn futures_join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
        let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
        let mut results: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
        std::future::poll_fn(|cx| {
            let mut all = true;
            for (future, result) in futures.iter_mut().zip(results.iter_mut()) {
                if result.is_none() {
                    match future.as_mut().poll(cx) {
                        Poll::Ready(output) => *result = Some(output),
                        Poll::Pending => all = false,
                    }
                }
            }
            if all { Poll::Ready(()) } else { Poll::Pending }
        })
        .await;
        results
            .into_iter()
            .map(|r| r.expect("every future ended"))
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_is_typed_and_closes_the_connection() {
        let (client, _server) = tokio::io::duplex(1 << 16);
        let connection = Connection::spawn(Box::new(client), "test:1", "c");
        let started = tokio::time::Instant::now();
        let error = connection
            .send(&HeartbeatRequest::default(), 4, Duration::from_secs(3))
            .await
            .unwrap_err();
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        assert!(
            matches!(&error, ClientError::RequestTimeout { api, .. } if api == "Heartbeat"),
            "{error:?}"
        );
        assert!(connection.is_closed());
        let error = connection
            .send(&HeartbeatRequest::default(), 4, Duration::from_secs(3))
            .await
            .unwrap_err();
        assert!(
            matches!(error, ClientError::ConnectionClosed { .. }),
            "{error:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_peer_closing_fails_pending_requests_at_once() {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let connection = Connection::spawn(Box::new(client), "test:1", "c");
        let api_versions = ApiVersionsRequest::default();
        let request = connection.send(&api_versions, 0, Duration::from_secs(30));
        let broker = async move {
            read_request(&mut server).await;
            drop(server);
        };
        let (result, ()) = tokio::join!(request, broker);
        assert!(
            matches!(result, Err(ClientError::ConnectionClosed { .. })),
            "{result:?}"
        );
        connection.closed().await;
    }

    #[tokio::test(start_paused = true)]
    async fn garbage_from_the_peer_is_an_error_not_a_panic() {
        let (client, mut server) = tokio::io::duplex(1 << 16);
        let connection = Connection::spawn(Box::new(client), "test:1", "c");
        let api_versions = ApiVersionsRequest::default();
        let request = connection.send(&api_versions, 3, Duration::from_secs(30));
        let broker = async move {
            let prefix = RequestPrefix::peek(&read_request(&mut server).await).unwrap();
            let mut frame = Vec::new();
            frame.extend_from_slice(&7i32.to_be_bytes());
            frame.extend_from_slice(&prefix.correlation_id.to_be_bytes());
            frame.extend_from_slice(&[0xff, 0xff, 0xff]);
            server.write_all(&frame).await.unwrap();
            server
        };
        let (result, _server) = tokio::join!(request, broker);
        assert!(matches!(result, Err(ClientError::Wire(_))), "{result:?}");
    }
}
