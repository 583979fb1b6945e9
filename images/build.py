"""Build the sample images in this folder, byte for byte the same on every run.

Run: ``python -m images.build [DIR]`` (default: this folder). The images are written through
the project's own drive, so they are also a check that it writes what simh reads.

* ``vec.tap``: the test vector (``tests/vectors/vec.tap``): "HELLO", "ABCD", filemark, "XYZ",
  filemark, filemark.
* ``sample.tap``: file 0 is a tar archive (10240-byte records) of three small text files,
  file 1 the same text as 512-byte records, file 2 one 80-byte label-like record; then
  end of data after the third filemark.
"""

from __future__ import annotations

import io
import os
import sys
import tarfile
from collections.abc import Iterable

from devices.formats.index import INDEX_SUFFIX
from devices.interface import MtOp, OpenOptions
from devices.state import STATE_SUFFIX, VolumeInfo
from devices.vtape import create_tape_image, open_tape_image

TEXTS = {
    "README": b"A sample tape for rmtd: three text files archived with tar.\n",
    "poem.txt": b"".join(f"line {n}: the tape goes round and round\n".encode() for n in range(200)),
    "numbers.txt": b"".join(f"{n:08d}\n".encode() for n in range(1000)),
}
EPOCH = 946684800  # 2000-01-01: a fixed mtime keeps the archive reproducible


def tar_archive() -> bytes:
    """A ustar archive of :data:`TEXTS` with fixed owners and times, padded to 10240 bytes."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in TEXTS.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), EPOCH, 0o644
            info.uname = info.gname = "rmtd"
            archive.addfile(info, io.BytesIO(data))
    data = out.getvalue()
    return data + bytes(-len(data) % 10240)


def records(data: bytes, size: int) -> list[bytes]:
    """Cut ``data`` into records of ``size`` bytes (the last may be shorter)."""
    return [data[i : i + size] for i in range(0, len(data), size)]


def write_image(path: str, files: Iterable[Iterable[bytes]], trailing_marks: int = 0) -> None:
    """Create ``path`` holding ``files`` (each a list of records, closed by a filemark)."""
    create_tape_image(path, VolumeInfo(), exist_ok=True)
    drive = open_tape_image(path, OpenOptions(write=True))
    try:
        for file in files:
            for record in file:
                drive.write(record)
            drive.ioctl(MtOp.MTWEOF, 1)
        if trailing_marks:
            drive.ioctl(MtOp.MTWEOF, trailing_marks)
    finally:
        drive.close()
    for suffix in (STATE_SUFFIX, INDEX_SUFFIX):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)


def build(folder: str) -> list[str]:
    """Write every sample image into ``folder``; return their paths."""
    text = b"".join(TEXTS.values())
    label = b"VOL1RMTD01".ljust(80, b" ")
    vec = os.path.join(folder, "vec.tap")
    sample = os.path.join(folder, "sample.tap")
    write_image(vec, [[b"HELLO", b"ABCD"], [b"XYZ"]], trailing_marks=1)
    write_image(sample, [records(tar_archive(), 10240), records(text, 512), [label]])
    return [vec, sample]


def main() -> None:
    """Build into the folder given, or this one."""
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    for path in build(folder):
        print(f"{path}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
