"""The virtual tape drive's behaviours beyond positioning: capacity, opens, state, modes, index."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import pytest

from devices.formats.base import ScanResult
from devices.formats.index import INDEX_SUFFIX, ObjectIndex
from devices.formats.simh import SimhFormat
from devices.interface import GeneralStatus, MtOp, OpenOptions
from devices.state import VolumeInfo
from devices.storage import Storage
from devices.vtape import open_tape_image
from tests.devices.drive_helpers import errno_of, new_tape, read
from tests.simh_codec import word

G = GeneralStatus
Obj = bytes | None
Decoder = Callable[[bytes], list[Obj]]
Encoder = Callable[[Sequence[Obj]], bytes]


def record(i: int) -> bytes:
    return b"%03d" % i + b"." * 97  # 100 bytes: 108 in the image


# -- capacity ------------------------------------------------------------------------------


def test_early_warning_then_enospc_and_success_alternate(tmp_path: Path, decode: Decoder) -> None:
    # 10 records of 108 bytes and a filemark fit; early warning 304 bytes before the end (780).
    path = new_tape(tmp_path, VolumeInfo(capacity=1084, early_warning=304))
    drive = open_tape_image(path, OpenOptions(write=True))
    results: list[int | None] = []
    eot: list[bool] = []
    for i in range(1, 15):
        results.append(errno_of(partial(drive.write, record(i))))
        eot.append(bool(drive.status().gstat & G.EOT))
    ok, full = None, errno.ENOSPC
    assert results == [ok] * 8 + [full, ok, full, ok, full, full]
    assert eot == [False] * 7 + [True] * 7
    assert drive.tell() == 10
    drive.ioctl(MtOp.MTREW, 1)
    assert not drive.status().gstat & G.EOT
    drive.ioctl(MtOp.MTEOM, 1)
    assert drive.status().gstat & G.EOT
    drive.close()
    written = [record(i) for i in (1, 2, 3, 4, 5, 6, 7, 8, 10, 12)]
    assert decode(Path(path).read_bytes()) == [*written, None]
    assert Path(path).stat().st_size == 1084


def test_filemarks_in_the_early_warning_zone_succeed(tmp_path: Path, decode: Decoder) -> None:
    path = new_tape(tmp_path, VolumeInfo(capacity=1084, early_warning=304))
    drive = open_tape_image(path, OpenOptions(write=True))
    for i in range(8):
        drive.write(record(i))
    assert drive.status().gstat & G.EOT
    assert drive.ioctl(MtOp.MTWEOF, 2) == 2
    assert errno_of(lambda: drive.write(b"x")) == errno.ENOSPC  # the alternation goes on
    assert errno_of(lambda: drive.write(b"x")) is None
    drive.close()
    eight = [record(i) for i in range(8)]
    assert decode(Path(path).read_bytes()) == [*eight, None, None, b"x", None]


def test_a_refused_write_does_not_cut_the_tape(tmp_path: Path) -> None:
    path = new_tape(tmp_path, VolumeInfo(capacity=1084, early_warning=304))
    drive = open_tape_image(path, OpenOptions(write=True))
    for i in range(8):
        drive.write(record(i))
    assert errno_of(lambda: drive.write(record(8))) == errno.ENOSPC
    drive.write(record(9))  # allowed again; the next one is refused
    drive.ioctl(MtOp.MTBSR, 1)
    assert errno_of(lambda: drive.write(b"new")) == errno.ENOSPC
    assert drive.tell() == 8
    assert read(drive) == record(9)  # still there
    drive.close()


def test_a_record_beyond_the_physical_end_is_refused(tmp_path: Path) -> None:
    path = new_tape(tmp_path, VolumeInfo(capacity=200))
    drive = open_tape_image(path, OpenOptions(write=True))
    assert errno_of(lambda: drive.write(bytes(193))) == errno.ENOSPC  # 8 + 194 > 200
    assert drive.write(bytes(192)) == 192  # 200: exactly full
    assert errno_of(lambda: drive.ioctl(MtOp.MTWEOF, 1)) == errno.ENOSPC
    assert drive.status().gstat & G.EOT  # no early-warning zone: EOT at the physical end
    drive.ioctl(MtOp.MTNOP, 1)
    drive.ioctl(MtOp.MTWEOF, 0)  # idle: close must not try the filemark again
    drive.close()
    assert Path(path).stat().st_size == 200


# -- opens, protection ------------------------------------------------------------------------


def test_second_open_is_busy_until_the_first_closes(tmp_path: Path) -> None:
    path = new_tape(tmp_path)
    first = open_tape_image(path, OpenOptions())
    assert errno_of(lambda: open_tape_image(path, OpenOptions(write=True))) == errno.EBUSY
    assert errno_of(lambda: open_tape_image(path, OpenOptions())) == errno.EBUSY
    first.close()
    second = open_tape_image(path, OpenOptions(write=True))
    second.close()


def test_a_failed_open_releases_the_lock(tmp_path: Path) -> None:
    path = new_tape(tmp_path)
    drive = open_tape_image(path, OpenOptions())
    drive.ioctl(MtOp.MTOFFL, 1)
    drive.close()
    assert errno_of(lambda: open_tape_image(path, OpenOptions())) == errno.ENOMEDIUM
    drive = open_tape_image(path, OpenOptions(nonblock=True))
    drive.close()


def test_read_only_open_refuses_writes(tmp_path: Path) -> None:
    path = new_tape(tmp_path)
    drive = open_tape_image(path, OpenOptions())
    assert errno_of(lambda: drive.write(b"data")) == errno.EBADF
    assert errno_of(lambda: drive.write(b"")) == errno.EBADF
    assert errno_of(lambda: drive.ioctl(MtOp.MTWEOF, 1)) == errno.EACCES
    assert errno_of(lambda: drive.ioctl(MtOp.MTERASE, 0)) == errno.EACCES
    drive.close()
    assert Path(path).stat().st_size == 0


def test_write_protected_volume_refuses_write_opens(tmp_path: Path) -> None:
    path = new_tape(tmp_path, VolumeInfo(write_protected=True))
    assert errno_of(lambda: open_tape_image(path, OpenOptions(write=True))) == errno.EROFS
    drive = open_tape_image(path, OpenOptions())
    assert drive.status().gstat & G.WR_PROT
    drive.close()


def test_write_protect_option_refuses_write_opens_and_shows_wr_prot(tmp_path: Path) -> None:
    path = new_tape(tmp_path)
    protected = OpenOptions(write=True, write_protect=True)
    assert errno_of(lambda: open_tape_image(path, protected)) == errno.EROFS
    drive = open_tape_image(path, OpenOptions(write_protect=True))
    assert drive.status().gstat & G.WR_PROT
    assert errno_of(lambda: drive.write(b"x")) == errno.EBADF
    drive.close()


def test_a_read_only_image_file_is_a_write_protected_volume(tmp_path: Path) -> None:
    path = new_tape(tmp_path)
    os.chmod(path, 0o444)  # even for root, who could write it anyway
    assert errno_of(lambda: open_tape_image(path, OpenOptions(write=True))) == errno.EROFS
    drive = open_tape_image(path, OpenOptions())
    assert drive.status().gstat & G.WR_PROT
    drive.close()
    os.chmod(path, 0o644)
    drive = open_tape_image(path, OpenOptions())
    assert not drive.status().gstat & G.WR_PROT
    drive.close()


def test_erase_cuts_at_the_position(tmp_path: Path, decode: Decoder) -> None:
    path = new_tape(tmp_path)
    drive = open_tape_image(path, OpenOptions(write=True))
    for data in (b"a", b"b", b"c"):
        drive.write(data)
    drive.ioctl(MtOp.MTWEOF, 1)
    drive.ioctl(MtOp.MTREW, 1)
    drive.ioctl(MtOp.MTFSR, 1)
    drive.ioctl(MtOp.MTERASE, 1)
    assert errno_of(lambda: drive.ioctl(MtOp.MTFSR, 1)) == errno.EIO  # end of data
    drive.close()
    assert decode(Path(path).read_bytes()) == [b"a"]


def test_missing_image_needs_create(tmp_path: Path) -> None:
    path = str(tmp_path / "new.tap")
    assert errno_of(lambda: open_tape_image(path, OpenOptions())) == errno.ENOENT
    drive = open_tape_image(path, OpenOptions(write=True, create=True))
    drive.write(b"first")
    drive.close()
    assert Path(path).stat().st_size == 8 + 6 + 4


# -- state across opens -------------------------------------------------------------------


def test_position_persists_across_opens(tmp_path: Path) -> None:
    path = new_tape(tmp_path)
    drive = open_tape_image(path, OpenOptions(write=True))
    for data in (b"r0", b"r1", b"r2"):
        drive.write(data)
    drive.ioctl(MtOp.MTWEOF, 1)
    drive.write(b"f1")
    drive.ioctl(MtOp.MTREW, 1)  # writes the closing mark first
    drive.ioctl(MtOp.MTFSR, 2)
    drive.close()
    drive = open_tape_image(path, OpenOptions())
    status = drive.status()
    assert (drive.tell(), status.fileno, status.blkno) == (2, 0, 2)
    assert read(drive) == b"r2"
    drive.ioctl(MtOp.MTFSF, 1)
    drive.close()
    drive = open_tape_image(path, OpenOptions())
    assert (drive.tell(), drive.status().fileno, drive.status().blkno) == (4, 1, 0)
    assert drive.status().gstat & G.EOF
    assert read(drive) == b"f1"
    drive.close()


def test_eod_flag_persists_across_opens(tmp_path: Path) -> None:
    path = new_tape(tmp_path)
    drive = open_tape_image(path, OpenOptions(write=True))
    drive.write(b"x")
    drive.ioctl(MtOp.MTEOM, 1)
    assert drive.status().gstat & G.EOD
    drive.close()
    drive = open_tape_image(path, OpenOptions())
    assert drive.status().gstat & G.EOD
    assert errno_of(lambda: read(drive)) == errno.EIO
    drive.close()


def test_block_size_and_density_persist(tmp_path: Path) -> None:
    path = new_tape(tmp_path, VolumeInfo(density=3))
    drive = open_tape_image(path, OpenOptions())
    assert drive.status().gstat & G.D_6250
    assert drive.ioctl(MtOp.MTSETBLK, 512) == 512
    assert drive.ioctl(MtOp.MTSETDENSITY, 2) == 2
    drive.close()
    drive = open_tape_image(path, OpenOptions())
    status = drive.status()
    assert (status.block_size, status.density) == (512, 2)
    assert status.dsreg == (2 << 24) | 512
    assert status.gstat & G.D_1600
    assert not status.gstat & G.D_6250
    assert errno_of(lambda: drive.ioctl(MtOp.MTSETDENSITY, 256)) == errno.EINVAL
    drive.close()


def test_unloaded_drive_needs_nonblock_open_and_load(tmp_path: Path) -> None:
    path = new_tape(tmp_path)
    drive = open_tape_image(path, OpenOptions(write=True))
    drive.write(b"data")
    drive.ioctl(MtOp.MTOFFL, 1)  # writes the filemark, rewinds, unloads
    assert drive.status().gstat & G.DR_OPEN
    drive.close()
    assert errno_of(lambda: open_tape_image(path, OpenOptions())) == errno.ENOMEDIUM
    drive = open_tape_image(path, OpenOptions(nonblock=True, write=True))
    status = drive.status()
    assert status.gstat & G.DR_OPEN
    assert not status.gstat & G.ONLINE
    assert (status.fileno, status.blkno) == (-1, -1)
    assert errno_of(lambda: read(drive)) == errno.ENOMEDIUM
    assert errno_of(lambda: drive.write(b"x")) == errno.ENOMEDIUM
    assert errno_of(lambda: drive.ioctl(MtOp.MTFSF, 1)) == errno.ENOMEDIUM
    assert errno_of(drive.tell) == errno.ENOMEDIUM
    drive.ioctl(MtOp.MTLOAD, 0)
    status = drive.status()
    assert status.gstat & (G.ONLINE | G.BOT) == G.ONLINE | G.BOT
    assert read(drive) == b"data"
    drive.close()
    drive = open_tape_image(path, OpenOptions())  # loaded again: a blocking open works
    assert read(drive) == b""  # the filemark MTOFFL wrote
    drive.close()


def test_rewind_and_unload_on_close(tmp_path: Path, decode: Decoder) -> None:
    path = new_tape(tmp_path)
    drive = open_tape_image(path, OpenOptions(write=True, rewind_on_close=True))
    drive.write(b"x")
    drive.close()
    assert decode(Path(path).read_bytes()) == [b"x", None]
    drive = open_tape_image(path, OpenOptions(unload_on_close=True))
    assert drive.tell() == 0
    drive.ioctl(MtOp.MTFSF, 1)
    drive.close()
    assert errno_of(lambda: open_tape_image(path, OpenOptions())) == errno.ENOMEDIUM


# -- fixed-block mode -------------------------------------------------------------------------


def test_fixed_block_mode_writes_and_reads_whole_blocks(tmp_path: Path, decode: Decoder) -> None:
    path = new_tape(tmp_path)
    drive = open_tape_image(path, OpenOptions(write=True))
    drive.ioctl(MtOp.MTSETBLK, 4)
    assert errno_of(lambda: drive.write(b"0123456789")) == errno.EINVAL
    assert drive.tell() == 0
    assert drive.write(b"aaaabbbbcccc") == 12
    assert (drive.tell(), drive.status().blkno) == (3, 3)
    drive.write(b"dddd")
    drive.ioctl(MtOp.MTWEOF, 1)
    drive.write(b"eeee")
    drive.close()
    blocks = [b"aaaa", b"bbbb", b"cccc", b"dddd", None, b"eeee", None]
    assert decode(Path(path).read_bytes()) == blocks
    drive = open_tape_image(path, OpenOptions())
    drive.ioctl(MtOp.MTREW, 1)
    assert read(drive, 8) == b"aaaabbbb"
    assert drive.status().blkno == 2
    assert errno_of(lambda: read(drive, 6)) == errno.EINVAL  # not a multiple of the block size
    assert read(drive, 12) == b"ccccdddd"  # stops at the filemark
    assert read(drive, 12) == b""  # the filemark
    assert (drive.status().fileno, drive.status().blkno) == (1, 0)
    assert read(drive, 4) == b"eeee"
    drive.ioctl(MtOp.MTSETBLK, 0)
    drive.ioctl(MtOp.MTBSR, 1)
    assert errno_of(lambda: read(drive, 2)) == errno.ENOMEM  # variable mode again
    drive.close()


# -- the index ----------------------------------------------------------------------------


def _write(path: str, objects: Sequence[Obj]) -> None:
    drive = open_tape_image(path, OpenOptions(write=True))
    for obj in objects:
        if obj is None:
            drive.ioctl(MtOp.MTWEOF, 1)
        else:
            drive.write(obj)
    drive.close()


def _contents(path: str) -> list[bytes | str]:
    drive = open_tape_image(path, OpenOptions())
    drive.ioctl(MtOp.MTREW, 1)
    out: list[bytes | str] = []
    while True:
        try:
            out.append(read(drive))
        except OSError as exc:
            out.append(errno.errorcode[exc.errno or 0])
            break
    drive.close()
    return out


class ScanSpy:
    """Counts scans, optionally refusing them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, refuse: bool = False) -> None:
        self.calls = 0
        original = SimhFormat.scan

        def scan(fmt: SimhFormat, storage: Storage, index: ObjectIndex) -> ScanResult:
            self.calls += 1
            if refuse:
                raise AssertionError("the image was scanned again")
            return original(fmt, storage, index)

        monkeypatch.setattr(SimhFormat, "scan", scan)


