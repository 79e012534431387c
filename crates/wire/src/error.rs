//! Typed errors of the wire layer: what a peer (or a bug in an encoder) can cause.

/// An error decoding or encoding Kafka frames and messages.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// The length prefix announces a frame larger than the configured limit.
    #[error("frame of {size} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// Announced size in bytes.
        size: u64,
        /// The limit in bytes.
        max: u64,
    },
    /// The length prefix is negative.
    #[error("negative frame length {0}")]
    NegativeFrameLength(i32),
    /// The frame ended before the fixed part of the request header.
    #[error("frame of {size} bytes is too short for a request header")]
    TruncatedHeader {
        /// Frame size in bytes.
        size: usize,
    },
    /// The API key is not one this implementation knows.
    #[error("unknown API key {api_key} (correlation id {correlation_id})")]
    UnknownApiKey {
        /// The key sent.
        api_key: i16,
        /// The correlation id of the request.
        correlation_id: i32,
    },
    /// The API version is outside the range this implementation can decode.
    #[error("unsupported version {api_version} of {api_name} (supported {min}..={max})")]
    UnsupportedVersion {
        /// The key sent.
        api_key: i16,
        /// Name of the API.
        api_name: String,
        /// The version sent.
        api_version: i16,
        /// Lowest supported version.
        min: i16,
        /// Highest supported version.
        max: i16,
        /// The correlation id of the request.
        correlation_id: i32,
    },
    /// The header or body could not be decoded.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Which part was malformed (e.g. `Produce v9 request body`).
        what: String,
        /// The decoder's explanation.
        reason: String,
    },
    /// Bytes were left over after decoding the body.
    #[error("{what} has {extra} trailing bytes")]
    TrailingBytes {
        /// Which message.
        what: String,
        /// How many bytes were left.
        extra: usize,
    },
    /// A message could not be encoded at the requested version (a bug in the caller).
    #[error("cannot encode {what}: {reason}")]
    Encode {
        /// Which message.
        what: String,
        /// The encoder's explanation.
        reason: String,
    },
}
