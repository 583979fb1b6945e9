"""A read-only open never changes an image, however damaged; only a write open cuts a torn tail."""

from __future__ import annotations

import errno
import os
import random
from pathlib import Path

import pytest

from devices.interface import MtOp, OpenOptions
from devices.vtape import open_tape_image
from tests.crashes import crash_mark
from tests.simh_codec import word

VECTORS = Path(__file__).parent.parent / "vectors"


def read_all(path: str, options: OpenOptions) -> list[bytes | int]:
    try:
        drive = open_tape_image(path, options)
    except OSError as exc:
        return [exc.errno or 0]
    drive.ioctl(MtOp.MTREW, 1)
    out: list[bytes | int] = []
    buffer = memoryview(bytearray(1 << 16))
    try:
        for _ in range(8):
            try:
                out.append(bytes(buffer[: drive.readinto(buffer)]))
            except OSError as exc:
                out.append(exc.errno or 0)
                break
    finally:
        drive.close()
    return out


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes_opened_read_only_stay_intact(tmp_path: Path, seed: int) -> None:
    data = random.Random(seed).randbytes(10240)
    path = tmp_path / "r.tap"
    path.write_bytes(data)
    assert read_all(str(path), OpenOptions())[-1] in (errno.EIO, errno.EMEDIUMTYPE)
    assert read_all(str(path), OpenOptions(write=True))[-1] in (errno.EIO, errno.EMEDIUMTYPE)
    assert path.read_bytes() == data


def test_torn_tail_is_kept_by_a_read_only_open_and_cut_by_a_write_open(tmp_path: Path) -> None:
    path = tmp_path / "t.tap"
    torn = (VECTORS / "trunc.tap").read_bytes()
    path.write_bytes(torn)
    assert read_all(str(path), OpenOptions(write=True)) == [b"HELLO", errno.EIO]
    assert path.read_bytes() == torn  # no write of ours was cut short: damage, kept
    crash_mark(path, 0)  # as an open for writing that a crash ended leaves it
    assert read_all(str(path), OpenOptions()) == [b"HELLO", errno.EIO]
    assert path.read_bytes() == torn
    assert read_all(str(path), OpenOptions(write=True)) == [b"HELLO", errno.EIO]
    assert os.path.getsize(path) == 14  # the whole record: the torn one is cut


def test_a_huge_first_length_in_garbage_is_not_taken_for_a_torn_write(tmp_path: Path) -> None:
    path = tmp_path / "g.tap"
    garbage = word(0x0F000000, cls=7) + bytes(100)  # class 7 "length": not ours, so damage
    path.write_bytes(garbage)
    read_all(str(path), OpenOptions(write=True))
    assert path.read_bytes() == garbage


def test_side_files_never_write_or_read_through_a_planted_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim"
    victim.write_text("precious\n")
    served = tmp_path / "served"
    served.mkdir()
    image = served / "v.tap"
    image.write_bytes((VECTORS / "vec.tap").read_bytes())
    for suffix in (".rmtd", ".rmtd-index"):
        (served / f"v.tap{suffix}").symlink_to(victim)
    assert read_all(str(image), OpenOptions(write=True))[:2] == [b"HELLO", b"ABCD"]
    assert victim.read_text() == "precious\n"
    for suffix in (".rmtd", ".rmtd-index"):
        side = served / f"v.tap{suffix}"
        assert side.is_file() and not side.is_symlink()
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
