"""What the drive tests share: a blank image, an errno catcher, a read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from devices.drive import VirtualTapeDrive
from devices.state import VolumeInfo
from devices.vtape import create_tape_image


def new_tape(tmp_path: Path, volume: VolumeInfo | None = None) -> str:
    """A blank image ``t.tap`` in ``tmp_path`` (with ``volume``'s properties)."""
    path = str(tmp_path / "t.tap")
    create_tape_image(path, volume or VolumeInfo())
    return path


def errno_of(call: Callable[[], object]) -> int | None:
    """Run ``call``; return the errno it failed with, or None."""
    try:
        call()
    except OSError as exc:
        return exc.errno
    return None


def read(drive: VirtualTapeDrive, count: int = 256) -> bytes:
    """One read of up to ``count`` bytes."""
    buf = bytearray(count)
    return bytes(buf[: drive.readinto(memoryview(buf))])
