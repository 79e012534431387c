//! Unit tests for matchers, triggers, actions, evaluation order and the spec grammar.

use std::time::Duration;

use bytes::Bytes;
use kmock_wire::kafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use kmock_wire::kafka_protocol::messages::leave_group_request::MemberIdentity;
use kmock_wire::kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kmock_wire::kafka_protocol::messages::{
    ApiVersionsRequest, DescribeGroupsRequest, HeartbeatRequest, JoinGroupRequest,
    LeaveGroupRequest, OffsetCommitRequest, OffsetFetchRequest, SyncGroupRequest,
};
use kmock_wire::kafka_protocol::protocol::{Request, StrBytes};
use kmock_wire::{decode_request, encode_request};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};

use super::*;
use crate::BrokerTime;

fn decoded<R: Request>(body: &R, version: i16, client_id: &str) -> DecodedRequest {
    let frame: Bytes = encode_request(body, version, 1, Some(client_id)).unwrap();
    decode_request(frame.slice(4..)).unwrap()
}

fn s(text: &'static str) -> StrBytes {
    StrBytes::from_static_str(text)
}

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(7)
}

fn rule(spec: &str) -> FaultRule {
    spec.parse().unwrap_or_else(|e| panic!("{e}"))
}

fn api_versions() -> DecodedRequest {
    decoded(&ApiVersionsRequest::default(), 0, "rdkafka")
}

fn heartbeat(group: &'static str, member: &'static str) -> DecodedRequest {
    decoded(
        &HeartbeatRequest::default()
            .with_group_id(s(group).into())
            .with_member_id(s(member)),
        4,
        "c1",
    )
}

fn at_secs(secs: u64) -> BrokerTime {
    BrokerTime::from_start(Duration::from_secs(secs))
}

/// Evaluates `rules` against `request` `n` times (at `now`) and returns which applied.
fn run(
    rules: &mut FaultRules,
    request: &DecodedRequest,
    now: BrokerTime,
    n: usize,
) -> Vec<Option<u64>> {
    let mut rng = rng();
    let facts = RequestFacts::of(ConnectionId(1), request);
    (0..n)
        .map(|_| rules.evaluate(&facts, now, &mut rng).map(|a| a.rule.0))
        .collect()
}

fn matches(spec: &str, request: &DecodedRequest, connection: u64) -> bool {
    rule(spec)
        .matcher
        .matches(&RequestFacts::of(ConnectionId(connection), request))
}

// ---- facts ----

#[test]
fn facts_of_group_requests() {
    let join = decoded(
        &JoinGroupRequest::default()
            .with_group_id(s("g1").into())
            .with_member_id(s("m1"))
            .with_protocol_type(s("consumer")),
        9,
        "c",
    );
    let facts = RequestFacts::of(ConnectionId(1), &join);
    assert_eq!(
        (facts.group_ids, facts.member_ids),
        (vec!["g1"], vec!["m1"])
    );

    let sync = decoded(
        &SyncGroupRequest::default()
            .with_group_id(s("g2").into())
            .with_member_id(s("m2")),
        5,
        "c",
    );
    let facts = RequestFacts::of(ConnectionId(1), &sync);
    assert_eq!(
        (facts.group_ids, facts.member_ids),
        (vec!["g2"], vec!["m2"])
    );

    let commit = decoded(
        &OffsetCommitRequest::default()
            .with_group_id(s("g3").into())
            .with_member_id(s("m3")),
        8,
        "c",
    );
    let facts = RequestFacts::of(ConnectionId(1), &commit);
    assert_eq!(
        (facts.group_ids, facts.member_ids),
        (vec!["g3"], vec!["m3"])
    );
}

