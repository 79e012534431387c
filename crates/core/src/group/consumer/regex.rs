//! Topic subscriptions by regular expression (KIP-848): compile a member's pattern, match topic
//! names against it.
//!
//! Kafka 4 compiles the pattern with RE2/J (`com.google.re2j.Pattern`) and keeps a topic when the
//! pattern matches the *whole* name (`matcher(topic).matches()`). kmock parses the same RE2 syntax
//! with `regex-syntax` and matches with a dense DFA from `regex-automata` (linear in the name,
//! never backtracking), anchored at both ends. Perl classes (`\w`, `\d`, `\b`) are ASCII, as in
//! RE2/J; Unicode classes (`\pL`) are refused as invalid (topic names are ASCII anyway).
//!
//! Limits, because the pattern comes from a peer: at most [`MAX_REGEX_BYTES`] bytes, a nesting
//! depth of [`MAX_NEST`], and [`MAX_AUTOMATON_BYTES`] for the compiled NFA and DFA each; a pattern
//! beyond them is refused like an invalid one (INVALID_REGULAR_EXPRESSION). Kafka has no such
//! limits (RE2/J bounds only time), so a huge pattern Kafka would accept is refused here.
//!
//! # References
//! - Kafka `GroupMetadataManager.refreshRegularExpressions`, `Utils.throwIfRegularExpressionIsInvalid`
//!   (4.0).
//! - KIP-848 "Regular expression"; RE2 syntax (<https://github.com/google/re2/wiki/Syntax>).

use regex_automata::Anchored;
use regex_automata::Input;
use regex_automata::dfa::Automaton;
use regex_automata::dfa::dense::{self, DFA};
use regex_automata::nfa::thompson;
use regex_automata::util::syntax;
use regex_syntax::hir::{Hir, Look};

/// Longest pattern accepted.
pub const MAX_REGEX_BYTES: usize = 1_024;
/// Deepest nesting of groups and repetitions accepted.
pub const MAX_NEST: u32 = 64;
/// Largest compiled NFA, and largest DFA, of one pattern.
pub const MAX_AUTOMATON_BYTES: usize = 1 << 20;

/// A compiled topic pattern.
#[derive(Debug, Clone)]
pub(crate) struct TopicRegex {
    dfa: DFA<Vec<u32>>,
}

impl TopicRegex {
    /// Compiles `pattern`; the error is the message Kafka's INVALID_REGULAR_EXPRESSION carries.
    pub fn compile(pattern: &str) -> Result<Self, String> {
        let invalid = |reason: &dyn std::fmt::Display| {
            format!("SubscribedTopicRegex `{pattern}` is not a valid regular expression: {reason}.")
        };
        if pattern.len() > MAX_REGEX_BYTES {
            return Err(invalid(&format_args!(
                "longer than {MAX_REGEX_BYTES} bytes (a kmock limit)"
            )));
        }
        let config = syntax::Config::new()
            .unicode(false)
            .utf8(false)
            .nest_limit(MAX_NEST);
        let hir = syntax::parse_with(pattern, &config).map_err(|e| invalid(&e))?;
        // Whole-name match, as RE2/J's `matches()`: anchored at the start by the search, at the
        // end by `\z` appended to the parsed pattern (so no pattern text can undo it).
        let whole = Hir::concat(vec![hir, Hir::look(Look::End)]);
        let nfa = thompson::Compiler::new()
            .configure(
                thompson::Config::new()
                    .nfa_size_limit(Some(MAX_AUTOMATON_BYTES))
                    .shrink(false),
            )
            .build_from_hir(&whole)
            .map_err(|e| invalid(&e))?;
        let dfa = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .start_kind(regex_automata::dfa::StartKind::Anchored)
                    .dfa_size_limit(Some(MAX_AUTOMATON_BYTES))
                    .determinize_size_limit(Some(MAX_AUTOMATON_BYTES)),
            )
            .build_from_nfa(&nfa)
            .map_err(|e| invalid(&e))?;
        Ok(Self { dfa })
    }

    /// The pattern matches the whole of `topic`.
    pub fn matches(&self, topic: &str) -> bool {
        let input = Input::new(topic).anchored(Anchored::Yes);
        matches!(self.dfa.try_search_fwd(&input), Ok(Some(found)) if found.offset() == topic.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_matches_whole_topic_names_only() {
        let regex = TopicRegex::compile("orders.*").unwrap();
        assert!(regex.matches("orders"));
        assert!(regex.matches("orders-eu"));
        assert!(!regex.matches("old-orders"));
        let regex = TopicRegex::compile("a|ab").unwrap();
        assert!(
            regex.matches("ab"),
            "the longer alternative must still match the whole name"
        );
        assert!(!regex.matches("abc"));
    }

    #[test]
    fn perl_classes_are_ascii_as_in_re2j() {
        let regex = TopicRegex::compile(r"t\d+").unwrap();
        assert!(regex.matches("t42"));
        assert!(!regex.matches("t"));
    }

    #[test]
    fn an_invalid_pattern_is_refused_with_kafkas_message() {
        let error = TopicRegex::compile("orders(").unwrap_err();
        assert!(
            error.starts_with("SubscribedTopicRegex `orders(` is not a valid regular expression: "),
            "{error}"
        );
        assert!(
            TopicRegex::compile(r"(a)\1").is_err(),
            "backreferences are not RE2"
        );
    }

    #[test]
    fn a_pattern_beyond_the_limits_is_refused() {
        assert!(TopicRegex::compile(&"a".repeat(MAX_REGEX_BYTES + 1)).is_err());
        let nested = format!("{}a{}", "(".repeat(100), ")".repeat(100));
        assert!(
            TopicRegex::compile(&nested).is_err(),
            "nesting beyond {MAX_NEST}"
        );
        let shallow = format!("{}a{}", "(".repeat(10), ")".repeat(10));
        assert!(TopicRegex::compile(&shallow).is_ok());
        // Small text, exponential DFA: refused by the size limit, not built.
        assert!(TopicRegex::compile("[ab]*a[ab]{40}").is_err());
    }
}
