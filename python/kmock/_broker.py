"""`kmock.Broker`: one `kmock serve` process and its control API.

The broker runs the `kmock` executable installed with this package (or `$KMOCK_BIN`) as
`kmock serve --port 0 --control-port 0 ...`, reads the `BOOTSTRAP=` and `CONTROL=` lines it prints
when it accepts connections, and talks to the control API (HTTP + JSON on loopback) with the
standard library only. Its stderr (the broker's log) goes to a temporary file, so that a broker
that exits can be reported with its exit status and the end of its log.
"""

from __future__ import annotations

import atexit
import difflib
import json
import os
import queue
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

__all__ = [
    "Broker",
    "BrokerExitedError",
    "BrokerStartError",
    "ControlError",
    "FaultSpecError",
    "KmockError",
    "NotFoundError",
    "SETTINGS",
    "find_binary",
]

#: Seconds `start()` waits for the `BOOTSTRAP=`/`CONTROL=` lines unless told otherwise.
DEFAULT_START_TIMEOUT_S = 30.0
#: Seconds one control API call may take (they answer in milliseconds; this bounds a stuck one).
CONTROL_TIMEOUT_S = 10.0
#: Seconds `stop()` waits after SIGTERM before it kills the process.
STOP_TIMEOUT_S = 10.0
#: Lines of the broker's log quoted in an error about the process.
STDERR_TAIL_LINES = 30

JSON = dict[str, Any]


class KmockError(Exception):
    """Base class of every error this package raises about the broker."""


class BrokerStartError(KmockError):
    """The broker did not start: the binary exited, or printed no `BOOTSTRAP=`/`CONTROL=` line in
    time. The message quotes its exit status and the end of its stderr."""

    def __init__(self, message: str, returncode: int | None = None, stderr_tail: str = ""):
        super().__init__(message)
        self.returncode = returncode
        self.stderr_tail = stderr_tail


class BrokerExitedError(KmockError):
    """The broker process is gone (crashed, killed, or exited): the message gives its pid, exit
    status and the end of its stderr."""

    def __init__(self, message: str, returncode: int, stderr_tail: str):
        super().__init__(message)
        self.returncode = returncode
        self.stderr_tail = stderr_tail


class ControlError(KmockError):
    """The control API answered with an error; `message` is the server's own text."""

    def __init__(self, method: str, path: str, status: int, message: str):
        super().__init__(f"{method} {path}: {status} {message}")
        self.method = method
        self.path = path
        self.status = status
        self.message = message


class FaultSpecError(ControlError, ValueError):
    """A fault rule the server refused (400), e.g. `unknown API "leave_grop" (did you mean
    leave_group?)`. Also a `ValueError`."""


class NotFoundError(ControlError, LookupError):
    """No such group or fault rule (404). Also a `LookupError`."""


# --- settings: the keyword arguments of Broker(), each a `kmock serve` flag ---------------------

_INT = "int"
_BOOL_SWITCH = "switch"  # a flag without a value, given when True
_BOOL_VALUE = "bool"  # a flag with a value: --auto-create-topics true|false
_STR = "str"
_PATH = "path"
_SPECS = "specs"  # repeated flag: one --fault per rule

#: Every setting `Broker()` accepts: name -> (`kmock serve` flag, kind, what it is).
SETTINGS: Mapping[str, tuple[str, str, str]] = {
    "host": ("--host", _STR, "address to bind, loopback only unless allow_non_loopback"),
    "port": ("--port", _INT, "Kafka port; 0 (the default here) picks a free one"),
    "control_port": ("--control-port", _INT, "control API port; 0 (the default here) picks one"),
    "allow_non_loopback": ("--allow-non-loopback", _BOOL_SWITCH, "allow a non-loopback host"),
    "config": ("--config", _PATH, "a TOML file of these settings plus [[topic]] tables"),
    "faults": ("--fault", _SPECS, "fault rules installed at start (and restored by reset())"),
    "initial_rebalance_delay_ms": (
        "--initial-rebalance-delay-ms",
        _INT,
        "group.initial.rebalance.delay.ms; 0 here by default (kmock serve: 3000)",
    ),
    "auto_create_topics": ("--auto-create-topics", _BOOL_VALUE, "auto.create.topics.enable"),
    "default_partitions": ("--default-partitions", _INT, "partitions of an auto-created topic"),
    "group_min_session_timeout_ms": (
        "--group-min-session-timeout-ms",
        _INT,
        "group.min.session.timeout.ms",
    ),
    "group_max_session_timeout_ms": (
        "--group-max-session-timeout-ms",
        _INT,
        "group.max.session.timeout.ms",
    ),
    "max_frame_bytes": (
        "--max-frame-bytes",
        _INT,
        "largest request frame (socket.request.max.bytes)",
    ),
    "max_connections": ("--max-connections", _INT, "most connections open at once"),
    "seed": ("--seed", _INT, "seed of the broker's random numbers"),
}

