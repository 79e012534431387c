//! How the client opens byte streams: the [`Connector`] trait, with a TCP implementation and a
//! closure-based one for in-memory networks (the simulation's `MemoryNetwork::connect`).
//!
//! Owns: nothing but the act of opening a stream. Framing, timeouts and reconnects live in
//! [`crate::connection`] and [`crate::cluster`]. The client crate does not depend on the broker:
//! an in-memory network is plugged in as a closure.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};

/// A bidirectional byte stream the client can speak Kafka over.
pub trait ByteStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> ByteStream for T {}

/// A boxed [`ByteStream`].
pub type BoxStream = Box<dyn ByteStream>;

/// The future returned by [`Connector::connect`].
pub type ConnectFuture<'a> = Pin<Box<dyn Future<Output = io::Result<BoxStream>> + Send + 'a>>;

/// Opens connections to brokers by host and port (as advertised in Metadata).
pub trait Connector: Send + Sync + 'static {
    /// Opens a stream to `host:port`.
    fn connect<'a>(&'a self, host: &'a str, port: u16) -> ConnectFuture<'a>;
}

/// Plain TCP with `TCP_NODELAY`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpConnector;

impl Connector for TcpConnector {
    fn connect<'a>(&'a self, host: &'a str, port: u16) -> ConnectFuture<'a> {
        Box::pin(async move {
            let stream = tokio::net::TcpStream::connect((host, port)).await?;
            stream.set_nodelay(true)?;
            Ok(Box::new(stream) as BoxStream)
        })
    }
}

/// A connector from a synchronous function, e.g. an in-memory network:
/// `FnConnector::new(move |_host, _port| network.connect())`.
pub struct FnConnector<F> {
    open: F,
}

impl<F> FnConnector<F> {
    /// Wraps `open`.
    pub fn new(open: F) -> Self {
        Self { open }
    }
}

impl<F> fmt::Debug for FnConnector<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnConnector")
    }
}

impl<F, S> Connector for FnConnector<F>
where
    F: Fn(&str, u16) -> io::Result<S> + Send + Sync + 'static,
    S: ByteStream,
{
    fn connect<'a>(&'a self, host: &'a str, port: u16) -> ConnectFuture<'a> {
        let result = (self.open)(host, port).map(|s| Box::new(s) as BoxStream);
        Box::pin(std::future::ready(result))
    }
}
