//! KIP-430 authorized operations, as a Kafka broker without an authorizer reports them.
//!
//! A client that asks (Metadata v8+ `include_topic_authorized_operations`, Metadata v8–10
//! `include_cluster_authorized_operations`, DescribeGroups v3+ `include_authorized_operations`)
//! gets a 32-bit field with bit `1 << code` set for every operation the resource type supports:
//! with no authorizer every supported operation is allowed. A client that does not ask gets the
//! schema's sentinel, [`OMITTED`] (`i32::MIN`).
//!
//! # References
//! - Kafka `AuthHelper.authorizedOperations` (no authorizer: every supported operation),
//!   `AclEntry.supportedOperations` (the operations per resource type),
//!   `AclOperation` (the codes), `Utils.to32BitField`.
//! - KIP-430: authorized operations in Metadata and DescribeGroups.

/// `authorized_operations` when the client did not ask (Kafka's schema default, `Int.MinValue`).
pub const OMITTED: i32 = i32::MIN;

/// Kafka's `AclOperation` codes.
mod operation {
    pub(super) const READ: u8 = 3;
    pub(super) const WRITE: u8 = 4;
    pub(super) const CREATE: u8 = 5;
    pub(super) const DELETE: u8 = 6;
    pub(super) const ALTER: u8 = 7;
    pub(super) const DESCRIBE: u8 = 8;
    pub(super) const CLUSTER_ACTION: u8 = 9;
    pub(super) const DESCRIBE_CONFIGS: u8 = 10;
    pub(super) const ALTER_CONFIGS: u8 = 11;
    pub(super) const IDEMPOTENT_WRITE: u8 = 12;
}

use operation::*;

/// Kafka's `Utils.to32BitField`: bit `code` set for each operation.
const fn bit_field(codes: &[u8]) -> i32 {
    let mut field = 0i32;
    let mut i = 0;
    while i < codes.len() {
        field |= 1 << codes[i];
        i += 1;
    }
    field
}

/// Every operation on a topic: READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS,
/// ALTER_CONFIGS.
pub const TOPIC: i32 = bit_field(&[
    READ,
    WRITE,
    CREATE,
    DELETE,
    ALTER,
    DESCRIBE,
    DESCRIBE_CONFIGS,
    ALTER_CONFIGS,
]);

/// Every operation on a group (Kafka 4: READ, DESCRIBE, DELETE, DESCRIBE_CONFIGS, ALTER_CONFIGS;
/// the last two came with KIP-848's group configs).
pub const GROUP: i32 = bit_field(&[READ, DESCRIBE, DELETE, DESCRIBE_CONFIGS, ALTER_CONFIGS]);

/// Every operation on the cluster: CREATE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS,
/// IDEMPOTENT_WRITE, ALTER, DESCRIBE.
pub const CLUSTER: i32 = bit_field(&[
    CREATE,
    CLUSTER_ACTION,
    DESCRIBE_CONFIGS,
    ALTER_CONFIGS,
    IDEMPOTENT_WRITE,
    ALTER,
    DESCRIBE,
]);

/// `operations` when the client asked for them, [`OMITTED`] otherwise.
pub fn if_requested(requested: bool, operations: i32) -> i32 {
    if requested { operations } else { OMITTED }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_match_kafka_without_an_authorizer() {
        // The values Kafka 4 reports (AuthHelper.authorizedOperations with no authorizer).
        assert_eq!(TOPIC, 0b1101_1111_1000);
        assert_eq!(GROUP, 0b1101_0100_1000);
        assert_eq!(CLUSTER, 0b1_1111_1010_0000);
        assert_eq!(if_requested(false, TOPIC), i32::MIN);
        assert_eq!(if_requested(true, GROUP), GROUP);
    }
}
