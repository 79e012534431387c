//! The runtime control API of `kmock serve --control-port N`: HTTP/1.1 + JSON on loopback, so
//! tests in any language can change fault rules in the middle of a test, read the request log,
//! look at topics and groups, and reset the broker between tests.
//!
//! A small hand-written HTTP/1.1 server over tokio (no HTTP crate: a handful of routes, strict
//! limits; why not hyper: ARCHITECTURE.md): request line + headers at most 16 KiB (431), body at
//! most 1 MiB (413, answered before the body is read), a body needs `Content-Length` (no chunked
//! encoding: 411), keep-alive supported. Time limits: an idle keep-alive connection is closed
//! after 60 s; a request must arrive whole within 10 s of its first byte, else 408 and close; an
//! answer must be written within 10 s. `HEAD` is `GET` without the body (same Content-Length);
//! `Expect: 100-continue` gets `100 Continue` before the body is read (another expectation:
//! 417). Status lines carry RFC 9110's reason phrases. Every error is JSON `{"error": "..."}`
//! saying what is wrong.
//!
//! | Method and path | Effect |
//! |---|---|
//! | `GET /faults` | installed rules in evaluation order, with their counters |
//! | `POST /faults` `{"spec": "leave_group:delay=60s"}` | installs a rule after the others → `{"id": N, "spec": ...}` |
//! | `DELETE /faults/{id}` | removes one rule (404 if unknown) |
//! | `DELETE /faults` | removes every rule |
//! | `GET /requests?since=&api=&client_id=&group=&transactional_id=&limit=` | request log entries, oldest first, and `next` (the `since` of the next poll) |
//! | `GET /topics` | topics with partitions, high watermarks, log start offsets and config overrides |
//! | `POST /retention` `{"topic": "t"}` (or no body: every topic) | applies retention and compaction now, as each topic's configs say; reports what was removed |
//! | `GET /groups`, `GET /groups/{id}` | groups of both protocols, in id order, with their `type`: `classic` (state, generation, leader, members and their assignments) or `consumer` (KIP-848: state, group and assignment epochs, assignor, members with their epochs, owned, pending and target partitions) |
//! | `GET /transactions`, `GET /transactions/{id}` | transactional ids: producer id and epoch, the state of the (last) transaction, the partitions and groups of an open one |
//! | `POST /reset` | back to the state right after start (topics and faults given at start; no groups; empty request log), after answering or closing every request in flight ([`kmock_core::BrokerCore::reset`]) |
//!
//! The routes are thin: each calls one [`MockBroker`] method and renders its answer as JSON.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use kmock_broker::{
    ConsumerGroupSummary, ConsumerMemberSummary, FaultRule, FaultRuleId, GroupSummary, LogEntry,
    MemberSummary, MockBroker, MockBrokerError, RetentionReport, TopicSummary, TransactionSummary,
};
use kmock_wire::kafka_protocol::messages::ConsumerProtocolAssignment;
use kmock_wire::kafka_protocol::protocol::Decodable;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// Largest request line + headers.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Largest body.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// An idle keep-alive connection is closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A request must arrive whole (head and body) within this long of its first byte.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// An answer must be written within this long.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most request log entries in one answer unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 10_000;

/// The control API's state: the broker (whose [`kmock_broker::Startup`] `POST /reset` restores).
pub struct Control {
    broker: Arc<MockBroker>,
}

/// Serves the control API on `listener` until the process ends.
pub async fn serve(listener: TcpListener, broker: Arc<MockBroker>) {
    serve_with(listener, broker, Timeouts::default()).await;
}

/// [`serve`] with other timeouts (tests).
pub async fn serve_with(listener: TcpListener, broker: Arc<MockBroker>, timeouts: Timeouts) {
    let control = Arc::new(Control { broker });
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let control = control.clone();
                tokio::spawn(async move {
                    if let Err(error) = connection(stream, control, timeouts).await {
                        tracing::debug!(%error, "control connection ended");
                    }
                });
            }
            Err(error) => {
                tracing::warn!(%error, "control API: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// An HTTP answer.
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    fn ok(body: Value) -> Self {
        Self { status: 200, body }
    }

    fn error(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({ "error": message.into() }),
        }
    }
}

/// The reason phrase of `status` (RFC 9110 §15; 431 from RFC 6585) for every status this server
/// sends (a test scans this file for them); any other gets an empty phrase, which RFC 9112 §4
/// allows.
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// A parsed request.
struct Request {
    method: String,
    target: String,
    body: Bytes,
    close: bool,
}