#[test]
fn facts_of_leave_group_by_version() {
    let v1 = decoded(
        &LeaveGroupRequest::default()
            .with_group_id(s("g").into())
            .with_member_id(s("old")),
        1,
        "c",
    );
    assert_eq!(
        RequestFacts::of(ConnectionId(1), &v1).member_ids,
        vec!["old"]
    );
    let v5 = decoded(
        &LeaveGroupRequest::default()
            .with_group_id(s("g").into())
            .with_members(vec![
                MemberIdentity::default().with_member_id(s("a")),
                MemberIdentity::default().with_member_id(s("b")),
            ]),
        5,
        "c",
    );
    let facts = RequestFacts::of(ConnectionId(1), &v5);
    assert_eq!(facts.group_ids, vec!["g"]);
    assert_eq!(facts.member_ids, vec!["a", "b"]);
}

#[test]
fn facts_of_offset_fetch_describe_groups_and_find_coordinator() {
    let v7 = decoded(
        &OffsetFetchRequest::default().with_group_id(s("g7").into()),
        7,
        "c",
    );
    assert_eq!(RequestFacts::of(ConnectionId(1), &v7).group_ids, vec!["g7"]);
    let v8 = decoded(
        &OffsetFetchRequest::default().with_groups(vec![
            OffsetFetchRequestGroup::default().with_group_id(s("a").into()),
            OffsetFetchRequestGroup::default().with_group_id(s("b").into()),
        ]),
        8,
        "c",
    );
    assert_eq!(
        RequestFacts::of(ConnectionId(1), &v8).group_ids,
        vec!["a", "b"]
    );

    let describe = decoded(
        &DescribeGroupsRequest::default().with_groups(vec![s("x").into(), s("y").into()]),
        5,
        "c",
    );
    assert_eq!(
        RequestFacts::of(ConnectionId(1), &describe).group_ids,
        vec!["x", "y"]
    );

    let v3 = decoded(
        &FindCoordinatorRequest::default()
            .with_key(s("g"))
            .with_key_type(0),
        3,
        "c",
    );
    assert_eq!(RequestFacts::of(ConnectionId(1), &v3).group_ids, vec!["g"]);
    let v4 = decoded(
        &FindCoordinatorRequest::default()
            .with_coordinator_keys(vec![s("g1"), s("g2")])
            .with_key_type(0),
        4,
        "c",
    );
    assert_eq!(
        RequestFacts::of(ConnectionId(1), &v4).group_ids,
        vec!["g1", "g2"]
    );
    let transaction = decoded(
        &FindCoordinatorRequest::default()
            .with_key(s("txn"))
            .with_key_type(1),
        3,
        "c",
    );
    assert!(
        RequestFacts::of(ConnectionId(1), &transaction)
            .group_ids
            .is_empty()
    );
}

#[test]
fn facts_of_delete_groups_and_offset_delete() {
    use kmock_wire::kafka_protocol::messages::{DeleteGroupsRequest, OffsetDeleteRequest};
    let delete = decoded(
        &DeleteGroupsRequest::default().with_groups_names(vec![s("a").into(), s("b").into()]),
        2,
        "c",
    );
    assert_eq!(
        RequestFacts::of(ConnectionId(1), &delete).group_ids,
        vec!["a", "b"]
    );
    let offsets = decoded(
        &OffsetDeleteRequest::default().with_group_id(s("g").into()),
        0,
        "c",
    );
    let facts = RequestFacts::of(ConnectionId(1), &offsets);
    assert_eq!(facts.group_ids, vec!["g"]);
    assert!(matches("offset_delete,group=g:drop", &offsets, 1));
    assert!(matches("delete_groups,group=b:drop", &delete, 1));
    assert!(!matches("delete_groups,group=c:drop", &delete, 1));
}

// ---- matchers ----

#[test]
fn api_matcher() {
    assert!(matches("api_versions:drop", &api_versions(), 1));
    assert!(matches("18:drop", &api_versions(), 1));
    assert!(matches("*:drop", &api_versions(), 1));
    assert!(!matches("heartbeat:drop", &api_versions(), 1));
}

