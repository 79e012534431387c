"""Hosts librdkafka's built-in mock cluster (the rd_kafka_mock_* API of the librdkafka shared
library inside the confluent-kafka wheel) in this process, for the benchmark harness.

Usage: rdkafka_mock.py [--brokers 1] [--initial-rebalance-delay-ms 0] [--leave-group-delay-ms MS]

Prints `BOOTSTRAP=host:port` on stdout once the mock listens, then serves until stdin closes or
SIGTERM/SIGINT. Commands on stdin, one per line, each answered with one line (`OK` or `ERR ...`):
`topic NAME PARTITIONS` creates a topic with rd_kafka_mock_topic_create (the mock does not
implement CreateTopics, and auto-creates topics with its default partition count). The mock runs on librdkafka's own threads; this Python process only hosts it, so
its CPU time and RSS include the Python interpreter (about 10 MB, a few ms of CPU at start).

`--leave-group-delay-ms MS` pushes, on every broker, LeaveGroup "errors" with error code 0 and a
round-trip time of MS: the mock processes the LeaveGroup and holds back the response MS ms, which is
the seed scenario's slow coordinator (kmock: `--fault leave_group:delay=60s`).
"""

import argparse
import ctypes
import ctypes.util
import glob
import os
import signal
import sys
import threading

import confluent_kafka

LEAVE_GROUP = 13
RD_KAFKA_PRODUCER = 0
# LeaveGroup pushes per broker: enough for every consumer stop() a seed run makes.
LEAVE_GROUP_PUSHES = 16


def load_librdkafka() -> ctypes.CDLL:
    package = os.path.dirname(confluent_kafka.__file__)
    candidates = sorted(glob.glob(os.path.join(package, os.pardir, "confluent_kafka.libs", "librdkafka*.so*")))
    if not candidates:
        found = ctypes.util.find_library("rdkafka")
        if not found:
            raise SystemExit("librdkafka shared library not found next to confluent_kafka")
        candidates = [found]
    return ctypes.CDLL(os.path.abspath(candidates[0]) if os.path.exists(candidates[0]) else candidates[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brokers", type=int, default=1)
    parser.add_argument("--initial-rebalance-delay-ms", type=int, default=0)
    parser.add_argument("--leave-group-delay-ms", type=int, default=0)
    args = parser.parse_args()

    lib = load_librdkafka()
    lib.rd_kafka_conf_new.restype = ctypes.c_void_p
    lib.rd_kafka_conf_set.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.rd_kafka_new.restype = ctypes.c_void_p
    lib.rd_kafka_new.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.rd_kafka_mock_cluster_new.restype = ctypes.c_void_p
    lib.rd_kafka_mock_cluster_new.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.rd_kafka_mock_cluster_bootstraps.restype = ctypes.c_char_p
    lib.rd_kafka_mock_cluster_bootstraps.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_mock_group_initial_rebalance_delay_ms.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    lib.rd_kafka_mock_cluster_destroy.argtypes = [ctypes.c_void_p]
    lib.rd_kafka_destroy.argtypes = [ctypes.c_void_p]

    errstr = ctypes.create_string_buffer(512)
    conf = lib.rd_kafka_conf_new()
    # The hosting handle only owns the mock cluster's thread; it never connects anywhere.
    lib.rd_kafka_conf_set(conf, b"log_level", b"3", errstr, len(errstr))
    rk = lib.rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, len(errstr))
    if not rk:
        raise SystemExit(f"rd_kafka_new: {errstr.value.decode()}")
    mcluster = lib.rd_kafka_mock_cluster_new(rk, args.brokers)
    if not mcluster:
        raise SystemExit("rd_kafka_mock_cluster_new failed")
    lib.rd_kafka_mock_group_initial_rebalance_delay_ms(mcluster, args.initial_rebalance_delay_ms)
    if args.leave_group_delay_ms > 0:
        # rd_kafka_mock_broker_push_request_error_rtts(mcluster, broker_id, ApiKey, cnt, (err, rtt)...)
        push = lib.rd_kafka_mock_broker_push_request_error_rtts
        push.restype = ctypes.c_int
        pairs = []
        for _ in range(LEAVE_GROUP_PUSHES):
            pairs += [ctypes.c_int(0), ctypes.c_int(args.leave_group_delay_ms)]
        for broker_id in range(1, args.brokers + 1):
            err = push(ctypes.c_void_p(mcluster), ctypes.c_int32(broker_id), ctypes.c_int16(LEAVE_GROUP),
                       ctypes.c_size_t(LEAVE_GROUP_PUSHES), *pairs)
            if err:
                raise SystemExit(f"push LeaveGroup delay on broker {broker_id}: error {err}")
    bootstraps = lib.rd_kafka_mock_cluster_bootstraps(mcluster).decode()
    print(f"BOOTSTRAP={bootstraps}", flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())

    lib.rd_kafka_mock_topic_create.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
    lib.rd_kafka_mock_topic_create.restype = ctypes.c_int

    def watch_stdin() -> None:
        try:
            for line in sys.stdin:
                words = line.split()
                if len(words) == 3 and words[0] == "topic":
                    err = lib.rd_kafka_mock_topic_create(mcluster, words[1].encode(), int(words[2]), 1)
                    print("OK" if err == 0 else f"ERR {err}", flush=True)
                elif words:
                    print(f"ERR unknown command {line.strip()!r}", flush=True)
        except Exception:  # noqa: BLE001 - any end of stdin ends the mock
            pass
        done.set()

    if not sys.stdin.isatty():
        threading.Thread(target=watch_stdin, daemon=True).start()
    while not done.wait(0.5):
        pass
    lib.rd_kafka_mock_cluster_destroy(mcluster)
    lib.rd_kafka_destroy(rk)
    return 0


if __name__ == "__main__":
    sys.exit(main())
