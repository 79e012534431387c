//! Runs one scenario with one seed and reports: verdict, virtual and wall time, teardown, each
//! expectation with its measured value, the trace, and the line that reproduces the run.
//!
//! The trace is rendered on demand ([`RunReport::trace`]): the report keeps what it is rendered
//! from, so a caller that only wants the verdict and the metrics (explore, the benchmarks) does
//! not pay for formatting a few hundred lines per run.
//!
//! The wall clock (`std::time::Instant`) is read here and only here, around the world; it never
//! reaches the trace.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use kmock_core::BrokerCore;
use kmock_core::group::GroupSummary;
use kmock_core::group::consumer::ConsumerGroupSummary;
use serde::Serialize;

use crate::checkers::{ExpectationResult, Metrics, Value, Verdict, ownership_conflicts};
use crate::scenario::{ActorKind, RandomRanges, Scenario, ScenarioError};
use crate::trace::Observations;
use crate::world::{self, WorldOutcome};

/// What one run produced.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Scenario name.
    pub scenario: String,
    /// Scenario file.
    pub file: String,
    /// The seed.
    pub seed: u64,
    /// Pass or fail.
    pub verdict: Verdict,
    /// Virtual time of the run, in milliseconds.
    pub virtual_ms: f64,
    /// Wall time of the run, in milliseconds.
    pub wall_ms: f64,
    /// The longest consumer teardown (stop) in virtual milliseconds, if any consumer stopped.
    pub teardown_ms: Option<f64>,
    /// Each expectation with its measured value.
    pub expectations: Vec<ExpectationResult>,
    /// Why the run failed besides expectations (timeouts, invariants).
    pub failures: Vec<String>,
    /// Every metric measured.
    pub metrics: Metrics,
    /// What the trace is rendered from; see [`RunReport::trace`].
    #[serde(skip)]
    trace: Arc<TraceSource>,
}

/// Everything the trace is rendered from, and the trace once rendered.
struct TraceSource {
    header: Vec<String>,
    observations: Observations,
    /// The broker core the run left (its request log).
    broker: Option<BrokerCore>,
    rendered: OnceLock<String>,
}

impl std::fmt::Debug for TraceSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceSource")
            .field("events", &self.observations.events.len())
            .field(
                "requests",
                &self
                    .broker
                    .as_ref()
                    .map_or(0, |b| b.request_log().entries().count()),
            )
            .finish_non_exhaustive()
    }
}

impl RunReport {
    /// The trace: header lines, then one line per event and request in virtual-time order (see
    /// [`crate::trace`]). Rendered on the first call, then kept.
    pub fn trace(&self) -> &str {
        let source = &*self.trace;
        source.rendered.get_or_init(|| {
            let log = source.broker.iter().flat_map(|b| b.request_log().entries());
            crate::trace::render(&source.header, &source.observations, log)
        })
    }

    /// `reproduce: kmock sim run FILE --seed N`.
    pub fn reproduce_line(&self) -> String {
        format!(
            "reproduce: kmock sim run {} --seed {}",
            self.file, self.seed
        )
    }

    /// A short human summary (several lines), ending with the reproduction line on failure.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "{} {} seed={} virtual={:.0}ms wall={:.1}ms teardown={}\n",
            match self.verdict {
                Verdict::Pass => "PASS",
                Verdict::Fail => "FAIL",
            },
            self.scenario,
            self.seed,
            self.virtual_ms,
            self.wall_ms,
            self.teardown_ms
                .map_or_else(|| "-".to_owned(), |t| format!("{t:.0}ms"))
        );
        for e in &self.expectations {
            out.push_str(&format!(
                "  [{}] {}  (measured {})\n",
                if e.passed { "ok" } else { "FAILED" },
                e.expectation,
                e.measured
                    .as_ref()
                    .map_or_else(|| "nothing".to_owned(), ToString::to_string)
            ));
        }
        for failure in &self.failures {
            out.push_str(&format!("  [FAILED] {failure}\n"));
        }
        if self.verdict == Verdict::Fail {
            out.push_str(&self.reproduce_line());
            out.push('\n');
        }
        out
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Loads and runs a file; `seed` overrides the file's seed.
pub fn run_file(path: impl AsRef<Path>, seed: Option<u64>) -> Result<RunReport, ScenarioError> {
    let scenario = Scenario::load(path)?;
    let seed = seed.unwrap_or(scenario.seed);
    Ok(run_scenario(&scenario, seed))
}