def test_saved_index_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = new_tape(tmp_path)
    _write(path, [b"one", b"two", None, b"three"])
    assert os.path.exists(path + INDEX_SUFFIX)
    ScanSpy(monkeypatch, refuse=True)
    assert _contents(path) == [b"one", b"two", b"", b"three", b"", b"", "EIO"]
    drive = open_tape_image(path, OpenOptions())
    drive.ioctl(MtOp.MTEOM, 1)
    assert (drive.tell(), drive.status().fileno) == (5, 2)
    drive.close()


def test_index_is_rebuilt_after_an_external_append(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encode: Encoder
) -> None:
    path = new_tape(tmp_path)
    _write(path, [b"one", None])
    drive = open_tape_image(path, OpenOptions())
    drive.ioctl(MtOp.MTSEEK, 1)
    drive.close()
    with open(path, "ab") as image:
        image.write(encode([b"added", None]))
    spy = ScanSpy(monkeypatch)
    drive = open_tape_image(path, OpenOptions())
    assert spy.calls == 1
    assert drive.tell() == 0  # a changed image is a new medium: BOT
    drive.ioctl(MtOp.MTEOM, 1)
    assert (drive.tell(), drive.status().fileno) == (4, 2)
    drive.close()
    assert _contents(path) == [b"one", b"", b"added", b"", b"", "EIO"]
    assert spy.calls == 1  # and the new index is saved and reused


