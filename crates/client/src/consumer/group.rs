//! The group member task: FindCoordinator → JoinGroup (MEMBER_ID_REQUIRED handled) → SyncGroup
//! (assignments computed here when leader) → OffsetFetch → heartbeats on their own task and the
//! fetcher on its own task → periodic and on-demand OffsetCommit → rejoin on
//! REBALANCE_IN_PROGRESS / ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID → stop: commit, LeaveGroup.
//!
//! Owns: the member's coordinator connection (dedicated: a parked JoinGroup must not block other
//! members' requests), its member id and generation, its assignment, and the heartbeat and
//! fetcher tasks (aborted when the member leaves the stable state or is dropped).
//!
//! The stop sequence (stop fetching, commit, LeaveGroup, close) runs under one deadline of
//! `request_timeout` from the moment stop was asked: a slow, dropped, failing or closed LeaveGroup
//! never makes it longer.
//!
//! # References
//! - Kafka `AbstractCoordinator` / `ConsumerCoordinator` (classic protocol), KIP-394
//!   (MEMBER_ID_REQUIRED), KIP-345 (LeaveGroup v3+ member list).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kmock_wire::kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kmock_wire::kafka_protocol::messages::leave_group_request::MemberIdentity;
use kmock_wire::kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kmock_wire::kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kmock_wire::kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kmock_wire::kafka_protocol::messages::{
    HeartbeatRequest, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, OffsetCommitRequest,
    OffsetFetchRequest, SyncGroupRequest,
};
use kmock_wire::kafka_protocol::protocol::StrBytes;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::fetcher::{self, FetcherContext};
use super::protocol::{self, Assignment, CONSUMER_PROTOCOL_TYPE};
use super::{AbortOnDrop, Delivery, MemberState, Positions, assignor};
use crate::cluster::Cluster;
use crate::connection::Connection;
use crate::error::{ClientError, codes};
use crate::settings::{AssignmentStrategy, Settings};

/// Extra time a JoinGroup may take beyond the rebalance timeout (Java's `JOIN_GROUP_TIMEOUT_LAPSE`).
const JOIN_GROUP_TIMEOUT_LAPSE: Duration = Duration::from_secs(5);

/// What the consumer handle asks of its member task.
#[derive(Debug)]
pub(crate) enum Control {
    /// Commit consumed offsets now.
    Commit(oneshot::Sender<Result<(), ClientError>>),
    /// Stop by `deadline`: stop fetching, commit, leave, close.
    Stop {
        deadline: Instant,
        reply: oneshot::Sender<Result<(), ClientError>>,
    },
}

/// What the heartbeat task reports.
#[derive(Debug, Clone, PartialEq)]
enum Event {
    /// The group is rebalancing or has forgotten us: rejoin.
    Rejoin(i16),
    /// The coordinator is gone (moved, connection lost): find it again and rejoin.
    CoordinatorLost(String),
}

/// How a phase of the member's life ended.
enum PhaseEnd {
    /// Joined: go on to the stable phase.
    Stable,
    /// Join (again).
    Rejoin,
    /// Stop with the handle's request, or `None` when the handle was dropped.
    Stop(Option<Stopping>),
    /// The group cannot be joined and the handle has stopped or been dropped: nothing is left.
    GaveUp,
}

/// A stop request, and whether a request of ours may still be in flight on the coordinator
/// connection (then the stop commits and leaves on a fresh one).
type Stopping = (Instant, oneshot::Sender<Result<(), ClientError>>, bool);

/// Why a join attempt ended without a stable membership.
enum JoinFailure {
    /// Try again (after a backoff if `backoff`).
    Retry { backoff: bool },
    /// Give up: the group cannot be joined with these settings.
    Fatal(ClientError),
}

