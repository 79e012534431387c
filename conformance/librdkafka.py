#!/usr/bin/env python3
"""librdkafka's own integration test suite against kmock: a conformance harness.

librdkafka 2.12.1 ships its integration tests (``tests/``, the ``test-runner`` binary) in the
crates.io crate ``rdkafka-sys`` 4.10.0+2.12.1, pinned by ``conformance/librdkafka-source``. This
script builds that suite once in a cache outside the clone and runs its tests against kmock: one
fresh ``kmock serve --port 0`` per test number, the runner pointed at it through a config file.

Usage:
    python3 conformance/librdkafka.py build            fetch + build librdkafka and its tests (cached)
    python3 conformance/librdkafka.py list             every test of the suite: runnable or why not
    python3 conformance/librdkafka.py run --all        every runnable test; writes the result table
                                                       (conformance/results/librdkafka.{md,json})
    python3 conformance/librdkafka.py run --ci         the curated CI subset (`ci` in the expected
                                                       list); exits 1 when a test expected to pass
                                                       does not pass
    python3 conformance/librdkafka.py run 0001 0081_admin   chosen tests (numbers or full names)

Options of ``run``: ``--kmock PATH`` (default ``$KMOCK_BIN``, else
``$CARGO_TARGET_DIR/debug/kmock``), ``--timeout-s N`` per test (default 300; ``LONG_TESTS_S`` gives 0113 1200), ``--log-dir DIR``,
``--out PREFIX`` (the table's path without extension), ``--rust-log FILTER`` (kmock's log filter,
default ``debug``), ``--test-debug CONTEXTS`` (librdkafka ``debug=`` for every client, e.g.
``cgrp,protocol``).

Environment: ``KMOCK_LIBRDKAFKA_DIR`` the build cache (default
``$HOME/.cache/kmock-librdkafka-2.12.1``); ``CARGO_HOME`` where cargo unpacks crates.

How a test is run (the choices and the experiments behind them are in docs/conformance.md):
- ``kmock serve --port 0 --control-port 0 --initial-rebalance-delay-ms 3000 --default-partitions 4``
  and, for the ``noautocreate`` scenario, ``--auto-create-topics false``: the broker configuration
  of librdkafka's trivup scenarios (``tests/scenarios/*.json``) with Kafka's default initial
  rebalance delay (0 breaks 0089 and 0102, which expect consumers started together to share the
  first generation).
- ``RDKAFKA_TEST_CONF`` names a file holding ``bootstrap.servers=<kmock>`` and
  ``test.timeout.multiplier=3`` (the multiplier librdkafka's own CI runs with);
  ``TEST_KAFKA_VERSION=4.0.0`` (kmock's protocol table is Kafka 4's);
  ``TESTS=NNNN TEST_MODE=bare ./test-runner -L -p1 [-s noautocreate]`` in the build's tests/;
  ``TEST_REPORT`` gives the per-test states, the runner's log the first failure. The runner's
  environment is built from scratch (no ``CI``, ``KAFKA_PATH``, ``TEST_*`` leaking in), so CI and a
  laptop run the same.
- ``TESTS`` selects by test *number*: the tests sharing a number run in one runner process against
  one broker. A test that does not finish within its timeout is ``timeout``. For every test that
  did not pass, the unit's directory under the log directory keeps the runner's output, kmock's
  stderr (``RUST_LOG=debug``), kmock's request log (``requests.json``, from the control API) and
  the runner's stats file.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional, TextIO

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCE_MANIFEST = REPO_ROOT / "conformance" / "librdkafka-source" / "Cargo.toml"
EXPECTED_FILE = REPO_ROOT / "conformance" / "librdkafka-expected.txt"
DEFAULT_OUT = REPO_ROOT / "conformance" / "results" / "librdkafka"

LIBRDKAFKA_VERSION = "2.12.1"
RDKAFKA_SYS_VERSION = "4.10.0+2.12.1"

# The broker version the runner is told (TEST_KAFKA_VERSION). kmock's API table follows Kafka 4.x
# (the kafka-protocol crate drops the versions Kafka 4 removed: Produce < v3, message format v0/v1),
# so 4.0.0 makes the tests pick the paths a Kafka 4 broker serves: 0092 skips MsgVersion 1, 0052
# does not turn off ApiVersions negotiation, 0081 expects Kafka 4's authorized operations.
TEST_KAFKA_VERSION = "4.0.0"

# Kafka's default group.initial.rebalance.delay.ms. librdkafka's suite runs against trivup
# clusters with Kafka's defaults; docs/conformance.md compares this with 0.
INITIAL_REBALANCE_DELAY_MS = 3000

# num.partitions of librdkafka's trivup scenarios (tests/scenarios/default.json and
# noautocreate.json): several tests count on auto-created topics having 4 partitions.
DEFAULT_PARTITIONS = 4

DEFAULT_TIMEOUT_S = 300

# Tests that create topics with replication factor 3 (test_create_topic(..., 3) or the Admin API),
# which Kafka, and kmock, refuse on fewer brokers (INVALID_REPLICATION_FACTOR): their unit runs
# against `kmock serve --brokers 3`, as librdkafka's own CI runs against a 3-broker trivup cluster.
THREE_BROKER_TESTS = frozenset({"0103_transactions", "0107_topic_recreate", "0111_delay_create_topics"})

# Tests that take longer than the default budget by design, with the budget they get instead:
# 0113_cooperative_rebalance runs two dozen sub-tests and variations, mostly fixed waits
# (615 s against kmock on 2 cores, every sub-test passing).
LONG_TESTS_S: dict[str, float] = {"0113_cooperative_rebalance": 1200}

# librdkafka's own CI runs its suite with CI set, which makes test.c triple every test's timeout
# (test_timeout_multiplier += 2). We give the same multiplier through the config file instead of
# setting CI, which would also skip 0055_producer_latency and relax 0053_stats's timing checks.
TEST_TIMEOUT_MULTIPLIER = 3

# Debian packages whose headers librdkafka's configure looks for; without them it silently builds
# without SSL/SASL/zstd/lz4, and tests of those features would fail or skip for the wrong reason.
# RapidJSON (header-only, C++) is used by the tests alone: 0053_stats validates the statistics JSON
# with it and skips itself without it.
BUILD_HEADERS: dict[str, tuple[str, str]] = {
    "openssl/ssl.h": ("c", "libssl-dev"),
    "zlib.h": ("c", "zlib1g-dev"),
    "zstd.h": ("c", "libzstd-dev"),
    "lz4.h": ("c", "liblz4-dev"),
    "sasl/sasl.h": ("c", "libsasl2-dev"),
    "rapidjson/schema.h": ("c++", "rapidjson-dev"),
}
# What configure must have enabled (config.h), checked after configure; part of the cache stamp, so
# a build made without one of them is redone.
REQUIRED_FEATURES = (
    "WITH_SSL",
    "WITH_ZLIB",
    "WITH_ZSTD",
    "WITH_LZ4_EXT",
    "WITH_SASL_CYRUS",
    "WITH_RAPIDJSON",
)
BUILD_TOOLS: dict[str, str] = {"cc": "gcc", "c++": "g++", "make": "make", "pkg-config": "pkg-config"}

# Kafka's kafka-topics.sh for the tests that shell out to it (0045's topic removal and partition
# growth, 0052, 0077): the same command lines over the Admin API (kafka-cli/kafka_topics.py, with
# confluent-kafka from the interop venv). KAFKA_PATH points here.
KAFKA_CLI = REPO_ROOT / "conformance" / "kafka-cli"


# The runnable tests that call kafka-topics.sh (found by reading their sources for
# test_kafka_topics).
CLI_TESTS = frozenset(
    {
        "0045_subscribe_update_non_exist_and_partchange",
        "0045_subscribe_update_topic_remove",
        "0052_msg_timestamps",
        "0077_compaction",
    }
)


def cli_python() -> Path:
    """The Python the kafka-topics.sh stand-in runs with: the interop venv's (KMOCK_VENV, default
    <repo>/.venv), which .ci/run and `bash .ci/run venv` set up with confluent-kafka."""
    return Path(os.environ.get("KMOCK_VENV", REPO_ROOT / ".venv")) / "bin" / "python"


def check_cli_python() -> None:
    """Fails with one clear line when the kafka-topics.sh stand-in cannot run."""
    python = cli_python()
    if not python.exists():
        raise HarnessError(
            f"{python} does not exist: the kafka-topics.sh stand-in (conformance/kafka-cli) needs the interop "
            "venv with confluent-kafka: run `bash .ci/run venv` or set KMOCK_VENV"
        )
    probe = subprocess.run([str(python), "-c", "import confluent_kafka"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise HarnessError(
            f"{python} cannot import confluent_kafka (needed by conformance/kafka-cli): "
            f"{probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else 'exit ' + str(probe.returncode)}"
        )


# Tests of the suite that cannot run against one plaintext broker without Kafka's tools, with why.
# Local tests (TEST_F_LOCAL), manual tests and the runner's known issues are excluded by their
# flags in tests/test.c; these are excluded by reading their source.
NOT_RUNNABLE: dict[str, str] = {
    "0097_ssl_verify": "SSL listener and certificates",
    "0098_consumer_txn": "Java: its transactions come from Kafka's Java client (java/TransactionProducerCli), built with a JDK against KAFKA_PATH's jars",
    "0101_fetch_from_follower": "3 brokers with broker.rack (fetch from follower, KIP-392)",
    "0109_auto_create_topics": "Kafka CLI: denies a topic with kafka-acls.sh (KAFKA_PATH) in its second half",
    "0115_producer_auth": "ACLs (kafka-acls.sh) and an authorizer",
    "0119_consumer_auth": "ACLs (kafka-acls.sh) and an authorizer",
    "0126_oauthbearer_oidc": "SASL/OAUTHBEARER with an OIDC token endpoint",
    "0135_sasl_credentials": "SASL",
    "0139_offset_validation_mock": "mock-only: runs against librdkafka's own mock cluster",
    "0142_reauthentication": "SASL re-authentication (KIP-368)",
    "0150_telemetry_mock": "mock-only: runs against librdkafka's own mock cluster",
}

RESULTS = ("pass", "fail", "skip", "timeout")
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


class HarnessError(Exception):
    """A problem the harness reports as one clear line (missing package, bad expected list...)."""


def say(message: str) -> None:
    """Progress goes to stderr: stdout carries only results."""
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# The suite's catalogue, read from tests/test.c
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SuiteTest:
    """One entry of librdkafka's `tests[]` table (tests/test.c)."""

    name: str
    flags: str
    scenario: str  # the runner's scenario string, e.g. "default", "noautocreate", "default,ak23"

    @property
    def number(self) -> str:
        return self.name[:4]

    @property
    def flag_names(self) -> set[str]:
        """The TEST_F_* names in its flags (TEST_F_KNOWN_ISSUE_WIN32/_OSX are 0 on Linux)."""
        return set(re.findall(r"TEST_F_\w+", self.flags)) - {"TEST_F_KNOWN_ISSUE_WIN32", "TEST_F_KNOWN_ISSUE_OSX"}

    def not_runnable_reason(self) -> Optional[str]:
        """Why this test cannot run against kmock, or None when it can."""
        flags = self.flag_names
        if "TEST_F_LOCAL" in flags:
            return "local: needs no broker (excluded by -L)"
        if "TEST_F_MANUAL" in flags:
            return "manual test"
        if "TEST_F_KNOWN_ISSUE" in flags:
            return "librdkafka known issue: the runner skips it by default"
        return NOT_RUNNABLE.get(self.name)

    @property
    def run_scenario(self) -> str:
        """The scenario we run it in: noautocreate when it needs it, else default."""
        return "default" if "default" in self.scenario.split(",") else self.scenario


