//! Determinism: the same scenario and seed give a byte-identical trace; another seed may differ
//! (at least the values drawn from the seed do).

use std::path::PathBuf;

use kmock_sim::{Scenario, run_scenario, scenario_files};

fn scenarios() -> Vec<Scenario> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sims");
    scenario_files(dir)
        .expect("sims/ is readable")
        .iter()
        .map(|f| Scenario::load(f).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

#[test]
fn same_seed_gives_the_same_trace() {
    for scenario in scenarios() {
        // The file's seed and two others.
        for seed in [
            scenario.seed,
            scenario.seed ^ 0x5eed,
            u64::MAX - scenario.seed,
        ] {
            let first = run_scenario(&scenario, seed);
            let second = run_scenario(&scenario, seed);
            assert!(
                first.trace() == second.trace(),
                "{}: two runs with seed {seed} differ\nreproduce: kmock sim run {} --seed {seed} --trace",
                scenario.name,
                scenario.file,
            );
        }
    }
}

#[test]
fn another_seed_may_give_another_trace() {
    let mut differs_beyond_header = 0;
    for scenario in scenarios() {
        let a = run_scenario(&scenario, scenario.seed);
        let b = run_scenario(&scenario, scenario.seed.wrapping_add(1));
        assert_ne!(
            a.trace(),
            b.trace(),
            "{}: the seed is in the header",
            scenario.name
        );
        let body = |t: &str| {
            t.lines()
                .filter(|l| !l.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n")
        };
        if body(a.trace()) != body(b.trace()) {
            differs_beyond_header += 1;
        }
    }
    assert!(
        differs_beyond_header > 0,
        "no scenario's events depend on the seed"
    );
}