/// The member's state machine; runs on its own task.
pub(crate) struct Member {
    pub(crate) cluster: Cluster,
    pub(crate) settings: Settings,
    pub(crate) topics: Vec<String>,
    pub(crate) member_id: String,
    pub(crate) generation: i32,
    pub(crate) coordinator: Option<Connection>,
    pub(crate) assignment: Assignment,
    pub(crate) positions: Arc<Positions>,
    pub(crate) sink: mpsc::Sender<Delivery>,
    pub(crate) state: watch::Sender<MemberState>,
    heartbeat: Option<AbortOnDrop>,
    /// Set by the heartbeat task while a Heartbeat awaits its response on the coordinator
    /// connection: a stop then leaves on a fresh connection (the broker answers a connection's
    /// requests in order, so a commit or LeaveGroup would queue behind a slow heartbeat).
    heartbeat_in_flight: Arc<AtomicBool>,
    /// SyncGroup failures since the last successful one (see `sync_group`).
    sync_failures_in_a_row: u32,
    fetcher: Option<AbortOnDrop>,
    events: mpsc::UnboundedReceiver<Event>,
    events_tx: mpsc::UnboundedSender<Event>,
}

impl Member {
    pub(crate) fn new(
        cluster: Cluster,
        topics: Vec<String>,
        positions: Arc<Positions>,
        sink: mpsc::Sender<Delivery>,
        state: watch::Sender<MemberState>,
    ) -> Self {
        let (events_tx, events) = mpsc::unbounded_channel();
        Self {
            settings: cluster.settings().clone(),
            cluster,
            topics,
            member_id: String::new(),
            generation: -1,
            coordinator: None,
            assignment: Assignment::new(),
            positions,
            sink,
            state,
            heartbeat: None,
            heartbeat_in_flight: Arc::new(AtomicBool::new(false)),
            sync_failures_in_a_row: 0,
            fetcher: None,
            events,
            events_tx,
        }
    }

    fn group_id(&self) -> StrBytes {
        StrBytes::from_string(self.settings.group_id.clone())
    }

    /// The member's life: join, be stable, rejoin as needed, until stopped or dropped.
    pub(crate) async fn run(mut self, mut control: mpsc::UnboundedReceiver<Control>) {
        let stop = loop {
            match self.join_phase(&mut control).await {
                PhaseEnd::Stable => {}
                PhaseEnd::Rejoin => continue,
                PhaseEnd::Stop(stop) => break stop,
                PhaseEnd::GaveUp => return,
            }
            match self.stable_phase(&mut control).await {
                PhaseEnd::Stop(stop) => break stop,
                PhaseEnd::Stable | PhaseEnd::Rejoin | PhaseEnd::GaveUp => {
                    self.leave_stable_state().await;
                }
            }
        };
        self.end_life(stop).await;
    }

    /// Rebalance (JoinGroup, SyncGroup), answering the handle meanwhile.
    async fn join_phase(&mut self, control: &mut mpsc::UnboundedReceiver<Control>) -> PhaseEnd {
        self.state.send_replace(MemberState::Joining);
        let joined = match rebalancing(self.join_and_sync(), control).await {
            Ok(joined) => joined,
            Err(stop) => {
                return PhaseEnd::Stop(stop.map(|(deadline, reply)| (deadline, reply, true)));
            }
        };
        match joined {
            Ok(()) => PhaseEnd::Stable,
            Err(JoinFailure::Retry { backoff }) => {
                if backoff {
                    let pause = tokio::time::sleep(self.settings.retry_backoff());
                    if let Err(stop) = rebalancing(pause, control).await {
                        return PhaseEnd::Stop(
                            stop.map(|(deadline, reply)| (deadline, reply, false)),
                        );
                    }
                }
                PhaseEnd::Rejoin
            }
            Err(JoinFailure::Fatal(error)) => {
                self.serve_failure(error, control).await;
                PhaseEnd::GaveUp
            }
        }
    }