def _split_top_level(text: str) -> list[str]:
    """Splits `a, f(b, c), d` at the commas outside parentheses."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


def read_catalogue(tests_dir: Path) -> list[SuiteTest]:
    """Every `_TEST(...)` entry of the `tests[]` table in tests/test.c, in table order."""
    source = (tests_dir / "test.c").read_text(encoding="utf-8", errors="replace")
    start = source.find("struct test tests[] = {")
    if start < 0:
        raise HarnessError(f"{tests_dir / 'test.c'}: no `struct test tests[]` table")
    end = source.find("{NULL}}", start)
    table = re.sub(r"/\*.*?\*/", "", source[start:end], flags=re.S)
    tests: list[SuiteTest] = []
    position = 0
    while (match := re.compile(r"\b_TEST\(").search(table, position)) is not None:
        depth = 1
        index = match.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(table[index], 0)
            index += 1
        arguments = _split_top_level(table[match.end() : index - 1])
        position = index
        scenario = "default"
        for argument in arguments[2:]:
            if (found := re.fullmatch(r'\.scenario\s*=\s*"([^"]*)"', argument)) is not None:
                scenario = found.group(1)
        tests.append(SuiteTest(name=arguments[0], flags=arguments[1], scenario=scenario))
    if len(tests) < 100:
        raise HarnessError(f"read only {len(tests)} tests from {tests_dir / 'test.c'}")
    unknown = set(NOT_RUNNABLE) - {test.name for test in tests}
    if unknown:
        raise HarnessError(f"NOT_RUNNABLE names tests the suite does not have: {sorted(unknown)}")
    return tests


def runnable_tests(catalogue: list[SuiteTest]) -> list[SuiteTest]:
    return [test for test in catalogue if test.not_runnable_reason() is None]


@dataclasses.dataclass
class Unit:
    """One runner process against one fresh broker: the runnable tests of one number + scenario."""

    number: str
    scenario: str
    tests: list[SuiteTest]

    @property
    def label(self) -> str:
        return self.number if self.scenario == "default" else f"{self.number}-{self.scenario}"

    @property
    def brokers(self) -> int:
        """Brokers of its `kmock serve`: 3 when one of its tests needs replication factor 3."""
        return 3 if any(test.name in THREE_BROKER_TESTS for test in self.tests) else 1


def plan_units(catalogue: list[SuiteTest], selected: list[SuiteTest]) -> list[Unit]:
    """Groups the selected tests by (number, scenario), checking that the runner, which selects
    by number, runs exactly the tests we mean to run in each group."""
    units: dict[tuple[str, str], Unit] = {}
    for test in selected:
        key = (test.number, test.run_scenario)
        units.setdefault(key, Unit(test.number, test.run_scenario, [])).tests.append(test)
    for unit in units.values():
        # What `TESTS=NNNN ./test-runner -L -s SCENARIO` starts: same number, not local, not a
        # known issue, the scenario matching (strstr, as test.c does).
        started = {
            test.name
            for test in catalogue
            if test.number == unit.number
            and not test.flag_names & {"TEST_F_LOCAL", "TEST_F_KNOWN_ISSUE", "TEST_F_MANUAL"}
            and unit.scenario in test.scenario
        }
        runnable_here = {
            test.name
            for test in runnable_tests(catalogue)
            if test.number == unit.number and test.run_scenario == unit.scenario
        }
        if started != runnable_here:
            raise HarnessError(
                f"TESTS={unit.number} -s {unit.scenario} would start {sorted(started)}, "
                f"but the runnable tests of that number are {sorted(runnable_here)}"
            )
    return sorted(units.values(), key=lambda unit: (unit.number, unit.scenario))


# ---------------------------------------------------------------------------------------------
# Expected results
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Expectation:
    result: str  # pass | fail | skip
    in_ci: bool
    cause: str


def read_expected(path: Path, runnable: list[SuiteTest]) -> dict[str, Expectation]:
    """Reads the expected list: `NAME RESULT CI [CAUSE...]` per line, `#` comments.

    Every runnable test must be listed exactly once; fail and skip need a cause."""
    expected: dict[str, Expectation] = {}
    for line_number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip() if raw.lstrip().startswith("#") else raw.strip()
        if not line:
            continue
        fields = line.split(None, 3)
        where = f"{path}:{line_number}"
        if len(fields) < 3:
            raise HarnessError(f"{where}: expected `NAME RESULT ci|- [CAUSE]`, got {raw!r}")
        name, result, ci = fields[:3]
        cause = fields[3].strip() if len(fields) == 4 else ""
        if result not in ("pass", "fail", "skip"):
            raise HarnessError(f"{where}: result {result!r} is not pass, fail or skip")
        if ci not in ("ci", "-"):
            raise HarnessError(f"{where}: third column {ci!r} is not `ci` or `-`")
        if result != "pass" and not cause:
            raise HarnessError(f"{where}: {name} is expected to {result}: say why (a cause)")
        if name in expected:
            raise HarnessError(f"{where}: {name} listed twice")
        expected[name] = Expectation(result, ci == "ci", cause)
    names = {test.name for test in runnable}
    missing = sorted(names - set(expected))
    extra = sorted(set(expected) - names)
    if missing or extra:
        raise HarnessError(
            f"{path} does not match the runnable tests: missing {missing}, not runnable {extra}"
        )
    return expected


# ---------------------------------------------------------------------------------------------
# Getting and building librdkafka
# ---------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    default = Path.home() / ".cache" / f"kmock-librdkafka-{LIBRDKAFKA_VERSION}"
    return Path(os.environ.get("KMOCK_LIBRDKAFKA_DIR", default))


def build_root() -> Path:
    """The built librdkafka tree (its tests/test-runner) inside the cache."""
    return cache_dir() / "librdkafka"


def stamp_path() -> Path:
    return cache_dir() / "build-complete.json"


def source_dir() -> Path:
    """Fetches rdkafka-sys (checked against the committed Cargo.lock) and returns its librdkafka/."""
    cargo = shutil.which("cargo")
    if cargo is None:
        raise HarnessError("cargo not found: it fetches librdkafka's source (crate rdkafka-sys)")
    say(f"fetching rdkafka-sys {RDKAFKA_SYS_VERSION} (cargo fetch --locked)")
    fetch = subprocess.run(
        [cargo, "fetch", "--locked", "--manifest-path", str(SOURCE_MANIFEST)],
        capture_output=True,
        text=True,
    )
    if fetch.returncode != 0:
        raise HarnessError(f"cargo fetch of {SOURCE_MANIFEST} failed:\n{fetch.stderr.strip()}")
    metadata = subprocess.run(
        [cargo, "metadata", "--locked", "--offline", "--format-version", "1",
         "--manifest-path", str(SOURCE_MANIFEST)],
        capture_output=True,
        text=True,
    )
    if metadata.returncode != 0:
        raise HarnessError(f"cargo metadata of {SOURCE_MANIFEST} failed:\n{metadata.stderr.strip()}")
    for package in json.loads(metadata.stdout)["packages"]:
        if package["name"] == "rdkafka-sys" and package["version"] == RDKAFKA_SYS_VERSION:
            source = Path(package["manifest_path"]).parent / "librdkafka"
            if not (source / "tests" / "test.c").is_file():
                raise HarnessError(f"{source} has no tests/test.c")
            return source
    raise HarnessError(f"rdkafka-sys {RDKAFKA_SYS_VERSION} is not in {SOURCE_MANIFEST}'s lock file")


def check_build_prerequisites() -> None:
    """Fails with the Debian packages to install when a tool or a header is missing."""
    missing_tools = [package for tool, package in BUILD_TOOLS.items() if shutil.which(tool) is None]
    if missing_tools:
        raise HarnessError(
            f"missing build tools for librdkafka: install {' '.join(sorted(set(missing_tools)))} "
            f"(apt-get install {' '.join(sorted(set(missing_tools)))})"
        )
    missing: list[str] = []
    for header, (language, package) in BUILD_HEADERS.items():
        compiler = "cc" if language == "c" else "c++"
        probe = subprocess.run(
            [compiler, "-E", "-x", language, "-", "-o", os.devnull],
            input=f"#include <{header}>\n",
            capture_output=True,
            text=True,
        )
        if probe.returncode != 0:
            missing.append(package)
    if missing:
        raise HarnessError(
            f"missing development headers for librdkafka: {' '.join(missing)} "
            f"(apt-get install {' '.join(missing)})"
        )


def _run_logged(command: list[str], cwd: Path, log: TextIO, what: str) -> None:
    log.write(f"\n$ {' '.join(command)}  (in {cwd})\n")
    log.flush()
    result = subprocess.run(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise HarnessError(f"{what} failed (exit {result.returncode}); see {log.name}")


def build(force: bool = False) -> Path:
    """Builds librdkafka and its test-runner in the cache unless a complete build is there.

    Returns the tests/ directory. A build is complete when its stamp exists (written last); an
    interrupted build is started over from a fresh copy of the source. A lock file serializes
    builds of the same cache from several clones."""
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache.parent / f"{cache.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        tests_dir = build_root() / "tests"
        if stamp_path().is_file() and (tests_dir / "test-runner").is_file() and not force:
            stamp = json.loads(stamp_path().read_text(encoding="utf-8"))
            if stamp.get("features") == list(REQUIRED_FEATURES):
                say(
                    f"librdkafka {LIBRDKAFKA_VERSION} already built in {build_root()} "
                    f"(built {stamp.get('finished', '?')} in {stamp.get('build_seconds', '?')} s)"
                )
                return tests_dir
            say(f"the cached build has features {stamp.get('features')}, not {list(REQUIRED_FEATURES)}: rebuilding")
        check_build_prerequisites()
        source = source_dir()
        stamp_path().unlink(missing_ok=True)
        if build_root().exists():
            shutil.rmtree(build_root())
        say(f"copying {source} to {build_root()}")
        shutil.copytree(source, build_root(), symlinks=True)
        jobs = str(os.cpu_count() or 1)
        log_path = cache / "build.log"
        started = time.monotonic()
        with open(log_path, "w", encoding="utf-8") as log:
            say(f"building librdkafka {LIBRDKAFKA_VERSION} (log: {log_path}): ./configure")
            _run_logged(["./configure"], build_root(), log, "librdkafka ./configure")
            config_h = (build_root() / "config.h").read_text(encoding="utf-8")
            disabled = [f for f in REQUIRED_FEATURES if not re.search(rf"#define {f} 1\b", config_h)]
            if disabled:
                raise HarnessError(
                    f"librdkafka's configure disabled {', '.join(disabled)}: their development "
                    f"packages are missing ({', '.join(p for _, p in BUILD_HEADERS.values())}); see {log_path}"
                )
            say(f"make -j{jobs} libs")
            _run_logged(["make", f"-j{jobs}", "libs"], build_root(), log, "make libs")
            say(f"make -j{jobs} -C tests build")
            _run_logged(["make", f"-j{jobs}", "-C", "tests", "build"], build_root(), log, "make -C tests build")
        seconds = round(time.monotonic() - started, 1)
        if not (tests_dir / "test-runner").is_file():
            raise HarnessError(f"the build produced no {tests_dir / 'test-runner'}; see {log_path}")
        stamp_path().write_text(
            json.dumps(
                {
                    "librdkafka": LIBRDKAFKA_VERSION,
                    "rdkafka_sys": RDKAFKA_SYS_VERSION,
                    "features": list(REQUIRED_FEATURES),
                    "build_seconds": seconds,
                    "jobs": int(jobs),
                    "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
        say(f"built librdkafka {LIBRDKAFKA_VERSION} and its test-runner in {seconds} s")
        return tests_dir


def built_tests_dir() -> Path:
    tests_dir = build_root() / "tests"
    stamp = json.loads(stamp_path().read_text(encoding="utf-8")) if stamp_path().is_file() else {}
    if stamp.get("features") != list(REQUIRED_FEATURES) or not (tests_dir / "test-runner").is_file():
        raise HarnessError(
            f"librdkafka is not built in {cache_dir()}: run `python3 conformance/librdkafka.py build`"
        )
    return tests_dir


# ---------------------------------------------------------------------------------------------
# Running tests
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class TestResult:
    name: str
    result: str  # pass | fail | skip | timeout
    seconds: float
    detail: str  # first failure line, skip reason, or empty
    unit: str
    log_dir: Optional[str] = None


class KmockServer:
    """A `kmock serve --port 0 --control-port 0` process; its stderr goes to a file, its control
    API gives the request log kept with a failed test's logs."""

    def __init__(
        self, binary: Path, unit: Unit, stderr_path: Path, rust_log: str, rebalance_delay_ms: int
    ) -> None:
        scenario = unit.scenario
        self.args = [
            str(binary),
            "serve",
            "--brokers",
            str(unit.brokers),
            "--port",
            "0",
            "--control-port",
            "0",
            "--initial-rebalance-delay-ms",
            str(rebalance_delay_ms),
            "--default-partitions",
            str(DEFAULT_PARTITIONS),
            "--auto-create-topics",
            "false" if scenario == "noautocreate" else "true",
        ]
        self.stderr_path = stderr_path
        self.stderr = open(stderr_path, "w", encoding="utf-8")
        env = dict(os.environ, RUST_LOG=rust_log)
        self.process = subprocess.Popen(
            self.args, stdout=subprocess.PIPE, stderr=self.stderr, text=True, env=env
        )
        self.bootstrap = self._read_line("BOOTSTRAP=", timeout_s=30)
        self.control = self._read_line("CONTROL=", timeout_s=30)

    def _read_line(self, prefix: str, timeout_s: float) -> str:
        assert self.process.stdout is not None
        stdout = self.process.stdout
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout_s)
        if not line or not line[0].startswith(prefix):
            self.stop()
            raise HarnessError(
                f"`{' '.join(self.args)}` printed no {prefix} line within {timeout_s} s "
                f"(exit code {self.process.poll()}); its stderr: {self.stderr_path}"
            )
        return line[0].strip().removeprefix(prefix)

    def save_request_log(self, path: Path) -> None:
        """Writes the broker's request log (API, version, client, outcome per request) to `path`."""
        try:
            with urllib.request.urlopen(f"{self.control}/requests?limit=1000000", timeout=30) as answer:
                path.write_bytes(answer.read())
        except (urllib.error.URLError, OSError) as error:
            path.write_text(f"request log unavailable: {error}\n", encoding="utf-8")

    def exit_code(self) -> Optional[int]:
        return self.process.poll()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.stderr.close()


