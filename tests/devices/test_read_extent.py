"""``read_extent`` (the bytes of a read left in the file, for sendfile) equals ``readinto``.

The session serves ``R`` with ``read_extent`` first and ``readinto`` when that says ``None``; a
client must not be able to tell. Each device is read twice over the same bytes with the same
counts, once with ``readinto`` only and once the session's way, and every result (bytes or
errno) and the position after it must agree. The drive itself is also checked against the st
model (tests/devices/test_model.py, rule ``read_as_extent``).
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.cdrom import SECTOR, CdRom
from devices.interface import FileExtent, MtOp, OpenOptions
from devices.plainfile import PlainFile
from devices.state import VolumeInfo
from devices.stream import StreamingTape
from devices.vtape import create_tape_image, open_tape_image

Outcome = tuple[str, object]

# A tape: records (bytes) and filemarks (None).
tapes = st.lists(st.one_of(st.none(), st.binary(min_size=1, max_size=40)), min_size=0, max_size=12)
counts = st.lists(st.sampled_from([0, 1, 3, 8, 16, 40, 64]), min_size=1, max_size=25)


def outcome(call: Callable[[], bytes]) -> Outcome:
    try:
        return ("ok", call())
    except OSError as exc:
        return ("error", errno.errorcode.get(exc.errno or 0))


def by_readinto(device: StreamingTape | PlainFile | CdRom, count: int) -> bytes:
    buf = bytearray(count)
    return bytes(buf[: device.readinto(memoryview(buf))])


def by_extent(device: StreamingTape | PlainFile | CdRom, count: int) -> bytes:
    extent = device.read_extent(count)
    if extent is None:
        return by_readinto(device, count)
    assert isinstance(extent, FileExtent)
    assert 0 < extent.length <= count
    return os.pread(extent.fd, extent.length, extent.offset)


def make_tape(directory: str, objects: list[bytes | None]) -> str:
    path = os.path.join(directory, "e.tap")
    create_tape_image(path, VolumeInfo())
    drive = open_tape_image(path, OpenOptions(write=True))
    for item in objects:
        if item is None:
            drive.ioctl(MtOp.MTWEOF, 1)
        else:
            drive.write(item)
    drive.close()
    return path


@settings(max_examples=60, deadline=None)
@given(objects=tapes, reads=counts)
def test_stream_reads_agree(objects: list[bytes | None], reads: list[int]) -> None:
    directory = tempfile.mkdtemp(prefix="rmtd-extent-")
    try:
        path = make_tape(directory, objects)
        copy = os.path.join(directory, "copy.tap")
        shutil.copyfile(path, copy)
        plain = StreamingTape(open_tape_image(path, OpenOptions()))
        fast = StreamingTape(open_tape_image(copy, OpenOptions()))
        try:
            for tape in (plain, fast):
                tape.ioctl(MtOp.MTREW, 1)
            for count in reads:
                want = outcome(lambda: by_readinto(plain, count))  # noqa: B023
                got = outcome(lambda: by_extent(fast, count))  # noqa: B023
                assert got == want
                assert fast.tell() == plain.tell()
                assert fast.status() == plain.status()
        finally:
            plain.close()
            fast.close()
    finally:
        shutil.rmtree(directory)


def test_a_stream_read_of_exactly_one_record_is_an_extent(tmp_path: Path) -> None:
    tape = StreamingTape(open_tape_image(make_tape(str(tmp_path), [b"HELLO", None]), OpenOptions()))
    tape.ioctl(MtOp.MTREW, 1)
    extent = tape.read_extent(5)
    assert extent is not None and os.pread(extent.fd, 5, extent.offset) == b"HELLO"
    assert tape.read_extent(5) is None  # the filemark is readinto's
    assert by_readinto(tape, 5) == b""
    tape.close()


def test_fixed_block_mode_reads_are_never_extents(tmp_path: Path) -> None:
    path = make_tape(str(tmp_path), [b"ABCD", b"EFGH"])
    drive = open_tape_image(path, OpenOptions())
    drive.ioctl(MtOp.MTREW, 1)
    drive.ioctl(MtOp.MTSETBLK, 4)
    assert drive.read_extent(8) is None
    buf = bytearray(8)
    assert drive.readinto(memoryview(buf)) == 8 and bytes(buf) == b"ABCDEFGH"
    drive.close()


def test_a_closed_drive_refuses_an_extent_read(tmp_path: Path) -> None:
    drive = open_tape_image(make_tape(str(tmp_path), [b"ABCD"]), OpenOptions())
    drive.ioctl(MtOp.MTREW, 1)
    drive.close()
    with pytest.raises(OSError) as caught:
        drive.read_extent(4)
    assert caught.value.errno == errno.EBADF


def assert_same_reads(plain: PlainFile | CdRom, fast: PlainFile | CdRom, reads: list[int]) -> None:
    """``plain`` read with readinto, ``fast`` the session's way: same results, same offsets."""
    try:
        for count in reads:
            want = outcome(lambda: by_readinto(plain, count))  # noqa: B023
            assert outcome(lambda: by_extent(fast, count)) == want  # noqa: B023
            assert fast.tell() == plain.tell()
    finally:
        plain.close()
        fast.close()


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=200), reads=counts, start=st.integers(0, 250))
def test_plain_file_reads_agree(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, reads: list[int], start: int
) -> None:
    path = tmp_path_factory.mktemp("extent") / "f.bin"
    path.write_bytes(data)
    plain, fast = PlainFile(str(path), os.O_RDONLY), PlainFile(str(path), os.O_RDONLY)
    plain.seek(start, os.SEEK_SET)
    fast.seek(start, os.SEEK_SET)
    assert_same_reads(plain, fast, reads)


@settings(max_examples=40, deadline=None)
@given(
    sectors=st.integers(0, 5),
    tail=st.integers(0, SECTOR - 1),
    reads=st.lists(st.sampled_from([0, 1, SECTOR, 2 * SECTOR, 3 * SECTOR]), min_size=1),
)
def test_cdrom_reads_agree(
    tmp_path_factory: pytest.TempPathFactory, sectors: int, tail: int, reads: list[int]
) -> None:
    path = tmp_path_factory.mktemp("extent") / "c.iso"
    path.write_bytes(os.urandom(sectors * SECTOR + tail))
    assert_same_reads(CdRom(str(path)), CdRom(str(path)), reads)