    /// The group cannot be joined: report it, then answer commits with the error until the
    /// handle stops or is dropped.
    async fn serve_failure(
        &mut self,
        error: ClientError,
        control: &mut mpsc::UnboundedReceiver<Control>,
    ) {
        tracing::warn!(group = %self.settings.group_id, %error, "cannot join the group");
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

    /// Stable: heartbeat and fetch in the background, commit on request and on the auto-commit
    /// tick, until the handle stops (`Stop`) or the group needs a rejoin (`Rejoin`).
    async fn stable_phase(&mut self, control: &mut mpsc::UnboundedReceiver<Control>) -> PhaseEnd {
        self.state.send_replace(MemberState::Stable {
            generation: self.generation,
            member_id: self.member_id.clone(),
            assignment: self.assignment.clone(),
        });
        self.start_heartbeat();
        let auto_commit = self.settings.enable_auto_commit;
        let mut commit_tick = tokio::time::interval_at(
            Instant::now() + self.settings.auto_commit_interval(),
            self.settings.auto_commit_interval(),
        );
        commit_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                command = control.recv() => match command {
                    Some(Control::Stop { deadline, reply }) => {
                        // A heartbeat still in flight would hold the commit and LeaveGroup
                        // behind it on this connection: leave on a fresh one then.
                        let busy = self.heartbeat_in_flight.load(Ordering::Acquire);
                        return PhaseEnd::Stop(Some((deadline, reply, busy)));
                    }
                    Some(Control::Commit(reply)) => {
                        let result = match self.commit_and_answer(vec![reply], control).await {
                            Ok(result) => result,
                            Err(stop) => return PhaseEnd::Stop(stop),
                        };
                        let code = result.as_ref().err().and_then(ClientError::code);
                        if code.is_some_and(needs_rejoin) {
                            return PhaseEnd::Rejoin;
                        }
                    }
                    None => return PhaseEnd::Stop(None),
                },
                event = self.events.recv() => {
                    match event {
                        Some(Event::Rejoin(code)) => {
                            tracing::debug!(member = %self.member_id, code, "rejoining");
                            if code == codes::UNKNOWN_MEMBER_ID {
                                self.member_id.clear();
                            }
                        }
                        Some(Event::CoordinatorLost(reason)) => {
                            tracing::debug!(member = %self.member_id, %reason, "coordinator lost");
                            self.close_coordinator(&reason);
                        }
                        None => {}
                    }
                    return PhaseEnd::Rejoin;
                }
                _ = commit_tick.tick(), if auto_commit => {
                    let result = match self.commit_and_answer(Vec::new(), control).await {
                        Ok(result) => result,
                        Err(stop) => return PhaseEnd::Stop(stop),
                    };
                    if let Err(error) = result {
                        tracing::debug!(%error, "auto-commit failed");
                        if error.code().is_some_and(needs_rejoin) {
                            return PhaseEnd::Rejoin;
                        }
                    }
                }
            }
        }
    }

    /// Commits what was consumed and answers `replies`, and every Commit request that arrives
    /// meanwhile, with the result. `Err` when a Stop (or the handle's drop) interrupts it; the
    /// commit may then still be in flight on the coordinator connection.
    async fn commit_and_answer(
        &mut self,
        mut replies: Vec<oneshot::Sender<Result<(), ClientError>>>,
        control: &mut mpsc::UnboundedReceiver<Control>,
    ) -> Result<Result<(), ClientError>, Option<Stopping>> {
        let result = commit_or_stop(self.commit_consumed(None), control, &mut replies)
            .await
            .map_err(|stop| stop.map(|(deadline, reply)| (deadline, reply, true)))?;
        for reply in replies {
            let _ = reply.send(result.clone());
        }
        Ok(result)
    }

    /// Leaving the stable state for a rejoin: stop background work, commit what was consumed
    /// (best effort; the generation may already be gone), drain stale events of the old
    /// generation.
    async fn leave_stable_state(&mut self) {
        self.stop_background();
        if self.settings.enable_auto_commit && self.coordinator.is_some() {
            let _ = self.commit_consumed(None).await;
        }
        while self.events.try_recv().is_ok() {}
    }

    /// The end: on a stop request, commit and leave under its deadline and answer it; when the
    /// handle was dropped, just close.
    async fn end_life(&mut self, stop: Option<Stopping>) {
        self.stop_background();
        let Some((deadline, reply, coordinator_busy)) = stop else {
            // The handle was dropped: just close.
            self.close_coordinator("consumer dropped");
            return;
        };
        if coordinator_busy {
            // A JoinGroup, SyncGroup, OffsetCommit or Heartbeat may still be in flight on the
            // coordinator connection, and the broker answers a connection's requests in order:
            // commit and leave on a fresh connection instead.
            self.close_coordinator("stopped with a request in flight");
        }
        let result = self.leave(deadline).await;
        self.state.send_replace(MemberState::Stopped);
        let _ = reply.send(result);
    }

    /// Stop sequence under `deadline`: commit (auto-commit only), LeaveGroup, close. A coordinator
    /// connection that is gone (or closes under the commit) is opened again for the next step, as
    /// long as the deadline allows.
    async fn leave(&mut self, deadline: Instant) -> Result<(), ClientError> {
        let mut first_error = None;
        self.reconnect_to_leave(deadline, &mut first_error).await;
        if self.settings.enable_auto_commit
            && self.generation >= 0
            && self.coordinator.is_some()
            && let Err(error) = self.commit_consumed(Some(deadline)).await
        {
            tracing::debug!(%error, "commit on stop failed");
            first_error.get_or_insert(error);
        }
        if Instant::now() < deadline {
            self.reconnect_to_leave(deadline, &mut first_error).await;
        }
        if !self.member_id.is_empty()
            && let Some(connection) = self.coordinator.clone()
            && Instant::now() < deadline
            && let Err(error) = self
                .leave_group_following_a_move(connection, deadline)
                .await
        {
            tracing::debug!(%error, "LeaveGroup failed");
            first_error.get_or_insert(error);
        }
        self.close_coordinator("consumer stopped");
        self.member_id.clear();
        self.generation = -1;
        match first_error {
            None => Ok(()),
            Some(error) => Err(error),
        }
    }

    /// A member that has a member id but no open coordinator connection finds the coordinator and
    /// connects again, by `deadline`; a failure becomes the stop's error (unless it has one).
    async fn reconnect_to_leave(
        &mut self,
        deadline: Instant,
        first_error: &mut Option<ClientError>,
    ) {
        if self.member_id.is_empty() || self.coordinator.as_ref().is_some_and(|c| !c.is_closed()) {
            return;
        }
        match tokio::time::timeout_at(deadline, self.coordinator()).await {
            Ok(Ok(connection)) => tracing::debug!(
                address = connection.address(),
                "reconnected to the coordinator to leave"
            ),
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

    /// LeaveGroup; answered NOT_COORDINATOR (the coordinator moved to another broker during the
    /// stop), the coordinator is looked up again and the LeaveGroup sent there, once, by the same
    /// deadline: the member leaves at once instead of lingering until its session times out.
    /// Other errors (COORDINATOR_NOT_AVAILABLE: nowhere to go) end the stop as they are.
    async fn leave_group_following_a_move(
        &mut self,
        connection: Connection,
        deadline: Instant,
    ) -> Result<(), ClientError> {
        let error = match self.send_leave_group(&connection, deadline).await {
            Err(error) if error.code() == Some(codes::NOT_COORDINATOR) => error,
            result => return result,
        };
        tracing::debug!(%error, "LeaveGroup: the coordinator moved, looking it up again");
        self.close_coordinator("the coordinator moved");
        let mut lookup_error = None;
        self.reconnect_to_leave(deadline, &mut lookup_error).await;
        if let Some(lookup_error) = lookup_error {
            return Err(lookup_error);
        }
        match self.coordinator.clone() {
            Some(connection) if Instant::now() < deadline => {
                self.send_leave_group(&connection, deadline).await
            }
            _ => Err(error),
        }
    }

    async fn send_leave_group(
        &self,
        connection: &Connection,
        deadline: Instant,
    ) -> Result<(), ClientError> {
        let version = self.cluster.versions().version_of::<LeaveGroupRequest>()?;
        let member_id = StrBytes::from_string(self.member_id.clone());
        let mut request = LeaveGroupRequest::default().with_group_id(self.group_id().into());
        if version >= 3 {
            let mut member = MemberIdentity::default().with_member_id(member_id);
            if version >= 5 {
                member =
                    member.with_reason(Some(StrBytes::from_static_str("the consumer is stopping")));
            }
            request = request.with_members(vec![member]);
        } else {
            request = request.with_member_id(member_id);
        }
        let response = bounded(
            deadline,
            "LeaveGroup",
            connection,
            connection.send(&request, version, self.settings.request_timeout()),
        )
        .await?;
        let code = if response.error_code != codes::NONE {
            response.error_code
        } else {
            response
                .members
                .iter()
                .map(|m| m.error_code)
                .find(|c| *c != codes::NONE)
                .unwrap_or(codes::NONE)
        };
        if code == codes::NONE {
            Ok(())
        } else {
            Err(ClientError::broker("LeaveGroup", code, None))
        }
    }

    fn close_coordinator(&mut self, reason: &str) {
        if let Some(connection) = self.coordinator.take() {
            connection.close(reason);
        }
    }

    fn stop_background(&mut self) {
        // Aborting the task leaves the flag as it was: a heartbeat cut off mid-flight still has
        // its request on the connection.
        self.heartbeat = None;
        self.fetcher = None;
    }

    fn start_heartbeat(&mut self) {
        let Some(connection) = self.coordinator.clone() else {
            return;
        };
        let Ok(version) = self.cluster.versions().version_of::<HeartbeatRequest>() else {
            return;
        };
        let request = HeartbeatRequest::default()
            .with_group_id(self.group_id().into())
            .with_generation_id(self.generation)
            .with_member_id(StrBytes::from_string(self.member_id.clone()));
        let interval = self.settings.heartbeat_interval();
        let timeout = self.settings.request_timeout();
        let events = self.events_tx.clone();
        // A new task on a connection whose earlier requests were all answered (the join and sync
        // just came back on it, in order): nothing of ours is in flight on it.
        self.heartbeat_in_flight.store(false, Ordering::Release);
        let in_flight = self.heartbeat_in_flight.clone();
        self.heartbeat = Some(AbortOnDrop(tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                in_flight.store(true, Ordering::Release);
                let sent = connection.send(&request, version, timeout).await;
                in_flight.store(false, Ordering::Release);
                match sent {
                    Ok(response) if response.error_code == codes::NONE => {}
                    Ok(response) if needs_rejoin(response.error_code) => {
                        let _ = events.send(Event::Rejoin(response.error_code));
                        return;
                    }
                    Ok(response) if codes::is_coordinator_moved(response.error_code) => {
                        let _ = events.send(Event::CoordinatorLost(format!(
                            "heartbeat error {}",
                            response.error_code
                        )));
                        return;
                    }
                    Ok(response) => {
                        tracing::warn!(code = response.error_code, "unexpected heartbeat error");
                    }
                    Err(error) => {
                        let _ = events.send(Event::CoordinatorLost(error.to_string()));
                        return;
                    }
                }
            }
        })));
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

    /// One join attempt: JoinGroup until accepted, SyncGroup, committed offsets, fetcher.
    async fn join_and_sync(&mut self) -> Result<(), JoinFailure> {
        let connection = match self.coordinator().await {
            Ok(connection) => connection,
            Err(error) => {
                tracing::debug!(%error, "cannot reach the coordinator");
                return Err(retry_or_fatal(error));
            }
        };
        let join = self.join_group(&connection).await?;
        let assignments = if join.leader == join.member_id {
            match self.compute_assignments(&join).await {
                Ok(assignments) => assignments,
                Err(error) => return Err(retry_or_fatal(error)),
            }
        } else {
            Vec::new()
        };
        self.sync_group(&connection, &join, assignments).await?;
        let committed = match self.fetch_committed(&connection).await {
            Ok(committed) => committed,
            Err(error) => {
                tracing::debug!(%error, "cannot fetch committed offsets");
                if error.is_connection_error() {
                    self.close_coordinator("OffsetFetch failed");
                }
                return Err(retry_or_fatal(error));
            }
        };
        self.positions.reset(self.generation, &committed);
        self.fetcher = Some(AbortOnDrop(tokio::spawn(fetcher::run(FetcherContext {
            cluster: self.cluster.clone(),
            settings: self.settings.clone(),
            generation: self.generation,
            assignment: self.assignment.clone(),
            committed,
            sink: self.sink.clone(),
            positions: self.positions.clone(),
        }))));
        Ok(())
    }

    async fn join_group(
        &mut self,
        connection: &Connection,
    ) -> Result<JoinGroupResponse, JoinFailure> {
        let version = self
            .cluster
            .versions()
            .version_of::<JoinGroupRequest>()
            .map_err(JoinFailure::Fatal)?;
        let subscription =
            protocol::encode_subscription(&self.topics).map_err(JoinFailure::Fatal)?;
        let timeout = self.settings.request_timeout().max(
            Duration::from_millis(self.settings.max_poll_interval_ms.into())
                + JOIN_GROUP_TIMEOUT_LAPSE,
        );
        // MEMBER_ID_REQUIRED costs one extra round trip; bound the loop anyway.
        for _ in 0..3 {
            let mut request = JoinGroupRequest::default()
                .with_group_id(self.group_id().into())
                .with_session_timeout_ms(
                    i32::try_from(self.settings.session_timeout_ms).unwrap_or(i32::MAX),
                )
                .with_member_id(StrBytes::from_string(self.member_id.clone()))
                .with_protocol_type(StrBytes::from_static_str(CONSUMER_PROTOCOL_TYPE))
                .with_protocols(
                    self.settings
                        .assignment_strategies
                        .iter()
                        .map(|s| {
                            JoinGroupRequestProtocol::default()
                                .with_name(StrBytes::from_static_str(s.protocol_name()))
                                .with_metadata(subscription.clone())
                        })
                        .collect(),
                );
            if version >= 1 {
                request = request.with_rebalance_timeout_ms(
                    i32::try_from(self.settings.max_poll_interval_ms).unwrap_or(i32::MAX),
                );
            }
            let response = match connection.send(&request, version, timeout).await {
                Ok(response) => response,
                Err(error) => {
                    tracing::debug!(%error, "JoinGroup failed");
                    self.close_coordinator("JoinGroup failed");
                    return Err(JoinFailure::Retry { backoff: true });
                }
            };
            match response.error_code {
                codes::NONE => {
                    self.member_id = response.member_id.to_string();
                    self.generation = response.generation_id;
                    return Ok(response);
                }
                codes::MEMBER_ID_REQUIRED => {
                    self.member_id = response.member_id.to_string();
                }
                codes::UNKNOWN_MEMBER_ID => {
                    self.member_id.clear();
                }
                codes::REBALANCE_IN_PROGRESS | codes::ILLEGAL_GENERATION => {}
                code if codes::is_coordinator_moved(code) => {
                    self.close_coordinator("coordinator moved");
                    return Err(JoinFailure::Retry { backoff: true });
                }
                code if join_error_is_fatal(code) => {
                    return Err(JoinFailure::Fatal(ClientError::broker(
                        "JoinGroup",
                        code,
                        None,
                    )));
                }
                code => {
                    tracing::warn!(code, "unexpected JoinGroup error; retrying");
                    return Err(JoinFailure::Retry { backoff: true });
                }
            }
        }
        Err(JoinFailure::Retry { backoff: true })
    }

    /// As leader: decode subscriptions, learn partition counts, run the chosen assignor.
    async fn compute_assignments(
        &self,
        join: &JoinGroupResponse,
    ) -> Result<Vec<SyncGroupRequestAssignment>, ClientError> {
        let protocol_name = join
            .protocol_name
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let strategy = AssignmentStrategy::from_protocol_name(&protocol_name).ok_or_else(|| {
            ClientError::Protocol(format!(
                "the group chose unknown assignor {protocol_name:?}"
            ))
        })?;
        let mut subscriptions = BTreeMap::new();
        for member in &join.members {
            let topics = match protocol::decode_subscription(&member.metadata) {
                Ok(topics) => topics,
                Err(error) => {
                    tracing::warn!(member = %member.member_id, %error, "undecodable subscription; assigning nothing");
                    Vec::new()
                }
            };
            subscriptions.insert(member.member_id.to_string(), topics);
        }
        let mut all_topics: Vec<&str> = subscriptions
            .values()
            .flatten()
            .map(String::as_str)
            .collect();
        all_topics.sort_unstable();
        all_topics.dedup();
        let mut partition_counts = BTreeMap::new();
        for topic in all_topics {
            match self.cluster.fetch_topic(topic).await {
                Ok(metadata) => {
                    partition_counts.insert(topic.to_owned(), metadata.partition_count());
                }
                // A topic that does not exist gets no partitions, as in Kafka's assignors.
                Err(ClientError::UnknownTopic { .. }) => {
                    tracing::warn!(%topic, "subscribed topic does not exist; assigning none of it");
                }
                // Any other failure (a broker error, a timeout, a lost connection) says nothing
                // about the topic: assigning from it would hand out an empty assignment that no
                // later event corrects. Fail this join attempt; the member rejoins and the leader
                // assigns again once metadata answers.
                Err(error) => {
                    tracing::warn!(%topic, %error, "no metadata for a subscribed topic; rejoining");
                    return Err(error);
                }
            }
        }
        let assignments = assignor::assign(strategy, &subscriptions, &partition_counts);
        tracing::debug!(?assignments, "leader computed assignments");
        assignments
            .iter()
            .map(|(member, assignment)| {
                Ok(SyncGroupRequestAssignment::default()
                    .with_member_id(StrBytes::from_string(member.clone()))
                    .with_assignment(protocol::encode_assignment(assignment)?))
            })
            .collect()
    }

    async fn sync_group(
        &mut self,
        connection: &Connection,
        join: &JoinGroupResponse,
        assignments: Vec<SyncGroupRequestAssignment>,
    ) -> Result<(), JoinFailure> {
        let version = self
            .cluster
            .versions()
            .version_of::<SyncGroupRequest>()
            .map_err(JoinFailure::Fatal)?;
        let mut request = SyncGroupRequest::default()
            .with_group_id(self.group_id().into())
            .with_generation_id(self.generation)
            .with_member_id(StrBytes::from_string(self.member_id.clone()))
            .with_assignments(assignments);
        if version >= 5 {
            request = request
                .with_protocol_type(Some(StrBytes::from_static_str(CONSUMER_PROTOCOL_TYPE)))
                .with_protocol_name(join.protocol_name.clone());
        }
        let timeout = self.settings.request_timeout().max(
            Duration::from_millis(self.settings.max_poll_interval_ms.into())
                + JOIN_GROUP_TIMEOUT_LAPSE,
        );
        let response = match connection.send(&request, version, timeout).await {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(%error, "SyncGroup failed");
                self.close_coordinator("SyncGroup failed");
                return Err(JoinFailure::Retry { backoff: true });
            }
        };
        // After a failed SyncGroup the member rejoins at once, as Java's does: Kafka parks that
        // JoinGroup until the new rebalance completes. A coordinator that fails SyncGroup again
        // and again while answering JoinGroup at once (the storm's
        // `sync_group:error=rebalance_in_progress`) would make that a loop without pause (in
        // virtual time one that never lets the clock move): from the second failure in a row
        // the rejoin waits the retry backoff.
        if response.error_code != codes::NONE {
            self.sync_failures_in_a_row = self.sync_failures_in_a_row.saturating_add(1);
        }
        let backoff = self.sync_failures_in_a_row > 1;
        match response.error_code {
            codes::NONE => self.sync_failures_in_a_row = 0,
            codes::UNKNOWN_MEMBER_ID => {
                self.member_id.clear();
                return Err(JoinFailure::Retry { backoff });
            }
            codes::REBALANCE_IN_PROGRESS | codes::ILLEGAL_GENERATION => {
                return Err(JoinFailure::Retry { backoff });
            }
            code if codes::is_coordinator_moved(code) => {
                self.close_coordinator("coordinator moved");
                return Err(JoinFailure::Retry { backoff: true });
            }
            code if join_error_is_fatal(code) => {
                return Err(JoinFailure::Fatal(ClientError::broker(
                    "SyncGroup",
                    code,
                    None,
                )));
            }
            code => {
                tracing::warn!(code, "unexpected SyncGroup error; rejoining");
                return Err(JoinFailure::Retry { backoff: true });
            }
        }
        match protocol::decode_assignment(&response.assignment) {
            Ok(assignment) => {
                // Keep only what we subscribed to.
                self.assignment = assignment
                    .into_iter()
                    .filter(|(topic, _)| self.topics.contains(topic))
                    .collect();
                tracing::debug!(member = %self.member_id, generation = self.generation, assignment = ?self.assignment, "joined");
                Ok(())
            }
            Err(error) => Err(JoinFailure::Fatal(error)),
        }
    }

    /// Committed offsets of the assignment (partitions without a commit are left out).
    async fn fetch_committed(
        &self,
        connection: &Connection,
    ) -> Result<BTreeMap<(String, i32), i64>, ClientError> {
        let mut committed = BTreeMap::new();
        if self.assignment.values().all(Vec::is_empty) {
            return Ok(committed);
        }
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
                if partition.error_code != codes::NONE {
                    return Err(ClientError::broker(
                        "OffsetFetch",
                        partition.error_code,
                        None,
                    ));
                }
                if partition.committed_offset >= 0 {
                    committed.insert(
                        (topic.name.0.to_string(), partition.partition_index),
                        partition.committed_offset,
                    );
                }
            }
        }
        Ok(committed)
    }

    /// Commits the consumed positions of the current assignment that moved since the last
    /// commit, within the request timeout (or by `deadline`).
    async fn commit_consumed(&mut self, deadline: Option<Instant>) -> Result<(), ClientError> {
        let offsets = self
            .positions
            .uncommitted(self.generation, &self.assignment);
        if offsets.is_empty() {
            return Ok(());
        }
        let connection = self
            .coordinator
            .clone()
            .filter(|c| !c.is_closed())
            .ok_or(ClientError::RebalanceInProgress)?;
        let version = self
            .cluster
            .versions()
            .version_of::<OffsetCommitRequest>()?;
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
            .with_generation_id_or_member_epoch(self.generation)
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
            connection.send(&request, version, self.settings.request_timeout()),
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
        self.positions.mark_committed(self.generation, &offsets);
        Ok(())
    }
}

