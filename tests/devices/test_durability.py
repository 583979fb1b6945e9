"""The ``sync`` setting syncs exactly where it says; streamed writes reserve and write behind.

The system calls are counted by wrapping ``os.fsync``/``os.fdatasync`` and the bound
``sync_file_range``/``fallocate``: what matters is which reply waits for which sync, not the
disk itself (one test looks at the real blocks of a real file).
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devices import streamwrites
from devices.durability import SyncLevel
from devices.interface import MtOp, OpenOptions
from devices.plainfile import PlainFile
from devices.state import VolumeInfo
from devices.streamwrites import BEHIND_BATCH, BEHIND_LAG, STEP_BYTES, StreamWrites
from devices.vtape import create_tape_image, open_tape_image
from rmtd.compose import build_session, load_server_config
from rmtd.protocol import CommandParser, OpenRequest, WriteRequest


class Syncs:
    """Counts of the sync calls made on the files under test."""

    def __init__(self) -> None:
        self.fsync = 0
        self.fdatasync = 0
        self.ranges: list[tuple[int, int, int, int]] = []
        self.reserved: list[tuple[int, int, int, int]] = []

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

    def fallocate(fd: int, mode: int, offset: int, length: int) -> int:
        seen.reserved.append((fd, mode, offset, length))
        return 0

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "fdatasync", fdatasync)
    monkeypatch.setattr(streamwrites, "_sync_file_range", sync_file_range)
    monkeypatch.setattr(streamwrites, "_fallocate", fallocate)
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


def test_write_behind_follows_the_stream_at_a_distance(tmp_path: Path, syncs: Syncs) -> None:
    path, options = tape(tmp_path, SyncLevel.CLOSE)
    record = 64 << 10
    short = (BEHIND_LAG + BEHIND_BATCH) // (record + 8) - 1
    drive = open_tape_image(path, options)
    for _ in range(short):
        drive.write(b"r" * record)
    drive.close()
    assert syncs.ranges == []  # a short stream: the sync at close does it all
    drive = open_tape_image(path, options)
    drive.ioctl(MtOp.MTREW, 1)
    records = 4 * short
    for _ in range(records):
        drive.write(b"r" * record)
    drive.close()  # the helper serves what was posted before it stops
    written = records * (record + 8)
    end = contiguous_to(syncs.ranges)
    assert end % os.sysconf("SC_PAGE_SIZE") == 0
    # Everything but the last lag (and a batch not yet full, and a step not yet posted).
    assert written - BEHIND_LAG - BEHIND_BATCH - STEP_BYTES <= end <= written - BEHIND_LAG
    assert {flags for *_, flags in syncs.ranges} == {2}  # SYNC_FILE_RANGE_WRITE: no waiting


def contiguous_to(ranges: list[tuple[int, int, int, int]]) -> int:
    """Where writeback requests that follow each other from offset 0 end.

    Posts the helper had not served yet are merged into the next request, so how many there
    are depends on timing; that they cover everything from 0, in order, does not.
    """
    starts = [start for _, start, _, _ in ranges]
    ends = [start + length for _, start, length, _ in ranges]
    assert starts and starts[0] == 0 and starts[1:] == ends[:-1], ranges
    return ends[-1]


def test_blocks_are_reserved_ahead_of_an_image(tmp_path: Path, syncs: Syncs) -> None:
    path, options = tape(tmp_path, SyncLevel.CLOSE)
    drive = open_tape_image(path, options)
    for _ in range(STEP_BYTES // 4096):
        drive.write(b"r" * 4088)  # 4096 bytes a record with its two length words
    drive.close()
    assert [r[1:] for r in syncs.reserved] == [(1, STEP_BYTES, streamwrites.RESERVE_MIN)]


def test_an_image_keeps_no_reserved_blocks_after_close(tmp_path: Path) -> None:
    path, options = tape(tmp_path, SyncLevel.CLOSE)
    drive = open_tape_image(path, options)
    for _ in range(3 * STEP_BYTES // 65544 + 1):
        drive.write(bytes(65536))
    if file_system_reserves(tmp_path):  # ext4, XFS, tmpfs: the open holds more than the data
        deadline = time.monotonic() + 10  # the helper thread reserves soon after a post
        while not reserved_past_end(path) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert reserved_past_end(path)
    drive.close()
    info = os.stat(path)
    assert info.st_blocks * 512 - info.st_size < 64 << 10, "reserved blocks left past the end"


def reserved_past_end(path: str) -> bool:
    info = os.stat(path)
    return info.st_blocks * 512 >= info.st_size + streamwrites.RESERVE_MIN // 2


def file_system_reserves(directory: Path) -> bool:
    """Whether ``fallocate(FALLOC_FL_KEEP_SIZE)`` works in ``directory``."""
    fd = os.open(directory / "probe", os.O_RDWR | os.O_CREAT)
    try:
        return streamwrites._fallocate is not None and streamwrites._fallocate(fd, 1, 0, 4096) == 0
    finally:
        os.close(fd)
        os.unlink(directory / "probe")


def test_plain_files_reserve_nothing(tmp_path: Path, syncs: Syncs) -> None:
    plain = PlainFile(str(tmp_path / "f.bin"), os.O_WRONLY | os.O_CREAT)
    for _ in range((BEHIND_LAG + 2 * BEHIND_BATCH) // STEP_BYTES):
        plain.write(bytes(STEP_BYTES))  # another client may be extending the same file
    plain.close()
    assert syncs.reserved == []
    assert contiguous_to(syncs.ranges) >= BEHIND_BATCH  # written behind all the same


def test_refused_calls_are_switched_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def refusing_range(fd: int, offset: int, nbytes: int, flags: int) -> int:
        calls.append("range")
        return -1

    def refusing_fallocate(fd: int, mode: int, offset: int, length: int) -> int:
        calls.append("fallocate")
        return -1

    monkeypatch.setattr(streamwrites, "_sync_file_range", refusing_range)
    monkeypatch.setattr(streamwrites, "_fallocate", refusing_fallocate)
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    try:
        stream = StreamWrites(fd, "f", reserve=True)
        for _ in range((BEHIND_LAG + 3 * BEHIND_BATCH) // STEP_BYTES):
            os.write(fd, bytes(STEP_BYTES))
            stream.wrote(STEP_BYTES)
        stream.finish()
    finally:
        os.close(fd)
    assert calls == ["fallocate", "range"]  # each tried once, then left alone


def test_no_descriptor_nothing_is_called(syncs: Syncs) -> None:
    stream = StreamWrites(None, "fake", reserve=True)
    stream.wrote(10 * STEP_BYTES)
    stream.finish()
    assert syncs.ranges == [] and syncs.reserved == []


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
