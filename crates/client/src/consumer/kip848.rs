//! The KIP-848 group member (`KAFKA_GROUP_PROTOCOL=consumer`): one ConsumerGroupHeartbeat loop
//! instead of JoinGroup/SyncGroup/Heartbeat; the broker computes the assignment.
//!
//! The loop, after Java's `ConsumerMembershipManager` and librdkafka's `rd_kafka_cgrp_consumer_*`:
//! 1. FindCoordinator, a dedicated coordinator connection; the member id is made here (KIP-1082:
//!    from v1 the client makes it, [`Cluster::next_member_id`]);
//! 2. a *full* heartbeat (epoch 0, the subscription, the rebalance timeout = max poll interval,
//!    owned partitions = none) joins; every later heartbeat carries the epoch and the owned
//!    partitions, at the interval the broker sends;
//! 3. a response with an assignment is reconciled at once: the fetcher stops, consumed positions
//!    are committed (auto-commit: partitions given up are committed before they are released),
//!    the new partitions' committed offsets are read, the fetcher restarts, and a heartbeat
//!    acknowledges the new owned set right away (revoke before assign is the broker's job: it only
//!    hands out partitions their previous owner acknowledged releasing);
//! 4. UNKNOWN_MEMBER_ID or FENCED_MEMBER_EPOCH: the partitions are lost (no commit), the member
//!    rejoins with epoch 0 and the same id; a moved coordinator or a lost connection: find it again
//!    and send a full heartbeat; any other error (GROUP_ID_NOT_FOUND, GROUP_MAX_SIZE_REACHED,
//!    UNSUPPORTED_ASSIGNOR, INVALID_REQUEST, ...) is fatal: the member reports `Failed`.
//!
//! Stop (under one deadline of `request_timeout` from the moment it was asked, as the classic
//! member): stop fetching, commit (auto-commit; OffsetCommit v9 with the member epoch), send the
//! leave heartbeat (epoch -1), close. A heartbeat still in flight when stop comes is abandoned and
//! the leave goes on a fresh connection (the broker answers a connection's requests in order).
//!
//! # References
//! - KIP-848 (the consumer protocol), KIP-1082 (client-made member ids).
//! - Kafka `ConsumerMembershipManager`, `ConsumerHeartbeatRequestManager` (4.0);
//!   librdkafka `rdkafka_cgrp.c` (`rd_kafka_cgrp_consumer_group_heartbeat`, `..._leave`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kmock_wire::kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kmock_wire::kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kmock_wire::kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kmock_wire::kafka_protocol::messages::{
    ApiKey, ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, OffsetCommitRequest,
    OffsetFetchRequest, TopicName,
};
use kmock_wire::kafka_protocol::protocol::StrBytes;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use uuid::Uuid;

use super::fetcher::{self, FetcherContext};
use super::group::Control;
use super::protocol::Assignment;
use super::{AbortOnDrop, Delivery, MemberState, Positions};
use crate::cluster::Cluster;
use crate::connection::Connection;
use crate::error::{ClientError, codes};
use crate::settings::Settings;

/// The member epoch of a leave (KIP-848).
const LEAVE_GROUP_MEMBER_EPOCH: i32 = -1;
/// The first OffsetCommit version that carries a member epoch; a KIP-848 member must use it.
const OFFSET_COMMIT_MEMBER_EPOCH_VERSION: i16 = 9;

/// A stop request, and whether a heartbeat may still be in flight on the coordinator connection
/// (then the stop commits and leaves on a fresh one).
type Stopping = (Instant, oneshot::Sender<Result<(), ClientError>>, bool);

/// What one heartbeat decided.
enum Beat {
    /// Heartbeat again after this long.
    Next(Duration),
    /// The group cannot be joined.
    Fatal(ClientError),
}

