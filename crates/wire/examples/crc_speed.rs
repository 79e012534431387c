//! CRC-32C throughput, `kmock_wire::crc32c` against the `crc32c` crate it falls back to:
//! `cargo run --release -p kmock-wire --example crc_speed`. Two workloads: one 1 MiB buffer again
//! and again (in L2, like a Produce frame just received) and 64 MiB in 1 MiB pieces (beyond L2:
//! from L3 or memory, depending on the CPU). Prints GB/s per implementation and workload, best of
//! 5 rounds (BENCHMARKS.md, issue 18).
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::time::Instant;

fn gb_per_s(bytes: usize, f: impl Fn() -> u32) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let started = Instant::now();
        black_box(f());
        best = best.min(started.elapsed().as_secs_f64());
    }
    bytes as f64 / best / 1e9
}

fn main() {
    const PIECE: usize = 1 << 20;
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let data: Vec<u8> = (0..64 * PIECE)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as u8
        })
        .collect();
    type Crc = fn(&[u8]) -> u32;
    let implementations: [(&str, Crc); 2] = [
        ("crc32c crate", crc32c::crc32c),
        ("kmock_wire::crc32c", kmock_wire::crc32c),
    ];
    for (name, crc) in implementations {
        let hot = gb_per_s(200 * PIECE, || {
            (0..200).fold(0, |acc, _| acc ^ crc(black_box(&data[..PIECE])))
        });
        let cold = gb_per_s(data.len(), || {
            data.chunks(PIECE)
                .fold(0, |acc, piece| acc ^ crc(black_box(piece)))
        });
        println!("{name:>20}: 1 MiB again {hot:5.1} GB/s, 64 MiB once {cold:5.1} GB/s");
    }
}
