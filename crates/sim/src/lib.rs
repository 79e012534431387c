//! kmock's deterministic simulation: a whole Kafka world — the broker, producers, consumer pools,
//! faults and a timeline — in one process, in virtual time, from a seed.
//!
//! - [`scenario`]: the `sims/*.toml` format (documented in `sims/README.md`), parsed with spans.
//! - [`world`]: the world built from a scenario and a seed (current-thread runtime, paused time).
//! - [`network`]: links between clients and the broker with latency, partitions and disconnects.
//! - [`pipeline`]: the exactly-once consume-transform-produce actor and the read_committed view
//!   of its output.
//! - [`trace`]: the trace, one line per event in virtual-time order, for snapshots.
//! - [`checkers`]: metrics, expectations and the verdict.
//! - [`runner`]: run one scenario with one seed into a [`RunReport`].
//! - [`timeline`]: the run drawn as a sequence diagram (SVG).
//!
//! Determinism rules (see the design notes): time only from `tokio::time`, randomness only from
//! the run's seeded PRNG, ordered collections only, `biased;` in every `select!`. Wall time is read
//! by the runner alone, outside the world, and never reaches a trace.
//!
//! Speed: a run makes about 1,500 small allocations per seed scenario, so the allocator shows. A
//! test binary that runs many simulations (a property suite) can allocate with mimalloc, as
//! kmock's own do (`#[global_allocator] static A: mimalloc::MiMalloc = mimalloc::MiMalloc;`):
//! about a third less wall time per seed run, a tenth per lifecycle case (BENCHMARKS.md,
//! issue 18 part 6). This crate sets no allocator.

pub mod checkers;
pub mod network;
pub mod pipeline;
pub mod runner;
pub mod scenario;
pub mod timeline;
pub mod trace;
pub mod world;

pub use checkers::{ExpectationResult, Value, Verdict};
pub use runner::{RunReport, run_file, run_scenario};
pub use scenario::{Scenario, ScenarioError, scenario_files};
