"""Linux ``st`` to the letter: blank-tape reads, ``lseek``, huge filemark counts, setmarks."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from devices.interface import BytesLike, GeneralStatus, MtOp, OpenOptions
from devices.state import VolumeInfo
from devices.stream import StreamingTape
from devices.vtape import open_tape_image
from tests.devices.drive_helpers import errno_of, new_tape, read

G = GeneralStatus


# -- reading a blank tape ------------------------------------------------------------------


def test_a_blank_tape_at_bot_fails_the_first_read_with_eio(tmp_path: Path) -> None:
    drive = open_tape_image(new_tape(tmp_path), OpenOptions(write=True))
    assert (drive.status().fileno, drive.status().blkno) == (0, 0)
    failed = errno_of(lambda: read(drive))
    assert failed == errno.EIO
    status = drive.status()
    assert (status.fileno, status.blkno) == (0, -1)
    assert status.gstat & G.EOD
    assert errno_of(lambda: read(drive)) == errno.EIO
    # Still at BOT for a writer: xfsdump rewinds after the failed read and writes its header.
    drive.ioctl(MtOp.MTREW, 1)
    assert drive.status().gstat & G.BOT
    drive.write(b"header")
    drive.ioctl(MtOp.MTREW, 1)
    assert read(drive) == b"header"
    drive.close()


def test_after_a_filemark_at_the_end_a_read_returns_0_once(tmp_path: Path) -> None:
    path = new_tape(tmp_path)
    drive = open_tape_image(path, OpenOptions(write=True))
    drive.write(b"data")
    drive.close()  # writes the filemark; the position stays after it
    drive = open_tape_image(path, OpenOptions())
    assert (drive.status().fileno, drive.status().blkno) == (1, 0)
    assert read(drive) == b""
    assert errno_of(lambda: read(drive)) == errno.EIO
    drive.ioctl(MtOp.MTREW, 1)
    assert [read(drive), read(drive), read(drive)] == [b"data", b"", b""]
    assert errno_of(lambda: read(drive)) == errno.EIO
    drive.close()


def test_the_end_of_data_not_after_a_filemark_fails_at_once(tmp_path: Path) -> None:
    drive = open_tape_image(new_tape(tmp_path), OpenOptions(write=True))
    drive.write(b"data")  # no filemark yet: the end of data follows a record
    assert errno_of(lambda: read(drive)) == errno.EIO
    drive.close()


# -- lseek -------------------------------------------------------------------------------------


def test_lseek_answers_0_and_moves_nothing(tmp_path: Path) -> None:
    path = new_tape(tmp_path)
    drive = open_tape_image(path, OpenOptions(write=True))
    drive.write(b"one")
    drive.write(b"two")
    before = (drive.tell(), drive.status())
    for offset, whence in [(0, 0), (4096, 0), (-10, 1), (0, 2), (7, 3), (7, 4)]:
        assert drive.seek(offset, whence) == 0
    assert (drive.tell(), drive.status()) == before
    assert errno_of(lambda: drive.seek(0, 10)) == errno.EINVAL  # lseek(2) checks the whence
    drive.close()  # still "after a write": the closing filemark is written
    drive = open_tape_image(path, OpenOptions())
    drive.ioctl(MtOp.MTREW, 1)
    assert [read(drive), read(drive), read(drive)] == [b"one", b"two", b""]
    drive.close()


def test_lseek_on_a_streaming_tape_keeps_the_record_tail(tmp_path: Path) -> None:
    path = new_tape(tmp_path)
    drive = open_tape_image(path, OpenOptions(write=True))
    drive.write(b"HELLO")
    drive.ioctl(MtOp.MTREW, 1)
    tape = StreamingTape(drive)
    buffer = memoryview(bytearray(2))
    assert tape.readinto(buffer) == 2 and bytes(buffer) == b"HE"
    assert tape.seek(0, 0) == 0
    assert tape.readinto(buffer) == 2 and bytes(buffer) == b"LL"
    tape.close()


# -- MTWEOF with a huge count, MTWSM ---------------------------------------------------------


def test_a_count_over_the_limit_fails_with_enospc_and_writes_nothing(tmp_path: Path) -> None:
    path = new_tape(tmp_path)
    drive = open_tape_image(path, OpenOptions(write=True))
    drive.write(b"data")
    caught = None
    try:
        drive.ioctl(MtOp.MTWEOF, 2_000_000_000)
    except OSError as exc:
        caught = exc
    assert caught is not None and caught.errno == errno.ENOSPC
    assert "2000000000 filemarks exceed the limit of 100000" in str(caught)
    assert len(drive.image) == 1  # the index did not grow
    assert (drive.tell(), drive.status().fileno, drive.status().blkno) == (1, 0, 1)
    drive.close()  # st_ioctl leaves the writing state for any MTWEOF: no closing mark
    assert Path(path).stat().st_size == 4 + 4 + 4  # one record of 4 bytes, framed


def test_marks_are_written_in_batches_one_index_entry_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = new_tape(tmp_path)
    drive = open_tape_image(path, OpenOptions(write=True, max_filemarks=10_000))
    writes: list[int] = []
    storage = drive.image.storage
    original = storage.write_at

    def counting(offset: int, data: BytesLike) -> None:
        writes.append(len(memoryview(data)))
        original(offset, data)

    monkeypatch.setattr(storage, "write_at", counting)
    assert drive.ioctl(MtOp.MTWEOF, 10_000) == 10_000
    assert writes == [4096 * 4, 4096 * 4, 1808 * 4]
    assert len(drive.image) == 10_000
    assert (drive.status().fileno, drive.status().blkno) == (10_000, 0)
    assert errno_of(lambda: drive.ioctl(MtOp.MTWEOF, 10_001)) == errno.ENOSPC
    drive.close()
    assert Path(path).stat().st_size == 40_000
    drive = open_tape_image(path, OpenOptions())
    drive.ioctl(MtOp.MTEOM, 1)
    assert drive.status().fileno == 10_000  # the image reads back as 10 000 marks
    drive.close()


def test_the_capacity_stops_the_marks_that_do_not_fit(tmp_path: Path) -> None:
    path = new_tape(tmp_path, VolumeInfo(capacity=40))
    drive = open_tape_image(path, OpenOptions(write=True))
    drive.write(b"12345678")  # 16 bytes: room for 6 marks of 4 bytes
    assert errno_of(lambda: drive.ioctl(MtOp.MTWEOF, 50)) == errno.ENOSPC
    assert len(drive.image) == 7
    assert (drive.status().fileno, drive.status().blkno) == (6, 0)
    assert errno_of(lambda: drive.ioctl(MtOp.MTWEOF, 1)) == errno.ENOSPC
    drive.close()
    assert Path(path).stat().st_size == 40


def test_setmarks_are_refused_as_a_drive_without_them_refuses(tmp_path: Path) -> None:
    path = new_tape(tmp_path)
    drive = open_tape_image(path, OpenOptions(write=True))
    drive.write(b"data")
    assert errno_of(lambda: drive.ioctl(MtOp.MTWSM, 1)) == errno.EIO
    assert len(drive.image) == 1
    drive.close()  # MTWSM keeps st's writing state: close still writes the filemark
    assert Path(path).stat().st_size == 16
    drive = open_tape_image(path, OpenOptions())
    assert errno_of(lambda: drive.ioctl(MtOp.MTWSM, 1)) == errno.EACCES  # st checks first
    drive.close()
