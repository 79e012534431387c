//! [`BrokerCore::reset`]: back to a fresh broker without stranding a client.
//!
//! A request in flight when the state is thrown away would otherwise never be answered: its token
//! lives in the old state (a parked JoinGroup, SyncGroup or Fetch, a fault's delayed response or
//! held request), so the client would wait for its own request timeout. Before the state goes,
//! every request in flight is settled, in this order:
//!
//! 1. Fault timers end now: delayed responses are sent, held requests are processed (against the
//!    old state; a processed request may park, which step 2 answers).
//! 2. Parked requests are answered as Kafka answers them when a broker stops leading what they
//!    wait on: JoinGroup and SyncGroup get NOT_COORDINATOR (Kafka's `onGroupUnloaded`; the client
//!    looks the coordinator up again and rejoins the fresh group), a long-poll Fetch gets the
//!    records there are, as when its max wait passes (Kafka completes a `DelayedFetch` early when
//!    leadership moves). A response a fault meant to delay goes out now (step 1 again).
//! 3. A connection still without an answer — its response was dropped by a fault (a broker that
//!    never answers), or a fault closes it after processing — is closed. A client reconnects at
//!    once.
//!
//! Connections that are idle stay open: a client keeps its connections across a reset and meets
//! the fresh state through ordinary Kafka errors (UNKNOWN_MEMBER_ID for a member of a group that
//! no longer exists, UNKNOWN_TOPIC_OR_PARTITION for a topic that is gone).
//!
//! # References
//! - Kafka `GroupCoordinator.onGroupUnloaded` (NOT_COORDINATOR to parked join and sync callbacks).
//! - Kafka `DelayedFetch.tryComplete` (case A: no longer the leader → complete now).

use std::mem;

use super::{BrokerCore, Connection, Output};
use crate::request_log::RequestLog;

/// What [`BrokerCore::reset`] did with the requests in flight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResetReport {
    /// Requests in flight that were answered (a response frame, or "no response" for acks=0)
    /// before the reset.
    pub answered: usize,
    /// Connections closed because their request in flight could not be answered.
    pub closed: usize,
}

/// Why a connection is closed by a reset, for the log and the driver.
const RESET_CLOSE_REASON: &str = "broker reset: the request in flight has no answer (a fault dropped its response or closes the connection)";

impl BrokerCore {
    /// Answers or closes every request in flight (see the module docs), then returns to the state
    /// of [`BrokerCore::new`] with the same configuration (advertised address included): no topics,
    /// groups or fault rules, an empty request log, a re-seeded PRNG; fault rule ids and request
    /// log sequence numbers continue from before (never reused). Open connections stay open
    /// and idle; the answers and closes are in [`BrokerCore::poll_output`] for the driver.
    pub fn reset(&mut self) -> ResetReport {
        let first_new_output = self.outputs.len();
        self.settle_in_flight();
        let report = count_settled(self.outputs.iter().skip(first_new_output));
        let mut fresh = BrokerCore::new(self.config.clone());
        fresh.now = self.now;
        // Every broker comes back up, each keeping its address; leadership starts afresh.
        fresh.logs.cluster = self.logs.cluster.clone();
        fresh.logs.cluster.reset();
        // Fault rule ids and request log sequence numbers go on counting: a test may still hold an
        // id or a `since` from before the reset, and must not find it pointing at something new.
        fresh.faults = mem::take(&mut self.faults);
        fresh.faults.clear();
        fresh.request_log = mem::replace(&mut self.request_log, RequestLog::new(1));
        fresh.request_log.clear();
        fresh.outputs = mem::take(&mut self.outputs);
        fresh.connections = self
            .connections
            .iter()
            .map(|(id, connection)| (*id, Connection::on(connection.node)))
            .collect();
        *self = fresh;
        report
    }

    /// Steps 1 to 3 of the module docs. Afterwards no connection is busy.
    fn settle_in_flight(&mut self) {
        self.fire_every_timer();
        let mut completions = Vec::new();
        self.groups.unload_all(&mut completions);
        self.logs.complete_every_parked_fetch(&mut completions);
        self.complete_all(completions);
        self.fire_every_timer();
        let busy: Vec<_> = self
            .connections
            .iter()
            .filter(|(_, connection)| connection.busy)
            .map(|(id, _)| *id)
            .collect();
        for connection in busy {
            self.close(connection, RESET_CLOSE_REASON.to_owned());
        }
    }

    /// Fires every pending timer now, in deadline order, as if its time had come.
    fn fire_every_timer(&mut self) {
        while let Some((_, timer)) = self.timers.pop_first() {
            self.fire(timer);
        }
    }
}

/// Counts the connections answered and closed by these outputs.
fn count_settled<'a>(outputs: impl Iterator<Item = &'a Output>) -> ResetReport {
    let mut report = ResetReport::default();
    for output in outputs {
        match output {
            Output::Send { .. } | Output::Ready { .. } => report.answered += 1,
            Output::Close { .. } => report.closed += 1,
        }
    }
    report
}

#[cfg(test)]
mod tests;
