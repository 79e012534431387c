//! Kafka's error codes by their Kafka names, one table for the whole workspace.
//!
//! Each constant is the code of kafka-protocol's [`ResponseError`] variant of the same name (the
//! numbers are written once, in that crate, after Kafka's `Errors` enum), so the broker core, the
//! client, the fault-spec parser, the control API and the simulation trace agree on them.
//! [`name`] gives a code's Kafka name (`UNKNOWN_MEMBER_ID`).
//!
//! Generated from kafka-protocol 0.18's error table; `every_variant_has_a_constant` checks that it
//! is complete.
//!
//! # References
//! - Kafka `org.apache.kafka.common.protocol.Errors`.

use kafka_protocol::ResponseError;

/// No error.
pub const NONE: i16 = 0;
/// The server experienced an unexpected error when processing the request.
pub const UNKNOWN_SERVER_ERROR: i16 = ResponseError::UnknownServerError.code();
/// The requested offset is not within the range of offsets maintained by the server.
pub const OFFSET_OUT_OF_RANGE: i16 = ResponseError::OffsetOutOfRange.code();
/// This message has failed its CRC checksum, exceeds the valid size, has a null key for a compacted topic, or is otherwise corrupt. (retriable)
pub const CORRUPT_MESSAGE: i16 = ResponseError::CorruptMessage.code();
/// This server does not host this topic-partition. (retriable)
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = ResponseError::UnknownTopicOrPartition.code();
/// The requested fetch size is invalid.
pub const INVALID_FETCH_SIZE: i16 = ResponseError::InvalidFetchSize.code();
/// There is no leader for this topic-partition as we are in the middle of a leadership election. (retriable)
pub const LEADER_NOT_AVAILABLE: i16 = ResponseError::LeaderNotAvailable.code();
/// For requests intended only for the leader, this error indicates that the broker is not the current leader. For requests intended for any replica, this error indicates that the broker is not a replica of the topic partition. (retriable)
pub const NOT_LEADER_OR_FOLLOWER: i16 = ResponseError::NotLeaderOrFollower.code();
/// The request timed out. (retriable)
pub const REQUEST_TIMED_OUT: i16 = ResponseError::RequestTimedOut.code();
/// The broker is not available.
pub const BROKER_NOT_AVAILABLE: i16 = ResponseError::BrokerNotAvailable.code();
/// The replica is not available for the requested topic-partition. Produce/Fetch requests and other requests intended only for the leader or follower return NOT_LEADER_OR_FOLLOWER if the broker is not a replica of the topic-partition. (retriable)
pub const REPLICA_NOT_AVAILABLE: i16 = ResponseError::ReplicaNotAvailable.code();
/// The request included a message larger than the max message size the server will accept.
pub const MESSAGE_TOO_LARGE: i16 = ResponseError::MessageTooLarge.code();
/// The controller moved to another broker.
pub const STALE_CONTROLLER_EPOCH: i16 = ResponseError::StaleControllerEpoch.code();
/// The metadata field of the offset request was too large.
pub const OFFSET_METADATA_TOO_LARGE: i16 = ResponseError::OffsetMetadataTooLarge.code();
/// The server disconnected before a response was received. (retriable)
pub const NETWORK_EXCEPTION: i16 = ResponseError::NetworkException.code();
/// The coordinator is loading and hence can't process requests. (retriable)
pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = ResponseError::CoordinatorLoadInProgress.code();
/// The coordinator is not available. (retriable)
pub const COORDINATOR_NOT_AVAILABLE: i16 = ResponseError::CoordinatorNotAvailable.code();
/// This is not the correct coordinator. (retriable)
pub const NOT_COORDINATOR: i16 = ResponseError::NotCoordinator.code();
/// The request attempted to perform an operation on an invalid topic.
pub const INVALID_TOPIC_EXCEPTION: i16 = ResponseError::InvalidTopicException.code();
/// The request included message batch larger than the configured segment size on the server.
pub const RECORD_LIST_TOO_LARGE: i16 = ResponseError::RecordListTooLarge.code();
/// Messages are rejected since there are fewer in-sync replicas than required. (retriable)
pub const NOT_ENOUGH_REPLICAS: i16 = ResponseError::NotEnoughReplicas.code();
/// Messages are written to the log, but to fewer in-sync replicas than required. (retriable)
pub const NOT_ENOUGH_REPLICAS_AFTER_APPEND: i16 =
    ResponseError::NotEnoughReplicasAfterAppend.code();