def remove_offset_files(tests_dir: Path) -> None:
    """Removes the file offset store's files (`*.offset`) left in the runner's working directory
    by earlier runs: a later test whose random topic name matches one would resume from it."""
    for stale in tests_dir.glob("*.offset"):
        stale.unlink()


def runner_environment(
    config_path: Path, report_path: Path, unit: Unit, test_debug: Optional[str], bootstrap: str
) -> dict[str, str]:
    """The test-runner's whole environment, built from scratch so nothing leaks in: CI (test.c
    would skip 0055 and relax 0053's checks), KAFKA_PATH (ours: conformance/kafka-cli), TESTS_SKIP,
    TEST_CONSUMER_GROUP_PROTOCOL (KIP-848). A laptop run and a CI run behave the same."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "LD_LIBRARY_PATH": "../src:../src-cpp",
        "RDKAFKA_TEST_CONF": str(config_path),
        "TEST_KAFKA_VERSION": TEST_KAFKA_VERSION,
        "TESTS": unit.number,
        "TEST_MODE": "bare",
        "TEST_REPORT": str(report_path),
        "RDKAFKA_GITVER": f"v{LIBRDKAFKA_VERSION}",
        # test_kafka_topics(): `$KAFKA_PATH/bin/kafka-topics.sh --bootstrap-server $BROKERS ...`
        "KAFKA_PATH": str(KAFKA_CLI),
        "BROKERS": bootstrap,
        "KMOCK_CONFORMANCE_PYTHON": str(cli_python()),
    }
    if test_debug:
        env["TEST_DEBUG"] = test_debug
    return env


SUMMARY_LINE = re.compile(r"^\|\s*(\S+)\s*\|\s*([A-Z]+)\s*\|\s*([\d.]+)s\s*\|\s?(.*)$")


def parse_summary(output: str) -> dict[str, tuple[str, float, str]]:
    """The runner's summary table: name -> (state, seconds, failure or skip text)."""
    rows: dict[str, tuple[str, float, str]] = {}
    for raw in output.splitlines():
        line = ANSI_ESCAPE.sub("", raw)
        if (match := SUMMARY_LINE.match(line)) is not None:
            rows[match.group(1)] = (match.group(2), float(match.group(3)), match.group(4).strip())
    return rows


