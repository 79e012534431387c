//! `kmock-bench-start [STARTS]`: how long `MockBroker::start()` takes to a first answered Metadata
//! request, in process (BENCHMARKS.md, figure 7). Prints one JSON line:
//! `{"starts": N, "first_ms": F, "start_ms": {...}, "start_to_metadata_ms": {...}}`.
//!
//! Each start: the clock starts, `MockBroker::start()` (127.0.0.1, a free port), a TCP connect to
//! its bootstrap address, one Metadata v1 request for all topics (the same bytes as the harness's
//! cold-start probe), its answer read whole; the clock stops; the broker is shut down. The tokio
//! runtime (current-thread, as `#[tokio::test]` builds) exists before the first start, as in a
//! test. `first_ms` is the first start of the process; the summaries cover every start.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use kmock_broker::MockBroker;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn main() -> ExitCode {
    let starts: usize = match std::env::args().nth(1).map(|raw| raw.parse()) {
        None => 200,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            let _ = writeln!(std::io::stderr(), "usage: kmock-bench-start [STARTS > 0]");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(starts)) {
        Ok(line) => {
            let _ = writeln!(std::io::stdout().lock(), "{line}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "kmock-bench-start: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Metadata v1, correlation id 1, client id "bench", all topics (a null topic array).
fn metadata_request() -> Vec<u8> {
    let client_id = b"bench";
    let mut body = Vec::new();
    body.extend_from_slice(&3i16.to_be_bytes());
    body.extend_from_slice(&1i16.to_be_bytes());
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    body.extend_from_slice(client_id);
    body.extend_from_slice(&(-1i32).to_be_bytes());
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

async fn run(starts: usize) -> Result<String, Box<dyn std::error::Error>> {
    let request = metadata_request();
    let mut start_ms = Vec::with_capacity(starts);
    let mut total_ms = Vec::with_capacity(starts);
    for _ in 0..starts {
        let began = Instant::now();
        let broker = MockBroker::start().await?;
        let started = began.elapsed();
        let mut stream = TcpStream::connect(broker.local_addr()).await?;
        stream.set_nodelay(true)?;
        stream.write_all(&request).await?;
        let size = stream.read_i32().await?;
        let mut response = vec![0u8; usize::try_from(size)?];
        stream.read_exact(&mut response).await?;
        let answered = began.elapsed();
        if response.get(..4) != Some(&1i32.to_be_bytes()[..]) {
            return Err("Metadata response with the wrong correlation id".into());
        }
        start_ms.push(started.as_secs_f64() * 1e3);
        total_ms.push(answered.as_secs_f64() * 1e3);
        drop(stream);
        broker.shutdown().await;
    }
    Ok(format!(
        r#"{{"starts": {starts}, "first_ms": {:.4}, "start_ms": {}, "start_to_metadata_ms": {}}}"#,
        total_ms[0],
        summary(&start_ms),
        summary(&total_ms)
    ))
}

/// `{"median": M, "min": A, "max": B}` in milliseconds.
fn summary(values: &[f64]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = if sorted.len() % 2 == 1 {
        sorted[sorted.len() / 2]
    } else {
        (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2.0
    };
    format!(
        r#"{{"median": {median:.4}, "min": {:.4}, "max": {:.4}}}"#,
        sorted[0],
        sorted[sorted.len() - 1]
    )
}
