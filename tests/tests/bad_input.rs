//! Bad input over TCP to `kmock serve`: garbage, oversized and negative length prefixes, truncated
//! frames, unknown API keys, unsupported versions and undecodable bodies.
//!
//! Each must get a conformant error response (only ApiVersions has one: a v0 body with
//! UNSUPPORTED_VERSION, KIP-511) or a closed connection, as Kafka does. Either way the process
//! keeps running, a connection opened before keeps working, and a new connection works.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kmock_tests::{KafkaConnection, KmockServer, ReadOutcome};
use kmock_wire::kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, MetadataRequest, ResponseKind,
};
use kmock_wire::kafka_protocol::protocol::StrBytes;
use kmock_wire::{decode_response, encode_request};

/// How long the broker may take to close a connection it must close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// UNSUPPORTED_VERSION.
const UNSUPPORTED_VERSION: i16 = 35;

/// Starts a server, opens a bystander connection that proves it works, runs `case` on a new
/// connection, then checks that the bystander, a new connection and the process all still work.
/// Any failure is reported with the server log.
fn survives(case: impl FnOnce(&mut KafkaConnection)) {
    let mut server = KmockServer::start(&[]);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut bystander = KafkaConnection::connect(server.bootstrap());
        bystander.assert_api_versions_works();
        let mut bad = KafkaConnection::connect(server.bootstrap());
        case(&mut bad);
        bystander.assert_api_versions_works();
        KafkaConnection::connect(server.bootstrap()).assert_api_versions_works();
    }));
    let running = server.is_running();
    if let Err(panic) = outcome {
        let log = server.log();
        let log_path = server.log_path().display().to_string();
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()));
        if let Some(message) = message {
            panic!(
                "{message}\n(server still running: {running})\n--- server log ({log_path}) ---\n{log}"
            );
        }
        resume_unwind(panic);
    }
    assert!(running, "the server died:\n{}", server.log());
}

fn expect_closed(connection: &mut KafkaConnection, what: &str) {
    match connection.read_frame(CLOSE_TIMEOUT) {
        ReadOutcome::Closed { .. } => {}
        ReadOutcome::Frame(frame) => panic!(
            "{what}: want the connection closed, got a {}-byte response frame {:02x?}",
            frame.len(),
            &frame[..frame.len().min(32)]
        ),
        ReadOutcome::TimedOut { partial } => panic!(
            "{what}: the connection was neither answered nor closed within {CLOSE_TIMEOUT:?} \
             ({partial} bytes arrived)"
        ),
    }
}

fn send(connection: &mut KafkaConnection, bytes: &[u8]) {
    connection
        .write_raw(bytes)
        .expect("the broker reads before it closes");
}

/// A request frame body with a v1 header (no tagged fields) and the given raw body.
fn raw_request(api_key: i16, api_version: i16, correlation_id: i32, body: &[u8]) -> Bytes {
    let mut frame = BytesMut::new();
    frame.put_i16(api_key);
    frame.put_i16(api_version);
    frame.put_i32(correlation_id);
    frame.put_i16(2);
    frame.put_slice(b"kt");
    frame.put_slice(body);
    kmock_wire::encode_frame(&frame)
}

/// An encoded request frame with its API version field rewritten to `api_version`.
fn with_version(frame: &Bytes, api_version: i16) -> Bytes {
    let mut patched = BytesMut::from(&frame[..]);
    patched[6..8].copy_from_slice(&api_version.to_be_bytes());
    patched.freeze()
}

