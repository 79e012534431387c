//! Checkers: turn what a run observed into metrics, and expectations (`teardown_ms <= 5100`,
//! `delivered == produced`) into a verdict with each expectation's measured value.
//!
//! Owns: the metric names (see [`METRICS`]), the expectation grammar and the built-in invariants
//! (acknowledged records delivered at least once is an expectation; partition ownership per
//! generation is always checked). Must not: run anything.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// Every metric an expectation may name, with what it measures. A metric may be qualified with an
/// actor, a member or a group: `teardown_ms[pool-a]`, `teardown_ms[pool-a/0]`, `group_state[g]`.
pub const METRICS: &[(&str, &str)] = &[
    (
        "teardown_ms",
        "longest consumer stop() (per pool or member when qualified)",
    ),
    (
        "pool_teardown_ms",
        "longest pool stop (all members, shared deadline)",
    ),
    (
        "first_assignment_ms",
        "from a pool's start to its first member with an assignment",
    ),
    (
        "all_assigned_ms",
        "from a pool's start until all its members are stable in one generation",
    ),
    (
        "eviction_ms",
        "from a member's crash until the live members are stable in a new generation",
    ),
    ("produced", "records acknowledged by the broker"),
    ("produce_failed", "records whose publish failed"),
    ("delivered", "acknowledged records delivered at least once"),
    ("delivered_total", "deliveries, duplicates included"),
    ("duplicates", "deliveries beyond the first of each record"),
    ("lost", "acknowledged records never delivered"),
    (
        "rebalances",
        "generations observed beyond the first (per group when qualified)",
    ),
    ("generation", "the group's final generation id (broker)"),
    (
        "group_state",
        "the group's final state (broker): Empty, Stable, ...",
    ),
    ("members", "the group's final member count (broker)"),
    (
        "ownership_conflicts",
        "partitions owned by two members in one generation",
    ),
    ("stop_errors", "consumers whose stop() returned an error"),
    (
        "pipeline_committed",
        "input records whose output a read_committed consumer of a pipeline's output reads",
    ),
    (
        "pipeline_duplicates",
        "committed outputs beyond the first of each input record",
    ),
    (
        "pipeline_missing",
        "acknowledged input records without a committed output",
    ),
    (
        "pipeline_transactions",
        "transactions a pipeline committed (client side)",
    ),
    (
        "pipeline_restarts",
        "transactions that failed and restarted a pipeline",
    ),
    (
        "aborted_transactions",
        "aborted transactions in a pipeline's output partitions (broker)",
    ),
    ("virtual_ms", "virtual time at the end of the timeline"),
];

/// A measured value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// A number (milliseconds are fractional when the run measured sub-millisecond time).
    Number(f64),
    /// A text (group state).
    Text(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Number(n) if n.fract() == 0.0 => write!(f, "{n:.0}"),
            Value::Number(n) => write!(f, "{n:.3}"),
            Value::Text(t) => write!(f, "{t:?}"),
        }
    }
}

/// Metrics of a run, by name (`teardown_ms`, `teardown_ms[pool-a]`).
pub type Metrics = BTreeMap<String, Value>;

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Metric(String, Option<String>),
    Number(f64),
    Text(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Le,
    Ge,
    Eq,
    Ne,
    Lt,
    Gt,
}

const OPS: [(&str, Op); 6] = [
    ("<=", Op::Le),
    (">=", Op::Ge),
    ("==", Op::Eq),
    ("!=", Op::Ne),
    ("<", Op::Lt),
    (">", Op::Gt),
];

/// `LEFT OP RIGHT`: each side a metric, a number or a quoted text; OP one of <= >= == != < >.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    text: String,
    left: Operand,
    op: Op,
    right: Operand,
}

/// One expectation's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpectationResult {
    /// As written.
    pub expectation: String,
    /// The measured value of the metric side (left unless the left is a constant).
    pub measured: Option<Value>,
    /// Whether it held.
    pub passed: bool,
}

fn operand(text: &str) -> Result<Operand, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("expected METRIC OP VALUE, e.g. \"teardown_ms <= 5100\"".into());
    }
    if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        return Ok(Operand::Text(inner.to_owned()));
    }
    if let Ok(n) = text.replace('_', "").parse::<f64>() {
        return Ok(Operand::Number(n));
    }
    let (name, qualifier) = match text.split_once('[') {
        Some((name, rest)) => {
            let qualifier = rest
                .strip_suffix(']')
                .ok_or_else(|| format!("expected `]` to close {text:?}"))?;
            (name.trim(), Some(qualifier.trim().to_owned()))
        }
        None => (text, None),
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "expected a metric name, a number or a quoted text, got {text:?}"
        ));
    }
    Ok(Operand::Metric(name.to_owned(), qualifier))
}