#: What `Broker()` passes unless told otherwise; `None` for a setting leaves its flag out, so that
#: `kmock serve`'s default (or the config file's value) applies.
DEFAULTS: Mapping[str, Any] = {
    "port": 0,
    "control_port": 0,
    # Kafka waits 3 s for more members before the first rebalance of an empty group; tests want 0.
    "initial_rebalance_delay_ms": 0,
}


def _unknown_setting(name: str) -> TypeError:
    close = difflib.get_close_matches(name, list(SETTINGS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return TypeError(
        f"kmock.Broker() got an unknown setting {name!r}{hint}; "
        f"valid settings: {', '.join(sorted(SETTINGS))}"
    )


def serve_arguments(settings: Mapping[str, Any]) -> list[str]:
    """The `kmock serve` arguments for `settings` (over `DEFAULTS`), validated: an unknown name or
    a value of the wrong type raises `TypeError` naming the setting."""
    for name in settings:
        if name not in SETTINGS:
            raise _unknown_setting(name)
    merged = {**DEFAULTS, **settings}
    arguments: list[str] = []
    for name, (flag, kind, _) in SETTINGS.items():
        value = merged.get(name)
        if value is None:
            continue
        if kind == _INT:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"kmock setting {name} must be an int, not {value!r}")
            arguments += [flag, str(value)]
        elif kind == _BOOL_SWITCH:
            if not isinstance(value, bool):
                raise TypeError(f"kmock setting {name} must be True or False, not {value!r}")
            if value:
                arguments.append(flag)
        elif kind == _BOOL_VALUE:
            if not isinstance(value, bool):
                raise TypeError(f"kmock setting {name} must be True or False, not {value!r}")
            arguments += [flag, "true" if value else "false"]
        elif kind == _STR:
            if not isinstance(value, str):
                raise TypeError(f"kmock setting {name} must be a str, not {value!r}")
            arguments += [flag, value]
        elif kind == _PATH:
            if not isinstance(value, (str, os.PathLike)):
                raise TypeError(f"kmock setting {name} must be a path, not {value!r}")
            arguments += [flag, os.fspath(value)]
        elif kind == _SPECS:
            specs = [value] if isinstance(value, str) else value
            if not isinstance(specs, (list, tuple)) or not all(isinstance(s, str) for s in specs):
                raise TypeError(
                    f"kmock setting {name} must be a fault spec or a list of them "
                    f"(e.g. ['leave_group:delay=60s']), not {value!r}"
                )
            for spec in specs:
                arguments += [flag, spec]
        else:  # pragma: no cover - the table above has no other kind
            raise AssertionError(f"unknown setting kind {kind}")
    return arguments


# --- the binary ---------------------------------------------------------------------------------


def _candidate_directories() -> list[Path]:
    """Where pip puts this distribution's `kmock` executable: the interpreter's scripts directory
    (a venv's bin/), the user scheme's (pip install --user), and `<target>/bin` for
    `pip install --target`."""
    directories: list[Path] = []
    scripts = sysconfig.get_path("scripts")
    if scripts:
        directories.append(Path(scripts))
    if sys.version_info >= (3, 10):
        user_scheme = sysconfig.get_preferred_scheme("user")
    else:
        user_scheme = f"{os.name}_user"
    try:
        user_scripts = sysconfig.get_path("scripts", scheme=user_scheme)
    except KeyError:
        user_scripts = None
    if user_scripts:
        directories.append(Path(user_scripts))
    directories.append(Path(__file__).resolve().parent.parent / "bin")
    unique: list[Path] = []
    for directory in directories:
        if directory not in unique:
            unique.append(directory)
    return unique


def find_binary() -> str:
    """The `kmock` executable: `$KMOCK_BIN` if set, else the one installed with this package next
    to the interpreter's scripts. Raises `KmockError` saying where it looked."""
    override = os.environ.get("KMOCK_BIN")
    if override:
        if not os.path.isfile(override) or not os.access(override, os.X_OK):
            raise KmockError(f"KMOCK_BIN={override} is not an executable file")
        return override
    name = "kmock" + (sysconfig.get_config_var("EXE") or "")
    directories = _candidate_directories()
    for directory in directories:
        candidate = directory / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    looked = ", ".join(str(d) for d in directories)
    raise KmockError(
        f"the kmock executable is not installed next to this interpreter (looked for {name} in "
        f"{looked}): install the package with `pip install ./python` from the kmock repository, "
        f"or set KMOCK_BIN to a kmock binary"
    )


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name} (exit status {returncode})"
        except ValueError:
            return f"was killed by signal {-returncode} (exit status {returncode})"
    return f"exited with status {returncode}"


