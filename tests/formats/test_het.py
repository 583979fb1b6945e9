"""The HET ``.het`` format as the drive writes and reads it (Hercules ``hetlib.c``).

Blocks are compressed whole (zlib level 4 by default), then chunked, the method's bits on every
chunk; a block compression does not shrink is stored raw. Images are compared with hand-built
bytes, with :mod:`tests.chunk_codec`, and with Hercules' ``hetmap``, ``hetupd`` and ``hetinit``.
"""

from __future__ import annotations

import bz2
import errno
import random
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.formats.het import HetFormat
from devices.formats.image import TapeImage
from devices.formats.index import ObjectIndex
from devices.interface import MtOp, OpenOptions
from devices.storage import FileStorage
from devices.vtape import open_tape_image
from tests.chunk_codec import BOR, BZIP2, EOR, MARK, ZLIB, Obj, chunked, decode, encode, header
from tests.formats.chunk_helpers import (
    OBJECTS,
    SMALL,
    SOURCE,
    files_of,
    hercules_map,
    new_image,
    read_objects,
    read_until_error,
    round_trip,
    summary,
    vmt,
    write_objects,
)


def noise(n: int, seed: int = 1) -> bytes:
    """``n`` bytes that do not compress."""
    return random.Random(seed).randbytes(n)


def test_a_compressible_record_is_one_zlib_chunk_at_level_4(tmp_path: Path) -> None:
    path = new_image(tmp_path, "t.het")
    data = b"A" * 1000
    write_objects(path, [data, b"HELLO", None])
    packed = zlib.compress(data, 4)
    assert path.read_bytes() == (
        header(len(packed), 0, BOR | EOR | ZLIB)
        + packed
        + header(5, len(packed), BOR | EOR)  # compression does not shrink it: stored raw
        + b"HELLO"
        + header(0, 5, MARK)
    )


def test_a_large_block_is_compressed_then_chunked_with_the_bits_on_every_chunk(
    tmp_path: Path,
) -> None:
    path = new_image(tmp_path, "t.het")
    data = noise(150000) + bytes(150000)
    write_objects(path, [data])
    packed = zlib.compress(data, 4)
    assert 2 * 65535 < len(packed) < len(data)
    framed, last = chunked(packed, 0, bits=ZLIB)
    assert path.read_bytes() == framed + header(0, last, MARK)
    flags = [framed[0 * 65541 + 4], framed[1 * 65541 + 4], framed[2 * 65541 + 4]]
    assert flags == [BOR | ZLIB, ZLIB, EOR | ZLIB]
    assert read_objects(path) == [data, None]


def test_an_incompressible_large_block_is_stored_raw_in_chunks(tmp_path: Path) -> None:
    path = new_image(tmp_path, "t.het")
    data = noise(70000)
    write_objects(path, [data])
    assert path.read_bytes() == encode([data, None])  # raw: 65535 + 4465, no bits
    assert path.read_bytes()[4] == BOR


@pytest.mark.parametrize(
    ("method", "level"), [("zlib", 1), ("zlib", 9), ("bzip2", 1), ("bzip2", 9)]
)
def test_method_and_level_are_parameters_of_the_format(
    tmp_path: Path, method: str, level: int
) -> None:
    path = tmp_path / "t.het"
    data = (b"some text that compresses " * 500)[:10000]
    storage = FileStorage.open(str(path), writable=True, create=True)
    try:
        image = TapeImage(storage, HetFormat(method, level), ObjectIndex())
        image.append_record(data)
        image.append_filemark()
    finally:
        storage.close()
    bits = ZLIB if method == "zlib" else BZIP2
    packed = zlib.compress(data, level) if method == "zlib" else bz2.compress(data, level)
    assert path.read_bytes() == (
        header(len(packed), 0, BOR | EOR | bits) + packed + header(0, len(packed), MARK)
    )
    assert read_objects(path) == [data, None]


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="level"):
        HetFormat("zlib", 0)
    with pytest.raises(ValueError, match="compression"):
        HetFormat("lzma")


