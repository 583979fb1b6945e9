"""Throughput rounds for ``python -m bench``: every server once per round, medians at the end.

A round writes then reads ``total`` bytes in records of each size through every server in
turn, so that a slow spell of a shared machine falls on all servers alike instead of on one
server's block of runs. Each direction is its own server process (GNU rmt exits after ``C``);
its peak RSS is its ``VmHWM`` just before the close (see ``Client.sample_peak`` for why not
``wait4``). The client times the records and the closing ``C`` request separately: the close
is where a server syncs.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bench.throughput import Pipe
from devices.formats.index import INDEX_SUFFIX
from devices.state import STATE_SUFFIX

SIZES = (10240, 65536, 262144)
C_SERVERS = ("rmt-tar", "rmt-dump")


@dataclass(frozen=True)
class Server:
    """A server to measure: its name, its command and the path it is asked to open.

    ``fresh`` names the files to delete before each round, so that every round writes a new
    image (a ``.tap`` and its saved index) instead of overwriting last round's.
    """

    name: str
    argv: list[str]
    target: str
    fresh: tuple[str, ...] = ()


@dataclass
class Samples:
    """What the rounds measured for one row (a direction, a record size and a server)."""

    rates: list[float] = field(default_factory=list)
    closes: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)

    def add(self, rate: float, close: float, rss_kib: int) -> None:
        """Record one round: MB/s, seconds of the close, peak RSS in KiB."""
        self.rates.append(rate)
        self.closes.append(close)
        self.rss_kib.append(rss_kib)


Key = tuple[str, int, str]  # (direction "W" or "R", record size, server name)


class Client(Pipe):
    """The benchmark's stop-and-wait client, ending with the server's peak RSS."""

    peak_kib = 0

    def sample_peak(self) -> None:
        """Note the server's peak RSS so far (``VmHWM``, KiB), before it may exit on ``C``.

        ``ru_maxrss`` from ``wait4`` cannot be used here: Linux keeps a process's maximum
        RSS across ``execve`` (fs/exec.c, ``exec_mmap``: ``setmax_mm_hiwater_rss``), so a
        server forked from this Python process would report at least this process's RSS.
        ``VmHWM`` (proc(5)) is the high-water mark of the server's own address space.
        """
        with open(f"/proc/{self.proc.pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    self.peak_kib = int(line.split()[1])

    def finish(self) -> int:
        """Close the server's stdin and reap it; return its peak RSS in KiB."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()
        return self.peak_kib


def _write(server: Server, total: int, record: int) -> tuple[float, float, int]:
    """Write ``total`` bytes; return (records seconds, close seconds, peak RSS KiB)."""
    payload = memoryview((bytes(range(256)) * (record // 256 + 1))[:record])
    client = Client(server.argv)
    try:
        client.send(b"O%s\n577 O_WRONLY|O_CREAT|O_TRUNC\n" % server.target.encode())
        client.reply()
        header = b"W%d\n" % record
        start = time.perf_counter()
        for _ in range(total // record):
            client.send(header, payload)
            client.reply()
        records = time.perf_counter() - start
        client.sample_peak()
        start = time.perf_counter()
        client.send(b"C\n")
        client.reply()
        close = time.perf_counter() - start
    finally:
        rss = client.finish()
    return records, close, rss


def _read(server: Server, total: int, record: int) -> tuple[float, float, int]:
    """Read ``total`` bytes back; return (records seconds, close seconds, peak RSS KiB)."""
    client = Client(server.argv)
    try:
        client.send(b"O%s\n0 O_RDONLY\n" % server.target.encode())
        client.reply()
        request = b"R%d\n" % record
        start = time.perf_counter()
        for _ in range(total // record):
            client.send(request)
            got = client.reply()
            if got != record:
                raise OSError(f"{server.name}: R{record} returned {got} bytes")
            client.read_data(got)
        records = time.perf_counter() - start
        client.sample_peak()
        start = time.perf_counter()
        client.send(b"C\n")
        client.reply()
        close = time.perf_counter() - start
    finally:
        rss = client.finish()
    return records, close, rss


def servers(workdir: str) -> tuple[list[Server], list[str]]:
    """The servers to measure, each on a file in ``workdir``, and a note per missing C server."""
    rmtd = [str(Path(sys.executable).with_name("rmtd")), "--root", workdir]
    tap = os.path.join(workdir, "bench.tap")
    found = [
        Server(
            "rmtd .tap", rmtd, "bench.tap/nomount", (tap, tap + INDEX_SUFFIX, tap + STATE_SUFFIX)
        ),
        Server("rmtd file", rmtd, "bench.bin", (os.path.join(workdir, "bench.bin"),)),
    ]
    notes = []
    for name in C_SERVERS:
        path = shutil.which(name) or f"/usr/sbin/{name}"
        if os.access(path, os.X_OK):
            target = os.path.join(workdir, f"{name}.bin")
            found.append(Server(name, [path], target, (target,)))
        else:
            notes.append(f"{name}: not installed ({path}), its rows are skipped")
    return found, notes


def _fresh(server: Server) -> None:
    """Delete what the last round left (image, saved index, state): this round starts empty."""
    for path in server.fresh:
        if os.path.exists(path):
            os.unlink(path)


def run_rounds(found: Iterable[Server], rounds: int, total: int) -> dict[Key, Samples]:
    """Run ``rounds`` rounds, servers alternating inside each; return every row's samples."""
    found = list(found)
    results: dict[Key, Samples] = {}
    for _ in range(rounds):
        for record in SIZES:
            size = total - total % record
            for server in found:
                _fresh(server)
                for direction, measure in (("W", _write), ("R", _read)):
                    spent, close, rss = measure(server, size, record)
                    samples = results.setdefault((direction, record, server.name), Samples())
                    samples.add(size / spent / 1e6, close, rss)
    return results


def median_rate(results: dict[Key, Samples], key: Key) -> float:
    """The median MB/s of one row."""
    return statistics.median(results[key].rates)


def best_c(results: dict[Key, Samples], direction: str, record: int) -> float | None:
    """The better of the C servers' median MB/s for one direction and size, if any ran."""
    rates = [
        median_rate(results, (direction, record, name))
        for name in C_SERVERS
        if (direction, record, name) in results
    ]
    return max(rates) if rates else None
