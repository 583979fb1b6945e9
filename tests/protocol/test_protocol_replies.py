"""Replies to bytes, and the reply limits of the strictest clients (dumprmt.c, librmt, rtapelib)."""

from __future__ import annotations

import errno

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rmtd.protocol import MAX_MESSAGE, Ack, ErrorReply, ProtocolError, RequestError, clean_message


@pytest.mark.parametrize(
    ("reply", "wire"),
    [
        (Ack(0), b"A0\n"),
        (Ack(10240), b"A10240\n"),
        (Ack(-1), b"A-1\n"),
        (Ack(3, b"abc"), b"A3\nabc"),
        (Ack(0, b""), b"A0\n"),
        (Ack(2, bytearray(b"\n\n")), b"A2\n\n\n"),
        (Ack(1 << 40), b"A1099511627776\n"),
        (ErrorReply(9, "Bad file descriptor"), b"E9\nBad file descriptor\n"),
        (ErrorReply(22, "Garbage command"), b"E22\nGarbage command\n"),
        (ErrorReply(0, "Success"), b"E0\nSuccess\n"),
        (ErrorReply(5, "two\nlines\r\n"), b"E5\ntwo lines\n"),
        (ErrorReply(2, ""), b"E2\nerror\n"),
        (ErrorReply(2, "caf\u00e9 \x00 tab\there"), b"E2\ncaf? tab here\n"),
    ],
)
def test_reply_bytes(reply: Ack | ErrorReply, wire: bytes) -> None:
    assert reply.to_bytes() == wire
    assert b"".join(reply.chunks()) == wire


def test_ack_header_and_data_stay_separate() -> None:
    """R replies go out with writev: the record buffer is never concatenated."""
    record = bytearray(b"x" * 10240)
    view = memoryview(record)[:100]
    header, data = Ack(100, view).chunks()
    assert header == b"A100\n"
    assert data is view


def test_ack_checks() -> None:
    with pytest.raises(ValueError, match="announces"):
        Ack(4, b"abc")
    with pytest.raises(ValueError, match="64 bits"):
        Ack(1 << 63)
    assert Ack(-(1 << 63)).header() == b"A-9223372036854775808\n"


def test_long_message_is_cut_for_star() -> None:
    wire = ErrorReply(28, "vol1.tap: " + "no space left on device " * 10).to_bytes()
    status, text, end = wire.split(b"\n")
    assert status == b"E28"
    assert end == b""
    assert len(text) == MAX_MESSAGE
    assert text.endswith(b"...")
    assert len(text) + 1 <= 80  # star's librmt line limit


@given(st.text())
def test_clean_message_is_one_short_ascii_line(message: str) -> None:
    text = clean_message(message)
    assert 0 < len(text) <= MAX_MESSAGE
    assert text.isascii()
    assert text.isprintable()
    assert text == text.strip()


@given(st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1))
def test_status_line_fits_dump(value: int) -> None:
    """dump reads status lines of at most 29 bytes with the newline (dumprmt.c)."""
    assert len(Ack(value).header()) <= 29


def test_errors_carry_their_reply() -> None:
    assert RequestError(errno.EINVAL, "bad").reply() == ErrorReply(22, "bad")
    error = ProtocolError(errno.EIO, "premature end of input")
    assert error.reply().to_bytes() == b"E5\npremature end of input\n"
    assert str(error) == "[EIO] premature end of input"