/// Runs `scenario` with `seed` (after drawing its `[random]` ranges from the seed).
pub fn run_scenario(scenario: &Scenario, seed: u64) -> RunReport {
    // `[random]` ranges are drawn from the seed, so `--seed N` reproduces an explored run. Only
    // a scenario with such ranges is copied (to draw them); the world borrows the one it runs.
    let randomized;
    let scenario = if scenario.random == RandomRanges::default() {
        scenario
    } else {
        randomized = scenario.randomized(seed);
        &randomized
    };
    let started = std::time::Instant::now();
    let outcome = world::run(scenario, seed);
    let wall = started.elapsed();
    report(scenario, seed, outcome, wall)
}

fn max(values: impl Iterator<Item = f64>) -> Option<f64> {
    values.fold(None, |m, v| Some(m.map_or(v, |m: f64| m.max(v))))
}

fn report(scenario: &Scenario, seed: u64, outcome: WorldOutcome, wall: Duration) -> RunReport {
    let o = outcome.recorder.lock();
    let mut metrics = Metrics::new();
    let mut failures = o.failures.clone();
    let teardown_ms = teardown_metrics(&mut metrics, &o);
    for actor in &scenario.actors {
        if let ActorKind::Pool { group, .. } = &actor.kind {
            pool_metrics(&mut metrics, &o, &actor.name);
            group_metrics(&mut metrics, &o, &outcome.groups, &actor.name, group);
            consumer_group_metrics(&mut metrics, &outcome.consumer_groups, &actor.name, group);
        }
    }
    unqualified_maxima(&mut metrics);
    overall_group_state(&mut metrics, &outcome.groups, &outcome.consumer_groups);
    delivery_metrics(&mut metrics, &o);
    ownership_metrics(&mut metrics, &mut failures, &o);
    for actor in &scenario.actors {
        if let ActorKind::Pipeline { input, output, .. } = &actor.kind {
            pipeline_metrics(
                &mut metrics,
                &o,
                outcome.broker.as_ref(),
                &actor.name,
                input,
                output,
            );
        }
    }
    metrics.insert("virtual_ms".into(), Value::Number(ms(outcome.virtual_time)));

    let expectations: Vec<ExpectationResult> = scenario
        .expectations
        .iter()
        .map(|e| e.check(&metrics))
        .collect();
    let verdict = if failures.is_empty() && expectations.iter().all(|e| e.passed) {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    drop(o);
    let trace = Arc::new(TraceSource {
        header: outcome.header,
        observations: std::mem::take(&mut *outcome.recorder.lock()),
        broker: outcome.broker,
        rendered: OnceLock::new(),
    });
    RunReport {
        scenario: scenario.name.clone(),
        file: scenario.file.clone(),
        seed,
        verdict,
        virtual_ms: ms(outcome.virtual_time),
        wall_ms: ms(wall),
        teardown_ms,
        expectations,
        failures,
        metrics,
        trace,
    }
}

fn number(metrics: &mut Metrics, key: String, value: f64) {
    metrics.insert(key, Value::Number(value));
}

/// Teardown per member, the longest overall (returned) and how many stops failed.
fn teardown_metrics(metrics: &mut Metrics, o: &Observations) -> Option<f64> {
    for (member, (took, _)) in &o.teardowns {
        number(metrics, format!("teardown_ms[{member}]"), ms(*took));
    }
    let teardown_ms = max(o.teardowns.values().map(|(t, _)| ms(*t)));
    if let Some(t) = teardown_ms {
        number(metrics, "teardown_ms".into(), t);
    }
    number(
        metrics,
        "stop_errors".into(),
        o.teardowns.values().filter(|(_, e)| *e).count() as f64,
    );
    teardown_ms
}

/// What the client side saw of one pool: teardown, time to assignment, eviction, deliveries,
/// rebalances.
fn pool_metrics(metrics: &mut Metrics, o: &Observations, name: &str) {
    let prefix = format!("{name}/");
    if let Some(t) = max(o
        .teardowns
        .iter()
        .filter(|(m, _)| m.starts_with(&prefix))
        .map(|(_, (t, _))| ms(*t)))
    {
        number(metrics, format!("teardown_ms[{name}]"), t);
    }
    if let Some(t) = o.pool_teardowns.get(name) {
        number(metrics, format!("pool_teardown_ms[{name}]"), ms(*t));
    }
    let started = o.pool_started.get(name).copied();
    let first = o
        .members
        .values()
        .filter(|m| m.pool == name)
        .filter_map(|m| m.first_stable)
        .min();
    if let (Some(s), Some(f)) = (started, first) {
        number(
            metrics,
            format!("first_assignment_ms[{name}]"),
            ms(f.saturating_sub(s)),
        );
    }
    if let (Some(s), Some(a)) = (started, o.pool_all_assigned.get(name)) {
        number(
            metrics,
            format!("all_assigned_ms[{name}]"),
            ms(a.saturating_sub(s)),
        );
    }
    if let (Some(c), Some(r)) = (o.crashed_at.get(name), o.rebalanced_at.get(name))
        && r >= c
    {
        number(metrics, format!("eviction_ms[{name}]"), ms(*r - *c));
    }
    // Deliveries of this pool.
    let delivered = o.deliveries.keys().filter(|(p, _)| &**p == name).count();
    let total: u64 = o
        .deliveries
        .iter()
        .filter(|((p, _), _)| &**p == name)
        .map(|(_, n)| *n)
        .sum();
    number(metrics, format!("delivered[{name}]"), delivered as f64);
    number(metrics, format!("delivered_total[{name}]"), total as f64);
    number(
        metrics,
        format!("duplicates[{name}]"),
        total as f64 - delivered as f64,
    );
}

/// Rebalances of one pool's group as its members saw them, and the broker's final view of the
/// group (state, generation, members), under both the pool's and the group's name.
fn group_metrics(
    metrics: &mut Metrics,
    o: &Observations,
    groups: &BTreeMap<String, Option<GroupSummary>>,
    name: &str,
    group: &str,
) {
    let prefix = format!("{name}/");
    let generations: BTreeSet<i32> = o
        .assignments
        .iter()
        .filter(|(_, m, _)| m.starts_with(&prefix))
        .map(|(g, _, _)| *g)
        .collect();
    let rebalances = generations.len().saturating_sub(1) as f64;
    number(metrics, format!("rebalances[{name}]"), rebalances);
    number(metrics, format!("rebalances[{group}]"), rebalances);
    if let Some(Some(summary)) = groups.get(group) {
        for key in [group, name] {
            metrics.insert(
                format!("group_state[{key}]"),
                Value::Text(format!("{:?}", summary.state)),
            );
            number(
                metrics,
                format!("generation[{key}]"),
                f64::from(summary.generation_id),
            );
            number(
                metrics,
                format!("members[{key}]"),
                summary.members.len() as f64,
            );
        }
    }
}

/// The broker's final view of a pool's KIP-848 consumer group, when it is one: state, group epoch
/// (as `generation`) and members, under both the pool's and the group's name.
fn consumer_group_metrics(
    metrics: &mut Metrics,
    groups: &BTreeMap<String, Option<ConsumerGroupSummary>>,
    name: &str,
    group: &str,
) {
    if let Some(Some(summary)) = groups.get(group) {
        for key in [group, name] {
            metrics.insert(
                format!("group_state[{key}]"),
                Value::Text(summary.state.name().to_owned()),
            );
            number(
                metrics,
                format!("generation[{key}]"),
                f64::from(summary.group_epoch),
            );
            number(
                metrics,
                format!("members[{key}]"),
                summary.members.len() as f64,
            );
        }
    }
}

/// Unqualified versions of the per-pool metrics: the maximum over pools (or the only group).
fn unqualified_maxima(metrics: &mut Metrics) {
    for base in [
        "pool_teardown_ms",
        "eviction_ms",
        "first_assignment_ms",
        "all_assigned_ms",
        "rebalances",
        "generation",
        "members",
        "delivered_total",
        "duplicates",
    ] {
        let prefix = format!("{base}[");
        let values: Vec<f64> = metrics
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(_, v)| match v {
                Value::Number(n) => Some(*n),
                Value::Text(_) => None,
            })
            .collect();
        if let Some(m) = max(values.into_iter()) {
            metrics.insert(base.to_owned(), Value::Number(m));
        }
    }
}

