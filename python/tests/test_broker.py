"""kmock.Broker against the real binary: lifecycle, settings, the control API and its errors, and a
broker that exits."""

import os
import re
import signal
import stat
import sys
import time
from pathlib import Path

import pytest

import kmock


def test_context_manager_runs_a_broker_and_stops_it_cleanly():
    with kmock.Broker() as broker:
        assert re.fullmatch(r"127\.0\.0\.1:\d+", broker.bootstrap_servers), broker
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", broker.control_url), broker
        assert broker.returncode is None
        assert broker.faults() == [] and broker.groups() == [] and broker.topics() == []
    # SIGTERM: kmock serve shuts down cleanly and exits 0.
    assert broker.returncode == 0
    assert "kmock broker listening" in broker.stderr()


def test_start_and_stop_without_a_with_block():
    broker = kmock.Broker()
    with pytest.raises(kmock.KmockError, match="not started"):
        broker.bootstrap_servers  # noqa: B018 (the property raises)
    assert broker.start() is broker
    try:
        with pytest.raises(kmock.KmockError, match="already started"):
            broker.start()
        assert broker.pid is not None and broker.returncode is None
    finally:
        broker.stop()
    broker.stop()  # idempotent
    assert broker.returncode == 0


def test_an_unknown_setting_is_a_type_error_listing_the_valid_ones():
    with pytest.raises(TypeError) as raised:
        kmock.Broker(initial_rebalance_delay=0)
    message = str(raised.value)
    assert "unknown setting 'initial_rebalance_delay'" in message, message
    assert "did you mean 'initial_rebalance_delay_ms'?" in message, message
    for name in kmock.SETTINGS:
        assert name in message, message


@pytest.mark.parametrize(
    "settings, wanted",
    [
        ({"port": "0"}, "port must be an int"),
        ({"seed": True}, "seed must be an int"),
        ({"auto_create_topics": "false"}, "auto_create_topics must be True or False"),
        ({"faults": [1]}, "faults must be a fault spec or a list of them"),
    ],
)
def test_a_setting_of_the_wrong_type_is_a_type_error_naming_it(settings, wanted):
    with pytest.raises(TypeError, match=wanted):
        kmock.Broker(**settings)


def test_settings_become_serve_flags():
    arguments = kmock._broker.serve_arguments(
        {"faults": ["a:drop", "b:drop"], "auto_create_topics": False, "host": "localhost"}
    )
    assert arguments == [
        "--host", "localhost", "--port", "0", "--control-port", "0", "--fault", "a:drop",
        "--fault", "b:drop", "--initial-rebalance-delay-ms", "0", "--auto-create-topics", "false",
    ]  # fmt: skip
    # None leaves a flag out (kmock serve's default, or the config file's value, applies).
    assert kmock._broker.serve_arguments({"initial_rebalance_delay_ms": None, "port": 9092}) == [
        "--port", "9092", "--control-port", "0",
    ]  # fmt: skip


def test_settings_reach_the_broker(send_api_versions):
    with kmock.Broker(faults="leave_group:delay=60s", seed=7, log_level="debug") as broker:
        assert [rule["spec"] for rule in broker.faults()] == ["leave_group:delay=60s"]
        send_api_versions(broker.bootstrap_servers, "settings-test")
        # log_level="debug" (RUST_LOG) shows connections and group changes; kmock's default is
        # info. The broker logs the close once it has seen it.
        closed = "DEBUG kmock_broker::server::connection: connection closed"
        deadline = time.monotonic() + 10
        while closed not in broker.stderr() and time.monotonic() < deadline:
            time.sleep(0.02)
        log = broker.stderr()
    assert "fault installed" in log, log
    assert closed in log, log


def test_a_bad_fault_spec_raises_the_servers_explanation():
    with kmock.Broker() as broker:
        with pytest.raises(kmock.FaultSpecError) as raised:
            broker.add_fault("leave_grop:delay=60s")
        assert 'unknown API "leave_grop" (did you mean leave_group?)' in str(raised.value)
        assert raised.value.status == 400
        assert isinstance(raised.value, ValueError)
        assert broker.faults() == []
        with pytest.raises(TypeError, match="a fault spec is a str"):
            broker.add_fault(None)  # type: ignore[arg-type]


def test_fault_rules_are_added_listed_removed_and_cleared():
    with kmock.Broker() as broker:
        first = broker.add_fault("leave_group:delay=60s")
        second = broker.add_fault("join_group:error=rebalance_in_progress,once")
        assert second != first
        rules = broker.faults()
        assert [rule["id"] for rule in rules] == [first, second]
        assert rules[0]["spec"] == "leave_group:delay=60s"
        assert {"matched", "applied"} <= set(rules[0])
        broker.remove_fault(first)
        assert [rule["id"] for rule in broker.faults()] == [second]
        with pytest.raises(kmock.NotFoundError, match=f"no fault rule {first}"):
            broker.remove_fault(first)
        broker.clear_faults()
        assert broker.faults() == []


def test_the_request_log_is_filtered_by_api_and_client_id(send_api_versions):
    with kmock.Broker() as broker:
        send_api_versions(broker.bootstrap_servers, "alpha")
        send_api_versions(broker.bootstrap_servers, "beta")
        everything = broker.requests()
        assert [entry["client_id"] for entry in everything] == ["alpha", "beta"]
        assert [e["client_id"] for e in broker.requests(client_id="beta")] == ["beta"]
        assert len(broker.requests(api="ApiVersions")) == 2
        assert broker.requests(api="leave_group") == []
        assert broker.requests(group="sse") == []
        assert [e["client_id"] for e in broker.requests(since=everything[0]["seq"] + 1)] == ["beta"]
        assert len(broker.requests(limit=1)) == 1


