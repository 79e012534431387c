"""Receiver CPU per 110 bytes for three ways of receiving a socket's bytes (BENCHMARKS.md, issue 18).

    python3 bench/receive_paths.py [RUNS]        # default 5; Linux 5.14+, Python 3.10+

A sender process writes 224 MiB (the wire size of 2M produced records) in 1 MiB pieces over
loopback TCP; the receiving process's CPU time (user + system) is divided by the 110-byte records
that would be:

- reuse: `recv` into one 8 MiB buffer again and again. Keeps nothing: receiving alone, what a
  broker that reuses its memory (librdkafka's mock keeps 5 MiB per partition) pays.
- anon: `recv` into fresh anonymous 8 MiB mappings with `MADV_HUGEPAGE`, faulted in 2 MiB ahead
  (`MADV_POPULATE_WRITE`): kmock's receive arena, keeping every byte.
- memfd: `splice` from the socket into a pipe and from the pipe into a `memfd` (tmpfs does not zero
  a page that a write fills whole), then the memfd mapped and faulted in for reading
  (`MADV_POPULATE_READ`): keeping every byte without zeroing it first.

The three alternate run by run; medians (min-max) at the end.
"""

import mmap
import os
import resource
import socket
import statistics
import sys

TOTAL = 224 << 20
PIECE = 1 << 20
REGION = 8 << 20
STEP = 2 << 20
RECORD_BYTES = 110
MADV_HUGEPAGE = 14
MADV_POPULATE_READ = 22
MADV_POPULATE_WRITE = 23
F_SETPIPE_SZ = 1031


def send(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as s:
        piece = os.urandom(PIECE)
        for _ in range(TOTAL // PIECE):
            s.sendall(piece)


def receive_reuse(conn: socket.socket):
    buffer = mmap.mmap(-1, REGION, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    buffer.madvise(MADV_POPULATE_WRITE, 0, REGION)
    view = memoryview(buffer)
    got = 0
    while got < TOTAL:
        n = conn.recv_into(view[got % REGION:])
        if n == 0:
            break
        got += n
    view.release()
    return buffer


def receive_anon(conn: socket.socket):
    kept = []
    got = 0
    while got < TOTAL:
        region = mmap.mmap(-1, REGION, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        region.madvise(MADV_HUGEPAGE)
        kept.append(region)
        view = memoryview(region)
        offset = populated = 0
        while offset < REGION and got < TOTAL:
            if offset >= populated:
                region.madvise(MADV_POPULATE_WRITE, populated, STEP)
                populated += STEP
            n = conn.recv_into(view[offset:populated])
            if n == 0:
                view.release()
                return kept
            offset += n
            got += n
        view.release()
    return kept


def receive_memfd(conn: socket.socket):
    import fcntl

    fd = os.memfd_create("kept")
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, F_SETPIPE_SZ, PIECE)
    os.ftruncate(fd, TOTAL)
    kept, mapped, got = [], 0, 0
    while got < TOTAL:
        n = os.splice(conn.fileno(), write_end, PIECE)
        if n == 0:
            break
        moved = 0
        while moved < n:
            moved += os.splice(read_end, fd, n - moved, offset_dst=got + moved)
        got += n
        while got - mapped >= REGION:
            region = mmap.mmap(fd, REGION, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ, offset=mapped)
            region.madvise(MADV_POPULATE_READ)
            kept.append(region)
            mapped += REGION
    os.close(read_end)
    os.close(write_end)
    return kept, fd


RECEIVERS = {"reuse": receive_reuse, "anon": receive_anon, "memfd": receive_memfd}


def run(kind: str) -> tuple[float, int]:
    """Receiver CPU in ns per 110 bytes, and its minor faults."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        pid = os.fork()
        if pid == 0:
            send(listener.getsockname()[1])
            os._exit(0)
        conn, _ = listener.accept()
    before = resource.getrusage(resource.RUSAGE_SELF)
    kept = RECEIVERS[kind](conn)
    after = resource.getrusage(resource.RUSAGE_SELF)
    os.waitpid(pid, 0)
    conn.close()
    del kept
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu / (TOTAL / RECORD_BYTES) * 1e9, after.ru_minflt - before.ru_minflt


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    kinds = list(RECEIVERS)
    results = {kind: [] for kind in kinds}
    for i in range(runs):
        for kind in kinds[i % len(kinds):] + kinds[:i % len(kinds)]:
            ns, faults = run(kind)
            results[kind].append(ns)
            print(f"run {i + 1} {kind}: {ns:.1f} ns per {RECORD_BYTES} B, {faults} minor faults", flush=True)
    for kind, values in results.items():
        print(f"{kind}: {statistics.median(values):.1f} ns per {RECORD_BYTES} B "
              f"({min(values):.1f}-{max(values):.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