/// The KIP-848 member's state; runs on its own task.
pub(crate) struct Member {
    cluster: Cluster,
    settings: Settings,
    topics: Vec<String>,
    member_id: String,
    /// The member epoch the broker last gave (0: joining).
    epoch: i32,
    coordinator: Option<Connection>,
    /// Owned partitions by topic name (what the fetcher reads).
    assignment: Assignment,
    /// Owned partitions by topic id (what heartbeats report).
    owned: BTreeMap<Uuid, Vec<i32>>,
    /// The next heartbeat must be full (a join, or after an error).
    full: bool,
    /// Counts assignment changes: the `Positions` generation of the current one.
    assignment_generation: i32,
    positions: Arc<Positions>,
    sink: mpsc::Sender<Delivery>,
    state: watch::Sender<MemberState>,
    fetcher: Option<AbortOnDrop>,
}

impl Member {
    pub(crate) fn new(
        cluster: Cluster,
        topics: Vec<String>,
        positions: Arc<Positions>,
        sink: mpsc::Sender<Delivery>,
        state: watch::Sender<MemberState>,
    ) -> Self {
        Self {
            settings: cluster.settings().clone(),
            member_id: cluster.next_member_id(),
            cluster,
            topics,
            epoch: 0,
            coordinator: None,
            assignment: Assignment::new(),
            owned: BTreeMap::new(),
            full: true,
            assignment_generation: 0,
            positions,
            sink,
            state,
            fetcher: None,
        }
    }

    fn group_id(&self) -> StrBytes {
        StrBytes::from_string(self.settings.group_id.clone())
    }

    /// Heartbeats until stopped, dropped, or failed. See the module docs.
    pub(crate) async fn run(mut self, mut control: mpsc::UnboundedReceiver<Control>) {
        self.state.send_replace(MemberState::Joining);
        let mut next_heartbeat = Instant::now();
        let mut commit_tick = tokio::time::interval_at(
            Instant::now() + self.settings.auto_commit_interval(),
            self.settings.auto_commit_interval(),
        );
        commit_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let auto_commit = self.settings.enable_auto_commit;
        let stop = loop {
            tokio::select! {
                biased;
                command = control.recv() => match command {
                    Some(Control::Stop { deadline, reply }) => break Some((deadline, reply, false)),
                    Some(Control::Commit(reply)) => {
                        match interruptible(&mut control, self.commit_consumed(None)).await {
                            Ok(result) => {
                                let _ = reply.send(result);
                            }
                            Err(stop) => {
                                let _ = reply.send(Err(ClientError::Closed));
                                break stop;
                            }
                        }
                    }
                    None => break None,
                },
                () = tokio::time::sleep_until(next_heartbeat) => {
                    match interruptible(&mut control, self.heartbeat()).await {
                        Ok(Beat::Next(delay)) => next_heartbeat = Instant::now() + delay,
                        Ok(Beat::Fatal(error)) => {
                            self.serve_failure(error, &mut control).await;
                            return;
                        }
                        Err(stop) => break stop,
                    }
                }
                _ = commit_tick.tick(), if auto_commit && self.epoch > 0 => {
                    match interruptible(&mut control, self.commit_consumed(None)).await {
                        Ok(Err(error)) => tracing::debug!(%error, "auto-commit failed"),
                        Ok(Ok(())) => {}
                        Err(stop) => break stop,
                    }
                }
            }
        };
        self.end_life(stop).await;
    }

    /// The group cannot be joined: report it, then answer commits with the error until the
    /// handle stops or is dropped.
    async fn serve_failure(
        &mut self,
        error: ClientError,
        control: &mut mpsc::UnboundedReceiver<Control>,
    ) {
        tracing::warn!(group = %self.settings.group_id, %error, "cannot join the group");
        self.fetcher = None;
        self.state.send_replace(MemberState::Failed(error.clone()));
        loop {
            match control.recv().await {
                Some(Control::Stop { reply, .. }) => {
                    self.close_coordinator("stopped");
                    let _ = reply.send(Ok(()));
                    return;
                }
                Some(Control::Commit(reply)) => {
                    let _ = reply.send(Err(error.clone()));
                }
                None => return,
            }
        }
    }

