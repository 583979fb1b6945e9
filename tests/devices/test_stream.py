"""/STREAM reads: a byte stream within a tape file, never crossing a filemark."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.interface import MtOp, OpenOptions
from devices.state import VolumeInfo
from devices.stream import StreamingTape
from devices.vtape import create_tape_image, open_tape_image


def make(tmp_path: Path) -> str:
    path = str(tmp_path / "s.tap")
    create_tape_image(path, VolumeInfo())
    drive = open_tape_image(path, OpenOptions(write=True))
    for record in (b"HELLO", b"ABCD"):
        drive.write(record)
    drive.ioctl(MtOp.MTWEOF, 1)
    drive.write(b"XYZ")
    drive.ioctl(MtOp.MTWEOF, 2)
    drive.close()
    return path


def reads(tape: StreamingTape, count: int, times: int) -> list[bytes]:
    out = []
    for _ in range(times):
        buffer = memoryview(bytearray(count))
        out.append(bytes(buffer[: tape.readinto(buffer)]))
    return out


def test_small_counts_stream_across_records_but_not_filemarks(tmp_path: Path) -> None:
    tape = StreamingTape(open_tape_image(make(tmp_path), OpenOptions()))
    tape.ioctl(MtOp.MTREW, 1)
    assert reads(tape, 3, 6) == [b"HEL", b"LOA", b"BCD", b"", b"XYZ", b""]
    tape.close()


def test_large_counts_gather_whole_file(tmp_path: Path) -> None:
    tape = StreamingTape(open_tape_image(make(tmp_path), OpenOptions()))
    tape.ioctl(MtOp.MTREW, 1)
    # the second filemark, the empty file it closes, then st's 0 at end of data
    assert reads(tape, 100, 6) == [b"HELLOABCD", b"", b"XYZ", b"", b"", b""]
    with pytest.raises(OSError) as caught:
        reads(tape, 100, 1)
    assert caught.value.errno == 5
    tape.close()


def test_a_tape_operation_drops_the_kept_tail(tmp_path: Path) -> None:
    tape = StreamingTape(open_tape_image(make(tmp_path), OpenOptions()))
    tape.ioctl(MtOp.MTREW, 1)
    assert reads(tape, 2, 1) == [b"HE"]
    tape.ioctl(MtOp.MTBSR, 1)
    assert reads(tape, 5, 1) == [b"HELLO"]
    tape.close()


def test_operations_that_do_not_move_keep_the_tail(tmp_path: Path) -> None:
    tape = StreamingTape(open_tape_image(make(tmp_path), OpenOptions()))
    tape.ioctl(MtOp.MTREW, 1)
    assert reads(tape, 3, 1) == [b"HEL"]
    tape.ioctl(MtOp.MTNOP, 1)
    tape.status()
    assert reads(tape, 3, 1) == [b"LOA"]
    tape.close()


def test_any_count_in_fixed_block_mode(tmp_path: Path) -> None:
    path = str(tmp_path / "f.tap")
    create_tape_image(path, VolumeInfo())
    drive = open_tape_image(path, OpenOptions(write=True))
    drive.ioctl(MtOp.MTSETBLK, 512)
    drive.write(bytes(range(256)) * 6)  # three 512-byte blocks
    drive.ioctl(MtOp.MTREW, 1)
    tape = StreamingTape(drive)
    got = b"".join(reads(tape, 100, 1) + reads(tape, 1000, 1) + reads(tape, 1000, 2))
    assert got == bytes(range(256)) * 6
    tape.close()
