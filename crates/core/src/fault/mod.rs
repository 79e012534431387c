//! Fault rules: small values (matcher + trigger + action) evaluated in install order; the first
//! rule whose matcher and trigger both hold decides what happens to the request.
//!
//! Owns: the rule types ([`FaultRule`], [`FaultMatcher`], [`FaultTrigger`], [`FaultAction`]), the
//! facts a request offers to matchers ([`RequestFacts`]), rule evaluation with its counters
//! ([`FaultRules`]), and the text form of a rule ([`spec`], documented in `docs/fault-spec.md`). It
//! must not touch the rest of the broker: the core asks [`FaultRules::evaluate`] for a verdict and
//! carries out the action itself.
//!
//! # Evaluation, precisely
//! For each request the rules are visited in install order until one *applies*:
//! 1. The **matcher** must hold: every field that is set matches the request.
//! 2. The **time window** must be open: `after` ≤ now (if set) and now < `before` (if set), with
//!    `now` the broker time since start.
//! 3. If 1 and 2 hold, the rule's **match count** `n` is incremented (so `n` counts, from 1, the
//!    requests this rule saw whose matcher held inside the window).
//! 4. The **count triggers** must hold: `n == nth` (if set) and `n <= times` (if set; `once` is
//!    `times=1`).
//! 5. Only then, if `prob` is set, one `f64` in `[0, 1)` is drawn from the broker's seeded PRNG and
//!    the rule applies if it is below `prob`. No other step draws, so a run is reproducible.
//!
//! A rule that applies counts one application and ends the evaluation: later rules do not see the
//! request (their counts do not move). A rule that does not apply lets the next one try.
//!
//! # References
//! - turmoil's network fault rules (evaluated in order, first verdict wins).

pub mod spec;

use std::fmt;
use std::time::Duration;

use kmock_wire::DecodedRequest;
use kmock_wire::kafka_protocol::messages::{ApiKey, RequestKind};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::ConnectionId;
use crate::BrokerTime;

pub use spec::{
    FaultSpecError, FaultSpecErrorKind, api_key_by_name, api_key_name, error_code_name,
};

/// Identifies an installed rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FaultRuleId(pub u64);

impl fmt::Display for FaultRuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule {}", self.0)
    }
}

/// What a matching rule does to the request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultAction {
    /// Process the request now (state changes now), send the response this much later.
    DelayResponse(Duration),
    /// Process the request only after this delay.
    HoldRequest(Duration),
    /// Answer with this error code, without processing.
    Error(i16),
    /// Process the request, never send the response.
    Drop,
    /// Close the connection without processing.
    CloseBefore,
    /// Process the request, then close the connection instead of responding.
    CloseAfter,
}

/// An inclusive range of API versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRange {
    /// Lowest version matched.
    pub min: i16,
    /// Highest version matched.
    pub max: i16,
}

impl VersionRange {
    /// Whether `version` is in the range.
    pub fn contains(&self, version: i16) -> bool {
        (self.min..=self.max).contains(&version)
    }
}

/// Which requests a rule applies to. Every field that is set must hold; an empty matcher matches
/// every request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultMatcher {
    /// The API (`None` = any API).
    pub api_key: Option<ApiKey>,
    /// The request version range.
    pub versions: Option<VersionRange>,
    /// The client id from the request header (exact match; absent = `""`).
    pub client_id: Option<String>,
    /// A group id named by the request (see [`RequestFacts::group_ids`]).
    pub group_id: Option<String>,
    /// A member id named by the request (see [`RequestFacts::member_ids`]).
    pub member_id: Option<String>,
    /// A transactional id named by the request (see [`RequestFacts::transactional_ids`]).
    pub transactional_id: Option<String>,
    /// The connection the request arrived on.
    pub connection: Option<ConnectionId>,
    /// The member epoch of a ConsumerGroupHeartbeat (KIP-848: 0 joins, -1 leaves, -2 a static
    /// member's temporary leave); no other request matches it.
    pub member_epoch: Option<i32>,
}

impl FaultMatcher {
    /// A matcher for every request of `api_key`.
    pub fn api(api_key: ApiKey) -> Self {
        Self {
            api_key: Some(api_key),
            ..Self::default()
        }
    }

