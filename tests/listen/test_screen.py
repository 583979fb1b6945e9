"""Listener-level refusals: the screen before the cap, the stderr port rule, the audit log, and
SIGTERM against a client stalled mid-record."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rmtd.transports.listener import bind_reserved
from tests.listen.conftest import (
    OPEN_ACCESS,
    RMTD,
    WRITE_FLAGS,
    Start,
    handshake,
    open_config,
    read_line,
    rmt,
)
from tests.simh_codec import decode

REJECT_TWO = OPEN_ACCESS.replace("[access]\n", '[access]\nreject = ["127.0.0.2"]\n')
PORT_RULE = OPEN_ACCESS.replace("require_privileged_port = false", "")


def connect_from(port: int, source: str = "127.0.0.1", reserved: bool = False) -> socket.socket:
    sock = socket.socket()
    sock.settimeout(60)
    if reserved:
        bind_reserved(sock, socket.AF_INET)
    else:
        sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def reply_of(sock: socket.socket) -> bytes:
    return sock.recv(1) + read_line(sock)


def refusals(audit: Path) -> list[dict[str, object]]:
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    return [event for event in events if event["event"] == "refuse"]


def after_the_probe(audit: Path) -> None:
    """Wait until the listener has refused the ``start`` fixture's probe (which says nothing),
    so that it holds no handshake in progress; the audit log is then emptied."""
    for _ in range(600):  # bounded: up to 60 s
        if audit.exists() and refusals(audit):
            audit.write_text("")
            return
        time.sleep(0.1)
    raise AssertionError("the probe was never refused")


def test_a_rejected_host_is_refused_at_accept_and_never_fills_the_cap(
    start: Start, tmp_path: Path
) -> None:
    config = open_config(tmp_path, REJECT_TWO)
    audit = tmp_path / "audit.jsonl"
    listener = start("--config", str(config), "--max-sessions", "1", "--audit", str(audit))
    after_the_probe(audit)
    with connect_from(listener.port, "127.0.0.2") as rejected:
        # Nothing sent: refused at once, by the address alone.
        assert reply_of(rejected) == (
            b"\1rmtd: 127.0.0.2 is rejected by access.reject '127.0.0.2'\n"
        )
    with connect_from(listener.port, "127.0.0.1") as holder:  # the one place under the cap
        with connect_from(listener.port, "127.0.0.2") as rejected:
            assert b"is rejected by access.reject" in reply_of(rejected)
        assert handshake(holder) == b"\0"


def test_an_unreserved_stderr_port_is_refused_before_any_connection_back(
    start: Start, tmp_path: Path
) -> None:
    config = open_config(tmp_path, PORT_RULE)
    audit = tmp_path / "audit.jsonl"
    listener = start("--config", str(config), "--audit", str(audit))
    after_the_probe(audit)
    with socket.create_server(("127.0.0.1", 0)) as trap:
        trap.setblocking(False)
        high = trap.getsockname()[1]
        with connect_from(listener.port, reserved=True) as sock:
            sock.sendall(f"{high}\0".encode())
            assert (
                reply_of(sock)
                == (
                    f"\1rmtd: stderr port {high} is not reserved (512 to 1023), as "
                    "access.require_privileged_port demands\n"
                ).encode()
            )
        try:
            trap.accept()[0].close()
            connected_back = True
        except BlockingIOError:
            connected_back = False
    assert not connected_back
    (event,) = refusals(audit)
    assert event["peer"] == "127.0.0.1"
    assert isinstance(event["port"], int) and event["port"] < 1024
    assert "stderr port" in str(event["reason"])


def test_an_unprivileged_source_port_is_refused_at_accept(start: Start, tmp_path: Path) -> None:
    listener = start("--config", str(open_config(tmp_path, PORT_RULE)))
    with connect_from(listener.port) as sock:
        assert b"is not privileged (below 1024)" in reply_of(sock)


def test_every_listener_refusal_is_audited_with_peer_port_and_reason(
    start: Start, tmp_path: Path
) -> None:
    config = open_config(tmp_path, REJECT_TWO)
    audit = tmp_path / "audit.jsonl"
    listener = start("--config", str(config), "--audit", str(audit), "--handshake-timeout", "0.5")
    after_the_probe(audit)
    ports = []
    for data in (b"x" * 10, b"\0root\0nobody\0/bin/sh\0", b""):
        with connect_from(listener.port) as sock:
            ports.append(sock.getsockname()[1])
            sock.sendall(data)
            assert reply_of(sock).startswith(b"\1rmtd: ")
    with connect_from(listener.port, "127.0.0.2") as sock:
        ports.append(sock.getsockname()[1])
        assert reply_of(sock).startswith(b"\1rmtd: ")
    assert listener.stop() == 0
    events = refusals(audit)
    assert [(e["peer"], e["port"]) for e in events] == [
        ("127.0.0.1", ports[0]),
        ("127.0.0.1", ports[1]),
        ("127.0.0.1", ports[2]),
        ("127.0.0.2", ports[3]),
    ]
    reasons = [str(e["reason"]) for e in events]
    assert reasons[0].startswith("bad handshake: ")
    assert reasons[1] == "only the rmt service runs here, not '/bin/sh'"
    assert reasons[2] == "no complete handshake within 0.5 seconds"
    assert reasons[3] == "127.0.0.2 is rejected by access.reject '127.0.0.2'"


def test_the_cap_refusal_is_audited(start: Start, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    listener = start("--audit", str(audit), "--max-sessions", "1")
    after_the_probe(audit)
    with connect_from(listener.port) as holder:
        with connect_from(listener.port) as extra:
            port = extra.getsockname()[1]
            assert b"too many sessions" in reply_of(extra)
        assert handshake(holder) == b"\0"
    (event,) = refusals(audit)
    assert (event["peer"], event["port"]) == ("127.0.0.1", port)
    assert "too many sessions (the limit is 1)" in str(event["reason"])


def test_sigterm_ends_a_session_stalled_mid_record_long_before_the_idle_timeout(
    start: Start, served: Path
) -> None:
    listener = start("--idle-timeout", "3600")
    with connect_from(listener.port) as sock:
        assert handshake(sock) == b"\0"
        assert rmt(sock, f"Ostall.tap\n{WRITE_FLAGS}\n".encode())[0] == b"A0\n"
        assert rmt(sock, b"W4\n", b"done")[0] == b"A4\n"
        sock.sendall(b"W10240\n" + b"x" * 100)  # and then nothing: stalled mid-record
        listener.proc.send_signal(15)
        # Bounded far below the idle timeout: the session ends after its short grace.
        assert listener.proc.wait(timeout=60) == 0
    records = decode((served / "stall.tap").read_bytes())
    assert records[0] == b"done"
    assert b"x" * 100 not in (served / "stall.tap").read_bytes()


@contextmanager
def inetd(
    served: Path, text: str, *options: str, reserved: bool = False
) -> Iterator[tuple[socket.socket, subprocess.Popen[bytes]]]:
    config = open_config(served.parent, text)
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.socket()
        if reserved:
            bind_reserved(client, socket.AF_INET)
        else:
            client.bind(("127.0.0.2", 0))
        client.connect(server.getsockname())
        accepted, _ = server.accept()
    with accepted:
        proc = subprocess.Popen(
            [RMTD, "listen", "--inetd", "--root", str(served), "--config", str(config), *options],
            stdin=accepted.fileno(),
            stdout=subprocess.DEVNULL,
        )
    client.settimeout(30)
    try:
        yield client, proc
    finally:
        client.close()
        proc.wait(timeout=30)


def test_inetd_screens_the_peer_and_audits_the_refusal(served: Path, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    with inetd(served, REJECT_TWO, "--audit", str(audit)) as (client, proc):
        port = client.getsockname()[1]
        assert reply_of(client) == b"\1rmtd: 127.0.0.2 is rejected by access.reject '127.0.0.2'\n"
    assert proc.returncode == 1
    (event,) = refusals(audit)
    assert (event["peer"], event["port"], event["via"]) == ("127.0.0.2", port, "rsh")


def test_inetd_refuses_an_unreserved_stderr_port(served: Path, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    with inetd(served, PORT_RULE, "--audit", str(audit), reserved=True) as (client, proc):
        client.sendall(b"40000\0")
        assert b"stderr port 40000 is not reserved" in reply_of(client)
    assert proc.returncode == 1
    (event,) = refusals(audit)
    assert event["peer"] == "127.0.0.1" and "stderr port 40000" in str(event["reason"])


def test_inetd_audits_a_bad_handshake(served: Path, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    with inetd(served, OPEN_ACCESS, "--audit", str(audit)) as (client, proc):
        client.sendall(b"x" * 10)
        assert reply_of(client).startswith(b"\1rmtd: bad handshake: ")
    assert proc.returncode == 1
    (event,) = refusals(audit)
    assert event["peer"] == "127.0.0.2"
    assert str(event["reason"]).startswith("bad handshake: ")