/// A request line and headers, parsed.
struct Head {
    method: String,
    target: String,
    /// `Connection: close`, or HTTP/1.0 without `Connection: keep-alive`.
    close: bool,
    content_length: usize,
    /// `Expect: 100-continue` from an HTTP/1.1 client (an HTTP/1.0 client gets no interim
    /// response, RFC 9110 §10.1.1).
    expect_continue: bool,
}

/// When the request being read must be complete.
#[derive(Debug, Clone, Copy)]
struct Deadline {
    at: Instant,
    /// How long that is from the request's first byte (for the 408 message).
    allowed: Duration,
}

impl Deadline {
    /// 408 Request Timeout: `what` was still missing at the deadline.
    fn missed(self, what: &str) -> Incoming {
        Incoming::Reject(Answer::error(
            408,
            format!(
                "{what} did not arrive within {} ms of the request's first byte",
                self.allowed.as_millis()
            ),
        ))
    }
}

/// What reading the next request on a connection came to.
enum Incoming {
    Request(Request),
    /// The client closed the connection or left it idle past [`Timeouts::idle`]: close quietly.
    Closed,
    /// A request that cannot be served (malformed, too large, too slow): send this, then close.
    Reject(Answer),
}

/// How long a client may take; a peer controls all of these, so each has a limit.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Between requests on a keep-alive connection (until the first byte of the next one).
    pub idle: Duration,
    /// From the first byte of a request to its last: a client that sends part of a request and
    /// stalls gets 408 Request Timeout and the connection is closed.
    pub request: Duration,
    /// Writing one answer (or a `100 Continue`) to a client that does not read.
    pub write: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            idle: IDLE_TIMEOUT,
            request: REQUEST_TIMEOUT,
            write: WRITE_TIMEOUT,
        }
    }
}

/// Serves one connection: requests one at a time, each answered before the next is read.
async fn connection(
    mut stream: TcpStream,
    control: Arc<Control>,
    timeouts: Timeouts,
) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    loop {
        match read_request(&mut stream, &mut buffer, timeouts).await? {
            Incoming::Closed => return Ok(()),
            Incoming::Reject(answer) => {
                write_answer(&mut stream, &answer, true, false, timeouts).await?;
                return Ok(());
            }
            Incoming::Request(mut request) => {
                // HEAD is GET without the body (RFC 9110 §9.3.2): routed as GET, answered with
                // the headers the GET would have, Content-Length included.
                let head_only = request.method == "HEAD";
                if head_only {
                    "GET".clone_into(&mut request.method);
                }
                let answer = control.handle(&request).await;
                write_answer(&mut stream, &answer, request.close, head_only, timeouts).await?;
                if request.close {
                    return Ok(());
                }
            }
        }
    }
}

/// Reads the next request: waits up to [`Timeouts::idle`] for its first byte, then gives the
/// whole request [`Timeouts::request`].
async fn read_request(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    timeouts: Timeouts,
) -> std::io::Result<Incoming> {
    if buffer.is_empty() {
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout(timeouts.idle, stream.read(&mut chunk)).await {
            Ok(read) => match read? {
                0 => return Ok(Incoming::Closed),
                n => buffer.extend_from_slice(&chunk[..n]),
            },
            Err(_) => return Ok(Incoming::Closed),
        }
    }
    let deadline = Deadline {
        at: Instant::now() + timeouts.request,
        allowed: timeouts.request,
    };
    let head = match read_head(stream, buffer, deadline).await? {
        Ok(head) => head,
        Err(incoming) => return Ok(incoming),
    };
    let head = match parse_head(&head) {
        Ok(head) => head,
        Err(answer) => return Ok(Incoming::Reject(answer)),
    };
    if head.content_length > MAX_BODY_BYTES {
        // Refused before the body is read (or, with `Expect: 100-continue`, sent).
        return Ok(Incoming::Reject(Answer::error(
            413,
            format!(
                "body of {} bytes exceeds {MAX_BODY_BYTES}",
                head.content_length
            ),
        )));
    }
    if head.expect_continue && buffer.len() < head.content_length {
        send(stream, b"HTTP/1.1 100 Continue\r\n\r\n", timeouts).await?;
    }
    let body = match read_body(stream, buffer, head.content_length, deadline).await? {
        Ok(body) => body,
        Err(incoming) => return Ok(incoming),
    };
    Ok(Incoming::Request(Request {
        method: head.method,
        target: head.target,
        body,
        close: head.close,
    }))
}

