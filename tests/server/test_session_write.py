"""`Session.receive_write`: the W sequence over an in-memory connection.

The connection is a :class:`Source` that hands out its bytes at most ``chunk`` at a time, as a
pipe may; the parser holds whatever arrived with the ``W`` line. Every test checks that the
stream stays in step with the client: the request after the ``W`` is parsed correctly.
"""

from __future__ import annotations

import errno

import pytest

from devices.interface import BytesLike, DriveStatus
from devices.writebuffer import StagedWrites
from rmtd.protocol import (
    CLOSED,
    NEED_DATA,
    Ack,
    CloseRequest,
    CommandParser,
    ErrorReply,
    Event,
    ProtocolError,
    Signal,
    WriteRequest,
)
from rmtd.session import Session


class Source:
    """A connection's input: ``data`` handed out at most ``chunk`` bytes per read."""

    def __init__(self, data: bytes, chunk: int) -> None:
        self.data = data
        self.chunk = chunk
        self.views: list[memoryview] = []  # every view read into, to check where data went

    def __call__(self, view: memoryview) -> int:
        self.views.append(view)
        n = min(self.chunk, len(view), len(self.data))
        view[:n] = self.data[:n]
        self.data = self.data[n:]
        return n


class LendingTape:
    """A device with a zero-copy write path: it lends its own record buffer."""

    def __init__(self, refuse: OSError | MemoryError | None = None) -> None:
        self.record = bytearray(64)
        self.written: list[bytes] = []
        self.refuse = refuse
        self.commit_error: OSError | None = None
        self.lent: list[int] = []

    def readinto(self, buffer: memoryview) -> int:
        return 0

    def read_extent(self, count: int) -> None:
        return None

    def write(self, data: BytesLike) -> int:
        self.written.append(bytes(data))
        return len(data)

    def write_buffer(self, count: int) -> memoryview:
        if self.refuse is not None:
            raise self.refuse
        self.lent.append(count)
        return memoryview(self.record)[:count]

    def commit_write(self, count: int) -> int:
        if self.commit_error is not None:
            raise self.commit_error
        self.written.append(bytes(self.record[:count]))
        return count

    def ioctl(self, op: int, count: int) -> int:
        return count

    def status(self) -> DriveStatus:
        raise OSError(errno.ENOTTY, "no status")

    def tell(self) -> int:
        return 0

    def seek(self, offset: int, whence: int) -> int:
        return offset

    def close(self) -> None:
        pass


class ReadOnlyFile(StagedWrites):
    """A device with no zero-copy path that refuses every write in ``check_write``."""

    def readinto(self, buffer: memoryview) -> int:
        return 0

    def read_extent(self, count: int) -> None:
        return None

    def write(self, data: BytesLike) -> int:
        raise AssertionError("a refused write must not reach write()")

    def check_write(self, count: int) -> None:
        raise OSError(errno.EBADF, "ro: not opened for writing")

    def ioctl(self, op: int, count: int) -> int:
        return count

    def status(self) -> DriveStatus:
        raise OSError(errno.ENOTTY, "no status")

    def tell(self) -> int:
        return 0

    def seek(self, offset: int, whence: int) -> int:
        return offset

    def close(self) -> None:
        pass


def session_with(device: LendingTape | ReadOnlyFile) -> Session:
    """A session with ``device`` open on it."""
    session = Session(lambda name, flags: device)
    assert session.handle(next_request(b"Ot\n0\n")) == Ack(0)
    return session


def next_request(data: bytes) -> Event:
    parser = CommandParser()
    parser.receive_data(data)
    event = parser.next_event()
    assert not isinstance(event, Signal)
    return event


def next_event(parser: CommandParser, source: Source) -> Event | Signal:
    """The parser's next event, reading more from ``source`` as a transport would."""
    while True:
        event = parser.next_event()
        if event is not NEED_DATA:
            return event
        n = source(parser.get_buffer())
        parser.buffer_updated(n)
        if n == 0:
            parser.receive_data(b"")


def start_write(head: bytes) -> tuple[CommandParser, WriteRequest]:
    """A parser that has received ``head`` (a W line and maybe some payload) and its W."""
    parser = CommandParser()
    parser.receive_data(head)
    event = parser.next_event()
    assert isinstance(event, WriteRequest)
    return parser, event


def test_payload_read_one_byte_at_a_time_straight_into_the_devices_buffer() -> None:
    tape = LendingTape()
    session = session_with(tape)
    parser, write = start_write(b"W6\nab")  # two payload bytes came with the line
    source = Source(b"cdefC\n", chunk=1)
    assert session.receive_write(write, parser, source) == Ack(6)
    assert tape.written == [b"abcdef"]
    assert len(source.views) == 4  # one read per byte, never past the payload
    assert all(view.obj is tape.record for view in source.views)  # no intermediate copy
    assert isinstance(next_event(parser, source), CloseRequest)  # still in step


