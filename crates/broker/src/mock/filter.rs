//! [`RequestFilter`]: which request log entries a test wants to look at.

use kmock_core::BrokerCore;
use kmock_core::request_log::LogEntry;
use kmock_wire::kafka_protocol::messages::ApiKey;

/// Selects request log entries: by API, client id, consumer group, transactional id and sequence
/// number. Every
/// condition given must hold; none given selects every entry.
///
/// ```
/// use kmock_broker::{ApiKey, RequestFilter};
///
/// let leaves = RequestFilter::new().api(ApiKey::LeaveGroup).group("orders");
/// # let _ = leaves;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFilter {
    api_key: Option<i16>,
    client_id: Option<String>,
    group_id: Option<String>,
    transactional_id: Option<String>,
    since: u64,
}

impl RequestFilter {
    /// Every entry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only requests of this API.
    #[must_use]
    pub fn api(mut self, api_key: ApiKey) -> Self {
        self.api_key = Some(api_key as i16);
        self
    }

    /// Only requests whose header carries this client id.
    #[must_use]
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Only requests about this consumer group (JoinGroup, Heartbeat, OffsetCommit, DeleteGroups,
    /// ...: any group the request names; see [`LogEntry::group_ids`]).
    #[must_use]
    pub fn group(mut self, group_id: impl Into<String>) -> Self {
        self.group_id = Some(group_id.into());
        self
    }

    /// Only requests about this transactional id (InitProducerId, AddPartitionsToTxn, EndTxn,
    /// a transactional Produce, ...: see [`LogEntry::transactional_ids`]).
    #[must_use]
    pub fn transactional_id(mut self, transactional_id: impl Into<String>) -> Self {
        self.transactional_id = Some(transactional_id.into());
        self
    }

    /// Only entries with a sequence number of at least `seq` (the request log numbers requests
    /// from 0 and never reuses a number, so a test can poll for what arrived since it last looked).
    #[must_use]
    pub fn since(mut self, seq: u64) -> Self {
        self.since = seq;
        self
    }

    /// Whether `entry` is selected.
    pub fn matches(&self, entry: &LogEntry) -> bool {
        entry.seq >= self.since
            && self.api_key.is_none_or(|key| entry.api_key == key)
            && self
                .client_id
                .as_ref()
                .is_none_or(|client_id| &entry.client_id == client_id)
            && self
                .group_id
                .as_ref()
                .is_none_or(|group_id| entry.group_ids().contains(&group_id.as_str()))
            && self
                .transactional_id
                .as_ref()
                .is_none_or(|transactional_id| {
                    entry
                        .transactional_ids()
                        .contains(&transactional_id.as_str())
                })
    }

    /// The selected entries of `core`'s request log, oldest first.
    pub(crate) fn select(&self, core: &BrokerCore) -> Vec<LogEntry> {
        core.request_log()
            .since(self.since)
            .filter(|entry| self.matches(entry))
            .cloned()
            .collect()
    }
}
