"""Throughput rounds for ``python -m bench``: every server once per round, medians at the end.

A round writes then reads ``total`` bytes in records of each size (10 KiB to 1 MiB) through
every server in turn, so that a slow spell of a shared machine falls on all servers alike
instead of on one server's block of runs. Each direction is its own server process (GNU rmt
exits after ``C``); its peak RSS is its ``VmHWM`` just before the close (see :func:`peak_kib`
for why not ``wait4``). The client times the records and the closing ``C`` request
separately: the close is where a server syncs. :func:`write` and :func:`read` take any
:class:`Session`, so the TCP and concurrent rows (bench/tcp.py, bench/parallel.py) measure
the same way.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bench.throughput import Pipe
from devices.formats.index import INDEX_SUFFIX
from devices.state import STATE_SUFFIX

SIZES = (10240, 65536, 262144)
BIG = 1 << 20
"""The record of the memory rows (issue 8: peak RSS under 64 MB while streaming 1 MiB records)."""
C_SERVERS = ("rmt-tar", "rmt-dump")


class Session(Protocol):
    """A stop-and-wait RMT session with one server process, whatever carries it."""

    def send(self, *parts: bytes | memoryview) -> None:
        """Write one request (and its data)."""

    def reply(self) -> int:
        """Read one reply; its value."""

    def read_data(self, count: int) -> None:
        """Consume the data that follows a reply."""

    def sample_peak(self) -> None:
        """Note the server's peak RSS so far."""

    def finish(self) -> int:
        """End the session; the server's peak RSS in KiB (0: unknown)."""


