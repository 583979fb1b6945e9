"""Plain files and CD-ROM images: the two-step write of the device protocol."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from devices.cdrom import SECTOR, CdRom
from devices.interface import TapeDevice
from devices.plainfile import PlainFile


def test_plain_file_writes_through_the_staged_buffer(tmp_path: Path) -> None:
    path = tmp_path / "f"
    device: TapeDevice = PlainFile(str(path), os.O_WRONLY | os.O_CREAT, name="f")
    for data in (b"hello ", b"you"):
        view = device.write_buffer(len(data))
        view[:] = data
        assert device.commit_write(len(data)) == len(data)
    device.close()
    assert path.read_bytes() == b"hello you"


def test_read_only_plain_file_refuses_before_allocating(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"inside")
    device = PlainFile(str(path), os.O_RDONLY, name="f")
    for attempt in (lambda: device.write_buffer(4), lambda: device.write(b"data")):
        with pytest.raises(OSError) as caught:
            attempt()
        assert caught.value.errno == errno.EBADF
        assert caught.value.strerror == "f: not opened for writing"
    assert device._staged is None
    device.close()
    assert path.read_bytes() == b"inside"


def test_cdrom_refuses_writes_before_allocating(tmp_path: Path) -> None:
    path = tmp_path / "disc.iso"
    path.write_bytes(bytes(SECTOR))
    device = CdRom(str(path), name="disc.iso")
    for attempt in (lambda: device.write_buffer(SECTOR), lambda: device.write(b"x")):
        with pytest.raises(OSError) as caught:
            attempt()
        assert caught.value.errno == errno.EBADF
        assert caught.value.strerror == "disc.iso: a CD-ROM is read-only"
    assert device._staged is None
    device.close()
