"""The pytest plugin, through pytester: each case writes a small test file and runs pytest on it in
a subprocess (the plugin loads from the `pytest11` entry point there, as in a user's project)."""

import re
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

#: A pytester run is a fresh pytest process that starts brokers: seconds, never minutes.
RUN_TIMEOUT_S = 120


def run(pytester: pytest.Pytester, *arguments: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:asyncio", "-rA", *arguments, timeout=RUN_TIMEOUT_S
    )


def test_the_session_broker_is_shared_and_reset_before_each_test(pytester):
    pytester.makepyfile(
        """
        import kmock as kmock_package

        PIDS = []

        def test_first(kmock):
            PIDS.append(kmock.pid)
            assert isinstance(kmock, kmock_package.Broker)
            kmock.add_fault("leave_group:delay=60s")
            assert len(kmock.faults()) == 1

        def test_second_sees_no_faults(kmock):
            PIDS.append(kmock.pid)
            assert kmock.faults() == []
            assert kmock.groups() == []
            assert kmock.requests() == []

        def test_one_process_for_the_session():
            assert len(PIDS) == 2 and PIDS[0] == PIDS[1], PIDS
        """
    )
    run(pytester).assert_outcomes(passed=3)


def test_a_bad_fault_spec_fails_the_test_with_the_servers_text(pytester):
    pytester.makepyfile(
        """
        def test_typo(kmock):
            kmock.add_fault("leave_grop:delay=60s")
        """
    )
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '*FaultSpecError: POST /faults: 400 invalid fault spec "leave_grop:delay=60s": '
            'unknown API "leave_grop" (did you mean leave_group?)*'
        ]
    )


def test_a_broker_killed_during_a_test_is_reported_and_the_next_test_gets_a_new_one(pytester):
    pytester.makepyfile(
        """
        import os, signal, time

        PIDS = []

        def kill(broker):
            os.kill(broker.pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while broker.returncode is None and time.monotonic() < deadline:
                time.sleep(0.01)

        def test_kill_then_call(kmock):
            PIDS.append(kmock.pid)
            kill(kmock)
            kmock.faults()

        def test_kill_and_return(kmock):
            PIDS.append(kmock.pid)
            kill(kmock)

        def test_after(kmock):
            PIDS.append(kmock.pid)
            assert kmock.faults() == []
            assert len(set(PIDS)) == 3, PIDS
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=2, failed=1, errors=1)
    # In the test that called the control API: its exception. In the test that did not: an error at
    # teardown. Each with the exit status and the end of the broker's log.
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_kill_and_return*",
            "*BrokerExitedError: the session's kmock broker exited during this test: "
            "the kmock broker (pid *) was killed by SIGKILL (exit status -9); "
            "the end of its stderr (*):",
            "*INFO kmock: kmock broker listening*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*_ test_kill_then_call _*",
            "*BrokerExitedError: the kmock broker (pid *) was killed by SIGKILL (exit status -9); "
            "the end of its stderr (*):",
            "*INFO kmock: kmock broker listening*",
        ]
    )
    # Reported once: the failing call, not again at teardown.
    assert "ERROR at teardown of test_kill_then_call" not in result.stdout.str()


def test_the_factory_starts_fresh_brokers_and_stops_them_after_the_test(pytester):
    pytester.makepyfile(
        """
        STARTED = []

        def test_two_brokers(kmock_factory, kmock):
            slow = kmock_factory(faults=["leave_group:delay=60s"])
            plain = kmock_factory()
            STARTED.extend([slow, plain])
            servers = {slow.bootstrap_servers, plain.bootstrap_servers, kmock.bootstrap_servers}
            assert len(servers) == 3
            assert [rule["spec"] for rule in slow.faults()] == ["leave_group:delay=60s"]
            assert plain.faults() == [] and kmock.faults() == []

        def test_they_were_stopped():
            assert [broker.returncode for broker in STARTED] == [0, 0]

        def test_an_unknown_setting(kmock_factory):
            kmock_factory(fault="x:drop")
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["*TypeError: kmock.Broker() got an unknown setting 'fault' (did you mean 'faults'?)*"]
    )


def test_ini_settings_apply_to_every_fixture_broker(pytester):
    pytester.makeini(
        """
        [pytest]
        kmock_settings =
            faults = leave_group:delay=60s
            faults = join_group:error=rebalance_in_progress,once
            auto_create_topics = false
            seed = 3
        kmock_log_level = info
        """
    )
    pytester.makepyfile(
        """
        START = ["leave_group:delay=60s", "join_group:error=rebalance_in_progress,once"]

        def test_first(kmock):
            assert [rule["spec"] for rule in kmock.faults()] == START
            kmock.clear_faults()

        def test_reset_restores_them(kmock, kmock_factory):
            assert [rule["spec"] for rule in kmock.faults()] == START
            assert [rule["spec"] for rule in kmock_factory().faults()] == START
        """
    )
    run(pytester).assert_outcomes(passed=2)


