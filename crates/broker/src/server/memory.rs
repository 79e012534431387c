//! An in-memory network for the simulation: [`MemoryNetwork::connect`] returns one end of a
//! `tokio::io::duplex` pipe and hands the other end to the [`MemoryListener`], which the broker
//! serves with the same connection code as TCP. No sockets, so it runs in paused virtual time.

use std::io;

use tokio::io::DuplexStream;
use tokio::sync::mpsc;

/// Default bytes buffered in each direction of an in-memory connection.
pub const DEFAULT_BUFFER_BYTES: usize = 64 * 1024;

/// The client side of an in-memory network. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MemoryNetwork {
    connects: mpsc::UnboundedSender<DuplexStream>,
    buffer_bytes: usize,
}

/// The server side: yields the broker's end of each connection, in connect order.
#[derive(Debug)]
pub struct MemoryListener {
    incoming: mpsc::UnboundedReceiver<DuplexStream>,
}

impl MemoryNetwork {
    /// A network and its listener, with [`DEFAULT_BUFFER_BYTES`] per direction.
    pub fn new() -> (Self, MemoryListener) {
        Self::with_buffer_bytes(DEFAULT_BUFFER_BYTES)
    }

    /// A network whose connections buffer `buffer_bytes` in each direction.
    pub fn with_buffer_bytes(buffer_bytes: usize) -> (Self, MemoryListener) {
        let (connects, incoming) = mpsc::unbounded_channel();
        (
            Self {
                connects,
                buffer_bytes: buffer_bytes.max(1),
            },
            MemoryListener { incoming },
        )
    }

    /// Opens a connection. Fails with `ConnectionRefused` when the listener is gone.
    pub fn connect(&self) -> io::Result<DuplexStream> {
        let (client, server) = tokio::io::duplex(self.buffer_bytes);
        self.connects.send(server).map_err(|_| {
            io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "the in-memory listener is closed",
            )
        })?;
        Ok(client)
    }
}

impl MemoryListener {
    /// The next connection, or `None` once every [`MemoryNetwork`] is dropped.
    pub async fn accept(&mut self) -> Option<DuplexStream> {
        self.incoming.recv().await
    }
}