/// Produce request specified an invalid value for required acks.
pub const INVALID_REQUIRED_ACKS: i16 = ResponseError::InvalidRequiredAcks.code();
/// Specified group generation id is not valid.
pub const ILLEGAL_GENERATION: i16 = ResponseError::IllegalGeneration.code();
/// The group member's supported protocols are incompatible with those of existing members or first group member tried to join with empty protocol type or empty protocol list.
pub const INCONSISTENT_GROUP_PROTOCOL: i16 = ResponseError::InconsistentGroupProtocol.code();
/// The configured groupId is invalid.
pub const INVALID_GROUP_ID: i16 = ResponseError::InvalidGroupId.code();
/// The coordinator is not aware of this member.
pub const UNKNOWN_MEMBER_ID: i16 = ResponseError::UnknownMemberId.code();
/// The session timeout is not within the range allowed by the broker (as configured by group.min.session.timeout.ms and group.max.session.timeout.ms).
pub const INVALID_SESSION_TIMEOUT: i16 = ResponseError::InvalidSessionTimeout.code();
/// The group is rebalancing, so a rejoin is needed.
pub const REBALANCE_IN_PROGRESS: i16 = ResponseError::RebalanceInProgress.code();
/// The committing offset data size is not valid.
pub const INVALID_COMMIT_OFFSET_SIZE: i16 = ResponseError::InvalidCommitOffsetSize.code();
/// Topic authorization failed.
pub const TOPIC_AUTHORIZATION_FAILED: i16 = ResponseError::TopicAuthorizationFailed.code();
/// Group authorization failed.
pub const GROUP_AUTHORIZATION_FAILED: i16 = ResponseError::GroupAuthorizationFailed.code();
/// Cluster authorization failed.
pub const CLUSTER_AUTHORIZATION_FAILED: i16 = ResponseError::ClusterAuthorizationFailed.code();
/// The timestamp of the message is out of acceptable range.
pub const INVALID_TIMESTAMP: i16 = ResponseError::InvalidTimestamp.code();
/// The broker does not support the requested SASL mechanism.
pub const UNSUPPORTED_SASL_MECHANISM: i16 = ResponseError::UnsupportedSaslMechanism.code();
/// Request is not valid given the current SASL state.
pub const ILLEGAL_SASL_STATE: i16 = ResponseError::IllegalSaslState.code();
/// The version of API is not supported.
pub const UNSUPPORTED_VERSION: i16 = ResponseError::UnsupportedVersion.code();
/// Topic with this name already exists.
pub const TOPIC_ALREADY_EXISTS: i16 = ResponseError::TopicAlreadyExists.code();
/// Number of partitions is below 1.
pub const INVALID_PARTITIONS: i16 = ResponseError::InvalidPartitions.code();
/// Replication factor is below 1 or larger than the number of available brokers.
pub const INVALID_REPLICATION_FACTOR: i16 = ResponseError::InvalidReplicationFactor.code();
/// Replica assignment is invalid.
pub const INVALID_REPLICA_ASSIGNMENT: i16 = ResponseError::InvalidReplicaAssignment.code();
/// Configuration is invalid.
pub const INVALID_CONFIG: i16 = ResponseError::InvalidConfig.code();
/// This is not the correct controller for this cluster. (retriable)
pub const NOT_CONTROLLER: i16 = ResponseError::NotController.code();
/// This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker. See the broker logs for more details.
pub const INVALID_REQUEST: i16 = ResponseError::InvalidRequest.code();
/// The message format version on the broker does not support the request.
pub const UNSUPPORTED_FOR_MESSAGE_FORMAT: i16 = ResponseError::UnsupportedForMessageFormat.code();
/// Request parameters do not satisfy the configured policy.
pub const POLICY_VIOLATION: i16 = ResponseError::PolicyViolation.code();
/// The broker received an out of order sequence number.
pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = ResponseError::OutOfOrderSequenceNumber.code();
/// The broker received a duplicate sequence number.
pub const DUPLICATE_SEQUENCE_NUMBER: i16 = ResponseError::DuplicateSequenceNumber.code();
/// Producer attempted to produce with an old epoch.
pub const INVALID_PRODUCER_EPOCH: i16 = ResponseError::InvalidProducerEpoch.code();
/// The producer attempted a transactional operation in an invalid state.
pub const INVALID_TXN_STATE: i16 = ResponseError::InvalidTxnState.code();
/// The producer attempted to use a producer id which is not currently assigned to its transactional id.
pub const INVALID_PRODUCER_ID_MAPPING: i16 = ResponseError::InvalidProducerIdMapping.code();
/// The transaction timeout is larger than the maximum value allowed by the broker (as configured by transaction.max.timeout.ms).
pub const INVALID_TRANSACTION_TIMEOUT: i16 = ResponseError::InvalidTransactionTimeout.code();
/// The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing.
pub const CONCURRENT_TRANSACTIONS: i16 = ResponseError::ConcurrentTransactions.code();
/// Indicates that the transaction coordinator sending a WriteTxnMarker is no longer the current coordinator for a given producer.
pub const TRANSACTION_COORDINATOR_FENCED: i16 = ResponseError::TransactionCoordinatorFenced.code();
/// Transactional Id authorization failed.
pub const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 =
    ResponseError::TransactionalIdAuthorizationFailed.code();
