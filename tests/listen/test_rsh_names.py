"""The rsh session's peer: a host name only when forward-confirmed, addresses in IPv4 form."""

from __future__ import annotations

import socket
import struct

import pytest

from rmtd.transports import rsh


def resolver(
    monkeypatch: pytest.MonkeyPatch, reverse: dict[str, str], forward: dict[str, list[str]]
) -> None:
    def getnameinfo(sockaddr: tuple[str, int], flags: int) -> tuple[str, str]:
        if sockaddr[0] not in reverse:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return reverse[sockaddr[0]], "0"

    def getaddrinfo(host: str, port: object, **kwargs: object) -> list[tuple[object, ...]]:
        if host not in forward:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 0)) for a in forward[host]]

    monkeypatch.setattr(socket, "getnameinfo", getnameinfo)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_a_name_that_resolves_back_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    resolver(
        monkeypatch, {"192.0.2.7": "tape.example"}, {"tape.example": ["10.0.0.1", "192.0.2.7"]}
    )
    assert rsh.forward_confirmed_name("192.0.2.7") == "tape.example"


def test_a_name_that_does_not_resolve_back_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    resolver(monkeypatch, {"192.0.2.7": "trusted.example"}, {"trusted.example": ["10.0.0.1"]})
    assert rsh.forward_confirmed_name("192.0.2.7") is None
    resolver(monkeypatch, {"192.0.2.7": "gone.example"}, {})
    assert rsh.forward_confirmed_name("192.0.2.7") is None
    resolver(monkeypatch, {}, {})
    assert rsh.forward_confirmed_name("192.0.2.7") is None


def test_an_ipv4_mapped_answer_confirms_the_ipv4_address(monkeypatch: pytest.MonkeyPatch) -> None:
    resolver(monkeypatch, {"192.0.2.7": "tape.example"}, {"tape.example": ["::ffff:192.0.2.7"]})
    assert rsh.forward_confirmed_name("192.0.2.7") == "tape.example"


def test_sigterm_shortens_the_socket_timeouts_to_the_grace() -> None:
    one, other = socket.socketpair()
    with one, other:
        rsh.set_timeouts(one, 600)
        waiter = rsh.Waiter(one.fileno(), lambda: rsh.set_timeouts(one, 2.5))
        waiter.on_sigterm(15, None)  # mid-request: only the flag and the timeouts
        for option in (socket.SO_RCVTIMEO, socket.SO_SNDTIMEO):
            assert struct.unpack("ll", one.getsockopt(socket.SOL_SOCKET, option, 16)) == (
                2,
                500000,
            )


def test_sessions_send_replies_at_once_on_tcp() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        conn, _ = server.accept()
        with client, conn:
            assert not conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            rsh.send_at_once(conn)
            assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    one, other = socket.socketpair()  # not TCP: nothing to set, no error
    with one, other:
        rsh.send_at_once(one)
