//! Core tests with explicit time: the core is driven by frames and `now` only.

use super::*;
use kmock_wire::kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use kmock_wire::{decode_response, encode_request};

pub(crate) fn core() -> BrokerCore {
    BrokerCore::new(BrokerConfig {
        group_initial_rebalance_delay_ms: 0,
        ..BrokerConfig::default()
    })
}

fn api_versions(core: &mut BrokerCore, version: i16) -> ApiVersionsResponse {
    let frame = encode_request(
        &ApiVersionsRequest::default()
            .with_client_software_name("kmock-test".into())
            .with_client_software_version("1.0".into()),
        version,
        1,
        Some("t"),
    )
    .unwrap();
    core.handle_frame(ConnectionId(1), frame.slice(4..), BrokerTime::ZERO);
    let Some(Output::Send { frame, .. }) = core.poll_output() else {
        panic!("expected a response");
    };
    let (_, ResponseKind::ApiVersions(response)) =
        decode_response(ApiKey::ApiVersions, version, frame.slice(4..)).unwrap()
    else {
        panic!("expected ApiVersions")
    };
    response
}

#[test]
fn api_versions_lists_every_supported_api() {
    let mut core = core();
    core.connection_opened(ConnectionId(1));
    let response = api_versions(&mut core, 3);
    assert_eq!(response.error_code, 0);
    assert_eq!(response.api_keys.len(), api_versions::SUPPORTED_APIS.len());
}

#[test]
fn api_versions_above_max_falls_back_to_v0_with_unsupported_version() {
    let mut core = core();
    core.connection_opened(ConnectionId(1));
    let frame = encode_request(&ApiVersionsRequest::default(), 0, 5, None).unwrap();
    let mut raw = bytes::BytesMut::from(&frame[4..]);
    raw[2..4].copy_from_slice(&9i16.to_be_bytes());
    core.handle_frame(ConnectionId(1), raw.freeze(), BrokerTime::ZERO);
    let Some(Output::Send { frame, .. }) = core.poll_output() else {
        panic!("expected a response");
    };
    let (correlation_id, ResponseKind::ApiVersions(response)) =
        decode_response(ApiKey::ApiVersions, 0, frame.slice(4..)).unwrap()
    else {
        panic!("expected ApiVersions")
    };
    assert_eq!(correlation_id, 5);
    assert_eq!(response.error_code, 35);
    assert!(!response.api_keys.is_empty());
}

/// librdkafka's "all topics" Metadata v12 request leaves 3 bytes after a complete body (librdkafka
/// issue #5049); Kafka serves it, and so does kmock, counting the bytes in the request log.
#[test]
fn a_request_with_trailing_bytes_is_served_and_the_bytes_are_logged() {
    use kmock_wire::kafka_protocol::messages::MetadataRequest;
    let mut core = core();
    core.create_topic("orders", 2).unwrap();
    core.connection_opened(ConnectionId(1));
    let frame = encode_request(
        &MetadataRequest::default().with_topics(None),
        12,
        9,
        Some("rdkafka"),
    )
    .unwrap();
    let mut raw = bytes::BytesMut::from(&frame[4..]);
    raw.extend_from_slice(&[0x01, 0x00, 0x00]);
    core.handle_frame(ConnectionId(1), raw.freeze(), BrokerTime::ZERO);
    let Some(Output::Send { frame, .. }) = core.poll_output() else {
        panic!("expected a response, not a closed connection");
    };
    let (correlation_id, ResponseKind::Metadata(response)) =
        decode_response(ApiKey::Metadata, 12, frame.slice(4..)).unwrap()
    else {
        panic!("expected Metadata")
    };
    assert_eq!(correlation_id, 9);
    assert_eq!(response.topics.len(), 1);
    let entry = core
        .request_log()
        .entries()
        .last()
        .expect("the request is logged");
    assert_eq!(entry.trailing_bytes, 3);
    assert_eq!(entry.api_key, ApiKey::Metadata as i16);
}
