//! Response frames: header (v0, or v1 with tagged fields for flexible versions) and body.
//!
//! The ApiVersions response header is always v0, even for flexible versions, so that a client can
//! read it before it knows which versions the broker speaks (KIP-511).

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::WireError;

/// Encodes a response frame (with the length prefix).
pub fn encode_response(
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> Result<Bytes, WireError> {
    let header_version = api_key.response_header_version(api_version);
    let what = || format!("{api_key:?} v{api_version} response");
    let mut out = BytesMut::with_capacity(128);
    out.extend_from_slice(&[0; 4]);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut out, header_version)
        .map_err(|e| WireError::Encode {
            what: what(),
            reason: format!("{e:#}"),
        })?;
    body.encode(&mut out, api_version)
        .map_err(|e| WireError::Encode {
            what: what(),
            reason: format!("{e:#}"),
        })?;
    let len = u32::try_from(out.len() - 4).map_err(|_| WireError::Encode {
        what: what(),
        reason: "larger than 4 GiB".into(),
    })?;
    out[..4].copy_from_slice(&len.to_be_bytes());
    Ok(out.freeze())
}

/// Decodes a response frame body (without the length prefix) for a request of `api_key` at
/// `api_version`; returns the correlation id and the body.
pub fn decode_response(
    api_key: ApiKey,
    api_version: i16,
    frame: Bytes,
) -> Result<(i32, ResponseKind), WireError> {
    let mut buf = frame;
    let header_version = api_key.response_header_version(api_version);
    let header =
        ResponseHeader::decode(&mut buf, header_version).map_err(|e| WireError::Malformed {
            what: format!("{api_key:?} v{api_version} response header"),
            reason: format!("{e:#}"),
        })?;
    let what = || format!("{api_key:?} v{api_version} response body");
    let body =
        ResponseKind::decode(api_key, &mut buf, api_version).map_err(|e| WireError::Malformed {
            what: what(),
            reason: format!("{e:#}"),
        })?;
    if buf.has_remaining() {
        return Err(WireError::TrailingBytes {
            what: what(),
            extra: buf.remaining(),
        });
    }
    Ok((header.correlation_id, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::ApiVersionsResponse;

    #[test]
    fn api_versions_header_is_v0_even_when_flexible() {
        let body = ResponseKind::ApiVersions(ApiVersionsResponse::default());
        let frame = encode_response(ApiKey::ApiVersions, 3, 9, &body).unwrap();
        // Prefix (4) + correlation id (4), and no tagged-field byte before the body's error code.
        assert_eq!(&frame[4..8], &9i32.to_be_bytes());
        assert_eq!(&frame[8..10], &0i16.to_be_bytes());
        let (correlation_id, decoded) =
            decode_response(ApiKey::ApiVersions, 3, frame.slice(4..)).unwrap();
        assert_eq!(correlation_id, 9);
        assert_eq!(decoded, body);
    }
}