    /// Whether every set field holds for `facts`.
    pub fn matches(&self, facts: &RequestFacts<'_>) -> bool {
        self.api_key.is_none_or(|key| key == facts.api_key)
            && self
                .versions
                .is_none_or(|range| range.contains(facts.api_version))
            && self
                .client_id
                .as_deref()
                .is_none_or(|client| client == facts.client_id)
            && self
                .group_id
                .as_deref()
                .is_none_or(|group| facts.group_ids.contains(&group))
            && self
                .member_id
                .as_deref()
                .is_none_or(|member| facts.member_ids.contains(&member))
            && self
                .transactional_id
                .as_deref()
                .is_none_or(|txn| facts.transactional_ids.contains(&txn))
            && self
                .connection
                .is_none_or(|connection| connection == facts.connection)
            && self
                .member_epoch
                .is_none_or(|epoch| facts.member_epoch == Some(epoch))
    }
}

/// When a matching rule applies. The default (all `None`) is "always". See the module docs for
/// the exact evaluation order.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FaultTrigger {
    /// Apply only to the N-th match (1-based).
    pub nth: Option<u64>,
    /// Apply only to the first N matches (`once` is `times=1`).
    pub times: Option<u64>,
    /// Apply with this probability (0..=1), drawn from the broker's seeded PRNG.
    pub probability: Option<f64>,
    /// Match only from this broker time on (inclusive).
    pub after: Option<BrokerTime>,
    /// Match only before this broker time (exclusive).
    pub before: Option<BrokerTime>,
}

impl FaultTrigger {
    /// Applies every time the matcher holds.
    pub fn always() -> Self {
        Self::default()
    }

    /// Applies to the first match only.
    pub fn once() -> Self {
        Self {
            times: Some(1),
            ..Self::default()
        }
    }

    fn window_open(&self, now: BrokerTime) -> bool {
        self.after.is_none_or(|after| now >= after) && self.before.is_none_or(|before| now < before)
    }

    fn count_allows(&self, matched: u64) -> bool {
        self.nth.is_none_or(|nth| matched == nth) && self.times.is_none_or(|times| matched <= times)
    }
}

/// A fault rule: which requests, when, and what to do. Its text form (`Display` / `FromStr`) is the
/// spec grammar of [`spec`], e.g. `leave_group:delay=60s`.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// Which requests.
    pub matcher: FaultMatcher,
    /// When, among the matching requests.
    pub trigger: FaultTrigger,
    /// What it does.
    pub action: FaultAction,
}

impl FaultRule {
    /// A rule that always applies `action` to requests matched by `matcher`.
    pub fn new(matcher: FaultMatcher, action: FaultAction) -> Self {
        Self {
            matcher,
            trigger: FaultTrigger::default(),
            action,
        }
    }

    /// The same rule with another trigger.
    pub fn with_trigger(mut self, trigger: FaultTrigger) -> Self {
        self.trigger = trigger;
        self
    }
}

/// The facts about a request that rules match on.
#[derive(Debug, Clone)]
pub struct RequestFacts<'a> {
    /// Connection.
    pub connection: ConnectionId,
    /// API.
    pub api_key: ApiKey,
    /// Version.
    pub api_version: i16,
    /// Client id (`""` when absent).
    pub client_id: &'a str,
    /// Group ids the request names (see [`NamedIds::group_ids`]).
    pub group_ids: Vec<&'a str>,
    /// Member ids the request names (see [`NamedIds::member_ids`]).
    pub member_ids: Vec<&'a str>,
    /// Transactional ids the request names (see [`NamedIds::transactional_ids`]).
    pub transactional_ids: Vec<&'a str>,
    /// The member epoch of a ConsumerGroupHeartbeat.
    pub member_epoch: Option<i32>,
}

impl<'a> RequestFacts<'a> {
    /// Extracts the facts from a decoded request.
    pub fn of(connection: ConnectionId, request: &'a DecodedRequest) -> Self {
        let NamedIds {
            group_ids,
            member_ids,
            transactional_ids,
        } = NamedIds::of(&request.body, request.api_version);
        Self {
            connection,
            api_key: request.api_key,
            api_version: request.api_version,
            client_id: request.client_id(),
            group_ids,
            member_ids,
            transactional_ids,
            member_epoch: match &request.body {
                RequestKind::ConsumerGroupHeartbeat(body) => Some(body.member_epoch),
                _ => None,
            },
        }
    }
}

