"""The rcmd handshake parser: whole, in pieces, and under random bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rmtd.protocol.rcmd import (
    COMMAND_LIMIT,
    USER_LIMIT,
    Handshake,
    HandshakeError,
    HandshakeParser,
    refusal,
)

GOOD = b"1023\0alice\0bob\0/etc/rmt\0"


def parse(data: bytes) -> Handshake | None:
    return HandshakeParser().feed(data)


def test_a_whole_handshake() -> None:
    assert parse(GOOD) == Handshake(1023, "alice", "bob", "/etc/rmt")


def test_no_stderr_port_empty_or_zero() -> None:
    assert parse(b"\0a\0b\0rmt\0") == Handshake(None, "a", "b", "rmt")
    assert parse(b"0\0a\0b\0rmt\0") == Handshake(None, "a", "b", "rmt")


def test_byte_by_byte_and_bytes_after_the_command_kept() -> None:
    parser = HandshakeParser()
    data = GOOD + b"O/x\n0\n"
    results = [parser.feed(data[i : i + 1]) for i in range(len(data))]
    first = next(i for i, r in enumerate(results) if r is not None)
    assert first == len(GOOD) - 1
    assert all(r is None for r in results[:first])
    assert parser.rest == b"O/x\n0\n"


def test_incomplete_is_none_then_eof_is_an_error() -> None:
    parser = HandshakeParser()
    assert parser.feed(b"514\0alice") is None
    with pytest.raises(HandshakeError, match="closed before the end of the client user name"):
        parser.feed(b"")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"x" * 100, "stderr port longer than 5 bytes"),
        (b"12a\0a\0b\0rmt\0", "not a decimal number"),
        (b"70000\0a\0b\0rmt\0", "stderr port 70000 is out of range"),
        (b"\0" + b"a" * (USER_LIMIT + 1), "client user name longer than 32 bytes"),
        (b"\0a\0" + b"b" * 1000, "server user name longer than 32 bytes"),
        (b"\0a\0b\0" + b"c" * (COMMAND_LIMIT + 1), "command longer than 1024 bytes"),
        (b"\0\0b\0rmt\0", "client user name is empty"),
        (b"\0a b\0b\0rmt\0", "client user name 'a b' has characters"),
        (b"\0a\0b\0\xff\0", "not UTF-8"),
        (b"\0a\0b\0rmt\nx\0", "control characters"),
        (b"\0a\0b\0  \0", "command is empty"),
    ],
)
def test_malformed(data: bytes, message: str) -> None:
    with pytest.raises(HandshakeError, match=message):
        parse(data)


def test_limits_are_inclusive() -> None:
    name = "u" * USER_LIMIT
    command = "r" * COMMAND_LIMIT
    data = f"65535\0{name}\0{name}\0{command}\0".encode()
    assert parse(data) == Handshake(65535, name, name, command)


def test_is_rmt() -> None:
    assert Handshake(None, "a", "b", "/etc/rmt").is_rmt
    assert Handshake(None, "a", "b", " rmt ").is_rmt
    assert Handshake(None, "a", "b", "/usr/sbin/rmt-tar").is_rmt
    assert not Handshake(None, "a", "b", "/bin/sh -c id").is_rmt
    assert not Handshake(None, "a", "b", "/etc/rmt; id").is_rmt


def test_refusal_is_one_line() -> None:
    assert refusal("no\nsuch  user") == b"\1no such user\n"
    assert len(refusal("x" * 5000)) == 514


@settings(deadline=None)  # never a timed test
@given(st.binary(max_size=2000), st.integers(1, 50))
def test_random_bytes_parse_or_fail_cleanly(data: bytes, piece: int) -> None:
    whole: Handshake | HandshakeError | None
    try:
        whole = HandshakeParser().feed(data) if data else None
    except HandshakeError as exc:
        whole = exc
    parser = HandshakeParser()
    pieces: Handshake | HandshakeError | None = None
    try:
        for i in range(0, len(data), piece):
            pieces = parser.feed(data[i : i + piece])
    except HandshakeError as exc:
        pieces = exc
    # Feeding in pieces decides the same as feeding at once.
    if isinstance(whole, HandshakeError):
        assert isinstance(pieces, HandshakeError)
        assert str(pieces) == str(whole)
        assert "\n" not in str(whole)
    else:
        assert pieces == whole