FAILURE_HEADER = re.compile(r'^### Test "([^"]*)" failed at ([^:]+:\d+):(\w*)\(\) at .*###$')


def first_failure_line(output: str, name: str) -> str:
    """The first failure the runner printed for `name`: `file:line: message`.

    The runner prints `### Test "NAME (subtest)" failed at FILE:LINE:FUNC() at DATE: ###` and the
    assertion's message on the next line."""
    lines = [ANSI_ESCAPE.sub("", line).rstrip() for line in output.splitlines()]
    for index, line in enumerate(lines):
        match = FAILURE_HEADER.match(line)
        if match is None or not (match.group(1) == name or match.group(1).startswith(name + " ")):
            continue
        message = lines[index + 1].strip() if index + 1 < len(lines) else ""
        if message.startswith("["):  # no message line: the next log line follows
            message = ""
        if (assertion := re.match(r'^Test assertion failed: "(.+?)":\s*(.*)$', message)) is not None:
            # The test's own words say more than the expression; some assertions have none.
            message = assertion.group(2) or f"assertion failed: {assertion.group(1)}"
        return f"{match.group(2)}: {message}" if message else f"{match.group(2)} ({match.group(3)})"
    return ""


def states_from_output(output: str) -> dict[str, tuple[str, str, float]]:
    """Test outcomes as the runner logs them while it runs: name -> (state, skip reason,
    seconds). Used when it left no report (killed at the timeout)."""
    states: dict[str, tuple[str, str, float]] = {}
    durations: dict[str, float] = {}
    for raw in output.splitlines():
        line = ANSI_ESCAPE.sub("", raw)
        if (done := re.search(r"=+ Test (\S+) (PASSED|FAILED) =+", line)) is not None:
            states[done.group(1)] = (done.group(2), "", durations.get(done.group(1), 0.0))
        elif (skip := re.match(r"^\[(\S+)\s*/[^\]]*\] WARN: SKIPPING TEST: (.*)$", line)) is not None:
            states.setdefault(skip.group(1), ("SKIPPED", skip.group(2).strip(), 0.0))
        elif (took := re.match(r"^\[(\S+)\s*/[^\]]*\] (\S+): duration ([\d.]+)ms$", line)) is not None:
            if took.group(1) == took.group(2):
                durations[took.group(1)] = float(took.group(3)) / 1000
    return states


