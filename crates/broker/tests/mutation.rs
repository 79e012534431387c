//! Malformed input: valid request frames for every API and version (the fuzz seeds), mutated with
//! bit flips, truncation, wrong length prefixes, wrong versions and API keys, huge array counts,
//! inserted and deleted bytes, run through the broker core (`kmock_core::fuzz::run_input`,
//! the same function the fuzz target calls).
//!
//! Properties: the core never panics; one input never allocates more than a small multiple of the
//! frame limit (enforced by a counting global allocator whose limit turns an oversized allocation
//! into a test failure); nothing stays allocated after the core is dropped; over the in-memory
//! server, a malformed request gets an error answer or closes only its own connection.
//!
//! `PROPTEST_CASES` scales the mutation suite (default 20,000 cases). Compressed batches that would
//! decompress beyond `MAX_DECOMPRESSED_BATCH_BYTES` (gzip and snappy "zip bombs") are checked too.

use std::alloc::System;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use cap::Cap;
use kmock_broker::BrokerConfig;
use kmock_broker::server::{Broker, MemoryNetwork};
use kmock_core::fuzz::{FUZZ_MAX_FRAME_BYTES, Seed, run_input, seeds};
use kmock_wire::kafka_protocol::compression::MAX_DECOMPRESSED_BATCH_BYTES;
use kmock_wire::kafka_protocol::messages::{
    ApiVersionsRequest, BrokerId, ListOffsetsRequest, ProduceRequest, ResponseKind, TopicName,
    list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic},
    produce_request::{PartitionProduceData, TopicProduceData},
};
use kmock_wire::kafka_protocol::protocol::StrBytes;
use proptest::prelude::*;
use proptest::sample::Index;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// What one mutated input may allocate beyond what was live before it: the frame limit of the
/// fuzzed broker, a few times over (the input itself is at most a few KiB).
const INPUT_ALLOCATION_BUDGET_BYTES: usize = 4 * FUZZ_MAX_FRAME_BYTES;

/// Tests in this binary share the allocator's limit: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `f` with the allocator limited to what is live now plus `budget`. Exceeding it makes the
/// allocation fail, which aborts the test binary: a failure no input may cause.
fn with_allocation_budget<R>(budget: usize, f: impl FnOnce() -> R) -> R {
    let before = ALLOCATOR.allocated();
    ALLOCATOR
        .set_limit(before + budget)
        .expect("the limit is above what is allocated");
    let result = f();
    ALLOCATOR.set_limit(usize::MAX).expect("no limit");
    result
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    Truncate(Index),
    /// The first frame's length prefix.
    LengthPrefix(i32),
    /// The first frame's request API version.
    Version(i16),
    /// The first frame's request API key.
    ApiKey(i16),
    /// A 4-byte big-endian count (array length, string length, record count...) at a position.
    HugeCount(Index, u32),
    /// A large unsigned varint (compact arrays and strings of flexible versions).
    HugeVarint(Index),
    Insert(Index, Vec<u8>),
    Delete(Index, u8),
    /// The input twice (pipelined requests).
    Repeat,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let huge = prop_oneof![
        Just(0x7fff_ffffu32),
        Just(0xffff_ffff),
        Just(0x8000_0000),
        Just(0x0100_0000),
        any::<u32>(),
    ];
    prop_oneof![
        4 => (any::<Index>(), 0..8u8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        2 => any::<Index>().prop_map(Mutation::Truncate),
        1 => prop_oneof![Just(-1), Just(0), Just(i32::MAX), Just(1), any::<i32>()]
            .prop_map(Mutation::LengthPrefix),
        2 => prop_oneof![Just(-1i16), Just(i16::MAX), 0..20i16].prop_map(Mutation::Version),
        1 => prop_oneof![Just(-1i16), 0..80i16].prop_map(Mutation::ApiKey),
        3 => (any::<Index>(), huge).prop_map(|(i, v)| Mutation::HugeCount(i, v)),
        2 => any::<Index>().prop_map(Mutation::HugeVarint),
        1 => (any::<Index>(), proptest::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<Index>(), 1..32u8).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => Just(Mutation::Repeat),
    ]
}

fn apply(input: &mut Vec<u8>, mutation: &Mutation) {
    let len = input.len();
    let at = |index: &Index| if len == 0 { 0 } else { index.index(len) };
    match mutation {
        Mutation::FlipBit(i, bit) if len > 0 => input[at(i)] ^= 1 << bit,
        Mutation::SetByte(i, byte) if len > 0 => input[at(i)] = *byte,
        Mutation::Truncate(i) => input.truncate(at(i)),
        Mutation::LengthPrefix(value) if len >= 4 => {
            input[..4].copy_from_slice(&value.to_be_bytes());
        }
        Mutation::ApiKey(value) if len >= 6 => input[4..6].copy_from_slice(&value.to_be_bytes()),
        Mutation::Version(value) if len >= 8 => input[6..8].copy_from_slice(&value.to_be_bytes()),
        Mutation::HugeCount(i, value) if len >= 4 => {
            let at = at(i).min(len - 4);
            input[at..at + 4].copy_from_slice(&value.to_be_bytes());
        }
        Mutation::HugeVarint(i) if len >= 5 => {
            let at = at(i).min(len - 5);
            input[at..at + 5].copy_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x07]);
        }
        Mutation::Insert(i, bytes) => {
            let at = at(i);
            input.splice(at..at, bytes.iter().copied());
        }
        Mutation::Delete(i, n) if len > 0 => {
            let at = at(i);
            input.drain(at..(at + usize::from(*n)).min(len));
        }
        Mutation::Repeat => input.extend_from_within(..),
        _ => {}
    }
}