def test_an_unknown_group_is_a_lookup_error():
    with kmock.Broker() as broker:
        with pytest.raises(kmock.NotFoundError, match='no group "sse/consumers"') as raised:
            broker.group("sse/consumers")
        assert isinstance(raised.value, LookupError) and raised.value.status == 404


def test_reset_restores_the_start_topics_and_faults(tmp_path, send_api_versions):
    config = tmp_path / "kmock.toml"
    config.write_text(
        'fault = ["heartbeat:error=rebalance_in_progress,once"]\n'
        '[[topic]]\nname = "orders"\npartitions = 3\n'
    )
    with kmock.Broker(config=config) as broker:
        assert [(t["name"], t["partitions"]) for t in broker.topics()] == [("orders", 3)]
        broker.add_fault("leave_group:delay=60s")
        send_api_versions(broker.bootstrap_servers, "before-reset")
        assert len(broker.faults()) == 2 and broker.requests()
        broker.reset()
        assert [rule["spec"] for rule in broker.faults()] == [
            "heartbeat:error=rebalance_in_progress,once"
        ]
        assert [(t["name"], t["partitions"]) for t in broker.topics()] == [("orders", 3)]
        assert broker.requests() == []


def test_a_broker_that_cannot_start_is_reported_with_its_exit_status_and_stderr(tmp_path):
    missing = tmp_path / "missing.toml"
    started = time.monotonic()
    with pytest.raises(kmock.BrokerStartError) as raised:
        kmock.Broker(config=missing).start()
    assert time.monotonic() - started < 10
    message = str(raised.value)
    assert raised.value.returncode == 2, message
    assert "exited with status 2" in message, message
    assert f"cannot read --config {missing}" in message, message


def test_a_binary_that_prints_nothing_times_out_and_is_killed(tmp_path):
    script = tmp_path / "silent-kmock"
    pid_file = tmp_path / "pid"
    script.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 60\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    started = time.monotonic()
    with pytest.raises(
        kmock.BrokerStartError, match=r"printed no BOOTSTRAP=/CONTROL= lines within 0.5 s"
    ):
        kmock.Broker(binary=script, start_timeout=0.5).start()
    assert time.monotonic() - started < 10
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped and reaped, not left behind


@pytest.mark.skipif(sys.platform == "win32", reason="signals")
def test_a_killed_broker_is_reported_by_the_next_call_not_a_hang():
    with kmock.Broker() as broker:
        os.kill(broker.pid, signal.SIGKILL)
        started = time.monotonic()
        with pytest.raises(kmock.BrokerExitedError) as raised:
            broker.faults()
        assert time.monotonic() - started < 5
        message = str(raised.value)
        assert f"(pid {broker.pid}) was killed by SIGKILL" in message, message
        assert raised.value.returncode == -signal.SIGKILL
        assert "kmock broker listening" in raised.value.stderr_tail, message


def test_kmock_bin_overrides_the_installed_binary(monkeypatch, tmp_path):
    not_executable = tmp_path / "kmock"
    not_executable.write_text("")
    monkeypatch.setenv("KMOCK_BIN", str(not_executable))
    with pytest.raises(kmock.KmockError, match="is not an executable file"):
        kmock.find_binary()
    with pytest.raises(kmock.KmockError, match="is not an executable file"):
        kmock.Broker().start()


def test_no_proxy_is_used_for_the_control_api(monkeypatch):
    # A proxy that does not exist: any call through it would fail.
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    with kmock.Broker() as broker:
        assert broker.faults() == []


def test_path_like_binary_and_repr(monkeypatch):
    monkeypatch.delenv("KMOCK_BIN", raising=False)
    with kmock.Broker(binary=Path(kmock.find_binary())) as broker:
        assert f"pid={broker.pid} running" in repr(broker)
    assert "exited with status 0" in repr(broker)


def test_transactions_are_listed_with_their_state_and_partitions():
    from confluent_kafka import Producer

    with kmock.Broker() as broker:
        assert broker.transactions() == []
        with pytest.raises(kmock.NotFoundError, match='no transactional id "orders-tx"'):
            broker.transaction("orders-tx")
        producer = Producer(
            {"bootstrap.servers": broker.bootstrap_servers, "transactional.id": "orders-tx"}
        )
        producer.init_transactions(10)
        producer.begin_transaction()
        producer.produce("orders", b"one", partition=0)
        producer.flush(10)
        open_txn = broker.transaction("orders-tx")
        assert open_txn["state"] == "Ongoing"
        assert open_txn["partitions"] == [{"topic": "orders", "partition": 0}]
        producer.commit_transaction(10)
        [done] = broker.transactions()
        assert (done["transactional_id"], done["state"]) == ("orders-tx", "CompleteCommit")
        assert done["partitions"] == []


def test_apply_retention_compacts_a_compacted_topic_now():
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    with kmock.Broker() as broker:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap_servers})
        created = admin.create_topics(
            [NewTopic("prices", 1, config={"cleanup.policy": "compact"})]
        )
        created["prices"].result(10)
        producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "linger.ms": 0})
        for value in (b"1", b"2", b"3"):
            producer.produce("prices", value, key=b"apple")
            producer.flush(10)
        with pytest.raises(kmock.NotFoundError, match="no topic"):
            broker.apply_retention("no-such-topic")
        [partition] = broker.apply_retention("prices")
        assert (partition["topic"], partition["partition"]) == ("prices", 0)
        assert partition["compacted_records"] == 2
