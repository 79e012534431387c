//! Kafka wire layer shared by the kmock broker and client.
//!
//! Owns: length-prefixed framing (a two-phase reader: first *check* that a whole frame within the
//! size limit is buffered, then *parse* it), request and response headers with their versions, and
//! the typed errors for everything a peer can get wrong, and frames to write ([`Frame`]: one buffer
//! or a chain of parts; a Fetch response references its larger record batches). It does not own any
//! broker or client state.
//!
//! Message bodies are the types of the [`kafka_protocol`] crate (re-exported), whose decoders return
//! `anyhow` errors: this crate converts them to [`WireError`] at the boundary.
//!
//! # References
//! - Kafka protocol guide: <https://kafka.apache.org/protocol.html>
//! - KIP-482 (flexible versions and tagged fields), KIP-511 (ApiVersions fallback).

pub mod api;
mod arena;
pub mod crc;
pub mod error;
pub mod error_code;
pub mod fetch_frame;
pub mod frame;
pub mod out_frame;
pub mod request;
pub mod response;
pub mod versions;

pub use api::{api_key_by_name, api_name, api_snake_name};
pub use crc::crc32c;
pub use error::WireError;
pub use fetch_frame::{FetchRecords, REFERENCE_MIN_BYTES, encode_fetch_response};
pub use frame::{
    DEFAULT_MAX_FRAME_BYTES, FrameCheck, FrameDecoder, ReadTarget, check_frame, encode_frame,
};
pub use kafka_protocol;
pub use out_frame::{Frame, FrameWriter};
pub use request::{DecodedRequest, RequestPrefix, decode_request, encode_request};
pub use response::{decode_response, encode_response};
pub use versions::codec_versions;
