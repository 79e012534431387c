//! Every API version kmock advertises must work on the wire (see shared/design.md: "advertise only
//! versions that encode correctly (test every advertised version)").
//!
//! - In process, through the broker core's public API: the advertised ranges come from a real
//!   ApiVersions answer; for each advertised (API, version) a sample request and a default response
//!   round-trip through `kmock_wire` unchanged.
//! - Over TCP against `kmock serve`: each advertised (API, version) gets a sample request and must
//!   get a response that decodes at that version with the right correlation id (error codes are
//!   fine: the sample requests name no real topics or groups), and the connection stays usable.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kmock_broker::{BrokerConfig, BrokerCore, ConnectionId, Output};
use kmock_tests::{KafkaConnection, KmockServer, ReadOutcome};
use kmock_wire::kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTransaction;
use kmock_wire::kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, DescribeTransactionsRequest, DescribeTransactionsResponse,
    EndTxnRequest, EndTxnResponse, ListTransactionsRequest, ListTransactionsResponse,
    TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use kmock_wire::kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, ApiKey, ApiVersionsRequest, ApiVersionsResponse,
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse, CreatePartitionsRequest, CreatePartitionsResponse,
    CreateTopicsRequest, CreateTopicsResponse, DeleteGroupsRequest, DeleteGroupsResponse,
    DeleteRecordsRequest, DeleteRecordsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    DescribeConfigsRequest, DescribeConfigsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    FetchRequest, FetchResponse, FindCoordinatorRequest, FindCoordinatorResponse, HeartbeatRequest,
    HeartbeatResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
    InitProducerIdRequest, InitProducerIdResponse, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse,
    ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse,
    OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse,
    OffsetFetchRequest, OffsetFetchResponse, ProduceRequest, ProduceResponse, RequestHeader,
    RequestKind, ResponseKind, SyncGroupRequest, SyncGroupResponse,
    offset_fetch_request::OffsetFetchRequestGroup,
};
use kmock_wire::kafka_protocol::protocol::{Encodable, StrBytes};
use kmock_wire::{decode_request, decode_response, encode_response};

/// An advertised API and its version range.
#[derive(Debug, Clone, Copy)]
struct Advertised {
    api_key: ApiKey,
    min: i16,
    max: i16,
}

fn parse_api_versions(response: &ApiVersionsResponse) -> Vec<Advertised> {
    assert_eq!(response.error_code, 0, "ApiVersions error code");
    response
        .api_keys
        .iter()
        .map(|k| Advertised {
            api_key: ApiKey::try_from(k.api_key)
                .unwrap_or_else(|()| panic!("advertised API key {} is unknown", k.api_key)),
            min: k.min_version,
            max: k.max_version,
        })
        .collect()
}

/// The advertised ranges, from an in-process broker core's ApiVersions v0 answer.
fn advertised_in_process() -> Vec<Advertised> {
    let mut core = BrokerCore::new(BrokerConfig::default());
    let connection = ConnectionId(1);
    core.connection_opened(connection);
    let frame = encode(
        &RequestKind::ApiVersions(ApiVersionsRequest::default()),
        0,
        1,
    )
    .expect("ApiVersions v0 encodes");
    core.handle_frame(connection, frame.slice(4..), kmock_core::BrokerTime::ZERO);
    let Some(Output::Send { frame, .. }) = core.poll_output() else {
        panic!("the core did not answer ApiVersions v0");
    };
    let (_, response) = decode_response(ApiKey::ApiVersions, 0, frame.slice(4..))
        .expect("ApiVersions v0 response decodes");
    let ResponseKind::ApiVersions(response) = response else {
        panic!("ApiVersions answered with another response type");
    };
    parse_api_versions(&response)
}