def last_lines(text: str, count: int) -> str:
    return "\n".join(ANSI_ESCAPE.sub("", line) for line in text.splitlines()[-count:])


def run_unit(
    unit: Unit,
    tests_dir: Path,
    kmock: Path,
    log_root: Path,
    timeout_s: float,
    rust_log: str,
    test_debug: Optional[str],
    rebalance_delay_ms: int,
    keep_logs: bool,
) -> list[TestResult]:
    """Runs one unit against a fresh kmock; keeps its logs unless every test passed (or
    `keep_logs`)."""
    unit_dir = log_root / unit.label
    unit_dir.mkdir(parents=True, exist_ok=True)
    config_path = unit_dir / "test.conf"
    report_path = unit_dir / "report.json"
    output_path = unit_dir / "test-runner.out"
    kmock_stderr = unit_dir / "kmock.stderr"
    # Tests with `offset.store.method=file` (0014) keep `<topic>-<partition>.offset` files in the
    # runner's working directory, the shared build. Topic names are random, but a name can come
    # round again in a later run, whose consumer would then start at a stale stored offset (0014
    # once began at its topic's end and waited for its timeout). None may outlive its unit.
    remove_offset_files(tests_dir)
    server = KmockServer(kmock, unit, kmock_stderr, rust_log, rebalance_delay_ms)
    timed_out = False
    started = time.monotonic()
    try:
        config_path.write_text(
            f"# written by conformance/librdkafka.py for TESTS={unit.number}\n"
            f"bootstrap.servers={server.bootstrap}\n"
            f"test.timeout.multiplier={TEST_TIMEOUT_MULTIPLIER}\n",
            encoding="utf-8",
        )
        command = ["./test-runner", "-L", "-p1"]
        if unit.scenario != "default":
            command += ["-s", unit.scenario]
        budget_s = sum(max(timeout_s, LONG_TESTS_S.get(test.name, 0)) for test in unit.tests)
        with open(output_path, "w", encoding="utf-8", errors="replace") as output:
            output.write(f"# kmock: {' '.join(server.args)} -> {server.bootstrap}\n")
            output.write(f"# TESTS={unit.number} TEST_KAFKA_VERSION={TEST_KAFKA_VERSION} {' '.join(command)}\n")
            output.flush()
            runner = subprocess.Popen(
                command,
                cwd=tests_dir,  # tests read ../src/statistics_schema.json and the like
                env=runner_environment(config_path, report_path, unit, test_debug, server.bootstrap),
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                runner.wait(timeout=budget_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                # On a timeout, and when the harness itself is interrupted: no runner outlives it.
                if runner.poll() is None:
                    os.killpg(runner.pid, signal.SIGKILL)
                    runner.wait()
        kmock_exit = server.exit_code()
        # The runner writes stats_<test>_<id>.json into its working directory (the shared build):
        # move them to the unit's logs.
        for test in unit.tests:
            for stats in tests_dir.glob(f"stats_{test.name}_*.json"):
                shutil.move(str(stats), unit_dir / stats.name)
        # The unit's offset files go with its logs (see `remove_offset_files`).
        for offsets in tests_dir.glob("*.offset"):
            shutil.move(str(offsets), unit_dir / offsets.name)
        if kmock_exit is None:
            server.save_request_log(unit_dir / "requests.json")
    finally:
        server.stop()
    wall_s = time.monotonic() - started
    output_text = output_path.read_text(encoding="utf-8", errors="replace")
    summary = parse_summary(output_text)
    states: dict[str, tuple[str, float]] = {}
    if report_path.is_file():
        try:
            report = json.loads(report_path.read_text(encoding="utf-8", errors="replace"))
            states = {name: (t["state"], float(t["duration"])) for name, t in report["tests"].items()}
        except (ValueError, KeyError) as error:
            say(f"  {unit.label}: unreadable runner report {report_path}: {error}")
    kmock_note = ""
    if kmock_exit is not None:
        kmock_note = f"kmock exited with code {kmock_exit} during the test (see kmock.stderr)"
    elif "panicked" in kmock_stderr.read_text(encoding="utf-8", errors="replace"):
        kmock_note = "kmock panicked (see kmock.stderr)"

    logged = states_from_output(output_text)
    results: list[TestResult] = []
    for test in unit.tests:
        state, seconds, text = summary.get(test.name, ("", 0.0, ""))
        if test.name in states:
            state, seconds = states[test.name][0], states[test.name][1]
        if state in ("", "RUNNING", "DNS", "SKIPPED") and test.name in logged:
            if state != "SKIPPED":
                state, seconds = logged[test.name][0], logged[test.name][2]
            text = text or logged[test.name][1]
        if timed_out and state in ("", "RUNNING", "DNS"):
            result = "timeout"
            detail = f"no result within {budget_s:.0f} s; last output: " + last_lines(output_text, 1)
            seconds = wall_s
        elif state == "PASSED":
            result, detail = "pass", ""
        elif state == "SKIPPED":
            result, detail = "skip", text or "skipped"
        elif state == "FAILED":
            result = "fail"
            detail = first_failure_line(output_text, test.name) or (text.splitlines()[0] if text else "")
        else:
            result = "fail"
            detail = (
                f"no result for this test (runner exit code {runner.returncode}, state "
                f"{state or 'missing'}); last output: {last_lines(output_text, 1)}"
            )
        if kmock_note and result != "pass":
            detail = f"{kmock_note}; {detail}"
        results.append(TestResult(test.name, result, round(seconds, 3), detail.strip(), unit.label))
    if kmock_note and all(r.result == "pass" for r in results):
        # A broker that crashed under a passing test is still a finding.
        results[-1].result = "fail"
        results[-1].detail = kmock_note
    if all(r.result == "pass" for r in results) and not keep_logs:
        shutil.rmtree(unit_dir)
    else:
        for r in results:
            r.log_dir = str(unit_dir)
    return results


def resolve_kmock(path: Optional[str]) -> Path:
    if path:
        candidate = Path(path)
    elif os.environ.get("KMOCK_BIN"):
        candidate = Path(os.environ["KMOCK_BIN"])
    else:
        target = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "kmock-target"))
        candidate = target / "debug" / "kmock"
    if not candidate.is_file() or not os.access(candidate, os.X_OK):
        raise HarnessError(f"no kmock binary at {candidate}: build it (cargo build -p kmock) or pass --kmock")
    return candidate.resolve()


