//! The teardown matrix of `tests/tests/teardown_matrix.rs` (real clients over TCP) for this crate's
//! consumer, in paused virtual time against the broker on the in-memory network: the same
//! requests (OffsetCommit, LeaveGroup, Heartbeat in flight, FindCoordinator after the coordinator
//! moved), the same fault kinds, auto-commit on and off.
//!
//! The property, stated per fault and checked per row (exactly: virtual time has no noise):
//!
//! - **The bound is one request timeout for the whole stop** (commit and LeaveGroup share one
//!   deadline): never 2 × rt with a commit before the leave, never unbounded. The stop's own
//!   sequence ends by the deadline; [`kmock_client::STOP_GUARD`] past it the handle would abort
//!   it with `StopOverran`, which fails every row.
//! - **How `stop()` ends** follows from what the fault does to the requests the stop sends:
//!   - the request is never answered in time (`delay`, `hold`, `drop`): the deadline ends the stop
//!     at exactly rt, with `RequestTimeout` naming that request;
//!   - the request is answered with an error code: at once, with that broker error;
//!   - the connection closes on it (`close`, `close=after`): at once, with `ConnectionClosed`;
//!   - the stop does not send it: at once, `Ok` (a response to every request it sent).
//!
//! Which requests a stop sends: OffsetCommit (auto-commit on, something consumed) then LeaveGroup,
//! on the coordinator connection, or on a fresh one when a heartbeat, join or commit is still in
//! flight there (so a heartbeat answered late does not hold the stop); a FindCoordinator first
//! when the member lost its coordinator; a LeaveGroup answered NOT_COORDINATOR once more, after a
//! FindCoordinator (the coordinator moved), by the same deadline — with `error=not_coordinator` on
//! every LeaveGroup the second answer ends the stop with it. A commit that uses up the deadline
//! leaves no time for the LeaveGroup: the member stays until its session timeout (checked too).

mod common;

use std::time::Duration;

use kmock_broker::FaultRule;
use kmock_broker::server::BrokerHandle;
use kmock_client::{ClientError, Consumer, Producer, Settings};
use tokio::time::Instant;

use common::*;

const TOPIC: &str = "teardown";
const GROUP: &str = "teardown-group";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    LeaveGroup,
    OffsetCommit,
    Heartbeat,
    FindCoordinator,
}

impl Request {
    fn spec_name(self) -> &'static str {
        match self {
            Request::LeaveGroup => "leave_group",
            Request::OffsetCommit => "offset_commit",
            Request::Heartbeat => "heartbeat",
            Request::FindCoordinator => "find_coordinator",
        }
    }
}

const ACTIONS: [&str; 11] = [
    "delay=60s",
    "hold=60s",
    "drop",
    "close",
    "close=after",
    "error=coordinator_not_available",
    "error=not_coordinator",
    "error=rebalance_in_progress",
    "error=unknown_member_id",
    "error=group_authorization_failed",
    "error=unknown_server_error",
];

#[derive(Debug, Clone, Copy)]
struct Case {
    request: Request,
    action: &'static str,
    auto_commit: bool,
}

impl Case {
    fn id(&self) -> String {
        format!(
            "{}:{} auto-commit={}",
            self.request.spec_name(),
            self.action,
            if self.auto_commit { "on" } else { "off" }
        )
    }
}

fn matrix() -> Vec<Case> {
    let mut cases = Vec::new();
    for request in [
        Request::LeaveGroup,
        Request::OffsetCommit,
        Request::Heartbeat,
        Request::FindCoordinator,
    ] {
        for action in ACTIONS {
            if request == Request::FindCoordinator
                && matches!(
                    action,
                    "error=not_coordinator"
                        | "error=rebalance_in_progress"
                        | "error=unknown_member_id"
                )
            {
                continue;
            }
            for auto_commit in [true, false] {
                cases.push(Case {
                    request,
                    action,
                    auto_commit,
                });
            }
        }
    }
    cases
}

/// What one stop did.
#[derive(Debug)]
struct Observed {
    took: Duration,
    result: Result<(), ClientError>,
    /// Group requests sent from the stop on: (API, whether a fault applied).
    sent: Vec<(String, bool)>,
    members_after: usize,
    fault_met_first: bool,
}

