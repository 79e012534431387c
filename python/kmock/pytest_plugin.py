"""The kmock pytest plugin, registered through the `pytest11` entry point when the package is
installed (nothing to import or configure).

Fixtures:
- `kmock`: a running `kmock.Broker`. One broker serves the whole session and is reset
  (`POST /reset`) before each test, so every test starts with no groups, an empty request log and
  only the start topics and faults. A test marked `@pytest.mark.kmock(**settings)` gets a broker
  of its own, started with those settings and stopped after it.
- `kmock_factory`: `kmock_factory(**settings) -> Broker` starts fresh brokers for one test; they
  are stopped after it.

Settings (`kmock.Broker` keywords, e.g. `initial_rebalance_delay_ms`, `faults`) come from, lowest
first: the `kmock_settings` ini option (one `name = value` per line, `faults` repeatable), the
test's `kmock` marker, and a `kmock_factory(...)` call's keywords.

A broker that exits is reported by the fixture with its exit status and the end of its log: in the
test where it happened (at the control call, or at teardown), and the next test that uses `kmock`
gets a new session broker. When a test fails, what each of its brokers logged and the Kafka
requests it served during the test are attached to the report ("kmock stderr" and "kmock requests"
sections).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any, Callable

import pytest

from ._broker import (
    _BOOL_SWITCH,
    _BOOL_VALUE,
    _INT,
    _SPECS,
    DEFAULT_START_TIMEOUT_S,
    SETTINGS,
    Broker,
    BrokerExitedError,
    KmockError,
    _unknown_setting,
)

#: Lines of a broker's log attached to a failing test's report (the last ones).
REPORT_LOG_LINES = 200
#: `RUST_LOG` for the plugin's brokers unless `kmock_log_level` says otherwise: connections, faults
#: applied and group changes are logged, which is what a failing test's report needs (its requests
#: come from the request log).
DEFAULT_LOG_LEVEL = "debug"

#: Request log entries shown in a failing test's report (the last ones).
REPORT_REQUESTS = 100

# (label, broker, stderr offset at the start of the test) of every broker a test used.
_USED = pytest.StashKey[list[tuple[str, Broker, int]]]()
_OPTIONS = pytest.StashKey["_Options"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "kmock_settings",
        type="linelist",
        help="kmock.Broker settings for the kmock fixtures, one `name = value` per line, e.g. "
        "`initial_rebalance_delay_ms = 0`, `faults = leave_group:delay=60s` (repeatable), "
        "`auto_create_topics = false`",
    )
    parser.addini(
        "kmock_start_timeout",
        default=str(DEFAULT_START_TIMEOUT_S),
        help="seconds a kmock broker may take to start (default %(default)s)",
    )
    parser.addini(
        "kmock_log_level",
        default=DEFAULT_LOG_LEVEL,
        help="RUST_LOG for the kmock brokers the fixtures start (default: debug)",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Parsed here so that a bad ini option stops the run as a usage error before any test.
    config.stash[_OPTIONS] = _Options(config)
    config.addinivalue_line(
        "markers",
        "kmock(**settings): the `kmock` fixture starts a broker of its own for this test with "
        "these kmock.Broker settings (over the kmock_settings ini option); `kmock_factory` "
        "brokers start from them too",
    )


def _parse_bool(name: str, text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0"):
        return False
    raise ValueError(f"{name} = {text}: expected true or false")


def parse_ini_settings(lines: list[str]) -> dict[str, Any]:
    """The `kmock_settings` lines as `Broker` keywords; `pytest.UsageError` names a bad line."""
    settings: dict[str, Any] = {}
    for line in lines:
        name, equals, text = line.partition("=")
        name, text = name.strip(), text.strip()
        if not equals or not name:
            raise pytest.UsageError(
                f"kmock_settings: {line!r} is not `name = value` "
                "(e.g. initial_rebalance_delay_ms = 0)"
            )
        if name not in SETTINGS:
            raise pytest.UsageError(f"kmock_settings: {_unknown_setting(name)}")
        kind = SETTINGS[name][1]
        try:
            if kind == _SPECS:
                settings.setdefault(name, []).append(text)
            elif kind == _INT:
                try:
                    settings[name] = int(text)
                except ValueError:
                    raise ValueError(f"{name} = {text}: expected an integer") from None
            elif kind in (_BOOL_SWITCH, _BOOL_VALUE):
                settings[name] = _parse_bool(name, text)
            elif text.lower() == "none":
                settings[name] = None
            else:
                settings[name] = text
        except ValueError as error:
            raise pytest.UsageError(f"kmock_settings: {error}") from None
    return settings


class _Options:
    """The ini options, read once per session."""

    def __init__(self, config: pytest.Config) -> None:
        self.settings = parse_ini_settings(list(config.getini("kmock_settings")))
        timeout_text = str(config.getini("kmock_start_timeout"))
        try:
            self.start_timeout = float(timeout_text)
        except ValueError:
            raise pytest.UsageError(
                f"kmock_start_timeout = {timeout_text}: expected seconds"
            ) from None
        self.log_level = str(config.getini("kmock_log_level")) or None

    def broker(self, settings: dict[str, Any]) -> Broker:
        """A Broker (not started) with the ini settings under `settings`."""
        return Broker(
            start_timeout=self.start_timeout,
            log_level=self.log_level,
            **{**self.settings, **settings},
        )


class _SessionBroker:
    """The session's shared broker: started on first use, replaced after it exited."""

    def __init__(self, options: _Options) -> None:
        self._options = options
        self._broker: Broker | None = None
        self._start_error: KmockError | None = None

    def get(self) -> Broker:
        if self._start_error is not None:
            raise self._start_error
        broker = self._broker
        if broker is not None and broker.returncode is not None:
            # It exited between tests: report it here, start a new one for the next test.
            self._broker = None
            try:
                broker.check()
            finally:
                broker.stop()
        if self._broker is None:
            try:
                self._broker = self._options.broker({}).start()
            except KmockError as error:
                # Same settings, same failure: report it for every test without retrying.
                self._start_error = error
                raise
        return self._broker

    def discard(self, broker: Broker) -> None:
        if self._broker is broker:
            self._broker = None
        broker.stop()

    def close(self) -> None:
        if self._broker is not None:
            self._broker.stop()
            self._broker = None


