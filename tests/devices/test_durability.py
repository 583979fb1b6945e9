"""The ``sync`` setting syncs exactly where it says, and write-behind starts writeback.

The system calls are counted by wrapping ``os.fsync``/``os.fdatasync`` and the bound
``sync_file_range``: what matters is which reply waits for which sync, not the disk itself.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devices import durability
from devices.durability import WRITE_BEHIND_BYTES, SyncLevel, WriteBehind
from devices.interface import MtOp, OpenOptions
from devices.plainfile import PlainFile
from devices.state import VolumeInfo
from devices.vtape import create_tape_image, open_tape_image
from rmtd.compose import build_session, load_server_config
from rmtd.protocol import CommandParser, OpenRequest, WriteRequest


class Syncs:
    """Counts of the sync calls made on the files under test."""

    def __init__(self) -> None:
        self.fsync = 0
        self.fdatasync = 0
        self.ranges: list[tuple[int, int, int, int]] = []

    def counts(self) -> tuple[int, int]:
        return self.fsync, self.fdatasync


@pytest.fixture
def syncs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Syncs]:
    seen = Syncs()
    real_fsync, real_fdatasync = os.fsync, os.fdatasync

    def fsync(fd: int) -> None:
        seen.fsync += 1
        real_fsync(fd)

    def fdatasync(fd: int) -> None:
        seen.fdatasync += 1
        real_fdatasync(fd)

    def sync_file_range(fd: int, offset: int, nbytes: int, flags: int) -> int:
        seen.ranges.append((fd, offset, nbytes, flags))
        return 0

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "fdatasync", fdatasync)
    monkeypatch.setattr(durability, "_sync_file_range", sync_file_range)
    yield seen


def tape(tmp_path: Path, sync: SyncLevel) -> tuple[str, OpenOptions]:
    path = str(tmp_path / "d.tap")
    create_tape_image(path, VolumeInfo())
    return path, OpenOptions(write=True, sync=sync)


def test_close_level_syncs_only_at_close(tmp_path: Path, syncs: Syncs) -> None:
    path, options = tape(tmp_path, SyncLevel.CLOSE)
    drive = open_tape_image(path, options)
    for _ in range(3):
        drive.write(b"x" * 100)
    drive.ioctl(MtOp.MTWEOF, 1)
    assert syncs.fdatasync == 0
    before = syncs.fsync
    drive.close()
    assert syncs.fsync > before  # the image (and its side files) at close


def test_filemark_level_syncs_each_filemark_before_its_reply(tmp_path: Path, syncs: Syncs) -> None:
    path, options = tape(tmp_path, SyncLevel.FILEMARK)
    drive = open_tape_image(path, options)
    drive.write(b"x" * 100)
    drive.write(b"y" * 100)
    assert syncs.fdatasync == 0
    drive.ioctl(MtOp.MTWEOF, 2)
    assert syncs.fdatasync == 1  # one sync for the batch of marks
    drive.close()


def test_record_level_syncs_every_record(tmp_path: Path, syncs: Syncs) -> None:
    path, options = tape(tmp_path, SyncLevel.RECORD)
    drive = open_tape_image(path, options)
    for n in range(4):
        view = drive.write_buffer(10)
        view[:] = bytes([n]) * 10
        drive.commit_write(10)
    assert syncs.fdatasync == 4
    drive.write(b"z")
    assert syncs.fdatasync == 5
    drive.close()


def test_weof_zero_flushes_at_every_level(tmp_path: Path, syncs: Syncs) -> None:
    path, options = tape(tmp_path, SyncLevel.CLOSE)
    drive = open_tape_image(path, options)
    drive.write(b"x")
    assert drive.ioctl(MtOp.MTWEOF, 0) == 0
    assert syncs.fdatasync == 1
    drive.close()


def test_write_behind_starts_writeback_every_window(tmp_path: Path, syncs: Syncs) -> None:
    path, options = tape(tmp_path, SyncLevel.CLOSE)
    drive = open_tape_image(path, options)
    record = 64 << 10
    per_window = WRITE_BEHIND_BYTES // (record + 8) + 1
    for _ in range(per_window - 1):
        drive.write(b"r" * record)
    assert syncs.ranges == []
    drive.write(b"r" * record)
    assert len(syncs.ranges) == 1
    end = per_window * (record + 8)
    whole_pages = end - end % os.sysconf("SC_PAGE_SIZE")  # the page being appended to waits
    assert syncs.ranges[0][1:] == (0, whole_pages, 2)  # SYNC_FILE_RANGE_WRITE
    for _ in range(per_window):
        drive.write(b"r" * record)
    assert len(syncs.ranges) == 2
    assert syncs.ranges[1][1] == whole_pages  # the next request starts where this one ended
    drive.close()


def test_write_behind_stops_after_a_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def refusing(fd: int, offset: int, nbytes: int, flags: int) -> int:
        calls.append(fd)
        return -1

    monkeypatch.setattr(durability, "_sync_file_range", refusing)
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    try:
        behind = WriteBehind(fd)
        for _ in range(3):
            os.write(fd, bytes(WRITE_BEHIND_BYTES))
            behind.wrote(WRITE_BEHIND_BYTES)
    finally:
        os.close(fd)
    assert calls == [fd]  # tried once, then left to the sync at close


def test_no_descriptor_no_write_behind(syncs: Syncs) -> None:
    behind = WriteBehind(None)
    behind.wrote(10 * WRITE_BEHIND_BYTES)
    assert syncs.ranges == []


def test_a_plain_file_is_synced_at_close_when_written(tmp_path: Path, syncs: Syncs) -> None:
    path = str(tmp_path / "f.bin")
    written = PlainFile(path, os.O_WRONLY | os.O_CREAT)
    written.write(b"abc")
    assert syncs.counts() == (0, 0)
    written.close()
    assert syncs.counts() == (1, 0)
    read = PlainFile(path, os.O_RDONLY)
    read.close()
    assert syncs.counts() == (1, 0)


def test_a_plain_file_at_record_level_syncs_each_write(tmp_path: Path, syncs: Syncs) -> None:
    plain = PlainFile(str(tmp_path / "f.bin"), os.O_WRONLY | os.O_CREAT, sync=SyncLevel.RECORD)
    plain.write(b"a")
    plain.write(b"b")
    assert syncs.fdatasync == 2
    plain.close()


def test_a_failed_sync_at_close_is_reported_and_the_file_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = PlainFile(str(tmp_path / "f.bin"), os.O_WRONLY | os.O_CREAT)
    plain.write(b"a")
    fd = plain.fileno()

    def failing(_fd: int) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(os, "fsync", failing)
    with pytest.raises(OSError) as caught:
        plain.close()
    assert caught.value.errno == errno.EIO
    with pytest.raises(OSError):
        os.fstat(fd)  # closed all the same


@pytest.mark.parametrize("level", list(SyncLevel))
def test_the_configured_level_reaches_the_devices(
    tmp_path: Path, level: SyncLevel, syncs: Syncs
) -> None:
    config, drives = load_server_config(None, {"root": str(tmp_path), "sync": level})
    session, _ = build_session(config, drives, read_only=False)
    for name in ("t.tap/nostream", "f.bin"):
        opened = session.handle(OpenRequest(name.encode(), os.O_WRONLY | os.O_CREAT, "3"))
        assert opened.to_bytes() == b"A0\n"
        before = syncs.fdatasync
        parser = CommandParser()
        parser.receive_data(b"W1\nx")
        request = parser.next_event()
        assert isinstance(request, WriteRequest)
        reply = session.receive_write(request, parser, lambda view: 0)
        assert reply is not None and reply.to_bytes() == b"A1\n"
        assert syncs.fdatasync - before == (1 if level is SyncLevel.RECORD else 0)
        session.close_device()
