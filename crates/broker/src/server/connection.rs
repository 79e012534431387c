//! One connection: read frames, hand them to the broker task one at a time, write the responses.
//!
//! The task reads ahead at most [`READ_AHEAD_BYTES`] while a request is in the broker (enough to
//! notice that the peer went away, never an unbounded buffer), but hands the next frame to the
//! broker only once the previous request's outcome arrived. A framing error (oversized or negative
//! length prefix) is logged with its reason and closes this connection only. End of stream closes
//! the connection, as Kafka does.

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;

use bytes::Bytes;
use kmock_wire::{Frame, FrameDecoder, ReadTarget};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use super::{ConnectionOutput, Event, ServerState};
use kmock_core::ConnectionId;

/// Bytes read ahead while a request is being processed.
const READ_AHEAD_BYTES: usize = 64 * 1024;

/// What a connection task needs besides its stream.
pub(super) struct Context {
    pub(super) connection: ConnectionId,
    pub(super) events: mpsc::UnboundedSender<Event>,
    pub(super) outputs: mpsc::UnboundedReceiver<ConnectionOutput>,
    pub(super) state: watch::Receiver<ServerState>,
    pub(super) max_frame_bytes: usize,
    /// Counts this connection against `max_connections` until the task ends.
    pub(super) _slot: super::OpenConnection,
}

/// Serves the connection until either side closes it, then tells the broker.
pub(super) async fn run<S>(mut stream: S, mut context: Context)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let connection = context.connection;
    let (reason, flush) = serve(&mut stream, &mut context).await;
    if flush {
        let mut state = context.state.clone();
        tokio::select! {
            biased;
            () = until_stopped(&mut state) => {}
            result = stream.shutdown() => {
                if let Err(error) = result {
                    tracing::debug!(%connection, %error, "shutdown of the stream failed");
                }
            }
        }
    }
    tracing::debug!(%connection, %reason, "connection closed");
    let _ = context.events.send(Event::Closed { connection });
}

/// The read/write loop. Returns why it ended and whether the stream should be shut down cleanly.
async fn serve<S>(stream: &mut S, context: &mut Context) -> (String, bool)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let connection = context.connection;
    let mut decoder = FrameDecoder::new(context.max_frame_bytes);
    // One wait for the stop across the whole loop (reads and writes alike): a fresh one per step
    // would register and drop a watch waiter for every request.
    let mut state = context.state.clone();
    let wait = until_stopped(&mut state);
    tokio::pin!(wait);
    let stopped = polled_on_change(context.state.clone(), wait);
    tokio::pin!(stopped);
    // A request of this connection is in the broker; the next frame waits.
    let mut awaiting = false;
    loop {
        if !awaiting {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    if context
                        .events
                        .send(Event::Frame { connection, frame })
                        .is_err()
                    {
                        return ("broker stopped".into(), true);
                    }
                    awaiting = true;
                    continue;
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(%connection, reason = %error, "bad frame; closing the connection");
                    return (format!("bad frame: {error}"), true);
                }
            }
        }
        let may_read = !awaiting || decoder.buffered() < READ_AHEAD_BYTES;
        let step = tokio::select! {
            biased;
            output = context.outputs.recv() => Step::Output(output),
            () = &mut stopped => Step::Stopped,
            read = read_more(stream, &mut decoder), if may_read => Step::Read(read),
        };
        match step {
            Step::Output(Some(ConnectionOutput::Frame(frame))) => {
                if let Err(error) = write(stream, &frame, stopped.as_mut()).await {
                    return (format!("write failed: {error}"), false);
                }
                awaiting = false;
            }
            Step::Output(Some(ConnectionOutput::Ready)) => awaiting = false,
            Step::Output(Some(ConnectionOutput::Close(reason))) => return (reason, true),
            Step::Output(None) | Step::Stopped => return ("broker stopped".into(), false),
            Step::Read(Ok(0)) => return ("closed by the peer".into(), false),
            Step::Read(Ok(_)) => {}
            Step::Read(Err(error)) => return (format!("read failed: {error}"), false),
        }
    }
}

/// Reads what the peer sent next where the decoder wants it (a large frame goes into memory of
/// its own; see [`FrameDecoder::read_target`]). Cancel-safe: nothing is read unless it completes.
async fn read_more<S>(stream: &mut S, decoder: &mut FrameDecoder) -> io::Result<usize>
where
    S: AsyncRead + Unpin,
{
    let read = match decoder.read_target() {
        ReadTarget::Buffer(buffer) => return stream.read_buf(buffer).await,
        ReadTarget::Frame(rest) => stream.read(rest).await?,
    };
    decoder.received(read);
    Ok(read)
}

/// What woke the connection loop.
enum Step {
    Output(Option<ConnectionOutput>),
    Stopped,
    Read(io::Result<usize>),
}

