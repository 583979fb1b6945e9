"""``rmtd listen`` with real peers on loopback: handshakes, limits, sessions, SIGTERM."""

from __future__ import annotations

import resource
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.listen.conftest import WRITE_FLAGS, Start, free_port, handshake, read_line, rmt


def refusal_of(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(data)
    first = sock.recv(1)
    return first + read_line(sock)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"x" * 5000, b"stderr port longer than 5 bytes"),
        (b"\0root\0" + b"n" * 5000, b"server user name longer than 32 bytes"),
        (b"70000\0", b"stderr port 70000 is out of range"),
        (b"\0root\0nobody\0/bin/sh\0", b"only the rmt service runs here, not '/bin/sh'"),
    ],
)
def test_malformed_handshakes_are_refused(start: Start, data: bytes, message: bytes) -> None:
    listener = start()
    with listener.connect() as sock:
        reply = refusal_of(sock, data)
    assert reply.startswith(b"\1rmtd: ")
    assert message in reply
    with listener.connect() as sock:  # still serving
        assert handshake(sock) == b"\0"


def test_a_stderr_port_that_refuses(start: Start) -> None:
    listener = start()
    dead = free_port()  # nothing listens there
    with listener.connect() as sock:
        reply = refusal_of(sock, f"{dead}\0".encode())
    assert reply.startswith(b"\1rmtd: cannot connect to the stderr port")


def test_a_silent_client_is_dropped_at_the_handshake_deadline(start: Start) -> None:
    listener = start("--handshake-timeout", "0.5")
    with listener.connect() as sock:
        assert sock.recv(1) == b"\1"
        assert b"no complete handshake within 0.5 seconds" in read_line(sock)


def test_an_idle_session_is_closed(start: Start, served: Path) -> None:
    listener = start("--idle-timeout", "0.5")
    with listener.connect() as sock:
        assert handshake(sock) == b"\0"
        assert rmt(sock, f"Ovol.tap\n{WRITE_FLAGS}\n".encode())[0] == b"A0\n"
        assert rmt(sock, b"W3\n", b"abc")[0] == b"A3\n"
        assert sock.recv(1) == b""  # closed by the server, the device closed first
    assert (served / "vol.tap").read_bytes()[:4] == (3).to_bytes(4, "little")
    deadline = time.monotonic() + 10  # the session's last log line may trail its close
    while "no request for 0.5 seconds" not in listener.log.read_text():
        assert time.monotonic() < deadline, listener.log.read_text()
        time.sleep(0.05)


def test_beyond_the_cap_refused_listener_up_memory_flat(start: Start) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    listener = start("--max-sessions", "2")
    held: list[socket.socket] = []
    for _ in range(600):  # bounded: the start-up probe may still count for a moment
        sock = listener.connect()
        if handshake(sock) == b"\0":
            held.append(sock)
            if len(held) == 2:
                break
        else:
            sock.close()
            time.sleep(0.1)
    assert len(held) == 2

    def flood(count: int) -> list[bytes]:
        socks = [listener.connect() for _ in range(count)]
        replies = [s.recv(1) + read_line(s) for s in socks]
        for s in socks:
            s.close()
        return replies

    flood(100)  # warm up
    before = listener.rss_kb()
    replies = flood(1000)
    after = listener.rss_kb()
    assert all(r.startswith(b"\1rmtd: too many sessions (the limit is 2)") for r in replies)
    assert after - before < 2048, (before, after)
    for sock in held:
        sock.close()
    for _ in range(600):  # bounded: the sessions end when their clients leave
        with listener.connect() as sock:
            if handshake(sock) == b"\0":
                break
        time.sleep(0.1)
    else:
        raise AssertionError("never admitted again")
    assert listener.proc.poll() is None


def one_client(port: int, name: str) -> bytes:
    data = name.encode() * 100
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        assert handshake(sock) == b"\0"
        assert rmt(sock, f"O{name}\n{WRITE_FLAGS}\n".encode())[0] == b"A0\n"
        for _ in range(20):
            assert rmt(sock, f"W{len(data)}\n".encode(), data)[0] == f"A{len(data)}\n".encode()
        assert rmt(sock, b"C\n")[0] == b"A0\n"
        assert rmt(sock, f"O{name}\n0\n".encode())[0] == b"A0\n"
        got = b""
        for _ in range(20):
            status, payload = rmt(sock, f"R{len(data)}\n".encode())
            assert status == f"A{len(data)}\n".encode()
            got += payload
        return got


def test_64_clients_at_once(start: Start) -> None:
    listener = start()
    names = [f"c{i:02d}.tap" for i in range(64)]
    with ThreadPoolExecutor(64) as pool:
        results = list(pool.map(lambda n: one_client(listener.port, n), names))
    for name, got in zip(names, results, strict=True):
        assert got == name.encode() * 100 * 20


def test_a_busy_image_gives_ebusy(start: Start) -> None:
    listener = start()
    with listener.connect() as first, listener.connect() as second:
        assert handshake(first) == b"\0"
        assert handshake(second) == b"\0"
        assert rmt(first, f"Obusy.tap\n{WRITE_FLAGS}\n".encode())[0] == b"A0\n"
        status, _ = rmt(second, b"Obusy.tap\n0\n")
        assert status.startswith(b"E16\n")


def test_sigterm_mid_backup_keeps_every_acknowledged_record(start: Start, served: Path) -> None:
    listener = start()
    record = b"r" * 10240
    acked = 0
    with listener.connect() as sock:
        assert handshake(sock) == b"\0"
        assert rmt(sock, f"Oterm.tap\n{WRITE_FLAGS}\n".encode())[0] == b"A0\n"
        for _ in range(10):
            assert rmt(sock, b"W10240\n", record)[0] == b"A10240\n"
            acked += 1
        listener.proc.send_signal(15)
        for _ in range(1000):  # bounded: the session ends at its next wait
            try:
                status, _ = rmt(sock, b"W10240\n", record)
            except OSError:
                break
            if status != b"A10240\n":
                break
            acked += 1
    assert listener.proc.wait(timeout=60) == 0
    done = subprocess.run(
        ["mtdump", str(served / "term.tap")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    image = (served / "term.tap").read_bytes()
    assert image.count((10240).to_bytes(4, "little") + record) == acked


def test_nobody_cannot_open_what_only_root_may_read(start: Start, served: Path) -> None:
    secret = served / "secret.tap"
    secret.write_bytes(b"")
    secret.chmod(0o600)
    listener = start()
    with listener.connect() as sock:
        assert handshake(sock, user="nobody") == b"\0"
        status, _ = rmt(sock, b"Osecret.tap\n0\n")
    assert status.startswith(b"E13\n")


def test_root_sessions_need_a_rule_and_unknown_users_are_refused(start: Start) -> None:
    listener = start()
    with listener.connect() as sock:
        assert b"no proxy entry for root@" in handshake(sock, user="root")
    with listener.connect() as sock:
        assert b"nosuchuser" in handshake(sock, user="nosuchuser")
