"""``VirtualTapeDrive.next_object``: what a read would meet, without moving the tape."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from devices.interface import MtOp, NextObject, ObjectKind, OpenOptions
from devices.state import VolumeInfo
from devices.vtape import create_tape_image, open_tape_image


def test_records_marks_and_the_end_of_data(tmp_path: Path) -> None:
    path = str(tmp_path / "t.tap")
    create_tape_image(path, VolumeInfo())
    drive = open_tape_image(path, OpenOptions(write=True))
    assert drive.next_object() == NextObject(ObjectKind.END_OF_DATA)
    drive.write(b"HELLO")
    drive.ioctl(MtOp.MTWEOF, 1)
    drive.ioctl(MtOp.MTREW, 1)
    assert drive.next_object() == NextObject(ObjectKind.RECORD, 5)
    assert drive.next_object() == NextObject(ObjectKind.RECORD, 5)  # nothing moved
    drive.ioctl(MtOp.MTFSR, 1)
    assert drive.next_object() == NextObject(ObjectKind.FILEMARK)
    drive.ioctl(MtOp.MTFSF, 1)
    assert drive.next_object() == NextObject(ObjectKind.END_OF_DATA)
    assert drive.block_size == 0
    drive.ioctl(MtOp.MTSETBLK, 512)
    assert drive.block_size == 512
    drive.close()


def test_a_bad_record_is_told_apart(vector: Callable[[str], str]) -> None:
    drive = open_tape_image(vector("bad.tap"), OpenOptions())  # a class-8 record of 3 bytes
    assert drive.next_object() == NextObject(ObjectKind.BAD_RECORD, 3)
    drive.close()
