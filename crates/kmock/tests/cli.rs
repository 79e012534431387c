//! Runs the built `kmock` binary: serve with a fault, speak Kafka to it, stop it; and bad flags.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kmock_wire::kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ResponseKind};
use kmock_wire::{decode_response, encode_request};

fn kmock() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kmock"));
    command.env("RUST_LOG", "info");
    command
}

/// Kills the child if the test fails before it exits.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            start.elapsed() < limit,
            "kmock did not exit within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn api_versions_round_trip(address: &str) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = encode_request(
        &ApiVersionsRequest::default()
            .with_client_software_name("kmock-cli-test".into())
            .with_client_software_version("1.0".into()),
        3,
        42,
        Some("cli-test"),
    )
    .unwrap();
    stream.write_all(&request).unwrap();
    let mut prefix = [0u8; 4];
    stream.read_exact(&mut prefix).unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(prefix) as usize];
    stream.read_exact(&mut body).unwrap();
    let (correlation_id, ResponseKind::ApiVersions(response)) =
        decode_response(ApiKey::ApiVersions, 3, Bytes::from(body)).unwrap()
    else {
        panic!("expected an ApiVersions response");
    };
    assert_eq!(correlation_id, 42);
    assert_eq!(response.error_code, 0);
    assert!(
        response
            .api_keys
            .iter()
            .any(|k| k.api_key == ApiKey::LeaveGroup as i16)
    );
}

#[test]
fn serve_prints_bootstrap_answers_and_stops_on_sigterm() {
    let child = kmock()
        .args([
            "serve",
            "--port",
            "0",
            "--fault",
            "leave_group:delay=60s",
            "--initial-rebalance-delay-ms",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut child = Running(child);
    let stdout = child.0.stdout.take().unwrap();
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let line = received
        .recv_timeout(Duration::from_secs(60))
        .expect("kmock prints a line on stdout")
        .unwrap();
    let address = line
        .strip_prefix("BOOTSTRAP=")
        .unwrap_or_else(|| panic!("expected BOOTSTRAP=host:port, got {line:?}"))
        .to_owned();
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    assert!(!address.ends_with(":0"), "{address}");

    api_versions_round_trip(&address);
    api_versions_round_trip(&address);

    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = wait_for_exit(&mut child.0, Duration::from_secs(20));
    assert!(status.success(), "kmock exited with {status}");
    // Exactly one line on stdout.
    assert!(
        received
            .recv_timeout(Duration::from_secs(5))
            .is_err_and(|e| e == mpsc::RecvTimeoutError::Disconnected),
        "kmock printed more than the BOOTSTRAP line"
    );
}

fn run_failing(args: &[&str]) -> (Option<i32>, String) {
    let output = kmock().args(args).output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_fault_spec_exits_2_with_the_reason() {
    let (code, stderr) = run_failing(&["serve", "--port", "0", "--fault", "leave_grp:delay=60s"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(r#"unknown API "leave_grp" (did you mean leave_group?)"#),
        "{stderr}"
    );

    let (code, stderr) = run_failing(&["serve", "--port", "0", "--fault", "leave_group:delay=60"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(r#"expected a duration like 250ms or 60s, got "60""#),
        "{stderr}"
    );
}

#[test]
fn invalid_config_and_non_loopback_host_exit_2() {
    let (code, stderr) = run_failing(&[
        "serve",
        "--port",
        "0",
        "--group-min-session-timeout-ms",
        "10",
        "--group-max-session-timeout-ms",
        "5",
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("must not exceed"), "{stderr}");

    let (code, stderr) = run_failing(&["serve", "--port", "0", "--host", "0.0.0.0"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--allow-non-loopback"), "{stderr}");
}

#[test]
fn help_explains_kmock_and_the_fault_grammar() {
    let output = kmock().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("mock Kafka broker"), "{help}");
    let output = kmock().args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(
        help.contains("API[@VERSIONS][,MATCH]...:ACTION[,TRIGGER]..."),
        "{help}"
    );
    assert!(help.contains("--allow-non-loopback"), "{help}");
}
