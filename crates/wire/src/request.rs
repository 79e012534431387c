//! Request frames: the fixed header prefix, the versioned header, and the typed body.
//!
//! The first eight bytes of every request header (API key, API version, correlation id) have the
//! same layout in every header version, so [`RequestPrefix::peek`] reads them before anything can
//! fail; that is how the broker can answer even a request it cannot decode.

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::{WireError, api_name};

/// The version-independent start of a request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestPrefix {
    /// API key as sent (may be unknown).
    pub api_key: i16,
    /// API version as sent (may be unsupported).
    pub api_version: i16,
    /// Correlation id to echo in the response.
    pub correlation_id: i32,
}

impl RequestPrefix {
    /// Reads the prefix from a frame body.
    pub fn peek(frame: &[u8]) -> Result<Self, WireError> {
        let Some(mut prefix) = frame.get(..8) else {
            return Err(WireError::TruncatedHeader { size: frame.len() });
        };
        Ok(Self {
            api_key: prefix.get_i16(),
            api_version: prefix.get_i16(),
            correlation_id: prefix.get_i32(),
        })
    }
}

/// A fully decoded request.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedRequest {
    /// The API.
    pub api_key: ApiKey,
    /// Its version.
    pub api_version: i16,
    /// The decoded header (client id, correlation id, tagged fields).
    pub header: RequestHeader,
    /// The decoded body.
    pub body: RequestKind,
    /// Bytes left in the frame after a fully decoded body. Kafka ignores them (its
    /// `RequestContext.parseRequest` reads the body it expects and stops), and so does kmock; the
    /// broker logs and counts them. librdkafka ≤ 2.16 leaves 3 such bytes after its "all topics"
    /// Metadata v9+ request (librdkafka issue #5049).
    pub trailing_bytes: usize,
}

impl DecodedRequest {
    /// The correlation id to echo.
    pub fn correlation_id(&self) -> i32 {
        self.header.correlation_id
    }

    /// The client id, or `""` when absent.
    pub fn client_id(&self) -> &str {
        self.header.client_id.as_deref().unwrap_or("")
    }
}

fn malformed(what: impl Into<String>, err: impl std::fmt::Display) -> WireError {
    WireError::Malformed {
        what: what.into(),
        reason: format!("{err:#}"),
    }
}

/// Decodes a request frame body (without the length prefix).
///
/// Bytes after a body that decoded completely are not an error: they are counted in
/// [`DecodedRequest::trailing_bytes`], as Kafka's `RequestContext.parseRequest` ignores them. A body
/// that does not decode is [`WireError::Malformed`].
///
/// Fails with [`WireError::UnknownApiKey`] or [`WireError::UnsupportedVersion`] (both carry the
/// correlation id, so the caller can still answer), or [`WireError::Malformed`].
pub fn decode_request(frame: Bytes) -> Result<DecodedRequest, WireError> {
    let prefix = RequestPrefix::peek(&frame)?;
    let api_key = ApiKey::try_from(prefix.api_key).map_err(|()| WireError::UnknownApiKey {
        api_key: prefix.api_key,
        correlation_id: prefix.correlation_id,
    })?;
    let range = crate::codec_versions(api_key);
    if prefix.api_version < range.min || prefix.api_version > range.max {
        return Err(WireError::UnsupportedVersion {
            api_key: prefix.api_key,
            api_name: api_name(prefix.api_key),
            api_version: prefix.api_version,
            min: range.min,
            max: range.max,
            correlation_id: prefix.correlation_id,
        });
    }
    let mut buf = frame;
    let header_version = api_key.request_header_version(prefix.api_version);
    let header = if header_version == 0 {
        // Header v0 (only ControlledShutdown v0) has no client id.
        buf.advance(8);
        RequestHeader::default()
            .with_request_api_key(prefix.api_key)
            .with_request_api_version(prefix.api_version)
            .with_correlation_id(prefix.correlation_id)
            .with_client_id(None)
    } else {
        RequestHeader::decode(&mut buf, header_version)
            .map_err(|e| malformed(format!("request header v{header_version}"), e))?
    };
    let what = || format!("{api_key:?} v{} request body", prefix.api_version);
    let mut body = RequestKind::decode(api_key, &mut buf, prefix.api_version)
        .map_err(|e| malformed(what(), e))?;
    detach_from_frame(&mut body);
    Ok(DecodedRequest {
        api_key,
        api_version: prefix.api_version,
        header,
        body,
        trailing_bytes: buf.remaining(),
    })
}

