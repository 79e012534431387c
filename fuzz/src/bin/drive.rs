//! A plain-Rust fuzz driver for stable toolchains: the same target function as the libFuzzer target
//! (`kmock_core::fuzz::run_input`), over inputs made by mutating the seed corpus with a
//! seeded PRNG (bit flips, byte sets, interesting integers, huge counts and varints, truncation,
//! insertion, deletion, duplication, splicing two inputs). No coverage feedback; mutated inputs are
//! kept in a bounded pool so that mutations stack.
//!
//! ```text
//! cargo run --release --manifest-path fuzz/Cargo.toml --no-default-features --bin drive -- \
//!     [--inputs N] [--seed S] [--corpus DIR]... [--write-corpus DIR]
//! ```
//!
//! A panic is caught, its input written to `fuzz/artifacts/broker_core/crash-<seed>-<n>`, and
//! counted; the exit code is 1 if any input panicked. The summary line reports inputs, bytes,
//! time, panics, and the peak RSS of the process.

#![forbid(unsafe_code)]

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use kmock_core::fuzz::{FuzzOutcome, run_input, seeds};

/// SplitMix64: small, seeded, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.next().is_multiple_of(one_in)
    }
}

const INTERESTING_32: &[u32] = &[
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0x8000,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x0100_0000,
    0x0010_0000,
];

/// Inputs never grow beyond this (the fuzzed broker's frame limit is 1 MiB; most seeds are small).
const MAX_INPUT_BYTES: usize = 64 * 1024;

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, pool: &[Vec<u8>]) {
    let rounds = 1 + rng.below(8);
    for _ in 0..rounds {
        let len = input.len();
        match rng.below(12) {
            0 | 1 if len > 0 => {
                let at = rng.below(len);
                input[at] ^= 1 << rng.below(8);
            }
            2 if len > 0 => {
                let at = rng.below(len);
                input[at] = rng.next() as u8;
            }
            3 if len >= 4 => {
                // An interesting 32-bit integer (counts, lengths), big endian as Kafka writes them.
                let at = rng.below(len - 3);
                let value = INTERESTING_32[rng.below(INTERESTING_32.len())];
                input[at..at + 4].copy_from_slice(&value.to_be_bytes());
            }
            4 if len >= 2 => {
                let at = rng.below(len - 1);
                let value = [0u16, 0xffff, 0x7fff, 0x8000, 1][rng.below(5)];
                input[at..at + 2].copy_from_slice(&value.to_be_bytes());
            }
            5 if len >= 5 => {
                // A huge unsigned varint (compact arrays, strings, bytes of flexible versions).
                let at = rng.below(len - 4);
                input[at..at + 5].copy_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
            }
            6 if len >= 8 => {
                // The request header: API key or version of the first frame.
                let at = if rng.chance(2) { 4 } else { 6 };
                let value = (rng.below(80) as i16 - 5).to_be_bytes();
                input[at..at + 2].copy_from_slice(&value);
            }
            7 => input.truncate(rng.below(len + 1)),
            8 => {
                let at = rng.below(len + 1);
                let count = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..count).map(|_| rng.next() as u8).collect();
                input.splice(at..at, bytes);
            }
            9 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(32)).min(len);
                input.drain(at..end);
            }
            10 if len > 0 => {
                // Duplicate a chunk in place.
                let at = rng.below(len);
                let end = (at + 1 + rng.below(64)).min(len);
                let chunk = input[at..end].to_vec();
                let to = rng.below(len + 1);
                input.splice(to..to, chunk);
            }
            11 if !pool.is_empty() => {
                // Splice: append (part of) another input, e.g. a second request.
                let other = &pool[rng.below(pool.len())];
                let from = if rng.chance(2) {
                    0
                } else {
                    rng.below(other.len() + 1)
                };
                input.extend_from_slice(&other[from..]);
            }
            _ => {}
        }
    }
    input.truncate(MAX_INPUT_BYTES);
}

fn read_corpus(dir: &Path, out: &mut Vec<Vec<u8>>) -> std::io::Result<usize> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file())
        .collect();
    entries.sort();
    for path in &entries {
        out.push(std::fs::read(path)?);
    }
    Ok(entries.len())
}

/// Peak resident set size of this process in KiB (Linux `VmHWM`), if known.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn usage() -> ! {
    eprintln!(
        "usage: drive [--inputs N] [--seed S] [--corpus DIR]... [--write-corpus DIR] [--quiet]"
    );
    std::process::exit(2)
}

