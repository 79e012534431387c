//! Fault rules: small values (matcher + trigger + action) evaluated in install order; the first
//! rule whose matcher and trigger both hold decides what happens to the request.
//!
//! TODO(helper): matcher/trigger evaluation and the spec grammar (`spec.rs`).

use std::time::Duration;

use kmock_wire::DecodedRequest;
use kmock_wire::kafka_protocol::messages::ApiKey;
use rand_chacha::ChaCha8Rng;

use super::ConnectionId;

/// Identifies an installed rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FaultRuleId(pub u64);

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

/// A fault rule.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// What it does.
    pub action: FaultAction,
}

/// A problem in a fault spec string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fault spec {spec:?}: {reason}")]
pub struct FaultSpecError {
    /// The spec.
    pub spec: String,
    /// What is wrong.
    pub reason: String,
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
    /// Client id.
    pub client_id: &'a str,
}

impl<'a> RequestFacts<'a> {
    /// Extracts the facts from a decoded request.
    pub fn of(connection: ConnectionId, request: &'a DecodedRequest) -> Self {
        Self {
            connection,
            api_key: request.api_key,
            api_version: request.api_version,
            client_id: request.client_id(),
        }
    }
}

/// A rule that matched a request.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedFault {
    /// Which rule.
    pub rule: FaultRuleId,
    /// Its action.
    pub action: FaultAction,
}

impl AppliedFault {
    /// For logs: `rule 1: delay=60s`.
    pub fn describe(&self) -> String {
        format!("rule {}: {:?}", self.rule.0, self.action)
    }
}

/// The installed rules.
#[derive(Debug, Default)]
pub struct FaultRules {
    rules: Vec<(FaultRuleId, FaultRule)>,
    next_id: u64,
}

impl FaultRules {
    /// Installs a rule after the existing ones.
    pub fn add(&mut self, rule: FaultRule) -> FaultRuleId {
        let id = FaultRuleId(self.next_id);
        self.next_id += 1;
        self.rules.push((id, rule));
        id
    }

    /// Removes a rule.
    pub fn remove(&mut self, id: FaultRuleId) -> Option<FaultRule> {
        let index = self.rules.iter().position(|(i, _)| *i == id)?;
        Some(self.rules.remove(index).1)
    }

    /// Evaluates the rules against a request.
    pub fn evaluate(
        &mut self,
        _facts: &RequestFacts<'_>,
        _now: Duration,
        _rng: &mut ChaCha8Rng,
    ) -> Option<AppliedFault> {
        None
    }
}