def test_index_is_rebuilt_after_a_same_size_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encode: Encoder
) -> None:
    path = new_tape(tmp_path)
    _write(path, [b"ABCD", b"XY", None])  # 12 + 10 + 4 bytes
    before = os.stat(path)
    replaced = encode([None, None, None, b"XY", None])  # three marks where ABCD was
    assert len(replaced) == before.st_size
    Path(path).write_bytes(replaced)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    spy = ScanSpy(monkeypatch)
    assert _contents(path) == [b"", b"", b"", b"XY", b"", b"", "EIO"]
    assert spy.calls == 1


def test_unreadable_index_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = new_tape(tmp_path)
    _write(path, [b"one", None])
    Path(path + INDEX_SUFFIX).write_bytes(b"garbage")
    spy = ScanSpy(monkeypatch)
    assert _contents(path) == [b"one", b"", b"", "EIO"]
    assert spy.calls == 1


def _crash_while_writing(path: str, data: list[bytes | None]) -> None:
    """Write ``data`` and die without closing: the process is gone, the lock with it."""
    drive = open_tape_image(path, OpenOptions(write=True))
    drive.ioctl(MtOp.MTEOM, 1)
    for obj in data:
        drive.write(obj) if obj is not None else drive.ioctl(MtOp.MTWEOF, 1)
    drive.image.storage.close()


