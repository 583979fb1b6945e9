"""The SIMH ``.tap`` format as the drive writes and reads it.

The format is Supnik's "SIMH Magtape Representation and Handling".

Images are compared with the test vectors and with the reference codec of
:mod:`tests.simh_codec`, both written independently of ``devices.formats.simh``.
"""

from __future__ import annotations

import errno
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.drive import VirtualTapeDrive
from devices.formats.index import ObjectIndex
from devices.formats.simh import SimhFormat
from devices.interface import MAX_RECORD, GeneralStatus, MtOp, OpenOptions
from devices.state import SavedState, StateFile, VolumeInfo
from devices.storage import FileStorage
from devices.vtape import create_tape_image, open_tape_image
from tests.crashes import crash_mark
from tests.simh_codec import (
    END_OF_MEDIUM,
    GAP,
    HALF_GAP,
    TAPE_MARK,
    Obj,
    record,
    word,
)
from tests.simh_codec import encode as reference_encode

VECTORS = Path(__file__).parent.parent / "vectors"
Encoder = Callable[[Sequence[Obj]], bytes]
Decoder = Callable[[bytes], list[Obj]]
Vector = Callable[[str], str]

VEC_READS: list[bytes | str] = [b"HELLO", b"ABCD", b"", b"XYZ", b"", b"", b"", "EIO", "EIO"]
"""Reading vec.tap to the end: records, filemarks as 0, 0 once at the end after a mark, EIO."""


def reads(drive: VirtualTapeDrive, times: int, count: int = 64) -> list[bytes | str]:
    """Read ``times`` times; each result is the data (b"" for 0) or the errno's name."""
    out: list[bytes | str] = []
    buf = bytearray(count)
    for _ in range(times):
        try:
            out.append(bytes(buf[: drive.readinto(memoryview(buf))]))
        except OSError as exc:
            out.append(errno.errorcode[exc.errno or 0])
    return out


def read_image(path: str, times: int) -> list[bytes | str]:
    """Open ``path`` read-only at BOT, read ``times`` times, leave it rewound and closed."""
    drive = open_tape_image(path, OpenOptions())
    try:
        drive.ioctl(MtOp.MTREW, 1)
        return reads(drive, times)
    finally:
        drive.ioctl(MtOp.MTREW, 1)
        drive.close()


def new_tape(directory: Path | str) -> str:
    path = str(Path(directory) / "t.tap")
    create_tape_image(path, VolumeInfo())
    return path


def write_objects(path: str, objects: Sequence[Obj]) -> None:
    drive = open_tape_image(path, OpenOptions(write=True))
    for obj in objects:
        if obj is None:
            drive.ioctl(MtOp.MTWEOF, 1)
        else:
            assert drive.write(obj) == len(obj)
    drive.close()


# -- writing ------------------------------------------------------------------------------


def test_drive_writes_vec_tap_byte_for_byte(tmp_path: Path, encode: Encoder) -> None:
    path = new_tape(tmp_path)
    write_objects(path, [b"HELLO", b"ABCD", None, b"XYZ", None, None])
    written = Path(path).read_bytes()
    assert written == (VECTORS / "vec.tap").read_bytes()
    assert written == encode([b"HELLO", b"ABCD", None, b"XYZ", None, None])


def test_closing_after_a_write_gives_the_same_image(tmp_path: Path) -> None:
    """The last mark may come from close; the mark before the end from WEOF."""
    path = new_tape(tmp_path)
    drive = open_tape_image(path, OpenOptions(write=True))
    drive.write(b"HELLO")
    drive.write(memoryview(bytearray(b"ABCD")))
    drive.ioctl(MtOp.MTWEOF, 1)
    buf = drive.write_buffer(3)
    buf[:] = b"XYZ"
    assert drive.commit_write(3) == 3
    drive.ioctl(MtOp.MTWEOF, 1)
    drive.ioctl(MtOp.MTWEOF, 1)
    drive.close()
    assert Path(path).read_bytes() == (VECTORS / "vec.tap").read_bytes()