/// The group, member and transactional ids a request names: what the `group=`, `member=` and
/// `txn=` matchers of fault rules and the `group=` and `transactional_id=` filters of the control
/// API's request log look at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamedIds<'a> {
    /// JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetDelete,
    /// ConsumerGroupHeartbeat `group_id`; ConsumerGroupDescribe `group_ids[]`;
    /// OffsetFetch v0–7 `group_id` and v8+ `groups[].group_id`; DescribeGroups `groups[]`;
    /// DeleteGroups `groups_names[]`; FindCoordinator with key type 0 (group) `key` (v0–3) or
    /// `coordinator_keys` (v4+); AddOffsetsToTxn and TxnOffsetCommit `group_id`.
    pub group_ids: Vec<&'a str>,
    /// JoinGroup, SyncGroup, Heartbeat, OffsetCommit, ConsumerGroupHeartbeat `member_id`;
    /// LeaveGroup v0–2 `member_id` and v3+ `members[].member_id`; OffsetFetch v9+
    /// `groups[].member_id`; TxnOffsetCommit `member_id` (when set).
    pub member_ids: Vec<&'a str>,
    /// InitProducerId, AddOffsetsToTxn, EndTxn, TxnOffsetCommit and Produce `transactional_id`
    /// (when set); AddPartitionsToTxn v0–3 `transactional_id` and v4+
    /// `transactions[].transactional_id`; DescribeTransactions `transactional_ids[]`;
    /// FindCoordinator with key type 1 (transaction) `key` or `coordinator_keys`.
    pub transactional_ids: Vec<&'a str>,
}

impl<'a> NamedIds<'a> {
    /// The ids `body`, a request at `api_version`, names.
    pub fn of(body: &'a RequestKind, api_version: i16) -> Self {
        let mut ids = Self::default();
        match body {
            RequestKind::JoinGroup(body) => ids.group_member(&body.group_id, &body.member_id),
            RequestKind::SyncGroup(body) => ids.group_member(&body.group_id, &body.member_id),
            RequestKind::Heartbeat(body) => ids.group_member(&body.group_id, &body.member_id),
            RequestKind::OffsetCommit(body) => ids.group_member(&body.group_id, &body.member_id),
            RequestKind::LeaveGroup(body) => {
                ids.group_ids.push(&body.group_id);
                if api_version <= 2 {
                    ids.member_ids.push(&body.member_id);
                } else {
                    ids.member_ids
                        .extend(body.members.iter().map(|m| &*m.member_id));
                }
            }
            RequestKind::OffsetFetch(body) if api_version <= 7 => {
                ids.group_ids.push(&body.group_id);
            }
            RequestKind::OffsetFetch(body) => {
                for group in &body.groups {
                    ids.group_ids.push(&group.group_id);
                    ids.member_ids.extend(group.member_id.as_deref());
                }
            }
            RequestKind::DescribeGroups(body) => {
                ids.group_ids.extend(body.groups.iter().map(|g| &***g));
            }
            RequestKind::DeleteGroups(body) => {
                ids.group_ids
                    .extend(body.groups_names.iter().map(|g| &***g));
            }
            RequestKind::OffsetDelete(body) => ids.group_ids.push(&body.group_id),
            RequestKind::ConsumerGroupHeartbeat(body) => {
                ids.group_member(&body.group_id, &body.member_id);
            }
            RequestKind::ConsumerGroupDescribe(body) => {
                ids.group_ids.extend(body.group_ids.iter().map(|g| &***g));
            }
            RequestKind::FindCoordinator(body) if body.key_type == 0 => {
                if api_version <= 3 {
                    ids.group_ids.push(&body.key);
                } else {
                    ids.group_ids
                        .extend(body.coordinator_keys.iter().map(|k| &**k));
                }
            }
            other => ids.transactional(other, api_version),
        }
        ids
    }