fn seed_strategy() -> impl Strategy<Value = Seed> {
    proptest::sample::select(seeds())
}

/// Runs a mutated input under the allocation budget and checks nothing stays allocated after it.
///
/// The allocator counts every thread of this test binary, and other tests' threads allocate while
/// they generate their next case, so a "leak" is only reported when the same input shows it on
/// every one of a few runs, spaced out (a real leak is deterministic; that noise is not).
fn check_input(input: &[u8]) {
    let mut leaked = Vec::new();
    for pause_ms in [0, 20, 100, 500, 2_000] {
        // Let another test's thread finish what it is allocating (only after a suspect run).
        std::thread::sleep(Duration::from_millis(pause_ms));
        let before = ALLOCATOR.allocated();
        let outcome = with_allocation_budget(INPUT_ALLOCATION_BUDGET_BYTES, || run_input(input));
        let after = ALLOCATOR.allocated();
        // A little slack for lazily initialised statics (e.g. tracing's callsite registry).
        if after <= before + 64 * 1024 {
            return;
        }
        leaked.push((after - before, outcome));
    }
    panic!("bytes still allocated after each run of the input: {leaked:?}");
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 20_000,
        failure_persistence: None,
        // The same inputs on every run (CI); PROPTEST_RNG_SEED explores others.
        rng_seed: proptest::test_runner::RngSeed::Fixed(20_261_127),
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_requests_never_panic_or_over_allocate(
        seed in seed_strategy(),
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        let _serial = serial();
        let mut input = seed.bytes.to_vec();
        for mutation in &mutations {
            apply(&mut input, mutation);
        }
        check_input(&input);
    }

    #[test]
    fn random_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _serial = serial();
        check_input(&input);
    }
}

/// Every seed, and every seed with each single mutation class at a few positions, deterministically.
#[test]
fn every_seed_survives_truncation_at_every_length() {
    let _serial = serial();
    for seed in seeds() {
        for keep in 0..seed.bytes.len() {
            check_input(&seed.bytes[..keep]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Compressed batches: a peer's "zip bomb" must not be inflated beyond the bound.

/// A magic-v2 batch header (one record, timestamps 1000) around `payload`, with its CRC.
fn batch_with_payload(compression: i16, payload: &[u8]) -> Bytes {
    let mut batch = BytesMut::new();
    batch.put_i64(0); // base offset
    batch.put_i32((49 + payload.len()) as i32); // batch length: from the leader epoch on
    batch.put_i32(-1); // partition leader epoch
    batch.put_i8(2); // magic
    batch.put_u32(0); // crc, below
    batch.put_i16(compression); // attributes
    batch.put_i32(0); // last offset delta
    batch.put_i64(1_000); // base timestamp
    batch.put_i64(1_000); // max timestamp
    batch.put_i64(-1); // producer id
    batch.put_i16(-1); // producer epoch
    batch.put_i32(-1); // base sequence
    batch.put_i32(1); // record count
    batch.put_slice(payload);
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    batch.freeze()
}

fn topic() -> TopicName {
    TopicName(StrBytes::from_static_str("bombs"))
}

/// Produce (acks=1) the batch to a new topic, then ListOffsets by timestamp, which decodes it.
fn produce_then_list_offsets(batch: Bytes) -> Vec<u8> {
    let metadata = kmock_wire::encode_request(
        &kmock_wire::kafka_protocol::messages::MetadataRequest::default().with_topics(Some(vec![
            kmock_wire::kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                .with_name(Some(topic())),
        ])),
        9,
        1,
        None,
    )
    .unwrap();
    let produce = kmock_wire::encode_request(
        &ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(1_000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(topic())
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(batch)),
                    ]),
            ]),
        8,
        2,
        None,
    )
    .unwrap();
    let list_offsets = kmock_wire::encode_request(
        &ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(topic())
                    .with_partitions(vec![
                        ListOffsetsPartition::default()
                            .with_partition_index(0)
                            .with_timestamp(1_000),
                    ]),
            ]),
        5,
        3,
        None,
    )
    .unwrap();
    [metadata, produce, list_offsets].concat()
}

