//! Which versions of each API this crate can actually decode and encode.
//!
//! `ApiKey::valid_versions()` in kafka-protocol 0.18 follows Kafka's API table, which runs one
//! version ahead of the crate's message codecs for a few APIs (OffsetCommit v10, OffsetFetch v10,
//! InitProducerId v6: the request codecs stop at v9, v9, v5). The usable range is the
//! intersection of the request's and the response's codec ranges; that is what a broker built on
//! this crate may advertise.

use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Message, VersionRange};

fn both<Req: Message, Resp: Message>() -> VersionRange {
    VersionRange {
        min: Req::VERSIONS.min.max(Resp::VERSIONS.min),
        max: Req::VERSIONS.max.min(Resp::VERSIONS.max),
    }
}

/// The versions of `api_key` whose request and response both have codecs.
pub fn codec_versions(api_key: ApiKey) -> VersionRange {
    match api_key {
        ApiKey::Produce => both::<ProduceRequest, ProduceResponse>(),
        ApiKey::Fetch => both::<FetchRequest, FetchResponse>(),
        ApiKey::ListOffsets => both::<ListOffsetsRequest, ListOffsetsResponse>(),
        ApiKey::Metadata => both::<MetadataRequest, MetadataResponse>(),
        ApiKey::OffsetCommit => both::<OffsetCommitRequest, OffsetCommitResponse>(),
        ApiKey::OffsetFetch => both::<OffsetFetchRequest, OffsetFetchResponse>(),
        ApiKey::FindCoordinator => both::<FindCoordinatorRequest, FindCoordinatorResponse>(),
        ApiKey::JoinGroup => both::<JoinGroupRequest, JoinGroupResponse>(),
        ApiKey::Heartbeat => both::<HeartbeatRequest, HeartbeatResponse>(),
        ApiKey::LeaveGroup => both::<LeaveGroupRequest, LeaveGroupResponse>(),
        ApiKey::SyncGroup => both::<SyncGroupRequest, SyncGroupResponse>(),
        ApiKey::DescribeGroups => both::<DescribeGroupsRequest, DescribeGroupsResponse>(),
        ApiKey::ListGroups => both::<ListGroupsRequest, ListGroupsResponse>(),
        ApiKey::ApiVersions => both::<ApiVersionsRequest, ApiVersionsResponse>(),
        ApiKey::CreateTopics => both::<CreateTopicsRequest, CreateTopicsResponse>(),
        ApiKey::DeleteTopics => both::<DeleteTopicsRequest, DeleteTopicsResponse>(),
        ApiKey::InitProducerId => both::<InitProducerIdRequest, InitProducerIdResponse>(),
        ApiKey::AddPartitionsToTxn => {
            both::<AddPartitionsToTxnRequest, AddPartitionsToTxnResponse>()
        }
        ApiKey::AddOffsetsToTxn => both::<AddOffsetsToTxnRequest, AddOffsetsToTxnResponse>(),
        ApiKey::EndTxn => both::<EndTxnRequest, EndTxnResponse>(),
        ApiKey::TxnOffsetCommit => both::<TxnOffsetCommitRequest, TxnOffsetCommitResponse>(),
        ApiKey::DescribeTransactions => {
            both::<DescribeTransactionsRequest, DescribeTransactionsResponse>()
        }
        ApiKey::ListTransactions => both::<ListTransactionsRequest, ListTransactionsResponse>(),
        ApiKey::DeleteRecords => both::<DeleteRecordsRequest, DeleteRecordsResponse>(),
        ApiKey::CreatePartitions => both::<CreatePartitionsRequest, CreatePartitionsResponse>(),
        ApiKey::DeleteGroups => both::<DeleteGroupsRequest, DeleteGroupsResponse>(),
        ApiKey::OffsetDelete => both::<OffsetDeleteRequest, OffsetDeleteResponse>(),
        ApiKey::ConsumerGroupHeartbeat => {
            both::<ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse>()
        }
        ApiKey::ConsumerGroupDescribe => {
            both::<ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse>()
        }
        ApiKey::DescribeConfigs => both::<DescribeConfigsRequest, DescribeConfigsResponse>(),
        ApiKey::AlterConfigs => both::<AlterConfigsRequest, AlterConfigsResponse>(),
        ApiKey::IncrementalAlterConfigs => {
            both::<IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse>()
        }
        // The broker serves only the keys above; for the rest the API table is good enough to
        // decide between "unsupported version" and "malformed".
        other => other.valid_versions(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_capped_where_the_crate_lacks_codecs() {
        assert_eq!(codec_versions(ApiKey::OffsetCommit).max, 9);
        assert_eq!(codec_versions(ApiKey::OffsetFetch).max, 9);
        assert_eq!(codec_versions(ApiKey::InitProducerId).max, 5);
        assert_eq!(codec_versions(ApiKey::Fetch).max, 18);
        // Kafka 4 dropped DescribeConfigs v0, and the crate with it.
        assert_eq!(codec_versions(ApiKey::DescribeConfigs).min, 1);
    }
}