/// `wait` (a wait on the broker state), polled only once the state changed since its last poll,
/// or on the first. The loop polls its stop wait at every step; the wait stays registered with the
/// watch between polls (it never leaves this task, so its waker stays right), and a change wakes
/// the task, so a poll that finds the state unchanged would only repeat the watch's lock and check.
fn polled_on_change<'a, F: Future + 'a>(
    mut probe: watch::Receiver<ServerState>,
    mut wait: Pin<&'a mut F>,
) -> impl Future<Output = F::Output> + 'a {
    let mut polled = false;
    std::future::poll_fn(move |cx| {
        if polled && !probe.has_changed().unwrap_or(true) {
            return std::task::Poll::Pending;
        }
        polled = true;
        probe.borrow_and_update();
        wait.as_mut().poll(cx)
    })
}

/// Resolves once the broker is [`ServerState::Stopped`] (or gone).
pub(super) async fn until_stopped(state: &mut watch::Receiver<ServerState>) {
    let _ = state.wait_for(|s| *s == ServerState::Stopped).await;
}

/// Writes and flushes one frame, unless the broker stops first (`stopped` resolves).
async fn write<S>(
    stream: &mut S,
    frame: &Frame,
    stopped: Pin<&mut impl Future<Output = ()>>,
) -> io::Result<()>
where
    S: AsyncWrite + Unpin,
{
    tokio::select! {
        biased;
        () = stopped => Err(io::Error::other("broker stopped while writing")),
        result = async {
            write_parts(stream, frame.parts()).await?;
            stream.flush().await
        } => result,
    }
}

/// Most parts handed to one vectored write (Linux takes up to 1024).
const MAX_WRITE_PARTS: usize = 512;

/// Writes `parts` back to back: a single part with `write_all`, a chain with vectored writes
/// (a stream without them writes its first part per call, which the loop also handles).
async fn write_parts<S>(stream: &mut S, parts: &[Bytes]) -> io::Result<()>
where
    S: AsyncWrite + Unpin,
{
    if let [only] = parts {
        return stream.write_all(only).await;
    }
    // The first part not wholly written, and how much of it was.
    let (mut index, mut written) = (0, 0);
    while index < parts.len() {
        let slices: Vec<IoSlice<'_>> = std::iter::once(&parts[index][written..])
            .chain(parts[index + 1..].iter().map(|part| &part[..]))
            .take(MAX_WRITE_PARTS)
            .map(IoSlice::new)
            .collect();
        let mut n = stream.write_vectored(&slices).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while index < parts.len() && n >= parts[index].len() - written {
            n -= parts[index].len() - written;
            index += 1;
            written = 0;
        }
        written += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::{Context, Poll};

    /// Takes 1 to 9 bytes per write (cycling), across as many slices as that spans.
    #[derive(Default)]
    struct Trickle {
        written: Vec<u8>,
        calls: usize,
        vectored: bool,
    }

    impl Trickle {
        fn take(&mut self, slices: &[IoSlice<'_>]) -> usize {
            self.calls += 1;
            let mut room = self.calls % 9 + 1;
            let mut taken = 0;
            for slice in slices {
                let n = slice.len().min(room);
                self.written.extend_from_slice(&slice[..n]);
                room -= n;
                taken += n;
                if room == 0 || !self.vectored {
                    break;
                }
            }
            taken
        }
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(self.take(&[IoSlice::new(buf)])))
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            slices: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(self.take(slices)))
        }

        fn is_write_vectored(&self) -> bool {
            self.vectored
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn a_chain_of_parts_arrives_whole_and_in_order_through_partial_writes() {
        // More parts than one vectored write takes, of lengths that end mid-write.
        let parts: Vec<Bytes> = (0..150u8)
            .map(|i| Bytes::from(vec![i; usize::from(i % 13) + 1]))
            .collect();
        let expected: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
        for vectored in [true, false] {
            let mut stream = Trickle {
                vectored,
                ..Trickle::default()
            };
            write_parts(&mut stream, &parts).await.unwrap();
            assert_eq!(stream.written, expected, "vectored: {vectored}");
        }
    }

    #[tokio::test]
    async fn a_stream_that_takes_nothing_is_an_error() {
        let mut stream = tokio::io::sink();
        write_parts(
            &mut stream,
            &[Bytes::from_static(b"a"), Bytes::from_static(b"b")],
        )
        .await
        .unwrap();
        struct Full;
        impl AsyncWrite for Full {
            fn poll_write(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
                _: &[u8],
            ) -> Poll<io::Result<usize>> {
                Poll::Ready(Ok(0))
            }
            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
            fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
        }
        let error = write_parts(
            &mut Full,
            &[Bytes::from_static(b"a"), Bytes::from_static(b"b")],
        )
        .await
        .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::WriteZero);
    }
}
