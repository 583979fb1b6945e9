"""Helpers shared by the protocol tests: a client-side encoder and a parser driver.

The driver plays a transport: it feeds chunks, answers NEED_DATA with the next chunk
(then end of input), and takes every W payload through the zero-copy API.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rmtd.protocol import (
    CLOSED,
    NEED_DATA,
    CloseRequest,
    CommandParser,
    Event,
    ExtendedIoctlRequest,
    ExtendedStatusRequest,
    IoctlRequest,
    OpenRequest,
    ProtocolError,
    ReadRequest,
    Request,
    SeekRequest,
    Signal,
    StatusRequest,
    VersionRequest,
    WriteRequest,
)

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Payload:
    """The W payload the driver took after a WriteRequest."""

    data: bytes


@dataclass(frozen=True)
class Fatal:
    """A ProtocolError, by errno (the parser's last word)."""

    errno: int


Item = Event | Signal | Payload | Fatal


def encode(request: Request, payload: bytes = b"") -> bytes:
    """Encode a request as a client sends it (S without a newline)."""
    match request:
        case OpenRequest(device=device, flags_text=flags_text):
            return b"O" + device + b"\n" + flags_text.encode() + b"\n"
        case CloseRequest(text=text):
            return b"C" + text + b"\n"
        case SeekRequest(first=first, second=second):
            return b"L%d\n%d\n" % (first, second)
        case WriteRequest(count=count):
            assert len(payload) == count
            return b"W%d\n" % count + payload
        case ReadRequest(count=count):
            return b"R%d\n" % count
        case IoctlRequest(op=op, count=count):
            return b"I%d\n%d\n" % (op, count)
        case ExtendedIoctlRequest(op=op, count=count):
            return b"i%d\n%d\n" % (op, count)
        case StatusRequest():
            return b"S"
        case ExtendedStatusRequest(field=field):
            return b"s" + field.encode("latin-1")
        case VersionRequest(command=command, text=text):
            return command.encode() + text + b"\n"
    raise AssertionError(request)


def bytewise(data: bytes) -> list[bytes]:
    """Split data into one-byte chunks."""
    return [data[i : i + 1] for i in range(len(data))]


def run(parser: CommandParser, chunks: Iterable[bytes], *, eof: bool = True) -> list[Item]:
    """Feed `chunks`, collect every event until CLOSED, a ProtocolError or (no `eof`) NEED_DATA."""
    items: list[Item] = []
    feed: Iterator[bytes] = iter(chunks)
    ended = False

    def more() -> bool:
        nonlocal ended
        chunk = next(feed, None)
        if chunk is not None:
            parser.receive_data(chunk)
            return True
        if eof and not ended:
            ended = True
            parser.receive_data(b"")
            return True
        return False

    while True:
        try:
            event = parser.next_event()
        except ProtocolError as exc:
            items.append(Fatal(exc.errno))
            return items
        if event is NEED_DATA:
            assert not ended, "NEED_DATA after the end of input"
            if not more():
                return items
            continue
        items.append(event)
        if event is CLOSED:
            return items
        if isinstance(event, WriteRequest):
            record = bytearray(event.count)
            got = parser.read_payload_into(record)
            while got < event.count and not ended:
                if not more():
                    return items
                got += parser.read_payload_into(memoryview(record)[got:])
            if got == event.count:
                items.append(Payload(bytes(record)))


_ABBREVIATED = re.compile(rb"\.\.\.<\+(\d+) bytes>|<EOF>|<server gone: BrokenPipe>")


def client_stream(name: str, filler: bytes = b"\xa5") -> bytes:
    """Rebuild the client-to-server bytes of a teeproxy transcript in data/.

    ``C>`` lines hold ``repr()`` text of each chunk; a chunk over 72 bytes shows its first
    40 bytes followed by ``...<+N bytes>``, restored here as N filler bytes.
    """
    out = bytearray()
    for line in (DATA / name).read_bytes().splitlines():
        if not line.startswith(b"C> "):
            continue
        pos = 3
        for match in _ABBREVIATED.finditer(line, pos):
            out += codecs.escape_decode(line[pos : match.start()])[0]
            if match.group(1) is not None:
                out += filler * int(match.group(1))
            pos = match.end()
        out += codecs.escape_decode(line[pos:])[0]
    return bytes(out)