type StopRequest = (Instant, oneshot::Sender<Result<(), ClientError>>);

/// Awaits a commit while still listening to the handle: a Stop interrupts it (`Err` with the stop
/// request, or `None` when the handle is gone), Commit requests meanwhile join `replies` (they
/// share this commit's result).
async fn commit_or_stop(
    commit: impl Future<Output = Result<(), ClientError>>,
    control: &mut mpsc::UnboundedReceiver<Control>,
    replies: &mut Vec<oneshot::Sender<Result<(), ClientError>>>,
) -> Result<Result<(), ClientError>, Option<StopRequest>> {
    tokio::pin!(commit);
    loop {
        tokio::select! {
            biased;
            command = control.recv() => match command {
                Some(Control::Stop { deadline, reply }) => {
                    for waiting in replies.drain(..) {
                        let _ = waiting.send(Err(ClientError::Closed));
                    }
                    return Err(Some((deadline, reply)));
                }
                Some(Control::Commit(reply)) => replies.push(reply),
                None => return Err(None),
            },
            result = &mut commit => return Ok(result),
        }
    }
}

/// Awaits `work` (a join attempt, a backoff) while the member has no stable membership: commits
/// asked for meanwhile get REBALANCE_IN_PROGRESS; a Stop interrupts it (`Err` with the stop
/// request, or `None` when the handle is gone).
async fn rebalancing<T>(
    work: impl Future<Output = T>,
    control: &mut mpsc::UnboundedReceiver<Control>,
) -> Result<T, Option<StopRequest>> {
    tokio::pin!(work);
    loop {
        tokio::select! {
            biased;
            command = control.recv() => match command {
                Some(Control::Stop { deadline, reply }) => return Err(Some((deadline, reply))),
                Some(Control::Commit(reply)) => {
                    let _ = reply.send(Err(ClientError::RebalanceInProgress));
                }
                None => return Err(None),
            },
            done = &mut work => return Ok(done),
        }
    }
}

