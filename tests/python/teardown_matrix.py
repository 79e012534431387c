"""The real-client teardown matrix: how long a consumer's stop()/close() takes when the coordinator
misbehaves on one request, for aiokafka, kafka-python and confluent-kafka (kafkajs:
tests/node/teardown_kafkajs.mjs, same case format). Driven by tests/tests/teardown_matrix.rs.

Usage: teardown_matrix.py CLIENT BOOTSTRAP CONTROL_URL CASES_JSON
  CLIENT       aiokafka | kafka-python | confluent-kafka
  BOOTSTRAP    kmock serve's host:port
  CONTROL_URL  kmock serve's control API (http://host:port)
  CASES_JSON   a file holding {"topic": str, "timeouts": {...}, "cap_ms": int, "cases": [...]}

Each case is one consumer in its own group with its own client id, so every case runs concurrently
against the one broker: its fault rules match only its group (`,group=G`).
  {"id": str, "group": str, "client_id": str, "auto_commit": bool,
   "faults": [spec, ...],            installed once the consumer consumed a record; `{group}`
                                     stands for the case's group
   "await_api": str | null}          wait until this API was faulted for this client before stop()

Steps per case: start the consumer, consume one record (a setup that does not get there within
SETUP_ATTEMPT_TIMEOUT_S is abandoned and retried once in a fresh group, `-retry1`: kafka-python
3.0.12 now and then stops after a SyncGroup response under load, see tests/README.md) (so there are offsets to commit), install the
case's fault rules, wait for `await_api` to be faulted when given (a heartbeat or a coordinator
lookup in flight when stop() begins), then time stop()/close() with a cap: a stop still running at
the cap is reported as such (and abandoned). Afterwards the request log says what the client sent
during the stop and the group says whether the member is still in it.

Prints one line `RESULT {json}` per case:
  {"id", "stop_ms": float | null (null: still running at the cap), "outcome": "returned" |
   "raised ExcType: message" | "running at cap" | "setup failed: ...", "awaited": bool | null,
   "requests": [[api, fault | null, outcome | null], ...] sent by the client from stop() on,
   "members_after": int | null, "setup_attempts": int}
Exit status 0 when every case ran (the caller judges the numbers), 1 on a harness failure.
"""

import asyncio
import concurrent.futures
import faulthandler
import json
import os
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request

SETUP_ATTEMPT_TIMEOUT_S = 20
SETUP_ATTEMPTS = 2
SETUP_TIMEOUT_S = SETUP_ATTEMPT_TIMEOUT_S * SETUP_ATTEMPTS
AWAIT_FAULT_TIMEOUT_S = 10
# Cases in flight at once for the thread-based clients.
KAFKA_PYTHON_CONCURRENCY = 12
CONFLUENT_CONCURRENCY = 48


def log(message: str) -> None:
    print(f"[teardown_matrix] {message}", file=sys.stderr, flush=True)


