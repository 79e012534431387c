//! Response frames: header (v0, or v1 with tagged fields for flexible versions) and body.
//!
//! The ApiVersions response header is always v0, even for flexible versions, so that a client can
//! read it before it knows which versions the broker speaks (KIP-511).

use std::sync::{Mutex, PoisonError};

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};

use crate::WireError;

/// Encodes a response frame (with the length prefix).
///
/// (The broker encodes its Fetch responses with [`crate::encode_fetch_response`] instead, which
/// takes the records beside the body.) A Fetch response is sized before it is encoded ([`Encodable::compute_size`]: a walk over its
/// fields, no bytes copied) and, when large, encoded into a buffer from a small pool of frames
/// already written and dropped (see `FramePool` in this module): its records are copied once,
/// into memory the process has touched before. Other responses start from a buffer that fits most of them.
pub fn encode_response(
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> Result<Bytes, WireError> {
    let header_version = api_key.response_header_version(api_version);
    let what = || format!("{api_key:?} v{api_version} response");
    let encode_error = |e| encode_failed(&what, e);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    if let ResponseKind::Fetch(fetch) = body {
        let size = 4
            + header.compute_size(header_version).map_err(encode_error)?
            + fetch.compute_size(api_version).map_err(encode_error)?;
        if size >= POOLED_FRAME_BYTES {
            let mut out = FramePool::take(size);
            out.extend_from_slice(&[0; 4]);
            header
                .encode(&mut out, header_version)
                .map_err(encode_error)?;
            fetch.encode(&mut out, api_version).map_err(encode_error)?;
            let len = frame_length(out.len(), what)?;
            out[..4].copy_from_slice(&len.to_be_bytes());
            return Ok(Bytes::from_owner(PooledFrame(out)));
        }
    }
    // Most responses fit (Produce, Heartbeat, a Fetch of a few small records, Metadata of a few
    // topics): one allocation instead of a chain of reallocations as the encoder grows it.
    let mut out = BytesMut::with_capacity(512);
    out.extend_from_slice(&[0; 4]);
    header
        .encode(&mut out, header_version)
        .map_err(encode_error)?;
    body.encode(&mut out, api_version).map_err(encode_error)?;
    let len = frame_length(out.len(), what)?;
    out[..4].copy_from_slice(&len.to_be_bytes());
    Ok(out.freeze())
}

/// An encoder's error, as [`WireError::Encode`] (the alternate form shows its whole chain).
pub(crate) fn encode_failed(
    what: &impl Fn() -> String,
    error: impl std::fmt::Display,
) -> WireError {
    WireError::Encode {
        what: what(),
        reason: format!("{error:#}"),
    }
}

/// The length prefix of a frame of `total` bytes (prefix included).
pub(crate) fn frame_length(total: usize, what: impl Fn() -> String) -> Result<u32, WireError> {
    u32::try_from(total - 4).map_err(|_| WireError::Encode {
        what: what(),
        reason: "larger than 4 GiB".into(),
    })
}

/// Fetch response frames at least this large are encoded into pooled buffers.
pub const POOLED_FRAME_BYTES: usize = 64 * 1024;

/// Buffers kept for reuse, at most.
const POOL_BUFFERS: usize = 4;

/// A buffer larger than this is freed rather than kept (the pool holds at most
/// `POOL_BUFFERS` × this).
const POOL_BUFFER_MAX_BYTES: usize = 8 * 1024 * 1024;

/// Large response frames once written and dropped, kept for the next ones.
///
/// A large Fetch response used to be encoded into a buffer grown step by step from 128 bytes: each
/// growth copied what was written so far, and a large allocation is a fresh memory mapping whose
/// every page the kernel faults in and zeroes, once per response (BENCHMARKS.md, issue 18). A
/// frame taken from the pool was touched before; when the connection task drops the written frame,
/// its buffer goes back. Bounded: at most [`POOL_BUFFERS`] buffers of at most
/// [`POOL_BUFFER_MAX_BYTES`] each. Shared by every broker in the process (a lock held for a push
/// or a pop); what a response contains never depends on it.
pub(crate) struct FramePool;

static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

impl FramePool {
    /// An empty buffer with room for `size` bytes: a pooled one if one is large enough.
    pub(crate) fn take(size: usize) -> Vec<u8> {
        let pooled = {
            let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
            pool.iter()
                .position(|buffer| buffer.capacity() >= size)
                .map(|at| pool.swap_remove(at))
        };
        pooled.unwrap_or_else(|| Vec::with_capacity(size))
    }

    /// Keeps `buffer` for a later frame, if the pool has room and it is not too large.
    fn give(mut buffer: Vec<u8>) {
        if buffer.capacity() > POOL_BUFFER_MAX_BYTES {
            return;
        }
        buffer.clear();
        let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < POOL_BUFFERS {
            pool.push(buffer);
        } else if let Some(smallest) = pool.iter_mut().min_by_key(|b| b.capacity())
            && smallest.capacity() < buffer.capacity()
        {
            // Keep the larger buffers: a smaller one fits fewer frames.
            *smallest = buffer;
        }
    }
}

/// A frame in a pooled buffer: the buffer returns to the pool when the last `Bytes` of it drops.
pub(crate) struct PooledFrame(pub(crate) Vec<u8>);

impl AsRef<[u8]> for PooledFrame {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for PooledFrame {
    fn drop(&mut self) {
        FramePool::give(std::mem::take(&mut self.0));
    }
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

    /// A Fetch response of `records_bytes` bytes of records (not a valid batch: the encoder copies
    /// the bytes as they are).
    fn fetch_response(records_bytes: usize, fill: u8) -> ResponseKind {
        use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
        use kafka_protocol::messages::{FetchResponse, TopicName};
        use kafka_protocol::protocol::StrBytes;
        ResponseKind::Fetch(FetchResponse::default().with_responses(vec![
                FetchableTopicResponse::default()
                    .with_topic(TopicName(StrBytes::from_static_str("events")))
                    .with_partitions(vec![
                        PartitionData::default()
                            .with_high_watermark(7)
                            .with_records(Some(Bytes::from(vec![fill; records_bytes]))),
                    ]),
            ]))
    }

    #[test]
    fn large_fetch_responses_are_sized_exactly_and_reuse_written_frames() {
        // v13+ name topics by id (the name is not encoded): up to v12 the body round-trips whole.
        for version in [4, 11, 12] {
            for (records_bytes, fill) in [(10, 1), (POOLED_FRAME_BYTES, 2), (3 << 20, 3)] {
                let body = fetch_response(records_bytes, fill);
                let frame = encode_response(ApiKey::Fetch, version, 5, &body).unwrap();
                let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
                assert_eq!(len + 4, frame.len(), "v{version} {records_bytes}");
                let (correlation_id, decoded) =
                    decode_response(ApiKey::Fetch, version, frame.slice(4..)).unwrap();
                assert_eq!(correlation_id, 5);
                assert_eq!(decoded, body, "v{version} {records_bytes}");
            }
        }
        // A frame dropped returns its buffer; the next large frame is encoded into a pooled one
        // (other tests may take buffers meanwhile: only the contents are checked).
        let first = encode_response(ApiKey::Fetch, 12, 1, &fetch_response(1 << 20, 4)).unwrap();
        drop(first);
        let body = fetch_response(1 << 20, 5);
        let second = encode_response(ApiKey::Fetch, 12, 2, &body).unwrap();
        let (_, decoded) = decode_response(ApiKey::Fetch, 12, second.slice(4..)).unwrap();
        assert_eq!(decoded, body);
    }

    #[test]
    fn the_pool_is_bounded() {
        for _ in 0..2 * POOL_BUFFERS {
            FramePool::give(Vec::with_capacity(POOLED_FRAME_BYTES));
        }
        FramePool::give(Vec::with_capacity(POOL_BUFFER_MAX_BYTES + 1));
        let pool = POOL.lock().unwrap();
        assert!(pool.len() <= POOL_BUFFERS);
        assert!(
            pool.iter()
                .all(|b| b.capacity() <= POOL_BUFFER_MAX_BYTES && b.is_empty())
        );
    }
}
