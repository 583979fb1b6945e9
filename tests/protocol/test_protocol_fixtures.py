"""Byte fixtures <-> requests, each fed whole, byte by byte and pipelined with trailing bytes."""

from __future__ import annotations

import errno

import pytest

from rmtd.protocol import (
    CLOSED,
    NEED_DATA,
    CloseRequest,
    CommandParser,
    ExtendedIoctlRequest,
    ExtendedStatusRequest,
    IoctlRequest,
    OpenRequest,
    ProtocolError,
    ReadRequest,
    RejectedRequest,
    SeekRequest,
    StatusRequest,
    VersionRequest,
    WriteRequest,
)

from .protocol_helpers import Fatal, Item, Payload, bytewise, run

INT64_MAX = (1 << 63) - 1

# (bytes on the wire, the items a transport sees), by command.
VALID: list[tuple[bytes, list[Item]]] = [
    # O: the flags forms of every client family
    (b"O/dev/nst0\n0 O_RDONLY\n", [OpenRequest(b"/dev/nst0", 0, "0 O_RDONLY")]),
    (b"Ot.tar\n65 O_WRONLY|O_CREAT\n", [OpenRequest(b"t.tar", 65, "65 O_WRONLY|O_CREAT")]),
    (b"Ot\n66 O_RDWR|O_CREAT\n", [OpenRequest(b"t", 66, "66 O_RDWR|O_CREAT")]),
    (
        b"Oc\n577 O_WRONLY|O_CREAT|O_TRUNC\n",
        [OpenRequest(b"c", 577, "577 O_WRONLY|O_CREAT|O_TRUNC")],
    ),
    (b"Od\n1 O_WRONLY|O_CREAT|O_TRUNC\n", [OpenRequest(b"d", 577, "1 O_WRONLY|O_CREAT|O_TRUNC")]),
    (b"Os\n2 O_RDWR|O_CREAT\n", [OpenRequest(b"s", 66, "2 O_RDWR|O_CREAT")]),
    (b"Ob\n1\n", [OpenRequest(b"b", 1, "1")]),
    (b"On\n66\n", [OpenRequest(b"n", 2, "66")]),  # numeric: access mode only (as dump and Schily)
    (b"O\n0\n", [OpenRequest(b"", 0, "0")]),
    (b"O/a b/\xe9t\xe9\n0\n", [OpenRequest(b"/a b/\xe9t\xe9", 0, "0")]),
    # C
    (b"C\n", [CloseRequest()]),
    (b"C/dev/whatever\n", [CloseRequest(b"/dev/whatever")]),
    # L: two raw numbers, order decided later
    (b"L0\n1\n", [SeekRequest(0, 1)]),
    (b"L30720\n0\n", [SeekRequest(30720, 0)]),
    (b"L1\n81920\n", [SeekRequest(1, 81920)]),
    (b"L-10240\n1\n", [SeekRequest(-10240, 1)]),
    (b"L 5 \n\t0\n", [SeekRequest(5, 0)]),
    (b"L0\n10\n", [SeekRequest(0, 10)]),
    (b"LSEEK_CUR\n0\n", [SeekRequest(1, 0, symbolic_first=True)]),
    (b"LEND\n-1\n", [SeekRequest(2, -1, symbolic_first=True)]),
    (b"L9223372036854775807\n0\n", [SeekRequest(INT64_MAX, 0)]),
    # W: the payload follows the count line at once, newlines and all
    (b"W5\nhello", [WriteRequest(5), Payload(b"hello")]),
    (b"W3\n\n\n\n", [WriteRequest(3), Payload(b"\n\n\n")]),
    (b"W4\nW1\nx", [WriteRequest(4), Payload(b"W1\nx")]),
    (b"W0\n", [WriteRequest(0), Payload(b"")]),
    (b"W\n", [WriteRequest(0), Payload(b"")]),  # empty count: 0 everywhere
    # R
    (b"R10240\n", [ReadRequest(10240)]),
    (b"R\n", [ReadRequest(0)]),
    (b"R 5\n", [ReadRequest(5)]),
    (b"R+5\r\n", [ReadRequest(5)]),
    # I and i
    (b"I6\n1\n", [IoctlRequest(6, 1)]),
    (b"I-1\n0\n", [IoctlRequest(-1, 0)]),
    (b"I1\n-1\n", [IoctlRequest(1, -1)]),
    (b"I24\n268437504\n", [IoctlRequest(24, 268437504)]),
    (b"i4\n1\n", [ExtendedIoctlRequest(4, 1)]),
    # S: no newline; a newline that follows is skipped in command position
    (b"S", [StatusRequest()]),
    (b"S\n", [StatusRequest()]),
    (b"\n\r \tS", [StatusRequest()]),
    # s + one byte
    (b"sT", [ExtendedStatusRequest("T")]),
    (b"sb", [ExtendedStatusRequest("b")]),
    (b"s\n", [ExtendedStatusRequest("\n")]),
    # V and v
    (b"V\n", [VersionRequest("V")]),
    (b"Vwhatever\n", [VersionRequest("V", b"whatever")]),
    (b"v\n", [VersionRequest("v")]),
]