    /// The coordinator connection, finding and connecting to the coordinator if needed.
    async fn coordinator(&mut self) -> Result<Connection, ClientError> {
        if let Some(connection) = self.coordinator.as_ref().filter(|c| !c.is_closed()) {
            return Ok(connection.clone());
        }
        let node = self
            .cluster
            .find_coordinator(&self.settings.group_id)
            .await?;
        let connection = self.cluster.open_dedicated(&node).await?;
        self.coordinator = Some(connection.clone());
        Ok(connection)
    }

    fn close_coordinator(&mut self, reason: &str) {
        if let Some(connection) = self.coordinator.take() {
            connection.close(reason);
        }
    }

    fn owned_partitions(&self) -> Vec<TopicPartitions> {
        self.owned
            .iter()
            .map(|(topic_id, partitions)| {
                TopicPartitions::default()
                    .with_topic_id(*topic_id)
                    .with_partitions(partitions.clone())
            })
            .collect()
    }

    fn request(&self) -> ConsumerGroupHeartbeatRequest {
        let request = ConsumerGroupHeartbeatRequest::default()
            .with_group_id(self.group_id().into())
            .with_member_id(StrBytes::from_string(self.member_id.clone()))
            .with_member_epoch(self.epoch)
            .with_topic_partitions(Some(self.owned_partitions()));
        if !self.full {
            return request;
        }
        request
            .with_rebalance_timeout_ms(
                i32::try_from(self.settings.max_poll_interval_ms).unwrap_or(i32::MAX),
            )
            .with_subscribed_topic_names(Some(
                self.topics
                    .iter()
                    .map(|t| TopicName(StrBytes::from_string(t.clone())))
                    .collect(),
            ))
    }

