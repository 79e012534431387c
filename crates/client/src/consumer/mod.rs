//! A classic consumer-group member: [`Consumer::start`] spawns its task (join, sync, heartbeat,
//! fetch, commit, rejoin), [`Consumer::recv`] yields records, [`Consumer::commit`] commits what
//! was received, [`Consumer::stop`] leaves the group within `request_timeout`.
//!
//! Owns: the handle side of a member (its control channel, record channel and state watch) and the
//! *consumed positions* (`Positions`): a record counts as consumed when `recv` hands it to the
//! application, and only consumed positions are committed (at-least-once). Records of an older
//! generation still in the channel after a rebalance are delivered but not committed.
//!
//! Dropping a [`Consumer`] without `stop()` aborts its task at once: connections close, the
//! broker expires the member after its session timeout. Nothing blocks.
//!
//! Submodules: `group` (the classic member state machine), `kip848` (the KIP-848 member, with
//! `KAFKA_GROUP_PROTOCOL=consumer`: ConsumerGroupHeartbeat, the broker assigns), `fetcher` (fetch
//! loop), [`assignor`] (range, round-robin), [`protocol`] (ConsumerProtocol subscription/assignment
//! encoding).

pub mod assignor;
pub(crate) mod fetcher;
pub(crate) mod group;
pub(crate) mod kip848;
pub mod protocol;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::error::ClientError;
use crate::settings::GroupProtocol;
pub use protocol::Assignment;

use group::{Control, Member};

/// Records buffered between the fetcher and the application, per consumer.
pub const RECORD_BUFFER: usize = 256;

/// How long [`Consumer::stop_by`] waits past its deadline for the member task's stop sequence
/// before aborting it with [`ClientError::StopOverran`]. The sequence bounds every step by the
/// deadline itself (that is what the teardown tests check: `stop()` ends by the deadline, with a
/// response, an error or a request timeout); this guard only keeps a bug in it from hanging the
/// caller, and is long enough that reaching it cannot pass for a request timeout.
pub const STOP_GUARD: std::time::Duration = std::time::Duration::from_secs(1);

/// A consumed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Timestamp (ms since the epoch, as produced or appended).
    pub timestamp: i64,
    /// Key.
    pub key: Option<Bytes>,
    /// Value (`None` for a tombstone).
    pub value: Option<Bytes>,
    /// Headers in record order.
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// Where a member is in its life.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MemberState {
    /// Finding the coordinator, joining, syncing.
    Joining,
    /// A member of a stable generation.
    Stable {
        /// Generation id.
        generation: i32,
        /// Member id.
        member_id: String,
        /// Assigned partitions.
        assignment: Assignment,
    },
    /// Cannot join (e.g. invalid session timeout); waits for stop.
    Failed(ClientError),
    /// Stopped.
    Stopped,
}

/// A record in flight to the application, with what is needed to count it as consumed.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub(crate) record: ConsumerRecord,
    pub(crate) generation: i32,
    pub(crate) positions: Arc<Positions>,
}

impl Delivery {
    /// Counts the record as consumed and hands it out.
    pub(crate) fn consume(self) -> ConsumerRecord {
        self.positions.consumed(&self.record, self.generation);
        self.record
    }
}

#[derive(Debug, Default)]
struct PositionsState {
    generation: i32,
    /// Next offset to consume, per partition, in the current generation.
    consumed: BTreeMap<(String, i32), i64>,
    /// Last committed offset per partition.
    committed: BTreeMap<(String, i32), i64>,
}

/// Consumed and committed positions of one member, shared by its task and its records.
#[derive(Debug, Default)]
pub(crate) struct Positions {
    state: Mutex<PositionsState>,
}

impl Positions {
    fn lock(&self) -> std::sync::MutexGuard<'_, PositionsState> {
        self.state.lock().expect("positions lock is never poisoned")
    }

    /// A new generation: forget consumed positions, remember the committed ones.
    pub(crate) fn reset(&self, generation: i32, committed: &BTreeMap<(String, i32), i64>) {
        let mut state = self.lock();
        state.generation = generation;
        state.consumed.clear();
        state.committed = committed.clone();
    }

    fn consumed(&self, record: &ConsumerRecord, generation: i32) {
        let mut state = self.lock();
        if state.generation != generation {
            return;
        }
        let slot = state
            .consumed
            .entry((record.topic.clone(), record.partition))
            .or_insert(0);
        *slot = (*slot).max(record.offset + 1);
    }

    /// Consumed positions of `assignment` not yet committed.
    pub(crate) fn uncommitted(
        &self,
        generation: i32,
        assignment: &Assignment,
    ) -> Vec<((String, i32), i64)> {
        let state = self.lock();
        if state.generation != generation {
            return Vec::new();
        }
        state
            .consumed
            .iter()
            .filter(|((topic, partition), _)| {
                assignment
                    .get(topic)
                    .is_some_and(|partitions| partitions.contains(partition))
            })
            .filter(|(key, offset)| state.committed.get(*key) != Some(*offset))
            .map(|(key, offset)| (key.clone(), *offset))
            .collect()
    }

    pub(crate) fn mark_committed(&self, generation: i32, offsets: &[((String, i32), i64)]) {
        let mut state = self.lock();
        if state.generation != generation {
            return;
        }
        for (key, offset) in offsets {
            state.committed.insert(key.clone(), *offset);
        }
    }
}

