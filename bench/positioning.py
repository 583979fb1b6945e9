"""Benchmark: index scan rate and positioning time on a generated 1,000,000-record image.

Run: ``python -m bench.positioning [--records N]``. Prints the rate at which a fresh image is
scanned (records per second) and how long fsf, bsf, eom, seek and tell take once the image has
been indexed, each on a new open, as ``vmt`` and the RMT server open a drive per command.
"""

from __future__ import annotations

import argparse
import os
import struct
import tempfile
import time
import zlib

from devices.formats.index import INDEX_SUFFIX
from devices.interface import MtOp, OpenOptions
from devices.vtape import open_tape_image

RECORD = 16
PER_FILE = 1000


FORMATS = ("tap", "aws", "het")
"""Image suffixes :func:`make_image` writes."""


def make_image(path: str, records: int, fmt: str = "tap") -> None:
    """Write ``records`` records of 16 bytes, a filemark after every 1000, straight to disk.

    ``fmt`` is the image format by suffix: SIMH (``tap``), AWS (one chunk a record, the
    6-byte header of Hercules' awstape.c), or HET (the same headers, each record's block
    compressed with zlib, as Hercules' hetlib writes zeros).
    """
    if fmt == "tap":
        word = struct.pack("<I", RECORD)
        record, mark, after_mark = word + bytes(RECORD) + word, bytes(4), b""
    else:
        data, bits = (bytes(RECORD), 0) if fmt == "aws" else (zlib.compress(bytes(RECORD), 4), 1)
        header = struct.Struct("<HHBB")
        record = header.pack(len(data), len(data), 0xA0 | bits, 0) + data
        mark = header.pack(0, len(data), 0x40, 0)
        # The first record of a file follows a tapemark: its previous length is 0.
        after_mark = header.pack(len(data), 0, 0xA0 | bits, 0) + data
    first = after_mark or record
    chunk = first + record * (PER_FILE - 1) + mark
    with open(path, "wb") as out:
        for _ in range(records // PER_FILE):
            out.write(chunk)
        if records % PER_FILE:
            out.write(first + record * (records % PER_FILE - 1))


def _open_time(path: str) -> float:
    """Seconds to open ``path`` with no saved index: the scan. Saves the index."""
    if os.path.exists(path + INDEX_SUFFIX):
        os.unlink(path + INDEX_SUFFIX)
    start = time.perf_counter()
    drive = open_tape_image(path, OpenOptions())
    elapsed = time.perf_counter() - start
    drive.close()  # saves the index
    return elapsed


def operations(records: int) -> list[tuple[str, MtOp, int]]:
    """The operations measured, in order (each starts where the one before left the tape)."""
    files = records // PER_FILE
    target = records * 9 // 10
    # A seek counts filemarks as blocks (PER_FILE records and a mark per file): space forward
    # only as far as the records left in the file the seek lands in.
    room = PER_FILE - target % (PER_FILE + 1)
    return [
        ("rewind", MtOp.MTREW, 0),
        (f"fsf {files // 2}", MtOp.MTFSF, files // 2),
        ("eom", MtOp.MTEOM, 0),
        (f"bsf {files * 3 // 10}", MtOp.MTBSF, files * 3 // 10),
        (f"seek {target}", MtOp.MTSEEK, target),
        (f"fsr {min(99, room)}", MtOp.MTFSR, min(99, room)),
    ]


def timed_operation(path: str, op: MtOp, count: int, scan: bool = False) -> float:
    """Milliseconds for open + ``op`` + close; with ``scan``, the saved index is deleted first."""
    if scan and os.path.exists(path + INDEX_SUFFIX):
        os.unlink(path + INDEX_SUFFIX)
    start = time.perf_counter()
    drive = open_tape_image(path, OpenOptions())
    drive.ioctl(op, count)
    drive.close()
    return (time.perf_counter() - start) * 1000


def positioning(path: str, records: int) -> dict[str, float]:
    """Milliseconds for open + operation + close, with the index already saved."""
    results: dict[str, float] = {}
    for name, op, count in operations(records):
        results[name] = timed_operation(path, op, count)
    start = time.perf_counter()
    drive = open_tape_image(path, OpenOptions())
    drive.tell()
    drive.close()
    results["tell"] = (time.perf_counter() - start) * 1000
    return results


def main() -> None:
    """Generate the image, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.tap")
        make_image(path, args.records)
        size = os.path.getsize(path)
        print(f"image: {args.records:,} records, {size / 1e6:.1f} MB")
        best = min(_open_time(path) for _ in range(args.repeats))
        print(
            f"scan (open, no saved index): {best * 1000:8.1f} ms   "
            f"{args.records / best / 1e6:6.2f} M records/s"
        )
        start = time.perf_counter()
        drive = open_tape_image(path, OpenOptions())
        drive.close()
        print(f"open with saved index:       {(time.perf_counter() - start) * 1000:8.1f} ms")
        for name, ms in positioning(path, args.records).items():
            print(f"open + {name:<12} + close:  {ms:8.1f} ms")


if __name__ == "__main__":
    main()