/// A request that `version` can carry and that a broker answers at once: defaults, except where a
/// default would mean "no response" (Produce acks=0), and fields only some versions have.
fn sample_request(api_key: ApiKey, version: i16) -> RequestKind {
    let group = || StrBytes::from_static_str("kmock-tests-no-group");
    let txn = || StrBytes::from_static_str("kmock-tests-no-transaction");
    match api_key {
        ApiKey::Produce => ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(1_000)
            .into(),
        ApiKey::Fetch => FetchRequest::default()
            .with_replica_id((-1).into())
            .with_max_wait_ms(0)
            .into(),
        ApiKey::ListOffsets => ListOffsetsRequest::default()
            .with_replica_id((-1).into())
            .into(),
        ApiKey::Metadata => MetadataRequest::default()
            .with_topics(Some(Vec::new()))
            .into(),
        ApiKey::OffsetCommit => OffsetCommitRequest::default()
            .with_group_id(group().into())
            .into(),
        // v8+ carries groups[] instead of one group id.
        ApiKey::OffsetFetch if version >= 8 => OffsetFetchRequest::default()
            .with_groups(vec![
                OffsetFetchRequestGroup::default().with_group_id(group().into()),
            ])
            .into(),
        ApiKey::OffsetFetch => OffsetFetchRequest::default()
            .with_group_id(group().into())
            .into(),
        // v4+ carries coordinator_keys[] instead of one key.
        ApiKey::FindCoordinator if version >= 4 => FindCoordinatorRequest::default()
            .with_coordinator_keys(vec![group()])
            .into(),
        ApiKey::FindCoordinator => FindCoordinatorRequest::default().with_key(group()).into(),
        ApiKey::JoinGroup => JoinGroupRequest::default().into(),
        ApiKey::Heartbeat => HeartbeatRequest::default().into(),
        ApiKey::LeaveGroup => LeaveGroupRequest::default().into(),
        ApiKey::SyncGroup => SyncGroupRequest::default().into(),
        ApiKey::DescribeGroups => DescribeGroupsRequest::default().into(),
        ApiKey::ListGroups => ListGroupsRequest::default().into(),
        // v3+ carries the client software name and version.
        ApiKey::ApiVersions if version < 3 => ApiVersionsRequest::default().into(),
        ApiKey::ApiVersions => ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("kmock-tests"))
            .with_client_software_version(StrBytes::from_static_str("0.1.0"))
            .into(),
        ApiKey::CreateTopics => CreateTopicsRequest::default().with_timeout_ms(1_000).into(),
        ApiKey::DeleteTopics => DeleteTopicsRequest::default().with_timeout_ms(1_000).into(),
        ApiKey::InitProducerId => InitProducerIdRequest::default()
            .with_transaction_timeout_ms(60_000)
            .into(),
        ApiKey::CreatePartitions => CreatePartitionsRequest::default()
            .with_timeout_ms(1_000)
            .into(),
        ApiKey::DeleteRecords => DeleteRecordsRequest::default()
            .with_timeout_ms(1_000)
            .into(),
        ApiKey::DeleteGroups => DeleteGroupsRequest::default()
            .with_groups_names(vec![group().into()])
            .into(),
        ApiKey::OffsetDelete => OffsetDeleteRequest::default()
            .with_group_id(group().into())
            .into(),
        ApiKey::DescribeConfigs => DescribeConfigsRequest::default().into(),
        ApiKey::AlterConfigs => AlterConfigsRequest::default().into(),
        ApiKey::IncrementalAlterConfigs => IncrementalAlterConfigsRequest::default().into(),
        // v4+ carries transactions[] instead of one transaction.
        ApiKey::AddPartitionsToTxn if version >= 4 => AddPartitionsToTxnRequest::default()
            .with_transactions(vec![
                AddPartitionsToTxnTransaction::default().with_transactional_id(txn().into()),
            ])
            .into(),
        ApiKey::AddPartitionsToTxn => AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(txn().into())
            .into(),
        ApiKey::AddOffsetsToTxn => AddOffsetsToTxnRequest::default()
            .with_transactional_id(txn().into())
            .with_group_id(group().into())
            .into(),
        ApiKey::EndTxn => EndTxnRequest::default()
            .with_transactional_id(txn().into())
            .into(),
        ApiKey::TxnOffsetCommit => TxnOffsetCommitRequest::default()
            .with_transactional_id(txn().into())
            .with_group_id(group().into())
            .into(),
        ApiKey::DescribeTransactions => DescribeTransactionsRequest::default()
            .with_transactional_ids(vec![txn().into()])
            .into(),
        ApiKey::ListTransactions => ListTransactionsRequest::default().into(),
        // A leave of an unknown group: answered at once (GROUP_ID_NOT_FOUND), no state made.
        ApiKey::ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest::default()
            .with_group_id(group().into())
            .with_member_id(StrBytes::from_static_str("kmock-tests-member"))
            .with_member_epoch(-1)
            .into(),
        ApiKey::ConsumerGroupDescribe => ConsumerGroupDescribeRequest::default()
            .with_group_ids(vec![group().into()])
            .into(),
        other => panic!("kmock advertises {other:?}: add a sample request for it here"),
    }
}

