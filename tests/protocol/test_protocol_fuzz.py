"""Hypothesis: any bytes yield only requests, NEED_DATA, CLOSED or ProtocolError; round trips."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from rmtd.protocol import (
    CLOSED,
    CloseRequest,
    CommandParser,
    ExtendedIoctlRequest,
    ExtendedStatusRequest,
    IoctlRequest,
    OpenRequest,
    ReadRequest,
    Request,
    SeekRequest,
    StatusRequest,
    VersionRequest,
    WriteRequest,
    parse_open_flags,
)

from .protocol_helpers import Fatal, Item, Payload, encode, run

# Pieces that reach deep parser states far more often than uniform bytes do.
TOKENS = [
    *(bytes([c]) for c in b"OCLWRIiSsVv"),
    *(bytes([c]) for c in b"\n\n\n 0123456789-+|\r\t\x00\xffTEx"),
    b"O_RDWR",
    b"CREAT",
    b"SEEK_CUR",
    b"W3\n",
    b"W40\n",
    b"I-1\n0\n",
    b"99999999999",
]
wire = st.one_of(
    st.binary(max_size=200), st.lists(st.sampled_from(TOKENS), max_size=60).map(b"".join)
)


def small_parser() -> CommandParser:
    return CommandParser(max_line=12, max_record=32, max_skip=64, chunk_size=8)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


@given(wire, st.lists(st.integers(min_value=0), max_size=20))
def test_any_bytes_only_yield_events_or_protocol_errors(data: bytes, cuts: list[int]) -> None:
    items = run(small_parser(), split(data, cuts))  # run() lets any other exception through
    assert items
    assert isinstance(items[-1], Fatal) or items[-1] is CLOSED
    for item in items[:-1]:
        assert not isinstance(item, Fatal)


@given(wire, st.lists(st.integers(min_value=0), max_size=20))
def test_chunking_never_changes_the_result(data: bytes, cuts: list[int]) -> None:
    assert run(small_parser(), split(data, cuts)) == run(small_parser(), [data])


no_newline = st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"").replace(b"\0", b""))
int32 = st.integers(min_value=-(1 << 31), max_value=(1 << 31) - 1)
int64 = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
FLAG_LINES = [
    "0 O_RDONLY",
    "65 O_WRONLY|O_CREAT",
    "66 O_RDWR|O_CREAT",
    "1 O_WRONLY|O_CREAT|O_TRUNC",
]


@st.composite
def requests(draw: st.DrawFn) -> tuple[Request, bytes]:
    kind = draw(st.sampled_from("OCLWRIiSsVv"))
    payload = b""
    request: Request
    if kind == "O":
        text = draw(st.sampled_from(FLAG_LINES))
        request = OpenRequest(draw(no_newline), parse_open_flags(text.encode()), text)
    elif kind == "C":
        request = CloseRequest(draw(no_newline))
    elif kind == "L":
        request = SeekRequest(draw(int64), draw(int64))
    elif kind == "W":
        payload = draw(st.binary(max_size=40))
        request = WriteRequest(len(payload))
    elif kind == "R":
        request = ReadRequest(draw(st.integers(min_value=0, max_value=1 << 20)))
    elif kind in "Ii":
        cls = IoctlRequest if kind == "I" else ExtendedIoctlRequest
        request = cls(draw(int32), draw(int32))
    elif kind == "S":
        request = StatusRequest()
    elif kind == "s":
        request = ExtendedStatusRequest(chr(draw(st.integers(min_value=0, max_value=255))))
    else:
        request = VersionRequest("V" if kind == "V" else "v", draw(no_newline))
    return request, payload


@given(st.lists(requests(), max_size=12), st.lists(st.integers(min_value=0), max_size=30))
def test_pipelined_round_trip(batch: list[tuple[Request, bytes]], cuts: list[int]) -> None:
    data = b"".join(encode(request, payload) for request, payload in batch)
    expected: list[Item] = []
    for request, payload in batch:
        expected.append(request)
        if isinstance(request, WriteRequest):
            expected.append(Payload(payload))
    items = run(CommandParser(max_record=1 << 20), split(data, cuts))
    assert items[:-1] == expected