def test_bus_tech_zlib_is_read(tmp_path: Path) -> None:
    data = b"bus-tech " * 300
    packed = zlib.compress(data)
    path = tmp_path / "t.het"
    path.write_bytes(
        header(len(packed), 0, BOR | EOR, 0x80) + packed + header(0, len(packed), MARK)
    )
    assert read_objects(path) == [data, None]


def test_compressed_records_are_read_through_a_copy_never_an_extent(tmp_path: Path) -> None:
    path = tmp_path / "t.het"
    path.write_bytes(encode([b"z" * 5000, b"raw", None], method=ZLIB))
    storage = FileStorage.open(str(path), writable=False)
    try:
        index = ObjectIndex()
        fmt = HetFormat()
        assert fmt.scan(storage, index).problem is None
        assert [index.record_length(i) for i in range(2)] == [5000, 3]
        assert [fmt.data_offset(index, i) for i in range(2)] == [None, None]
    finally:
        storage.close()


def test_an_append_after_a_compressed_record_names_its_stored_chunk(tmp_path: Path) -> None:
    path = tmp_path / "t.het"
    first = b"f" * 4000
    path.write_bytes(encode([first, b"second", None], method=ZLIB))
    drive = open_tape_image(str(path), OpenOptions(write=True))
    drive.ioctl(MtOp.MTREW, 1)
    drive.ioctl(MtOp.MTFSR, 1)
    drive.write(b"third")
    drive.close()
    stored = len(zlib.compress(first, 4))
    assert path.read_bytes() == (
        encode([first], method=ZLIB) + header(5, stored, BOR | EOR) + b"third" + header(0, 5, MARK)
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OBJECTS)
def test_random_tapes_round_trip_through_the_drive(objects: list[Obj]) -> None:
    round_trip("t.het", objects, decode)


# -- damage -------------------------------------------------------------------------------

A, B, C = b"A" * 1000, b"B" * 3000, b"C" * 2000
PA, PB, PC = (zlib.compress(x, 4) for x in (A, B, C))
B_AT = 6 + len(PA)
HALF = len(PB) // 2
MARK_AT = B_AT + 12 + len(PB)
C_AT = MARK_AT + 6
GOOD = (
    header(len(PA), 0, BOR | EOR | ZLIB)
    + PA
    + header(HALF, len(PA), BOR | ZLIB)
    + PB[:HALF]  # B in two compressed chunks
    + header(len(PB) - HALF, HALF, EOR | ZLIB)
    + PB[HALF:]
    + header(0, len(PB) - HALF, MARK)
    + header(len(PC), 0, BOR | EOR | ZLIB)
    + PC
    + header(0, len(PC), MARK)
)


def patched(at: int, new: bytes) -> bytes:
    return GOOD[:at] + new + GOOD[at + len(new) :]


HUGE = zlib.compress(bytes(3 << 20))
DAMAGED = {
    "bad compressed data": (patched(C_AT + 6 + 5, b"\xff\x00\xff"), C_AT, [A, B, None]),
    "compressed data cut short": (GOOD[: C_AT + 10], C_AT, [A, B, None]),
    "bits differ between chunks": (patched(B_AT + 6 + HALF + 4, bytes([EOR])), B_AT, [A]),
    "an unknown method": (patched(C_AT + 4, bytes([BOR | EOR | 3])), C_AT, [A, B, None]),
    "bzip2 bits on zlib data": (patched(C_AT + 4, bytes([BOR | EOR | BZIP2])), C_AT, [A, B, None]),
    "more than 2 MiB once decompressed": (
        GOOD[:C_AT] + header(len(HUGE), 0, BOR | EOR | ZLIB) + HUGE,
        C_AT,
        [A, B, None],
    ),
    "previous length wrong": (patched(MARK_AT, header(0, 7, MARK)), MARK_AT, [A, B]),
}


