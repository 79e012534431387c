//! The request log: every request and its response (or what happened instead), with the time,
//! connection, client id, API, version, correlation id, the fault applied, and the decoded bodies.
//!
//! Bounded: it keeps the newest `request_log_capacity` entries and evicts the oldest first
//! (`evicted()` counts them). Sequence numbers are never reused, so a reader can poll "since seq".
//!
//! Record bytes are not kept: a logged Produce request and a logged Fetch response carry
//! `records: None`, with the byte count in [`LogEntry::record_bytes`]. Keeping them would pin every
//! produced batch (and a copy of every fetched one) in memory for as long as the entry lives.

use std::borrow::Cow;
use std::collections::VecDeque;

use kmock_wire::kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

use super::{ConnectionId, ResponsePlan};
use crate::BrokerTime;
use crate::fault::NamedIds;

/// One request and what became of it.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Position in the log, from 0, never reused.
    pub seq: u64,
    /// When the request arrived (since broker start).
    pub time: BrokerTime,
    /// Which connection sent it.
    pub connection: ConnectionId,
    /// The node id of the broker it reached (its connection's; 0 on a single broker).
    pub node: i32,
    /// Client id from the request header.
    pub client_id: String,
    /// Raw API key (kept raw so that unknown keys can be logged).
    pub api_key: i16,
    /// API version.
    pub api_version: i16,
    /// Correlation id.
    pub correlation_id: i32,
    /// The fault rule that matched, described (`rule 1: leave_group delay=60s`).
    pub fault: Option<String>,
    /// The decoded request body (`None` when it could not be decoded).
    pub request: Option<RequestKind>,
    /// The response body, once there is one.
    pub response: Option<ResponseKind>,
    /// When the response was produced (before any fault delay).
    pub response_time: Option<BrokerTime>,
    /// What was done with the response: sent, delayed, dropped, or an outcome such as a close.
    /// Borrowed for the fixed outcomes (`sent`: nearly every entry), so an entry does not keep
    /// an allocation for it.
    pub outcome: Option<Cow<'static, str>>,
    /// Record bytes removed from the logged Produce request or Fetch response.
    pub record_bytes: usize,
    /// Bytes after the fully decoded request body, ignored as Kafka ignores them (librdkafka's
    /// "all topics" Metadata v9+ request has 3; see `kmock_wire::DecodedRequest::trailing_bytes`).
    pub trailing_bytes: usize,
}

/// Removes record bytes from Produce requests; returns how many bytes were removed.
fn strip_request_records(body: &mut RequestKind) -> usize {
    let mut removed = 0;
    if let RequestKind::Produce(produce) = body {
        for topic in &mut produce.topic_data {
            for partition in &mut topic.partition_data {
                removed += partition.records.take().map_or(0, |r| r.len());
            }
        }
    }
    removed
}

/// Removes record bytes from Fetch responses; returns how many bytes were removed.
fn strip_response_records(body: &mut ResponseKind) -> usize {
    let mut removed = 0;
    if let ResponseKind::Fetch(fetch) = body {
        for topic in &mut fetch.responses {
            for partition in &mut topic.partitions {
                removed += partition.records.take().map_or(0, |r| r.len());
            }
        }
    }
    removed
}

impl LogEntry {
    /// An entry for a decoded request.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn request(
        time: BrokerTime,
        connection: ConnectionId,
        client_id: &str,
        api_key: ApiKey,
        api_version: i16,
        correlation_id: i32,
        fault: Option<String>,
        mut body: Option<RequestKind>,
    ) -> Self {
        let record_bytes = body.as_mut().map_or(0, strip_request_records);
        Self {
            seq: 0,
            time,
            connection,
            node: 0,
            client_id: client_id.to_owned(),
            api_key: api_key as i16,
            api_version,
            correlation_id,
            fault,
            request: body,
            response: None,
            response_time: None,
            outcome: None,
            record_bytes,
            trailing_bytes: 0,
        }
    }

    /// The same entry for a request that reached broker `node`.
    pub(crate) fn on_node(mut self, node: i32) -> Self {
        self.node = node;
        self
    }

    /// An entry for a request whose body could not be decoded.
    pub(crate) fn undecodable(
        time: BrokerTime,
        connection: ConnectionId,
        api_key: i16,
        api_version: i16,
        correlation_id: i32,
        reason: &str,
    ) -> Self {
        Self {
            seq: 0,
            time,
            connection,
            node: 0,
            client_id: String::new(),
            api_key,
            api_version,
            correlation_id,
            fault: None,
            request: None,
            response: None,
            response_time: None,
            outcome: Some(Cow::Owned(reason.to_owned())),
            record_bytes: 0,
            trailing_bytes: 0,
        }
    }

    /// The API name (`LeaveGroup`, or `unknown(99)`).
    pub fn api_name(&self) -> String {
        kmock_wire::api_name(self.api_key)
    }

    /// The consumer groups the request names (see [`NamedIds::group_ids`]; what the `group=`
    /// matcher of fault rules sees).
    pub fn group_ids(&self) -> Vec<&str> {
        self.request
            .as_ref()
            .map(|request| NamedIds::of(request, self.api_version).group_ids)
            .unwrap_or_default()
    }

    /// The transactional ids the request names (see [`NamedIds::transactional_ids`]; what the
    /// `txn=` matcher of fault rules sees).
    pub fn transactional_ids(&self) -> Vec<&str> {
        self.request
            .as_ref()
            .map(|request| NamedIds::of(request, self.api_version).transactional_ids)
            .unwrap_or_default()
    }

    /// The consumer group the request is about, if any (the first one of a batched request).
    pub fn group_id(&self) -> Option<String> {
        self.group_ids().first().map(|group| (*group).to_owned())
    }
}