    /// The ids of the transaction APIs (and of Produce and FindCoordinator for transactions).
    fn transactional(&mut self, body: &'a RequestKind, api_version: i16) {
        match body {
            RequestKind::FindCoordinator(body) if body.key_type == 1 => {
                if api_version <= 3 {
                    self.transactional_ids.push(&body.key);
                } else {
                    self.transactional_ids
                        .extend(body.coordinator_keys.iter().map(|k| &**k));
                }
            }
            RequestKind::InitProducerId(body) => {
                self.transactional_ids
                    .extend(body.transactional_id.as_deref().map(|id| &**id));
            }
            RequestKind::Produce(body) => {
                self.transactional_ids
                    .extend(body.transactional_id.as_deref().map(|id| &**id));
            }
            RequestKind::AddPartitionsToTxn(body) if api_version <= 3 => {
                self.transactional_ids
                    .push(&body.v3_and_below_transactional_id);
            }
            RequestKind::AddPartitionsToTxn(body) => self
                .transactional_ids
                .extend(body.transactions.iter().map(|t| &**t.transactional_id)),
            RequestKind::AddOffsetsToTxn(body) => {
                self.transactional_ids.push(&body.transactional_id);
                self.group_ids.push(&body.group_id);
            }
            RequestKind::EndTxn(body) => self.transactional_ids.push(&body.transactional_id),
            RequestKind::TxnOffsetCommit(body) => {
                self.transactional_ids.push(&body.transactional_id);
                self.group_ids.push(&body.group_id);
                if !body.member_id.is_empty() {
                    self.member_ids.push(&body.member_id);
                }
            }
            RequestKind::DescribeTransactions(body) => self
                .transactional_ids
                .extend(body.transactional_ids.iter().map(|id| &***id)),
            _ => {}
        }
    }

    fn group_member(&mut self, group_id: &'a str, member_id: &'a str) {
        self.group_ids.push(group_id);
        self.member_ids.push(member_id);
    }
}

/// A rule that matched a request.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedFault {
    /// Which rule.
    pub rule: FaultRuleId,
    /// The API of the request it applied to.
    pub api_key: ApiKey,
    /// Its action.
    pub action: FaultAction,
}

impl AppliedFault {
    /// For logs: `rule 0: leave_group delay=60s`.
    pub fn describe(&self) -> String {
        format!(
            "rule {}: {} {}",
            self.rule.0,
            api_key_name(self.api_key),
            spec::ActionDisplay(&self.action)
        )
    }
}

/// An installed rule with its counters, as listed by [`FaultRules::list`].
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRuleStatus {
    /// Its id.
    pub id: FaultRuleId,
    /// The rule.
    pub rule: FaultRule,
    /// Requests whose matcher held inside the time window (the `n` of `nth`/`times`).
    pub matched: u64,
    /// Requests the rule applied to.
    pub applied: u64,
}

/// The installed rules.
#[derive(Debug, Default)]
pub struct FaultRules {
    rules: Vec<FaultRuleStatus>,
    next_id: u64,
}

impl FaultRules {
    /// Installs a rule after the existing ones.
    pub fn add(&mut self, rule: FaultRule) -> FaultRuleId {
        let id = FaultRuleId(self.next_id);
        self.next_id += 1;
        self.rules.push(FaultRuleStatus {
            id,
            rule,
            matched: 0,
            applied: 0,
        });
        id
    }

    /// Removes a rule.
    pub fn remove(&mut self, id: FaultRuleId) -> Option<FaultRule> {
        let index = self.rules.iter().position(|status| status.id == id)?;
        Some(self.rules.remove(index).rule)
    }

    /// Removes every rule. Ids go on counting, so an id is never given to two rules (not even
    /// across a reset, where a test may still hold an id from before).
    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// The rules in evaluation order, with their counters.
    pub fn list(&self) -> &[FaultRuleStatus] {
        &self.rules
    }

    /// Whether no rule is installed.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Evaluates the rules against a request, in install order; see the module docs. Draws from
    /// `rng` only for a `prob` trigger of a rule whose every other condition held.
    pub fn evaluate(
        &mut self,
        facts: &RequestFacts<'_>,
        now: BrokerTime,
        rng: &mut ChaCha8Rng,
    ) -> Option<AppliedFault> {
        for status in &mut self.rules {
            let rule = &status.rule;
            if !rule.matcher.matches(facts) || !rule.trigger.window_open(now) {
                continue;
            }
            status.matched += 1;
            if !rule.trigger.count_allows(status.matched) {
                continue;
            }
            if let Some(probability) = rule.trigger.probability
                && rng.random::<f64>() >= probability
            {
                continue;
            }
            status.applied += 1;
            return Some(AppliedFault {
                rule: status.id,
                api_key: facts.api_key,
                action: rule.action,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod txn_tests;
