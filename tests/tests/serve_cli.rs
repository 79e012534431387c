//! The `kmock serve` contract that every other suite relies on: `--port 0` binds a free loopback
//! port, exactly one `BOOTSTRAP=host:port` line appears on stdout, the broker answers on it, and
//! SIGTERM ends the process cleanly (exit status 0).

use kmock_tests::{KafkaConnection, KmockServer};

#[test]
fn serve_prints_one_bootstrap_line_answers_and_exits_cleanly_on_sigterm() {
    let mut server = KmockServer::start(&["--host", "127.0.0.1"]);
    let bootstrap = server.bootstrap().to_owned();
    let (host, port) = bootstrap
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("BOOTSTRAP={bootstrap} is not host:port"));
    assert_eq!(host, "127.0.0.1", "bound host");
    let port: u16 = port
        .parse()
        .unwrap_or_else(|e| panic!("BOOTSTRAP={bootstrap}: bad port: {e}"));
    assert_ne!(port, 0, "--port 0 must print the port actually bound");

    KafkaConnection::connect(&bootstrap).assert_api_versions_works();

    let status = server.stop();
    let log = server.log();
    assert!(
        status.is_some_and(|s| s.success()),
        "after SIGTERM: {status:?} (None: still running after the stop timeout)\n--- server log ---\n{log}"
    );
    let extra = server.stdout_after_bootstrap();
    assert!(
        extra.is_empty(),
        "stdout must hold only the BOOTSTRAP= line; also got {extra:?}"
    );
}

#[test]
fn two_servers_get_different_ports() {
    let first = KmockServer::start(&[]);
    let second = KmockServer::start(&[]);
    assert_ne!(first.bootstrap(), second.bootstrap());
}

#[test]
fn max_connections_closes_the_connection_over_the_limit_only() {
    let server = KmockServer::start(&["--max-connections", "1"]);
    let mut first = KafkaConnection::connect(server.bootstrap());
    first.assert_api_versions_works();
    let mut second = KafkaConnection::connect(server.bootstrap());
    assert!(
        matches!(
            second.read_frame(std::time::Duration::from_secs(5)),
            kmock_tests::ReadOutcome::Closed { .. }
        ),
        "the second connection must be closed\n--- server log ---\n{}",
        server.log()
    );
    first.assert_api_versions_works();
    assert!(
        server.log().contains("too many connections"),
        "the refusal is logged with its reason\n--- server log ---\n{}",
        server.log()
    );
}
