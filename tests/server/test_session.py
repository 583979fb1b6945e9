"""The session: requests to device calls, errors to E replies, V1 mapping, the W/R hot path."""

from __future__ import annotations

import errno

import pytest

from devices.interface import BytesLike, DriveStatus, GeneralStatus, MtOp
from devices.writebuffer import StagedWrites
from rmtd.protocol import (
    NEED_DATA,
    Ack,
    CloseRequest,
    CommandParser,
    ErrorReply,
    ExtendedIoctlRequest,
    ExtendedStatusRequest,
    IoctlRequest,
    OpenRequest,
    ReadRequest,
    RejectedRequest,
    SeekRequest,
    StatusRequest,
    VersionRequest,
    WriteRequest,
)
from rmtd.session import Session
from rmtd.status import pack_mtget

STATUS = DriveStatus(0x72, 0, 10240, 0x02, GeneralStatus.ONLINE | GeneralStatus.BOT, 0, 0, 0)


class MemoryTape(StagedWrites):
    """A device in memory that records the calls made on it (writes staged by the mixin)."""

    def __init__(self, name: str, flags: int) -> None:
        self.name, self.flags = name, flags
        self.records: list[bytes] = [b"first", b"second"]
        self.written: list[bytes] = []
        self.ops: list[tuple[int, int]] = []
        self.closed = False
        self.fail_with: BaseException | None = None

    def readinto(self, buffer: memoryview) -> int:
        if self.fail_with:
            raise self.fail_with
        record = self.records.pop(0) if self.records else b""
        if len(record) > len(buffer):
            raise OSError(errno.ENOMEM, "record too long")
        buffer[: len(record)] = record
        return len(record)

    def read_extent(self, count: int) -> None:
        return None

    def write(self, data: BytesLike) -> int:
        self.written.append(bytes(data))
        return len(data)

    def ioctl(self, op: int, count: int) -> int:
        if op == 99:
            raise OSError(errno.ENOSYS, "no such op")
        self.ops.append((op, count))
        return count

    def status(self) -> DriveStatus:
        return STATUS

    def tell(self) -> int:
        return 42

    def seek(self, offset: int, whence: int) -> int:
        self.ops.append((-1, offset * 10 + whence))
        return offset

    def close(self) -> None:
        self.closed = True


class Opener:
    def __init__(self) -> None:
        self.opened: list[MemoryTape] = []

    def __call__(self, name: str, flags: int) -> MemoryTape:
        if name == "missing":
            raise FileNotFoundError(errno.ENOENT, "missing: no such file")
        tape = MemoryTape(name, flags)
        self.opened.append(tape)
        return tape


@pytest.fixture
def opener() -> Opener:
    return Opener()


@pytest.fixture
def session(opener: Opener) -> Session:
    return Session(opener)


def no_input(view: memoryview) -> int:
    """A connection whose input has ended."""
    return 0


def opened(session: Session, opener: Opener) -> MemoryTape:
    assert session.handle(OpenRequest(b"t.tap", 0, "0 O_RDONLY")) == Ack(0)
    return opener.opened[-1]


def test_commands_before_open_get_ebadf(session: Session) -> None:
    for request in (
        CloseRequest(),
        IoctlRequest(6, 1),
        StatusRequest(),
        SeekRequest(0, 0),
        ExtendedStatusRequest("T"),
        ReadRequest(10),
    ):
        reply = session.handle(request)
        assert isinstance(reply, ErrorReply) and reply.errno == errno.EBADF, request
    parser = CommandParser()
    parser.receive_data(b"W3\nxyz")
    write = parser.next_event()
    assert isinstance(write, WriteRequest)
    refused = session.receive_write(write, parser, no_input)
    assert isinstance(refused, ErrorReply) and refused.errno == errno.EBADF
    assert parser.next_event() is NEED_DATA  # the payload was dropped, nothing left


def test_open_errors_become_e_replies(session: Session) -> None:
    assert session.handle(OpenRequest(b"missing", 0, "0")) == ErrorReply(
        errno.ENOENT, "missing: no such file"
    )