/// The request line and headers (up to the blank line), removed from `buffer`.
async fn read_head(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    deadline: Deadline,
) -> std::io::Result<Result<String, Incoming>> {
    let too_large = || {
        Incoming::Reject(Answer::error(
            431,
            format!("request line and headers exceed {MAX_HEAD_BYTES} bytes"),
        ))
    };
    let head_end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buffer.len() > MAX_HEAD_BYTES {
            return Ok(Err(too_large()));
        }
        match read_some(stream, buffer, deadline).await? {
            Some(0) => return Ok(Err(Incoming::Closed)),
            Some(_) => {}
            None => return Ok(Err(deadline.missed("the request line and headers"))),
        }
    };
    if head_end > MAX_HEAD_BYTES {
        return Ok(Err(too_large()));
    }
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    buffer.drain(..head_end + 4);
    Ok(Ok(head))
}

/// Parses the request line and the headers this server reads (`Content-Length`,
/// `Transfer-Encoding`, `Connection`, `Expect`).
fn parse_head(head: &str) -> Result<Head, Answer> {
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Answer::error(
            400,
            format!("malformed request line {request_line:?}: expected METHOD PATH HTTP/1.1"),
        ));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(Answer::error(
            400,
            format!("unsupported protocol {version:?}: expected HTTP/1.1"),
        ));
    }
    let http_1_0 = version == "HTTP/1.0";
    let mut parsed = Head {
        method: method.to_owned(),
        target: target.to_owned(),
        close: http_1_0,
        content_length: 0,
        expect_continue: false,
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(Answer::error(
                400,
                format!("malformed header line {line:?}"),
            ));
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                parsed.content_length = value
                    .parse()
                    .map_err(|_| Answer::error(400, format!("bad Content-Length {value:?}")))?;
            }
            "transfer-encoding" => {
                return Err(Answer::error(
                    411,
                    "chunked bodies are not supported: send Content-Length",
                ));
            }
            "connection" => {
                let value = value.to_ascii_lowercase();
                if value.contains("close") {
                    parsed.close = true;
                } else if value.contains("keep-alive") {
                    parsed.close = false;
                }
            }
            "expect" => {
                if !value.eq_ignore_ascii_case("100-continue") {
                    return Err(Answer::error(
                        417,
                        format!("unsupported expectation {value:?}: only 100-continue is"),
                    ));
                }
                parsed.expect_continue = !http_1_0;
            }
            _ => {}
        }
    }
    Ok(parsed)
}

/// The body (`length` bytes), removed from `buffer`.
async fn read_body(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    length: usize,
    deadline: Deadline,
) -> std::io::Result<Result<Bytes, Incoming>> {
    while buffer.len() < length {
        match read_some(stream, buffer, deadline).await? {
            Some(0) => {
                return Ok(Err(Incoming::Reject(Answer::error(
                    400,
                    "connection closed before the whole body (Content-Length) arrived",
                ))));
            }
            Some(_) => {}
            None => return Ok(Err(deadline.missed("the body"))),
        }
    }
    let body = Bytes::copy_from_slice(&buffer[..length]);
    buffer.drain(..length);
    Ok(Ok(body))
}

/// Appends what arrives by `deadline` to `buffer`: `Some(0)` at the end of the stream, `None`
/// when the deadline passed.
async fn read_some(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    deadline: Deadline,
) -> std::io::Result<Option<usize>> {
    let mut chunk = [0u8; 8192];
    match tokio::time::timeout_at(deadline.at, stream.read(&mut chunk)).await {
        Ok(read) => {
            let n = read?;
            buffer.extend_from_slice(&chunk[..n]);
            Ok(Some(n))
        }
        Err(_) => Ok(None),
    }
}

/// Writes `answer`; for a HEAD request (`head_only`) the headers only, with the Content-Length
/// of the body a GET would get.
async fn write_answer(
    stream: &mut TcpStream,
    answer: &Answer,
    close: bool,
    head_only: bool,
    timeouts: Timeouts,
) -> std::io::Result<()> {
    let mut body = serde_json::to_vec_pretty(&answer.body).unwrap_or_default();
    body.push(b'\n');
    let mut message = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        answer.status,
        reason(answer.status),
        body.len(),
        if close { "close" } else { "keep-alive" }
    )
    .into_bytes();
    if !head_only {
        message.extend_from_slice(&body);
    }
    send(stream, &message, timeouts).await
}

/// Writes and flushes `bytes` within [`Timeouts::write`].
async fn send(stream: &mut TcpStream, bytes: &[u8], timeouts: Timeouts) -> std::io::Result<()> {
    let write = async {
        stream.write_all(bytes).await?;
        stream.flush().await
    };
    tokio::time::timeout(timeouts.write, write)
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client did not read the answer",
            )
        })?
}

