//! Seeds of the transaction APIs: InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn,
//! TxnOffsetCommit, EndTxn, DescribeTransactions, ListTransactions, and a transactional flow
//! (init, add a partition and a group, a transactional produce, an offset commit in the
//! transaction, commit, a read_committed fetch, describe and list). A fresh core hands out
//! producer id [`crate::txn::FIRST_PRODUCER_ID`] with epoch 0 first, so the seeds name that
//! producer and the flow's requests succeed.

use bytes::{Bytes, BytesMut};
use kmock_wire::kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kmock_wire::kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kmock_wire::kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, ApiKey, DescribeTransactionsRequest,
    EndTxnRequest, InitProducerIdRequest, ListTransactionsRequest, ProduceRequest, ProducerId,
    TransactionalId, TxnOffsetCommitRequest,
};
use kmock_wire::kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::{Seed, first_encodable, group_id, seed_for as plain_seed_for, str_bytes, topic_name};
use crate::txn::FIRST_PRODUCER_ID;

const TRANSACTIONAL_ID: &str = "fuzz-txn";

fn transactional_id() -> TransactionalId {
    TransactionalId(str_bytes(TRANSACTIONAL_ID))
}

fn producer_id() -> ProducerId {
    ProducerId(FIRST_PRODUCER_ID)
}

fn topics() -> Vec<AddPartitionsToTxnTopic> {
    vec![
        AddPartitionsToTxnTopic::default()
            .with_name(topic_name())
            .with_partitions(vec![0]),
    ]
}

/// A transactional batch of the seeds' producer.
fn transactional_batch() -> Bytes {
    let records: Vec<Record> = (0..2)
        .map(|i| Record {
            transactional: true,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: FIRST_PRODUCER_ID,
            producer_epoch: 0,
            timestamp_type: TimestampType::Creation,
            offset: i,
            sequence: i as i32,
            timestamp: 1_000 + i,
            key: None,
            value: Some(Bytes::from(format!("txn-{i}"))),
            headers: Default::default(),
        })
        .collect();
    let mut buffer = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buffer,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("a small batch encodes");
    buffer.freeze()
}

/// The seed of a transaction API at `version`, `None` for other APIs.
pub(super) fn seed_for(api_key: ApiKey, version: i16, c: i32) -> Option<Bytes> {
    match api_key {
        ApiKey::InitProducerId => first_encodable(
            vec![
                InitProducerIdRequest::default()
                    .with_transactional_id(Some(transactional_id()))
                    .with_transaction_timeout_ms(60_000)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            ],
            version,
            c,
        ),
        ApiKey::AddPartitionsToTxn => first_encodable(
            vec![
                AddPartitionsToTxnRequest::default().with_transactions(vec![
                    AddPartitionsToTxnTransaction::default()
                        .with_transactional_id(transactional_id())
                        .with_producer_id(producer_id())
                        .with_topics(topics()),
                    AddPartitionsToTxnTransaction::default()
                        .with_transactional_id(transactional_id())
                        .with_producer_id(producer_id())
                        .with_verify_only(true)
                        .with_topics(topics()),
                ]),
                AddPartitionsToTxnRequest::default()
                    .with_v3_and_below_transactional_id(transactional_id())
                    .with_v3_and_below_producer_id(producer_id())
                    .with_v3_and_below_topics(topics()),
            ],
            version,
            c,
        ),
        ApiKey::AddOffsetsToTxn => first_encodable(
            vec![
                AddOffsetsToTxnRequest::default()
                    .with_transactional_id(transactional_id())
                    .with_producer_id(producer_id())
                    .with_group_id(group_id()),
            ],
            version,
            c,
        ),
        ApiKey::TxnOffsetCommit => first_encodable(
            vec![
                TxnOffsetCommitRequest::default()
                    .with_transactional_id(transactional_id())
                    .with_group_id(group_id())
                    .with_producer_id(producer_id())
                    .with_generation_id(-1)
                    .with_topics(vec![
                        TxnOffsetCommitRequestTopic::default()
                            .with_name(topic_name())
                            .with_partitions(vec![
                                TxnOffsetCommitRequestPartition::default()
                                    .with_partition_index(0)
                                    .with_committed_offset(2)
                                    .with_committed_metadata(Some(str_bytes("fuzz"))),
                            ]),
                    ]),
            ],
            version,
            c,
        ),
        ApiKey::EndTxn => first_encodable(
            vec![
                EndTxnRequest::default()
                    .with_transactional_id(transactional_id())
                    .with_producer_id(producer_id())
                    .with_committed(true),
            ],
            version,
            c,
        ),
        ApiKey::DescribeTransactions => first_encodable(
            vec![
                DescribeTransactionsRequest::default().with_transactional_ids(vec![
                    transactional_id(),
                    TransactionalId(str_bytes("")),
                ]),
            ],
            version,
            c,
        ),
        ApiKey::ListTransactions => first_encodable(
            vec![
                ListTransactionsRequest::default()
                    .with_state_filters(vec![str_bytes("Ongoing"), str_bytes("Bogus")])
                    .with_duration_filter(-1)
                    .with_transactional_id_pattern(Some(str_bytes("fuzz-.*"))),
            ],
            version,
            c,
        ),
        _ => None,
    }
}

/// A transactional produce of the seeds' producer.
fn transactional_produce(version: i16, c: i32) -> Option<Bytes> {
    let mut request: ProduceRequest =
        super::produce(Compression::None).with_transactional_id(Some(transactional_id()));
    request.topic_data[0].partition_data[0].records = Some(transactional_batch());
    first_encodable(vec![request], version, c)
}

/// A read_committed fetch.
fn read_committed_fetch(version: i16, c: i32) -> Option<Bytes> {
    first_encodable(
        vec![super::fetch(false).with_isolation_level(1)],
        version,
        c,
    )
}

/// The transactional flow (see the module docs).
pub(super) fn flow() -> Seed {
    let steps: [Option<Bytes>; 11] = [
        plain_seed_for(ApiKey::CreateTopics, 7, 1),
        seed_for(ApiKey::InitProducerId, 4, 2),
        seed_for(ApiKey::AddPartitionsToTxn, 3, 3),
        transactional_produce(9, 4),
        seed_for(ApiKey::AddOffsetsToTxn, 3, 5),
        seed_for(ApiKey::TxnOffsetCommit, 3, 6),
        read_committed_fetch(11, 7),
        seed_for(ApiKey::EndTxn, 3, 8),
        read_committed_fetch(11, 9),
        seed_for(ApiKey::DescribeTransactions, 0, 10),
        seed_for(ApiKey::ListTransactions, 1, 11),
    ];
    let mut bytes = BytesMut::new();
    for frame in steps.into_iter().flatten() {
        bytes.extend_from_slice(&frame);
    }
    Seed {
        name: "flow-transaction".to_owned(),
        bytes: bytes.freeze(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BrokerCore;
    use crate::txn::TransactionState;

    #[test]
    fn the_transaction_flow_commits_its_records_and_offsets() {
        let mut core = BrokerCore::new(super::super::fuzz_config());
        let outcome = super::super::run_on(&mut core, &flow().bytes);
        assert_eq!(outcome.closes, 0, "{outcome:?}");
        let txn = core.transactions().transaction(TRANSACTIONAL_ID).unwrap();
        assert_eq!(txn.state, TransactionState::CompleteCommit);
        assert_eq!(
            core.groups().committed_offset("fuzz-group", "fuzz", 0),
            Some(2)
        );
        assert_eq!(core.logs().last_stable_offset("fuzz", 0), Some(3));
    }
}