#[test]
fn version_matcher() {
    let hb = heartbeat("g", "m");
    assert!(matches("heartbeat@4:drop", &hb, 1));
    assert!(matches("heartbeat@0-4:drop", &hb, 1));
    assert!(!matches("heartbeat@0-3:drop", &hb, 1));
    assert!(!matches("heartbeat@5:drop", &hb, 1));
}

#[test]
fn client_matcher() {
    assert!(matches("*,client=rdkafka:drop", &api_versions(), 1));
    assert!(!matches("*,client=kafkajs:drop", &api_versions(), 1));
}

#[test]
fn group_and_member_matchers() {
    let hb = heartbeat("g1", "m1");
    assert!(matches("heartbeat,group=g1:drop", &hb, 1));
    assert!(!matches("heartbeat,group=g2:drop", &hb, 1));
    assert!(matches("*,member=m1:drop", &hb, 1));
    assert!(!matches("*,member=m2:drop", &hb, 1));
    assert!(!matches("*,group=g1:drop", &api_versions(), 1));
}

#[test]
fn connection_matcher() {
    assert!(matches("*,conn=2:drop", &api_versions(), 2));
    assert!(matches("*,conn=conn-2:drop", &api_versions(), 2));
    assert!(!matches("*,conn=2:drop", &api_versions(), 1));
}

// ---- triggers ----

#[test]
fn always_applies_every_time() {
    let mut rules = FaultRules::default();
    rules.add(rule("*:drop,always"));
    assert_eq!(
        run(&mut rules, &api_versions(), BrokerTime::ZERO, 3),
        vec![Some(0); 3]
    );
}

#[test]
fn once_applies_to_the_first_match_only() {
    let mut rules = FaultRules::default();
    rules.add(rule("*:drop,once"));
    assert_eq!(
        run(&mut rules, &api_versions(), BrokerTime::ZERO, 3),
        vec![Some(0), None, None]
    );
}

#[test]
fn nth_applies_to_the_nth_match_only() {
    let mut rules = FaultRules::default();
    rules.add(rule("*:drop,nth=3"));
    assert_eq!(
        run(&mut rules, &api_versions(), BrokerTime::ZERO, 5),
        vec![None, None, Some(0), None, None]
    );
}

#[test]
fn times_applies_to_the_first_n_matches() {
    let mut rules = FaultRules::default();
    rules.add(rule("*:drop,times=2"));
    assert_eq!(
        run(&mut rules, &api_versions(), BrokerTime::ZERO, 4),
        vec![Some(0), Some(0), None, None]
    );
    let status = &rules.list()[0];
    assert_eq!((status.matched, status.applied), (4, 2));
}

#[test]
fn counts_count_only_matching_requests() {
    let mut rules = FaultRules::default();
    rules.add(rule("heartbeat:drop,nth=2"));
    let mut rng = rng();
    let hb = heartbeat("g", "m");
    let av = api_versions();
    let hb_facts = RequestFacts::of(ConnectionId(1), &hb);
    let av_facts = RequestFacts::of(ConnectionId(1), &av);
    assert!(
        rules
            .evaluate(&av_facts, BrokerTime::ZERO, &mut rng)
            .is_none()
    );
    assert!(
        rules
            .evaluate(&hb_facts, BrokerTime::ZERO, &mut rng)
            .is_none()
    );
    assert!(
        rules
            .evaluate(&av_facts, BrokerTime::ZERO, &mut rng)
            .is_none()
    );
    assert!(
        rules
            .evaluate(&hb_facts, BrokerTime::ZERO, &mut rng)
            .is_some()
    );
}

