"""The W payload API and the documented transport loop (get_buffer / readinto / writev)."""

from __future__ import annotations

import errno
import io

import pytest

from rmtd.protocol import (
    CLOSED,
    NEED_DATA,
    Ack,
    CommandParser,
    Event,
    ProtocolError,
    ReadRequest,
    Reply,
    StatusRequest,
    WriteRequest,
)


class Trickle(io.RawIOBase):
    """A pipe that returns at most `step` bytes per read, like a socket under load."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = memoryview(data)
        self._step = step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        size = min(len(buffer), self._step, len(self._data))
        buffer[:size] = self._data[:size]
        self._data = self._data[size:]
        return size


def serve(stream: Trickle, parser: CommandParser) -> tuple[list[Event], list[bytes], int]:
    """The transport loop of the parser's docstring; returns events, records, direct bytes."""
    record = bytearray(parser.config.max_record)
    events: list[Event] = []
    written: list[bytes] = []
    direct = 0
    while True:
        event = parser.next_event()
        if event is NEED_DATA:
            n = stream.readinto(parser.get_buffer())
            parser.buffer_updated(n)
            if n == 0:
                parser.receive_data(b"")
            continue
        if event is CLOSED:
            return events, written, direct
        events.append(event)
        if isinstance(event, WriteRequest):
            view = memoryview(record)[: event.count]
            got = parser.read_payload_into(view)
            while got < event.count:
                n = stream.readinto(view[got:])
                if n == 0:
                    parser.receive_data(b"")
                    break
                parser.payload_received(n)
                direct += n
                got += n
            written.append(bytes(view[:got]))


@pytest.mark.parametrize("step", [1, 7, 4096, 1 << 20])
def test_transport_loop(step: int) -> None:
    records = [bytes([i]) * size for i, size in enumerate([10240, 1, 0, 512, 70000])]
    wire = b"".join(b"W%d\n" % len(r) + r + b"S" for r in records) + b"R5\n"
    parser = CommandParser(max_record=1 << 17, chunk_size=4096)
    events, written, direct = serve(Trickle(wire, step), parser)
    assert written == records
    assert events[-1] == ReadRequest(5)
    assert events.count(StatusRequest()) == len(records)
    if step == 4096:
        assert direct > 60000  # most of the big record bypassed the parser's buffer


def test_premature_end_in_payload() -> None:
    parser = CommandParser()
    with pytest.raises(ProtocolError) as caught:
        serve(Trickle(b"W10\nabc", 100), parser)
    assert caught.value.errno == errno.EIO


def test_payload_must_be_taken_before_the_next_event() -> None:
    parser = CommandParser()
    parser.receive_data(b"W3\nabcR1\n")
    assert parser.next_event() == WriteRequest(3)
    assert parser.payload_remaining == 3
    with pytest.raises(RuntimeError):
        parser.next_event()
    out = bytearray(2)
    assert parser.read_payload_into(out) == 2
    assert out == b"ab"
    assert parser.read_payload_into(out) == 1
    assert out[:1] == b"c"
    assert parser.read_payload_into(out) == 0  # never takes the next command's bytes
    assert parser.next_event() == ReadRequest(1)


def test_payload_received_accounting() -> None:
    parser = CommandParser()
    parser.receive_data(b"W4\nab")
    assert parser.next_event() == WriteRequest(4)
    with pytest.raises(RuntimeError):
        parser.payload_received(2)  # "ab" is still buffered: it comes first
    assert parser.read_payload_into(bytearray(4)) == 2
    with pytest.raises(ValueError):
        parser.payload_received(3)
    parser.payload_received(2)
    assert parser.payload_remaining == 0
    assert parser.next_event() is NEED_DATA


def test_discard_payload() -> None:
    """A session that refuses a W without reading it lets the parser drop the bytes."""
    parser = CommandParser()
    parser.receive_data(b"W6\nab")
    assert parser.next_event() == WriteRequest(6)
    parser.discard_payload()
    assert parser.payload_remaining == 0
    assert parser.next_event() is NEED_DATA
    parser.receive_data(b"cdefR2\n")
    assert parser.next_event() == ReadRequest(2)


def test_get_buffer_contract() -> None:
    parser = CommandParser(chunk_size=16)
    view = parser.get_buffer()
    assert len(view) >= 16
    with pytest.raises(RuntimeError):
        parser.next_event()
    with pytest.raises(RuntimeError):
        parser.receive_data(b"x")
    view[:3] = b"R1\n"
    parser.buffer_updated(3)
    with pytest.raises(RuntimeError):
        parser.buffer_updated(0)
    assert parser.next_event() == ReadRequest(1)
    big = parser.get_buffer(100000)
    assert len(big) >= 100000
    with pytest.raises(ValueError):
        parser.buffer_updated(len(big) + 1)
    parser.buffer_updated(0)
    assert parser.buffered == 0


def test_stale_view_does_not_block_growth() -> None:
    """The buffer is replaced, never resized in place, so old exports are harmless."""
    parser = CommandParser(chunk_size=4)
    stale = parser.get_buffer()
    stale[:2] = b"R1"
    parser.buffer_updated(2)
    parser.receive_data(b"000\n" + b"S" * 100)  # must grow while `stale` is alive
    stale[:2] = b"xx"  # writes into the old array, which the parser no longer uses
    assert parser.next_event() == ReadRequest(1000)
    assert parser.next_event() == StatusRequest()


def test_receive_data_accepts_any_buffer() -> None:
    parser = CommandParser()
    parser.receive_data(memoryview(b"R12\n"))
    parser.receive_data(bytearray(b"R3\n"))
    parser.receive_data(memoryview(b"\x00\x00R4\n\n").cast("H")[1:])
    assert [parser.next_event() for _ in range(3)] == [
        ReadRequest(12),
        ReadRequest(3),
        ReadRequest(4),
    ]


def reply_bytes(reply: Reply) -> bytes:
    return b"".join(bytes(chunk) for chunk in reply.chunks())


def test_read_reply_is_zero_copy_ready() -> None:
    record = bytearray(b"data" * 10)
    reply = Ack(7, memoryview(record)[:7])
    assert reply_bytes(reply) == b"A7\ndatadat"
