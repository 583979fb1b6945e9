"""What the AWS and HET tests share: writing and reading through the drive, Hercules' maps."""

from __future__ import annotations

import errno
import re
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from click.testing import CliRunner, Result
from hypothesis import strategies as st

from devices.interface import MtOp, ObjectKind, OpenOptions
from devices.state import VolumeInfo
from devices.vtape import create_tape_image, open_tape_image
from rmtd.vmt import main
from tests.chunk_codec import Obj

BIG = 2 << 20


SIZES = st.one_of(
    st.integers(1, 300),
    st.integers(1, 300),
    st.integers(1, 300),
    st.sampled_from([65534, 65535, 65536, 131070, 131071, 200000, 2 * 1024 * 1024]),
    st.integers(1, 2 * 1024 * 1024),
)
OBJECTS = st.lists(
    st.one_of(
        st.none(),
        st.builds(lambda n, b: bytes([b]) * (n - 1) + bytes([n & 255]), SIZES, st.integers(0, 255)),
    ),
    max_size=12,
)
"""Random tapes: records from 1 byte to 2 MiB (mostly small) and filemarks."""

SMALL = st.lists(
    st.one_of(
        st.none(),
        st.builds(
            lambda n, b: bytes([b]) * n,
            st.one_of(st.integers(1, 5000), st.sampled_from([65534, 65535])),
            st.integers(0, 255),
        ),
    ),
    max_size=10,
).map(lambda objs: [*objs, None])
"""Tapes Hercules 3.13 can map: records of up to 65,535 bytes, ending with a filemark."""

SOURCE: list[Obj] = [
    b"VOL1" + b" " * 76,
    None,
    bytes(range(256)) * 100,
    b"text " * 3000,
    bytes(7),
    None,
    b"q" * 65535,
    None,
    None,
]
"""A labelled tape of three files for Hercules' tools to convert."""


def new_image(directory: Path, name: str) -> Path:
    """A blank image ``name`` in ``directory``."""
    path = directory / name
    create_tape_image(str(path), VolumeInfo())
    return path


def write_objects(path: Path, objects: Sequence[Obj]) -> None:
    """Write ``objects`` from where the drive is (BOT of a new image) and close."""
    drive = open_tape_image(str(path), OpenOptions(write=True))
    for obj in objects:
        if obj is None:
            drive.ioctl(MtOp.MTWEOF, 1)
        else:
            assert drive.write(obj) == len(obj)
    drive.close()


def read_objects(path: Path) -> list[Obj]:
    """Every object of the image, read through the drive from BOT to the end of data."""
    drive = open_tape_image(str(path), OpenOptions())
    buf = bytearray(BIG)
    out: list[Obj] = []
    try:
        drive.ioctl(MtOp.MTREW, 1)
        while drive.next_object().kind is not ObjectKind.END_OF_DATA:
            got = drive.readinto(memoryview(buf))
            out.append(bytes(buf[:got]) if got else None)
    finally:
        drive.ioctl(MtOp.MTREW, 1)
        drive.close()
    return out


def read_until_error(path: Path) -> tuple[list[Obj], int]:
    """Read from BOT until a read fails; the objects read and the errno."""
    drive = open_tape_image(str(path), OpenOptions())
    buf = bytearray(BIG)
    out: list[Obj] = []
    try:
        drive.ioctl(MtOp.MTREW, 1)
        for _ in range(1000):
            try:
                got = drive.readinto(memoryview(buf))
            except OSError as exc:
                return out, exc.errno or 0
            out.append(bytes(buf[:got]) if got else None)
    finally:
        drive.close()
    raise AssertionError("no read failed")


def round_trip(name: str, objects: list[Obj], codec: Callable[[bytes], list[Obj]]) -> None:
    """Write through the drive, read back through a fresh drive (and a rescan)."""
    with tempfile.TemporaryDirectory() as directory:
        path = new_image(Path(directory), name)
        write_objects(path, objects)
        expected = [*objects, None] if objects and objects[-1] is not None else objects
        assert read_objects(path) == expected
        assert codec(path.read_bytes()) == expected
        Path(str(path) + ".rmtd-index").unlink()
        assert read_objects(path) == expected  # from a scan of the bytes


def vmt(*args: str) -> Result:
    """Run ``vmt`` in-process."""
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def files_of(objects: Sequence[Obj]) -> list[list[int]]:
    """Record lengths per tape file: each filemark ends one."""
    files: list[list[int]] = []
    current: list[int] = []
    for obj in objects:
        if obj is None:
            files.append(current)
            current = []
        else:
            current.append(len(obj))
    assert not current, "the image must end with a filemark"
    return files


_MAP_LINE = re.compile(r"File (\d+): Blocks=(\d+), block size min=(\d+), max=(\d+)")


def hercules_map(*command: str) -> list[tuple[int, int, int]]:
    """(blocks, min, max) per file as ``hetmap -t`` or ``tapemap`` prints them."""
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)
    assert "End of tape." in done.stdout, done.stdout + done.stderr
    return [(int(m[2]), int(m[3]), int(m[4])) for m in _MAP_LINE.finditer(done.stdout)]


def summary(files: list[list[int]]) -> list[tuple[int, int, int]]:
    """What Hercules' maps print for these files."""
    return [(len(f), min(f, default=0), max(f, default=0)) for f in files]


def eio() -> int:
    """The errno a damaged read gives."""
    return errno.EIO