def peak_kib(pid: int) -> int:
    """The peak RSS (``VmHWM``, KiB) of process ``pid``; 0 once it has gone.

    ``ru_maxrss`` from ``wait4`` cannot be used for a server this process starts: Linux keeps a
    process's maximum RSS across ``execve`` (fs/exec.c, ``exec_mmap``:
    ``setmax_mm_hiwater_rss``), so a server forked from this Python process would report at
    least this process's RSS. ``VmHWM`` (proc(5)) is the high-water mark of the server's own
    address space.
    """
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Client(Pipe):
    """The benchmark's stop-and-wait client over pipes, ending with the server's peak RSS."""

    peak_kib = 0

    def sample_peak(self) -> None:
        """Note the server's peak RSS so far, before it may exit on ``C`` (see :func:`peak_kib`)."""
        self.peak_kib = max(self.peak_kib, peak_kib(self.proc.pid))

    def finish(self) -> int:
        """Close the server's stdin and reap it; return its peak RSS in KiB."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()
        return self.peak_kib


@dataclass(frozen=True)
class Server:
    """A server to measure: its name, its command and the path it is asked to open.

    ``fresh`` names the files to delete before each round, so that every round writes a new
    image (a ``.tap`` and its saved index) instead of overwriting last round's. ``connect``
    starts a session with it (by default over pipes, as rsh would start ``argv``).
    """

    name: str
    argv: list[str]
    target: str
    fresh: tuple[str, ...] = ()
    connect: Callable[[list[str]], Session] = Client


@dataclass
class Samples:
    """What the rounds measured for one row (a row label and a server)."""

    rates: list[float] = field(default_factory=list)
    closes: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)

    def add(self, rate: float, close: float | None, rss_kib: int) -> None:
        """Record one round: MB/s, seconds of the close (if timed), peak RSS in KiB (0: none)."""
        self.rates.append(rate)
        if close is not None:
            self.closes.append(close)
        if rss_kib:
            self.rss_kib.append(rss_kib)


Key = tuple[str, str]  # (row label such as "W 64 KiB", server name)
Results = dict[Key, Samples]


@dataclass(frozen=True)
class Timed:
    """One session's figures.

    Attributes:
        start: ``time.perf_counter()`` when its first record went.
        records: seconds of the records.
        close: seconds of the closing ``C``.
        rss: the server's peak RSS in KiB (0: unknown).
    """

    start: float
    records: float
    close: float
    rss: int


def size_label(record: int) -> str:
    """``10 KiB``, ``1 MiB``: a record size as the rows name it."""
    return f"{record >> 20} MiB" if record % (1 << 20) == 0 else f"{record // 1024} KiB"


def _close(client: Session) -> float:
    client.sample_peak()
    start = time.perf_counter()
    client.send(b"C\n")
    client.reply()
    return time.perf_counter() - start


def write(
    server: Server, total: int, record: int, ready: Callable[[], None] | None = None
) -> Timed:
    """Write ``total`` bytes in ``record``-byte records; ``ready`` is called after the open."""
    payload = memoryview((bytes(range(256)) * (record // 256 + 1))[:record])
    client = server.connect(server.argv)
    try:
        client.send(b"O%s\n577 O_WRONLY|O_CREAT|O_TRUNC\n" % server.target.encode())
        client.reply()
        if ready is not None:
            ready()
        header = b"W%d\n" % record
        start = time.perf_counter()
        for _ in range(total // record):
            client.send(header, payload)
            client.reply()
        records = time.perf_counter() - start
        close = _close(client)
    finally:
        rss = client.finish()
    return Timed(start, records, close, rss)


def read(server: Server, total: int, record: int, ready: Callable[[], None] | None = None) -> Timed:
    """Read ``total`` bytes back; ``ready`` is called after the open."""
    client = server.connect(server.argv)
    try:
        client.send(b"O%s\n0 O_RDONLY\n" % server.target.encode())
        client.reply()
        if ready is not None:
            ready()
        request = b"R%d\n" % record
        start = time.perf_counter()
        for _ in range(total // record):
            client.send(request)
            got = client.reply()
            if got != record:
                raise OSError(f"{server.name}: R{record} returned {got} bytes")
            client.read_data(got)
        records = time.perf_counter() - start
        close = _close(client)
    finally:
        rss = client.finish()
    return Timed(start, records, close, rss)


def servers(workdir: str, stem: str = "") -> tuple[list[Server], list[str]]:
    """The servers to measure, each on a file in ``workdir``, and a note per missing C server.

    ``stem`` is added to every file name, so that concurrent sessions have a file each.
    """
    rmtd = [str(Path(sys.executable).with_name("rmtd")), "--root", workdir]
    tap = os.path.join(workdir, f"bench{stem}.tap")
    found = [
        Server(
            "rmtd .tap",
            rmtd,
            f"bench{stem}.tap/nomount",
            (tap, tap + INDEX_SUFFIX, tap + STATE_SUFFIX),
        ),
        Server("rmtd file", rmtd, f"bench{stem}.bin", (os.path.join(workdir, f"bench{stem}.bin"),)),
    ]
    notes = []
    for name in C_SERVERS:
        path = c_server(name)
        if os.access(path, os.X_OK):
            target = os.path.join(workdir, f"{name}{stem}.bin")
            found.append(Server(name, [path], target, (target,)))
        else:
            notes.append(f"{name}: not installed ({path}), its rows are skipped")
    return found, notes


def c_server(name: str) -> str:
    """Where the C server ``name`` is (``/usr/sbin`` unless on the ``PATH``)."""
    return shutil.which(name) or f"/usr/sbin/{name}"


def fresh(server: Server) -> None:
    """Delete what the last round left (image, saved index, state): this round starts empty."""
    for path in server.fresh:
        if os.path.exists(path):
            os.unlink(path)


def measure_pair(results: Results, row: str, server: Server, total: int, record: int) -> None:
    """Write then read one fresh target through ``server``; add both to ``results``.

    ``row`` is the label after the direction ("64 KiB", "64 KiB tcp").
    """
    _measure(results, row, server, total, record, reads=True)


def measure_write(results: Results, row: str, server: Server, total: int, record: int) -> None:
    """Write one fresh target through ``server`` (no read back); add it to ``results``."""
    _measure(results, row, server, total, record, reads=False)


def _measure(
    results: Results, row: str, server: Server, total: int, record: int, reads: bool
) -> None:
    fresh(server)
    size = total - total % record
    for direction, measure in (("W", write), ("R", read))[: 2 if reads else 1]:
        timed = measure(server, size, record)
        samples = results.setdefault((f"{direction} {row}", server.name), Samples())
        samples.add(size / timed.records / 1e6, timed.close, timed.rss)


SYNC_LEVELS = ("filemark", "record")
"""The ``--sync`` levels measured apart (``close``, the default, is every other rmtd row)."""


def sync_servers(found: Iterable[Server]) -> list[Server]:
    """Rmtd to a ``.tap`` at each of :data:`SYNC_LEVELS` (the same image and files)."""
    tap = next(server for server in found if server.name == "rmtd .tap")
    return [dataclasses.replace(tap, argv=[*tap.argv, "--sync", level]) for level in SYNC_LEVELS]


FAULTS_ROW = "10 KiB, faults configured"
"""The label (after the direction) of the rows through rmtd with a ``[faults]`` table for other
names: faults must cost nothing where none is due (the tape is not even wrapped)."""


def faults_server(found: Iterable[Server], workdir: str) -> Server:
    """Rmtd to a ``.tap`` with a configuration whose ``[faults]`` name another image."""
    from rmtd.testing import Faults, faults_config

    config = os.path.join(workdir, "rmtd-faults.toml")
    Path(config).write_text(faults_config({"elsewhere.tap": Faults(delay=1.0)}))
    tap = next(server for server in found if server.name == "rmtd .tap")
    return dataclasses.replace(tap, argv=[*tap.argv, "--config", config])


def sync_row(level: str) -> str:
    """The label of a ``--sync`` row, after the direction."""
    return f"64 KiB --sync {level}"


def throughput_rows() -> list[str]:
    """The labels of the pipe throughput rows, in table order."""
    return [f"{d} {size_label(record)}" for record in (*SIZES, BIG) for d in ("W", "R")]


def throughput_round(found: Iterable[Server], total: int, results: Results) -> None:
    """One round of the pipe rows: each record size through every server in turn.

    The 1 MiB rows (the memory rows) leave out ``rmtd file``: they are there for the peak RSS
    of rmtd writing a ``.tap``, against the C servers.
    """
    found = list(found)
    for record in (*SIZES, BIG):
        for server in found:
            if record == BIG and server.name == "rmtd file":
                continue
            measure_pair(results, size_label(record), server, total, record)


def median_rate(results: Results, key: Key) -> float:
    """The median MB/s of one row."""
    return statistics.median(results[key].rates)


def best_c(results: Results, row: str) -> float | None:
    """The better of the C servers' median MB/s for one row, if any ran."""
    rates = [median_rate(results, (row, name)) for name in C_SERVERS if (row, name) in results]
    return max(rates) if rates else None
