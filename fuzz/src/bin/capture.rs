//! Captures real client requests for the seed corpus: runs a kmock broker in process (on the
//! in-memory network) behind a recording TCP proxy on 127.0.0.1, advertises the proxy's address,
//! runs a client command with `127.0.0.1:PORT` appended, and writes each connection's
//! client-to-broker byte stream (its request frames, in order) as one corpus file.
//!
//! ```text
//! cargo run --release --manifest-path fuzz/Cargo.toml --no-default-features --bin capture -- \
//!     --out fuzz/corpus/broker_core --name kafka-python -- \
//!     .venv/bin/python tests/python/interop_kafka_python.py
//! ```
//!
//! Only ever listens on 127.0.0.1.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kmock_broker::BrokerConfig;
use kmock_broker::server::{Broker, MemoryNetwork};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A connection's recording stops growing here (the corpus holds small inputs).
const MAX_CAPTURE_BYTES: usize = 256 * 1024;

fn usage() -> ! {
    eprintln!("usage: capture --out DIR --name NAME -- COMMAND [ARGS...]  (BOOTSTRAP is appended)");
    std::process::exit(2)
}

/// Copies the client's bytes to the broker (recording them) and the broker's back, until either
/// side closes.
async fn proxy(mut client: TcpStream, network: MemoryNetwork) -> Vec<u8> {
    let Ok(broker) = network.connect() else {
        return Vec::new();
    };
    let (mut broker_read, mut broker_write) = tokio::io::split(broker);
    let (mut client_read, mut client_write) = client.split();
    let mut recorded = Vec::new();
    let upstream = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if recorded.len() < MAX_CAPTURE_BYTES {
                recorded.extend_from_slice(&buf[..n]);
            }
            if broker_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    let downstream = async {
        let _ = tokio::io::copy(&mut broker_read, &mut client_write).await;
    };
    tokio::select! {
        biased;
        () = upstream => {}
        () = downstream => {}
    }
    recorded
}

fn main() {
    let mut out: Option<PathBuf> = None;
    let mut name: Option<String> = None;
    let mut args = std::env::args().skip(1);
    let mut command: Vec<String> = Vec::new();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => out = Some(args.next().unwrap_or_else(|| usage()).into()),
            "--name" => name = Some(args.next().unwrap_or_else(|| usage())),
            "--" => {
                command = args.by_ref().collect();
            }
            _ => usage(),
        }
    }
    let (Some(out), Some(name)) = (out, name) else {
        usage()
    };
    if command.is_empty() {
        usage();
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let status = runtime.block_on(async move {
        let broker = Broker::start(BrokerConfig {
            group_initial_rebalance_delay_ms: 0,
            ..BrokerConfig::default()
        })
        .expect("valid config");
        let (network, listener) = MemoryNetwork::new();
        let serving = broker.clone();
        tokio::spawn(async move { serving.serve_memory(listener).await });
        let tcp = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let port = tcp.local_addr().expect("bound").port();
        broker
            .set_advertised_address("127.0.0.1", i32::from(port))
            .await
            .expect("broker running");
        let captures: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let accepting = {
            let captures = Arc::clone(&captures);
            tokio::spawn(async move {
                let mut proxies = tokio::task::JoinSet::new();
                loop {
                    tokio::select! {
                        biased;
                        accepted = tcp.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let network = network.clone();
                            let captures = Arc::clone(&captures);
                            proxies.spawn(async move {
                                let recorded = proxy(stream, network).await;
                                if !recorded.is_empty() {
                                    captures.lock().expect("not poisoned").push(recorded);
                                }
                            });
                        }
                        Some(_) = proxies.join_next() => {}
                    }
                }
            })
        };
        let bootstrap = format!("127.0.0.1:{port}");
        eprintln!("capture: running {} {bootstrap}", command.join(" "));
        let status = tokio::process::Command::new(&command[0])
            .args(&command[1..])
            .arg(&bootstrap)
            .status()
            .await
            .expect("the client command starts");
        // Let the proxies see the client's connections close.
        tokio::time::sleep(Duration::from_millis(500)).await;
        accepting.abort();
        broker.shutdown().await;
        let captures = std::mem::take(&mut *captures.lock().expect("not poisoned"));
        std::fs::create_dir_all(&out).expect("create the output directory");
        for (i, recorded) in captures.iter().enumerate() {
            let path = out.join(format!("capture-{name}-{i}"));
            std::fs::write(&path, recorded).expect("write a capture");
            eprintln!("capture: {} ({} bytes)", path.display(), recorded.len());
        }
        status
    });
    std::process::exit(status.code().unwrap_or(1));
}