#[test]
fn probability_zero_and_one() {
    let mut rules = FaultRules::default();
    rules.add(rule("*:drop,prob=0"));
    assert_eq!(
        run(&mut rules, &api_versions(), BrokerTime::ZERO, 3),
        vec![None; 3]
    );
    let mut rules = FaultRules::default();
    rules.add(rule("*:drop,prob=1"));
    assert_eq!(
        run(&mut rules, &api_versions(), BrokerTime::ZERO, 3),
        vec![Some(0); 3]
    );
}

#[test]
fn probability_is_reproducible_from_the_seed() {
    let outcomes = || {
        let mut rules = FaultRules::default();
        rules.add(rule("*:drop,prob=0.5"));
        run(&mut rules, &api_versions(), BrokerTime::ZERO, 64)
    };
    let first = outcomes();
    assert_eq!(first, outcomes());
    let applied = first.iter().filter(|o| o.is_some()).count();
    assert!((10..=54).contains(&applied), "{applied} of 64");
}

#[test]
fn probability_draws_only_when_the_rest_of_the_rule_held() {
    let mut rules = FaultRules::default();
    rules.add(rule("heartbeat:drop,prob=0.5"));
    rules.add(rule("*:drop,times=1,prob=0.5"));
    let mut rng = rng();
    let untouched = rng.clone();
    let av = api_versions();
    let facts = RequestFacts::of(ConnectionId(1), &av);
    // First request: rule 0 does not match (no draw); rule 1 matches, count allows: one draw.
    let _ = rules.evaluate(&facts, BrokerTime::ZERO, &mut rng);
    let mut expected = untouched.clone();
    let _ = expected.random::<f64>();
    assert_eq!(rng, expected);
    // Second request: rule 1 is past `times=1`: no draw.
    let _ = rules.evaluate(&facts, BrokerTime::ZERO, &mut rng);
    assert_eq!(rng, expected);
}

#[test]
fn times_and_probability_combine() {
    let mut rules = FaultRules::default();
    rules.add(rule("*:drop,times=3,prob=1"));
    assert_eq!(
        run(&mut rules, &api_versions(), BrokerTime::ZERO, 4),
        vec![Some(0), Some(0), Some(0), None]
    );
}

#[test]
fn after_and_before_bound_broker_time() {
    let mut rules = FaultRules::default();
    rules.add(rule("*:drop,after=10s,before=20s"));
    let av = api_versions();
    assert_eq!(run(&mut rules, &av, at_secs(9), 1), vec![None]);
    assert_eq!(run(&mut rules, &av, at_secs(10), 1), vec![Some(0)]);
    assert_eq!(
        run(&mut rules, &av, BrokerTime::from_millis(19_999), 1),
        vec![Some(0)]
    );
    assert_eq!(run(&mut rules, &av, at_secs(20), 1), vec![None]);
    // Requests outside the window are not counted.
    assert_eq!(rules.list()[0].matched, 2);
}

#[test]
fn once_after_counts_from_the_window() {
    let mut rules = FaultRules::default();
    rules.add(rule("*:drop,once,after=1s"));
    let av = api_versions();
    assert_eq!(run(&mut rules, &av, BrokerTime::ZERO, 2), vec![None, None]);
    assert_eq!(run(&mut rules, &av, at_secs(1), 2), vec![Some(0), None]);
}

// ---- evaluation order and bookkeeping ----

#[test]
fn first_applying_rule_wins_and_later_rules_do_not_count() {
    let mut rules = FaultRules::default();
    let first = rules.add(rule("*:delay=1s,times=1"));
    let second = rules.add(rule("*:drop"));
    assert_eq!(
        run(&mut rules, &api_versions(), BrokerTime::ZERO, 3),
        vec![Some(first.0), Some(second.0), Some(second.0)]
    );
    let counts: Vec<_> = rules
        .list()
        .iter()
        .map(|s| (s.matched, s.applied))
        .collect();
    assert_eq!(counts, vec![(3, 1), (2, 2)]);
}