    /// One heartbeat and what follows from its answer.
    async fn heartbeat(&mut self) -> Beat {
        let backoff = self.settings.retry_backoff();
        let connection = match self.coordinator().await {
            Ok(connection) => connection,
            Err(error @ (ClientError::UnsupportedApi { .. } | ClientError::Closed)) => {
                return Beat::Fatal(error);
            }
            Err(error) => {
                tracing::debug!(%error, "cannot reach the coordinator");
                self.full = true;
                return Beat::Next(backoff);
            }
        };
        let version = match self
            .cluster
            .versions()
            .version_of::<ConsumerGroupHeartbeatRequest>()
        {
            Ok(version) => version,
            Err(error) => return Beat::Fatal(error),
        };
        let request = self.request();
        let response = match connection
            .send(&request, version, self.settings.request_timeout())
            .await
        {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(%error, "ConsumerGroupHeartbeat failed");
                self.close_coordinator("ConsumerGroupHeartbeat failed");
                self.full = true;
                return Beat::Next(backoff);
            }
        };
        self.answer(response).await
    }

    async fn answer(&mut self, response: ConsumerGroupHeartbeatResponse) -> Beat {
        let interval =
            Duration::from_millis(u64::try_from(response.heartbeat_interval_ms).unwrap_or(0));
        match response.error_code {
            codes::NONE => {
                self.full = false;
                self.epoch = response.member_epoch;
                let changed = match response.assignment {
                    Some(assignment) => self.reconcile(assignment.topic_partitions).await,
                    None => false,
                };
                let stable = MemberState::Stable {
                    generation: self.epoch,
                    member_id: self.member_id.clone(),
                    assignment: self.assignment.clone(),
                };
                self.state.send_if_modified(|state| {
                    let changed = *state != stable;
                    *state = stable;
                    changed
                });
                // A new owned set is acknowledged at once.
                Beat::Next(if changed { Duration::ZERO } else { interval })
            }
            codes::UNKNOWN_MEMBER_ID | codes::FENCED_MEMBER_EPOCH => {
                tracing::debug!(member = %self.member_id, code = response.error_code, "fenced; rejoining");
                self.lose_partitions();
                Beat::Next(Duration::ZERO)
            }
            code if codes::is_coordinator_moved(code) => {
                self.close_coordinator("coordinator moved");
                self.full = true;
                Beat::Next(self.settings.retry_backoff())
            }
            code => Beat::Fatal(ClientError::broker(
                "ConsumerGroupHeartbeat",
                code,
                response.error_message.map(|m| m.to_string()),
            )),
        }
    }

    /// Fenced: the partitions are gone without a commit; rejoin from epoch 0 with the same id.
    fn lose_partitions(&mut self) {
        self.fetcher = None;
        self.owned.clear();
        self.assignment.clear();
        self.epoch = 0;
        self.full = true;
        self.assignment_generation += 1;
        self.positions
            .reset(self.assignment_generation, &BTreeMap::new());
        self.state.send_replace(MemberState::Joining);
    }

    /// Names of the subscribed topics by id, from metadata.
    async fn topic_names(&self) -> BTreeMap<Uuid, String> {
        let mut names = BTreeMap::new();
        for topic in &self.topics {
            if let Ok(metadata) = self.cluster.topic(topic).await {
                names.insert(metadata.topic_id, metadata.name);
            }
        }
        names
    }

    /// Applies an assignment from the broker; whether the owned set changed.
    async fn reconcile(
        &mut self,
        assigned: Vec<
        kmock_wire::kafka_protocol::messages::consumer_group_heartbeat_response::TopicPartitions,
    >,
    ) -> bool {
        let mut owned: BTreeMap<Uuid, Vec<i32>> = BTreeMap::new();
        for topic in assigned {
            let mut partitions = topic.partitions;
            partitions.sort_unstable();
            partitions.dedup();
            owned.insert(topic.topic_id, partitions);
        }
        if owned == self.owned {
            return false;
        }
        let mut names = self.topic_names().await;
        if owned.keys().any(|id| !names.contains_key(id)) {
            // A topic created since the metadata was cached: ask the broker again.
            for topic in &self.topics {
                self.cluster.invalidate_topic(topic);
            }
            names = self.topic_names().await;
        }
        let assignment: Assignment = owned
            .iter()
            .filter_map(|(id, partitions)| Some((names.get(id)?.clone(), partitions.clone())))
            .collect();
        // Stop reading, commit what was consumed (the released partitions too), then switch.
        self.fetcher = None;
        if self.settings.enable_auto_commit
            && let Err(error) = self.commit_consumed(None).await
        {
            tracing::debug!(%error, "commit before a new assignment failed");
        }
        self.owned = owned;
        self.assignment = assignment;
        self.assignment_generation += 1;
        let committed = match self.fetch_committed().await {
            Ok(committed) => committed,
            Err(error) => {
                tracing::debug!(%error, "cannot fetch committed offsets; starting from the reset policy");
                BTreeMap::new()
            }
        };
        self.positions.reset(self.assignment_generation, &committed);
        tracing::debug!(member = %self.member_id, epoch = self.epoch, assignment = ?self.assignment, "assignment");
        self.fetcher = Some(AbortOnDrop(tokio::spawn(fetcher::run(FetcherContext {
            cluster: self.cluster.clone(),
            settings: self.settings.clone(),
            generation: self.assignment_generation,
            assignment: self.assignment.clone(),
            committed,
            sink: self.sink.clone(),
            positions: self.positions.clone(),
        }))));
        true
    }

    /// Committed offsets of the assignment (partitions without a commit are left out).
    async fn fetch_committed(&mut self) -> Result<BTreeMap<(String, i32), i64>, ClientError> {
        let mut committed = BTreeMap::new();
        if self.assignment.values().all(Vec::is_empty) {
            return Ok(committed);
        }
        let connection = self.coordinator().await?;
        let version = self.cluster.versions().version_of::<OffsetFetchRequest>()?;
        let request = OffsetFetchRequest::default()
            .with_group_id(self.group_id().into())
            .with_topics(Some(
                self.assignment
                    .iter()
                    .map(|(topic, partitions)| {
                        OffsetFetchRequestTopic::default()
                            .with_name(StrBytes::from_string(topic.clone()).into())
                            .with_partition_indexes(partitions.clone())
                    })
                    .collect(),
            ));
        let response = connection
            .send(&request, version, self.settings.request_timeout())
            .await?;
        if response.error_code != codes::NONE {
            return Err(ClientError::broker(
                "OffsetFetch",
                response.error_code,
                None,
            ));
        }
        for topic in &response.topics {
            for partition in &topic.partitions {
                if partition.error_code == codes::NONE && partition.committed_offset >= 0 {
                    committed.insert(
                        (topic.name.0.to_string(), partition.partition_index),
                        partition.committed_offset,
                    );
                }
            }
        }
        Ok(committed)
    }

    /// Commits the consumed positions of the owned partitions that moved since the last commit,
    /// with the member epoch (OffsetCommit v9), within the request timeout (or by `deadline`).
    async fn commit_consumed(&mut self, deadline: Option<Instant>) -> Result<(), ClientError> {
        let offsets = self
            .positions
            .uncommitted(self.assignment_generation, &self.assignment);
        if offsets.is_empty() {
            return Ok(());
        }
        let connection = self
            .coordinator
            .clone()
            .filter(|c| !c.is_closed())
            .ok_or(ClientError::RebalanceInProgress)?;
        if !self
            .cluster
            .versions()
            .broker_supports(ApiKey::OffsetCommit, OFFSET_COMMIT_MEMBER_EPOCH_VERSION)
        {
            return Err(ClientError::Protocol(
                "the broker has no OffsetCommit v9, which KIP-848 members must use".into(),
            ));
        }
        let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
        for ((topic, partition), offset) in &offsets {
            topics.entry(topic.as_str()).or_default().push(
                OffsetCommitRequestPartition::default()
                    .with_partition_index(*partition)
                    .with_committed_offset(*offset),
            );
        }
        let request = OffsetCommitRequest::default()
            .with_group_id(self.group_id().into())
            .with_generation_id_or_member_epoch(self.epoch)
            .with_member_id(StrBytes::from_string(self.member_id.clone()))
            .with_topics(
                topics
                    .into_iter()
                    .map(|(topic, partitions)| {
                        OffsetCommitRequestTopic::default()
                            .with_name(StrBytes::from_string(topic.to_owned()).into())
                            .with_partitions(partitions)
                    })
                    .collect(),
            );
        let deadline = deadline.unwrap_or_else(|| Instant::now() + self.settings.request_timeout());
        let response = bounded(
            deadline,
            "OffsetCommit",
            &connection,
            connection.send(
                &request,
                OFFSET_COMMIT_MEMBER_EPOCH_VERSION,
                self.settings.request_timeout(),
            ),
        )
        .await?;
        for topic in &response.topics {
            for partition in &topic.partitions {
                if partition.error_code != codes::NONE {
                    return Err(ClientError::broker(
                        "OffsetCommit",
                        partition.error_code,
                        None,
                    ));
                }
            }
        }
        self.positions
            .mark_committed(self.assignment_generation, &offsets);
        Ok(())
    }

    /// On a stop request, commit and leave under its deadline and answer it; when the handle was
    /// dropped, just close.
    async fn end_life(&mut self, stop: Option<Stopping>) {
        self.fetcher = None;
        let Some((deadline, reply, coordinator_busy)) = stop else {
            self.close_coordinator("consumer dropped");
            return;
        };
        if coordinator_busy {
            self.close_coordinator("stopped with a heartbeat in flight");
        }
        let result = self.leave(deadline).await;
        self.state.send_replace(MemberState::Stopped);
        let _ = reply.send(result);
    }

    /// Stop sequence under `deadline`: commit (auto-commit only), leave heartbeat, close.
    async fn leave(&mut self, deadline: Instant) -> Result<(), ClientError> {
        let mut first_error = None;
        let joined = self.epoch > 0;
        if joined && self.coordinator.as_ref().is_none_or(Connection::is_closed) {
            match tokio::time::timeout_at(deadline, self.coordinator()).await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    first_error.get_or_insert(error);
                }
                Err(_) => {
                    first_error.get_or_insert(ClientError::RequestTimeout {
                        api: "FindCoordinator".into(),
                        address: "cluster".into(),
                        timeout: self.settings.request_timeout(),
                    });
                }
            }
        }
        if joined
            && self.settings.enable_auto_commit
            && self.coordinator.is_some()
            && let Err(error) = self.commit_consumed(Some(deadline)).await
        {
            tracing::debug!(%error, "commit on stop failed");
            first_error.get_or_insert(error);
        }
        if joined
            && let Some(connection) = self.coordinator.clone()
            && Instant::now() < deadline
            && let Err(error) = self.send_leave(&connection, deadline).await
        {
            tracing::debug!(%error, "leave heartbeat failed");
            first_error.get_or_insert(error);
        }
        self.close_coordinator("consumer stopped");
        self.epoch = LEAVE_GROUP_MEMBER_EPOCH;
        match first_error {
            None => Ok(()),
            Some(error) => Err(error),
        }
    }

    async fn send_leave(
        &self,
        connection: &Connection,
        deadline: Instant,
    ) -> Result<(), ClientError> {
        let version = self
            .cluster
            .versions()
            .version_of::<ConsumerGroupHeartbeatRequest>()?;
        let request = ConsumerGroupHeartbeatRequest::default()
            .with_group_id(self.group_id().into())
            .with_member_id(StrBytes::from_string(self.member_id.clone()))
            .with_member_epoch(LEAVE_GROUP_MEMBER_EPOCH);
        let response = bounded(
            deadline,
            "ConsumerGroupHeartbeat",
            connection,
            connection.send(&request, version, self.settings.request_timeout()),
        )
        .await?;
        if response.error_code == codes::NONE {
            Ok(())
        } else {
            Err(ClientError::broker(
                "ConsumerGroupHeartbeat",
                response.error_code,
                response.error_message.map(|m| m.to_string()),
            ))
        }
    }
}