def test_open_closes_the_previous_device(session: Session, opener: Opener) -> None:
    first = opened(session, opener)
    second = opened(session, opener)
    assert first.closed and not second.closed
    assert session.handle(CloseRequest()) == Ack(0)
    assert second.closed
    assert isinstance(session.handle(CloseRequest()), ErrorReply)  # nothing open any more


def test_read_and_write_hot_path(session: Session, opener: Opener) -> None:
    tape = opened(session, opener)
    reply = session.read(100)
    assert isinstance(reply, Ack) and reply.value == 5 and bytes(reply.data or b"") == b"first"
    short = session.read(3)
    assert isinstance(short, ErrorReply) and short.errno == errno.ENOMEM
    parser = CommandParser()
    parser.receive_data(b"W4\ndata")
    write = parser.next_event()
    assert isinstance(write, WriteRequest)
    assert session.receive_write(write, parser, no_input) == Ack(4)
    assert tape.written == [b"data"]


def test_ioctl_v0_passes_linux_ops_and_v1_maps_them(session: Session, opener: Opener) -> None:
    tape = opened(session, opener)
    assert session.handle(IoctlRequest(5, 2)) == Ack(2)  # V0: Linux MTWEOF
    assert session.handle(IoctlRequest(-1, 0)) == Ack(1)  # the version probe
    assert session.handle(IoctlRequest(5, 1)) == Ack(1)  # V1: 5 is MTREW
    assert session.handle(ExtendedIoctlRequest(4, 1)) == Ack(1)  # i4: MTEOM
    assert tape.ops == [(MtOp.MTWEOF, 2), (MtOp.MTREW, 1), (MtOp.MTEOM, 1)]
    bad = session.handle(IoctlRequest(11, 1))
    assert isinstance(bad, ErrorReply) and bad.errno == errno.EINVAL
    assert isinstance(session.handle(ExtendedIoctlRequest(0, 1)), ErrorReply)


def test_unsupported_op_is_enosys_and_tell_is_mttell(session: Session, opener: Opener) -> None:
    opened(session, opener)
    assert session.handle(IoctlRequest(99, 1)) == ErrorReply(errno.ENOSYS, "no such op")
    assert session.handle(IoctlRequest(MtOp.MTTELL, 1)) == Ack(42)


def test_status_replies(session: Session, opener: Opener) -> None:
    opened(session, opener)
    assert session.handle(StatusRequest()) == Ack(48, pack_mtget(STATUS))
    assert session.handle(ExtendedStatusRequest("D")) == Ack(STATUS.dsreg)
    assert session.handle(ExtendedStatusRequest("f")) == Ack(int(STATUS.gstat))
    assert session.handle(ExtendedStatusRequest("b")) == Ack(0)
    bad = session.handle(ExtendedStatusRequest("x"))
    assert isinstance(bad, ErrorReply) and bad.errno == errno.EINVAL


def test_seek_order_and_versions(session: Session, opener: Opener) -> None:
    tape = opened(session, opener)
    assert session.handle(SeekRequest(4096, 0)) == Ack(4096)  # offset first (BSD, tar 1.34)
    assert tape.ops[-1] == (-1, 40960)
    assert session.handle(VersionRequest("V")) == Ack(2)
    assert session.handle(VersionRequest("v")) == Ack(1)


def test_rejected_requests_and_internal_errors(session: Session, opener: Opener) -> None:
    assert session.handle(RejectedRequest("W", errno.ENOMEM, "too big")) == ErrorReply(
        errno.ENOMEM, "too big"
    )
    tape = opened(session, opener)
    tape.fail_with = ZeroDivisionError("a bug")
    assert session.read(10) == ErrorReply(errno.EIO, "internal error")


def test_close_device_at_end_of_session(session: Session, opener: Opener) -> None:
    tape = opened(session, opener)
    session.close_device()
    assert tape.closed