/// Security features are disabled.
pub const SECURITY_DISABLED: i16 = ResponseError::SecurityDisabled.code();
/// The broker did not attempt to execute this operation. This may happen for batched RPCs where some operations in the batch failed, causing the broker to respond without trying the rest.
pub const OPERATION_NOT_ATTEMPTED: i16 = ResponseError::OperationNotAttempted.code();
/// Disk error when trying to access log file on the disk. (retriable)
pub const KAFKA_STORAGE_ERROR: i16 = ResponseError::KafkaStorageError.code();
/// The user-specified log directory is not found in the broker config.
pub const LOG_DIR_NOT_FOUND: i16 = ResponseError::LogDirNotFound.code();
/// SASL Authentication failed.
pub const SASL_AUTHENTICATION_FAILED: i16 = ResponseError::SaslAuthenticationFailed.code();
/// This exception is raised by the broker if it could not locate the producer metadata associated with the producerId in question. This could happen if, for instance, the producer's records were deleted because their retention time had elapsed. Once the last records of the producerId are removed, the producer's metadata is removed from the broker, and future appends by the producer will return this exception.
pub const UNKNOWN_PRODUCER_ID: i16 = ResponseError::UnknownProducerId.code();
/// A partition reassignment is in progress.
pub const REASSIGNMENT_IN_PROGRESS: i16 = ResponseError::ReassignmentInProgress.code();
/// Delegation Token feature is not enabled.
pub const DELEGATION_TOKEN_AUTH_DISABLED: i16 = ResponseError::DelegationTokenAuthDisabled.code();
/// Delegation Token is not found on server.
pub const DELEGATION_TOKEN_NOT_FOUND: i16 = ResponseError::DelegationTokenNotFound.code();
/// Specified Principal is not valid Owner/Renewer.
pub const DELEGATION_TOKEN_OWNER_MISMATCH: i16 = ResponseError::DelegationTokenOwnerMismatch.code();
/// Delegation Token requests are not allowed on PLAINTEXT/1-way SSL channels and on delegation token authenticated channels.
pub const DELEGATION_TOKEN_REQUEST_NOT_ALLOWED: i16 =
    ResponseError::DelegationTokenRequestNotAllowed.code();
/// Delegation Token authorization failed.
pub const DELEGATION_TOKEN_AUTHORIZATION_FAILED: i16 =
    ResponseError::DelegationTokenAuthorizationFailed.code();
