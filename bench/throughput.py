"""Benchmark: W and R throughput of rmtd against the C servers, measured in the same run.

Run: ``python -m bench.throughput [--mib N] [--record BYTES] [--repeats K]``. Each server
(``rmtd``, Debian's ``/usr/sbin/rmt-tar`` and ``/usr/sbin/rmt-dump`` where installed) is started
on pipes, as rsh or ssh would start it, and a client in this process writes N MiB in records of
the given size (strictly one request, one reply, as tar and dump do), then reads them back.
rmtd is measured on a plain file, as the C servers are, and on a SIMH ``.tap`` image. The
figures are MB/s (best of K runs) and the ratio to rmt-tar: these machines are shared and noisy,
so read the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Server:
    """A server to measure: a name, its command and the file it serves."""

    name: str
    argv: list[str]
    target: str


class Wire:
    """A minimal RMT client on a pair of file descriptors (enough for a benchmark).

    Args:
        rfd: where the server's replies arrive.
        wfd: where the requests go (the same descriptor as ``rfd`` for a socket).
    """

    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd = rfd
        self.wfd = wfd
        self.pending = bytearray()

    def _line(self) -> bytes:
        while b"\n" not in self.pending:
            chunk = os.read(self.rfd, 65536)
            if not chunk:
                raise EOFError("server closed the connection")
            self.pending += chunk
        line, _, rest = bytes(self.pending).partition(b"\n")
        self.pending = bytearray(rest)
        return line

    def reply(self) -> int:
        """Read one reply; return its value or raise on an error reply."""
        line = self._line()
        if line[:1] != b"A":
            raise OSError(f"server replied {line!r} {self._line()!r}")
        return int(line[1:])

    def send(self, *parts: bytes | memoryview) -> None:
        """Write the parts (one writev, more on a partial write)."""
        views = [memoryview(p) for p in parts]
        while views:
            sent = os.writev(self.wfd, views)
            while views and sent >= len(views[0]):
                sent -= len(views[0])
                views.pop(0)
            if views:
                views[0] = views[0][sent:]

    def read_data(self, count: int) -> None:
        """Consume ``count`` data bytes that follow a reply."""
        have = min(len(self.pending), count)
        del self.pending[:have]
        count -= have
        while count:
            chunk = os.read(self.rfd, min(count, 1 << 20))
            if not chunk:
                raise EOFError("server closed the connection")
            count -= len(chunk)


class Pipe(Wire):
    """A :class:`Wire` on the stdin and stdout of a server started here, as rsh would start it."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        super().__init__(self.proc.stdout.fileno(), self.proc.stdin.fileno())

    def close(self) -> None:
        """End the session."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def one_run(server: Server, total: int, record: int) -> tuple[float, float]:
    """Write then read ``total`` bytes; return (write seconds, read seconds)."""
    data = bytes(range(256)) * (record // 256 + 1)
    payload = memoryview(data)[:record]
    count = total // record
    client = Pipe(server.argv)
    try:
        client.send(b"O%s\n577 O_WRONLY|O_CREAT|O_TRUNC\n" % server.target.encode())
        client.reply()
        header = b"W%d\n" % record
        start = time.perf_counter()
        for _ in range(count):
            client.send(header, payload)
            client.reply()
        client.send(b"C\n")
        client.reply()
        wrote = time.perf_counter() - start
    finally:
        client.close()
    client = Pipe(server.argv)  # GNU rmt exits after C: one connection per direction
    try:
        client.send(b"O%s\n0 O_RDONLY\n" % server.target.encode())
        client.reply()
        request = b"R%d\n" % record
        start = time.perf_counter()
        for _ in range(count):
            client.send(request)
            client.read_data(client.reply())
        read = time.perf_counter() - start
        client.send(b"C\n")
        client.reply()
    finally:
        client.close()
    return wrote, read


def servers(workdir: str) -> list[Server]:
    """The servers this machine has, each serving a file in ``workdir``."""
    rmtd = [str(Path(sys.executable).with_name("rmtd")), "--root", workdir]
    found = [
        Server("rmtd (file)", rmtd, "bench.bin"),
        Server("rmtd (.tap)", rmtd, "bench.tap/nomount"),
    ]
    for name in ("rmt-tar", "rmt-dump"):
        path = shutil.which(name) or f"/usr/sbin/{name}"
        if os.access(path, os.X_OK):
            found.append(Server(name, [path], os.path.join(workdir, f"{name}.bin")))
    return found


def main() -> None:
    """Measure every server, print a table with ratios to rmt-tar."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=64, help="MiB written and read per run")
    parser.add_argument("--record", type=int, default=10240, help="record size in bytes")
    parser.add_argument("--repeats", type=int, default=3, help="runs per server (best is kept)")
    args = parser.parse_args()
    total = args.mib << 20
    with tempfile.TemporaryDirectory() as workdir:
        results: dict[str, tuple[float, float]] = {}
        for server in servers(workdir):
            runs = [one_run(server, total, args.record) for _ in range(args.repeats)]
            results[server.name] = (min(r[0] for r in runs), min(r[1] for r in runs))
    base = results.get("rmt-tar")
    print(f"{args.mib} MiB in {args.record}-byte records, best of {args.repeats}")
    print(f"{'server':<14}{'write MB/s':>12}{'read MB/s':>12}{'write/tar':>12}{'read/tar':>11}")
    for name, (wrote, read) in results.items():
        w_rate, r_rate = total / wrote / 1e6, total / read / 1e6
        ratios = f"{base[0] / wrote:>12.2f}{base[1] / read:>11.2f}" if base else ""
        print(f"{name:<14}{w_rate:>12.1f}{r_rate:>12.1f}{ratios}")


if __name__ == "__main__":
    main()