impl Expectation {
    /// Parses `teardown_ms <= 5100`.
    pub fn parse(text: &str) -> Result<Expectation, String> {
        let (index, op_text, op) = OPS
            .iter()
            .filter_map(|(s, op)| text.find(s).map(|i| (i, *s, *op)))
            .min_by_key(|(i, s, _)| (*i, std::cmp::Reverse(s.len())))
            .ok_or_else(|| {
                format!("expected METRIC OP VALUE with OP one of <= >= == != < >, got {text:?}")
            })?;
        let left = operand(&text[..index])?;
        let right = operand(&text[index + op_text.len()..])?;
        if !matches!(left, Operand::Metric(..)) && !matches!(right, Operand::Metric(..)) {
            return Err(format!("expected at least one metric in {text:?}"));
        }
        Ok(Expectation {
            text: text.trim().to_owned(),
            left,
            op,
            right,
        })
    }

    /// The metrics named, with their qualifiers.
    pub fn metrics(&self) -> Vec<(&str, Option<&str>)> {
        [&self.left, &self.right]
            .into_iter()
            .filter_map(|o| match o {
                Operand::Metric(name, qualifier) => Some((name.as_str(), qualifier.as_deref())),
                _ => None,
            })
            .collect()
    }

    /// As written.
    pub fn text(&self) -> &str {
        &self.text
    }

    fn value(operand: &Operand, metrics: &Metrics) -> Option<Value> {
        match operand {
            Operand::Number(n) => Some(Value::Number(*n)),
            Operand::Text(t) => Some(Value::Text(t.clone())),
            Operand::Metric(name, qualifier) => {
                let key = match qualifier {
                    Some(q) => format!("{name}[{q}]"),
                    None => name.clone(),
                };
                metrics.get(&key).cloned()
            }
        }
    }

    /// Evaluates against `metrics`; a metric the run did not measure fails.
    pub fn check(&self, metrics: &Metrics) -> ExpectationResult {
        let left = Self::value(&self.left, metrics);
        let right = Self::value(&self.right, metrics);
        let passed = match (&left, &right) {
            (Some(Value::Number(l)), Some(Value::Number(r))) => match self.op {
                Op::Le => l <= r,
                Op::Ge => l >= r,
                Op::Eq => l == r,
                Op::Ne => l != r,
                Op::Lt => l < r,
                Op::Gt => l > r,
            },
            (Some(Value::Text(l)), Some(Value::Text(r))) => match self.op {
                Op::Eq => l == r,
                Op::Ne => l != r,
                _ => false,
            },
            _ => false,
        };
        let measured = if matches!(self.left, Operand::Metric(..)) {
            left
        } else {
            right
        };
        ExpectationResult {
            expectation: self.text.clone(),
            measured,
            passed,
        }
    }
}

/// Pass or fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every expectation and invariant held.
    Pass,
    /// Something did not.
    Fail,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
        })
    }
}

/// A member's assignment as it reported it: `(generation, member, [(topic, partition)])`.
pub type ReportedAssignment = (i32, String, Vec<(String, i32)>);

/// Partitions owned by more than one member in the same generation: `(generation, topic,
/// partition, members)`, from the assignments members reported.
pub fn ownership_conflicts(
    assignments: &[ReportedAssignment],
) -> Vec<(i32, String, i32, Vec<String>)> {
    let mut owners: BTreeMap<(i32, String, i32), Vec<String>> = BTreeMap::new();
    for (generation, member, partitions) in assignments {
        for (topic, partition) in partitions {
            let entry = owners
                .entry((*generation, topic.clone(), *partition))
                .or_default();
            if !entry.contains(member) {
                entry.push(member.clone());
            }
        }
    }
    owners
        .into_iter()
        .filter(|(_, members)| members.len() > 1)
        .map(|((g, t, p), members)| (g, t, p, members))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks() {
        let mut metrics = Metrics::new();
        metrics.insert("teardown_ms".into(), Value::Number(5000.0));
        metrics.insert("teardown_ms[pool-a]".into(), Value::Number(5000.0));
        metrics.insert("group_state".into(), Value::Text("Empty".into()));
        let e = Expectation::parse("teardown_ms <= 5_100").unwrap();
        assert!(e.check(&metrics).passed);
        let e = Expectation::parse("teardown_ms[pool-a] >= 4900").unwrap();
        assert!(e.check(&metrics).passed);
        let e = Expectation::parse("group_state == \"Empty\"").unwrap();
        assert!(e.check(&metrics).passed);
        let e = Expectation::parse("teardown_ms < 10").unwrap();
        assert!(!e.check(&metrics).passed);
        assert!(Expectation::parse("teardown_ms 10").is_err());
        assert!(Expectation::parse("1 == 1").is_err());
    }

    #[test]
    fn finds_conflicts() {
        let a = vec![
            (1, "a".to_owned(), vec![("t".to_owned(), 0)]),
            (1, "b".to_owned(), vec![("t".to_owned(), 0)]),
            (2, "b".to_owned(), vec![("t".to_owned(), 1)]),
        ];
        assert_eq!(ownership_conflicts(&a).len(), 1);
    }
}
