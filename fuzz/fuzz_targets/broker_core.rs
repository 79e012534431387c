//! libFuzzer target: raw bytes as one connection's stream → frame decoding → request dispatch in a
//! fresh broker core. The function is shared with the plain driver (`src/bin/drive.rs`) and the
//! proptest suite (`crates/broker/tests/mutation.rs`).
//!
//! cargo +nightly fuzz run broker_core fuzz/corpus/broker_core
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kmock_core::fuzz::run_input(data);
});
