"""What fresh memory costs on this machine, per retained produced record (BENCHMARKS.md, issue 18).

    python3 bench/fresh_memory.py [--mib 224] [--runs 3]

A broker that keeps every produced record must fault in fresh anonymous memory for each byte it
keeps: the kernel allocates, zeroes, charges to the memory cgroup and maps each page. This measures
that cost alone, with the process's CPU time (user + system) around `madvise(MADV_POPULATE_WRITE)`
over a fresh mapping of MIB MiB, as 4 KiB pages (1 MiB per call, as kmock did before issue 18) and
as 2 MiB transparent huge pages (`MADV_HUGEPAGE` first, 2 MiB per call, as kmock's receive arena
does), and prints it per 110 bytes (a 100-byte record on the wire, figure 2). Linux 5.14+ only.
"""

import argparse
import ctypes
import resource
import statistics
import sys
import time

MADV_HUGEPAGE = 14
MADV_POPULATE_WRITE = 23
PROT_READ_WRITE = 0x3
MAP_PRIVATE_ANONYMOUS = 0x22
HUGE = 2 << 20
RECORD_BYTES = 110


def populate(libc, size: int, huge: bool) -> tuple[float, int]:
    """CPU seconds and minor faults to fault in `size` fresh bytes."""
    base = libc.mmap(None, size + HUGE, PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS, -1, 0)
    if base in (None, ctypes.c_void_p(-1).value):
        raise SystemExit("mmap failed")
    aligned = (base + HUGE - 1) // HUGE * HUGE
    step = HUGE if huge else 1 << 20
    try:
        if huge and libc.madvise(aligned, size, MADV_HUGEPAGE) != 0:
            raise SystemExit(f"madvise(MADV_HUGEPAGE) failed: errno {ctypes.get_errno()}")
        cpu0, flt0 = time.process_time(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for offset in range(0, size, step):
            if libc.madvise(aligned + offset, step, MADV_POPULATE_WRITE) != 0:
                raise SystemExit(f"madvise(MADV_POPULATE_WRITE) failed (Linux 5.14+): errno {ctypes.get_errno()}")
        cpu1, flt1 = time.process_time(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    finally:
        libc.munmap(base, size + HUGE)
    return cpu1 - cpu0, flt1 - flt0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=224, help="MiB to fault in per measurement (default 224: 2M records)")
    parser.add_argument("--runs", type=int, default=3, help="measurements per page size (default 3)")
    args = parser.parse_args()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
        print(f"transparent_hugepage/enabled: {f.read().strip()}")
    size = args.mib << 20
    records = size / RECORD_BYTES
    results = {False: [], True: []}
    for _ in range(args.runs):
        for huge in (False, True):  # interleaved
            results[huge].append(populate(libc, size, huge))
    for huge, runs in results.items():
        per = [cpu / records * 1e9 for cpu, _ in runs]
        faults = statistics.median(f for _, f in runs)
        name = "2 MiB huge pages" if huge else "4 KiB pages"
        print(f"{name}: {statistics.median(per):.1f} ns per {RECORD_BYTES} B (min {min(per):.1f}, max {max(per):.1f}), "
              f"{faults:.0f} minor faults per {args.mib} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