fn default_response(api_key: ApiKey) -> ResponseKind {
    match api_key {
        ApiKey::Produce => ProduceResponse::default().into(),
        ApiKey::Fetch => FetchResponse::default().into(),
        ApiKey::ListOffsets => ListOffsetsResponse::default().into(),
        ApiKey::Metadata => MetadataResponse::default().into(),
        ApiKey::OffsetCommit => OffsetCommitResponse::default().into(),
        ApiKey::OffsetFetch => OffsetFetchResponse::default().into(),
        ApiKey::FindCoordinator => FindCoordinatorResponse::default().into(),
        ApiKey::JoinGroup => JoinGroupResponse::default().into(),
        ApiKey::Heartbeat => HeartbeatResponse::default().into(),
        ApiKey::LeaveGroup => LeaveGroupResponse::default().into(),
        ApiKey::SyncGroup => SyncGroupResponse::default().into(),
        ApiKey::DescribeGroups => DescribeGroupsResponse::default().into(),
        ApiKey::ListGroups => ListGroupsResponse::default().into(),
        ApiKey::ApiVersions => ApiVersionsResponse::default().into(),
        ApiKey::CreateTopics => CreateTopicsResponse::default().into(),
        ApiKey::DeleteTopics => DeleteTopicsResponse::default().into(),
        ApiKey::InitProducerId => InitProducerIdResponse::default().into(),
        ApiKey::CreatePartitions => CreatePartitionsResponse::default().into(),
        ApiKey::DeleteRecords => DeleteRecordsResponse::default().into(),
        ApiKey::DeleteGroups => DeleteGroupsResponse::default().into(),
        ApiKey::OffsetDelete => OffsetDeleteResponse::default().into(),
        ApiKey::DescribeConfigs => DescribeConfigsResponse::default().into(),
        ApiKey::AlterConfigs => AlterConfigsResponse::default().into(),
        ApiKey::IncrementalAlterConfigs => IncrementalAlterConfigsResponse::default().into(),
        ApiKey::AddPartitionsToTxn => AddPartitionsToTxnResponse::default().into(),
        ApiKey::AddOffsetsToTxn => AddOffsetsToTxnResponse::default().into(),
        ApiKey::EndTxn => EndTxnResponse::default().into(),
        ApiKey::TxnOffsetCommit => TxnOffsetCommitResponse::default().into(),
        ApiKey::DescribeTransactions => DescribeTransactionsResponse::default().into(),
        ApiKey::ListTransactions => ListTransactionsResponse::default().into(),
        ApiKey::ConsumerGroupHeartbeat => ConsumerGroupHeartbeatResponse::default().into(),
        ApiKey::ConsumerGroupDescribe => ConsumerGroupDescribeResponse::default().into(),
        other => panic!("kmock advertises {other:?}: add a default response for it here"),
    }
}

/// Encodes a request frame (length prefix included) as a client would.
fn encode(body: &RequestKind, api_version: i16, correlation_id: i32) -> Result<Bytes, String> {
    let api_key = api_key_of(body);
    let header_version = api_key.request_header_version(api_version);
    let mut out = BytesMut::new();
    out.extend_from_slice(&[0; 4]);
    RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(api_version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("kmock-tests")))
        .encode(&mut out, header_version)
        .map_err(|e| format!("{api_key:?} v{api_version} request header: {e:#}"))?;
    body.encode(&mut out, api_version)
        .map_err(|e| format!("{api_key:?} v{api_version} request cannot be encoded: {e:#}"))?;
    let len = u32::try_from(out.len() - 4).expect("small frames");
    out[..4].copy_from_slice(&len.to_be_bytes());
    Ok(out.freeze())
}

fn api_key_of(body: &RequestKind) -> ApiKey {
    match body {
        RequestKind::Produce(_) => ApiKey::Produce,
        RequestKind::Fetch(_) => ApiKey::Fetch,
        RequestKind::ListOffsets(_) => ApiKey::ListOffsets,
        RequestKind::Metadata(_) => ApiKey::Metadata,
        RequestKind::OffsetCommit(_) => ApiKey::OffsetCommit,
        RequestKind::OffsetFetch(_) => ApiKey::OffsetFetch,
        RequestKind::FindCoordinator(_) => ApiKey::FindCoordinator,
        RequestKind::JoinGroup(_) => ApiKey::JoinGroup,
        RequestKind::Heartbeat(_) => ApiKey::Heartbeat,
        RequestKind::LeaveGroup(_) => ApiKey::LeaveGroup,
        RequestKind::SyncGroup(_) => ApiKey::SyncGroup,
        RequestKind::DescribeGroups(_) => ApiKey::DescribeGroups,
        RequestKind::ListGroups(_) => ApiKey::ListGroups,
        RequestKind::ApiVersions(_) => ApiKey::ApiVersions,
        RequestKind::CreateTopics(_) => ApiKey::CreateTopics,
        RequestKind::DeleteTopics(_) => ApiKey::DeleteTopics,
        RequestKind::InitProducerId(_) => ApiKey::InitProducerId,
        RequestKind::CreatePartitions(_) => ApiKey::CreatePartitions,
        RequestKind::DeleteRecords(_) => ApiKey::DeleteRecords,
        RequestKind::DeleteGroups(_) => ApiKey::DeleteGroups,
        RequestKind::OffsetDelete(_) => ApiKey::OffsetDelete,
        RequestKind::DescribeConfigs(_) => ApiKey::DescribeConfigs,
        RequestKind::AlterConfigs(_) => ApiKey::AlterConfigs,
        RequestKind::IncrementalAlterConfigs(_) => ApiKey::IncrementalAlterConfigs,
        RequestKind::AddPartitionsToTxn(_) => ApiKey::AddPartitionsToTxn,
        RequestKind::AddOffsetsToTxn(_) => ApiKey::AddOffsetsToTxn,
        RequestKind::EndTxn(_) => ApiKey::EndTxn,
        RequestKind::TxnOffsetCommit(_) => ApiKey::TxnOffsetCommit,
        RequestKind::DescribeTransactions(_) => ApiKey::DescribeTransactions,
        RequestKind::ListTransactions(_) => ApiKey::ListTransactions,
        RequestKind::ConsumerGroupHeartbeat(_) => ApiKey::ConsumerGroupHeartbeat,
        RequestKind::ConsumerGroupDescribe(_) => ApiKey::ConsumerGroupDescribe,
        other => panic!("no API key mapping for {other:?}"),
    }
}