/// What a bomb may allocate: the decompression bound and some slack (the allocator counts a
/// reallocation as its growth only).
const BOMB_BUDGET_BYTES: usize = MAX_DECOMPRESSED_BATCH_BYTES + 16 * 1024 * 1024;

#[test]
fn gzip_bomb_is_not_inflated_beyond_the_bound() {
    let _serial = serial();
    // 96 MiB of zeros, gzip -9: 96 KiB on the wire. Without the bound the decoder grows its buffer
    // to 128 MiB and exceeds the budget (checked: the test aborts on allocation failure then).
    let bomb = include_bytes!("data/gzip-bomb-96MiB.gz");
    let input = produce_then_list_offsets(batch_with_payload(1, bomb));
    let outcome = with_allocation_budget(BOMB_BUDGET_BYTES, || run_input(&input));
    assert_eq!(outcome.responses, 3, "{outcome:?}");
    assert_eq!(outcome.closes, 0, "{outcome:?}");
}

#[test]
fn snappy_length_claim_is_not_allocated() {
    let _serial = serial();
    // A raw snappy block whose header claims 1 GiB of output.
    let claim = [0x80, 0x80, 0x80, 0x80, 0x04, 0x00, 0x00];
    let input = produce_then_list_offsets(batch_with_payload(2, &claim));
    let outcome = with_allocation_budget(INPUT_ALLOCATION_BUDGET_BYTES, || run_input(&input));
    assert_eq!(outcome.responses, 3, "{outcome:?}");
    // Framed snappy: one block claiming 1 GiB.
    let mut framed = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
    framed.extend_from_slice(&(claim.len() as u32).to_be_bytes());
    framed.extend_from_slice(&claim);
    let input = produce_then_list_offsets(batch_with_payload(2, &framed));
    let outcome = with_allocation_budget(INPUT_ALLOCATION_BUDGET_BYTES, || run_input(&input));
    assert_eq!(outcome.responses, 3, "{outcome:?}");
}

// ---------------------------------------------------------------------------------------------
// Over the server: a malformed request closes only its own connection.

fn api_versions_frame(correlation_id: i32) -> Bytes {
    kmock_wire::encode_request(
        &ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("mutation"))
            .with_client_software_version(StrBytes::from_static_str("1")),
        3,
        correlation_id,
        Some("healthy"),
    )
    .unwrap()
}

async fn read_frame(stream: &mut tokio::io::DuplexStream) -> Option<Bytes> {
    let mut prefix = [0u8; 4];
    stream.read_exact(&mut prefix).await.ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(prefix) as usize];
    stream.read_exact(&mut body).await.ok()?;
    Some(body.into())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        failure_persistence: None,
        // The same inputs on every run (CI); PROPTEST_RNG_SEED explores others.
        rng_seed: proptest::test_runner::RngSeed::Fixed(20_261_127),
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_malformed_request_affects_only_its_connection(
        seed in seed_strategy(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let _serial = serial();
        let mut input = seed.bytes.to_vec();
        for mutation in &mutations {
            apply(&mut input, mutation);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async move {
            let broker = Broker::start(BrokerConfig {
                group_initial_rebalance_delay_ms: 0,
                max_frame_bytes: FUZZ_MAX_FRAME_BYTES,
                ..BrokerConfig::default()
            })
            .unwrap();
            let (network, listener) = MemoryNetwork::new();
            let serving = broker.clone();
            tokio::spawn(async move { serving.serve_memory(listener).await });
            let mut healthy = network.connect().unwrap();
            let mut hostile = network.connect().unwrap();
            // The hostile peer writes its bytes and half-closes; whatever the broker answers is
            // drained until it closes or goes quiet.
            hostile.write_all(&input).await.unwrap();
            let drained = tokio::time::timeout(Duration::from_secs(120), async {
                let mut sink = Vec::new();
                let _ = hostile.read_to_end(&mut sink).await;
            });
            let _ = drained.await;
            // The other connection is served as before.
            healthy.write_all(&api_versions_frame(7)).await.unwrap();
            let frame = tokio::time::timeout(Duration::from_secs(10), read_frame(&mut healthy))
                .await
                .expect("the healthy connection is answered")
                .expect("and stays open");
            let (correlation_id, response) = kmock_wire::decode_response(
                kmock_wire::kafka_protocol::messages::ApiKey::ApiVersions,
                3,
                frame,
            )
            .unwrap();
            assert_eq!(correlation_id, 7);
            assert!(matches!(response, ResponseKind::ApiVersions(_)));
            broker.shutdown().await;
        });
    }
}
