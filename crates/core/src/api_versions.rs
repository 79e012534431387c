//! ApiVersions: which APIs and versions kmock serves, and the KIP-511 fallback.
//!
//! Every implemented API is advertised at every version the kafka-protocol crate can decode and
//! encode ([`kmock_wire::codec_versions`]): the crate follows Kafka 4.x in dropping very old
//! versions, and its request codecs stop one version short of Kafka's table for OffsetCommit (v9),
//! OffsetFetch (v9) and InitProducerId (v5). Each advertised version is round-tripped through the
//! broker in `crates/core/tests/every_version.rs`.

use kmock_wire::kafka_protocol::messages::api_versions_response::ApiVersion;
use kmock_wire::kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, ResponseKind,
};
use kmock_wire::kafka_protocol::protocol::StrBytes;

use super::ResponseToken;

use kmock_wire::error_code::{INVALID_REQUEST, UNSUPPORTED_VERSION};

/// The APIs kmock implements, in API key order.
pub const SUPPORTED_APIS: &[ApiKey] = &[
    ApiKey::Produce,
    ApiKey::Fetch,
    ApiKey::ListOffsets,
    ApiKey::Metadata,
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
    ApiKey::FindCoordinator,
    ApiKey::JoinGroup,
    ApiKey::Heartbeat,
    ApiKey::LeaveGroup,
    ApiKey::SyncGroup,
    ApiKey::DescribeGroups,
    ApiKey::ListGroups,
    ApiKey::ApiVersions,
    ApiKey::CreateTopics,
    ApiKey::DeleteTopics,
    ApiKey::DeleteRecords,
    ApiKey::InitProducerId,
    ApiKey::AddPartitionsToTxn,
    ApiKey::AddOffsetsToTxn,
    ApiKey::EndTxn,
    ApiKey::TxnOffsetCommit,
    ApiKey::DescribeConfigs,
    ApiKey::AlterConfigs,
    ApiKey::CreatePartitions,
    ApiKey::DeleteGroups,
    ApiKey::IncrementalAlterConfigs,
    ApiKey::OffsetDelete,
    ApiKey::DescribeTransactions,
    ApiKey::ListTransactions,
    ApiKey::ConsumerGroupHeartbeat,
    ApiKey::ConsumerGroupDescribe,
];

/// The advertised `(min, max)` versions of `api_key`, if kmock implements it.
pub fn supported_versions(api_key: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED_APIS.contains(&api_key).then(|| {
        let range = kmock_wire::codec_versions(api_key);
        (range.min, range.max)
    })
}

/// Whether kmock serves `api_key` at `api_version`.
pub fn is_supported(api_key: ApiKey, api_version: i16) -> bool {
    supported_versions(api_key).is_some_and(|(min, max)| (min..=max).contains(&api_version))
}

fn api_keys() -> Vec<ApiVersion> {
    SUPPORTED_APIS
        .iter()
        .map(|key| {
            let range = kmock_wire::codec_versions(*key);
            ApiVersion::default()
                .with_api_key(*key as i16)
                .with_min_version(range.min)
                .with_max_version(range.max)
        })
        .collect()
}

/// Answers an ApiVersions request.
pub(crate) fn handle(token: &ResponseToken, request: &ApiVersionsRequest) -> ResponseKind {
    let mut response = ApiVersionsResponse::default().with_api_keys(api_keys());
    if token.api_version >= 3 {
        // v3+ carries the client's software name and version; Kafka rejects invalid ones.
        let valid = |s: &StrBytes| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        };
        if !valid(&request.client_software_name) || !valid(&request.client_software_version) {
            response.error_code = INVALID_REQUEST;
        }
    }
    ResponseKind::ApiVersions(response)
}

/// The v0 body sent when a client asks for an ApiVersions version we cannot parse (KIP-511).
pub fn unsupported_version_response() -> ResponseKind {
    ResponseKind::ApiVersions(
        ApiVersionsResponse::default()
            .with_error_code(UNSUPPORTED_VERSION)
            .with_api_keys(api_keys()),
    )
}

/// An ApiVersions response carrying `code` (for fault rules).
pub fn error_response(code: i16) -> ResponseKind {
    ResponseKind::ApiVersions(
        ApiVersionsResponse::default()
            .with_error_code(code)
            .with_api_keys(api_keys()),
    )
}
