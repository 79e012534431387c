//! The client runs unchanged in paused virtual time and deterministically: the same scenario on a
//! fresh current-thread runtime gives the same broker request log (virtual time, connection, API,
//! correlation id, outcome), run after run.

mod common;

use std::time::Duration;

use kmock_client::{ConsumerPool, Producer};

use common::*;

/// One line per request the broker saw.
fn scenario_trace() -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let (broker, network) = memory_broker();
        let cluster = memory_cluster(&network, env_test_settings("determinism")).await;
        let mut pool = ConsumerPool::start_with_size(cluster.clone(), &["det"], 3);
        pool.wait_stable().await.unwrap();
        let producer = Producer::new(cluster.clone());
        for i in 0..50 {
            let key = format!("k{i}");
            producer
                .publish("det", Some(key.as_bytes()), b"v", &[])
                .await
                .unwrap();
        }
        for _ in 0..50 {
            tokio::time::timeout(Duration::from_secs(30), pool.recv())
                .await
                .unwrap()
                .unwrap();
        }
        pool.stop().await.unwrap();
        cluster.close().await;
        broker
            .request_log_since(0)
            .await
            .unwrap()
            .into_iter()
            .map(|entry| {
                format!(
                    "{:?} {} api={} v{} corr={} fault={:?} outcome={:?}",
                    entry.time,
                    entry.connection,
                    entry.api_key,
                    entry.api_version,
                    entry.correlation_id,
                    entry.fault,
                    entry.outcome
                )
            })
            .collect()
    })
}

#[test]
fn the_same_scenario_gives_the_same_trace() {
    let first = scenario_trace();
    let second = scenario_trace();
    assert!(first.len() > 50, "{} requests", first.len());
    assert_eq!(first, second);
}