class Control:
    """The kmock control API (blocking; called from threads or an executor)."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def _call(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text else None

    def add_fault(self, spec: str) -> int:
        return self._call("POST", "/faults", {"spec": spec})["id"]

    def remove_fault(self, fault_id: int) -> None:
        try:
            self._call("DELETE", f"/faults/{fault_id}")
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise

    def next_seq(self) -> int:
        return self._call("GET", "/requests?limit=0")["next"]

    def requests(self, client_id: str, since: int, api: str | None = None) -> list:
        query = f"/requests?since={since}&client_id={urllib.request.quote(client_id)}&limit=100000"
        if api:
            query += f"&api={api}"
        return self._call("GET", query)["requests"]

    def members(self, group: str) -> int | None:
        try:
            return len(self._call("GET", f"/groups/{urllib.request.quote(group)}")["members"])
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return 0
            raise


def attempt_case(case: dict, attempt: int) -> dict:
    """The case as set up on attempt `attempt` (0-based): a fresh group and client id on a retry,
    its fault rules scoped to that group."""
    suffix = "" if attempt == 0 else f"-retry{attempt}"
    group = case["group"] + suffix
    return dict(
        case,
        group=group,
        client_id=case["client_id"] + suffix,
        faults=[spec.replace("{group}", group) for spec in case["faults"]],
    )


def wait_for_fault(control: Control, case: dict, since: int) -> bool:
    """Waits until the log shows a request of `await_api` from this case's client that a fault
    rule applied to. True if it did within AWAIT_FAULT_TIMEOUT_S."""
    deadline = time.monotonic() + AWAIT_FAULT_TIMEOUT_S
    while time.monotonic() < deadline:
        for entry in control.requests(case["client_id"], since, case["await_api"]):
            if entry["fault"]:
                return True
        time.sleep(0.05)
    return False


def summarize(control: Control, case: dict, since: int) -> list:
    return [
        [entry["api"], entry["fault"], entry["outcome"]]
        for entry in control.requests(case["client_id"], since)
        if entry["api"] not in ("Fetch", "Metadata", "ApiVersions", "ListOffsets")
    ]


def describe(error: BaseException) -> str:
    return f"raised {type(error).__name__}: {str(error)[:200]}"


# --- aiokafka -------------------------------------------------------------------------------------


async def aiokafka_main(bootstrap: str, control: Control, spec: dict) -> list:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    timeouts = spec["timeouts"]
    topic = spec["topic"]
    cap_s = spec["cap_ms"] / 1000
    loop = asyncio.get_running_loop()
    # Control API calls block: enough threads that no case waits for another's call.
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=64))

    async def blocking(function, *args):
        return await loop.run_in_executor(None, function, *args)

    async def wait_for_fault_async(case: dict, since: int) -> bool:
        deadline = time.monotonic() + AWAIT_FAULT_TIMEOUT_S
        while time.monotonic() < deadline:
            entries = await blocking(control.requests, case["client_id"], since, case["await_api"])
            if any(entry["fault"] for entry in entries):
                return True
            await asyncio.sleep(0.05)
        return False

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, client_id="teardown-producer")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"teardown")
    finally:
        await producer.stop()

    def make(case: dict) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=case["group"],
            client_id=case["client_id"],
            auto_offset_reset="earliest",
            enable_auto_commit=case["auto_commit"],
            auto_commit_interval_ms=600_000,
            request_timeout_ms=timeouts["request_timeout_ms"],
            session_timeout_ms=timeouts["session_timeout_ms"],
            heartbeat_interval_ms=timeouts["heartbeat_interval_ms"],
            retry_backoff_ms=timeouts["retry_backoff_ms"],
        )

    async def run_case(case: dict) -> dict:
        result = {"id": case["id"], "stop_ms": None, "awaited": None, "requests": [], "members_after": None}
        for attempt in range(SETUP_ATTEMPTS):
            result["setup_attempts"] = attempt + 1
            case_now = attempt_case(case, attempt)
            consumer = make(case_now)
            try:
                await asyncio.wait_for(consumer.start(), SETUP_ATTEMPT_TIMEOUT_S)
                await asyncio.wait_for(consumer.getone(), SETUP_ATTEMPT_TIMEOUT_S)
                break
            except Exception as error:  # noqa: BLE001 - reported, judged by the caller
                result["outcome"] = "setup failed: " + describe(error)
                asyncio.ensure_future(consumer.stop())  # abandoned
        else:
            return result
        case = case_now
        since = await blocking(control.next_seq)
        fault_ids = [await blocking(control.add_fault, f) for f in case["faults"]]
        if case["await_api"]:
            result["awaited"] = await wait_for_fault_async(case, since)
        since = await blocking(control.next_seq)
        started = time.monotonic()
        stop = asyncio.ensure_future(consumer.stop())
        done, _ = await asyncio.wait([stop], timeout=cap_s)
        if done:
            result["stop_ms"] = round((time.monotonic() - started) * 1000, 1)
            error = stop.exception()
            result["outcome"] = "returned" if error is None else describe(error)
        else:
            result["outcome"] = "running at cap"
            stop.cancel()
        result["requests"] = await blocking(summarize, control, case, since)
        result["members_after"] = await blocking(control.members, case["group"])
        for fault_id in fault_ids:
            await blocking(control.remove_fault, fault_id)
        return result

    return await asyncio.gather(*(run_case(case) for case in spec["cases"]))


# --- threads (kafka-python, confluent-kafka) ------------------------------------------------------


def threaded_main(control: Control, spec: dict, make, consume_one, stop, concurrency: int) -> list:
    """Runs every case on its own thread, at most `concurrency` at once; `make(case)` builds a
    subscribed consumer, `consume_one(consumer)` returns once a record arrived (or raises after
    SETUP_ATTEMPT_TIMEOUT_S), `stop(consumer)` closes it."""
    cap_s = spec["cap_ms"] / 1000
    results = {}
    slots = threading.BoundedSemaphore(concurrency)

    def run_case(case: dict) -> None:
        result = {"id": case["id"], "stop_ms": None, "awaited": None, "requests": [], "members_after": None}
        results[case["id"]] = result
        with slots:
            run_case_in_slot(case, result)

    def run_case_in_slot(case: dict, result: dict) -> None:
        for attempt in range(SETUP_ATTEMPTS):
            result["setup_attempts"] = attempt + 1
            case_now = attempt_case(case, attempt)
            try:
                consumer = make(case_now)
                consume_one(consumer)
                break
            except Exception as error:  # noqa: BLE001 - reported, judged by the caller
                result["outcome"] = "setup failed: " + describe(error)
        else:
            return
        case = case_now
        since = control.next_seq()
        fault_ids = [control.add_fault(f) for f in case["faults"]]
        if case["await_api"]:
            result["awaited"] = wait_for_fault(control, case, since)
        since = control.next_seq()
        outcome = {}

        def stopping() -> None:
            try:
                stop(consumer)
                outcome["outcome"] = "returned"
            except Exception as error:  # noqa: BLE001 - reported
                outcome["outcome"] = describe(error)
            outcome["stop_ms"] = round((time.monotonic() - started) * 1000, 1)

        started = time.monotonic()
        thread = threading.Thread(target=stopping, name=f"stop-{case['id']}", daemon=True)
        thread.start()
        thread.join(cap_s)
        if "stop_ms" in outcome:
            result.update(outcome)
        else:
            result["outcome"] = "running at cap"
        result["requests"] = summarize(control, case, since)
        result["members_after"] = control.members(case["group"])
        for fault_id in fault_ids:
            control.remove_fault(fault_id)

    threads = [threading.Thread(target=run_case, args=(case,), daemon=True) for case in spec["cases"]]
    for thread in threads:
        thread.start()
    rounds = -(-len(spec["cases"]) // concurrency)
    budget = rounds * (SETUP_TIMEOUT_S + AWAIT_FAULT_TIMEOUT_S + cap_s) + 30
    deadline = time.monotonic() + budget
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [
        results.get(case["id"], {"id": case["id"], "outcome": "harness: case did not finish", "stop_ms": None})
        for case in spec["cases"]
    ]


def kafka_python_main(bootstrap: str, control: Control, spec: dict) -> list:
    from kafka import KafkaConsumer, KafkaProducer

    timeouts = spec["timeouts"]
    producer = KafkaProducer(bootstrap_servers=bootstrap, client_id="teardown-producer")
    producer.send(spec["topic"], b"teardown").get(timeout=30)
    producer.close()

    def make(case):
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=case["group"],
            client_id=case["client_id"],
            auto_offset_reset="earliest",
            enable_auto_commit=case["auto_commit"],
            auto_commit_interval_ms=600_000,
            request_timeout_ms=timeouts["request_timeout_ms"],
            session_timeout_ms=timeouts["session_timeout_ms"],
            heartbeat_interval_ms=timeouts["heartbeat_interval_ms"],
            retry_backoff_ms=timeouts["retry_backoff_ms"],
            fetch_max_wait_ms=100,
        )
        # Metadata for the topic before joining: a leader that joins without it assigns nothing,
        # then rejoins, and that second SyncGroup is where kafka-python 3.0.12 now and then stalls.
        if not consumer.partitions_for_topic(spec["topic"]):
            raise RuntimeError(f"no metadata for {spec['topic']}")
        consumer.subscribe([spec["topic"]])
        return consumer

    def consume_one(consumer):
        deadline = time.monotonic() + SETUP_ATTEMPT_TIMEOUT_S
        while time.monotonic() < deadline:
            if any(consumer.poll(timeout_ms=200).values()):
                return
        raise TimeoutError(f"no record within {SETUP_ATTEMPT_TIMEOUT_S} s")

    # Fewer at once: kafka-python's threads contend for the GIL, which stretches its timings.
    return threaded_main(control, spec, make, consume_one, lambda consumer: consumer.close(), KAFKA_PYTHON_CONCURRENCY)


def confluent_main(bootstrap: str, control: Control, spec: dict) -> list:
    from confluent_kafka import Consumer, Producer

    timeouts = spec["timeouts"]
    producer = Producer({"bootstrap.servers": bootstrap, "client.id": "teardown-producer"})
    producer.produce(spec["topic"], b"teardown")
    if producer.flush(30):
        raise RuntimeError("the setup record was not delivered")

    def make(case):
        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": case["group"],
                "client.id": case["client_id"],
                "auto.offset.reset": "earliest",
                "enable.auto.commit": case["auto_commit"],
                "auto.commit.interval.ms": 600_000,
                # librdkafka's request timeout for group requests is socket.timeout.ms.
                "socket.timeout.ms": timeouts["request_timeout_ms"],
                "session.timeout.ms": timeouts["session_timeout_ms"],
                "heartbeat.interval.ms": timeouts["heartbeat_interval_ms"],
                "retry.backoff.ms": timeouts["retry_backoff_ms"],
                "fetch.wait.max.ms": 100,
            }
        )
        consumer.subscribe([spec["topic"]])
        return consumer

    def consume_one(consumer):
        deadline = time.monotonic() + SETUP_ATTEMPT_TIMEOUT_S
        while time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                return
        raise TimeoutError(f"no record within {SETUP_ATTEMPT_TIMEOUT_S} s")

    return threaded_main(control, spec, make, consume_one, lambda consumer: consumer.close(), CONFLUENT_CONCURRENCY)


def main() -> int:
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    client, bootstrap, control_url, cases_path = sys.argv[1:]
    with open(cases_path, encoding="utf-8") as file:
        spec = json.load(file)
    control = Control(control_url)
    rounds = -(-len(spec["cases"]) // KAFKA_PYTHON_CONCURRENCY)
    budget = rounds * (SETUP_TIMEOUT_S + AWAIT_FAULT_TIMEOUT_S + spec["cap_ms"] / 1000) + 90
    faulthandler.dump_traceback_later(budget, exit=True)
    started = time.monotonic()
    try:
        if client == "aiokafka":
            # Not asyncio.run: its clean-up would wait for stops abandoned at the cap.
            loop = asyncio.new_event_loop()
            results = loop.run_until_complete(aiokafka_main(bootstrap, control, spec))
        elif client == "kafka-python":
            results = kafka_python_main(bootstrap, control, spec)
        elif client == "confluent-kafka":
            results = confluent_main(bootstrap, control, spec)
        else:
            print(f"unknown client {client!r}", file=sys.stderr)
            return 2
    except Exception:  # noqa: BLE001 - a harness failure, reported with its traceback
        traceback.print_exc()
        return 1
    for result in results:
        print("RESULT " + json.dumps(result), flush=True)
    log(f"{client}: {len(results)} cases in {time.monotonic() - started:.1f} s")
    sys.stdout.flush()
    # Stops still running at the cap hold threads (or tasks) that would keep the process alive.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