fn main() {
    let mut inputs: u64 = 1_000_000;
    let mut seed: u64 = 1;
    let mut corpus_dirs: Vec<PathBuf> = Vec::new();
    let mut write_corpus: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--inputs" => inputs = value().parse().unwrap_or_else(|_| usage()),
            "--seed" => seed = value().parse().unwrap_or_else(|_| usage()),
            "--corpus" => corpus_dirs.push(value().into()),
            "--write-corpus" => write_corpus = Some(value().into()),
            _ => usage(),
        }
    }

    let generated = seeds();
    if let Some(dir) = write_corpus {
        std::fs::create_dir_all(&dir).expect("create the corpus directory");
        for seed in &generated {
            std::fs::write(dir.join(&seed.name), &seed.bytes).expect("write a seed");
        }
        println!("wrote {} seeds to {}", generated.len(), dir.display());
        return;
    }

    let mut corpus: Vec<Vec<u8>> = generated.iter().map(|s| s.bytes.to_vec()).collect();
    if corpus_dirs.is_empty() {
        let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/broker_core");
        if default.is_dir() {
            corpus_dirs.push(default);
        }
    }
    for dir in &corpus_dirs {
        match read_corpus(dir, &mut corpus) {
            Ok(n) => println!("corpus: {n} files from {}", dir.display()),
            Err(error) => {
                eprintln!("cannot read {}: {error}", dir.display());
                std::process::exit(2);
            }
        }
    }
    // Files written by --write-corpus repeat the generated seeds: keep one of each.
    let mut seen = std::collections::BTreeSet::new();
    corpus.retain(|input| seen.insert(input.clone()));
    let seeds_count = corpus.len();
    println!(
        "seeds: {} generated + {} from files; running {inputs} inputs with seed {seed}",
        generated.len(),
        seeds_count - generated.len()
    );

    // Panics are caught and counted; the default hook would print every one of them.
    static PANICKED: AtomicBool = AtomicBool::new(false);
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !PANICKED.swap(true, Ordering::SeqCst) {
            default_hook(info);
        }
    }));

    // Every seed as is first, then mutations.
    let mut totals = FuzzOutcome::default();
    for input in &corpus {
        totals.add(&run_input(input));
    }

    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts/broker_core");
    let mut rng = Rng(seed);
    let mut pool: Vec<Vec<u8>> = corpus.clone();
    const POOL_LIMIT: usize = 20_000;
    let mut panics = 0u64;
    let mut bytes = 0u64;
    let started = Instant::now();
    let mut next_report = 100_000u64;
    for n in 0..inputs {
        let base = if rng.chance(4) {
            &pool[rng.below(pool.len())]
        } else {
            &corpus[rng.below(seeds_count)]
        };
        let mut input = base.clone();
        mutate(&mut rng, &mut input, &corpus);
        bytes += input.len() as u64;
        match std::panic::catch_unwind(AssertUnwindSafe(|| run_input(&input))) {
            Ok(outcome) => totals.add(&outcome),
            Err(_) => {
                panics += 1;
                std::fs::create_dir_all(&artifacts).expect("create the artifacts directory");
                let path = artifacts.join(format!("crash-{seed}-{n}"));
                std::fs::write(&path, &input).expect("write the crashing input");
                eprintln!("PANIC on input {n}: written to {}", path.display());
            }
        }
        if rng.chance(16) {
            if pool.len() < POOL_LIMIT {
                pool.push(input);
            } else {
                let at = rng.below(POOL_LIMIT);
                pool[at] = input;
            }
        }
        if n + 1 == next_report {
            println!(
                "  {} inputs, {:.1}s, {panics} panics",
                n + 1,
                started.elapsed().as_secs_f64()
            );
            next_report += 100_000;
        }
    }
    let elapsed = started.elapsed();
    println!(
        "inputs={inputs} seed={seed} bytes={bytes} seconds={:.1} inputs_per_second={:.0} panics={panics} \
         frames={} responses={} closes={} framing_errors={} peak_rss_kib={}",
        elapsed.as_secs_f64(),
        inputs as f64 / elapsed.as_secs_f64().max(1e-9),
        totals.frames,
        totals.responses,
        totals.closes,
        totals.framing_errors,
        peak_rss_kib().map_or_else(|| "unknown".to_owned(), |k| k.to_string()),
    );
    if panics > 0 {
        std::process::exit(1);
    }
}
