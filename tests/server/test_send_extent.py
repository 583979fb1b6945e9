"""``R`` served with sendfile: the right bytes over pipes and sockets, and an honest failure.

Once the status line ``A<n>`` is out, the client expects ``n`` bytes; a file that turns out
shorter cannot be answered with ``E`` any more, so the session ends (the client sees the
connection close mid-record, never bytes that were not in the file).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path

import pytest

from devices.interface import BytesLike, DriveStatus, FileExtent, MtOp, OpenOptions
from devices.state import VolumeInfo
from devices.vtape import create_tape_image, open_tape_image
from rmtd.compose import build_session, load_server_config
from rmtd.protocol import CommandParser
from rmtd.session import ZERO_COPY_FROM, Session
from rmtd.transports.stdio import serve

RECORDS = [bytes([n]) * (ZERO_COPY_FROM + 997 * n) for n in range(6)]


def serve_in_thread(session: Session, sock: socket.socket) -> tuple[threading.Thread, list[int]]:
    status: list[int] = []

    def run() -> None:
        status.append(serve(session, CommandParser(), sock.fileno(), sock.fileno()))
        sock.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, status


def read_exactly(sock: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


def read_line(sock: socket.socket) -> bytes:
    line = bytearray()
    while not line.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        line += chunk
    return bytes(line)


def test_records_read_through_a_socket_are_the_records_written(tmp_path: Path) -> None:
    path = str(tmp_path / "t.tap")
    create_tape_image(path, VolumeInfo())
    drive = open_tape_image(path, OpenOptions(write=True))
    for record in RECORDS:
        drive.write(record)
    drive.close()
    config, drives = load_server_config(None, {"root": str(tmp_path)})
    session, _ = build_session(config, drives, read_only=True)
    ours, theirs = socket.socketpair()
    thread, status = serve_in_thread(session, ours)
    try:
        theirs.sendall(b"Ot.tap\n0\nI6\n1\n")
        assert read_line(theirs) == b"A0\n" and read_line(theirs) == b"A1\n"
        for record in RECORDS:  # a count of one record: /STREAM (the default) then gathers none
            theirs.sendall(b"R%d\n" % len(record))
            assert read_line(theirs) == b"A%d\n" % len(record)
            assert read_exactly(theirs, len(record)) == record
        theirs.sendall(b"R65536\n")  # the closing filemark
        assert read_line(theirs) == b"A0\n"
        theirs.sendall(b"C\n")
        assert read_line(theirs) == b"A0\n"
    finally:
        theirs.close()
        thread.join(10)
        ours.close()
    assert status == [0]


class ShortFile:
    """A device whose extent promises more bytes than its file holds."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDONLY)

    def readinto(self, buffer: memoryview) -> int:
        buffer[:3] = b"abc"
        return 3

    def read_extent(self, count: int) -> FileExtent | None:
        assert count >= ZERO_COPY_FROM, "a small read is copied, never sent from the file"
        return FileExtent(self.fd, 0, count)

    def write(self, data: BytesLike) -> int:
        raise OSError(9, "read only")

    def write_buffer(self, count: int) -> memoryview:
        raise OSError(9, "read only")

    def commit_write(self, count: int) -> int:
        raise OSError(9, "read only")

    def ioctl(self, op: int, count: int) -> int:
        return 0 if op == MtOp.MTNOP else count

    def status(self) -> DriveStatus:
        raise OSError(25, "not a tape")

    def tell(self) -> int:
        return 0

    def seek(self, offset: int, whence: int) -> int:
        return 0

    def close(self) -> None:
        os.close(self.fd)


def test_a_file_shorter_than_its_extent_ends_the_session(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    short = tmp_path / "short"
    short.write_bytes(b"0123456789")
    session = Session(lambda name, flags: ShortFile(short))
    ours, theirs = socket.socketpair()
    with caplog.at_level(logging.ERROR):
        thread, status = serve_in_thread(session, ours)
        try:
            theirs.sendall(b"Ox\n0\nR100\nR%d\n" % ZERO_COPY_FROM)
            assert read_line(theirs) == b"A0\n"
            assert read_line(theirs) == b"A3\n" and read_exactly(theirs, 3) == b"abc"
            assert read_line(theirs) == b"A%d\n" % ZERO_COPY_FROM
            # then the end of the connection: nothing made up
            assert read_exactly(theirs, ZERO_COPY_FROM) == b"0123456789"
        finally:
            thread.join(10)
            theirs.close()
            ours.close()
    assert status == [1]
    assert f"the file ended {ZERO_COPY_FROM - 10} bytes before the record did" in caplog.text
