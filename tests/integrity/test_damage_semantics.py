"""Each promise about damage, torn tails and side files, one operation at a time.

``devices/formats/image.py`` and ``devices/vtape.py`` promise: motions that reach damage fail
with EIO and never report GMT_EOD; writes at the damage point are refused with EIO naming the
offset, writes before it are ordinary overwrites; only a torn last record of our own crashed
writer (``writing_since`` in the state file) is cut, on a write open, with a log line; read-only
opens never modify an image; side files are written at close only while the path still names
the file that was opened.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from devices.drive import VirtualTapeDrive
from devices.formats.index import INDEX_SUFFIX
from devices.interface import GeneralStatus, MtOp, OpenOptions
from devices.state import STATE_SUFFIX, StateFile
from devices.vtape import open_tape_image
from tests.crashes import crash_mark
from tests.integrity.helpers import make_tar, rmtd_command, tar_remote, vmt, vmt_remote
from tests.simh_codec import encode, record, word

GOOD = [b"r0" * 30, b"r1" * 30, None, b"r2" * 30]
VALID = encode(GOOD)  # four objects; the damage starts right after them
DAMAGED = VALID + record(b"xyz" * 10, trailer=31) + encode([b"after", None])
"""Good objects, then a record whose length words differ, then data worth recovering."""


def damaged_image(tmp_path: Path) -> Path:
    image = tmp_path / "d.tap"
    image.write_bytes(DAMAGED)
    return image


def eod_bit(drive: VirtualTapeDrive) -> bool:
    return bool(drive.status().gstat & GeneralStatus.EOD)


MOTIONS: dict[str, Callable[[VirtualTapeDrive], object]] = {
    "fsf": lambda d: d.ioctl(MtOp.MTFSF, 5),
    "fsr": lambda d: (d.ioctl(MtOp.MTFSF, 1), d.ioctl(MtOp.MTFSR, 5)),
    "eom": lambda d: d.ioctl(MtOp.MTEOM, 1),
    "seek": lambda d: d.ioctl(MtOp.MTSEEK, 100),
    "read": lambda d: [d.readinto(memoryview(bytearray(1000))) for _ in range(6)],
}


@pytest.mark.parametrize("motion", list(MOTIONS))
def test_motions_that_reach_damage_fail_with_eio_and_no_eod(tmp_path: Path, motion: str) -> None:
    image = damaged_image(tmp_path)
    drive = open_tape_image(str(image), OpenOptions())
    try:
        with pytest.raises(OSError) as caught:
            MOTIONS[motion](drive)
        assert caught.value.errno == errno.EIO
        assert f"offset {len(VALID)}" in str(caught.value), caught.value
        assert drive.tell() == len(GOOD)  # stopped where the damage begins
        assert not eod_bit(drive)
    finally:
        drive.close()
    assert image.read_bytes() == DAMAGED


def test_the_same_motions_on_the_clean_part_report_eod(tmp_path: Path) -> None:
    image = tmp_path / "c.tap"
    image.write_bytes(VALID)
    drive = open_tape_image(str(image), OpenOptions())
    try:
        with pytest.raises(OSError) as caught:
            drive.ioctl(MtOp.MTFSF, 5)
        assert caught.value.errno == errno.EIO
        assert eod_bit(drive)
    finally:
        drive.close()


WRITES: dict[str, Callable[[VirtualTapeDrive], object]] = {
    "write": lambda d: d.write(b"new record"),
    "weof": lambda d: d.ioctl(MtOp.MTWEOF, 1),
    "erase": lambda d: d.ioctl(MtOp.MTERASE, 1),
}


@pytest.mark.parametrize("what", list(WRITES))
def test_writes_at_the_damage_are_refused_naming_the_offset(tmp_path: Path, what: str) -> None:
    image = damaged_image(tmp_path)
    drive = open_tape_image(str(image), OpenOptions(write=True))
    try:
        with pytest.raises(OSError):
            drive.ioctl(MtOp.MTEOM, 1)
        with pytest.raises(OSError) as caught:
            WRITES[what](drive)
        assert caught.value.errno == errno.EIO
        assert f"offset {len(VALID)}" in str(caught.value), caught.value
    finally:
        drive.close()
    assert image.read_bytes() == DAMAGED


@pytest.mark.parametrize("what", list(WRITES))
def test_writes_before_the_damage_overwrite_as_on_a_tape(tmp_path: Path, what: str) -> None:
    image = damaged_image(tmp_path)
    drive = open_tape_image(str(image), OpenOptions(write=True))
    try:
        drive.ioctl(MtOp.MTFSF, 1)  # object 3, before the damage at object 4
        WRITES[what](drive)
    finally:
        drive.close()
    expected = {
        "write": [*GOOD[:3], b"new record", None],  # close writes the filemark
        "weof": [*GOOD[:3], None],
        "erase": GOOD[:3],
    }[what]
    assert image.read_bytes() == encode(expected)


def test_vmt_erase_at_the_damage_is_refused(tmp_path: Path) -> None:
    damaged_image(tmp_path)
    assert vmt(tmp_path, "-f", "d.tap", "eod").returncode == 1
    done = vmt(tmp_path, "-f", "d.tap", "erase")
    assert done.returncode == 1
    assert f"offset {len(VALID)}" in done.stderr.splitlines()[-1]
    assert (tmp_path / "d.tap").read_bytes() == DAMAGED


# -- torn tails ------------------------------------------------------------------------------


TORN = VALID + word(500) + b"half a record"


def cut_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "cutting the image" in r.getMessage()]


def test_our_torn_tail_is_kept_by_read_only_opens_and_cut_by_a_write_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    image = tmp_path / "t.tap"
    image.write_bytes(TORN)
    crash_mark(image, len(VALID))  # our writer crashed
    caplog.set_level(logging.INFO)
    for args in (("ls", "t.tap"), ("-f", "t.tap", "eod"), ("-f", "t.tap", "status")):
        vmt(tmp_path, *args)
        assert image.read_bytes() == TORN, args
    assert StateFile(str(image)).load().writing_since == len(VALID)  # the mark survives
    drive = open_tape_image(str(image), OpenOptions(write=True))
    drive.close()
    assert image.read_bytes() == VALID
    assert cut_lines(caplog) == [
        f"{image}: record at offset {len(VALID)} runs past the end (a write of ours cut "
        f"short); cutting the image to {len(VALID)} bytes"
    ]
    assert StateFile(str(image)).load().writing_since is None


@pytest.mark.parametrize("since", [None, len(VALID) + 4], ids=["no-mark", "mark-after-it"])
def test_a_torn_tail_not_of_ours_is_damage_never_cut(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, since: int | None
) -> None:
    image = tmp_path / "t.tap"
    image.write_bytes(TORN)
    if since is not None:
        crash_mark(image, since)
    caplog.set_level(logging.INFO)
    drive = open_tape_image(str(image), OpenOptions(write=True))
    try:
        with pytest.raises(OSError) as caught:
            drive.ioctl(MtOp.MTEOM, 1)
        assert caught.value.errno == errno.EIO and not eod_bit(drive)
        with pytest.raises(OSError):
            drive.write(b"more")
    finally:
        drive.close()
    assert image.read_bytes() == TORN
    assert cut_lines(caplog) == []


# -- side files ------------------------------------------------------------------------------


@pytest.mark.parametrize("write", [False, True], ids=["reader", "writer"])
def test_side_files_of_an_image_renamed_away_are_dropped(tmp_path: Path, write: bool) -> None:
    image, moved = tmp_path / "img.tap", tmp_path / "moved.tap"
    image.write_bytes(VALID)
    drive = open_tape_image(str(image), OpenOptions(write=write))
    os.rename(image, moved)
    if write:
        drive.ioctl(MtOp.MTEOM, 1)
        drive.write(b"while moved")
    drive.close()
    assert not Path(f"{image}{STATE_SUFFIX}").exists()
    assert not Path(f"{image}{INDEX_SUFFIX}").exists()
    assert not image.exists()
    if write:
        assert moved.read_bytes() == encode([*GOOD, b"while moved", None])


def test_replace_under_a_reader_leaves_no_side_files_for_the_replacement(tmp_path: Path) -> None:
    image, other = tmp_path / "img.tap", tmp_path / "other.tap"
    image.write_bytes(VALID)
    other.write_bytes(encode([b"other", None, b"second", None]))
    drive = open_tape_image(str(image), OpenOptions())
    drive.ioctl(MtOp.MTFSF, 1)
    os.rename(other, image)
    drive.close()
    saved = StateFile(str(image)).load()
    assert saved.drive.position == 0 and saved.identity is None
    assert not Path(f"{image}{INDEX_SUFFIX}").exists()


# -- over RMT, with real tar ---------------------------------------------------------------


@pytest.mark.e2e
def test_tar_through_rmtd_fails_on_a_damaged_archive(tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    archive = make_tar(tmp_path, "big.tar", size=30000)  # 40,960 bytes: four records
    assert vmt(served, "write", "img.tap", str(archive)).returncode == 0
    with (served / "img.tap").open("r+b") as f:
        f.seek(10248)  # the second record's length word
        f.write(b"\xde\xad\xbe\xef")
    damaged = (served / "img.tap").read_bytes()
    for spec in ("localhost:img.tap", "localhost:img.tap/nostream"):
        done = tar_remote(tmp_path, rmtd_command(served), "-xf", spec, "-C", str(tmp_path))
        assert done.returncode != 0, spec
        assert "Input/output error" in done.stderr, done.stderr
    assert (served / "img.tap").read_bytes() == damaged
    spec = "localhost:img.tap/nomount/norewind"
    assert vmt_remote(tmp_path, rmtd_command(served), spec, "eod").returncode == 1
    status = vmt_remote(tmp_path, rmtd_command(served), spec, "status")
    assert status.returncode == 0, status.stderr
    assert "EOD" not in status.stdout.splitlines()[-1].split(), status.stdout
