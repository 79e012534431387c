//! A pool of N consumers in one group (the seed's `SSE_CONSUMER_POOL_SIZE`), started together and
//! stopped together: [`ConsumerPool::stop`] stops every member concurrently under one shared
//! deadline, so teardown is bounded by `request_timeout` whatever N is (not N × request_timeout).
//!
//! Owns: its members and the one record channel they all deliver into.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::consumer::{Consumer, ConsumerRecord, Delivery, MemberState, RECORD_BUFFER};
use crate::error::ClientError;

/// How often [`ConsumerPool::wait_stable`] looks at the members' states.
const STABLE_POLL: Duration = Duration::from_millis(10);

/// N consumers of one group.
#[derive(Debug)]
pub struct ConsumerPool {
    members: Vec<Consumer>,
    records: mpsc::Receiver<Delivery>,
    request_timeout: Duration,
}

impl ConsumerPool {
    /// Starts `settings.consumer_pool_size` members subscribed to `topics`.
    pub fn start(cluster: Cluster, topics: &[&str]) -> ConsumerPool {
        let size = cluster.settings().consumer_pool_size;
        Self::start_with_size(cluster, topics, size)
    }

    /// Starts `size` members (at least one).
    pub fn start_with_size(cluster: Cluster, topics: &[&str], size: usize) -> ConsumerPool {
        let size = size.max(1);
        let (sink, records) = mpsc::channel(RECORD_BUFFER.saturating_mul(size));
        let request_timeout = cluster.request_timeout();
        let members = (0..size)
            .map(|_| Consumer::start_with_sink(cluster.clone(), topics, sink.clone()))
            .collect();
        ConsumerPool {
            members,
            records,
            request_timeout,
        }
    }

    /// The members.
    pub fn members(&self) -> &[Consumer] {
        &self.members
    }

    /// The next record from any member.
    pub async fn recv(&mut self) -> Option<ConsumerRecord> {
        self.records.recv().await.map(Delivery::consume)
    }

    /// Waits until every member is stable in the same generation (so the group holds all of them).
    /// Fails as soon as a member cannot join.
    pub async fn wait_stable(&self) -> Result<i32, ClientError> {
        loop {
            let mut generations = Vec::with_capacity(self.members.len());
            for member in &self.members {
                match member.state() {
                    MemberState::Stable { generation, .. } => generations.push(generation),
                    MemberState::Failed(error) => return Err(error),
                    MemberState::Stopped => return Err(ClientError::Closed),
                    _ => {}
                }
            }
            if generations.len() == self.members.len()
                && generations.windows(2).all(|w| w[0] == w[1])
            {
                return Ok(generations[0]);
            }
            tokio::time::sleep(STABLE_POLL).await;
        }
    }

    /// Commits every member's consumed positions, concurrently; returns the first error.
    pub async fn commit(&self) -> Result<(), ClientError> {
        let mut first_error = None;
        // Members commit on their own tasks; the requests are in flight together.
        let commits: Vec<_> = self.members.iter().map(Consumer::commit).collect();
        for commit in commits {
            if let Err(error) = commit.await {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Stops every member concurrently under one deadline (`request_timeout` from now); returns
    /// the first error.
    pub async fn stop(self) -> Result<(), ClientError> {
        let deadline = Instant::now() + self.request_timeout;
        let mut stops = JoinSet::new();
        for member in self.members {
            stops.spawn(member.stop_by(deadline));
        }
        let mut first_error = None;
        while let Some(result) = stops.join_next().await {
            match result {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    first_error.get_or_insert(error);
                }
                Err(join_error) => {
                    first_error.get_or_insert(ClientError::Protocol(format!(
                        "a consumer's stop task failed: {join_error}"
                    )));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
