"""A/B of kmock binaries on the produce workload of figure 2 (kmock only), interleaved run by run.

    .venv/bin/python bench/ab.py RUNS NAME=PATH [NAME=PATH ...]     # IDLE=1.0 to wait like run.py
    RECORDS=2000000 CONSUME=0 .venv/bin/python bench/ab.py ...         # other sizes; no read-back
    MODE=consume RECORDS=200000 .venv/bin/python bench/ab.py ...        # figure 3's consume only

Per run and binary (their order rotating run by run): a fresh broker, wait IDLE s (default 0.5),
produce RECORDS records (default 200,000; acks=1), read them back in a group unless CONSUME=0,
then a fresh broker for acks=all. Prints broker CPU per record
(schedstat), minor page faults during the acks=1 produce, (RSS after - idle RSS) / wire size, and
the read-back's CPU per record, then medians (min-max) per binary. Used for the performance-work
tables of BENCHMARKS.md.

MODE=consume: per run and binary, figure 3's workload only (a fresh broker, RECORDS records over
the figure's partition count, acks=1, then a consumer in a new group reads them): broker CPU per
record served and the broker's minor faults during the read.
"""

import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as R  # noqa: E402

RECORDS = int(os.environ.get("RECORDS", "200000"))
CONSUME = os.environ.get("CONSUME", "1") != "0"


def minflt(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7])


def consume_ab(runs: int, bins: dict) -> None:
    partitions = R.consume_partitions(RECORDS)
    res = {k: {"ccpu": [], "flt": []} for k in bins}
    for i in range(runs):
        for name, path in R.rotated(bins.items(), i):
            R.KMOCK_BIN = Path(path)
            with R.Broker("kmock") as b:
                R.metadata_roundtrip(b.bootstrap)
                topic = f"ab-{uuid.uuid4().hex[:6]}"
                client = R.Client([R.PY, str(R.BENCH / "clients" / "confluent_produce.py"), b.bootstrap, topic,
                                   str(RECORDS), str(R.VALUE_BYTES), "1", "--partitions", str(partitions)])
                client.wait_ready()
                client.go()
                client.result()
                f0 = minflt(b.pid)
                c = R.confluent_consume(b, topic, RECORDS, 6000, 1.0)
                flt = minflt(b.pid) - f0
                assert (c["records"], c["high"]) == (RECORDS, RECORDS), c
            r = res[name]
            r["ccpu"].append(c["broker_cpu"]["sched"] / RECORDS * 1e6)
            r["flt"].append(flt)
            print(f"run {i + 1} {name}: consume CPU/record {r['ccpu'][-1]:.3f} µs, minflt {flt}, "
                  f"{c['records_per_s']:,.0f} records/s", flush=True)
    for name, r in res.items():
        print(name, {k: f"{statistics.median(v):.3f} ({min(v):.3f}-{max(v):.3f})" for k, v in r.items()})


def main() -> None:
    runs = int(sys.argv[1])
    bins = dict(a.split("=", 1) for a in sys.argv[2:])
    if os.environ.get("MODE") == "consume":
        return consume_ab(runs, bins)
    idle_s = float(os.environ.get("IDLE", "0.5"))
    wire = R.record_wire_bytes(RECORDS)
    res = {k: {"cpu1": [], "cpuall": [], "flt": [], "mem": [], "ccpu": []} for k in bins}
    for i in range(runs):
        for name, path in R.rotated(bins.items(), i):
            R.KMOCK_BIN = Path(path)
            with R.Broker("kmock") as b:
                R.metadata_roundtrip(b.bootstrap)
                time.sleep(idle_s)
                idle = R.memory(b.pid)["rss_mb"]
                f0 = minflt(b.pid)
                topic = f"ab-{uuid.uuid4().hex[:6]}"
                p1 = R.confluent_produce(b, topic, RECORDS, "1")
                flt = minflt(b.pid) - f0
                after = R.memory(b.pid)["rss_mb"]
                if CONSUME:
                    c = R.confluent_consume(b, topic, RECORDS, 45000, 3.0)
                    assert (c["records"], c["high"]) == (RECORDS, RECORDS), c
                else:
                    wm = R.watermarks(b.bootstrap, topic)
                    assert (wm["low"], wm["high"]) == (0, RECORDS), wm
                    c = {"broker_cpu": {"sched": 0.0}}
            with R.Broker("kmock") as b:
                R.metadata_roundtrip(b.bootstrap)
                pa = R.confluent_produce(b, f"ab-{uuid.uuid4().hex[:6]}", RECORDS, "all")
            r = res[name]
            r["cpu1"].append(p1["broker_cpu"]["sched"] / RECORDS * 1e6)
            r["cpuall"].append(pa["broker_cpu"]["sched"] / RECORDS * 1e6)
            r["flt"].append(flt)
            r["mem"].append((after - idle) * 1048576 / (RECORDS * wire))
            r["ccpu"].append(c["broker_cpu"]["sched"] / RECORDS * 1e6)
            print(f"run {i + 1} {name}: CPU/record acks=1 {r['cpu1'][-1]:.3f} µs, acks=all {r['cpuall'][-1]:.3f} µs, "
                  f"minflt {flt}, memory/wire {r['mem'][-1]:.2f}, read-back CPU/record {r['ccpu'][-1]:.3f} µs",
                  flush=True)
    for name, r in res.items():
        print(name, {k: f"{statistics.median(v):.3f} ({min(v):.3f}-{max(v):.3f})" for k, v in r.items()})


if __name__ == "__main__":
    main()