/// Awaits `work` (a heartbeat, a commit) while listening to the handle: a Stop interrupts it
/// (`Err` with the stop request, marked as having a request in flight on the coordinator
/// connection, or `None` when the handle is gone); a Commit asked for meanwhile gets
/// REBALANCE_IN_PROGRESS-like refusal (`ClientError::RebalanceInProgress`): the member is busy.
async fn interruptible<T>(
    control: &mut mpsc::UnboundedReceiver<Control>,
    work: impl Future<Output = T>,
) -> Result<T, Option<Stopping>> {
    tokio::pin!(work);
    loop {
        tokio::select! {
            biased;
            command = control.recv() => match command {
                Some(Control::Stop { deadline, reply }) => return Err(Some((deadline, reply, true))),
                Some(Control::Commit(reply)) => {
                    let _ = reply.send(Err(ClientError::RebalanceInProgress));
                }
                None => return Err(None),
            },
            done = &mut work => return Ok(done),
        }
    }
}

/// Awaits `request` until `deadline`; on expiry closes `connection` and reports a timeout.
async fn bounded<T>(
    deadline: Instant,
    api: &str,
    connection: &Connection,
    request: impl Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    let started = Instant::now();
    match tokio::time::timeout_at(deadline, request).await {
        Ok(result) => result,
        Err(_) => {
            connection.close(&format!("{api} timed out"));
            Err(ClientError::RequestTimeout {
                api: api.to_owned(),
                address: connection.address().to_owned(),
                timeout: deadline.saturating_duration_since(started),
            })
        }
    }
}
