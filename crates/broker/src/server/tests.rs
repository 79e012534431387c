//! Server tests: real loopback TCP (real time) and the in-memory network (paused virtual time).
//! Never both in one test: paused time with real sockets jumps the clock.

use std::time::Duration;

use bytes::Bytes;
use kmock_wire::kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ResponseKind};
use kmock_wire::{decode_response, encode_request};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

const API_VERSION: i16 = 3;

fn config() -> BrokerConfig {
    BrokerConfig {
        group_initial_rebalance_delay_ms: 0,
        max_frame_bytes: 64 * 1024,
        ..BrokerConfig::default()
    }
}

fn api_versions_request(correlation_id: i32) -> Bytes {
    encode_request(
        &ApiVersionsRequest::default()
            .with_client_software_name("kmock-test".into())
            .with_client_software_version("1.0".into()),
        API_VERSION,
        correlation_id,
        Some("server-test"),
    )
    .unwrap()
}

async fn read_frame<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<Bytes> {
    let mut prefix = [0u8; 4];
    stream.read_exact(&mut prefix).await?;
    let mut body = vec![0u8; u32::from_be_bytes(prefix) as usize];
    stream.read_exact(&mut body).await?;
    Ok(body.into())
}

/// Reads one ApiVersions response and returns its correlation id (checking the body is sane).
async fn read_api_versions<S: AsyncRead + Unpin>(stream: &mut S) -> i32 {
    let frame = read_frame(stream).await.expect("a response frame");
    let (correlation_id, ResponseKind::ApiVersions(response)) =
        decode_response(ApiKey::ApiVersions, API_VERSION, frame).unwrap()
    else {
        panic!("expected an ApiVersions response")
    };
    assert_eq!(response.error_code, 0);
    assert!(!response.api_keys.is_empty());
    correlation_id
}

async fn round_trip<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, correlation_id: i32) {
    stream
        .write_all(&api_versions_request(correlation_id))
        .await
        .unwrap();
    assert_eq!(read_api_versions(stream).await, correlation_id);
}

/// Asserts that the broker closed the stream: EOF (or a reset), and no data.
async fn assert_closed<S: AsyncRead + Unpin>(stream: &mut S) {
    let mut buf = [0u8; 64];
    match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
        Ok(Ok(0) | Err(_)) => {}
        Ok(Ok(n)) => panic!("expected the connection to be closed, read {n} bytes"),
        Err(_) => panic!("expected the connection to be closed, it stayed open"),
    }
}

async fn tcp_broker() -> (
    BrokerHandle,
    std::net::SocketAddr,
    tokio::task::JoinHandle<()>,
) {
    let broker = Broker::start(config()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = broker.clone();
    let accept = tokio::spawn(async move { server.serve_tcp(listener).await });
    (broker, address, accept)
}

fn memory_broker() -> (BrokerHandle, MemoryNetwork) {
    let broker = Broker::start(config()).unwrap();
    let (network, listener) = MemoryNetwork::new();
    let server = broker.clone();
    tokio::spawn(async move { server.serve_memory(listener).await });
    (broker, network)
}

#[tokio::test]
async fn api_versions_round_trip_over_tcp() {
    let (broker, address, accept) = tcp_broker().await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    round_trip(&mut stream, 7).await;
    round_trip(&mut stream, 8).await;
    broker.shutdown().await;
    assert_closed(&mut stream).await;
    tokio::time::timeout(Duration::from_secs(5), accept)
        .await
        .expect("the accept loop stops at shutdown")
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn api_versions_round_trip_in_memory() {
    let (broker, network) = memory_broker();
    let mut stream = network.connect().unwrap();
    round_trip(&mut stream, 1).await;
    let log = broker.request_log_since(0).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].connection, ConnectionId(1));
    assert_eq!(log[0].client_id, "server-test");
    broker.shutdown().await;
}

