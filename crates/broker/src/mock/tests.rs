//! What needs the module's insides: drop outside a runtime, and `start` outside one.

use std::time::Duration;

use super::blocking::block_on;
use super::*;

/// A broker started on a runtime and dropped on a thread that is in no runtime stops: its
/// listener closes, the broker task ends.
#[test]
fn drop_outside_a_runtime_stops_the_broker() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let broker = runtime.block_on(MockBroker::start()).unwrap();
    let address = broker.local_addr();
    let handle = broker.handle().clone();
    std::net::TcpStream::connect(address).expect("the broker accepts");
    drop(broker);
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(5), handle.stopped())
            .await
            .expect("the broker stops after a drop outside the runtime");
    });
    assert!(std::net::TcpStream::connect(address).is_err());
}

#[test]
fn start_outside_a_runtime_is_a_typed_error() {
    let started = block_on(MockBroker::start());
    assert!(
        matches!(started, Err(MockBrokerError::NoRuntime)),
        "{started:?}"
    );
}

#[test]
fn an_unspecified_address_is_advertised_as_loopback() {
    let local: SocketAddr = "0.0.0.0:9092".parse().unwrap();
    assert_eq!(advertised_address(local).to_string(), "127.0.0.1:9092");
    let local: SocketAddr = "[::1]:9092".parse().unwrap();
    assert_eq!(advertised_address(local).to_string(), "[::1]:9092");
}
