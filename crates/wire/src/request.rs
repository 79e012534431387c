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
    if buf.has_remaining() {
        return Err(WireError::TrailingBytes {
            what: what(),
            extra: buf.remaining(),
        });
    }
    Ok(DecodedRequest {
        api_key,
        api_version: prefix.api_version,
        header,
        body,
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
    let mut out = BytesMut::with_capacity(64);
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
    fn trailing_bytes_are_rejected() {
        let frame = encode_request(&ApiVersionsRequest::default(), 1, 1, Some("c")).unwrap();
        let mut raw = BytesMut::from(&body(&frame)[..]);
        raw.extend_from_slice(&[1, 2, 3]);
        let err = decode_request(raw.freeze()).unwrap_err();
        assert!(
            matches!(err, WireError::TrailingBytes { extra: 3, .. }),
            "{err:?}"
        );
    }
}
