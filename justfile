# kmock developer commands. CI does not use just: it runs `bash .ci/run`, which calls cargo directly.

set shell := ["bash", "-euo", "pipefail", "-c"]
# Pass recipe arguments as "$@" so quoting survives (fault specs, filters).
set positional-arguments

# Builds are slow on small machines: keep them outside the clone and reuse them across clones.
export CARGO_TARGET_DIR := env_var_or_default("CARGO_TARGET_DIR", env_var("HOME") + "/.cache/kmock-target")

# List the recipes.
default:
    @just --list

# Install the real Kafka clients the interop tests use: Python venv (.venv), tests/node packages.
venv:
    bash .ci/run venv

# Run every test (unit, interop with real clients, seed reproduction, bad input), then the
# real-client teardown matrix on its own (a wall-clock measurement: see .config/nextest.toml).
# With arguments (`just test -E 'binary(interop)'`) only what they select.
test *ARGS: venv
    cargo nextest run --workspace "$@"
    if [ "$#" -eq 0 ]; then just teardown-matrix; fi

# The seed's finding, measured: the default-vs-.env.test table from the bundled scenarios (--json).
demo *ARGS:
    cargo run -q -p kmock -- demo "$@"

# Serve a mock broker, e.g. `just serve --port 9092 --fault 'leave_group:delay=60s'`.
serve *ARGS:
    cargo run -p kmock -- serve "$@"

# Format check and clippy, as CI runs them.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

# Format the code.
fmt:
    cargo fmt --all

# Everything CI runs.
ci:
    bash .ci/run

# Run simulation scenarios in virtual time (release build): all of sims/ by default, or e.g.
# `just sim sims/slow-leave-default.toml --seed 7 --trace` (also --json).
sim *ARGS:
    if [ "$#" -eq 0 ]; then set -- sims/*.toml; fi; cargo run --release -q -p kmock -- sim run "$@"

# Benchmarks against librdkafka's mock cluster and tansu (installed by the venv recipe): builds
# release binaries, runs bench/run.py, writes bench/results/latest.{json,md} and the figures in
# BENCHMARKS.md. `just bench --smoke` is the seconds-sized check CI runs; `--runs N`, `--only 1,2`.
bench *ARGS: venv
    cargo build --release -p kmock -p kmock-bench-client -p kmock-bench-sim
    "${KMOCK_VENV:-.venv}/bin/python" bench/run.py --write-benchmarks "$@"

# Draw a scenario run as a sequence diagram, e.g. `just timeline sims/slow-leave-default.toml out.svg`.
timeline FILE OUT:
    cargo run --release -q -p kmock -- sim run "$1" --timeline "$2"

# Run one scenario across many seeds, e.g. `just explore sims/slow-leave-random.toml 500`.
explore FILE SEEDS="200":
    cargo run --release -q -p kmock -- sim explore --scenario "$1" --seeds "$2"

# The Python package (python/) as CI checks it: `pip install ./python` into a fresh venv with the
# examples' clients, then its tests and examples/python (extra arguments go to pytest, e.g. -k seed).
python *ARGS:
    cargo build -q -p kmock
    bash .ci/python-package "$@"

# A platform wheel of the Python package for distribution, with the release (fat LTO) executable:
# minutes on 2 cores. Written to $CARGO_TARGET_DIR/wheels; maturin runs from a throwaway venv.
python-wheel:
    python3 -m venv "$CARGO_TARGET_DIR/maturin-venv"
    "$CARGO_TARGET_DIR/maturin-venv/bin/python" -m pip install --quiet "maturin>=1.9,<2.0"
    cd python && "$CARGO_TARGET_DIR/maturin-venv/bin/maturin" build --release --out "$CARGO_TARGET_DIR/wheels"

# The real-client teardown matrix (tests/tests/teardown_matrix.rs): aiokafka, kafka-python,
# confluent-kafka and kafkajs under every fault during stop(). `just teardown-matrix` checks the
# measurements against docs/teardown.md; `just teardown-doc` measures 6 runs (KMOCK_TEARDOWN_RUNS)
# and rewrites docs/teardown.md and the README's table from them (after a deliberate change);
# `just teardown-doc-merge` measures again and widens each row by what it sees (a race found later).
teardown-matrix: venv
    cargo nextest run --workspace --ignore-default-filter -E 'package(kmock-tests) & binary(teardown_matrix)' --no-capture

teardown-doc: venv
    KMOCK_TEARDOWN_WRITE=1 cargo nextest run --workspace --ignore-default-filter -E 'package(kmock-tests) & binary(teardown_matrix)' --no-capture

teardown-doc-merge: venv
    KMOCK_TEARDOWN_WRITE=merge cargo nextest run --workspace --ignore-default-filter -E 'package(kmock-tests) & binary(teardown_matrix)' --no-capture

# librdkafka 2.12.1's own integration tests against kmock (conformance/librdkafka.py, docs/conformance.md):
# builds librdkafka once into ~/.cache/kmock-librdkafka-2.12.1, runs every runnable test against a fresh
# `kmock serve` each and writes conformance/results/librdkafka.{md,json} (about 40 minutes on 2 cores).
# `just conformance --ci` runs the CI subset; `just conformance 0081 0045_subscribe_update` chosen tests.
conformance *ARGS:
    cargo build -p kmock
    python3 conformance/librdkafka.py build
    if [ "$#" -eq 0 ]; then set -- --all; fi; python3 conformance/librdkafka.py run --kmock "$CARGO_TARGET_DIR/debug/kmock" "$@"