def select_tests(catalogue: list[SuiteTest], names: list[str]) -> list[SuiteTest]:
    runnable = runnable_tests(catalogue)
    chosen: list[SuiteTest] = []
    for name in names:
        matches = [t for t in runnable if t.name == name or t.number == name]
        if not matches:
            known = next((t for t in catalogue if t.name == name or t.number == name), None)
            reason = known.not_runnable_reason() if known else "no such test in the suite"
            raise HarnessError(f"{name}: not runnable ({reason})")
        chosen.extend(t for t in matches if t not in chosen)
    return chosen


def git_description() -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT, capture_output=True, text=True)
    commit = head.stdout.strip() or "unknown"
    return commit + ("+changes" if dirty.stdout.strip() else "")


def markdown_table(results: list[TestResult], expected: dict[str, Expectation]) -> str:
    lines = [
        "| test | result | expected | seconds | first failure / skip reason |",
        "|---|---|---|---:|---|",
    ]
    for r in results:
        detail = r.detail.replace("|", "\\|")
        if len(detail) > 200:
            detail = detail[:197] + "..."
        exp = expected.get(r.name)
        lines.append(f"| {r.name} | {r.result} | {exp.result if exp else '?'} | {r.seconds:.1f} | {detail} |")
    return "\n".join(lines)