def _marker_settings(request: pytest.FixtureRequest) -> dict[str, Any] | None:
    marker = request.node.get_closest_marker("kmock")
    if marker is None:
        return None
    if marker.args:
        raise TypeError(
            f"@pytest.mark.kmock takes settings as keywords, e.g. "
            f"@pytest.mark.kmock(faults=['leave_group:delay=60s']), not {marker.args!r}"
        )
    for name in marker.kwargs:
        if name not in SETTINGS:
            raise _unknown_setting(name)
    return dict(marker.kwargs)


def _record(request: pytest.FixtureRequest, label: str, broker: Broker, offset: int) -> None:
    used = request.node.stash.setdefault(_USED, [])
    used.append((label, broker, offset))


def _report_exit(broker: Broker, when: str) -> None:
    """Raises BrokerExitedError if the broker exited and no earlier error of this test said so."""
    if broker._exit_reported:
        return
    try:
        broker.check()
    except BrokerExitedError as error:
        raise BrokerExitedError(
            f"{when}: {error}", returncode=error.returncode, stderr_tail=error.stderr_tail
        ) from None


@pytest.fixture(scope="session")
def _kmock_session(pytestconfig: pytest.Config) -> Iterator[_SessionBroker]:
    session = _SessionBroker(pytestconfig.stash[_OPTIONS])
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def kmock(request: pytest.FixtureRequest, _kmock_session: _SessionBroker) -> Iterator[Broker]:
    """A running kmock broker: the session's, reset before this test (no faults, groups or topics
    beyond the start settings), or one of its own if the test is marked
    `@pytest.mark.kmock(**settings)`."""
    settings = _marker_settings(request)
    if settings is not None:
        own = request.config.stash[_OPTIONS].broker(settings)
        own.start()
        _record(request, "kmock (own, from the marker)", own, 0)
        try:
            yield own
            _report_exit(own, "the test's kmock broker exited during the test")
        finally:
            own.stop()
        return
    broker = _kmock_session.get()
    _record(request, "kmock (session)", broker, broker.stderr_size())
    try:
        broker.reset()
    except KmockError:
        _kmock_session.discard(broker)
        raise
    yield broker
    if broker.returncode is not None:
        try:
            _report_exit(broker, "the session's kmock broker exited during this test")
        finally:
            _kmock_session.discard(broker)


@pytest.fixture
def kmock_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., Broker]]:
    """`kmock_factory(**settings)` starts a fresh broker for this test (settings over the marker's
    and the ini option's); every broker it started is stopped after the test."""
    options = request.config.stash[_OPTIONS]
    base = _marker_settings(request) or {}
    started: list[Broker] = []

    def start(**settings: Any) -> Broker:
        broker = options.broker({**base, **settings})
        broker.start()
        started.append(broker)
        _record(request, f"kmock_factory #{len(started)}", broker, 0)
        return broker

    yield start
    for broker in started:
        broker.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not report.failed:
        return
    for label, broker, offset in item.stash.get(_USED, []):
        title = f"{label}, pid {broker.pid} ({report.when})"
        report.sections.append((f"kmock stderr: {title}", _log_section(broker, offset)))
        report.sections.append((f"kmock requests: {title}", _requests_section(broker)))


def _log_section(broker: Broker, offset: int) -> str:
    lines = broker.stderr(offset).splitlines()
    if len(lines) > REPORT_LOG_LINES:
        left_out = len(lines) - REPORT_LOG_LINES
        lines = [f"[{left_out} earlier lines left out]"] + lines[-REPORT_LOG_LINES:]
    return "\n".join(lines) if lines else "(nothing logged during the test)"


def _requests_section(broker: Broker) -> str:
    """The request log since the test began (the session broker was reset then), one line each."""
    if broker.returncode is not None:
        return f"(not available: the broker {'was stopped' if broker._stopped else 'exited'})"
    try:
        entries = broker.requests()
    except KmockError as error:
        return f"(not available: {error})"
    if not entries:
        return "(no Kafka requests during the test)"
    lines = [_request_line(entry) for entry in entries[-REPORT_REQUESTS:]]
    if len(entries) > REPORT_REQUESTS:
        lines.insert(0, f"[{len(entries) - REPORT_REQUESTS} earlier requests left out]")
    return "\n".join(lines)


def _request_line(entry: dict[str, Any]) -> str:
    parts = [
        f"{entry.get('time_ms', 0):>10.1f} ms",
        f"conn {entry.get('connection')}",
        f"{entry.get('api')} v{entry.get('api_version')}",
        f"client {entry.get('client_id')!r}",
    ]
    if entry.get("group") is not None:
        parts.append(f"group {entry['group']!r}")
    if entry.get("fault"):
        parts.append(f"fault: {entry['fault']}")
    parts.append(f"-> {entry.get('outcome') or 'pending'}")
    return "  ".join(parts)
