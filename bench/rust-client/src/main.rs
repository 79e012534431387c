//! `kmock-bench-produce BOOTSTRAP TOPIC RECORDS VALUE_BYTES ACKS WINDOW`: produces RECORDS records
//! of VALUE_BYTES bytes (no key) to partition 0 of TOPIC with the kmock Rust client over TCP, at
//! most WINDOW publishes outstanding, and prints one JSON line:
//! `{"records": N, "seconds": S, "records_per_s": R}`.
//!
//! Protocol with the harness (bench/run.py): prints `READY` once connected and the topic exists,
//! waits for one line on stdin, then produces and prints the JSON line. Timing covers the produce
//! phase only (first publish to last acknowledgement).

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::Instant;

use kmock_client::settings::Acks;
use kmock_client::{Cluster, Producer, Settings, TcpConnector};
use tokio::task::JoinSet;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bootstrap, topic, records, value_bytes, acks, window] = args.as_slice() else {
        let _ = writeln!(
            std::io::stderr(),
            "usage: kmock-bench-produce BOOTSTRAP TOPIC RECORDS VALUE_BYTES ACKS(1|all) WINDOW"
        );
        return ExitCode::from(2);
    };
    let parse = |what: &str, raw: &str| -> usize {
        raw.parse()
            .unwrap_or_else(|_| panic!("{what} must be a number, got {raw:?}"))
    };
    let records = parse("RECORDS", records);
    let value_bytes = parse("VALUE_BYTES", value_bytes);
    let window = parse("WINDOW", window).max(1);
    let acks = if acks == "all" {
        Acks::All
    } else {
        Acks::Leader
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(bootstrap, topic, records, value_bytes, acks, window)) {
        Ok(line) => {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{line}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "kmock-bench-produce: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    bootstrap: &str,
    topic: &str,
    records: usize,
    value_bytes: usize,
    acks: Acks,
    window: usize,
) -> Result<String, String> {
    let settings = Settings::from_lookup(|name| {
        (name == "KAFKA_BOOTSTRAP_SERVERS").then(|| bootstrap.to_owned())
    })
    .map_err(|e| e.to_string())?;
    let cluster = Cluster::connect(settings, TcpConnector)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    cluster
        .create_topic(topic, 1)
        .await
        .map_err(|e| format!("create topic: {e}"))?;
    let producer = Producer::with_acks(cluster.clone(), acks);
    // Warm the metadata cache so the timed phase is produce only.
    cluster
        .topic(topic)
        .await
        .map_err(|e| format!("metadata: {e}"))?;
    {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "READY");
        let _ = stdout.flush();
    }
    let mut go = String::new();
    let _ = std::io::stdin().lock().read_line(&mut go);

    let value = bytes::Bytes::from(vec![b'x'; value_bytes]);
    let topic: std::sync::Arc<str> = topic.into();
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    let mut acknowledged = 0usize;
    for _ in 0..records {
        if tasks.len() >= window {
            join_one(&mut tasks, &mut acknowledged).await?;
        }
        let producer = producer.clone();
        let topic = topic.clone();
        let value = value.clone();
        tasks.spawn(async move {
            producer
                .publish_to(&topic, Some(0), None, Some(&value), &[])
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
    }
    while !tasks.is_empty() {
        join_one(&mut tasks, &mut acknowledged).await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    cluster.close().await;
    Ok(format!(
        "{{\"records\": {acknowledged}, \"seconds\": {seconds:.6}, \"records_per_s\": {:.1}}}",
        acknowledged as f64 / seconds
    ))
}

async fn join_one(
    tasks: &mut JoinSet<Result<(), String>>,
    acknowledged: &mut usize,
) -> Result<(), String> {
    match tasks.join_next().await {
        Some(Ok(Ok(()))) => {
            *acknowledged += 1;
            Ok(())
        }
        Some(Ok(Err(error))) => Err(format!("publish: {error}")),
        Some(Err(error)) => Err(format!("task: {error}")),
        None => Ok(()),
    }
}