/// `a=1&b=x` → pairs (percent-decoded; `+` is a space in a query, not in a path).
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `api=` filter of `GET /requests`: a key number (also unknown keys, which the log records) or
/// an API name in any spelling (`leave_group`, `LeaveGroup`).
fn parse_api_filter(text: &str) -> Result<i16, String> {
    if let Ok(key) = text.parse::<i16>() {
        return Ok(key);
    }
    kmock_wire::api_key_by_name(text)
        .map(|key| key as i16)
        .ok_or_else(|| {
            format!("unknown API {text:?} in api=: use a name such as leave_group or a key number")
        })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn entry_json(entry: &LogEntry) -> Value {
    json!({
        "seq": entry.seq,
        "time_ms": ms(entry.time.since_start()),
        "connection": entry.connection.0,
        "client_id": entry.client_id,
        "api": entry.api_name(),
        "api_key": entry.api_key,
        "api_version": entry.api_version,
        "correlation_id": entry.correlation_id,
        "group": entry.group_id(),
        "transactional_ids": entry.transactional_ids(),
        "fault": entry.fault,
        "response_time_ms": entry.response_time.map(|at| ms(at.since_start())),
        "outcome": entry.outcome,
        "trailing_bytes": entry.trailing_bytes,
    })
}

/// The consumer-protocol assignment as `{topic: [partitions]}`, or `null` if it is not one.
fn assignment_json(bytes: &Bytes) -> Value {
    if bytes.len() < 2 {
        return Value::Null;
    }
    let mut body = bytes.clone();
    let version = body.get_i16().clamp(0, 3);
    match ConsumerProtocolAssignment::decode(&mut body, version) {
        Ok(assignment) => {
            let mut topics = serde_json::Map::new();
            for topic in assignment.assigned_partitions {
                topics.insert(topic.topic.to_string(), json!(topic.partitions));
            }
            Value::Object(topics)
        }
        Err(_) => Value::Null,
    }
}

fn member_json(member: &MemberSummary) -> Value {
    json!({
        "member_id": member.member_id,
        "group_instance_id": member.group_instance_id,
        "client_id": member.client_id,
        "session_timeout_ms": member.session_timeout_ms,
        "rebalance_timeout_ms": member.rebalance_timeout_ms,
        "assignment": assignment_json(&member.assignment),
        "awaiting_join": member.awaiting_join,
        "awaiting_sync": member.awaiting_sync,
    })
}

fn group_json(group: &GroupSummary) -> Value {
    json!({
        "group_id": group.group_id,
        "type": "classic",
        "state": format!("{:?}", group.state),
        "generation": group.generation_id,
        "protocol_type": group.protocol_type,
        "protocol": group.protocol_name,
        "leader": group.leader_id,
        "members": group.members.iter().map(member_json).collect::<Vec<_>>(),
        "pending_members": group.pending_member_ids,
        "committed_offsets": group.committed_offsets.iter().map(|o| json!({
            "topic": o.topic, "partition": o.partition, "offset": o.offset,
        })).collect::<Vec<_>>(),
    })
}

fn partitions_json(partitions: &[(String, i32)]) -> Value {
    let mut topics = serde_json::Map::new();
    for (topic, partition) in partitions {
        let entry = topics.entry(topic.clone()).or_insert_with(|| json!([]));
        if let Value::Array(list) = entry {
            list.push(json!(partition));
        }
    }
    Value::Object(topics)
}

fn consumer_member_json(member: &ConsumerMemberSummary) -> Value {
    json!({
        "member_id": member.member_id,
        "instance_id": member.instance_id,
        "client_id": member.client_id,
        "member_epoch": member.member_epoch,
        "state": member.state.name(),
        "subscribed_topic_names": member.subscribed_topic_names,
        "subscribed_topic_regex": member.subscribed_topic_regex,
        "assignment": partitions_json(&member.assigned),
        "pending_revocation": partitions_json(&member.pending_revocation),
        "target_assignment": partitions_json(&member.target),
    })
}

fn consumer_group_json(group: &ConsumerGroupSummary) -> Value {
    json!({
        "group_id": group.group_id,
        "type": "consumer",
        "state": group.state.name(),
        "protocol_type": "consumer",
        "group_epoch": group.group_epoch,
        "assignment_epoch": group.assignment_epoch,
        "assignor": group.assignor,
        "members": group.members.iter().map(consumer_member_json).collect::<Vec<_>>(),
        "committed_offsets": group.committed_offsets.iter().map(|o| json!({
            "topic": o.topic, "partition": o.partition, "offset": o.offset,
        })).collect::<Vec<_>>(),
    })
}

fn topic_json(topic: &TopicSummary) -> Value {
    json!({
        "name": topic.name,
        "id": topic.topic_id.to_string(),
        "partitions": topic.high_watermarks.len(),
        "high_watermarks": topic.high_watermarks,
        "log_start_offsets": topic.log_start_offsets,
        "configs": topic.configs,
    })
}

fn transaction_json(txn: &TransactionSummary) -> Value {
    json!({
        "transactional_id": txn.transactional_id,
        "producer_id": txn.producer_id,
        "producer_epoch": txn.producer_epoch,
        "state": txn.state.name(),
        "timeout_ms": txn.timeout_ms,
        "started_ms": txn.started.map(|at| ms(at.since_start())),
        "partitions": txn.partitions.iter().map(|(topic, partition)| json!({
            "topic": topic, "partition": partition,
        })).collect::<Vec<_>>(),
        "groups": txn.groups,
    })
}

const ROUTES: &str = "GET /faults | POST /faults {\"spec\": \"leave_group:delay=60s\"} | DELETE /faults/{id} | DELETE /faults | GET /requests?since=&api=&client_id=&group=&transactional_id=&limit= | GET /topics | POST /retention {\"topic\": \"t\"} | GET /groups | GET /groups/{id} | GET /transactions | GET /transactions/{id} | POST /reset";

fn retention_json(report: &RetentionReport) -> Value {
    json!({
        "partitions": report.partitions.iter().map(|p| json!({
            "topic": p.topic,
            "partition": p.partition,
            "log_start_offset_before": p.log_start_offset_before,
            "log_start_offset": p.log_start_offset,
            "deleted_batches": p.deleted_batches,
            "compacted_records": p.compacted_records,
        })).collect::<Vec<_>>(),
    })
}

fn stopped() -> Answer {
    Answer::error(503, "the broker has stopped")
}

/// The answer for a broker call that failed (the broker stopped, or an unknown fault id).
fn failed(error: &MockBrokerError) -> Answer {
    match error {
        MockBrokerError::Stopped => stopped(),
        MockBrokerError::UnknownFault(id) => {
            Answer::error(404, format!("no fault {id} (see GET /faults)"))
        }
        other => Answer::error(500, other.to_string()),
    }
}

/// `{key: [items as JSON]}`, or the failure.
fn list_json<T>(
    key: &str,
    items: Result<Vec<T>, MockBrokerError>,
    to_json: fn(&T) -> Value,
) -> Answer {
    match items {
        Ok(items) => Answer::ok(json!({ key: items.iter().map(to_json).collect::<Vec<_>>() })),
        Err(error) => failed(&error),
    }
}

impl Control {
    /// `GET /groups`: classic and KIP-848 consumer groups together, in group id order.
    async fn groups(&self) -> Answer {
        let classic = match self.broker.groups().await {
            Ok(groups) => groups,
            Err(error) => return failed(&error),
        };
        let consumer = match self.broker.consumer_groups().await {
            Ok(groups) => groups,
            Err(error) => return failed(&error),
        };
        let mut all: Vec<(String, Value)> = classic
            .iter()
            .map(|g| (g.group_id.clone(), group_json(g)))
            .chain(
                consumer
                    .iter()
                    .map(|g| (g.group_id.clone(), consumer_group_json(g))),
            )
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Answer::ok(json!({ "groups": all.into_iter().map(|(_, g)| g).collect::<Vec<_>>() }))
    }

    async fn handle(&self, request: &Request) -> Answer {
        let (path, query) = request
            .target
            .split_once('?')
            .unwrap_or((request.target.as_str(), ""));
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        match (request.method.as_str(), segments.as_slice()) {
            ("GET", []) => Answer::ok(json!({ "routes": ROUTES })),
            ("GET", ["faults"]) => self.list_faults().await,
            ("POST", ["faults"]) => self.add_fault(&request.body).await,
            ("DELETE", ["faults"]) => match self.broker.clear_faults().await {
                Ok(()) => Answer::ok(json!({ "cleared": true })),
                Err(error) => failed(&error),
            },
            ("DELETE", ["faults", id]) => self.remove_fault(id).await,
            ("GET", ["requests"]) => self.requests(query).await,
            ("GET", ["topics"]) => list_json("topics", self.broker.topics().await, topic_json),
            ("GET", ["groups"]) => self.groups().await,
            ("GET", ["groups", id]) => {
                let id = percent_decode(id);
                match self.broker.group(&id).await {
                    Ok(Some(group)) => return Answer::ok(group_json(&group)),
                    Ok(None) => {}
                    Err(error) => return failed(&error),
                }
                match self.broker.consumer_group(&id).await {
                    Ok(Some(group)) => Answer::ok(consumer_group_json(&group)),
                    Ok(None) => Answer::error(404, format!("no group {id:?}")),
                    Err(error) => failed(&error),
                }
            }
            ("GET", ["transactions"]) => list_json(
                "transactions",
                self.broker.transactions().await,
                transaction_json,
            ),
            ("GET", ["transactions", id]) => {
                let id = percent_decode(id);
                match self.broker.transaction(&id).await {
                    Ok(Some(txn)) => Answer::ok(transaction_json(&txn)),
                    Ok(None) => Answer::error(404, format!("no transactional id {id:?}")),
                    Err(error) => failed(&error),
                }
            }
            ("POST", ["reset"]) => self.reset().await,
            ("POST", ["retention"]) => self.retention(&request.body).await,
            (
                _,
                [
                    "faults" | "requests" | "topics" | "groups" | "transactions" | "reset"
                    | "retention",
                    ..,
                ],
            )
            | (_, []) => Answer::error(
                405,
                format!(
                    "{} {} is not supported; routes: {ROUTES}",
                    request.method, path
                ),
            ),
            _ => Answer::error(404, format!("no route {path:?}; routes: {ROUTES}")),
        }
    }

    async fn list_faults(&self) -> Answer {
        list_json("faults", self.broker.faults().await, |f| {
            json!({
                "id": f.id.0,
                "spec": f.rule.to_string(),
                "matched": f.matched,
                "applied": f.applied,
            })
        })
    }

    async fn add_fault(&self, body: &[u8]) -> Answer {
        let value: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return Answer::error(
                    400,
                    format!(
                        "body is not valid JSON ({e}): expected {{\"spec\": \"leave_group:delay=60s\"}}"
                    ),
                );
            }
        };
        let Some(spec) = value.get("spec").and_then(Value::as_str) else {
            return Answer::error(
                400,
                "expected a JSON object with a string field \"spec\", e.g. {\"spec\": \"leave_group:delay=60s\"} (grammar: kmock serve --help, or docs/fault-spec.md in the kmock repository)",
            );
        };
        if let Some(object) = value.as_object()
            && let Some(unknown) = object.keys().find(|k| *k != "spec")
        {
            return Answer::error(
                400,
                format!("unknown field {unknown:?}: the only field is \"spec\""),
            );
        }
        let rule: FaultRule = match spec.parse() {
            Ok(rule) => rule,
            Err(e) => {
                return Answer::error(
                    400,
                    format!(
                        "{e} (grammar: kmock serve --help, or docs/fault-spec.md in the kmock repository)"
                    ),
                );
            }
        };
        let text = rule.to_string();
        match self.broker.add_fault(rule).await {
            Ok(id) => {
                tracing::info!(rule = id.0, spec = %text, "fault installed (control API)");
                Answer {
                    status: 201,
                    body: json!({ "id": id.0, "spec": text }),
                }
            }
            Err(error) => failed(&error),
        }
    }

    async fn remove_fault(&self, id: &str) -> Answer {
        let Ok(number) = id.parse::<u64>() else {
            return Answer::error(
                400,
                format!("fault id {id:?} is not a number (see GET /faults)"),
            );
        };
        match self.broker.remove_fault(FaultRuleId(number)).await {
            Ok(rule) => {
                Answer::ok(json!({ "removed": { "id": number, "spec": rule.to_string() } }))
            }
            Err(error) => failed(&error),
        }
    }

    async fn requests(&self, query: &str) -> Answer {
        let mut since = 0u64;
        let mut limit = DEFAULT_LIMIT;
        let mut api: Option<String> = None;
        let mut client_id: Option<String> = None;
        let mut group: Option<String> = None;
        let mut transactional_id: Option<String> = None;
        for (key, value) in query_pairs(query) {
            match key.as_str() {
                "since" => match value.parse() {
                    Ok(n) => since = n,
                    Err(_) => {
                        return Answer::error(
                            400,
                            format!(
                                "since={value:?}: expected a sequence number (the `next` of the previous answer)"
                            ),
                        );
                    }
                },
                "limit" => match value.parse() {
                    Ok(n) => limit = n,
                    Err(_) => {
                        return Answer::error(400, format!("limit={value:?}: expected a number"));
                    }
                },
                "api" => api = Some(value),
                "client_id" => client_id = Some(value),
                "group" => group = Some(value),
                "transactional_id" => transactional_id = Some(value),
                other => {
                    return Answer::error(
                        400,
                        format!(
                            "unknown parameter {other:?}: expected since, api, client_id, group, transactional_id or limit"
                        ),
                    );
                }
            }
        }
        let api_filter = match api.as_deref().map(parse_api_filter).transpose() {
            Ok(filter) => filter,
            Err(message) => return Answer::error(400, message),
        };
        let result = self
            .broker
            .handle()
            .inspect(move |core| {
                let log = core.request_log();
                let next = log.next_seq();
                let entries: Vec<Value> = log
                    .since(since)
                    .filter(|e| api_filter.is_none_or(|key| e.api_key == key))
                    .filter(|e| client_id.as_ref().is_none_or(|c| &e.client_id == c))
                    .filter(|e| {
                        group
                            .as_ref()
                            .is_none_or(|g| e.group_ids().contains(&g.as_str()))
                    })
                    .filter(|e| {
                        transactional_id
                            .as_ref()
                            .is_none_or(|t| e.transactional_ids().contains(&t.as_str()))
                    })
                    .take(limit)
                    .map(entry_json)
                    .collect();
                (entries, next, log.evicted())
            })
            .await;
        match result {
            Ok((entries, next, evicted)) => Answer::ok(json!({
                "requests": entries,
                "next": next,
                "evicted": evicted,
            })),
            Err(_) => stopped(),
        }
    }

    /// `POST /retention`: the body is empty (every topic) or `{"topic": "name"}`.
    async fn retention(&self, body: &[u8]) -> Answer {
        let topic = match retention_topic(body) {
            Ok(topic) => topic,
            Err(message) => return Answer::error(400, message),
        };
        match self.broker.clean_logs(topic.as_deref()).await {
            Ok(Some(report)) => Answer::ok(retention_json(&report)),
            Ok(None) => Answer::error(404, format!("no topic {:?}", topic.unwrap_or_default())),
            Err(error) => failed(&error),
        }
    }

    /// `POST /reset`: every request in flight is answered or its connection closed first (the
    /// counts are `answered` and `closed`), then the start state comes back.
    async fn reset(&self) -> Answer {
        match self.broker.reset().await {
            Ok(report) => Answer::ok(json!({
                "reset": true,
                "topics": self.broker.startup().topics.len(),
                "faults": self.broker.startup().faults.len(),
                "answered": report.answered,
                "closed": report.closed,
            })),
            Err(error) => failed(&error),
        }
    }
}