/// Delegation Token is expired.
pub const DELEGATION_TOKEN_EXPIRED: i16 = ResponseError::DelegationTokenExpired.code();
/// Supplied principalType is not supported.
pub const INVALID_PRINCIPAL_TYPE: i16 = ResponseError::InvalidPrincipalType.code();
/// The group is not empty.
pub const NON_EMPTY_GROUP: i16 = ResponseError::NonEmptyGroup.code();
/// The group id does not exist.
pub const GROUP_ID_NOT_FOUND: i16 = ResponseError::GroupIdNotFound.code();
/// The fetch session ID was not found. (retriable)
pub const FETCH_SESSION_ID_NOT_FOUND: i16 = ResponseError::FetchSessionIdNotFound.code();
/// The fetch session epoch is invalid. (retriable)
pub const INVALID_FETCH_SESSION_EPOCH: i16 = ResponseError::InvalidFetchSessionEpoch.code();
/// There is no listener on the leader broker that matches the listener on which metadata request was processed. (retriable)
pub const LISTENER_NOT_FOUND: i16 = ResponseError::ListenerNotFound.code();
/// Topic deletion is disabled.
pub const TOPIC_DELETION_DISABLED: i16 = ResponseError::TopicDeletionDisabled.code();
/// The leader epoch in the request is older than the epoch on the broker. (retriable)
pub const FENCED_LEADER_EPOCH: i16 = ResponseError::FencedLeaderEpoch.code();
/// The leader epoch in the request is newer than the epoch on the broker. (retriable)
pub const UNKNOWN_LEADER_EPOCH: i16 = ResponseError::UnknownLeaderEpoch.code();
/// The requesting client does not support the compression type of given partition.
pub const UNSUPPORTED_COMPRESSION_TYPE: i16 = ResponseError::UnsupportedCompressionType.code();
/// Broker epoch has changed.
pub const STALE_BROKER_EPOCH: i16 = ResponseError::StaleBrokerEpoch.code();
/// The leader high watermark has not caught up from a recent leader election so the offsets cannot be guaranteed to be monotonically increasing. (retriable)
pub const OFFSET_NOT_AVAILABLE: i16 = ResponseError::OffsetNotAvailable.code();
/// The group member needs to have a valid member id before actually entering a consumer group.
pub const MEMBER_ID_REQUIRED: i16 = ResponseError::MemberIdRequired.code();
/// The preferred leader was not available. (retriable)
pub const PREFERRED_LEADER_NOT_AVAILABLE: i16 = ResponseError::PreferredLeaderNotAvailable.code();
/// The consumer group has reached its max size.
pub const GROUP_MAX_SIZE_REACHED: i16 = ResponseError::GroupMaxSizeReached.code();
/// The broker rejected this static consumer since another consumer with the same group.instance.id has registered with a different member.id.
pub const FENCED_INSTANCE_ID: i16 = ResponseError::FencedInstanceId.code();
/// Eligible topic partition leaders are not available. (retriable)
pub const ELIGIBLE_LEADERS_NOT_AVAILABLE: i16 = ResponseError::EligibleLeadersNotAvailable.code();
/// Leader election not needed for topic partition. (retriable)
pub const ELECTION_NOT_NEEDED: i16 = ResponseError::ElectionNotNeeded.code();
/// No partition reassignment is in progress.
pub const NO_REASSIGNMENT_IN_PROGRESS: i16 = ResponseError::NoReassignmentInProgress.code();
/// Deleting offsets of a topic is forbidden while the consumer group is actively subscribed to it.
pub const GROUP_SUBSCRIBED_TO_TOPIC: i16 = ResponseError::GroupSubscribedToTopic.code();
/// This record has failed the validation on broker and hence will be rejected.
pub const INVALID_RECORD: i16 = ResponseError::InvalidRecord.code();
/// There are unstable offsets that need to be cleared. (retriable)
pub const UNSTABLE_OFFSET_COMMIT: i16 = ResponseError::UnstableOffsetCommit.code();
/// The throttling quota has been exceeded. (retriable)
pub const THROTTLING_QUOTA_EXCEEDED: i16 = ResponseError::ThrottlingQuotaExceeded.code();
/// There is a newer producer with the same transactionalId which fences the current one.
pub const PRODUCER_FENCED: i16 = ResponseError::ProducerFenced.code();
/// A request illegally referred to a resource that does not exist.
pub const RESOURCE_NOT_FOUND: i16 = ResponseError::ResourceNotFound.code();
/// A request illegally referred to the same resource twice.
pub const DUPLICATE_RESOURCE: i16 = ResponseError::DuplicateResource.code();
/// Requested credential would not meet criteria for acceptability.
pub const UNACCEPTABLE_CREDENTIAL: i16 = ResponseError::UnacceptableCredential.code();
/// Indicates that the either the sender or recipient of a voter-only request is not one of the expected voters
pub const INCONSISTENT_VOTER_SET: i16 = ResponseError::InconsistentVoterSet.code();
/// The given update version was invalid.
pub const INVALID_UPDATE_VERSION: i16 = ResponseError::InvalidUpdateVersion.code();
/// Unable to update finalized features due to an unexpected server error.
pub const FEATURE_UPDATE_FAILED: i16 = ResponseError::FeatureUpdateFailed.code();
/// Request principal deserialization failed during forwarding. This indicates an internal error on the broker cluster security setup.
pub const PRINCIPAL_DESERIALIZATION_FAILURE: i16 =
    ResponseError::PrincipalDeserializationFailure.code();