def test_odd_records_are_padded_with_zero(tmp_path: Path) -> None:
    """The pad byte is 0 even where the framing buffer held other data before."""
    path = new_tape(tmp_path)
    drive = open_tape_image(path, OpenOptions(write=True))
    drive.write(b"\xff" * 20)
    drive.write(b"abcdefg")
    buf = drive.write_buffer(1)
    buf[:] = b"Z"
    drive.commit_write(1)
    drive.ioctl(MtOp.MTWEOF, 1)
    drive.close()
    image = Path(path).read_bytes()
    assert image[28:44] == record(b"abcdefg")
    assert image[44:54] == record(b"Z")
    assert image[54:] == TAPE_MARK


def test_largest_record_is_accepted_and_one_more_byte_refused(tmp_path: Path) -> None:
    path = new_tape(tmp_path)
    drive = open_tape_image(path, OpenOptions(write=True))
    big = bytes(range(256)) * (MAX_RECORD // 256) + b"\x7f" * (MAX_RECORD % 256)
    assert len(big) == 0xFFFFFF
    assert drive.write(big) == MAX_RECORD
    with pytest.raises(OSError) as refused:
        drive.write(bytes(MAX_RECORD + 1))
    assert refused.value.errno == errno.EINVAL
    assert drive.tell() == 1  # nothing written by the refused record
    drive.close()
    assert Path(path).stat().st_size == 8 + MAX_RECORD + 1 + 4  # padded record, filemark
    drive = open_tape_image(path, OpenOptions())
    drive.ioctl(MtOp.MTREW, 1)
    buf = bytearray(MAX_RECORD)
    assert drive.readinto(memoryview(buf)) == MAX_RECORD
    assert buf == big
    drive.ioctl(MtOp.MTBSR, 1)
    with pytest.raises(OSError) as short:
        drive.readinto(memoryview(buf)[:-1])
    assert short.value.errno == errno.ENOMEM
    drive.close()


def test_block_size_beyond_the_format_is_refused(tmp_path: Path) -> None:
    drive = open_tape_image(new_tape(tmp_path), OpenOptions(write=True))
    with pytest.raises(OSError) as refused:
        drive.ioctl(MtOp.MTSETBLK, MAX_RECORD + 1)
    assert refused.value.errno == errno.EINVAL
    assert drive.status().block_size == 0
    drive.close()


# -- reading the vectors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("vec.tap", VEC_READS),
        ("vec_eom.tap", VEC_READS),  # EOM marker ends the data
        ("gap.tap", VEC_READS),  # erase gaps skipped
        ("classE.tap", VEC_READS),  # class E description record skipped
        ("pmark.tap", VEC_READS),  # class 7 private marker skipped
        ("bad.tap", ["EIO", b"", b"", b"", "EIO"]),  # class 8 record: EIO, then the marks
        ("eom_garbage.tap", [b"HELLO", b"ABCD", "EIO", "EIO"]),  # nothing after the marker
        ("trunc.tap", [b"HELLO", "EIO", "EIO"]),  # torn second record cut off
    ],
)
def test_vector_reads_as_tape_md_says(
    vector: Vector, name: str, expected: list[bytes | str]
) -> None:
    path = vector(name)
    assert read_image(path, len(expected)) == expected
    # The second open works from the saved index (or a rescan): the same tape.
    assert read_image(path, len(expected)) == expected


@pytest.mark.parametrize("name", ["vec.tap", "vec_eom.tap", "gap.tap", "classE.tap", "pmark.tap"])
def test_skipped_objects_do_not_count_as_positions(vector: Vector, name: str) -> None:
    drive = open_tape_image(vector(name), OpenOptions())
    assert drive.ioctl(MtOp.MTFSF, 1) == 1
    assert drive.tell() == 3
    assert reads(drive, 1) == [b"XYZ"]
    drive.ioctl(MtOp.MTEOM, 1)
    status = drive.status()
    assert (drive.tell(), status.fileno, status.blkno) == (6, 3, -1)
    assert status.gstat & GeneralStatus.EOD
    drive.ioctl(MtOp.MTSEEK, 1)
    assert reads(drive, 1) == [b"ABCD"]
    drive.close()