def test_torn_record_at_the_end_is_cut_on_reopen(tmp_path: Path, decode: Decoder) -> None:
    path = new_tape(tmp_path)
    _write(path, [b"one"])
    _crash_while_writing(path, [b"two", None])
    size = os.path.getsize(path)
    with open(path, "ab") as image:
        image.write(word(100) + b"x" * 10)  # a crash in the middle of a record
    drive = open_tape_image(path, OpenOptions(write=True))
    assert os.path.getsize(path) == size
    drive.ioctl(MtOp.MTEOM, 1)
    assert drive.tell() == 4
    drive.write(b"three")
    drive.close()
    assert decode(Path(path).read_bytes()) == [b"one", None, b"two", None, b"three", None]


def test_a_record_past_the_end_that_no_write_of_ours_left_is_damage(tmp_path: Path) -> None:
    path = new_tape(tmp_path)
    _write(path, [b"one", b"two", None])
    with open(path, "ab") as image:  # a clean close, then the bytes changed: not our crash
        image.write(word(100) + b"x" * 10)
    damaged = Path(path).read_bytes()
    drive = open_tape_image(path, OpenOptions(write=True))
    assert errno_of(lambda: drive.ioctl(MtOp.MTEOM, 1)) == errno.EIO
    assert drive.tell() == 3
    assert errno_of(lambda: drive.write(b"three")) == errno.EIO
    assert errno_of(lambda: drive.ioctl(MtOp.MTWEOF, 1)) == errno.EIO
    assert errno_of(lambda: drive.ioctl(MtOp.MTERASE, 1)) == errno.EIO
    drive.close()
    assert Path(path).read_bytes() == damaged


def test_writing_before_the_damage_is_an_ordinary_overwrite(
    tmp_path: Path, decode: Decoder
) -> None:
    path = new_tape(tmp_path)
    _write(path, [b"one", b"two", None])
    with open(path, "ab") as image:
        image.write(b"garbage!")
    drive = open_tape_image(path, OpenOptions(write=True))
    drive.ioctl(MtOp.MTFSR, 1)
    drive.write(b"TWO")
    drive.close()
    assert decode(Path(path).read_bytes()) == [b"one", b"TWO", None]


def test_a_lent_buffer_is_checked_once_and_void_after_another_operation(tmp_path: Path) -> None:
    drive = open_tape_image(new_tape(tmp_path), OpenOptions(write=True))
    drive.write_buffer(3)[:] = b"abc"
    assert drive.commit_write(3) == 3  # checked when lent
    drive.write_buffer(3)[:] = b"def"
    drive.ioctl(MtOp.MTOFFL, 1)  # the drive changed: the lent check no longer stands
    assert errno_of(lambda: drive.commit_write(3)) == errno.ENOMEDIUM
    drive.close()