def counts(results: list[TestResult]) -> dict[str, int]:
    return {result: sum(1 for r in results if r.result == result) for result in RESULTS}


def write_table(out: Path, results: list[TestResult], expected: dict[str, Expectation], meta: dict[str, object]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    total = counts(results)
    header = (
        f"# librdkafka {LIBRDKAFKA_VERSION} integration tests against kmock\n\n"
        f"Written by `python3 conformance/librdkafka.py run --all` (`just conformance`); "
        f"causes of the failures: docs/conformance.md.\n\n"
        f"- kmock {meta['kmock_commit']}, {meta['date']}, {meta['wall_s']:.0f} s wall\n"
        f"- {len(results)} tests: {total['pass']} pass, {total['fail']} fail, "
        f"{total['skip']} skip, {total['timeout']} timeout\n"
        f"- `kmock serve {meta['kmock_flags']}`; `TEST_KAFKA_VERSION={TEST_KAFKA_VERSION}`\n\n"
    )
    out.with_suffix(".md").write_text(header + markdown_table(results, expected) + "\n", encoding="utf-8")
    document = dict(meta, counts=total, tests=[dataclasses.asdict(r) for r in results])
    for row in document["tests"]:  # type: ignore[union-attr]
        row.pop("log_dir", None)
    out.with_suffix(".json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    say(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.json')}")


def compare(results: list[TestResult], expected: dict[str, Expectation]) -> tuple[list[str], list[str]]:
    """(regressions: expected to pass and did not; notices: other differences from the list)."""
    regressions: list[str] = []
    notices: list[str] = []
    for r in results:
        exp = expected[r.name]
        if exp.result == r.result:
            continue
        where = f" (logs: {r.log_dir})" if r.log_dir else ""
        if exp.result == "pass":
            regressions.append(f"{r.name}: expected pass, got {r.result}: {r.detail}{where}")
        elif r.result == "pass":
            notices.append(
                f"{r.name}: expected {exp.result} ({exp.cause}) but it PASSES now: "
                f"update {EXPECTED_FILE.relative_to(REPO_ROOT)} to `pass`"
            )
        else:
            notices.append(f"{r.name}: expected {exp.result} ({exp.cause}), got {r.result}: {r.detail}{where}")
    return regressions, notices


def command_run(args: argparse.Namespace) -> int:
    tests_dir = built_tests_dir()
    catalogue = read_catalogue(tests_dir)
    runnable = runnable_tests(catalogue)
    expected = read_expected(EXPECTED_FILE, runnable)
    if args.all:
        selected = runnable
    elif args.ci:
        selected = [t for t in runnable if expected[t.name].in_ci]
    else:
        if not args.tests:
            raise HarnessError("say which tests: --all, --ci or test numbers/names")
        selected = select_tests(catalogue, args.tests)
    kmock = resolve_kmock(args.kmock)
    if any(test.name in CLI_TESTS for test in selected):
        check_cli_python()
    units = plan_units(catalogue, selected)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    if args.log_dir:
        log_root = Path(args.log_dir)
    else:
        target = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "kmock-target"))
        log_root = target / "kmock-conformance-logs" / stamp
    log_root.mkdir(parents=True, exist_ok=True)
    mode = "all" if args.all else "ci" if args.ci else "chosen"
    say(
        f"librdkafka {LIBRDKAFKA_VERSION} conformance ({mode}): {len(selected)} tests in "
        f"{len(units)} runner processes, kmock {kmock}, logs of failures under {log_root}"
    )
    results: list[TestResult] = []
    started = time.monotonic()
    for index, unit in enumerate(units, start=1):
        unit_started = time.monotonic()
        unit_results = run_unit(
            unit, tests_dir, kmock, log_root, args.timeout_s, args.rust_log, args.test_debug,
            args.initial_rebalance_delay_ms, args.keep_logs,
        )
        results.extend(unit_results)
        for r in unit_results:
            exp = expected[r.name].result
            mark = "" if r.result == exp else f"  (expected {exp})"
            detail = f": {r.detail[:160]}" if r.detail and r.result != "pass" else ""
            say(f"[{index}/{len(units)} {time.monotonic() - started:6.0f}s] {r.name:<48} {r.result:<7} {r.seconds:7.1f}s{mark}{detail}")
        if time.monotonic() - unit_started > 1.5 * args.timeout_s:
            say(f"  ({unit.label} took {time.monotonic() - unit_started:.0f} s)")
    wall_s = time.monotonic() - started
    total = counts(results)
    say(
        f"{len(results)} tests in {wall_s:.0f} s: {total['pass']} pass, {total['fail']} fail, "
        f"{total['skip']} skip, {total['timeout']} timeout"
    )
    meta: dict[str, object] = {
        "librdkafka": LIBRDKAFKA_VERSION,
        "kmock_commit": git_description(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "wall_s": round(wall_s, 1),
        "mode": mode,
        "test_kafka_version": TEST_KAFKA_VERSION,
        "kmock_flags": f"--port 0 --initial-rebalance-delay-ms {args.initial_rebalance_delay_ms} "
        f"--default-partitions {DEFAULT_PARTITIONS} [--auto-create-topics false for noautocreate] "
        f"[--brokers 3 for {', '.join(sorted(THREE_BROKER_TESTS))}]",
    }
    out = Path(args.out) if args.out else (DEFAULT_OUT if args.all else log_root / "results")
    write_table(out, results, expected, meta)
    print(markdown_table(results, expected))
    regressions, notices = compare(results, expected)
    for notice in notices:
        say(f"NOTICE {notice}")
    if regressions:
        say(f"\nFAILED: {len(regressions)} test(s) expected to pass did not:")
        for regression in regressions:
            say(f"  {regression}")
        return 1
    say("every test expected to pass passed" + (f"; {len(notices)} notice(s) above" if notices else ""))
    return 0


def command_list(_: argparse.Namespace) -> int:
    tests_dir = build_root() / "tests"
    if not (tests_dir / "test.c").is_file():
        tests_dir = source_dir() / "tests"
    catalogue = read_catalogue(tests_dir)
    runnable = runnable_tests(catalogue)
    expected = read_expected(EXPECTED_FILE, runnable) if EXPECTED_FILE.is_file() else {}
    for test in catalogue:
        reason = test.not_runnable_reason()
        if reason is None:
            exp = expected.get(test.name)
            what = f"runnable  expected {exp.result}{' (ci)' if exp and exp.in_ci else ''}" if exp else "runnable"
            if test.run_scenario != "default":
                what += f"  scenario {test.run_scenario}"
            print(f"{test.name:<50} {what}")
        else:
            print(f"{test.name:<50} not runnable: {reason}")
    print(f"{len(catalogue)} tests, {len(runnable)} runnable against kmock", file=sys.stderr)
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build_parser = sub.add_parser("build", help="fetch and build librdkafka and its test-runner (cached)")
    build_parser.add_argument("--force", action="store_true", help="rebuild even when a build is cached")
    sub.add_parser("list", help="every test of the suite: runnable against kmock, or why not")
    run = sub.add_parser("run", help="run tests against fresh kmock brokers")
    group = run.add_mutually_exclusive_group()
    group.add_argument("--all", action="store_true", help="every runnable test; writes the table")
    group.add_argument("--ci", action="store_true", help="the curated CI subset")
    run.add_argument("tests", nargs="*", help="test numbers (0001) or names (0045_subscribe_update)")
    run.add_argument("--kmock", help="kmock binary (default $KMOCK_BIN or $CARGO_TARGET_DIR/debug/kmock)")
    run.add_argument("--timeout-s", type=float, default=DEFAULT_TIMEOUT_S, help="per test (default %(default)s)")
    run.add_argument("--log-dir", help="where logs of failed tests go")
    run.add_argument("--keep-logs", action="store_true", help="keep the logs of passing tests too")
    run.add_argument("--out", help="table path without extension (.md and .json are written)")
    run.add_argument("--rust-log", default="debug", help="kmock's RUST_LOG (default %(default)s)")
    run.add_argument(
        "--initial-rebalance-delay-ms",
        type=int,
        default=INITIAL_REBALANCE_DELAY_MS,
        help="kmock's group.initial.rebalance.delay.ms (default %(default)s, Kafka's)",
    )
    run.add_argument("--test-debug", help="librdkafka debug contexts for every client (TEST_DEBUG)")
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the `finally` blocks stop the runner and kmock.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        if args.command == "build":
            build(force=args.force)
            return 0
        if args.command == "list":
            return command_list(args)
        return command_run(args)
    except HarnessError as error:
        say(f"ERROR: {error}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
