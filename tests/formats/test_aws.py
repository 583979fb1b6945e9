"""The AWS ``.aws`` format as the drive writes and reads it (Hercules ``awstape.c``).

Images are compared with hand-built bytes, with the independent codec of
:mod:`tests.chunk_codec`, and with Hercules' own ``hetmap``, ``tapemap`` and ``hetupd``.
"""

from __future__ import annotations

import errno
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from devices.formats.aws import AwsFormat
from devices.formats.index import ObjectIndex
from devices.interface import MtOp, OpenOptions
from devices.storage import FileStorage
from devices.vtape import open_tape_image
from tests.chunk_codec import BOR, EOR, MARK, ZLIB, Obj, chunked, decode, encode, header
from tests.crashes import crash_mark
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


def test_drive_writes_records_and_tapemarks_byte_for_byte(tmp_path: Path) -> None:
    path = new_image(tmp_path, "t.aws")
    write_objects(path, [b"HELLO", b"ABCD", None, b"XYZ", None, None])
    assert path.read_bytes() == bytes.fromhex(
        "05000000a000"
        + b"HELLO".hex()  # one chunk: BOR|EOR, no chunk before
        + "04000500a000"
        + b"ABCD".hex()  # the chunk before held 5 bytes
        + "000004004000"  # a tapemark after a 4-byte chunk
        + "03000000a000"
        + b"XYZ".hex()  # after a tapemark the previous length is 0
        + "000003004000"
        + "000000004000"
    )


def test_a_64k_record_is_one_chunk_of_65535_and_one_of_1(tmp_path: Path) -> None:
    path = new_image(tmp_path, "t.aws")
    data = bytes(range(256)) * 256
    write_objects(path, [data])  # close writes the filemark
    image = path.read_bytes()
    assert image == (
        header(65535, 0, BOR)
        + data[:65535]
        + header(1, 65535, EOR)
        + data[65535:]
        + header(0, 1, MARK)
    )


