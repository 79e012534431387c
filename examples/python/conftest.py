"""A pytest fixture for kmock: starts `kmock serve --port 0 --control-port 0` once per session,
reads the `BOOTSTRAP=` and `CONTROL=` lines it prints, resets the broker before every test through
the control API, and shuts the server down at the end.

Copy this file into your project's tests. The binary is `$KMOCK_BIN` if set, else `kmock` on PATH
(`cargo install --path crates/kmock`), else this repository's `target/debug/kmock`.

    def test_something(kmock):
        kmock.bootstrap            # "127.0.0.1:PORT" for bootstrap_servers
        kmock.control              # "http://127.0.0.1:PORT"
        kmock.add_fault("leave_group:delay=60s")   # at any point of the test
        kmock.groups()             # [{"group_id", "state", "generation", "members", ...}]
"""

import json
import os
import pathlib
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest

START_TIMEOUT_S = 30


def kmock_binary() -> str:
    if os.environ.get("KMOCK_BIN"):
        return os.environ["KMOCK_BIN"]
    on_path = shutil.which("kmock")
    if on_path:
        return on_path
    repo = pathlib.Path(__file__).resolve().parents[2]
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", repo / "target"))
    built = target / "debug" / "kmock"
    if built.is_file():
        return str(built)
    pytest.fail("kmock not found: set KMOCK_BIN, put kmock on PATH, or run `cargo build -p kmock`")


class Kmock:
    """A running `kmock serve` and its control API (HTTP + JSON, see the README)."""

    def __init__(self, bootstrap: str, control: str):
        self.bootstrap = bootstrap
        self.control = control

    def request(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.control + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{method} {path}: {error.code} {error.read().decode()}") from None

    def add_fault(self, spec: str) -> int:
        return self.request("POST", "/faults", {"spec": spec})["id"]

    def clear_faults(self) -> None:
        self.request("DELETE", "/faults")

    def faults(self) -> list:
        return self.request("GET", "/faults")["faults"]

    def groups(self) -> list:
        return self.request("GET", "/groups")["groups"]

    def group(self, group_id: str) -> dict:
        return self.request("GET", f"/groups/{group_id}")

    def requests(self, **filters) -> list:
        query = "&".join(f"{k}={v}" for k, v in filters.items())
        return self.request("GET", f"/requests?{query}")["requests"]

    def reset(self) -> None:
        self.request("POST", "/reset")


@pytest.fixture(scope="session")
def kmock_server():
    """One `kmock serve` for the whole session: yields (bootstrap, control URL)."""
    process = subprocess.Popen(
        [kmock_binary(), "serve", "--port", "0", "--control-port", "0",
         "--initial-rebalance-delay-ms", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        bootstrap = control = None
        # The contract: BOOTSTRAP= is the first stdout line, CONTROL= the second.
        for _ in range(2):
            line = process.stdout.readline().strip()
            if line.startswith("BOOTSTRAP="):
                bootstrap = line.split("=", 1)[1]
            elif line.startswith("CONTROL="):
                control = line.split("=", 1)[1]
        if not bootstrap or not control:
            pytest.fail(f"kmock serve printed no BOOTSTRAP=/CONTROL= lines (exit {process.poll()})")
        yield bootstrap, control
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def kmock(kmock_server):
    """The session's broker, reset (no groups, no faults, empty request log) for this test."""
    bootstrap, control = kmock_server
    broker = Kmock(bootstrap, control)
    broker.reset()
    return broker