_LIVE: weakref.WeakSet[Broker] = weakref.WeakSet()


@atexit.register
def _stop_live_brokers() -> None:
    # A broker someone forgot to stop must not outlive the interpreter.
    for broker in list(_LIVE):
        broker.stop()


class Broker:
    """A `kmock serve` process with its control API.

    `Broker(**settings)` maps each keyword to a `kmock serve` flag (see `SETTINGS`); a setting set
    to None is left out. Use it as a context manager or call `start()`/`stop()`:

        with kmock.Broker(faults=["leave_group:delay=60s"]) as broker:
            producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
            broker.add_fault("join_group:error=rebalance_in_progress,once")

    Keyword-only options that are not flags: `binary` (default: `find_binary()`),
    `start_timeout` (seconds to wait for the broker to accept connections) and `log_level`
    (`RUST_LOG` for the process, e.g. "debug" for connections, faults applied and group changes;
    default: kmock's, info).
    """

    def __init__(
        self,
        *,
        binary: str | os.PathLike[str] | None = None,
        start_timeout: float = DEFAULT_START_TIMEOUT_S,
        log_level: str | None = None,
        **settings: Any,
    ) -> None:
        self._arguments = serve_arguments(settings)
        self._settings = dict(settings)
        self._binary = os.fspath(binary) if binary is not None else None
        self._start_timeout = float(start_timeout)
        self._log_level = log_level
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr_path: str | None = None
        self._bootstrap: str | None = None
        self._control: str | None = None
        # Set once stop() ran, and once check() raised: the plugin reports an exit only once.
        self._stopped = False
        self._exit_reported = False
        # No proxy for loopback calls, whatever http_proxy says.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Broker:
        """Starts the process and waits until it accepts connections; returns self."""
        if self._process is not None:
            raise KmockError(f"{self!r} was already started (a Broker starts once)")
        binary = self._binary or find_binary()
        command = [binary, "serve", *self._arguments]
        stderr_file = tempfile.NamedTemporaryFile(
            prefix="kmock-", suffix=".stderr.log", delete=False
        )
        self._stderr_path = stderr_file.name
        weakref.finalize(self, _remove_file, stderr_file.name)
        environment = dict(os.environ)
        if self._log_level is not None:
            environment["RUST_LOG"] = self._log_level
        try:
            with stderr_file:
                self._process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=stderr_file,
                    env=environment,
                )
        except OSError as error:
            raise BrokerStartError(f"cannot run {binary}: {error}") from error
        _LIVE.add(self)
        try:
            self._read_addresses(command)
        except BaseException:
            self.stop()
            raise
        return self

    def _read_addresses(self, command: Sequence[str]) -> None:
        process = self._process
        assert process is not None and process.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(
            target=_pump_stdout, args=(process.stdout, lines), name="kmock-stdout", daemon=True
        ).start()
        deadline = time.monotonic() + self._start_timeout
        printed: list[str] = []
        while self._bootstrap is None or self._control is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrokerStartError(
                    f"`{' '.join(command)}` printed no BOOTSTRAP=/CONTROL= lines within "
                    f"{self._start_timeout:g} s (stdout so far: {printed!r})"
                    + self._stderr_quote(),
                    stderr_tail=self._stderr_tail(),
                )
            try:
                line = lines.get(timeout=min(remaining, 0.1))
            except queue.Empty:
                continue
            if line is None:  # stdout closed: the process is exiting
                try:
                    returncode = process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    returncode = None
                status = "closed its stdout" if returncode is None else _describe_exit(returncode)
                raise BrokerStartError(
                    f"`{' '.join(command)}` {status} before it printed its BOOTSTRAP=/CONTROL= "
                    f"lines" + self._stderr_quote(),
                    returncode=returncode,
                    stderr_tail=self._stderr_tail(),
                )
            line = line.strip()
            printed.append(line)
            if line.startswith("BOOTSTRAP="):
                self._bootstrap = line[len("BOOTSTRAP=") :]
            elif line.startswith("CONTROL="):
                self._control = line[len("CONTROL=") :].rstrip("/")

    def stop(self) -> None:
        """Stops the process (SIGTERM, then SIGKILL after 10 s). Idempotent; the log stays readable
        through `stderr()`."""
        process = self._process
        if process is None:
            return
        self._stopped = True
        _LIVE.discard(self)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> Broker:
        if self._process is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        if self._process is None:
            return "<kmock.Broker (not started)>"
        state = (
            "running" if self._process.poll() is None else _describe_exit(self._process.returncode)
        )
        return (
            f"<kmock.Broker pid={self._process.pid} {state} bootstrap_servers={self._bootstrap} "
            f"control_url={self._control}>"
        )

    # --- what a test reads -----------------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        """`host:port` for a client's bootstrap_servers."""
        self._require_started()
        assert self._bootstrap is not None
        return self._bootstrap

    @property
    def control_url(self) -> str:
        """`http://host:port` of the control API."""
        self._require_started()
        assert self._control is not None
        return self._control

    @property
    def settings(self) -> dict[str, Any]:
        """The settings given to the constructor."""
        return dict(self._settings)

    @property
    def pid(self) -> int | None:
        """The process id, None before `start()`."""
        return None if self._process is None else self._process.pid

    @property
    def returncode(self) -> int | None:
        """None while the process runs (or before it started); its exit status once it ended
        (negative: killed by that signal)."""
        return None if self._process is None else self._process.poll()

    def check(self) -> None:
        """Raises `BrokerExitedError` if the process has exited (status and end of its log)."""
        process = self._process
        if process is None or process.poll() is None:
            return
        if self._stopped:
            message = f"the kmock broker (pid {process.pid}) was stopped"
        else:
            message = f"the kmock broker (pid {process.pid}) {_describe_exit(process.returncode)}"
        self._exit_reported = True
        raise BrokerExitedError(
            message + self._stderr_quote(),
            returncode=process.returncode,
            stderr_tail=self._stderr_tail(),
        )

    def stderr(self, offset: int = 0) -> str:
        """The broker's log (its stderr) from byte `offset` on; readable after `stop()` too."""
        if self._stderr_path is None:
            return ""
        try:
            with open(self._stderr_path, "rb") as log:
                log.seek(offset)
                return log.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def stderr_size(self) -> int:
        """How many bytes the broker has logged so far: the `offset` of what comes next."""
        if self._stderr_path is None:
            return 0
        try:
            return os.path.getsize(self._stderr_path)
        except FileNotFoundError:
            return 0

    def _stderr_tail(self, lines: int = STDERR_TAIL_LINES) -> str:
        size = self.stderr_size()
        # The last 64 KiB hold the last lines of any sane log.
        text = self.stderr(max(0, size - 64 * 1024))
        return "\n".join(text.splitlines()[-lines:])

    def _stderr_quote(self) -> str:
        tail = self._stderr_tail()
        if not tail:
            return "; its stderr is empty"
        return f"; the end of its stderr ({self._stderr_path}):\n{tail}"

    # --- the control API -------------------------------------------------------------------------

    def add_fault(self, spec: str) -> int:
        """Installs a fault rule after the others (`POST /faults`); returns its id. A spec the
        server refuses raises `FaultSpecError` with the server's explanation."""
        if not isinstance(spec, str):
            raise TypeError(f"a fault spec is a str like 'leave_group:delay=60s', not {spec!r}")
        answer = self._call("POST", "/faults", {"spec": spec})
        return int(answer["id"])

    def remove_fault(self, fault_id: int) -> None:
        """Removes one rule (`DELETE /faults/{id}`); `NotFoundError` if there is none."""
        if isinstance(fault_id, bool) or not isinstance(fault_id, int):
            raise TypeError(f"a fault id is the int add_fault() returned, not {fault_id!r}")
        self._call("DELETE", f"/faults/{fault_id}")

    def clear_faults(self) -> None:
        """Removes every rule, the start ones included (`DELETE /faults`)."""
        self._call("DELETE", "/faults")

    def faults(self) -> list[JSON]:
        """Installed rules in evaluation order: `id`, `spec`, `matched`, `applied`."""
        return list(self._call("GET", "/faults")["faults"])

    def requests(
        self,
        api: str | None = None,
        group: str | None = None,
        client_id: str | None = None,
        *,
        since: int | None = None,
        limit: int | None = None,
    ) -> list[JSON]:
        """Request log entries, oldest first (`GET /requests`), filtered by API name (any spelling:
        `leave_group`, `LeaveGroup`) or key, group and client id: `seq`, `time_ms`, `client_id`,
        `api`, `api_version`, `group`, `fault`, `outcome`, ..."""
        query = {
            key: value
            for key, value in (
                ("api", api),
                ("group", group),
                ("client_id", client_id),
                ("since", since),
                ("limit", limit),
            )
            if value is not None
        }
        path = "/requests"
        if query:
            path += "?" + urllib.parse.urlencode(query)
        return list(self._call("GET", path)["requests"])

    def topics(self) -> list[JSON]:
        """Topics: `name`, `id`, `partitions`, `high_watermarks`."""
        return list(self._call("GET", "/topics")["topics"])

    def groups(self) -> list[JSON]:
        """Consumer groups (see `group()`)."""
        return list(self._call("GET", "/groups")["groups"])

    def group(self, group_id: str) -> JSON:
        """One group: `state` (Empty, PreparingRebalance, CompletingRebalance, Stable, Dead),
        `generation`, `leader`, `members` (each with `member_id`, `client_id`, timeouts and
        `assignment` as {topic: [partitions]}), `committed_offsets`. `NotFoundError` if the broker
        has no such group."""
        answer: JSON = self._call("GET", "/groups/" + urllib.parse.quote(group_id, safe=""))
        return answer

    def transactions(self) -> list[JSON]:
        """Transactional ids the broker knows, in id order (`GET /transactions`): each with
        `transactional_id`, `producer_id`, `producer_epoch`, `state` (Kafka's transaction states:
        Empty, Ongoing, CompleteCommit, CompleteAbort, ...), `timeout_ms`, `started_ms` (broker
        time the open transaction began, or None), and the `partitions` ({`topic`, `partition`})
        and `groups` of an open transaction."""
        return list(self._call("GET", "/transactions")["transactions"])

    def transaction(self, transactional_id: str) -> JSON:
        """One transactional id (see `transactions()`). `NotFoundError` if the broker has never
        seen it."""
        answer: JSON = self._call(
            "GET", "/transactions/" + urllib.parse.quote(transactional_id, safe="")
        )
        return answer

    def apply_retention(self, topic: str | None = None) -> list[JSON]:
        """Runs retention and compaction now, as each topic's configs say (`retention.ms`,
        `retention.bytes`, `cleanup.policy`), on `topic` or every topic (`POST /retention`).
        Returns one entry per partition: `topic`, `partition`, `log_start_offset_before`,
        `log_start_offset`, `deleted_batches`, `compacted_records`. `NotFoundError` for an unknown
        topic."""
        body = None if topic is None else {"topic": topic}
        return list(self._call("POST", "/retention", body)["partitions"])

    def reset(self) -> None:
        """Back to the state right after start (`POST /reset`): no groups, an empty request log,
        only the topics and fault rules given at start (`faults=`, `config=`)."""
        self._call("POST", "/reset")

    # --- plumbing --------------------------------------------------------------------------------

    def _require_started(self) -> None:
        if self._process is None:
            raise KmockError(
                "the broker is not started: use `with kmock.Broker() as broker:` or call start()"
            )

    def _call(self, method: str, path: str, body: JSON | None = None) -> Any:
        self._require_started()
        self.check()
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.control_url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(request, timeout=CONTROL_TIMEOUT_S) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raw = error.read().decode("utf-8", errors="replace")
            try:
                message = str(json.loads(raw)["error"])
            except (ValueError, KeyError, TypeError):
                message = raw.strip() or error.reason
            kind: type[ControlError] = ControlError
            if error.code == 404:
                kind = NotFoundError
            elif error.code == 400 and method == "POST" and path == "/faults":
                kind = FaultSpecError
            raise kind(method, path, error.code, message) from None
        except (urllib.error.URLError, OSError) as error:
            # Connection refused or reset: most likely the process is gone; say so if it is.
            self._wait_briefly_for_exit()
            self.check()
            reason = getattr(error, "reason", error)
            raise KmockError(
                f"{method} {path}: no answer from the control API at {self._control}: {reason}"
            ) from error

    def _wait_briefly_for_exit(self) -> None:
        if self._process is not None:
            try:
                self._process.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass


def _pump_stdout(stdout: IO[bytes], lines: queue.Queue[str | None]) -> None:
    # Reads every stdout line (the broker prints two) so the pipe never fills; None at the end.
    try:
        for raw in stdout:
            lines.put(raw.decode("utf-8", errors="replace"))
    except (OSError, ValueError):
        pass
    lines.put(None)


def _remove_file(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
