"""What the fuzzing of the readers found, one test each."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from devices.drive import VirtualTapeDrive
from devices.health import verify
from devices.interface import OpenOptions
from devices.kinds import DeviceKind, describe_content, describe_fd
from devices.state import StateFile
from devices.stream import StreamingTape
from devices.vtape import open_tape_image
from rmtd.status import pack_mtget
from tests.fuzz.readers import FORMATS, check_index, checked_storage, exercise
from tests.simh_codec import encode


@pytest.mark.parametrize("first", [32768, 40000, 65536, 1 << 20])
def test_an_image_whose_first_record_outgrows_the_sniffed_head_is_described_as_one(
    tmp_path: Path, first: int
) -> None:
    # describe_* probed only the first 32,774 bytes, so the trailing length word of a longer
    # first record was not found and a valid image was "data of an unknown format".
    path = tmp_path / "big.tap"
    path.write_bytes(encode([b"x" * first, None, b"y"]))
    assert describe_content(str(path)) == DeviceKind.SIMH.value
    with path.open("rb") as f:
        assert describe_fd(f.fileno()) == DeviceKind.SIMH.value
    exercise(path.read_bytes(), FORMATS[0], tmp_path)


def saved_image(tmp_path: Path) -> Path:
    """A clean image opened and closed once: its state and index are saved beside it."""
    image = tmp_path / "vol.tap"
    image.write_bytes(encode([b"a" * 10, b"b" * 20, b"c" * 30, None, b"d" * 5]))
    open_tape_image(str(image), OpenOptions()).close()
    assert Path(f"{image}.rmtd-index").exists()
    return image


def read(drive: VirtualTapeDrive, count: int) -> bytes:
    buffer = bytearray(count)
    return bytes(buffer[: drive.readinto(memoryview(buffer))])


def read_all(image: Path) -> list[bytes]:
    drive = open_tape_image(str(image), OpenOptions())
    try:
        check_index(drive.image.index, FORMATS[0].fmt, image.stat().st_size)
        return [read(drive, 100) for _ in range(5)]
    finally:
        drive.close()


def test_a_saved_index_with_a_damaged_body_is_not_trusted(tmp_path: Path) -> None:
    # The index was trusted on the image's identity alone: a damaged entry read 30 bytes at
    # 1 MiB in a 100-byte image, and a length of 2**40 was taken for a record's.
    image = saved_image(tmp_path)
    index = Path(f"{image}.rmtd-index")
    raw = bytearray(index.read_bytes())
    body = len(raw) - 8 * (2 * 5 + 1)  # offsets, lengths (5 objects each), marks (1)
    struct.pack_into("<q", raw, body + 8 * 2, 1 << 20)  # object 2's offset
    struct.pack_into("<q", raw, body + 8 * 5 + 8, 1 << 40)  # object 1's length
    index.write_bytes(raw)
    report = verify(str(image))
    assert any(f.level == "stale" and f.subject == str(index) for f in report.findings)
    with checked_storage(1 << 24):
        assert read_all(image) == [b"a" * 10, b"b" * 20, b"c" * 30, b"", b"d" * 5]


@pytest.mark.parametrize(
    ("part", "name", "value"),
    [
        ("drive", "position", -5),  # was IndexError on the first read
        ("drive", "block_size", 1 << 40),  # was a 1 TiB bytearray at a /STREAM filemark
        ("drive", "block_size", -1),
        ("drive", "fileno", 1 << 40),  # was an error packing struct mtget for rmtd
        ("drive", "blkno", -7),
        ("volume", "density", 1 << 40),
        ("volume", "capacity", -1),
    ],
)
def test_a_state_holding_impossible_numbers_is_not_trusted(
    tmp_path: Path, part: str, name: str, value: int
) -> None:
    image = saved_image(tmp_path)
    state_path = Path(f"{image}.rmtd")
    state = json.loads(state_path.read_text())
    state[part][name] = value
    state_path.write_text(json.dumps(state))
    loaded = StateFile(str(image)).load()
    assert loaded.unreadable and name in loaded.unreadable
    assert loaded.volume.write_protected  # fail closed, as for any unreadable state
    with checked_storage(1 << 24):
        drive = open_tape_image(str(image), OpenOptions())
        try:
            pack_mtget(drive.status())
            assert read(drive, 100) == b"a" * 10
            assert StreamingTape(drive).readinto(memoryview(bytearray(7))) == 7
        finally:
            drive.close()
    report = verify(str(image))
    assert not report.clean
    assert any(f.level == "damage" and "out of range" in f.message for f in report.findings)


def test_a_write_mark_beyond_the_file_reads_nothing_outside_it(tmp_path: Path) -> None:
    # pending_write fingerprinted the 4 KiB before a mark of 2**31: a read far past the end.
    image = saved_image(tmp_path)
    state_path = Path(f"{image}.rmtd")
    state = json.loads(state_path.read_text())
    state["writing_since"] = 1 << 31
    state_path.write_text(json.dumps(state))
    before = image.read_bytes()
    with checked_storage(1 << 24):
        assert read_all(image)[0] == b"a" * 10
        open_tape_image(str(image), OpenOptions(write=True)).close()
    assert image.read_bytes() == before
