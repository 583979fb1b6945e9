"""``rmtd listen --inetd``: the one connection on standard input, as systemd's rmtd@.service."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.listen.conftest import handshake, open_config, rmt
from tests.simh_codec import decode

RMTD = str(Path(sys.executable).with_name("rmtd"))


@contextmanager
def inetd(served: Path, *options: str) -> Iterator[tuple[socket.socket, subprocess.Popen[bytes]]]:
    config = open_config(served.parent)
    """A loopback connection whose server side is ``rmtd listen --inetd``'s standard input."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
    with accepted:
        proc = subprocess.Popen(
            [RMTD, "listen", "--inetd", "--root", str(served), "--config", str(config), *options],
            stdin=accepted.fileno(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    client.settimeout(30)
    try:
        yield client, proc
    finally:
        client.close()
        proc.wait(timeout=30)
        assert proc.stderr is not None
        proc.stderr.close()


def test_inetd_serves_one_rmt_session_on_standard_input(served: Path) -> None:
    with inetd(served) as (client, proc):
        assert handshake(client) == b"\0"
        assert rmt(client, b"Ovol.tap\n66 O_RDWR|O_CREAT\n") == (b"A0\n", b"")
        assert rmt(client, b"W5\n", b"hello") == (b"A5\n", b"")
        assert rmt(client, b"C\n") == (b"A0\n", b"")
    assert proc.returncode == 0
    assert decode((served / "vol.tap").read_bytes()) == [b"hello", None]


def test_inetd_refuses_a_command_that_is_not_rmt(served: Path) -> None:
    with inetd(served) as (client, proc):
        reply = handshake(client, command="/bin/sh -i")
        assert reply.startswith(b"\1rmtd: only the rmt service runs here")
    assert proc.returncode == 1
    assert not (served / "vol.tap").exists()


def test_inetd_refuses_a_client_that_says_nothing(served: Path) -> None:
    with inetd(served, "--handshake-timeout", "0.2") as (client, proc):
        reply = client.recv(200)
        assert reply.startswith(b"\1rmtd: no complete handshake within 0.2 seconds")
    assert proc.returncode == 1