/// JoinGroup / SyncGroup errors after which joining again cannot help: the settings, the group id
/// or the authorization are wrong. Any other unexpected code is retried after a backoff, as Java's
/// consumer retries on its next `poll()` (a member that gave up for good on a transient error
/// would never consume again: the fault storm found that with SyncGroup answered
/// NOT_LEADER_OR_FOLLOWER for three seconds).
fn join_error_is_fatal(code: i16) -> bool {
    matches!(
        code,
        codes::INCONSISTENT_GROUP_PROTOCOL
            | codes::INVALID_GROUP_ID
            | codes::INVALID_SESSION_TIMEOUT
            | codes::GROUP_AUTHORIZATION_FAILED
            | codes::GROUP_MAX_SIZE_REACHED
            | codes::FENCED_INSTANCE_ID
            | codes::UNSUPPORTED_VERSION
    )
}

/// Errors that send a member back to JoinGroup.
fn needs_rejoin(code: i16) -> bool {
    matches!(
        code,
        codes::REBALANCE_IN_PROGRESS
            | codes::ILLEGAL_GENERATION
            | codes::UNKNOWN_MEMBER_ID
            | codes::FENCED_INSTANCE_ID
    )
}

fn retry_or_fatal(error: ClientError) -> JoinFailure {
    match error {
        ClientError::UnsupportedApi { .. } | ClientError::Closed => JoinFailure::Fatal(error),
        _ => JoinFailure::Retry { backoff: true },
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