@pytest.mark.parametrize(
    "line, wanted",
    [
        (
            "initial_rebalance_delay = 0",
            "unknown setting 'initial_rebalance_delay' "
            "(did you mean 'initial_rebalance_delay_ms'?)",
        ),
        ("seed = seven", "seed = seven: expected an integer"),
        ("auto_create_topics = maybe", "auto_create_topics = maybe: expected true or false"),
        ("seed", "'seed' is not `name = value`"),
    ],
)
def test_a_bad_ini_setting_is_a_usage_error(pytester, line, wanted):
    pytester.makeini(f"[pytest]\nkmock_settings =\n    {line}\n")
    pytester.makepyfile("def test_uses_kmock(kmock):\n    pass\n")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    result.stderr.fnmatch_lines([f"*kmock_settings: *{wanted}*"])


def test_a_session_broker_that_cannot_start_errors_every_test_that_uses_it(pytester):
    pytester.makeini("[pytest]\nkmock_settings =\n    config = missing.toml\n")
    pytester.makepyfile(
        """
        def test_one(kmock):
            pass

        def test_two(kmock):
            pass

        def test_without_kmock():
            pass
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, errors=2)
    # Started once (the failure is remembered), reported for each test with the binary's message.
    raised = re.findall(r"^E +kmock\._broker\.BrokerStartError: `", result.stdout.str(), re.M)
    assert len(raised) == 2, result.stdout.str()
    result.stdout.fnmatch_lines(["*ERROR at setup of test_one*", "*ERROR at setup of test_two*"])
    result.stdout.fnmatch_lines(
        ["*BrokerStartError: `* serve * --config missing.toml*` exited with status 2 *"]
    )
    result.stdout.fnmatch_lines(["*kmock: cannot read --config missing.toml*"])


def test_the_marker_gives_a_test_a_broker_of_its_own(pytester):
    pytester.makepyfile(
        """
        import pytest

        PIDS = {}

        def test_session(kmock):
            PIDS["session"] = kmock.pid

        RULE = "heartbeat:error=rebalance_in_progress,once"

        @pytest.mark.kmock(faults=[RULE], default_partitions=3)
        def test_marked(kmock, kmock_factory):
            PIDS["marked"] = kmock.pid
            assert kmock.pid != PIDS["session"]
            assert [rule["spec"] for rule in kmock.faults()] == [RULE]
            # The factory starts from the marker's settings too; its keywords win.
            assert [rule["spec"] for rule in kmock_factory(faults=[]).faults()] == []
            assert [rule["spec"] for rule in kmock_factory().faults()] == [RULE]
            PIDS["marked_broker"] = kmock

        def test_session_again(kmock):
            assert kmock.pid == PIDS["session"]
            assert kmock.faults() == []
            assert PIDS["marked_broker"].returncode == 0  # stopped after its test

        @pytest.mark.kmock(faults_typo=[])
        def test_bad_marker(kmock):
            pass
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        ["*TypeError: kmock.Broker() got an unknown setting 'faults_typo'*"]
    )


def test_a_failing_test_gets_its_brokers_stderr_and_requests_in_the_report(pytester):
    pytester.makepyfile(kafka_wire=(Path(__file__).parent / "kafka_wire.py").read_text())
    pytester.makepyfile(
        """
        from kafka_wire import api_versions_request

        def test_passes(kmock):
            kmock.add_fault("fetch:hold=250ms")
            api_versions_request(kmock.bootstrap_servers, "passing-client")

        def test_fails(kmock, kmock_factory):
            kmock.add_fault("leave_group:delay=60s")
            api_versions_request(kmock.bootstrap_servers, "failing-client")
            kmock_factory()
            assert False, "the test failed"
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    # The failing test's report has two sections per broker it used: what it logged and the Kafka
    # requests it served during the test. Nothing from the passing test.
    assert output.count("kmock stderr: ") == 2 and output.count("kmock requests: ") == 2, output
    sections = dict(
        (title.strip(" -"), body)
        for title, body in re.findall(
            r"^-+ (kmock \w+: [^\n]*?) -+\n(.*?)(?=^-+ kmock \w+: |^=+ )", output, re.M | re.S
        )
    )
    titles = list(sections)
    assert [re.sub(r"pid \d+", "pid N", t) for t in titles] == [
        "kmock stderr: kmock (session), pid N (call)",
        "kmock requests: kmock (session), pid N (call)",
        "kmock stderr: kmock_factory #1, pid N (call)",
        "kmock requests: kmock_factory #1, pid N (call)",
    ], output
    session_log, session_requests, factory_log, factory_requests = sections.values()
    assert (
        "fault installed (control API)" in session_log and "leave_group:delay=60s" in session_log
    ), output
    assert "fetch:hold=250ms" not in session_log, output
    assert re.fullmatch(
        r" +[\d.]+ ms  conn \d+  ApiVersions v0  client 'failing-client'  -> \S.*\n",
        session_requests,
    ), output
    assert "kmock broker listening" in factory_log, output  # all of it: it started during the test
    assert factory_requests.strip() == "(no Kafka requests during the test)", output


def test_the_plugin_module_is_the_only_one_that_imports_pytest(pytester):
    pytester.makepyfile(
        check=textwrap.dedent(
            """
            import sys
            import kmock
            with kmock.Broker() as broker:
                broker.faults()
            assert "pytest" not in sys.modules and "_pytest" not in sys.modules, sorted(sys.modules)
            print("no pytest")
            """
        )
    )
    result = pytester.run(sys.executable, "check.py", timeout=RUN_TIMEOUT_S)
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["no pytest"])