/// `group_state` unqualified: the only group's state, or `Dead` when no group is left.
fn overall_group_state(
    metrics: &mut Metrics,
    groups: &BTreeMap<String, Option<GroupSummary>>,
    consumer_groups: &BTreeMap<String, Option<ConsumerGroupSummary>>,
) {
    let states: Vec<Value> = groups
        .values()
        .flatten()
        .map(|s| Value::Text(format!("{:?}", s.state)))
        .chain(
            consumer_groups
                .values()
                .flatten()
                .map(|s| Value::Text(s.state.name().to_owned())),
        )
        .collect();
    if states.len() == 1 {
        metrics.insert("group_state".into(), states[0].clone());
    }
    if groups.values().all(Option::is_none)
        && consumer_groups.values().all(Option::is_none)
        && !groups.is_empty()
    {
        metrics.insert("group_state".into(), Value::Text("Dead".into()));
    }
}

/// Delivery over every pool: an acknowledged record counts as delivered if any pool got it.
fn delivery_metrics(metrics: &mut Metrics, o: &Observations) {
    let produced = o.acked.len();
    let delivered_anywhere: BTreeSet<&crate::trace::RecordId> =
        o.deliveries.keys().map(|(_, r)| r).collect();
    let delivered = o
        .acked
        .keys()
        .filter(|record| delivered_anywhere.contains(record))
        .count();
    metrics.insert("produced".into(), Value::Number(produced as f64));
    metrics.insert(
        "produce_failed".into(),
        Value::Number(o.produce_failed as f64),
    );
    metrics.insert("delivered".into(), Value::Number(delivered as f64));
    metrics.insert("lost".into(), Value::Number((produced - delivered) as f64));
    metrics
        .entry("duplicates".into())
        .or_insert(Value::Number(0.0));
}