/// The topic a `POST /retention` body names: none for an empty body.
fn retention_topic(body: &[u8]) -> Result<Option<String>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let expected = "expected no body (every topic) or {\"topic\": \"name\"}";
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("body is not valid JSON ({e}): {expected}"))?;
    let Some(object) = value.as_object() else {
        return Err(expected.to_owned());
    };
    if let Some(unknown) = object.keys().find(|k| *k != "topic") {
        return Err(format!("unknown field {unknown:?}: {expected}"));
    }
    match object.get("topic") {
        None => Ok(None),
        Some(Value::String(topic)) => Ok(Some(topic.clone())),
        Some(_) => Err(expected.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_path_decoding() {
        assert_eq!(percent_decode("sse%2Dconsumers"), "sse-consumers");
        assert_eq!(percent_decode("a+b"), "a+b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(
            query_pairs("group=a+b&api=leave_group&since="),
            [
                ("group".to_owned(), "a b".to_owned()),
                ("api".to_owned(), "leave_group".to_owned()),
                ("since".to_owned(), String::new()),
            ]
        );
    }

    #[test]
    fn retention_bodies() {
        assert_eq!(retention_topic(b""), Ok(None));
        assert_eq!(retention_topic(b" \n"), Ok(None));
        assert_eq!(retention_topic(b"{}"), Ok(None));
        assert_eq!(retention_topic(br#"{"topic": "t"}"#), Ok(Some("t".into())));
        assert!(
            retention_topic(br#"{"topics": "t"}"#)
                .unwrap_err()
                .contains("unknown field")
        );
        assert!(retention_topic(br#"{"topic": 3}"#).is_err());
        assert!(
            retention_topic(b"[")
                .unwrap_err()
                .contains("not valid JSON")
        );
    }

    #[test]
    fn api_filter_takes_any_spelling_or_a_number() {
        assert_eq!(parse_api_filter("LeaveGroup"), Ok(13));
        assert_eq!(parse_api_filter("leave_group"), Ok(13));
        assert_eq!(parse_api_filter("leave-group"), Ok(13));
        assert_eq!(parse_api_filter("99"), Ok(99));
        assert!(
            parse_api_filter("leave_grop")
                .unwrap_err()
                .contains("unknown API")
        );
    }

    #[test]
    fn every_status_sent_has_its_reason_phrase() {
        assert_eq!(reason(500), "Internal Server Error");
        assert_eq!(reason(408), "Request Timeout");
        assert_eq!(reason(413), "Content Too Large");
        // Every status this file answers with (`Answer::error(N` and `status: N`).
        let source = include_str!("control.rs");
        let mut statuses = vec![100, 200];
        for marker in ["Answer::error(\n", "Answer::error(", "status: "] {
            for (at, _) in source.match_indices(marker) {
                let rest = source[at + marker.len()..].trim_start();
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                if let Ok(status) = digits.parse::<u16>() {
                    statuses.push(status);
                }
            }
        }
        assert!(statuses.len() > 10, "{statuses:?}");
        for status in statuses {
            assert!(!reason(status).is_empty(), "no reason phrase for {status}");
        }
    }

    /// A control API on loopback with short timeouts; its address.
    async fn serve_on_loopback(timeouts: Timeouts) -> std::net::SocketAddr {
        let broker = Arc::new(MockBroker::start().await.expect("a broker on loopback"));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("local address");
        tokio::spawn(serve_with(listener, broker, timeouts));
        address
    }

    const SHORT: Timeouts = Timeouts {
        idle: Duration::from_millis(600),
        request: Duration::from_millis(300),
        write: Duration::from_secs(5),
    };

    /// Everything the server sends until it closes (or 5 s pass: then the test fails).
    async fn read_until_closed(stream: &mut TcpStream) -> String {
        let mut received = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut received))
            .await
            .expect("the server closes the connection")
            .expect("read");
        String::from_utf8_lossy(&received).into_owned()
    }

    #[tokio::test]
    async fn a_stalled_request_gets_408_and_is_closed() {
        let address = serve_on_loopback(SHORT).await;
        for partial in [
            &b"GET /faults HTTP/1.1\r\nHost: x\r\n"[..],
            &b"POST /faults HTTP/1.1\r\nContent-Length: 40\r\n\r\n{\"spec\""[..],
        ] {
            let started = Instant::now();
            let mut stream = TcpStream::connect(address).await.expect("connect");
            stream.write_all(partial).await.expect("write");
            let received = read_until_closed(&mut stream).await;
            assert!(
                received.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
                "{received:?}"
            );
            assert!(received.contains("Connection: close\r\n"), "{received:?}");
            assert!(
                started.elapsed() >= SHORT.request,
                "{:?}",
                started.elapsed()
            );
        }
    }

    #[tokio::test]
    async fn a_request_trickling_in_still_meets_one_deadline() {
        // One byte every 50 ms, each well within every timeout, for 3 s: the request as a
        // whole is late at 300 ms, and the 408 comes then, not when the trickle stops.
        let address = serve_on_loopback(SHORT).await;
        let stream = TcpStream::connect(address).await.expect("connect");
        let (mut reader, mut writer) = stream.into_split();
        let started = Instant::now();
        let trickle = tokio::spawn(async move {
            let head = format!("GET /faults HTTP/1.1\r\n{}", "X: y\r\n".repeat(10));
            for byte in head.bytes() {
                if writer.write_all(&[byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        let mut received = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut received))
            .await
            .expect("the server closes the connection")
            .expect("read");
        let took = started.elapsed();
        trickle.abort();
        let received = String::from_utf8_lossy(&received);
        assert!(received.starts_with("HTTP/1.1 408 "), "{received:?}");
        assert!(took < Duration::from_millis(1500), "408 after {took:?}");
    }

    #[tokio::test]
    async fn an_idle_keep_alive_connection_is_closed() {
        let address = serve_on_loopback(SHORT).await;
        let mut stream = TcpStream::connect(address).await.expect("connect");
        stream
            .write_all(b"GET /faults HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let started = Instant::now();
        let received = read_until_closed(&mut stream).await;
        // One answer, kept alive, then closed for idleness, without a 408.
        assert!(received.starts_with("HTTP/1.1 200 OK\r\n"), "{received:?}");
        assert!(
            received.contains("Connection: keep-alive\r\n"),
            "{received:?}"
        );
        assert_eq!(received.matches("HTTP/1.1 ").count(), 1, "{received:?}");
        assert!(started.elapsed() >= SHORT.idle, "{:?}", started.elapsed());
    }
}
