"""What the admin interop scripts (admin_*.py) share: the plan's numbers, checks, and the way a
script runs (one BOOTSTRAP argument, a watchdog, exit 0 or 1 with the failure on stderr).

Each script runs the same plan with one client's admin API against a fresh `kmock serve`:
1. create a topic with one partition, produce MESSAGE_COUNT messages to it;
2. create partitions up to PARTITIONS (checked through metadata); growing to fewer fails with
   INVALID_PARTITIONS;
3. delete the records before DELETE_BEFORE (low watermark and earliest offset checked, and a new
   consumer reading from the beginning starts there); deleting beyond the end fails with
   OFFSET_OUT_OF_RANGE;
4. a consumer joins a group and commits; the group is listed and described (member, state, and
   authorized operations where the client asks for them);
5. deleting the group while the member is active fails with NON_EMPTY_GROUP;
6. once the member has left: alter, list and delete the group's offsets, then delete the group,
   after which its offsets are gone.
Steps a client's admin API does not offer are said so in the script's docstring.
"""

import faulthandler
import sys
import traceback
import uuid

MESSAGE_COUNT = 10
PARTITIONS = 3
DELETE_BEFORE = 4
ALTERED_OFFSET = 7
# (partition, offset, value) of the first message left after DeleteRecords.
FIRST_KEPT = (0, DELETE_BEFORE, f"message-{DELETE_BEFORE}")
# One client call (a future's result, a consumer's wait for messages).
TIMEOUT_S = 15
OVERALL_TIMEOUT_S = 60

# The authorized operations Kafka reports without an authorizer (AclEntry.supportedOperations).
TOPIC_OPERATIONS = {
    "READ", "WRITE", "CREATE", "DELETE", "ALTER", "DESCRIBE", "DESCRIBE_CONFIGS", "ALTER_CONFIGS"
}
GROUP_OPERATIONS = {"READ", "DESCRIBE", "DELETE", "DESCRIBE_CONFIGS", "ALTER_CONFIGS"}
CLUSTER_OPERATIONS = {
    "CREATE", "CLUSTER_ACTION", "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE", "ALTER", "DESCRIBE"
}


class Script:
    """One script's name, its log lines, and fresh topic and group names."""

    def __init__(self, name: str):
        self.name = name
        suffix = uuid.uuid4().hex[:10]
        self.topic = f"{name}-{suffix}"
        self.group = f"{name}-group-{suffix}"
        self.values = [f"message-{i}" for i in range(MESSAGE_COUNT)]

    def log(self, message: str) -> None:
        print(f"[{self.name}] {message}", flush=True)

    def main(self, run, timeout_s: float = OVERALL_TIMEOUT_S) -> int:
        """Runs `run(bootstrap)` under a watchdog of `timeout_s`; the process exit code."""
        if len(sys.argv) != 2:
            print(f"usage: {self.name}.py BOOTSTRAP", file=sys.stderr)
            return 2
        faulthandler.dump_traceback_later(timeout_s, exit=True)
        try:
            run(sys.argv[1])
        except Exception as error:  # noqa: BLE001 - report any failure with its type
            traceback.print_exc()
            print(f"[{self.name}] FAILED: {type(error).__name__}: {error}", file=sys.stderr)
            return 1
        self.log("OK")
        return 0


def expect(actual, expected, what: str) -> None:
    """Fails with both values unless they are equal."""
    if actual != expected:
        raise AssertionError(f"{what}: got {actual!r}, want {expected!r}")


def expect_error(call, error_name: str, what: str):
    """Runs `call()` and fails unless it raises an error whose text names `error_name`."""
    try:
        result = call()
    except Exception as error:  # noqa: BLE001 - each client has its own error types
        return _named(error, error_name, what)
    raise AssertionError(f"{what}: returned {result!r}, want {error_name}")


async def expect_error_async(awaitable, error_name: str, what: str):
    """Awaits `awaitable` and fails unless it raises an error whose text names `error_name`."""
    try:
        result = await awaitable
    except Exception as error:  # noqa: BLE001 - each client has its own error types
        return _named(error, error_name, what)
    raise AssertionError(f"{what}: returned {result!r}, want {error_name}")


def _named(error: Exception, error_name: str, what: str) -> Exception:
    """`error` if its text names `error_name` (NON_EMPTY_GROUP matches NonEmptyGroupError)."""
    if error_name.lower().replace("_", "") not in repr(error).lower().replace("_", ""):
        raise AssertionError(f"{what}: raised {error!r}, want {error_name}") from error
    return error
