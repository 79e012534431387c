//! ListTransactions (API 66, v0–2): the transactional ids the coordinator knows, filtered.
//!
//! Filters, all of which must hold (Kafka's `TransactionStateManager.listTransactionStates`):
//! `state_filters` (state names; an unknown name is echoed in `unknown_state_filters` and matches
//! nothing), `producer_id_filters`, v1+ `duration_filter` (only transactions started more than
//! that many milliseconds ago; negative: no filter) and v2 `transactional_id_pattern` (a regular
//! expression the whole id must match; null or empty: no filter; one that does not compile →
//! INVALID_REGULAR_EXPRESSION). The pattern is compiled to a DFA of at most
//! [`MAX_PATTERN_DFA_BYTES`] (beyond: INVALID_REGULAR_EXPRESSION): RE2 syntax (Kafka's pattern
//! language for regular expressions since KIP-848), without Unicode classes.
//!
//! # References
//! - Kafka `TransactionCoordinator.handleListTransactions`,
//!   `TransactionStateManager.listTransactionStates`, `ListTransactionsRequest.json`
//! - KIP-664 (v0), KIP-994 (v1 duration filter), KAFKA-19073 (v2 transactional id pattern)

use kmock_wire::kafka_protocol::messages::list_transactions_response::TransactionState as ListedTransaction;
use kmock_wire::kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId,
};
use regex_automata::Input;
use regex_automata::dfa::{Automaton, dense};

use super::state::TransactionState;
use super::{TransactionCoordinator, code, str_bytes};
use crate::BrokerTime;

/// Largest DFA a transactional id pattern may compile to (and the most memory its compilation
/// may use).
pub const MAX_PATTERN_DFA_BYTES: usize = 1 << 20;

/// Answers a ListTransactions request.
pub(crate) fn handle(
    coordinator: &TransactionCoordinator,
    request: &ListTransactionsRequest,
    version: i16,
    now: BrokerTime,
) -> ListTransactionsResponse {
    let pattern = match request.transactional_id_pattern.as_deref() {
        Some(pattern) if version >= 2 && !pattern.is_empty() => match compile(pattern) {
            Some(dfa) => Some(dfa),
            None => return error_response(code::INVALID_REGULAR_EXPRESSION),
        },
        _ => None,
    };
    let mut unknown_state_filters = Vec::new();
    let mut states = Vec::new();
    for name in &request.state_filters {
        match TransactionState::from_name(name) {
            Some(state) => states.push(state),
            None => unknown_state_filters.push(name.clone()),
        }
    }
    let duration_filter_ms = if version >= 1 {
        request.duration_filter
    } else {
        -1
    };
    let now_ms = i64::try_from(now.since_start().as_millis()).unwrap_or(i64::MAX);
    let listed = coordinator
        .transactions
        .iter()
        .filter(|(id, txn)| {
            // Kafka subtracts a start of -1 (never started) from the wall clock: always
            // longer than the filter.
            let running_ms = txn.started.map_or(i64::MAX, |started| {
                let started_ms =
                    i64::try_from(started.since_start().as_millis()).unwrap_or(i64::MAX);
                now_ms.saturating_sub(started_ms)
            });
            (request.producer_id_filters.is_empty()
                || request
                    .producer_id_filters
                    .contains(&ProducerId(txn.producer_id)))
                && (request.state_filters.is_empty() || states.contains(&txn.state))
                && (duration_filter_ms < 0 || running_ms > duration_filter_ms)
                && pattern.as_ref().is_none_or(|dfa| matches(dfa, id))
        })
        .map(|(id, txn)| {
            ListedTransaction::default()
                .with_transactional_id(str_bytes(id).into())
                .with_producer_id(ProducerId(txn.producer_id))
                .with_transaction_state(str_bytes(txn.state.name()))
        })
        .collect();
    ListTransactionsResponse::default()
        .with_unknown_state_filters(unknown_state_filters)
        .with_transaction_states(listed)
}

/// The pattern as a DFA matching whole ids, or `None` if it does not compile within the limits.
fn compile(pattern: &str) -> Option<dense::DFA<Vec<u32>>> {
    let anchored = format!("^(?:{pattern})$");
    dense::Builder::new()
        .configure(
            dense::Config::new()
                .dfa_size_limit(Some(MAX_PATTERN_DFA_BYTES))
                .determinize_size_limit(Some(MAX_PATTERN_DFA_BYTES)),
        )
        .syntax(
            regex_automata::util::syntax::Config::new()
                .unicode(false)
                .utf8(false),
        )
        .thompson(
            regex_automata::nfa::thompson::Config::new()
                .nfa_size_limit(Some(MAX_PATTERN_DFA_BYTES)),
        )
        .build(&anchored)
        .ok()
}

fn matches(dfa: &dense::DFA<Vec<u32>>, id: &str) -> bool {
    dfa.try_search_fwd(&Input::new(id))
        .is_ok_and(|found| found.is_some())
}

/// A ListTransactions response carrying `code` and no transactions.
pub(crate) fn error_response(code: i16) -> ListTransactionsResponse {
    ListTransactionsResponse::default().with_error_code(code)
}