#[test]
fn remove_and_clear() {
    let mut rules = FaultRules::default();
    let a = rules.add(rule("*:drop"));
    let b = rules.add(rule("*:close"));
    assert_eq!(rules.remove(a), Some(rule("*:drop")));
    assert_eq!(rules.remove(a), None);
    assert_eq!(rules.list()[0].id, b);
    rules.clear();
    assert!(rules.is_empty());
    assert_eq!(rules.add(rule("*:drop")), FaultRuleId(2));
}

// ---- actions ----

#[test]
fn every_action_parses() {
    let cases = [
        (
            "*:delay=60s",
            FaultAction::DelayResponse(Duration::from_secs(60)),
        ),
        (
            "*:hold=250ms",
            FaultAction::HoldRequest(Duration::from_millis(250)),
        ),
        (
            "*:hold=2m",
            FaultAction::HoldRequest(Duration::from_secs(120)),
        ),
        ("*:error=27", FaultAction::Error(27)),
        ("*:error=rebalance_in_progress", FaultAction::Error(27)),
        ("*:error=UNKNOWN_MEMBER_ID", FaultAction::Error(25)),
        ("*:error=-1", FaultAction::Error(-1)),
        ("*:drop", FaultAction::Drop),
        ("*:close", FaultAction::CloseBefore),
        ("*:close=before", FaultAction::CloseBefore),
        ("*:close=after", FaultAction::CloseAfter),
    ];
    for (spec, action) in cases {
        assert_eq!(rule(spec).action, action, "{spec}");
    }
}

#[test]
fn applied_fault_describes_itself() {
    let mut rules = FaultRules::default();
    rules.add(rule("leave_group:delay=60s"));
    let leave = decoded(
        &LeaveGroupRequest::default().with_group_id(s("g").into()),
        5,
        "c",
    );
    let facts = RequestFacts::of(ConnectionId(1), &leave);
    let applied = rules
        .evaluate(&facts, BrokerTime::ZERO, &mut rng())
        .unwrap();
    assert_eq!(applied.describe(), "rule 0: leave_group delay=60s");
}

// ---- grammar ----

#[test]
fn examples_from_the_docs_parse() {
    let leave = rule("leave_group:delay=60s");
    assert_eq!(leave.matcher, FaultMatcher::api(ApiKey::LeaveGroup));
    assert_eq!(leave.trigger, FaultTrigger::always());
    assert_eq!(
        leave.action,
        FaultAction::DelayResponse(Duration::from_secs(60))
    );

    let join = rule("join_group:error=27,once");
    assert_eq!(join.trigger, FaultTrigger::once());

    let hb = rule("heartbeat,group=g1:error=rebalance_in_progress,nth=3");
    assert_eq!(hb.matcher.group_id.as_deref(), Some("g1"));
    assert_eq!(hb.trigger.nth, Some(3));
    assert_eq!(hb.action, FaultAction::Error(27));

    let fetch = rule("fetch@11-18:hold=250ms,prob=0.5");
    assert_eq!(
        fetch.matcher.versions,
        Some(VersionRange { min: 11, max: 18 })
    );
    assert_eq!(fetch.trigger.probability, Some(0.5));

    let any = rule("*:close,after=10s");
    assert_eq!(any.matcher, FaultMatcher::default());
    assert_eq!(any.trigger.after, Some(at_secs(10)));

    let produce = rule("produce,client=rdkafka:drop");
    assert_eq!(produce.matcher.client_id.as_deref(), Some("rdkafka"));

    assert_eq!(
        rule("leave_group:close=after").action,
        FaultAction::CloseAfter
    );
    assert_eq!(rule("14:delay=1s").matcher.api_key, Some(ApiKey::SyncGroup));
    assert_eq!(
        rule("produce,client=host:1234:drop")
            .matcher
            .client_id
            .as_deref(),
        Some("host:1234")
    );
}