/// Entries reserved when a log is made (see [`RequestLog::new`]).
const INITIAL_ENTRIES: usize = 256;

/// The bounded log. See the module docs.
#[derive(Debug)]
pub struct RequestLog {
    entries: VecDeque<LogEntry>,
    capacity: usize,
    next_seq: u64,
    evicted: u64,
}

impl RequestLog {
    /// An empty log keeping at most `capacity` entries, with room for the first 256 reserved: a
    /// simulation run logs a few hundred requests, and growing the deque to that by doubling
    /// copied every entry (680 bytes each) about once more (issue 18).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            entries: VecDeque::with_capacity(capacity.min(INITIAL_ENTRIES)),
            capacity,
            next_seq: 0,
            evicted: 0,
        }
    }

    /// Drops every entry but keeps counting: the next entry's sequence number follows the last
    /// one, so a reader polling "since seq" across a reset never sees a number twice.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.evicted = 0;
    }

    pub(crate) fn record_request(&mut self, mut entry: LogEntry) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        entry.seq = seq;
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
            self.evicted += 1;
        }
        self.entries.push_back(entry);
        seq
    }

    /// Sets the body of a request logged without one (its records removed, as
    /// [`LogEntry::request`] removes them), once the request was handled from it.
    pub(crate) fn record_request_body(&mut self, seq: u64, mut body: RequestKind) {
        if let Some(entry) = self.entry_mut(seq) {
            entry.record_bytes += strip_request_records(&mut body);
            entry.request = Some(body);
        }
    }

    fn entry_mut(&mut self, seq: u64) -> Option<&mut LogEntry> {
        let first = self.entries.front()?.seq;
        let index = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.entries.get_mut(index)
    }

    pub(crate) fn record_response(
        &mut self,
        seq: u64,
        time: BrokerTime,
        plan: ResponsePlan,
        mut response: ResponseKind,
        record_bytes: usize,
    ) {
        if let Some(entry) = self.entry_mut(seq) {
            entry.record_bytes += record_bytes + strip_response_records(&mut response);
            entry.response = Some(response);
            entry.response_time = Some(time);
            entry.outcome = Some(match plan {
                ResponsePlan::Send => Cow::Borrowed("sent"),
                ResponsePlan::Delay(delay) => {
                    Cow::Owned(format!("sent after a delay of {delay:?}"))
                }
                ResponsePlan::Drop => Cow::Borrowed("dropped by fault"),
                ResponsePlan::Close => Cow::Borrowed("connection closed by fault after processing"),
            });
        }
    }

    pub(crate) fn record_outcome(&mut self, seq: u64, time: BrokerTime, outcome: &str) {
        if let Some(entry) = self.entry_mut(seq) {
            entry.response_time.get_or_insert(time);
            entry.outcome = Some(Cow::Owned(outcome.to_owned()));
        }
    }

    /// Entries with `seq >= since`, oldest first.
    pub fn since(&self, since: u64) -> impl Iterator<Item = &LogEntry> {
        self.entries.iter().filter(move |e| e.seq >= since)
    }

    /// All retained entries, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &LogEntry> {
        self.entries.iter()
    }

    /// How many entries were evicted to respect the capacity.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// The sequence number the next request will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: i32) -> LogEntry {
        LogEntry::undecodable(BrokerTime::ZERO, ConnectionId(1), 18, 0, n, "x")
    }

    #[test]
    fn evicts_oldest_first_and_never_reuses_sequence_numbers() {
        let mut log = RequestLog::new(2);
        for n in 0..5 {
            assert_eq!(log.record_request(entry(n)), n as u64);
        }
        let kept: Vec<_> = log.entries().map(|e| (e.seq, e.correlation_id)).collect();
        assert_eq!(kept, vec![(3, 3), (4, 4)]);
        assert_eq!(log.evicted(), 3);
        log.record_outcome(0, BrokerTime::ZERO, "ignored: evicted");
        log.record_outcome(4, BrokerTime::from_millis(1000), "done");
        assert_eq!(
            log.since(4).next().unwrap().outcome.as_deref(),
            Some("done")
        );
    }

    #[test]
    fn produce_record_bytes_are_not_retained() {
        use kmock_wire::kafka_protocol::messages::ProduceRequest;
        use kmock_wire::kafka_protocol::messages::produce_request::{
            PartitionProduceData, TopicProduceData,
        };
        let body = RequestKind::Produce(ProduceRequest::default().with_topic_data(vec![
            TopicProduceData::default().with_partition_data(vec![
                PartitionProduceData::default()
                    .with_records(Some(bytes::Bytes::from_static(&[7; 100]))),
            ]),
        ]));
        let mut log = RequestLog::new(4);
        let entry = LogEntry::request(
            BrokerTime::ZERO,
            ConnectionId(1),
            "c",
            ApiKey::Produce,
            9,
            1,
            None,
            Some(body),
        );
        log.record_request(entry);
        let logged = log.entries().next().unwrap();
        assert_eq!(logged.record_bytes, 100);
        let Some(RequestKind::Produce(produce)) = &logged.request else {
            panic!("expected the produce body");
        };
        assert_eq!(produce.topic_data[0].partition_data[0].records, None);
    }
}