# Well framed, bad arguments: a RejectedRequest, and the stream stays in sync.
REJECTED: list[tuple[bytes, str, int]] = [
    (b"Rabc\n", "R", errno.EINVAL),
    (b"R-1\n", "R", errno.EINVAL),
    (b"R5x\n", "R", errno.EINVAL),
    (b"R0x10\n", "R", errno.EINVAL),
    (b"R99999999\n", "R", errno.ENOMEM),
    (b"Wabc\n", "W", errno.EINVAL),  # not a number: no payload follows (as atoi servers)
    (b"W-1\n", "W", errno.EINVAL),
    (b"L10\nabc\n", "L", errno.EINVAL),  # both lines consumed, unlike GNU rmt
    (b"Labc\n1\n", "L", errno.EINVAL),
    (b"L0\nSET\n", "L", errno.EINVAL),
    (b"L99999999999999999999\n0\n", "L", errno.EINVAL),
    (b"Iabc\n1\n", "I", errno.EINVAL),
    (b"I1\n4294967296\n", "I", errno.EINVAL),
    (b"I\n\n", "I", errno.EINVAL),
    (b"i2\n1.5\n", "i", errno.EINVAL),
    (b"Ot\n-1\n", "O", errno.EINVAL),
    (b"Ot\n99999999999\n", "O", errno.EINVAL),
    (b"O/a\x00b\n0\n", "O", errno.EINVAL),
]

# Framing errors: one ProtocolError, then the connection is over (as GNU rmt.c).
FATAL: list[tuple[bytes, int]] = [
    (b"x", errno.EINVAL),
    (b"F", errno.EINVAL),
    (b"\x00", errno.EINVAL),
    (b"R1\nQ", errno.EINVAL),
    (b"W99999999999\n", errno.ENOMEM),
    (b"R10", errno.EIO),  # end of input inside a request
    (b"W5\nhel", errno.EIO),
    (b"s", errno.EIO),
    (b"O/dev/nst0\n", errno.EIO),
]

TRAILER = b"R1\n"


def feeds(data: bytes) -> dict[str, list[bytes]]:
    return {"whole": [data], "bytewise": bytewise(data)}


def ids(cases: list[tuple[bytes, list[Item]]]) -> list[str]:
    return [repr(data)[:40] for data, _ in cases]


@pytest.mark.parametrize("mode", ["whole", "bytewise"])
@pytest.mark.parametrize(("data", "expected"), VALID, ids=ids(VALID))
def test_valid(data: bytes, expected: list[Item], mode: str) -> None:
    assert run(CommandParser(), feeds(data)[mode]) == [*expected, CLOSED]


@pytest.mark.parametrize("mode", ["whole", "bytewise"])
@pytest.mark.parametrize(("data", "expected"), VALID, ids=ids(VALID))
def test_valid_pipelined(data: bytes, expected: list[Item], mode: str) -> None:
    stream = data + TRAILER + data
    assert run(CommandParser(), feeds(stream)[mode]) == [
        *expected,
        ReadRequest(1),
        *expected,
        CLOSED,
    ]


@pytest.mark.parametrize("mode", ["whole", "bytewise"])
@pytest.mark.parametrize(("data", "letter", "code"), REJECTED, ids=[repr(c[0]) for c in REJECTED])
def test_rejected_keeps_sync(data: bytes, letter: str, code: int, mode: str) -> None:
    items = run(CommandParser(), feeds(data + TRAILER)[mode])
    assert len(items) == 3
    rejected = items[0]
    assert isinstance(rejected, RejectedRequest)
    assert (rejected.command, rejected.errno) == (letter, code)
    assert rejected.reply().to_bytes().startswith(b"E%d\n" % code)
    assert items[1:] == [ReadRequest(1), CLOSED]


@pytest.mark.parametrize("mode", ["whole", "bytewise"])
@pytest.mark.parametrize(("data", "code"), FATAL, ids=[repr(c[0]) for c in FATAL])
def test_fatal(data: bytes, code: int, mode: str) -> None:
    items = run(CommandParser(), feeds(data)[mode])
    assert isinstance(items[-1], Fatal)
    assert items[-1].errno == code


def test_fatal_is_sticky() -> None:
    parser = CommandParser()
    parser.receive_data(b"xR1\n")
    with pytest.raises(ProtocolError) as first:
        parser.next_event()
    assert first.value.reply().to_bytes() == b"E22\nGarbage command 'x'\n"
    parser.receive_data(b"R1\n")  # ignored from now on
    with pytest.raises(ProtocolError) as again:
        parser.next_event()
    assert again.value is first.value


def test_status_needs_no_newline() -> None:
    """dump, star and GNU <= 1.35 send a bare S and wait for the reply."""
    parser = CommandParser()
    parser.receive_data(b"S")
    assert parser.next_event() == StatusRequest()
    assert parser.next_event() is NEED_DATA
    parser.receive_data(b"sE")
    assert parser.next_event() == ExtendedStatusRequest("E")
    assert parser.next_event() is NEED_DATA


def test_s_then_next_command() -> None:
    assert run(CommandParser(), [b"SR1\n"]) == [StatusRequest(), ReadRequest(1), CLOSED]


def test_clean_close_between_requests() -> None:
    assert run(CommandParser(), [b"C\n\n"]) == [CloseRequest(), CLOSED]
    assert run(CommandParser(), []) == [CLOSED]


def test_data_after_end_of_input_is_a_bug() -> None:
    parser = CommandParser()
    parser.receive_data(b"")
    parser.receive_data(b"")
    with pytest.raises(RuntimeError):
        parser.receive_data(b"R1\n")


def test_open_request_device_name() -> None:
    request = OpenRequest(b"/tapes/\xff.tap", 0, "0")
    assert request.device_name == "/tapes/\udcff.tap"
    assert request.device_name.encode("utf-8", "surrogateescape") == request.device


def test_request_helpers() -> None:
    assert IoctlRequest(-1, 0).is_version_probe
    assert not IoctlRequest(6, 1).is_version_probe
    assert VersionRequest("V").version == 2
    assert VersionRequest("v").version == 1
    assert SeekRequest(0, 1).resolve().offset == 0