#[test]
fn advertised_versions_round_trip_through_the_wire_crate() {
    let advertised = advertised_in_process();
    assert!(
        advertised.iter().any(|a| a.api_key == ApiKey::ApiVersions),
        "ApiVersions must advertise itself"
    );
    let mut failures = Vec::new();
    let mut checked = 0;
    for Advertised { api_key, min, max } in advertised {
        let range = api_key.valid_versions();
        if min < range.min || max > range.max || min > max {
            failures.push(format!(
                "{api_key:?}: advertised {min}..={max}, the protocol crate knows {}..={}",
                range.min, range.max
            ));
            continue;
        }
        for version in min..=max {
            checked += 1;
            let request = sample_request(api_key, version);
            let frame = match encode(&request, version, 7) {
                Ok(frame) => frame,
                Err(e) => {
                    failures.push(e);
                    continue;
                }
            };
            match decode_request(frame.slice(4..)) {
                Ok(decoded) if decoded.body == request && decoded.correlation_id() == 7 => {}
                Ok(decoded) => failures.push(format!(
                    "{api_key:?} v{version} request changed in a round trip: {:?}",
                    decoded.body
                )),
                Err(e) => failures.push(format!("{api_key:?} v{version} request: {e}")),
            }
            let response = default_response(api_key);
            match encode_response(api_key, version, 9, &response) {
                Ok(frame) => match decode_response(api_key, version, frame.slice(4..)) {
                    Ok((9, decoded)) if decoded == response => {}
                    Ok((correlation_id, decoded)) => failures.push(format!(
                        "{api_key:?} v{version} response changed in a round trip \
                         (correlation id {correlation_id}): {decoded:?}"
                    )),
                    Err(e) => failures.push(format!("{api_key:?} v{version} response: {e}")),
                },
                Err(e) => failures.push(format!("{api_key:?} v{version} response: {e}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} advertised versions fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_advertised_version_is_answered_by_kmock_serve() {
    let mut server = KmockServer::start(&["--initial-rebalance-delay-ms", "0"]);
    let mut connection = KafkaConnection::connect(server.bootstrap());
    let ResponseKind::ApiVersions(response) = connection.request(&ApiVersionsRequest::default(), 0)
    else {
        panic!("ApiVersions answered with another response type");
    };
    let advertised = parse_api_versions(&response);
    let mut failures = Vec::new();
    let mut correlation_id = 100;
    'apis: for Advertised { api_key, min, max } in advertised {
        for version in min..=max {
            correlation_id += 1;
            let frame = match encode(&sample_request(api_key, version), version, correlation_id) {
                Ok(frame) => frame,
                Err(e) => {
                    failures.push(e);
                    continue;
                }
            };
            if let Err(e) = connection.write_raw(&frame) {
                failures.push(format!("{api_key:?} v{version}: cannot send: {e}"));
                break 'apis;
            }
            match connection.read_frame(Duration::from_secs(5)) {
                ReadOutcome::Frame(frame) => match decode_response(api_key, version, frame) {
                    Ok((got, _)) if got == correlation_id => {}
                    Ok((got, _)) => failures.push(format!(
                        "{api_key:?} v{version}: correlation id {got}, want {correlation_id}"
                    )),
                    Err(e) => failures.push(format!("{api_key:?} v{version}: {e}")),
                },
                other => {
                    failures.push(format!("{api_key:?} v{version}: no response: {other:?}"));
                    // The connection is closed or stuck: go on with a new one.
                    connection = KafkaConnection::connect(server.bootstrap());
                }
            }
        }
    }
    let running = server.is_running();
    assert!(
        failures.is_empty() && running,
        "{} advertised versions are not answered (server still running: {running}):\n{}\n\
         --- server log ({}) ---\n{}",
        failures.len(),
        failures.join("\n"),
        server.log_path().display(),
        server.log()
    );
}
