//! The transaction APIs in fault rules: the ids they name (`txn=`, `group=`, `member=`), the
//! spec's `txn=` matcher, and error responses of the new APIs through the broker core.

use bytes::Bytes;
use kmock_wire::kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTransaction;
use kmock_wire::kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, ApiKey, DescribeTransactionsRequest,
    EndTxnRequest, FindCoordinatorRequest, InitProducerIdRequest, ProduceRequest, ResponseKind,
    TxnOffsetCommitRequest,
};
use kmock_wire::kafka_protocol::protocol::{Request, StrBytes};
use kmock_wire::{DecodedRequest, decode_request, decode_response, encode_request};

use super::{FaultRule, RequestFacts};
use crate::{BrokerConfig, BrokerCore, BrokerTime, ConnectionId, Output};

fn decoded<R: Request>(body: &R, version: i16) -> DecodedRequest {
    let frame: Bytes = encode_request(body, version, 1, Some("c")).unwrap();
    decode_request(frame.slice(4..)).unwrap()
}

fn s(text: &'static str) -> StrBytes {
    StrBytes::from_static_str(text)
}

fn transactional_ids(request: &DecodedRequest) -> Vec<&str> {
    RequestFacts::of(ConnectionId(1), request).transactional_ids
}

#[test]
fn transaction_requests_name_their_transactional_ids() {
    let init = decoded(
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(s("tx-init").into()))
            .with_transaction_timeout_ms(1),
        4,
    );
    assert_eq!(transactional_ids(&init), vec!["tx-init"]);
    let idempotent = decoded(
        &InitProducerIdRequest::default().with_transactional_id(None),
        4,
    );
    assert!(transactional_ids(&idempotent).is_empty());
    let add_v3 = decoded(
        &AddPartitionsToTxnRequest::default().with_v3_and_below_transactional_id(s("tx-3").into()),
        3,
    );
    assert_eq!(transactional_ids(&add_v3), vec!["tx-3"]);
    let add_v4 = decoded(
        &AddPartitionsToTxnRequest::default().with_transactions(vec![
            AddPartitionsToTxnTransaction::default().with_transactional_id(s("a").into()),
            AddPartitionsToTxnTransaction::default().with_transactional_id(s("b").into()),
        ]),
        4,
    );
    assert_eq!(transactional_ids(&add_v4), vec!["a", "b"]);
    let end = decoded(
        &EndTxnRequest::default().with_transactional_id(s("tx-end").into()),
        3,
    );
    assert_eq!(transactional_ids(&end), vec!["tx-end"]);
    let produce = decoded(
        &ProduceRequest::default()
            .with_acks(-1)
            .with_transactional_id(Some(s("tx-p").into())),
        9,
    );
    assert_eq!(transactional_ids(&produce), vec!["tx-p"]);
    let describe = decoded(
        &DescribeTransactionsRequest::default()
            .with_transactional_ids(vec![s("x").into(), s("y").into()]),
        0,
    );
    assert_eq!(transactional_ids(&describe), vec!["x", "y"]);
    let find = decoded(
        &FindCoordinatorRequest::default()
            .with_key_type(1)
            .with_coordinator_keys(vec![s("tx-find")]),
        4,
    );
    let facts = RequestFacts::of(ConnectionId(1), &find);
    assert_eq!(facts.transactional_ids, vec!["tx-find"]);
    assert!(
        facts.group_ids.is_empty(),
        "a transactional id is not a group"
    );
}

#[test]
fn add_offsets_and_txn_offset_commit_name_their_group_and_member() {
    let add = decoded(
        &AddOffsetsToTxnRequest::default()
            .with_transactional_id(s("tx").into())
            .with_group_id(s("g").into()),
        3,
    );
    let facts = RequestFacts::of(ConnectionId(1), &add);
    assert_eq!(
        (facts.transactional_ids, facts.group_ids),
        (vec!["tx"], vec!["g"])
    );
    let commit = decoded(
        &TxnOffsetCommitRequest::default()
            .with_transactional_id(s("tx").into())
            .with_group_id(s("g").into())
            .with_member_id(s("m")),
        3,
    );
    let facts = RequestFacts::of(ConnectionId(1), &commit);
    assert_eq!(
        (facts.transactional_ids, facts.group_ids, facts.member_ids),
        (vec!["tx"], vec!["g"], vec!["m"])
    );
}

#[test]
fn txn_matcher_parses_prints_back_and_matches_only_its_transactional_id() {
    let rule: FaultRule = "end_txn,txn=tx-1:error=concurrent_transactions,times=2"
        .parse()
        .unwrap();
    assert_eq!(
        rule.to_string(),
        "end_txn,txn=tx-1:error=concurrent_transactions,times=2",
        "canonical form"
    );
    assert_eq!(rule.to_string().parse::<FaultRule>().unwrap(), rule);
    let end = |id: &'static str| {
        decoded(
            &EndTxnRequest::default().with_transactional_id(s(id).into()),
            3,
        )
    };
    let matches = |request: &DecodedRequest| {
        rule.matcher
            .matches(&RequestFacts::of(ConnectionId(1), request))
    };
    assert!(matches(&end("tx-1")));
    assert!(!matches(&end("tx-2")));
    let error = "end_txn,txm=a:drop".parse::<FaultRule>().unwrap_err();
    assert!(error.to_string().contains("did you mean txn"), "{error}");
}

#[test]
fn error_fault_on_add_partitions_to_txn_answers_the_code_twice_then_passes() {
    let mut core = BrokerCore::new(BrokerConfig::default());
    let conn = ConnectionId(1);
    core.connection_opened(conn);
    core.add_fault(
        "add_partitions_to_txn:error=concurrent_transactions,times=2"
            .parse()
            .unwrap(),
    );
    let request = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(s("tx").into())
        .with_v3_and_below_topics(vec![
            kmock_wire::kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                .with_name(s("t").into())
                .with_partitions(vec![0]),
        ]);
    let mut codes = Vec::new();
    for correlation_id in 1..=3 {
        let frame = encode_request(&request, 3, correlation_id, None).unwrap();
        core.handle_frame(conn, frame.slice(4..), BrokerTime::ZERO);
        let Some(Output::Send { frame, .. }) = core.poll_output() else {
            panic!("answered")
        };
        let (_, ResponseKind::AddPartitionsToTxn(response)) =
            decode_response(ApiKey::AddPartitionsToTxn, 3, frame.slice(4..)).unwrap()
        else {
            unreachable!()
        };
        codes.push(
            response.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code,
        );
    }
    // Twice the fault's code, then the coordinator's own answer (the topic does not exist).
    assert_eq!(codes, vec![51, 51, 3]);
}