/// Exactly-once over one pipeline: its output as a read_committed consumer reads it (from the
/// broker's logs), against the acknowledged records of its input. Each metric is qualified by the
/// pipeline and, unqualified, summed over pipelines (so `pipeline_missing == 0` covers them all).
fn pipeline_metrics(
    metrics: &mut Metrics,
    o: &Observations,
    core: Option<&kmock_core::BrokerCore>,
    name: &str,
    input: &str,
    output: &str,
) {
    let outputs = core.map_or_else(Vec::new, |core| {
        crate::pipeline::committed_output(core, output)
    });
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for value in &outputs {
        *counts.entry(value.as_str()).or_default() += 1;
    }
    let inputs: BTreeSet<String> = o
        .acked
        .keys()
        .filter(|(topic, _, _)| &**topic == input)
        .map(|(topic, partition, offset)| format!("{topic}/{partition}/{offset}"))
        .collect();
    let committed = inputs
        .iter()
        .filter(|id| counts.contains_key(id.as_str()))
        .count();
    let duplicates: u64 = counts.values().map(|n| n - 1).sum();
    let aborted = core.map_or(0, |core| {
        let partitions = core.logs().partition_count(output).unwrap_or(0);
        (0..partitions)
            .map(|p| core.logs().aborted_transactions(output, p).len())
            .sum::<usize>()
    });
    let observed = o.pipelines.get(name).cloned().unwrap_or_default();
    for (metric, value) in [
        ("pipeline_committed", committed as f64),
        ("pipeline_duplicates", duplicates as f64),
        ("pipeline_missing", (inputs.len() - committed) as f64),
        ("pipeline_transactions", observed.committed as f64),
        ("pipeline_restarts", observed.restarts as f64),
        ("aborted_transactions", aborted as f64),
    ] {
        number(metrics, format!("{metric}[{name}]"), value);
        let total = match metrics.get(metric) {
            Some(Value::Number(n)) => n + value,
            _ => value,
        };
        number(metrics, metric.to_owned(), total);
    }
}

/// The invariant that no partition has two owners in one generation: a metric, and a failure
/// per conflict.
fn ownership_metrics(metrics: &mut Metrics, failures: &mut Vec<String>, o: &Observations) {
    let conflicts = ownership_conflicts(&o.assignments);
    metrics.insert(
        "ownership_conflicts".into(),
        Value::Number(conflicts.len() as f64),
    );
    for (generation, topic, partition, members) in &conflicts {
        failures.push(format!(
            "invariant: {topic}[{partition}] owned by {} in generation {generation}",
            members.join(" and ")
        ));
    }
}

// Reports cross threads (a caller may run scenarios in parallel).
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<RunReport>();
};
