//! Against the kmock broker over real TCP sockets (real time: never mix paused time and sockets).

mod common;

use common::*;

#[tokio::test]
async fn thousand_keyed_records_over_tcp_with_a_pool_of_three() {
    let (broker, bootstrap) = tcp_broker().await;
    let cluster = tcp_cluster(&bootstrap, env_test_settings("tcp-pool")).await;
    produce_and_consume(cluster.clone(), "tcp-events", 1000, 3).await;
    cluster.close().await;
    broker.shutdown().await;
}
