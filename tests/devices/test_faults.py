"""What the drive does when the file system fails it: full disks, permissions, side files.

Most tests run on pyfakefs, which fakes ``fcntl.flock`` as a no-op: the one-opener lock is not
exercised here (``test_drive`` checks EBUSY on the real file system), and nothing needs patching.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pyfakefs.fake_filesystem import FakeFilesystem
from pyfakefs.helpers import reset_ids, set_uid

from devices.interface import MtOp, OpenOptions
from devices.state import VolumeInfo
from devices.storage import FileStorage
from devices.vtape import create_tape_image, open_tape_image

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

Obj = bytes | None
Decoder = Callable[[bytes], list[Obj]]
Encoder = Callable[[Sequence[Obj]], bytes]

PATH = "/tapes/t.tap"


@pytest.fixture
def tapes(fs: FakeFilesystem) -> Iterator[FakeFilesystem]:
    """A fake file system with a world-writable ``/tapes`` and a blank image in it."""
    fs.create_dir("/tapes")
    os.chmod("/tapes", 0o777)
    create_tape_image(PATH, VolumeInfo())
    yield fs
    reset_ids()  # in case a test acted as an ordinary user


def read_back(path: str, count: int) -> list[bytes | str]:
    drive = open_tape_image(path, OpenOptions())
    drive.ioctl(MtOp.MTREW, 1)
    out: list[bytes | str] = []
    buf = bytearray(512)
    for _ in range(count):
        try:
            out.append(bytes(buf[: drive.readinto(memoryview(buf))]))
        except OSError as exc:
            out.append(errno.errorcode[exc.errno or 0])
    drive.close()
    return out


def test_disk_full_during_a_record_write(tapes: FakeFilesystem, decode: Decoder) -> None:
    tapes.set_disk_usage(tapes.get_disk_usage()[1] + 3000)
    drive = open_tape_image(PATH, OpenOptions(write=True))
    written: list[bytes] = []
    with pytest.raises(OSError) as full:  # the loop runs until the disk is full
        for i in range(100):
            data = bytes([65 + i % 26]) * 201
            drive.write(data)
            written.append(data)
    assert full.value.errno == errno.ENOSPC
    assert 0 < len(written) < 100
    # The image holds every record written before, and nothing of the failed one.
    assert decode(Path(PATH).read_bytes()) == written
    assert drive.tell() == len(written)
    tapes.set_disk_usage(1 << 30)  # room again: the drive goes on where it was
    drive.write(b"after")
    drive.close()
    assert decode(Path(PATH).read_bytes()) == [*written, b"after", None]
    assert read_back(PATH, len(written) + 3) == [*written, b"after", b"", b""]


def test_disk_full_at_close_keeps_the_records(tapes: FakeFilesystem) -> None:
    drive = open_tape_image(PATH, OpenOptions(write=True))
    drive.write(b"one")
    drive.write(b"two")
    tapes.set_disk_usage(tapes.get_disk_usage()[1])  # not one byte more
    with pytest.raises(OSError) as full:
        drive.close()  # the closing filemark, the index and the state all fail
    assert full.value.errno == errno.ENOSPC
    # (pyfakefs, once full, cannot even unlink the temporary files: not checked here.)
    tapes.set_disk_usage(1 << 30)
    assert read_back(PATH, 3) == [b"one", b"two", "EIO"]  # no filemark: EIO after the data


def test_failed_side_file_saves_leave_no_temporary_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real file system where renames fail: index and state saves clean up after them."""
    path = str(tmp_path / "t.tap")
    create_tape_image(path, VolumeInfo())
    drive = open_tape_image(path, OpenOptions(write=True))
    drive.write(b"kept")

    def no_rename(src: str, dst: str) -> None:
        raise OSError(errno.EIO, "rename failed", dst)

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(OSError) as failed:
        drive.close()
    assert failed.value.errno == errno.EIO
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["t.tap", "t.tap.rmtd"]
    assert read_back(path, 3) == [b"kept", b"", b""]


def test_read_only_image_file(tapes: FakeFilesystem) -> None:
    drive = open_tape_image(PATH, OpenOptions(write=True))
    drive.write(b"data")
    drive.close()
    os.chmod(PATH, 0o444)
    set_uid(1000)  # pyfakefs applies permissions to ordinary users only
    with pytest.raises(OSError) as refused:
        open_tape_image(PATH, OpenOptions(write=True))
    assert refused.value.errno == errno.EROFS
    assert read_back(PATH, 3) == [b"data", b"", b""]
    drive = open_tape_image(PATH, OpenOptions())
    # (No position check here: pyfakefs bumps a file's ctime on every open, which the image
    # identity includes, so the fake image always looks changed. test_drive covers it.)
    with pytest.raises(OSError) as not_writable:
        drive.write(b"x")
    assert not_writable.value.errno == errno.EBADF
    drive.close()


def test_unreadable_state_file_gives_the_defaults(tapes: FakeFilesystem) -> None:
    drive = open_tape_image(PATH, OpenOptions(write=True))
    drive.write(b"data")
    drive.ioctl(MtOp.MTSETBLK, 0)
    drive.close()
    Path(PATH + ".rmtd").write_text("{not json")
    drive = open_tape_image(PATH, OpenOptions())
    status = drive.status()
    assert (drive.tell(), status.fileno, status.blkno) == (0, 0, 0)
    drive.close()
    assert read_back(PATH, 2) == [b"data", b""]


def test_state_file_write_failure_does_not_corrupt_the_image(
    tapes: FakeFilesystem, encode: Encoder
) -> None:
    drive = open_tape_image(PATH, OpenOptions(write=True))
    for data in (b"a", b"bb", b"ccc"):
        drive.write(data)
    drive.ioctl(MtOp.MTWEOF, 1)
    os.remove(PATH + ".rmtd")
    os.mkdir(PATH + ".rmtd")  # the state cannot be replaced: close must fail, image intact
    with pytest.raises(OSError):
        drive.close()
    image = Path(PATH).read_bytes()
    assert image == encode([b"a", b"bb", b"ccc", None])
    assert [n for n in os.listdir("/tapes") if ".tmp" in n] == []
    os.rmdir(PATH + ".rmtd")
    assert read_back(PATH, 5) == [b"a", b"bb", b"ccc", b"", b""]


class _ShortWriter(io.FileIO):
    """A file whose writes stop half way, as ``write(2)`` does when the disk fills up."""

    short = True

    def write(self, data: ReadableBuffer, /) -> int:
        view = memoryview(data)
        return super().write(view[: len(view) // 2] if self.short else view)


def test_short_write_is_cut_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, decode: Decoder
) -> None:
    """A real file system: a record written in part is removed again and the drive goes on."""
    path = str(tmp_path / "t.tap")
    create_tape_image(path, VolumeInfo())

    def open_short(path: str, writable: bool, create: bool = False) -> FileStorage:
        return FileStorage(path, _ShortWriter(path, "r+b" if writable else "rb"), writable)

    monkeypatch.setattr(FileStorage, "open", open_short)
    drive = open_tape_image(path, OpenOptions(write=True))
    try:
        _ShortWriter.short = False
        drive.write(b"whole")
        _ShortWriter.short = True
        with pytest.raises(OSError) as short:
            drive.write(b"x" * 1000)
        assert short.value.errno == errno.ENOSPC
        assert decode(Path(path).read_bytes()) == [b"whole"]
        _ShortWriter.short = False
        drive.write(b"next")
    finally:
        with contextlib.suppress(OSError):
            drive.close()
        _ShortWriter.short = True
    assert decode(Path(path).read_bytes()) == [b"whole", b"next", None]
