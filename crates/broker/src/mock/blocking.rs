//! [`BlockingMockBroker`]: the [`MockBroker`] on a runtime of its own, with blocking methods.
//!
//! A thread named `kmock-broker` runs a current-thread tokio runtime that serves the broker until
//! it shuts down. The blocking methods drive the async ones to completion on the caller's thread
//! with a minimal executor ([`block_on`]): the async methods only exchange messages with the
//! broker task, so they need no runtime of the caller's — a blocking method works from a plain
//! `#[test]`, from a synchronous client's callback, and even inside another runtime (it blocks
//! that thread, but the broker keeps running on its own).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::{Arc, mpsc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, JoinHandle, Thread};

use kmock_core::fault::FaultRuleStatus;
use kmock_core::group::GroupSummary;
use kmock_core::group::consumer::ConsumerGroupSummary;
use kmock_core::log::{RetentionReport, TopicSummary};
use kmock_core::request_log::LogEntry;
use kmock_core::txn::TransactionSummary;
use kmock_core::{FaultRule, FaultRuleId, ResetReport};

use super::{
    IntoFaultRule, MockBroker, MockBrokerBuilder, MockBrokerError, RequestFilter, Startup,
};
use crate::server::BrokerHandle;

/// A [`MockBroker`] whose methods block; it runs on its own runtime thread. Start it with
/// [`MockBroker::start_blocking`] or [`MockBrokerBuilder::start_blocking`]. Dropping it shuts the
/// broker down and joins the thread.
#[derive(Debug)]
pub struct BlockingMockBroker {
    broker: MockBroker,
    /// The runtime thread; it ends once the broker has stopped.
    thread: Option<JoinHandle<()>>,
}

impl BlockingMockBroker {
    pub(super) fn start(builder: MockBrokerBuilder) -> Result<Self, MockBrokerError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(MockBrokerError::RuntimeThread)?;
        let (started_tx, started) = mpsc::sync_channel(1);
        let thread = thread::Builder::new()
            .name("kmock-broker".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let started = builder.start().await;
                    let handle = started.as_ref().ok().map(|b| b.handle().clone());
                    if started_tx.send(started).is_err() {
                        return;
                    }
                    // Serve until the broker stops; then the runtime, and its tasks, go.
                    if let Some(handle) = handle {
                        handle.stopped().await;
                    }
                });
            })
            .map_err(MockBrokerError::RuntimeThread)?;
        let broker = started.recv().map_err(|_| {
            MockBrokerError::RuntimeThread(std::io::Error::other(
                "the runtime thread ended before the broker started",
            ))
        })??;
        Ok(Self {
            broker,
            thread: Some(thread),
        })
    }

    /// `host:port` for a client's `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> String {
        self.broker.bootstrap_servers()
    }

    /// The address the broker accepts connections on.
    pub fn local_addr(&self) -> SocketAddr {
        self.broker.local_addr()
    }

    /// The topics and fault rules it started with, which [`BlockingMockBroker::reset`] restores.
    pub fn startup(&self) -> &Startup {
        self.broker.startup()
    }

    /// The driver handle (async), for what this type does not offer.
    pub fn handle(&self) -> &BrokerHandle {
        self.broker.handle()
    }

    /// See [`MockBroker::add_fault`].
    pub fn add_fault(&self, rule: impl IntoFaultRule) -> Result<FaultRuleId, MockBrokerError> {
        block_on(self.broker.add_fault(rule))
    }

    /// See [`MockBroker::remove_fault`].
    pub fn remove_fault(&self, id: FaultRuleId) -> Result<FaultRule, MockBrokerError> {
        block_on(self.broker.remove_fault(id))
    }

    /// See [`MockBroker::clear_faults`].
    pub fn clear_faults(&self) -> Result<(), MockBrokerError> {
        block_on(self.broker.clear_faults())
    }

    /// See [`MockBroker::faults`].
    pub fn faults(&self) -> Result<Vec<FaultRuleStatus>, MockBrokerError> {
        block_on(self.broker.faults())
    }

    /// See [`MockBroker::requests`].
    pub fn requests(&self) -> Result<Vec<LogEntry>, MockBrokerError> {
        block_on(self.broker.requests())
    }

    /// See [`MockBroker::requests_matching`].
    pub fn requests_matching(
        &self,
        filter: RequestFilter,
    ) -> Result<Vec<LogEntry>, MockBrokerError> {
        block_on(self.broker.requests_matching(filter))
    }

    /// See [`MockBroker::topics`].
    pub fn topics(&self) -> Result<Vec<TopicSummary>, MockBrokerError> {
        block_on(self.broker.topics())
    }

    /// See [`MockBroker::groups`].
    pub fn groups(&self) -> Result<Vec<GroupSummary>, MockBrokerError> {
        block_on(self.broker.groups())
    }

    /// See [`MockBroker::group`].
    pub fn group(&self, group_id: &str) -> Result<Option<GroupSummary>, MockBrokerError> {
        block_on(self.broker.group(group_id))
    }

    /// See [`MockBroker::transactions`].
    pub fn transactions(&self) -> Result<Vec<TransactionSummary>, MockBrokerError> {
        block_on(self.broker.transactions())
    }

    /// See [`MockBroker::transaction`].
    pub fn transaction(
        &self,
        transactional_id: &str,
    ) -> Result<Option<TransactionSummary>, MockBrokerError> {
        block_on(self.broker.transaction(transactional_id))
    }

    /// See [`MockBroker::consumer_groups`].
    pub fn consumer_groups(&self) -> Result<Vec<ConsumerGroupSummary>, MockBrokerError> {
        block_on(self.broker.consumer_groups())
    }

    /// See [`MockBroker::consumer_group`].
    pub fn consumer_group(
        &self,
        group_id: &str,
    ) -> Result<Option<ConsumerGroupSummary>, MockBrokerError> {
        block_on(self.broker.consumer_group(group_id))
    }

    /// See [`MockBroker::clean_logs`].
    pub fn clean_logs(
        &self,
        topic: Option<&str>,
    ) -> Result<Option<RetentionReport>, MockBrokerError> {
        block_on(self.broker.clean_logs(topic))
    }

    /// See [`MockBroker::reset`].
    pub fn reset(&self) -> Result<ResetReport, MockBrokerError> {
        block_on(self.broker.reset())
    }

    /// See [`MockBroker::shutdown`]; also joins the runtime thread. Idempotent.
    pub fn shutdown(&mut self) {
        block_on(self.broker.shutdown());
        if let Some(thread) = self.thread.take() {
            // The thread only awaits the broker; a panic there was already reported on stderr.
            let _ = thread.join();
        }
    }
}

impl Drop for BlockingMockBroker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Wakes the thread that waits in [`block_on`].
struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` on this thread until it completes, parking in between (a spurious unpark only
/// costs one more poll).
pub(super) fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut context = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        thread::park();
    }
}