/// Requested snapshot was not found
pub const SNAPSHOT_NOT_FOUND: i16 = ResponseError::SnapshotNotFound.code();
/// Requested position is not greater than or equal to zero, and less than the size of the snapshot.
pub const POSITION_OUT_OF_RANGE: i16 = ResponseError::PositionOutOfRange.code();
/// This server does not host this topic ID. (retriable)
pub const UNKNOWN_TOPIC_ID: i16 = ResponseError::UnknownTopicId.code();
/// This broker ID is already in use.
pub const DUPLICATE_BROKER_REGISTRATION: i16 = ResponseError::DuplicateBrokerRegistration.code();
/// The given broker ID was not registered.
pub const BROKER_ID_NOT_REGISTERED: i16 = ResponseError::BrokerIdNotRegistered.code();
/// The log's topic ID did not match the topic ID in the request (retriable)
pub const INCONSISTENT_TOPIC_ID: i16 = ResponseError::InconsistentTopicId.code();
/// The clusterId in the request does not match that found on the server
pub const INCONSISTENT_CLUSTER_ID: i16 = ResponseError::InconsistentClusterId.code();
/// The transactionalId could not be found
pub const TRANSACTIONAL_ID_NOT_FOUND: i16 = ResponseError::TransactionalIdNotFound.code();
/// The fetch session encountered inconsistent topic ID usage (retriable)
pub const FETCH_SESSION_TOPIC_ID_ERROR: i16 = ResponseError::FetchSessionTopicIdError.code();
/// The new ISR contains at least one ineligible replica.
pub const INELIGIBLE_REPLICA: i16 = ResponseError::IneligibleReplica.code();
/// The AlterPartition request successfully updated the partition state but the leader has changed.
pub const NEW_LEADER_ELECTED: i16 = ResponseError::NewLeaderElected.code();
/// The requested offset is moved to tiered storage.
pub const OFFSET_MOVED_TO_TIERED_STORAGE: i16 = ResponseError::OffsetMovedToTieredStorage.code();
/// The member epoch is fenced by the group coordinator. The member must abandon all its partitions and rejoin.
pub const FENCED_MEMBER_EPOCH: i16 = ResponseError::FencedMemberEpoch.code();
/// The instance ID is still used by another member in the consumer group. That member must leave first.
pub const UNRELEASED_INSTANCE_ID: i16 = ResponseError::UnreleasedInstanceId.code();
/// The assignor or its version range is not supported by the consumer group.
pub const UNSUPPORTED_ASSIGNOR: i16 = ResponseError::UnsupportedAssignor.code();
/// The member epoch is stale. The member must retry after receiving its updated member epoch via the ConsumerGroupHeartbeat API.
pub const STALE_MEMBER_EPOCH: i16 = ResponseError::StaleMemberEpoch.code();
/// The request was sent to an endpoint of the wrong type.
pub const MISMATCHED_ENDPOINT_TYPE: i16 = ResponseError::MismatchedEndpointType.code();
/// This endpoint type is not supported yet.
pub const UNSUPPORTED_ENDPOINT_TYPE: i16 = ResponseError::UnsupportedEndpointType.code();
/// This controller ID is not known.
pub const UNKNOWN_CONTROLLER_ID: i16 = ResponseError::UnknownControllerId.code();
/// Client sent a push telemetry request with an invalid or outdated subscription ID.
pub const UNKNOWN_SUBSCRIPTION_ID: i16 = ResponseError::UnknownSubscriptionId.code();
/// Client sent a push telemetry request larger than the maximum size the broker will accept.
pub const TELEMETRY_TOO_LARGE: i16 = ResponseError::TelemetryTooLarge.code();
/// The controller has considered the broker registration to be invalid.
pub const INVALID_REGISTRATION: i16 = ResponseError::InvalidRegistration.code();
/// The server encountered an error with the transaction. The client can abort the transaction to continue using this transactional ID.
pub const TRANSACTION_ABORTABLE: i16 = ResponseError::TransactionAbortable.code();
/// The record state is invalid. The acknowledgement of delivery could not be completed.
pub const INVALID_RECORD_STATE: i16 = ResponseError::InvalidRecordState.code();
/// The share session was not found. (retriable)
pub const SHARE_SESSION_NOT_FOUND: i16 = ResponseError::ShareSessionNotFound.code();
/// The share session epoch is invalid. (retriable)
pub const INVALID_SHARE_SESSION_EPOCH: i16 = ResponseError::InvalidShareSessionEpoch.code();
/// The share coordinator rejected the request because the share-group state epoch did not match.
pub const FENCED_STATE_EPOCH: i16 = ResponseError::FencedStateEpoch.code();
/// The voter key doesn't match the receiving replica's key.
pub const INVALID_VOTER_KEY: i16 = ResponseError::InvalidVoterKey.code();
/// The voter is already part of the set of voters.
pub const DUPLICATE_VOTER: i16 = ResponseError::DuplicateVoter.code();
/// The voter is not part of the set of voters.
pub const VOTER_NOT_FOUND: i16 = ResponseError::VoterNotFound.code();
/// The regular expression is not valid.
pub const INVALID_REGULAR_EXPRESSION: i16 = ResponseError::InvalidRegularExpression.code();
/// Client metadata is stale, client should rebootstrap to obtain new metadata.
pub const REBOOTSTRAP_REQUIRED: i16 = ResponseError::RebootstrapRequired.code();
/// The supplied topology is invalid.
pub const STREAMS_INVALID_TOPOLOGY: i16 = ResponseError::StreamsInvalidTopology.code();
/// The supplied topology epoch is invalid.
pub const STREAMS_INVALID_TOPOLOGY_EPOCH: i16 = ResponseError::StreamsInvalidTopologyEpoch.code();
/// The supplied topology epoch is outdated.
pub const STREAMS_TOPOLOGY_FENCED: i16 = ResponseError::StreamsTopologyFenced.code();
/// The limit of share sessions has been reached. (retriable)
pub const SHARE_SESSION_LIMIT_REACHED: i16 = ResponseError::ShareSessionLimitReached.code();

/// The Kafka name of an error code (`NONE` for 0, `UNKNOWN_MEMBER_ID` for 25), or `None` for a code
/// kafka-protocol does not know.
pub fn name(code: i16) -> Option<&'static str> {
    if code == NONE {
        return Some("NONE");
    }
    NAMES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, name)| *name)
}