def test_bad_record_is_consumed_and_fails_again_when_reread(vector: Vector) -> None:
    drive = open_tape_image(vector("bad.tap"), OpenOptions())
    assert reads(drive, 1) == ["EIO"]
    assert (drive.tell(), drive.status().blkno) == (1, 1)
    drive.ioctl(MtOp.MTBSR, 1)
    assert reads(drive, 2) == ["EIO", b""]
    assert drive.status().fileno == 1
    drive.close()


def test_bytes_after_the_eom_marker_are_damage_never_cut(vector: Vector) -> None:
    path = vector("eom_garbage.tap")
    drive = open_tape_image(path, OpenOptions(write=True))
    with pytest.raises(OSError) as failed:
        drive.ioctl(MtOp.MTEOM, 1)
    assert failed.value.errno == errno.EIO
    assert drive.tell() == 2
    with pytest.raises(OSError) as failed:
        drive.write(b"NEW")
    assert failed.value.errno == errno.EIO
    assert "offset 26" in str(failed.value)
    drive.close()
    assert Path(path).read_bytes() == (VECTORS / "eom_garbage.tap").read_bytes()


def test_writing_at_an_eom_marker_that_ends_the_file_replaces_it(
    vector: Vector, decode: Decoder
) -> None:
    path = vector("vec_eom.tap")
    drive = open_tape_image(path, OpenOptions(write=True))
    drive.ioctl(MtOp.MTEOM, 1)
    drive.write(b"NEW")
    drive.close()
    assert decode(Path(path).read_bytes())[-2:] == [b"NEW", None]


def test_torn_tail_is_cut_on_a_writable_open(vector: Vector, encode: Encoder) -> None:
    path = vector("trunc.tap")
    crash_mark(path, 14)  # a write of ours to this very file, cut short by a crash
    drive = open_tape_image(path, OpenOptions(write=True))
    assert Path(path).stat().st_size == 14
    assert reads(drive, 2) == [b"HELLO", "EIO"]
    drive.write(b"MORE")
    drive.close()
    assert Path(path).read_bytes() == encode([b"HELLO", b"MORE", None])


def test_torn_tail_is_kept_on_a_write_protected_volume(vector: Vector) -> None:
    path = vector("trunc.tap")
    StateFile(path).save(SavedState(volume=VolumeInfo(write_protected=True)))
    drive = open_tape_image(path, OpenOptions())
    assert reads(drive, 3) == [b"HELLO", "EIO", "EIO"]
    assert drive.status().gstat & GeneralStatus.WR_PROT
    drive.close()
    assert Path(path).read_bytes() == (VECTORS / "trunc.tap").read_bytes()


def test_e11_image_is_not_taken_for_a_simh_image(vector: Vector) -> None:
    """An unpadded image: its first trailer is wrong, so it is refused at open."""
    path = vector("vec_e11.tap")
    for options in (OpenOptions(), OpenOptions(write=True)):
        with pytest.raises(OSError) as failed:
            open_tape_image(path, options)
        assert failed.value.errno == errno.EMEDIUMTYPE
        assert "not a SIMH tape image" in str(failed.value)
    assert Path(path).read_bytes() == (VECTORS / "vec_e11.tap").read_bytes()


def test_e11_image_forced_open_fails_with_eio_on_every_operation(vector: Vector) -> None:
    """Forced (vmt --force), nothing is readable and nothing is cut."""
    path = vector("vec_e11.tap")
    for _ in range(2):  # the second open must not trust an index of the empty prefix
        drive = open_tape_image(path, OpenOptions(write=True), accept_foreign=True)
        assert reads(drive, 2) == ["EIO", "EIO"]
        for op, count in [(MtOp.MTFSF, 1), (MtOp.MTFSR, 1), (MtOp.MTSEEK, 3)]:
            drive.ioctl(MtOp.MTREW, 1)
            with pytest.raises(OSError) as failed:
                drive.ioctl(op, count)
            assert failed.value.errno == errno.EIO
        drive.ioctl(MtOp.MTREW, 1)
        drive.close()
    assert Path(path).read_bytes() == (VECTORS / "vec_e11.tap").read_bytes()