/// Aborts a task when dropped.
#[derive(Debug)]
pub(crate) struct AbortOnDrop(pub(crate) JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A consumer-group member.
#[derive(Debug)]
pub struct Consumer {
    records: Option<mpsc::Receiver<Delivery>>,
    control: mpsc::UnboundedSender<Control>,
    state: watch::Receiver<MemberState>,
    request_timeout: std::time::Duration,
    task: AbortOnDrop,
}

impl Consumer {
    /// Starts a member of the cluster settings' group, subscribed to `topics`. Returns at once;
    /// see [`Consumer::wait_stable`].
    pub fn start(cluster: Cluster, topics: &[&str]) -> Consumer {
        let (sink, records) = mpsc::channel(RECORD_BUFFER);
        let mut consumer = Self::start_with_sink(cluster, topics, sink);
        consumer.records = Some(records);
        consumer
    }

    /// A member that delivers into a shared channel (the pool's).
    pub(crate) fn start_with_sink(
        cluster: Cluster,
        topics: &[&str],
        sink: mpsc::Sender<Delivery>,
    ) -> Consumer {
        let (state_tx, state) = watch::channel(MemberState::Joining);
        let (control, control_rx) = mpsc::unbounded_channel();
        let request_timeout = cluster.request_timeout();
        let topics: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
        let positions = Arc::new(Positions::default());
        let task = match cluster.settings().group_protocol {
            GroupProtocol::Classic => {
                let member = Member::new(cluster, topics, positions, sink, state_tx);
                AbortOnDrop(tokio::spawn(member.run(control_rx)))
            }
            GroupProtocol::Consumer => {
                let member = kip848::Member::new(cluster, topics, positions, sink, state_tx);
                AbortOnDrop(tokio::spawn(member.run(control_rx)))
            }
        };
        Consumer {
            records: None,
            control,
            state,
            request_timeout,
            task,
        }
    }

    /// The next record, or `None` once the consumer is stopped (or, in a pool, always `None`:
    /// read from the pool).
    pub async fn recv(&mut self) -> Option<ConsumerRecord> {
        let records = self.records.as_mut()?;
        records.recv().await.map(Delivery::consume)
    }

    /// The member's current state.
    pub fn state(&self) -> MemberState {
        self.state.borrow().clone()
    }

    /// A watch of the member's state.
    pub fn watch_state(&self) -> watch::Receiver<MemberState> {
        self.state.clone()
    }

    /// Waits until the member is in a stable generation; returns its generation and assignment.
    /// Fails if the member cannot join (e.g. the broker rejects the session timeout).
    pub async fn wait_stable(&mut self) -> Result<(i32, Assignment), ClientError> {
        let state = self
            .state
            .wait_for(|s| !matches!(s, MemberState::Joining))
            .await
            .map_err(|_| ClientError::Closed)?
            .clone();
        match state {
            MemberState::Stable {
                generation,
                assignment,
                ..
            } => Ok((generation, assignment)),
            MemberState::Failed(error) => Err(error),
            _ => Err(ClientError::Closed),
        }
    }

    /// Commits the positions consumed so far (those handed out by `recv`). The request is queued
    /// when this is called, so several consumers' commits can be in flight together.
    pub fn commit(&self) -> impl Future<Output = Result<(), ClientError>> + Send + 'static {
        let (reply, result) = oneshot::channel();
        let sent = self.control.send(Control::Commit(reply)).is_ok();
        async move {
            if !sent {
                return Err(ClientError::Closed);
            }
            result.await.unwrap_or(Err(ClientError::Closed))
        }
    }

    /// Stops fetching, commits (with auto-commit enabled), sends LeaveGroup (or, with the KIP-848
    /// protocol, the leave heartbeat) and closes, all within
    /// `request_timeout` from now: one deadline for the whole sequence, so a slow, dropped, failing
    /// or missing commit or LeaveGroup response never makes this take longer (not one timeout per
    /// request). Returns how it ended: `Ok` when every request was answered without error, the
    /// first broker or connection error, or [`ClientError::RequestTimeout`] naming the request the
    /// deadline cut short. A commit that uses up the deadline leaves no time for the LeaveGroup:
    /// the member then stays in the group until its session timeout.
    pub async fn stop(self) -> Result<(), ClientError> {
        let deadline = Instant::now() + self.request_timeout;
        self.stop_by(deadline).await
    }

    /// [`Consumer::stop`] with an explicit deadline (the pool shares one across members).
    pub async fn stop_by(mut self, deadline: Instant) -> Result<(), ClientError> {
        let (reply, result) = oneshot::channel();
        if self
            .control
            .send(Control::Stop { deadline, reply })
            .is_err()
        {
            return Ok(());
        }
        // The member task ends its sequence by the deadline; the guard is for bugs only.
        let outcome = match tokio::time::timeout_at(deadline + STOP_GUARD, result).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Ok(()),
            Err(_) => {
                tracing::error!(guard = ?STOP_GUARD, "the stop sequence overran its deadline");
                Err(ClientError::StopOverran { guard: STOP_GUARD })
            }
        };
        // Whatever is left (a task stuck past the deadline) is aborted; records stop.
        self.task.0.abort();
        self.records = None;
        outcome
    }
}