/// Every code with its Kafka name, in Kafka's order.
pub const NAMES: &[(i16, &str)] = &[
    (UNKNOWN_SERVER_ERROR, "UNKNOWN_SERVER_ERROR"),
    (OFFSET_OUT_OF_RANGE, "OFFSET_OUT_OF_RANGE"),
    (CORRUPT_MESSAGE, "CORRUPT_MESSAGE"),
    (UNKNOWN_TOPIC_OR_PARTITION, "UNKNOWN_TOPIC_OR_PARTITION"),
    (INVALID_FETCH_SIZE, "INVALID_FETCH_SIZE"),
    (LEADER_NOT_AVAILABLE, "LEADER_NOT_AVAILABLE"),
    (NOT_LEADER_OR_FOLLOWER, "NOT_LEADER_OR_FOLLOWER"),
    (REQUEST_TIMED_OUT, "REQUEST_TIMED_OUT"),
    (BROKER_NOT_AVAILABLE, "BROKER_NOT_AVAILABLE"),
    (REPLICA_NOT_AVAILABLE, "REPLICA_NOT_AVAILABLE"),
    (MESSAGE_TOO_LARGE, "MESSAGE_TOO_LARGE"),
    (STALE_CONTROLLER_EPOCH, "STALE_CONTROLLER_EPOCH"),
    (OFFSET_METADATA_TOO_LARGE, "OFFSET_METADATA_TOO_LARGE"),
    (NETWORK_EXCEPTION, "NETWORK_EXCEPTION"),
    (COORDINATOR_LOAD_IN_PROGRESS, "COORDINATOR_LOAD_IN_PROGRESS"),
    (COORDINATOR_NOT_AVAILABLE, "COORDINATOR_NOT_AVAILABLE"),
    (NOT_COORDINATOR, "NOT_COORDINATOR"),
    (INVALID_TOPIC_EXCEPTION, "INVALID_TOPIC_EXCEPTION"),
    (RECORD_LIST_TOO_LARGE, "RECORD_LIST_TOO_LARGE"),
    (NOT_ENOUGH_REPLICAS, "NOT_ENOUGH_REPLICAS"),
    (
        NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
    ),
    (INVALID_REQUIRED_ACKS, "INVALID_REQUIRED_ACKS"),
    (ILLEGAL_GENERATION, "ILLEGAL_GENERATION"),
    (INCONSISTENT_GROUP_PROTOCOL, "INCONSISTENT_GROUP_PROTOCOL"),
    (INVALID_GROUP_ID, "INVALID_GROUP_ID"),
    (UNKNOWN_MEMBER_ID, "UNKNOWN_MEMBER_ID"),
    (INVALID_SESSION_TIMEOUT, "INVALID_SESSION_TIMEOUT"),
    (REBALANCE_IN_PROGRESS, "REBALANCE_IN_PROGRESS"),
    (INVALID_COMMIT_OFFSET_SIZE, "INVALID_COMMIT_OFFSET_SIZE"),
    (TOPIC_AUTHORIZATION_FAILED, "TOPIC_AUTHORIZATION_FAILED"),
    (GROUP_AUTHORIZATION_FAILED, "GROUP_AUTHORIZATION_FAILED"),
    (CLUSTER_AUTHORIZATION_FAILED, "CLUSTER_AUTHORIZATION_FAILED"),
    (INVALID_TIMESTAMP, "INVALID_TIMESTAMP"),
    (UNSUPPORTED_SASL_MECHANISM, "UNSUPPORTED_SASL_MECHANISM"),
    (ILLEGAL_SASL_STATE, "ILLEGAL_SASL_STATE"),
    (UNSUPPORTED_VERSION, "UNSUPPORTED_VERSION"),
    (TOPIC_ALREADY_EXISTS, "TOPIC_ALREADY_EXISTS"),
    (INVALID_PARTITIONS, "INVALID_PARTITIONS"),
    (INVALID_REPLICATION_FACTOR, "INVALID_REPLICATION_FACTOR"),
    (INVALID_REPLICA_ASSIGNMENT, "INVALID_REPLICA_ASSIGNMENT"),
    (INVALID_CONFIG, "INVALID_CONFIG"),
    (NOT_CONTROLLER, "NOT_CONTROLLER"),
    (INVALID_REQUEST, "INVALID_REQUEST"),
    (
        UNSUPPORTED_FOR_MESSAGE_FORMAT,
        "UNSUPPORTED_FOR_MESSAGE_FORMAT",
    ),
    (POLICY_VIOLATION, "POLICY_VIOLATION"),
    (OUT_OF_ORDER_SEQUENCE_NUMBER, "OUT_OF_ORDER_SEQUENCE_NUMBER"),
    (DUPLICATE_SEQUENCE_NUMBER, "DUPLICATE_SEQUENCE_NUMBER"),
    (INVALID_PRODUCER_EPOCH, "INVALID_PRODUCER_EPOCH"),
    (INVALID_TXN_STATE, "INVALID_TXN_STATE"),
    (INVALID_PRODUCER_ID_MAPPING, "INVALID_PRODUCER_ID_MAPPING"),
    (INVALID_TRANSACTION_TIMEOUT, "INVALID_TRANSACTION_TIMEOUT"),
    (CONCURRENT_TRANSACTIONS, "CONCURRENT_TRANSACTIONS"),
    (
        TRANSACTION_COORDINATOR_FENCED,
        "TRANSACTION_COORDINATOR_FENCED",
    ),
    (
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
    ),
    (SECURITY_DISABLED, "SECURITY_DISABLED"),
    (OPERATION_NOT_ATTEMPTED, "OPERATION_NOT_ATTEMPTED"),
    (KAFKA_STORAGE_ERROR, "KAFKA_STORAGE_ERROR"),
    (LOG_DIR_NOT_FOUND, "LOG_DIR_NOT_FOUND"),
    (SASL_AUTHENTICATION_FAILED, "SASL_AUTHENTICATION_FAILED"),
    (UNKNOWN_PRODUCER_ID, "UNKNOWN_PRODUCER_ID"),
    (REASSIGNMENT_IN_PROGRESS, "REASSIGNMENT_IN_PROGRESS"),
    (
        DELEGATION_TOKEN_AUTH_DISABLED,
        "DELEGATION_TOKEN_AUTH_DISABLED",
    ),
    (DELEGATION_TOKEN_NOT_FOUND, "DELEGATION_TOKEN_NOT_FOUND"),
    (
        DELEGATION_TOKEN_OWNER_MISMATCH,
        "DELEGATION_TOKEN_OWNER_MISMATCH",
    ),
    (
        DELEGATION_TOKEN_REQUEST_NOT_ALLOWED,
        "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED",
    ),
    (
        DELEGATION_TOKEN_AUTHORIZATION_FAILED,
        "DELEGATION_TOKEN_AUTHORIZATION_FAILED",
    ),
    (DELEGATION_TOKEN_EXPIRED, "DELEGATION_TOKEN_EXPIRED"),
    (INVALID_PRINCIPAL_TYPE, "INVALID_PRINCIPAL_TYPE"),
    (NON_EMPTY_GROUP, "NON_EMPTY_GROUP"),
    (GROUP_ID_NOT_FOUND, "GROUP_ID_NOT_FOUND"),
    (FETCH_SESSION_ID_NOT_FOUND, "FETCH_SESSION_ID_NOT_FOUND"),
    (INVALID_FETCH_SESSION_EPOCH, "INVALID_FETCH_SESSION_EPOCH"),
    (LISTENER_NOT_FOUND, "LISTENER_NOT_FOUND"),
    (TOPIC_DELETION_DISABLED, "TOPIC_DELETION_DISABLED"),
    (FENCED_LEADER_EPOCH, "FENCED_LEADER_EPOCH"),
    (UNKNOWN_LEADER_EPOCH, "UNKNOWN_LEADER_EPOCH"),
    (UNSUPPORTED_COMPRESSION_TYPE, "UNSUPPORTED_COMPRESSION_TYPE"),
    (STALE_BROKER_EPOCH, "STALE_BROKER_EPOCH"),
    (OFFSET_NOT_AVAILABLE, "OFFSET_NOT_AVAILABLE"),
    (MEMBER_ID_REQUIRED, "MEMBER_ID_REQUIRED"),
    (
        PREFERRED_LEADER_NOT_AVAILABLE,
        "PREFERRED_LEADER_NOT_AVAILABLE",
    ),
    (GROUP_MAX_SIZE_REACHED, "GROUP_MAX_SIZE_REACHED"),
    (FENCED_INSTANCE_ID, "FENCED_INSTANCE_ID"),
    (
        ELIGIBLE_LEADERS_NOT_AVAILABLE,
        "ELIGIBLE_LEADERS_NOT_AVAILABLE",
    ),
    (ELECTION_NOT_NEEDED, "ELECTION_NOT_NEEDED"),
    (NO_REASSIGNMENT_IN_PROGRESS, "NO_REASSIGNMENT_IN_PROGRESS"),
    (GROUP_SUBSCRIBED_TO_TOPIC, "GROUP_SUBSCRIBED_TO_TOPIC"),
    (INVALID_RECORD, "INVALID_RECORD"),
    (UNSTABLE_OFFSET_COMMIT, "UNSTABLE_OFFSET_COMMIT"),
    (THROTTLING_QUOTA_EXCEEDED, "THROTTLING_QUOTA_EXCEEDED"),
    (PRODUCER_FENCED, "PRODUCER_FENCED"),
    (RESOURCE_NOT_FOUND, "RESOURCE_NOT_FOUND"),
    (DUPLICATE_RESOURCE, "DUPLICATE_RESOURCE"),
    (UNACCEPTABLE_CREDENTIAL, "UNACCEPTABLE_CREDENTIAL"),
    (INCONSISTENT_VOTER_SET, "INCONSISTENT_VOTER_SET"),
    (INVALID_UPDATE_VERSION, "INVALID_UPDATE_VERSION"),
    (FEATURE_UPDATE_FAILED, "FEATURE_UPDATE_FAILED"),
    (
        PRINCIPAL_DESERIALIZATION_FAILURE,
        "PRINCIPAL_DESERIALIZATION_FAILURE",
    ),
    (SNAPSHOT_NOT_FOUND, "SNAPSHOT_NOT_FOUND"),
    (POSITION_OUT_OF_RANGE, "POSITION_OUT_OF_RANGE"),
    (UNKNOWN_TOPIC_ID, "UNKNOWN_TOPIC_ID"),
    (
        DUPLICATE_BROKER_REGISTRATION,
        "DUPLICATE_BROKER_REGISTRATION",
    ),
    (BROKER_ID_NOT_REGISTERED, "BROKER_ID_NOT_REGISTERED"),
    (INCONSISTENT_TOPIC_ID, "INCONSISTENT_TOPIC_ID"),
    (INCONSISTENT_CLUSTER_ID, "INCONSISTENT_CLUSTER_ID"),
    (TRANSACTIONAL_ID_NOT_FOUND, "TRANSACTIONAL_ID_NOT_FOUND"),
    (FETCH_SESSION_TOPIC_ID_ERROR, "FETCH_SESSION_TOPIC_ID_ERROR"),
    (INELIGIBLE_REPLICA, "INELIGIBLE_REPLICA"),
    (NEW_LEADER_ELECTED, "NEW_LEADER_ELECTED"),
    (
        OFFSET_MOVED_TO_TIERED_STORAGE,
        "OFFSET_MOVED_TO_TIERED_STORAGE",
    ),
    (FENCED_MEMBER_EPOCH, "FENCED_MEMBER_EPOCH"),
    (UNRELEASED_INSTANCE_ID, "UNRELEASED_INSTANCE_ID"),
    (UNSUPPORTED_ASSIGNOR, "UNSUPPORTED_ASSIGNOR"),
    (STALE_MEMBER_EPOCH, "STALE_MEMBER_EPOCH"),
    (MISMATCHED_ENDPOINT_TYPE, "MISMATCHED_ENDPOINT_TYPE"),
    (UNSUPPORTED_ENDPOINT_TYPE, "UNSUPPORTED_ENDPOINT_TYPE"),
    (UNKNOWN_CONTROLLER_ID, "UNKNOWN_CONTROLLER_ID"),
    (UNKNOWN_SUBSCRIPTION_ID, "UNKNOWN_SUBSCRIPTION_ID"),
    (TELEMETRY_TOO_LARGE, "TELEMETRY_TOO_LARGE"),
    (INVALID_REGISTRATION, "INVALID_REGISTRATION"),
    (TRANSACTION_ABORTABLE, "TRANSACTION_ABORTABLE"),
    (INVALID_RECORD_STATE, "INVALID_RECORD_STATE"),
    (SHARE_SESSION_NOT_FOUND, "SHARE_SESSION_NOT_FOUND"),
    (INVALID_SHARE_SESSION_EPOCH, "INVALID_SHARE_SESSION_EPOCH"),
    (FENCED_STATE_EPOCH, "FENCED_STATE_EPOCH"),
    (INVALID_VOTER_KEY, "INVALID_VOTER_KEY"),
    (DUPLICATE_VOTER, "DUPLICATE_VOTER"),
    (VOTER_NOT_FOUND, "VOTER_NOT_FOUND"),
    (INVALID_REGULAR_EXPRESSION, "INVALID_REGULAR_EXPRESSION"),
    (REBOOTSTRAP_REQUIRED, "REBOOTSTRAP_REQUIRED"),
    (STREAMS_INVALID_TOPOLOGY, "STREAMS_INVALID_TOPOLOGY"),
    (
        STREAMS_INVALID_TOPOLOGY_EPOCH,
        "STREAMS_INVALID_TOPOLOGY_EPOCH",
    ),
    (STREAMS_TOPOLOGY_FENCED, "STREAMS_TOPOLOGY_FENCED"),
    (SHARE_SESSION_LIMIT_REACHED, "SHARE_SESSION_LIMIT_REACHED"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_a_constant() {
        for code in -1..=200 {
            let known = matches!(
                ResponseError::try_from_code(code),
                Some(error) if !matches!(error, ResponseError::Unknown(_))
            );
            assert_eq!(known, name(code).is_some() && code != NONE, "code {code}");
        }
        assert_eq!(name(25), Some("UNKNOWN_MEMBER_ID"));
        assert_eq!(UNKNOWN_MEMBER_ID, 25);
        assert_eq!(name(0), Some("NONE"));
    }
}