#[tokio::test]
async fn oversized_length_prefix_closes_only_that_connection() {
    let (broker, address, _accept) = tcp_broker().await;
    let mut good = TcpStream::connect(address).await.unwrap();
    round_trip(&mut good, 1).await;

    let mut oversized = TcpStream::connect(address).await.unwrap();
    oversized
        .write_all(&[0x7f, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    assert_closed(&mut oversized).await;

    let mut negative = TcpStream::connect(address).await.unwrap();
    negative.write_all(&[0xff, 0xff, 0xff, 0xfe]).await.unwrap();
    assert_closed(&mut negative).await;

    round_trip(&mut good, 2).await;
    broker.shutdown().await;
}

#[tokio::test]
async fn garbage_bytes_close_the_connection() {
    let (broker, address, _accept) = tcp_broker().await;
    let mut good = TcpStream::connect(address).await.unwrap();

    // An HTTP request: its "length prefix" is far over the limit.
    let mut http = TcpStream::connect(address).await.unwrap();
    http.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_closed(&mut http).await;

    // A well-framed request whose body is nonsense: the core rejects it.
    let mut nonsense = TcpStream::connect(address).await.unwrap();
    let mut frame = vec![0, 0, 0, 12];
    frame.extend_from_slice(&[0xff; 12]);
    nonsense.write_all(&frame).await.unwrap();
    assert_closed(&mut nonsense).await;

    // A frame too short for a header.
    let mut short = TcpStream::connect(address).await.unwrap();
    short.write_all(&[0, 0, 0, 2, 0, 18]).await.unwrap();
    assert_closed(&mut short).await;

    round_trip(&mut good, 1).await;
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn delay_fault_delays_the_response_in_virtual_time() {
    let (broker, network) = memory_broker();
    let rule: FaultRule = "api_versions:delay=60s".parse().unwrap();
    let id = broker.add_fault(rule).await.unwrap();
    let mut stream = network.connect().unwrap();
    let start = Instant::now();
    stream.write_all(&api_versions_request(5)).await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_secs(59), read_frame(&mut stream))
            .await
            .is_err(),
        "the response must not arrive before 60 s"
    );
    assert_eq!(read_api_versions(&mut stream).await, 5);
    let waited = start.elapsed();
    assert!(
        (Duration::from_secs(60)..Duration::from_secs(61)).contains(&waited),
        "{waited:?}"
    );

    let log = broker.request_log_since(0).await.unwrap();
    assert_eq!(
        log[0].fault.as_deref(),
        Some("rule 0: api_versions delay=60s")
    );
    let faults = broker.faults().await.unwrap();
    assert_eq!(
        (faults[0].id, faults[0].matched, faults[0].applied),
        (id, 1, 1)
    );

    assert!(broker.remove_fault(id).await.unwrap().is_some());
    let start = Instant::now();
    round_trip(&mut stream, 6).await;
    assert!(start.elapsed() < Duration::from_secs(1));
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn pipelined_requests_are_answered_in_order() {
    let (broker, network) = memory_broker();
    broker
        .add_fault("api_versions:delay=1s,nth=1".parse().unwrap())
        .await
        .unwrap();
    broker
        .add_fault("api_versions:hold=500ms,nth=3".parse().unwrap())
        .await
        .unwrap();
    let mut stream = network.connect().unwrap();
    let mut pipelined = Vec::new();
    for correlation_id in 1..=6 {
        pipelined.extend_from_slice(&api_versions_request(correlation_id));
    }
    stream.write_all(&pipelined).await.unwrap();
    let mut answered = Vec::new();
    for _ in 1..=6 {
        answered.push(read_api_versions(&mut stream).await);
    }
    assert_eq!(answered, vec![1, 2, 3, 4, 5, 6]);
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn close_fault_closes_the_connection_and_connection_ids_are_sequential() {
    let (broker, network) = memory_broker();
    broker
        .add_fault("*,conn=2:close".parse().unwrap())
        .await
        .unwrap();
    let mut first = network.connect().unwrap();
    let mut second = network.connect().unwrap();
    round_trip(&mut first, 1).await;
    second.write_all(&api_versions_request(1)).await.unwrap();
    assert_closed(&mut second).await;
    round_trip(&mut first, 2).await;
    let connections: Vec<_> = broker
        .request_log_since(0)
        .await
        .unwrap()
        .iter()
        .map(|entry| entry.connection)
        .collect();
    assert_eq!(
        connections,
        vec![ConnectionId(1), ConnectionId(2), ConnectionId(1)]
    );
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_writes_produced_responses_then_closes_and_refuses_new_connections() {
    let (broker, network) = memory_broker();
    let mut stream = network.connect().unwrap();
    round_trip(&mut stream, 1).await;
    // A dropped response keeps the connection busy: shutdown must still close it.
    broker
        .add_fault("api_versions:drop".parse().unwrap())
        .await
        .unwrap();
    stream.write_all(&api_versions_request(2)).await.unwrap();
    let advertised = broker
        .inspect(|core| core.config().advertised_port)
        .await
        .unwrap();
    assert_eq!(advertised, 9092);
    broker.shutdown().await;
    assert_closed(&mut stream).await;
    broker.shutdown().await;
    assert_eq!(broker.faults().await, Err(BrokerStopped));
    let late = network.connect();
    if let Ok(mut late) = late {
        assert_closed(&mut late).await;
    }
    assert_eq!(
        broker.serve_connection(tokio::io::duplex(64).0),
        Err(ServeError::Stopped)
    );
}

#[tokio::test(start_paused = true)]
async fn peer_closing_mid_request_is_harmless() {
    let (broker, network) = memory_broker();
    broker
        .add_fault("api_versions:delay=10s".parse().unwrap())
        .await
        .unwrap();
    let mut stream = network.connect().unwrap();
    stream.write_all(&api_versions_request(1)).await.unwrap();
    // Half a frame, then gone.
    stream.write_all(&[0, 0, 0, 40, 0]).await.unwrap();
    drop(stream);
    tokio::time::sleep(Duration::from_secs(20)).await;
    let mut other = network.connect().unwrap();
    broker.clear_faults().await.unwrap();
    round_trip(&mut other, 1).await;
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn error_and_close_after_faults() {
    let (broker, network) = memory_broker();
    broker
        .add_fault(
            "api_versions:error=unsupported_version,once"
                .parse()
                .unwrap(),
        )
        .await
        .unwrap();
    broker
        .add_fault("api_versions:close=after,nth=2".parse().unwrap())
        .await
        .unwrap();
    let mut stream = network.connect().unwrap();
    stream.write_all(&api_versions_request(1)).await.unwrap();
    let frame = read_frame(&mut stream).await.unwrap();
    let (_, ResponseKind::ApiVersions(response)) =
        decode_response(ApiKey::ApiVersions, API_VERSION, frame).unwrap()
    else {
        panic!("expected ApiVersions");
    };
    assert_eq!(response.error_code, 35);
    // Rule 1 counts from here: its first match is answered, its second closes.
    round_trip(&mut stream, 2).await;
    stream.write_all(&api_versions_request(3)).await.unwrap();
    assert_closed(&mut stream).await;
    let log = broker.request_log_since(0).await.unwrap();
    assert_eq!(
        log.iter().map(|e| e.fault.clone()).collect::<Vec<_>>(),
        vec![
            Some("rule 0: api_versions error=unsupported_version".to_owned()),
            None,
            Some("rule 1: api_versions close=after".to_owned()),
        ]
    );
    broker.shutdown().await;
    tokio::time::timeout(Duration::from_secs(1), broker.stopped())
        .await
        .expect("stopped() resolves after shutdown");
}

fn limited_config(max_connections: usize) -> BrokerConfig {
    BrokerConfig {
        max_connections,
        ..config()
    }
}

#[tokio::test(start_paused = true)]
async fn connections_beyond_max_connections_are_closed_and_slots_are_reused() {
    let broker = Broker::start(limited_config(2)).unwrap();
    let (network, listener) = MemoryNetwork::new();
    let server = broker.clone();
    tokio::spawn(async move { server.serve_memory(listener).await });
    let mut first = network.connect().unwrap();
    let mut second = network.connect().unwrap();
    round_trip(&mut first, 1).await;
    round_trip(&mut second, 1).await;
    assert_eq!(broker.open_connections(), 2);
    let mut refused = network.connect().unwrap();
    assert_closed(&mut refused).await;
    // The open ones are unaffected.
    round_trip(&mut first, 2).await;
    // A slot frees when a connection ends; the next connection is served.
    drop(second);
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(broker.open_connections(), 1);
    let mut third = network.connect().unwrap();
    round_trip(&mut third, 1).await;
    assert_eq!(
        broker.serve_connection(tokio::io::duplex(64).0),
        Err(ServeError::TooManyConnections { max_connections: 2 })
    );
    broker.shutdown().await;
    assert_eq!(broker.open_connections(), 0);
}

#[tokio::test]
async fn tcp_connections_beyond_max_connections_are_closed() {
    let broker = Broker::start(limited_config(1)).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = broker.clone();
    tokio::spawn(async move { server.serve_tcp(listener).await });
    let mut first = TcpStream::connect(address).await.unwrap();
    round_trip(&mut first, 1).await;
    let mut refused = TcpStream::connect(address).await.unwrap();
    assert_closed(&mut refused).await;
    round_trip(&mut first, 2).await;
    broker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_closes_a_connection_whose_response_is_delayed() {
    let (broker, network) = memory_broker();
    let mut stream = network.connect().unwrap();
    round_trip(&mut stream, 1).await;
    broker
        .add_fault("api_versions:delay=60s".parse().unwrap())
        .await
        .unwrap();
    stream.write_all(&api_versions_request(2)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let started = tokio::time::Instant::now();
    broker.shutdown().await;
    // Closed cleanly (EOF, no partial frame), well before the delay or the grace period.
    assert_closed(&mut stream).await;
    assert!(
        started.elapsed() < SHUTDOWN_GRACE,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(broker.open_connections(), 0);
}

/// Produce frames of several MiB, each pipelined between two small requests and written in
/// uneven chunks, are received into the connection's arena (`FrameDecoder::read_target`) and
/// stored intact: the records come back from Fetch byte for byte.
#[tokio::test]
async fn a_large_produce_over_tcp_is_stored_intact() {
    use kmock_wire::kafka_protocol::messages::create_topics_request::{
        CreatableTopic, CreatableTopicConfig,
    };
    use kmock_wire::kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kmock_wire::kafka_protocol::messages::produce_request::{
        PartitionProduceData, TopicProduceData,
    };
    use kmock_wire::kafka_protocol::messages::{CreateTopicsRequest, FetchRequest, ProduceRequest};
    use kmock_wire::kafka_protocol::protocol::StrBytes;
    use kmock_wire::kafka_protocol::records::{
        Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
        TimestampType,
    };

    let broker = Broker::start(BrokerConfig {
        max_frame_bytes: 16 << 20,
        ..config()
    })
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = broker.clone();
    tokio::spawn(async move { server.serve_tcp(listener).await });
    let mut stream = TcpStream::connect(address).await.unwrap();
    let topic = || StrBytes::from_static_str("large").into();

    // A 3.5 MB batch: over Kafka's default max.message.bytes (1048588), so the topic raises it.
    let create = CreateTopicsRequest::default()
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(topic())
                .with_num_partitions(1)
                .with_replication_factor(1)
                .with_configs(vec![
                    CreatableTopicConfig::default()
                        .with_name(StrBytes::from_static_str("max.message.bytes"))
                        .with_value(Some(StrBytes::from_static_str("16777216"))),
                ]),
        ])
        .with_timeout_ms(1000);
    stream
        .write_all(&encode_request(&create, 7, 1, Some("t")).unwrap())
        .await
        .unwrap();
    read_frame(&mut stream).await.unwrap();

    // Five rounds of 3.5 MB: the first frame in a mapping of small pages, the others two to an
    // 8 MiB mapping of huge pages (crates/wire/src/arena.rs).
    let mut all_values = Vec::new();
    for round in 0..5u32 {
        let values: Vec<Bytes> = (0..3500u32)
            .map(|i| Bytes::from(format!("{round}-{i:05}-{}", "x".repeat(1000))))
            .collect();
        let records: Vec<Record> = values
            .iter()
            .enumerate()
            .map(|(i, value)| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: i as i32,
                timestamp: 1,
                key: None,
                value: Some(value.clone()),
                headers: Default::default(),
            })
            .collect();
        let mut batch = bytes::BytesMut::new();
        RecordBatchEncoder::encode(
            &mut batch,
            &records,
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .unwrap();
        let produce = ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(1000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(topic())
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(batch.freeze())),
                    ]),
            ]);
        let mut pipelined = api_versions_request(2).to_vec();
        pipelined.extend_from_slice(&encode_request(&produce, 9, 3, Some("t")).unwrap());
        pipelined.extend_from_slice(&api_versions_request(4));
        assert!(pipelined.len() > 3 << 20);
        let writer = tokio::spawn(async move {
            let mut rest = &pipelined[..];
            let mut size = 1000;
            while !rest.is_empty() {
                let n = size.min(rest.len());
                stream.write_all(&rest[..n]).await.unwrap();
                rest = &rest[n..];
                size = size * 3 % 300_000 + 1;
                tokio::task::yield_now().await;
            }
            stream
        });
        stream = writer.await.unwrap();
        assert_eq!(read_api_versions(&mut stream).await, 2);
        let (correlation_id, ResponseKind::Produce(response)) =
            decode_response(ApiKey::Produce, 9, read_frame(&mut stream).await.unwrap()).unwrap()
        else {
            panic!("a Produce response")
        };
        assert_eq!(correlation_id, 3);
        let partition = &response.responses[0].partition_responses[0];
        assert_eq!(
            (partition.error_code, partition.base_offset),
            (0, i64::from(round) * 3500)
        );
        assert_eq!(read_api_versions(&mut stream).await, 4);
        all_values.extend(values);
    }

    let fetch = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(64 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(topic())
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_partition_max_bytes(64 << 20),
                ]),
        ]);
    stream
        .write_all(&encode_request(&fetch, 12, 5, Some("t")).unwrap())
        .await
        .unwrap();
    let (_, ResponseKind::Fetch(response)) =
        decode_response(ApiKey::Fetch, 12, read_frame(&mut stream).await.unwrap()).unwrap()
    else {
        panic!("a Fetch response")
    };
    let mut served = response.responses[0].partitions[0].records.clone().unwrap();
    // Each batch is served by reference after its patched header (its base offset written):
    // offsets run on across the batches, as produced.
    let records: Vec<Record> = RecordBatchDecoder::decode_all(&mut served)
        .unwrap()
        .into_iter()
        .flat_map(|set| set.records)
        .collect();
    let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (0..5 * 3500).collect::<Vec<i64>>());
    let got: Vec<Bytes> = records.into_iter().map(|r| r.value.unwrap()).collect();
    assert_eq!(got.len(), 5 * 3500);
    assert!(got == all_values, "a record came back changed");
    broker.shutdown().await;
}