/// Copies the small byte fields of a Produce request (transactional id, topic names, unknown tagged
/// fields) out of the frame, so that only the record sets still share the frame's buffer.
///
/// Decoding is zero-copy: every string and byte field is a slice of the frame, and any one slice
/// keeps the whole frame buffer (a megabyte for a large Produce) alive. A broker that keeps the
/// request without its records (its request log does) would otherwise pin every Produce frame: the
/// memory of every produced record twice over. Other requests are small and left as decoded.
fn detach_from_frame(body: &mut RequestKind) {
    fn owned(s: &StrBytes) -> StrBytes {
        StrBytes::from_string(s.as_str().to_owned())
    }
    fn owned_tagged(fields: &mut std::collections::BTreeMap<i32, Bytes>) {
        for value in fields.values_mut() {
            *value = Bytes::copy_from_slice(value);
        }
    }
    let RequestKind::Produce(produce) = body else {
        return;
    };
    if let Some(id) = produce.transactional_id.as_mut() {
        id.0 = owned(&id.0);
    }
    owned_tagged(&mut produce.unknown_tagged_fields);
    for topic in &mut produce.topic_data {
        topic.name.0 = owned(&topic.name.0);
        owned_tagged(&mut topic.unknown_tagged_fields);
        for partition in &mut topic.partition_data {
            owned_tagged(&mut partition.unknown_tagged_fields);
        }
    }
}