#[test]
fn canonical_display() {
    assert_eq!(
        rule("leave_group:delay=60s").to_string(),
        "leave_group:delay=60s"
    );
    assert_eq!(
        rule(" 14 , conn=conn-3 : error=UNKNOWN_MEMBER_ID , times=1 , after=2m").to_string(),
        "sync_group,conn=3:error=unknown_member_id,once,after=120s"
    );
    assert_eq!(
        rule("fetch@4-4:hold=1500ms,prob=0.25").to_string(),
        "fetch@4:hold=1500ms,prob=0.25"
    );
}

fn spec_error(spec: &str) -> String {
    spec.parse::<FaultRule>().unwrap_err().to_string()
}

#[test]
fn parse_errors_say_what_was_expected_where() {
    let cases = [
        (
            "leave_grp:delay=60s",
            r#"unknown API "leave_grp" (did you mean leave_group?)"#,
        ),
        (
            "leave_group:delay=60",
            r#"expected a duration like 250ms or 60s, got "60""#,
        ),
        ("leave_group", "with a ':' before the action"),
        (":drop", "expected an API name"),
        ("leave_group:", "expected an action after ':'"),
        ("999:drop", r#"unknown API "999""#),
        (
            "fetch@x:drop",
            r#"expected versions like 3 or 3-5 after '@', got "x""#,
        ),
        ("fetch@5-2:drop", r#"got "5-2""#),
        (
            "fetch,grop=g:drop",
            r#"unknown match "grop" (did you mean group?)"#,
        ),
        ("fetch,group=:drop", "group=: expected a non-empty id"),
        ("fetch,conn=x:drop", "conn=: expected a connection number"),
        ("fetch,group=a,group=b:drop", "group given twice"),
        (
            "fetch:dely=1s",
            r#"unknown action "dely=1s" (did you mean delay?)"#,
        ),
        ("fetch:close=later", "close=: expected before or after"),
        (
            "fetch:error=rebalance_in_progres",
            "did you mean rebalance_in_progress?",
        ),
        (
            "fetch:error=nonsense_error_name",
            r#"unknown Kafka error "nonsense_error_name""#,
        ),
        (
            "fetch:drop,onse",
            r#"unknown trigger "onse" (did you mean once?)"#,
        ),
        (
            "fetch:drop,nth=0",
            "nth=: expected a whole number of at least 1",
        ),
        (
            "fetch:drop,prob=1.5",
            "prob=: expected a probability from 0 to 1",
        ),
        ("fetch:drop,once,times=2", "times/once given twice"),
        (
            "fetch:drop,after=10",
            r#"after=: expected a duration like 250ms or 60s, got "10""#,
        ),
        ("fetch:delay=1.5s", r#"got "1.5s""#),
    ];
    for (spec, expected) in cases {
        let message = spec_error(spec);
        assert!(
            message.contains(expected),
            "{spec}: {message:?} should contain {expected:?}"
        );
    }
    assert_eq!(
        "leave_grp:delay=60s".parse::<FaultRule>().unwrap_err().kind,
        FaultSpecErrorKind::UnknownApi {
            name: "leave_grp".into(),
            suggestion: Some("leave_group".into())
        }
    );
}

#[test]
fn api_names_cover_every_key() {
    for key in ApiKey::iter() {
        assert_eq!(api_key_by_name(&api_key_name(key)), Some(key));
    }
    assert_eq!(api_key_name(ApiKey::LeaveGroup), "leave_group");
    assert_eq!(
        error_code_name(27).as_deref(),
        Some("rebalance_in_progress")
    );
    assert_eq!(error_code_name(0), None);
}

fn duration_ms() -> impl Strategy<Value = Duration> {
    (0u64..10_000_000).prop_map(Duration::from_millis)
}

fn id() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._:-]{1,12}"
}

fn arb_rule() -> impl Strategy<Value = FaultRule> {
    let keys: Vec<ApiKey> = ApiKey::iter().collect();
    let matcher = (
        proptest::option::of(proptest::sample::select(keys)),
        proptest::option::of((0i16..20, 0i16..20).prop_map(|(a, b)| VersionRange {
            min: a.min(b),
            max: a.max(b),
        })),
        proptest::option::of(id()),
        proptest::option::of(id()),
        proptest::option::of(id()),
        proptest::option::of(id()),
        proptest::option::of(0u64..1_000),
        proptest::option::of(-3i32..5),
    )
        .prop_map(
            |(
                api_key,
                versions,
                client_id,
                group_id,
                member_id,
                transactional_id,
                connection,
                member_epoch,
            )| {
                FaultMatcher {
                    api_key,
                    versions,
                    client_id,
                    group_id,
                    member_id,
                    transactional_id,
                    connection: connection.map(ConnectionId),
                    member_epoch,
                }
            },
        );
    let trigger = (
        proptest::option::of(1u64..100),
        proptest::option::of(1u64..100),
        proptest::option::of(0.0f64..=1.0),
        proptest::option::of(duration_ms().prop_map(BrokerTime::from_start)),
        proptest::option::of(duration_ms().prop_map(BrokerTime::from_start)),
    )
        .prop_map(|(nth, times, probability, after, before)| FaultTrigger {
            nth,
            times,
            probability,
            after,
            before,
        });
    let action = prop_oneof![
        duration_ms().prop_map(FaultAction::DelayResponse),
        duration_ms().prop_map(FaultAction::HoldRequest),
        any::<i16>().prop_map(FaultAction::Error),
        Just(FaultAction::Drop),
        Just(FaultAction::CloseBefore),
        Just(FaultAction::CloseAfter),
    ];
    (matcher, trigger, action).prop_map(|(matcher, trigger, action)| FaultRule {
        matcher,
        trigger,
        action,
    })
}

proptest! {
    #[test]
    fn display_parses_back_to_the_same_rule(rule in arb_rule()) {
        let text = rule.to_string();
        let parsed: FaultRule = text.parse().map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(parsed, rule, "{}", text);
    }

    #[test]
    fn any_text_parses_or_fails_without_panicking(text in ".{0,40}") {
        let _ = text.parse::<FaultRule>();
    }
}

#[test]
fn epoch_matcher_holds_for_consumer_group_heartbeats_with_that_member_epoch_only() {
    let leave_rule = rule("consumer_group_heartbeat,epoch=-1:delay=60s");
    assert_eq!(leave_rule.matcher.member_epoch, Some(-1));
    assert_eq!(
        leave_rule.to_string(),
        "consumer_group_heartbeat,epoch=-1:delay=60s"
    );
    let heartbeat = |epoch: i32| {
        decoded(
            &kmock_wire::kafka_protocol::messages::ConsumerGroupHeartbeatRequest::default()
                .with_group_id(s("g").into())
                .with_member_id(s("m1"))
                .with_member_epoch(epoch),
            1,
            "c",
        )
    };
    let (leave, beat) = (heartbeat(-1), heartbeat(3));
    let leave_facts = RequestFacts::of(ConnectionId(1), &leave);
    assert_eq!(
        (
            leave_facts.group_ids.clone(),
            leave_facts.member_ids.clone()
        ),
        (vec!["g"], vec!["m1"])
    );
    assert!(leave_rule.matcher.matches(&leave_facts));
    assert!(
        !leave_rule
            .matcher
            .matches(&RequestFacts::of(ConnectionId(1), &beat))
    );
    let any_api = rule("*,epoch=-1:drop");
    let other = decoded(&HeartbeatRequest::default().with_generation_id(-1), 4, "c");
    assert!(
        !any_api
            .matcher
            .matches(&RequestFacts::of(ConnectionId(1), &other)),
        "only ConsumerGroupHeartbeat carries a member epoch"
    );
    assert!(spec_error("consumer_group_heartbeat,epoch=x:drop").contains("epoch"));
}