def test_payload_entirely_buffered_by_the_parser_needs_no_read() -> None:
    tape = LendingTape()
    session = session_with(tape)
    parser, write = start_write(b"W3\nxyzC\n")
    source = Source(b"", chunk=1)
    assert session.receive_write(write, parser, source) == Ack(3)
    assert tape.written == [b"xyz"] and source.views == []
    assert isinstance(parser.next_event(), CloseRequest)


def test_end_of_input_inside_the_payload_writes_nothing() -> None:
    tape = LendingTape()
    session = session_with(tape)
    parser, write = start_write(b"W6\na")
    source = Source(b"bc", chunk=1)
    assert session.receive_write(write, parser, source) is None
    assert tape.written == []
    with pytest.raises(ProtocolError) as caught:
        parser.next_event()
    assert caught.value.errno == errno.EIO


def test_refused_write_allocates_nothing_and_its_payload_is_discarded() -> None:
    device = ReadOnlyFile()
    session = session_with(device)
    parser, write = start_write(b"W5\nab")
    source = Source(b"cdeC\n", chunk=2)
    reply = session.receive_write(write, parser, source)
    assert reply == ErrorReply(errno.EBADF, "ro: not opened for writing")
    assert device._staged is None  # no scratch buffer was made for the refused record
    assert source.views == []  # the session read nothing itself: the parser skips the rest
    assert isinstance(next_event(parser, source), CloseRequest)


def test_device_refusal_comes_before_any_read() -> None:
    tape = LendingTape(refuse=OSError(errno.EACCES, "t: volume is write-protected"))
    session = session_with(tape)
    parser, write = start_write(b"W4\n")
    source = Source(b"dataC\n", chunk=3)
    reply = session.receive_write(write, parser, source)
    assert reply == ErrorReply(errno.EACCES, "t: volume is write-protected")
    assert isinstance(next_event(parser, source), CloseRequest)
    assert tape.written == []


def test_no_memory_for_the_record_is_enomem() -> None:
    tape = LendingTape(refuse=MemoryError())
    session = session_with(tape)
    parser, write = start_write(b"W4\n")
    source = Source(b"dataC\n", chunk=64)
    reply = session.receive_write(write, parser, source)
    assert isinstance(reply, ErrorReply) and reply.errno == errno.ENOMEM
    assert isinstance(next_event(parser, source), CloseRequest)


def test_failed_commit_still_consumes_the_payload() -> None:
    tape = LendingTape()
    tape.commit_error = OSError(errno.ENOSPC, "t: physical end of medium")
    session = session_with(tape)
    parser, write = start_write(b"W4\n")
    source = Source(b"dataC\n", chunk=64)
    reply = session.receive_write(write, parser, source)
    assert reply == ErrorReply(errno.ENOSPC, "t: physical end of medium")
    assert isinstance(next_event(parser, source), CloseRequest)


def test_write_with_nothing_open_is_ebadf_and_stays_in_step() -> None:
    session = Session(lambda name, flags: LendingTape())
    parser, write = start_write(b"W2\n")
    source = Source(b"hiC\n", chunk=1)
    reply = session.receive_write(write, parser, source)
    assert reply == ErrorReply(errno.EBADF, "no device is open")
    assert isinstance(next_event(parser, source), CloseRequest)
    assert next_event(parser, source) is CLOSED


def test_empty_write_goes_through_the_device() -> None:
    tape = LendingTape()
    session = session_with(tape)
    parser, write = start_write(b"W0\n")
    assert session.receive_write(write, parser, Source(b"", chunk=1)) == Ack(0)
    assert tape.lent == [0] and tape.written == [b""]


def test_staged_writes_reuse_one_scratch_buffer() -> None:
    class Recorder(ReadOnlyFile):
        def __init__(self) -> None:
            self.written: list[bytes] = []

        def check_write(self, count: int) -> None:
            pass

        def write(self, data: BytesLike) -> int:
            self.written.append(bytes(data))
            return len(data)

    device = Recorder()
    session = session_with(device)
    for payload in (b"longer", b"abc"):
        parser, write = start_write(b"W%d\n" % len(payload) + payload)
        assert session.receive_write(write, parser, Source(b"", 1)) == Ack(len(payload))
    assert device.written == [b"longer", b"abc"]
    first = device._staged
    device.write_buffer(2)
    assert device._staged is first  # a smaller record reuses the buffer
    with pytest.raises(ValueError):
        device.commit_write(100)
