"""A listener on loopback for the tests, and a small rcmd+RMT client."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

RMTD = str(Path(sys.executable).with_name("rmtd"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Listener:
    """A running ``rmtd listen``."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.proc = proc
        self.port = port
        self.log = log

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=60)
        return sock

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


Start = Callable[..., Listener]


@pytest.fixture
def served(tmp_path: Path) -> Path:
    root = tmp_path / "served"
    root.mkdir()
    root.chmod(0o777)  # sessions run as nobody
    for directory in (tmp_path, tmp_path.parent, tmp_path.parent.parent):
        directory.chmod(0o755)  # pytest's are private to root; nobody must reach the root
    return root


OPEN_ACCESS = """\
[access]
require_privileged_port = false
[[access.proxy]]
remote_host = "127.0.0.0/8"
remote_user = "*"
local_user = "nobody"
devices = ["*", "*/*"]
mode = "read-write"
"""
"""What the listener tests grant unless they say otherwise: anyone on loopback, as nobody."""


def open_config(tmp_path: Path, text: str = OPEN_ACCESS) -> Path:
    """A configuration file holding ``text`` (by default :data:`OPEN_ACCESS`)."""
    path = tmp_path / "rmtd.toml"
    path.write_text(text)
    return path


@pytest.fixture
def start(served: Path, tmp_path: Path) -> Iterator[Start]:
    started: list[Listener] = []

    def starter(*options: str, port: int | None = None) -> Listener:
        port = port or free_port()
        log = tmp_path / "listen.log"
        argv = [RMTD, "listen", "--port", str(port), "--root", str(served), "-v", "--log", str(log)]
        if "--config" not in options:
            argv += ["--config", str(open_config(tmp_path))]
        proc = subprocess.Popen([*argv, *options])
        listener = Listener(proc, port, log)
        started.append(listener)
        # Bounded: up to 60 s for *this* listener to say it listens (a connect alone could
        # reach another program holding the port, such as a second test run's listener).
        mine = f"(pid {proc.pid})"
        for _ in range(600):
            if log.exists() and mine in log.read_text():
                break
            assert proc.poll() is None, "the listener exited: " + (
                log.read_text() if log.exists() else ""
            )
            time.sleep(0.1)
        else:
            raise AssertionError(f"the listener did not start: {log.read_text()}")
        listener.connect().close()
        return listener

    yield starter
    for listener in started:
        if listener.proc.poll() is None:
            listener.stop()


def handshake(
    sock: socket.socket, user: str = "nobody", command: str = "/etc/rmt", port: str = ""
) -> bytes:
    """Send an rcmd handshake; return the reply (b"\\0", or the refusal line)."""
    sock.sendall(f"{port}\0root\0{user}\0{command}\0".encode())
    return read_line_or_zero(sock)


def read_line_or_zero(sock: socket.socket) -> bytes:
    first = sock.recv(1)
    if first != b"\1":
        return first
    return first + read_line(sock)


def read_line(sock: socket.socket) -> bytes:
    line = b""
    while not line.endswith(b"\n"):
        got = sock.recv(1)
        if not got:
            break
        line += got
    return line


def rmt(sock: socket.socket, request: bytes, data: bytes = b"") -> tuple[bytes, bytes]:
    """One RMT request; the status line and, for a read, the data."""
    sock.sendall(request + data)
    status = read_line(sock)
    payload = b""
    if request.startswith(b"R") and status.startswith(b"A"):
        want = int(status[1:])
        while len(payload) < want:
            got = sock.recv(want - len(payload))
            assert got
            payload += got
    elif status.startswith(b"E"):
        status += read_line(sock)
    return status, payload


WRITE_FLAGS = "65 O_WRONLY|O_CREAT"  # as GNU tar sends it