def test_the_undamaged_image_reads_whole() -> None:
    assert decode(GOOD) == [A, B, None, C, None]


@pytest.mark.parametrize("how", list(DAMAGED))
def test_damage_gives_eio_where_it_starts_and_verify_names_the_offset(
    tmp_path: Path, how: str
) -> None:
    image, offset, readable = DAMAGED[how]
    path = tmp_path / "t.het"
    path.write_bytes(image)
    got, error = read_until_error(path)
    assert (got, error) == (readable, errno.EIO)
    result = vmt("verify", str(path))
    assert result.exit_code == 1, result.output
    assert f"at offset {offset}" in result.output.splitlines()[-1], result.output


# -- Hercules' own tools --------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(SMALL)
def test_hetmap_agrees_with_what_we_write(objects: list[Obj]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = new_image(Path(directory), "t.het")
        write_objects(path, objects)
        assert hercules_map("hetmap", "-t", str(path)) == summary(files_of(objects))


@pytest.mark.parametrize(
    "options",
    [["-z"], ["-z", "-1"], ["-z", "-9"], ["-b"], ["-b", "-9"], ["-s"], ["-z", "-c", "4096"]],
)
def test_we_read_what_hetupd_writes(tmp_path: Path, options: list[str]) -> None:
    source = new_image(tmp_path, "src.aws")
    write_objects(source, SOURCE)
    dest = tmp_path / "dest.het"
    subprocess.run(["hetupd", *options, str(source), str(dest)], check=True, capture_output=True)
    if "-s" not in options:
        assert any(b & 3 for b in dest.read_bytes()[4:5]), "hetupd did not compress"
    assert read_objects(dest) == SOURCE
    assert vmt("verify", str(dest)).exit_code == 0


def test_we_read_the_compressed_labels_hetinit_writes(tmp_path: Path) -> None:
    compressed, plain = tmp_path / "z.het", tmp_path / "plain.aws"
    subprocess.run(["hetinit", str(compressed), "VOL002"], check=True, capture_output=True)
    subprocess.run(["hetinit", "-d", str(plain), "VOL002"], check=True, capture_output=True)
    assert compressed.read_bytes()[4] & 3 == ZLIB
    objects = read_objects(compressed)
    assert objects == read_objects(plain)
    assert [len(o) if o else o for o in objects] == [80, 80, None]


def test_vmt_ls_counts_uncompressed_bytes(tmp_path: Path) -> None:
    path = tmp_path / "t.het"
    path.write_bytes(encode([b"a" * 5000, b"b" * 70000, None, None], method=ZLIB))
    result = vmt("ls", str(path))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        "File 0: records=2, bytes=75000, record size min=5000, max=70000, first object=0"
    )


CORRUPTIBLE = encode([b"label" * 16, None, bytes(range(256)) * 300, b"z" * 9000, None], 4096)
CORRUPTIBLE_HET = encode(
    [b"label" * 16, None, b"t" * 70000, noise(3000), b"z" * 9000, None], method=ZLIB
)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["t.aws", "t.het"]),
    st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=4),
    st.one_of(st.none(), st.integers(0, 1 << 20)),
)
def test_random_corruption_gives_eio_or_a_clean_read(
    name: str, flips: list[tuple[int, int]], cut: int | None
) -> None:
    """Corrupt bytes (and maybe cut the file): every outcome is data, EIO or EMEDIUMTYPE."""
    image = bytearray(CORRUPTIBLE if name == "t.aws" else CORRUPTIBLE_HET)
    for at, value in flips:
        image[at % len(image)] = value
    if cut is not None:
        del image[cut % len(image) :]
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / name
        path.write_bytes(bytes(image))
        try:
            read_until_error(path)
        except OSError as exc:
            assert exc.errno == errno.EMEDIUMTYPE, exc
        result = vmt("verify", str(path))
        assert result.exit_code in (0, 1), result.output