#[test]
fn http_request_is_closed() {
    survives(|bad| {
        send(bad, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        expect_closed(bad, "an HTTP request (length prefix 0x47455420)");
    });
}

#[test]
fn garbage_frame_is_closed() {
    survives(|bad| {
        let mut frame = vec![0, 0, 0, 16];
        frame.extend_from_slice(&[0xff; 16]);
        send(bad, &frame);
        expect_closed(bad, "16 bytes of 0xff (API key -1)");
    });
}

#[test]
fn length_prefix_over_the_frame_limit_is_closed() {
    survives(|bad| {
        // 0x7fffffff announces 2 GiB, over the default 100 MiB limit: rejected before any body.
        send(bad, &[0x7f, 0xff, 0xff, 0xff, 0, 18, 0, 3]);
        expect_closed(bad, "length prefix 0x7fffffff");
    });
}

#[test]
fn negative_length_prefix_is_closed() {
    survives(|bad| {
        send(bad, &[0xff, 0xff, 0xff, 0xfe]);
        expect_closed(bad, "length prefix -2");
    });
}

#[test]
fn frame_too_short_for_a_header_is_closed() {
    survives(|bad| {
        send(bad, &[0, 0, 0, 3, 0, 18, 0]);
        expect_closed(bad, "a 3-byte frame");
    });
}

#[test]
fn truncated_frame_then_eof_is_closed() {
    survives(|bad| {
        // The prefix says 100 bytes; 10 arrive, then the write side closes.
        let mut frame = vec![0, 0, 0, 100];
        frame.extend_from_slice(&raw_request(ApiKey::ApiVersions as i16, 0, 1, &[])[4..]);
        frame.resize(4 + 10, 0);
        send(bad, &frame);
        bad.shutdown_write().expect("shutdown(Write)");
        expect_closed(bad, "a truncated frame followed by EOF");
    });
}

#[test]
fn stalled_truncated_frame_does_not_block_other_connections() {
    survives(|bad| {
        let mut frame = vec![0, 0, 0, 100];
        frame.extend_from_slice(&[0; 10]);
        send(bad, &frame);
        // The broker waits for the rest; it must neither answer nor hang anyone else meanwhile
        // (the bystander's round trip in `survives` runs while this frame is still incomplete).
        match bad.read_frame(Duration::from_millis(500)) {
            ReadOutcome::TimedOut { partial: 0 } | ReadOutcome::Closed { partial: 0 } => {}
            other => panic!("an incomplete frame got an answer: {other:?}"),
        }
    });
}

#[test]
fn unknown_api_key_is_closed() {
    survives(|bad| {
        send(bad, &raw_request(0x7f00, 0, 42, &[]));
        expect_closed(bad, "API key 0x7f00");
    });
}

#[test]
fn unsupported_metadata_version_is_closed() {
    survives(|bad| {
        let frame = encode_request(&MetadataRequest::default(), 12, 7, Some("kt"))
            .expect("Metadata v12 encodes");
        send(bad, &with_version(&frame, 99));
        expect_closed(bad, "Metadata v99");
    });
}

#[test]
fn malformed_metadata_body_is_closed() {
    survives(|bad| {
        let request = MetadataRequest::default().with_topics(Some(Vec::new()));
        let frame = encode_request(&request, 12, 7, Some("kt")).expect("Metadata v12 encodes");
        // Drop the last two bytes of the body and fix the length prefix.
        let body = &frame[4..frame.len() - 2];
        send(bad, &kmock_wire::encode_frame(body));
        expect_closed(bad, "a truncated Metadata v12 body");
    });
}

#[test]
fn unsupported_api_versions_version_gets_a_v0_answer_with_unsupported_version() {
    survives(|bad| {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("kmock-tests"))
            .with_client_software_version(StrBytes::from_static_str("0.1.0"));
        let frame = encode_request(&request, 3, 99, Some("kt")).expect("ApiVersions v3 encodes");
        send(bad, &with_version(&frame, 99));
        let response = match bad.read_frame(CLOSE_TIMEOUT) {
            ReadOutcome::Frame(response) => response,
            other => panic!("ApiVersions v99 must be answered (KIP-511), got {other:?}"),
        };
        let (correlation_id, body) = decode_response(ApiKey::ApiVersions, 0, response)
            .expect("the answer is an ApiVersions v0 response");
        assert_eq!(correlation_id, 99, "correlation id");
        let ResponseKind::ApiVersions(body) = body else {
            panic!("not an ApiVersions body");
        };
        assert_eq!(body.error_code, UNSUPPORTED_VERSION, "error code");
        let own = body
            .api_keys
            .iter()
            .find(|k| k.api_key == ApiKey::ApiVersions as i16)
            .expect("the answer lists the supported ApiVersions versions");
        assert!(
            own.min_version == 0 && own.max_version >= 3,
            "ApiVersions range {}..={}",
            own.min_version,
            own.max_version
        );
        // The connection stays usable: the client retries at a version the broker speaks.
        bad.assert_api_versions_works();
    });
}