/// Encodes a request frame (with the length prefix), as a client sends it.
pub fn encode_request<R>(
    body: &R,
    api_version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
) -> Result<Bytes, WireError>
where
    R: kafka_protocol::protocol::Request,
{
    let api_key = ApiKey::try_from(R::KEY).expect("every Request type has a known key");
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(api_version)
        .with_correlation_id(correlation_id)
        .with_client_id(client_id.map(|c| StrBytes::from_string(c.to_owned())));
    let header_version = api_key.request_header_version(api_version);
    let what = || format!("{api_key:?} v{api_version} request");
    // The body's exact size (a walk over its fields, no bytes copied) plus room for the header: one
    // allocation, where growing from a guess copied a Produce request's records once per doubling.
    let body_bytes = body.compute_size(api_version).unwrap_or(0);
    let mut out = BytesMut::with_capacity(4 + 16 + client_id.map_or(0, str::len) + body_bytes);
    out.extend_from_slice(&[0; 4]);
    if header_version == 0 {
        out.extend_from_slice(&R::KEY.to_be_bytes());
        out.extend_from_slice(&api_version.to_be_bytes());
        out.extend_from_slice(&correlation_id.to_be_bytes());
    } else {
        header
            .encode(&mut out, header_version)
            .map_err(|e| WireError::Encode {
                what: what(),
                reason: format!("{e:#}"),
            })?;
    }
    body.encode(&mut out, api_version)
        .map_err(|e| WireError::Encode {
            what: what(),
            reason: format!("{e:#}"),
        })?;
    let len = u32::try_from(out.len() - 4).expect("requests are built far below 4 GiB");
    out[..4].copy_from_slice(&len.to_be_bytes());
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{ApiVersionsRequest, LeaveGroupRequest};

    fn body(frame: &Bytes) -> Bytes {
        frame.slice(4..)
    }

    #[test]
    fn round_trips_a_flexible_request() {
        let req = LeaveGroupRequest::default()
            .with_group_id(kafka_protocol::protocol::StrBytes::from_static_str("g").into());
        let frame = encode_request(&req, 5, 7, Some("c1")).unwrap();
        let decoded = decode_request(body(&frame)).unwrap();
        assert_eq!(decoded.api_key, ApiKey::LeaveGroup);
        assert_eq!(decoded.correlation_id(), 7);
        assert_eq!(decoded.client_id(), "c1");
        assert_eq!(decoded.body, RequestKind::LeaveGroup(req));
    }

    #[test]
    fn produce_fields_other_than_records_do_not_share_the_frame() {
        use kafka_protocol::messages::ProduceRequest;
        use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
        let req = ProduceRequest::default().with_acks(1).with_topic_data(vec![
            TopicProduceData::default()
                .with_name(StrBytes::from_static_str("topic").into())
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_records(Some(Bytes::from_static(&[7; 64]))),
                ]),
        ]);
        let frame = body(&encode_request(&req, 9, 1, Some("c")).unwrap());
        let range = frame.as_ptr_range();
        let decoded = decode_request(frame.clone()).unwrap();
        let RequestKind::Produce(produce) = &decoded.body else {
            panic!("not a produce request: {decoded:?}");
        };
        assert_eq!(produce, &req);
        let topic = &produce.topic_data[0];
        assert!(
            !range.contains(&topic.name.0.as_ptr()),
            "topic name shares the frame"
        );
        let records = topic.partition_data[0].records.as_ref().unwrap();
        assert!(
            range.contains(&records.as_ptr()),
            "records are still zero-copy"
        );
    }

    #[test]
    fn unknown_key_keeps_the_correlation_id() {
        let frame = [0x7f, 0x00, 0, 1, 0, 0, 0, 42];
        assert_eq!(
            decode_request(Bytes::copy_from_slice(&frame)),
            Err(WireError::UnknownApiKey {
                api_key: 0x7f00,
                correlation_id: 42
            })
        );
    }

    #[test]
    fn unsupported_version_is_typed() {
        let frame = encode_request(&ApiVersionsRequest::default(), 0, 3, None).unwrap();
        let mut raw = BytesMut::from(&body(&frame)[..]);
        raw[2..4].copy_from_slice(&99i16.to_be_bytes());
        let err = decode_request(raw.freeze()).unwrap_err();
        assert!(matches!(
            err,
            WireError::UnsupportedVersion {
                api_version: 99,
                correlation_id: 3,
                ..
            }
        ));
    }

    #[test]
    fn truncated_body_is_malformed() {
        let req = LeaveGroupRequest::default()
            .with_group_id(kafka_protocol::protocol::StrBytes::from_static_str("group").into());
        let frame = encode_request(&req, 1, 1, Some("c")).unwrap();
        let err = decode_request(frame.slice(4..frame.len() - 2)).unwrap_err();
        assert!(matches!(err, WireError::Malformed { .. }), "{err:?}");
    }

    #[test]
    fn trailing_bytes_after_a_whole_body_are_counted_not_rejected() {
        let frame = encode_request(&ApiVersionsRequest::default(), 1, 1, Some("c")).unwrap();
        let mut raw = BytesMut::from(&body(&frame)[..]);
        raw.extend_from_slice(&[1, 2, 3]);
        let decoded = decode_request(raw.freeze()).unwrap();
        assert_eq!(decoded.trailing_bytes, 3);
        assert_eq!(
            decoded.body,
            RequestKind::ApiVersions(ApiVersionsRequest::default())
        );
        let exact = decode_request(body(&frame)).unwrap();
        assert_eq!(exact.trailing_bytes, 0);
    }

    /// librdkafka 2.12.1's "all topics" Metadata v12 request, as `kcat -L` sends it (captured from
    /// the wire): `rd_kafka_MetadataRequest0` writes a 4-byte placeholder for the topic array and,
    /// for "all topics", patches only its first byte to a null compact array (librdkafka issue
    /// #5049), leaving 3 bytes after the body. Apache Kafka serves it; so must kmock.
    #[test]
    fn librdkafka_all_topics_metadata_request_decodes() {
        use kafka_protocol::messages::MetadataRequest;
        let raw: &[u8] = &[
            0x00, 0x03, // api key 3 (Metadata)
            0x00, 0x0c, // version 12
            0x00, 0x00, 0x00, 0x02, // correlation id 2
            0x00, 0x07, b'r', b'd', b'k', b'a', b'f', b'k', b'a', // client id "rdkafka"
            0x00, // header tagged fields
            0x00, 0x00, 0x00, 0x00, // the topic array count: a 4-byte i32 placeholder, left 0
            0x01, // allow_auto_topic_creation
            0x00, // include_topic_authorized_operations
            0x00, // body tagged fields
        ];
        // `rd_kafka_MetadataRequest0` writes the topic array count as a 4-byte placeholder
        // (`rd_kafka_buf_write_arraycnt_pos`) and, for "all topics" at v9+, keeps it at 0 instead
        // of finalizing it to a 1-byte varint. Kafka reads: topics null (0x00), then 0x00 as
        // allow_auto_topic_creation = false, 0x00 as include_topic_authorized_operations = false,
        // 0x00 as no tagged fields; the real three fields are left over.
        let decoded = decode_request(Bytes::from_static(raw)).unwrap();
        assert_eq!(decoded.api_key, ApiKey::Metadata);
        assert_eq!(decoded.client_id(), "rdkafka");
        assert_eq!(decoded.trailing_bytes, 3);
        let RequestKind::Metadata(metadata) = decoded.body else {
            panic!("not a Metadata request");
        };
        assert_eq!(
            metadata,
            MetadataRequest::default()
                .with_topics(None)
                .with_allow_auto_topic_creation(false)
        );
    }

    #[test]
    fn a_body_that_does_not_decode_is_still_malformed_with_trailing_room() {
        // A Metadata v12 body whose topic array claims 5 entries but holds none: not decodable,
        // however many bytes follow.
        let raw: &[u8] = &[
            0x00, 0x03, 0x00, 0x0c, 0, 0, 0, 1, 0xff, 0xff, 0x00, 0x06, 0x00,
        ];
        let err = decode_request(Bytes::from_static(raw)).unwrap_err();
        assert!(matches!(err, WireError::Malformed { .. }), "{err:?}");
    }
}
