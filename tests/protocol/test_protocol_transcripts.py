"""Real clients' byte streams (tar, cpio, mt, dump, restore, star; in data/) parse as expected."""

from __future__ import annotations

import pytest

from rmtd.protocol import (
    CLOSED,
    CloseRequest,
    CommandParser,
    ExtendedStatusRequest,
    IoctlRequest,
    OpenRequest,
    ReadRequest,
    Request,
    SeekRequest,
    StatusRequest,
    WriteRequest,
    parse_open_flags,
)

from .protocol_helpers import Payload, bytewise, client_stream, run


def op(path: str, flags: str) -> OpenRequest:
    return OpenRequest(path.encode(), parse_open_flags(flags.encode()), flags)


ARCH = "/srv/tapes/arch/"
NST = "/srv/tapes/fake-nst0"
V1_PROBE = IoctlRequest(-1, 0)

TRANSCRIPTS: dict[str, list[Request]] = {
    "tar-create.log": [
        op(ARCH + "t.tar", "65 O_WRONLY|O_CREAT"),
        *[WriteRequest(10240)] * 4,
        CloseRequest(),
    ],
    "tar-append-dumprmt.log": [
        op(ARCH + "t3.tar", "66 O_RDWR|O_CREAT"),
        *[ReadRequest(10240)] * 4,
        IoctlRequest(4, 1),
        SeekRequest(0, 1),
        SeekRequest(30720, 0),
        WriteRequest(10240),
        CloseRequest(),
    ],
    "tar-append-gnurmt.log": [
        op(ARCH + "t2.tar", "66 O_RDWR|O_CREAT"),
        *[ReadRequest(10240)] * 4,
        IoctlRequest(4, 1),
        SeekRequest(0, 1),
        SeekRequest(0, 0),
        WriteRequest(10240),
        CloseRequest(),
    ],
    "tar-seek-rmt-dump.log": [
        op(ARCH + "big.tar", "0 O_RDONLY"),
        ReadRequest(10240),
        SeekRequest(81920, 1),
        ReadRequest(10240),
        ReadRequest(10240),
        CloseRequest(),
    ],
    "tar-verify-rmt-dump.log": [
        op(ARCH + "v.tar", "66 O_RDWR|O_CREAT"),
        *[WriteRequest(10240)] * 4,
        IoctlRequest(2, 1),
        SeekRequest(0, 0),
        *[ReadRequest(10240)] * 4,
        CloseRequest(),
    ],
    "cpio-out.log": [
        op(ARCH + "c.cpio", "577 O_WRONLY|O_CREAT|O_TRUNC"),
        *[WriteRequest(512)] * 61,
        CloseRequest(),
    ],
    "mt-rmt-dump-status.log": [op(NST, "0 O_RDONLY"), IoctlRequest(8, 1), StatusRequest()],
    "mt-rmt-dump-asf_3.log": [
        op(NST, "0 O_RDONLY"),
        IoctlRequest(6, 1),
        IoctlRequest(1, 3),
        CloseRequest(),
    ],
    "smt-status-rmt-dump.log": [
        op(NST, "0 O_RDONLY"),
        V1_PROBE,
        V1_PROBE,
        *[ExtendedStatusRequest(c) for c in "ETDRFBfb"],
    ],
    "star-create-rmt-star.log": [
        op(ARCH + "s-rmt-star.tar", "2 O_RDWR|O_CREAT"),
        V1_PROBE,
        *[WriteRequest(10240)] * 4,
        CloseRequest(),
    ],
    "rdump-rmt-dump.log": [
        op(ARCH + "fs-rmt-dump.dump", "1 O_WRONLY|O_CREAT|O_TRUNC"),
        *[WriteRequest(10240)] * 5,
        CloseRequest(),
        op(ARCH + "fs-rmt-dump.dump", "0 O_RDONLY"),  # dump reopens after C (tape.c, trewind)
        CloseRequest(),
    ],
    "rdump-rmt-tar.log": [
        op(ARCH + "fs-rmt-tar.dump", "1 O_WRONLY|O_CREAT|O_TRUNC"),
        *[WriteRequest(10240)] * 5,
        CloseRequest(),
        op(ARCH + "fs-rmt-tar.dump", "0 O_RDONLY"),
    ],
    "rrestore-x.log": [
        op(ARCH + "fs-rmt-dump.dump", "0 O_RDONLY"),
        ReadRequest(32768),
        ReadRequest(32768),
        CloseRequest(),
    ],
    "x.log": [op(NST, "2 O_RDWR"), V1_PROBE, V1_PROBE, IoctlRequest(13, 1)],
}


@pytest.mark.parametrize("bytewise_feed", [False, True])
@pytest.mark.parametrize("name", sorted(TRANSCRIPTS))
def test_transcript(name: str, bytewise_feed: bool) -> None:
    stream = client_stream(name)
    items = run(CommandParser(), bytewise(stream) if bytewise_feed else [stream])
    assert items[-1] is CLOSED
    requests = [item for item in items[:-1] if not isinstance(item, Payload)]
    assert requests == TRANSCRIPTS[name]
    payloads = [item for item in items if isinstance(item, Payload)]
    writes = [r for r in requests if isinstance(r, WriteRequest)]
    assert [len(p.data) for p in payloads] == [w.count for w in writes]


def test_transcript_payload_bytes_survive() -> None:
    stream = client_stream("tar-create.log")
    items = run(CommandParser(), [stream])
    first = items[2]
    assert isinstance(first, Payload)
    assert first.data.startswith(b"./\x00\x00")


def test_open_flags_of_the_transcripts() -> None:
    assert op("t", "65 O_WRONLY|O_CREAT").flags == 0o101
    assert op("t", "577 O_WRONLY|O_CREAT|O_TRUNC").flags == 0o1101
    assert op("t", "1 O_WRONLY|O_CREAT|O_TRUNC").flags == 0o1101  # dump: access mode + names
    assert op("t", "2 O_RDWR|O_CREAT").flags == 0o102  # star: never add O_TRUNC


@pytest.mark.parametrize(
    ("name", "seeks"),
    [
        # tar 1.34 (offset first): "tell" then absolute, resolved as BSD
        ("tar-append-dumprmt.log", [(0, 1), (30720, 0)]),
        ("tar-append-gnurmt.log", [(0, 1), (0, 0)]),
        ("tar-seek-rmt-dump.log", [(81920, 1)]),
        ("tar-verify-rmt-dump.log", [(0, 0)]),
    ],
)
def test_transcript_seeks_resolve_in_offset_first_order(
    name: str, seeks: list[tuple[int, int]]
) -> None:
    found = [r for r in TRANSCRIPTS[name] if isinstance(r, SeekRequest)]
    resolved = [r.resolve() for r in found]
    assert [(s.offset, s.whence) for s in resolved] == seeks
    assert {s.order for s in resolved} == {"offset-first"}
