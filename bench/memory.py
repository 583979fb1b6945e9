"""Memory over a long stream: does rmtd's RSS stay flat (issue 8, "no per-record growth")?

Run: ``python -m bench.memory [--gib N]`` (default 10). One ``rmtd`` on pipes writes N GiB of
256 KiB records to a fresh ``.tap`` in a temporary directory (stop-and-wait, as tar and dump
do), then a second session reads them all back. Every 64 MiB the server's ``VmRSS`` (proc(5))
is sampled; for each direction the first, median, last and largest sample are printed, with
the server's ``VmHWM`` at the end. A server that keeps something per record shows a last
sample well above its first. Not part of ``python -m bench``'s table (a 10 GiB stream takes
about a minute); the table's "W 1 MiB" / "R 1 MiB" rows show the peak RSS of short streams.

The image takes N GiB of disk: the command checks the free space of the temporary directory
first and refuses (exit status 1) when it is under N GiB plus :data:`MARGIN`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time

from bench.rounds import Client, Server, peak_kib, servers

RECORD = 256 << 10
EVERY = 64 << 20
MARGIN = 1 << 30
"""Free space kept beyond the image (its index, the state file, the rest of the system)."""


def vm_rss(pid: int) -> int:
    """The current RSS of process ``pid`` in KiB (``VmRSS``)."""
    with open(f"/proc/{pid}/status", "rb") as status:
        for line in status:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1])
    raise OSError(f"no VmRSS for {pid}")


def _stream(server: Server, total: int, writing: bool) -> tuple[list[int], int, float]:
    """One session writing (or reading) ``total`` bytes; (RSS samples KiB, VmHWM KiB, s)."""
    client = Client(server.argv)
    pid = client.proc.pid
    samples: list[int] = []
    payload = memoryview((bytes(range(256)) * (RECORD // 256))[:RECORD])
    try:
        mode = b"577 O_WRONLY|O_CREAT|O_TRUNC" if writing else b"0 O_RDONLY"
        client.send(b"O%s\n%s\n" % (server.target.encode(), mode))
        client.reply()
        request = b"W%d\n" % RECORD if writing else b"R%d\n" % RECORD
        start = time.perf_counter()
        for count in range(total // RECORD):
            if writing:
                client.send(request, payload)
                client.reply()
            else:
                client.send(request)
                client.read_data(client.reply())
            if (count + 1) * RECORD % EVERY == 0:
                samples.append(vm_rss(pid))
        spent = time.perf_counter() - start
        client.sample_peak()
        client.send(b"C\n")
        client.reply()
    finally:
        client.finish()
    return samples, client.peak_kib or peak_kib(pid), spent


def report(direction: str, samples: list[int], hwm: int, total: int, spent: float) -> str:
    """One line: the samples' first, median, last and largest value, and the peak, in MiB."""
    first, last = samples[0], samples[-1]
    return (
        f"{direction}: {total / 2**30:g} GiB in {spent:.1f} s ({total / spent / 1e6:.0f} MB/s), "
        f"{len(samples)} samples of VmRSS (MiB): first {first / 1024:.1f}, "
        f"median {statistics.median(samples) / 1024:.1f}, last {last / 1024:.1f}, "
        f"max {max(samples) / 1024:.1f}; VmHWM {hwm / 1024:.1f}"
    )


def main() -> None:
    """Check the disk, stream, print one line per direction."""
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("--gib", type=float, default=10.0, help="GiB to stream (default 10)")
    args = parser.parse_args()
    total = int(args.gib * 2**30) // EVERY * EVERY
    if total <= 0:
        parser.error("--gib must be at least 1/16 (one 64 MiB sample)")
    with tempfile.TemporaryDirectory() as workdir:
        free = shutil.disk_usage(workdir).free
        if free < total + MARGIN:
            sys.exit(
                f"python -m bench.memory: {workdir} has {free / 2**30:.1f} GiB free; "
                f"{args.gib:g} GiB of image needs {(total + MARGIN) / 2**30:.1f} GiB"
            )
        tap = servers(workdir)[0][0]
        print(f"rmtd .tap, {RECORD // 1024} KiB records, VmRSS every {EVERY >> 20} MiB")
        for direction, writing in (("W", True), ("R", False)):
            samples, hwm, spent = _stream(tap, total, writing)
            print(report(direction, samples, hwm, total, spent))


if __name__ == "__main__":
    main()