def test_scan_of_e11_image_reports_a_corrupt_not_torn_image(vector: Vector) -> None:
    storage = FileStorage.open(vector("vec_e11.tap"), writable=False)
    try:
        index = ObjectIndex()
        result = SimhFormat().scan(storage, index)
    finally:
        storage.close()
    assert result.problem is not None
    assert not result.torn
    assert len(index) == 0


# -- properties ---------------------------------------------------------------------------

files_of_records = st.lists(st.lists(st.binary(min_size=1, max_size=300), max_size=5), max_size=5)


@given(files=files_of_records)
def test_files_of_records_round_trip(files: list[list[bytes]]) -> None:
    objects: list[Obj] = []
    for records in files:
        objects += [*records, None]
    with tempfile.TemporaryDirectory(prefix="rmtd-simh-") as tmp:
        path = new_tape(tmp)
        write_objects(path, objects)
        image = Path(path).read_bytes()
        assert image == reference_encode(objects)
        drive = open_tape_image(path, OpenOptions())
        drive.ioctl(MtOp.MTREW, 1)
        for number, records in enumerate(files):
            assert reads(drive, len(records) + 1, count=300) == [*records, b""]
            assert (drive.status().fileno, drive.status().blkno) == (number + 1, 0)
        # The end: 0 once right after a filemark, then EIO; EIO at once at BOT of a blank tape.
        assert reads(drive, 2) == ([b"", "EIO"] if files else ["EIO", "EIO"])
        assert drive.status().gstat & GeneralStatus.EOD
        drive.close()


def _record(cls: int, data: bytes, trailer_ok: bool) -> bytes:
    return record(data, cls, trailer=None if trailer_ok else len(data) ^ 1)


pieces = st.one_of(
    st.builds(_record, st.sampled_from([0, 0, 0, 1, 8, 0xE]), st.binary(max_size=9), st.booleans()),
    st.sampled_from([TAPE_MARK, GAP, HALF_GAP, END_OF_MEDIUM, word(1, cls=7)]),
    st.binary(min_size=1, max_size=7),
)
images = st.one_of(st.binary(max_size=200), st.lists(pieces, max_size=12).map(b"".join))
operations = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "read",
                MtOp.MTFSF,
                MtOp.MTBSF,
                MtOp.MTFSR,
                MtOp.MTBSR,
                MtOp.MTFSFM,
                MtOp.MTBSFM,
                MtOp.MTEOM,
                MtOp.MTREW,
                MtOp.MTSEEK,
            ]
        ),
        st.integers(min_value=0, max_value=4),
    ),
    max_size=25,
)


@settings(max_examples=5 * settings().max_examples)
@given(image=images, ops=operations)
def test_any_bytes_as_an_image_only_raise_oserror(
    image: bytes, ops: list[tuple[str | MtOp, int]]
) -> None:
    tmp = tempfile.mkdtemp(prefix="rmtd-junk-")
    try:
        path = str(Path(tmp) / "junk.tap")
        Path(path).write_bytes(image)
        try:
            first = read_image(path, 20)  # scans; nothing is cut
        except OSError as exc:
            assert exc.errno == errno.EMEDIUMTYPE  # not a SIMH image
            assert Path(path).read_bytes() == image
            return
        assert read_image(path, 20) == first  # the same through the saved index, if any
        drive = open_tape_image(path, OpenOptions())
        for op, count in ops:
            try:
                if op == "read":
                    drive.readinto(memoryview(bytearray(count * 3)))
                else:
                    assert isinstance(op, MtOp)
                    drive.ioctl(op, count)
            except OSError:
                pass
            status = drive.status()
            assert 0 <= drive.tell() <= len(drive.image)
            assert status.fileno >= -1
            assert status.blkno >= -1
        drive.close()
    finally:
        shutil.rmtree(tmp)