async fn faulted(broker: &BrokerHandle, rule: usize) -> bool {
    broker.faults().await.expect("broker running")[rule].applied > 0
}

async fn run(case: Case) -> Observed {
    let mut rules = Vec::new();
    if case.request == Request::FindCoordinator {
        // The coordinator moves: the member looks it up again, and that lookup meets the fault.
        rules.push("heartbeat:error=not_coordinator,once".to_owned());
    }
    rules.push(format!("{}:{}", case.request.spec_name(), case.action));
    let awaited = matches!(case.request, Request::Heartbeat | Request::FindCoordinator);
    run_with(case.auto_commit, &rules, awaited).await
}

/// One stop: a consumer joins, consumes a record, gets `rules` (the last one awaited before the
/// stop when `await_last`), and stops.
async fn run_with(auto_commit: bool, rules: &[String], await_last: bool) -> Observed {
    let (broker, network) = memory_broker();
    let settings = Settings {
        enable_auto_commit: auto_commit,
        auto_commit_interval_ms: 600_000,
        ..env_test_settings(GROUP)
    };
    let cluster = memory_cluster(&network, settings).await;
    Producer::new(cluster.clone())
        .publish_to(TOPIC, Some(0), None, Some(b"teardown"), &[])
        .await
        .expect("publish");
    let mut consumer = Consumer::start(cluster.clone(), &[TOPIC]);
    consumer.wait_stable().await.expect("joins");
    consumer.recv().await.expect("one record");
    for rule in rules {
        broker
            .add_fault(rule.parse::<FaultRule>().expect("valid fault spec"))
            .await
            .expect("broker running");
    }
    let faulted_rule = rules.len() - 1;
    let mut fault_met_first = true;
    if await_last {
        let waited = Instant::now();
        while !faulted(&broker, faulted_rule).await {
            if waited.elapsed() > Duration::from_secs(10) {
                fault_met_first = false;
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let since = broker
        .request_log_since(0)
        .await
        .expect("broker running")
        .last()
        .map_or(0, |entry| entry.seq + 1);
    let started = Instant::now();
    let result = consumer.stop().await;
    let took = started.elapsed();
    let sent = broker
        .request_log_since(since)
        .await
        .expect("broker running")
        .into_iter()
        .map(|entry| (entry.api_name(), entry.fault.is_some()))
        .filter(|(api, _)| {
            !matches!(
                api.as_str(),
                "Fetch" | "Metadata" | "ApiVersions" | "ListOffsets"
            )
        })
        .collect();
    let members_after = broker
        .inspect(|core| core.groups().group(GROUP).map_or(0, |g| g.members.len()))
        .await
        .expect("broker running");
    cluster.close().await;
    broker.shutdown().await;
    Observed {
        took,
        result,
        sent,
        members_after,
        fault_met_first,
    }
}

/// How a stop ends.
#[derive(Debug, Clone, PartialEq)]
enum Ending {
    /// Every request it sent was answered without error.
    Ok,
    /// The deadline cut this request short (`RequestTimeout`).
    Deadline(&'static str),
    /// This request was answered with this error code.
    Broker(&'static str, i16),
    /// A connection closed under it.
    Closed,
}

impl Ending {
    fn of(result: &Result<(), ClientError>) -> Option<Ending> {
        Some(match result {
            Ok(()) => Ending::Ok,
            Err(ClientError::RequestTimeout { api, .. }) => Ending::Deadline(leak(api)),
            Err(ClientError::Broker { api, code, .. }) => Ending::Broker(leak(api), *code),
            Err(ClientError::ConnectionClosed { .. }) => Ending::Closed,
            // StopOverran (the guard fired: the bound is broken) and anything else.
            Err(_) => return None,
        })
    }
}

fn leak(text: &str) -> &'static str {
    Box::leak(text.to_owned().into_boxed_str())
}

/// How long a stop takes, in request timeouts.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Took {
    /// At once: nothing waits (up to two reconnect backoffs).
    Prompt,
    /// Exactly the request timeout: the deadline ends it.
    Deadline,
    /// Retrying a retriable error until the deadline: more than half of it, never more.
    RetriedUntilDeadline,
}

/// What the property says a row does.
#[derive(Debug, Clone, PartialEq)]
struct Expected {
    ending: Ending,
    took: Took,
    /// Whether the member is gone from the group right after the stop.
    member_left: bool,
}

fn error_code(action: &str) -> Option<i16> {
    Some(match action.strip_prefix("error=")? {
        "coordinator_not_available" => 15,
        "not_coordinator" => 16,
        "rebalance_in_progress" => 27,
        "unknown_member_id" => 25,
        "group_authorization_failed" => 30,
        "unknown_server_error" => -1,
        other => panic!("no code for {other}"),
    })
}

/// The property, row by row (see the module doc for the rule it follows).
fn expected(case: Case) -> Expected {
    let unanswered = matches!(case.action, "delay=60s" | "hold=60s" | "drop");
    let closes = matches!(case.action, "close" | "close=after");
    let expect = |ending, took, member_left| Expected {
        ending,
        took,
        member_left,
    };
    match case.request {
        Request::LeaveGroup => {
            // `delay`, `drop` and `close=after` process the leave; `hold` processes it 60 s later.
            let processed = matches!(case.action, "delay=60s" | "drop" | "close=after");
            if unanswered {
                expect(Ending::Deadline("LeaveGroup"), Took::Deadline, processed)
            } else if closes {
                expect(Ending::Closed, Took::Prompt, processed)
            } else {
                let code = error_code(case.action).expect("an error action");
                expect(Ending::Broker("LeaveGroup", code), Took::Prompt, false)
            }
        }
        // Not sent without auto-commit: the stop only leaves.
        Request::OffsetCommit if !case.auto_commit => expect(Ending::Ok, Took::Prompt, true),
        Request::OffsetCommit => {
            if unanswered {
                // The commit takes the whole deadline: no time is left for the LeaveGroup (one
                // deadline for both, not one each).
                expect(Ending::Deadline("OffsetCommit"), Took::Deadline, false)
            } else if closes {
                // The member leaves on a fresh connection.
                expect(Ending::Closed, Took::Prompt, true)
            } else {
                let code = error_code(case.action).expect("an error action");
                expect(Ending::Broker("OffsetCommit", code), Took::Prompt, true)
            }
        }
        // A heartbeat in flight never holds the stop (it leaves on a fresh connection); after a
        // heartbeat error or close the member is rejoining or carrying on, and leaves at once.
        // An injected UNKNOWN_MEMBER_ID makes it rejoin under a new member id: the old one, still
        // known to the broker, stays until its session times out.
        Request::Heartbeat => expect(
            Ending::Ok,
            Took::Prompt,
            case.action != "error=unknown_member_id",
        ),
        // The member lost its coordinator and is looking it up: the stop has to find it first.
        // While it does, nobody heartbeats: a stop that takes the whole deadline (5 s) ends after
        // the session timeout (6 s since the last heartbeat) has removed the member.
        Request::FindCoordinator => {
            if unanswered {
                expect(Ending::Deadline("FindCoordinator"), Took::Deadline, true)
            } else if closes {
                expect(Ending::Closed, Took::Prompt, false)
            } else if case.action == "error=coordinator_not_available" {
                expect(
                    Ending::Broker("FindCoordinator", 15),
                    Took::RetriedUntilDeadline,
                    true,
                )
            } else {
                let code = error_code(case.action).expect("an error action");
                expect(Ending::Broker("FindCoordinator", code), Took::Prompt, false)
            }
        }
    }
}

fn request_timeout() -> Duration {
    env_test_settings(GROUP).request_timeout()
}

fn retry_backoff() -> Duration {
    env_test_settings(GROUP).retry_backoff()
}

/// Whether `took` is what `want` says.
fn took_matches(took: Duration, want: Took) -> bool {
    let rt = request_timeout();
    match want {
        Took::Prompt => took <= retry_backoff() * 2,
        Took::Deadline => took == rt,
        Took::RetriedUntilDeadline => took > rt / 2 && took <= rt,
    }
}

/// Checks one observation against its expectation; `Err` says what differs.
fn check(what: &str, observed: &Observed, want: &Expected) -> Result<(), String> {
    let ending = Ending::of(&observed.result);
    let mut wrong = Vec::new();
    if !observed.fault_met_first {
        wrong.push("the faulted request never went out before the stop".to_owned());
    }
    if ending.as_ref() != Some(&want.ending) {
        wrong.push(format!(
            "ended {:?} ({:?}), want {:?}",
            ending, observed.result, want.ending
        ));
    }
    if !took_matches(observed.took, want.took) {
        wrong.push(format!(
            "took {:?}, want {:?} (request timeout {:?})",
            observed.took,
            want.took,
            request_timeout()
        ));
    }
    if (observed.members_after == 0) != want.member_left {
        wrong.push(format!(
            "{} member(s) after the stop, want the member {}",
            observed.members_after,
            if want.member_left {
                "gone"
            } else {
                "still there"
            }
        ));
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{what}: {} (sent during the stop: {:?})",
            wrong.join("; "),
            observed.sent
        ))
    }
}

#[tokio::test(start_paused = true)]
async fn every_fault_on_every_stop_request_ends_by_one_request_timeout_as_stated() {
    let mut failures = Vec::new();
    let cases = matrix();
    for case in &cases {
        let observed = run(*case).await;
        if let Err(why) = check(&case.id(), &observed, &expected(*case)) {
            failures.push(why);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows break the stated teardown property:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The row where real clients take two request timeouts (aiokafka, librdkafka: one per request):
/// the final commit is answered late, then the LeaveGroup is never answered. This consumer shares
/// one deadline: the stop ends at one request timeout, cut short in the LeaveGroup.
#[tokio::test(start_paused = true)]
async fn a_late_commit_then_an_unanswered_leave_cost_one_request_timeout_not_two() {
    let rt = request_timeout();
    let commit_delay = rt * 3 / 5;
    let rules = [
        format!("offset_commit:delay={}ms", commit_delay.as_millis()),
        "leave_group:drop".to_owned(),
    ];
    let observed = run_with(true, &rules, false).await;
    check(
        "offset_commit late + leave_group:drop",
        &observed,
        &Expected {
            ending: Ending::Deadline("LeaveGroup"),
            took: Took::Deadline,
            member_left: true,
        },
    )
    .unwrap_or_else(|why| panic!("{why}"));
    assert_eq!(
        observed.sent,
        [
            ("OffsetCommit".to_owned(), true),
            ("LeaveGroup".to_owned(), true)
        ]
    );
}

mod late_answers {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(32),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// A commit answered `commit_ms` late and a LeaveGroup answered `leave_ms` late: the stop
        /// ends with the LeaveGroup's answer at commit + leave when that is within the request
        /// timeout, and is cut short at exactly the request timeout otherwise — in the commit if
        /// the commit alone is too late (then no LeaveGroup is sent), else in the LeaveGroup.
        #[test]
        fn a_stop_ends_at_the_answers_or_at_the_deadline(
            commit_ms in 0u64..=8_000,
            leave_ms in 0u64..=8_000,
            auto_commit in any::<bool>(),
        ) {
            let rules = [
                format!("offset_commit:delay={commit_ms}ms"),
                format!("leave_group:delay={leave_ms}ms"),
            ];
            let observed = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .expect("a runtime")
                .block_on(run_with(auto_commit, &rules, false));
            let rt = request_timeout().as_millis() as u64;
            let commit = if auto_commit { commit_ms } else { 0 };
            // An answer due at the very instant of the deadline may go either way.
            prop_assume!(commit != rt && commit + leave_ms != rt);
            let (ending, took_ms) = if commit >= rt {
                (Ending::Deadline("OffsetCommit"), rt)
            } else if commit + leave_ms >= rt {
                (Ending::Deadline("LeaveGroup"), rt)
            } else {
                (Ending::Ok, commit + leave_ms)
            };
            prop_assert_eq!(Ending::of(&observed.result), Some(ending), "{:?}", observed);
            prop_assert_eq!(observed.took, Duration::from_millis(took_ms), "{:?}", observed);
        }
    }
}