def test_records_up_to_2_mib_and_not_one_byte_more(tmp_path: Path) -> None:
    path = new_image(tmp_path, "t.aws")
    big = bytes(range(251)) * (2 * 1024 * 1024 // 251) + b"z" * (2 * 1024 * 1024 % 251)
    drive = open_tape_image(str(path), OpenOptions(write=True))
    assert drive.write(big) == len(big)
    with pytest.raises(OSError) as refused:
        drive.write(big + b"!")
    assert refused.value.errno == errno.EINVAL
    drive.close()
    assert path.read_bytes() == encode([big, None])
    assert read_objects(path) == [big, None]


def reopen_and_write_after_first_record(path: Path, data: bytes) -> None:
    drive = open_tape_image(str(path), OpenOptions(write=True))
    drive.ioctl(MtOp.MTREW, 1)
    drive.ioctl(MtOp.MTFSR, 1)
    drive.write(data)
    drive.close()


def test_an_append_names_the_last_chunk_it_finds_in_the_image(tmp_path: Path) -> None:
    """A new drive (nothing remembered) reads the chunk before the append point."""
    path = new_image(tmp_path, "t.aws")
    first = b"a" * 70000
    write_objects(path, [first, b"second"])
    reopen_and_write_after_first_record(path, b"third")
    assert path.read_bytes() == (
        encode([first])
        + header(5, 70000 - 65535, BOR | EOR)  # the first record's last chunk: 4465 bytes
        + b"third"
        + header(0, 5, MARK)
    )


def test_an_append_after_foreign_chunks_names_their_last(tmp_path: Path) -> None:
    """Hercules may write 4,096-byte chunks (``hetupd -s``): the last one is read back."""
    path = tmp_path / "t.aws"
    first = bytes(range(200)) * 50  # 10,000 bytes: 4096 + 4096 + 1808
    path.write_bytes(encode([first, b"second", None], chunk=4096))
    reopen_and_write_after_first_record(path, b"third")
    framed, _ = chunked(b"third", 1808)
    assert path.read_bytes() == encode([first], chunk=4096) + framed + header(0, 5, MARK)
    assert read_objects(path) == [first, b"third", None]


def test_filemarks_written_at_the_end_of_a_reopened_image_name_the_record(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.aws"
    path.write_bytes(encode([b"x" * 300]))  # a record, no mark: as a crash might leave it
    drive = open_tape_image(str(path), OpenOptions(write=True))
    drive.ioctl(MtOp.MTEOM, 1)
    drive.ioctl(MtOp.MTWEOF, 2)
    drive.close()
    assert path.read_bytes() == encode([b"x" * 300, None, None])


@pytest.mark.parametrize("chunk", [1, 7, 4096, 65535])
def test_any_chunk_size_reads(tmp_path: Path, chunk: int) -> None:
    path = tmp_path / "t.aws"
    objects: list[Obj] = [b"label" * 16, None, bytes(range(256)) * 40, b"!", None, None]
    path.write_bytes(encode(objects, chunk=chunk))
    assert read_objects(path) == objects
    result = vmt("verify", str(path))
    assert result.exit_code == 0, result.output


def test_one_chunk_records_are_served_whole_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t.aws"
    path.write_bytes(encode([b"a" * 100, b"b" * 70000, b"c" * 100, None], chunk=65535))
    index = ObjectIndex()
    storage = FileStorage.open(str(path), writable=False)
    try:
        fmt = AwsFormat()
        assert fmt.scan(storage, index).problem is None
        assert [fmt.data_offset(index, i) for i in range(3)] == [6, None, 106 + 70012 + 6]
    finally:
        storage.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OBJECTS)
def test_random_tapes_round_trip_through_the_drive(objects: list[Obj]) -> None:
    round_trip("t.aws", objects, decode)


# -- damage -------------------------------------------------------------------------------

# A hand-built image: record A (100 bytes, one chunk) at 0; record B (50 bytes: 30 + 20) at
# 106, its second chunk at 142; a tapemark at 168; record C (10 bytes) at 174; a mark at 190.
GOOD = (
    header(100, 0, BOR | EOR)
    + b"A" * 100
    + header(30, 100, BOR)
    + b"B" * 30
    + header(20, 30, EOR)
    + b"B" * 20
    + header(0, 20, MARK)
    + header(10, 0, BOR | EOR)
    + b"C" * 10
    + header(0, 10, MARK)
)
A, B, C = b"A" * 100, b"B" * 50, b"C" * 10


def patched(at: int, new: bytes) -> bytes:
    return GOOD[:at] + new + GOOD[at + len(new) :]


DAMAGED = {
    "header cut short": (GOOD[:145], 106, [A]),
    "data cut short": (GOOD[:160], 106, [A]),
    "chunk length past the end": (patched(174, header(500, 0, BOR | EOR)), 174, [A, B, None]),
    "previous length wrong": (patched(106, header(30, 99, BOR)), 106, [A]),
    "previous length wrong mid-record": (patched(142, header(20, 31, EOR)), 106, [A]),
    "a record begun twice": (patched(142, header(20, 30, BOR | EOR)), 106, [A]),
    "a chunk that begins nothing": (patched(174, header(10, 0, EOR)), 174, [A, B, None]),
    "an unknown flag": (patched(174, header(10, 0, 0xB0)), 174, [A, B, None]),
    "unknown compression bits": (patched(174, header(10, 0, 0xA3)), 174, [A, B, None]),
    "a tapemark with a length": (patched(168, header(4, 20, MARK)), 168, [A, B]),
    "a tapemark with other flags": (patched(168, header(0, 20, MARK | EOR)), 168, [A, B]),
    "an empty record": (
        GOOD[:174] + header(0, 0, BOR | EOR) + header(0, 0, MARK),
        174,
        [A, B, None],
    ),
    "garbage after the end": (GOOD + b"\x01\x02\x03", 196, [A, B, None, C, None]),
}


def test_the_undamaged_image_reads_whole() -> None:
    assert decode(GOOD) == [A, B, None, C, None]


@pytest.mark.parametrize("how", list(DAMAGED))
def test_damage_gives_eio_where_it_starts_and_verify_names_the_offset(
    tmp_path: Path, how: str
) -> None:
    image, offset, readable = DAMAGED[how]
    path = tmp_path / "t.aws"
    path.write_bytes(image)
    got, error = read_until_error(path)
    assert (got, error) == (readable, errno.EIO)
    result = vmt("verify", str(path))
    assert result.exit_code == 1, result.output
    assert f"at offset {offset}" in result.output.splitlines()[-1], result.output


@pytest.mark.parametrize("first", [b"", header(5, 0, BOR | EOR) + b"plain"])
def test_a_compressed_block_makes_an_aws_name_a_stranger(tmp_path: Path, first: bytes) -> None:
    packed = encode([b"x" * 1000], method=ZLIB)
    assert packed[4] & 3 == ZLIB
    previous = 5 if first else 0
    image = first + packed[:2] + previous.to_bytes(2, "little") + packed[4:]
    path = tmp_path / "t.aws"
    path.write_bytes(image)
    with pytest.raises(OSError) as refused:
        open_tape_image(str(path), OpenOptions())
    assert refused.value.errno == errno.EMEDIUMTYPE
    assert "a HET tape image" in str(refused.value)
    het = tmp_path / "t.het"
    het.write_bytes(image)
    assert read_objects(het)[-1] == b"x" * 1000


# -- Hercules' own tools --------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(SMALL)
def test_hetmap_and_tapemap_agree_with_what_we_write(objects: list[Obj]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = new_image(Path(directory), "t.aws")
        write_objects(path, objects)
        want = summary(files_of(objects))
        assert hercules_map("hetmap", "-t", str(path)) == want
        assert hercules_map("tapemap", str(path)) == want


@pytest.mark.parametrize(
    "options", [["-s"], ["-d"], ["-d", "-c", "4096"], ["-d", "-c", "5000", "-r"], ["-s", "-v"]]
)
def test_we_read_what_hetupd_writes_as_aws(tmp_path: Path, options: list[str]) -> None:
    source = new_image(tmp_path, "src.aws")
    write_objects(source, SOURCE)
    dest = tmp_path / "dest.aws"
    subprocess.run(["hetupd", *options, str(source), str(dest)], check=True, capture_output=True)
    assert read_objects(dest) == SOURCE
    assert vmt("verify", str(dest)).exit_code == 0


def test_we_read_an_uncompressed_tape_hetinit_labels(tmp_path: Path) -> None:
    path = tmp_path / "init.aws"
    subprocess.run(["hetinit", "-d", str(path), "VOL001", "OWNER"], check=True, capture_output=True)
    objects = read_objects(path)
    assert [len(o) if o else o for o in objects] == [80, 80, None]
    assert objects[0] is not None and objects[0][:4] == "VOL1".encode("cp500")
    assert objects[0][4:10] == "VOL001".encode("cp500")


@pytest.mark.parametrize("cut", [3, 6, 50, 65541 + 3])
def test_a_torn_write_of_ours_is_cut_at_the_next_write_open(tmp_path: Path, cut: int) -> None:
    """A record cut short by our crash (in its header, its data, or between its chunks)."""
    path = tmp_path / "t.aws"
    whole = encode([b"HELLO"])
    path.write_bytes(encode([b"HELLO", b"m" * 70000])[: len(whole) + cut])  # the second torn
    crash_mark(path, len(whole))
    drive = open_tape_image(str(path), OpenOptions(write=True))
    assert path.stat().st_size == len(whole)
    drive.ioctl(MtOp.MTEOM, 1)
    drive.write(b"MORE")
    drive.close()
    assert path.read_bytes() == encode([b"HELLO", b"MORE", None])


def test_a_torn_record_of_nobody_s_is_damage_kept_for_repair(tmp_path: Path) -> None:
    path = tmp_path / "t.aws"
    image = encode([b"HELLO", b"m" * 100])[:60]
    path.write_bytes(image)
    drive = open_tape_image(str(path), OpenOptions(write=True))
    with pytest.raises(OSError) as refused:
        drive.ioctl(MtOp.MTEOM, 1)
    assert refused.value.errno == errno.EIO
    with pytest.raises(OSError) as refused:
        drive.write(b"x")  # at the damage: nothing after it is touched
    assert refused.value.errno == errno.EIO
    drive.close()
    assert path.read_bytes() == image
    result = vmt("verify", str(path))
    assert result.exit_code == 1 and "at offset 11" in result.output.splitlines()[-1]


def test_vmt_ls_lists_the_files_of_an_aws_image(tmp_path: Path) -> None:
    path = tmp_path / "t.aws"
    path.write_bytes(encode([b"a" * 80, b"b" * 70000, None, None], chunk=4096))
    result = vmt("ls", str(path))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        "File 0: records=2, bytes=70080, record size min=80, max=70000, first object=0"
    )


@pytest.mark.parametrize(
    ("name", "method", "looks"),
    [("t.tap", 0, "an AWS tape image"), ("t.tap", ZLIB, "a HET tape image")],
)
def test_a_hercules_image_under_a_simh_name_is_refused_saying_what_it_is(
    tmp_path: Path, name: str, method: int, looks: str
) -> None:
    path = tmp_path / name
    path.write_bytes(encode([b"r" * 4000, None], method=method))
    with pytest.raises(OSError) as refused:
        open_tape_image(str(path), OpenOptions())
    assert refused.value.errno == errno.EMEDIUMTYPE
    assert str(refused.value).endswith(f"it looks like {looks}")
