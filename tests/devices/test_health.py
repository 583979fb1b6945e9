"""``devices.health``: verify an image and its side files; repair a damaged image with a backup."""

from __future__ import annotations

import errno
import json
import os
import struct
import tarfile
from pathlib import Path

import pytest

from devices.drive import VirtualTapeDrive
from devices.formats.index import INDEX_SUFFIX, ImageIdentity, ObjectIndex
from devices.formats.simh import SimhFormat
from devices.health import CLEAN, DAMAGED, NOT_AN_IMAGE, TORN, repair, verify
from devices.interface import MtOp, OpenOptions
from devices.kinds import foreign_content
from devices.state import STATE_SUFFIX, SavedState, StateFile, VolumeInfo
from devices.storage import FileStorage
from devices.tapemap import summarize
from devices.vtape import create_tape_image, open_tape_image
from tests.crashes import crash_mark


def rec(data: bytes) -> bytes:
    n = len(data)
    return struct.pack("<I", n) + data + (b"\0" if n % 2 else b"") + struct.pack("<I", n)


MARK = struct.pack("<I", 0)
GOOD = rec(b"A" * 100) + rec(b"B" * 101) + MARK + rec(b"C" * 50) + MARK
"""Two files: 100 and 101 bytes, then 50 bytes. Offsets: 0, 108, 218 (mark), 222, 280 (mark)."""


def image(tmp_path: Path, data: bytes, name: str = "t.tap") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def levels(path: str) -> dict[str, str]:
    return {f.subject: f.level for f in verify(path).findings}


# -- verify ----------------------------------------------------------------------------------


def test_a_clean_image_and_side_files_verify_clean(tmp_path: Path) -> None:
    path = str(tmp_path / "t.tap")
    create_tape_image(path, VolumeInfo())
    drive = open_tape_image(path, OpenOptions(write=True))
    drive.write(b"x" * 10)
    drive.close()
    report = verify(path)
    assert report.verdict == CLEAN and report.clean
    assert (report.files, report.records, report.offset) == (1, 1, None)
    assert levels(path) == {path: "ok", path + STATE_SUFFIX: "ok", path + INDEX_SUFFIX: "ok"}


def test_length_words_that_differ_are_damage_at_their_offset(tmp_path: Path) -> None:
    data = bytearray(GOOD)
    data[214:218] = struct.pack("<I", 99)  # the trailer of the second record
    path = image(tmp_path, bytes(data))
    report = verify(path)
    assert report.verdict == DAMAGED and not report.clean
    assert report.offset == 108 and report.end == 108
    assert report.where == "file 0 record 0"
    assert "length words differ" in str(report.problem)


def test_a_record_cut_short_at_the_end_is_a_torn_tail(tmp_path: Path) -> None:
    path = image(tmp_path, GOOD[:-10])
    assert verify(path).verdict == DAMAGED  # no write of ours was cut short
    crash_mark(path, 222)
    report = verify(path)
    assert report.verdict == TORN and report.offset == 222
    assert report.where == "the filemark ending file 0"


def test_a_partial_control_word_is_torn(tmp_path: Path) -> None:
    path = image(tmp_path, GOOD + b"\x00\x00")
    assert verify(path).verdict == DAMAGED
    crash_mark(path, len(GOOD))
    report = verify(path)
    assert (report.verdict, report.offset) == (TORN, len(GOOD))


def test_garbage_after_the_data_is_damage(tmp_path: Path) -> None:
    path = image(tmp_path, GOOD + b"\x13\x37garbage and more garbage")
    report = verify(path)
    assert (report.verdict, report.offset) == (DAMAGED, len(GOOD))
    assert report.files == 2 and report.records == 3


def test_a_tar_archive_is_not_an_image(tmp_path: Path) -> None:
    member = tmp_path / "member.txt"
    member.write_text("hello\n")
    archive = tmp_path / "a.tap"
    with tarfile.open(archive, "w", format=tarfile.USTAR_FORMAT) as tar:
        tar.add(member, arcname="abc")  # a 3-letter name: the first word is a 24-bit "length"
    report = verify(str(archive))
    assert report.verdict == NOT_AN_IMAGE and report.problem
    assert "tar archive" in report.problem


def _foreign(path: str) -> str | None:
    storage = FileStorage.open(path, writable=False)
    try:
        return foreign_content(storage, SimhFormat())
    finally:
        storage.close()


def test_the_content_check_accepts_what_simh_images_start_with(tmp_path: Path) -> None:
    for data in (b"", GOOD, MARK, struct.pack("<I", 0xFFFFFFFF)):
        assert _foreign(image(tmp_path, data)) is None, data[:8]
    for data, what in (
        (b"hello world\n" * 40, "text"),
        (b"\x1f\x8b\x08\0" * 9, "gzip"),
        (GOOD[:2], "partial control word"),  # not even a control word: not a torn write of ours
    ):
        assert what in str(_foreign(image(tmp_path, data)))


def test_bad_records_and_the_end_of_medium_marker_are_notes(tmp_path: Path) -> None:
    bad = struct.pack("<I", 0x80000004) + b"oops" + struct.pack("<I", 0x80000004)
    path = image(tmp_path, GOOD + bad + struct.pack("<I", 0xFFFFFFFF))
    report = verify(path)
    assert report.verdict == CLEAN and report.clean
    notes = [f for f in report.findings if f.level == "note"]
    assert len(notes) == 1 and notes[0].offset == len(GOOD) and "object 5" in notes[0].message


def test_bytes_after_the_end_of_medium_marker_are_damage(tmp_path: Path) -> None:
    path = image(tmp_path, GOOD + struct.pack("<I", 0xFFFFFFFF) + b"junk")
    report = verify(path)
    assert report.verdict == DAMAGED and not report.clean
    assert report.offset == len(GOOD)
    assert "4 bytes after the end-of-medium marker" in str(report.problem)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"volume": {"density": "high"}}', "volume.density: str where int belongs"),
        ('{"volume": {"incomplete": [1, -2]}}', "volume.incomplete: not a list"),
        ('{"drive": []}', "drive.: not a JSON object"),
        ('{"identity": [1, 2]}', "identity: not five integers"),
        ('{"drive": {"position": 99}}', "position 99 is past the end"),
    ],
)
def test_a_malformed_state_file_is_damage(tmp_path: Path, text: str, fragment: str) -> None:
    path = image(tmp_path, GOOD)
    Path(path + STATE_SUFFIX).write_text(text)
    report = verify(path)
    state = next(f for f in report.findings if f.subject == path + STATE_SUFFIX)
    assert state.level == "damage" and fragment in state.message, state.message
    assert report.verdict == CLEAN and not report.clean


def test_a_state_file_symlink_is_not_followed(tmp_path: Path) -> None:
    path = image(tmp_path, GOOD)
    (tmp_path / "elsewhere").write_text("{}")
    os.symlink(tmp_path / "elsewhere", path + STATE_SUFFIX)
    assert levels(path)[path + STATE_SUFFIX] == "damage"


def test_a_stale_index_will_be_rebuilt_and_is_not_damage(tmp_path: Path) -> None:
    path = str(tmp_path / "t.tap")
    create_tape_image(path, VolumeInfo())
    drive = open_tape_image(path, OpenOptions(write=True))
    drive.write(b"x" * 10)
    drive.close()
    with open(path, "ab") as out:
        out.write(rec(b"y" * 4))  # someone else appended: the index's identity no longer matches
    report = verify(path)
    assert levels(path)[path + INDEX_SUFFIX] == "stale"
    assert levels(path)[path + STATE_SUFFIX] == "note"  # an earlier version: BOT next time
    assert report.clean


def test_an_index_that_lies_about_the_image_is_damage(tmp_path: Path) -> None:
    path = image(tmp_path, GOOD)
    storage = FileStorage.open(path, writable=False)
    index = ObjectIndex()
    SimhFormat().scan(storage, index)
    storage.close()
    index.lengths[1] = 7  # wrong length of object 1, saved with the image's true identity
    index.save(path + INDEX_SUFFIX, ImageIdentity.of_stat(os.stat(path)))
    report = verify(path)
    finding = next(f for f in report.findings if f.subject == path + INDEX_SUFFIX)
    assert finding.level == "damage" and "from entry 1" in finding.message
    assert not report.clean


def test_verify_refuses_what_is_not_a_regular_file_and_an_image_in_use(tmp_path: Path) -> None:
    (tmp_path / "d.tap").mkdir()
    for target, code in ((tmp_path / "d.tap", errno.EISDIR), (tmp_path / "none.tap", errno.ENOENT)):
        with pytest.raises(OSError) as failed:
            verify(str(target))
        assert failed.value.errno == code
    path = str(tmp_path / "t.tap")
    create_tape_image(path, VolumeInfo())
    drive = open_tape_image(path, OpenOptions())
    try:
        with pytest.raises(OSError) as failed:
            verify(path)
        assert failed.value.errno == errno.EBUSY
    finally:
        drive.close()


def test_verify_changes_nothing(tmp_path: Path) -> None:
    path = image(tmp_path, GOOD[:-10])
    before = Path(path).read_bytes()
    verify(path)
    assert Path(path).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.tap"]


# -- repair ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("damage", "cut", "where"),
    [
        ("flip", 108, "file 0 record 0"),
        ("truncate", 222, "the filemark ending file 0"),
        ("garbage", len(GOOD), "the filemark ending file 1"),
    ],
)
def test_repair_cuts_after_the_last_whole_object_and_keeps_a_backup(
    tmp_path: Path, damage: str, cut: int, where: str
) -> None:
    data = bytearray(GOOD)
    if damage == "flip":
        data[108:112] = struct.pack("<I", 0x00ABCDEF)  # a leading length word in the middle
    elif damage == "truncate":
        del data[-10:]
    else:
        data += b"\x13\x37 garbage tail"
    path = image(tmp_path, bytes(data))
    Path(path + INDEX_SUFFIX).write_bytes(b"whatever was there")
    report = repair(path)
    assert report.repaired and (report.offset, report.where) == (cut, where)
    assert report.dropped == len(data) - cut
    assert report.backup == path + ".bak"
    assert Path(path + ".bak").read_bytes() == bytes(data)
    assert Path(path).read_bytes() == bytes(data[:cut])
    assert not os.path.exists(path + INDEX_SUFFIX)
    assert verify(path).verdict == CLEAN


def test_repair_marks_a_file_it_cut_into_as_incomplete(tmp_path: Path) -> None:
    path = image(tmp_path, GOOD[:218] + b"\x05\x00")  # file 0 without its filemark, torn
    assert repair(path).where == "file 0 record 1"
    assert StateFile(path).load().volume.incomplete == [0]
    drive = open_tape_image(path, OpenOptions())
    try:
        files = summarize(drive.image.index, drive.volume.incomplete)
    finally:
        drive.close()
    assert [(f.records, f.closed, f.incomplete) for f in files] == [(2, False, True)]


def test_a_clean_image_needs_no_repair_and_gets_no_backup(tmp_path: Path) -> None:
    path = image(tmp_path, GOOD)
    report = repair(path)
    assert not report.repaired and report.backup is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.tap"]
    assert Path(path).read_bytes() == GOOD


def test_repair_never_overwrites_an_existing_backup(tmp_path: Path) -> None:
    path = image(tmp_path, GOOD + b"\x01")
    Path(path + ".bak").write_bytes(b"precious")
    Path(path + ".bak.1").write_bytes(b"also precious")
    assert repair(path).backup == path + ".bak.2"
    assert Path(path + ".bak").read_bytes() == b"precious"
    assert Path(path + ".bak.2").read_bytes() == GOOD + b"\x01"


def test_repair_refuses_a_write_protected_volume(tmp_path: Path) -> None:
    path = image(tmp_path, GOOD + b"\x01")
    StateFile(path).save(SavedState(volume=VolumeInfo(write_protected=True)))
    with pytest.raises(OSError) as failed:
        repair(path)
    assert failed.value.errno == errno.EROFS and "write-protected" in str(failed.value)
    assert Path(path).read_bytes() == GOOD + b"\x01"
    assert not os.path.exists(path + ".bak")


def test_repair_refuses_a_file_that_is_not_an_image(tmp_path: Path) -> None:
    data = b"\x1f\x8b\x08\x00" + b"compressed" * 50
    path = image(tmp_path, data, "x.tap")
    with pytest.raises(OSError) as failed:
        repair(path)
    assert failed.value.errno == errno.EMEDIUMTYPE and "gzip" in str(failed.value)
    assert Path(path).read_bytes() == data and not os.path.exists(path + ".bak")


def test_repair_refuses_an_image_in_use(tmp_path: Path) -> None:
    path = image(tmp_path, GOOD + b"\x01")
    drive = open_tape_image(path, OpenOptions())
    try:
        with pytest.raises(OSError) as failed:
            repair(path)
        assert failed.value.errno == errno.EBUSY
    finally:
        drive.close()


def test_repair_drops_incomplete_marks_past_the_cut(tmp_path: Path) -> None:
    path = image(tmp_path, GOOD + b"\x01")
    state = StateFile(path).load()
    state.volume.incomplete = [3, 6]
    StateFile(path).save(state)
    repair(path)
    assert StateFile(path).load().volume.incomplete == [3]


# -- incomplete files in the drive -----------------------------------------------------------


def write_files(drive: VirtualTapeDrive, *files: list[bytes]) -> None:
    for records in files:
        for data in records:
            drive.write(data)
        drive.ioctl(MtOp.MTWEOF, 1)


def test_mark_file_incomplete_marks_the_file_of_the_position(tmp_path: Path) -> None:
    path = str(tmp_path / "t.tap")
    create_tape_image(path, VolumeInfo())
    drive = open_tape_image(path, OpenOptions(write=True))
    write_files(drive, [b"a", b"b"])
    drive.write(b"c")
    drive.mark_file_incomplete()
    drive.close()  # the drive closes the file with a filemark
    assert StateFile(path).load().volume.incomplete == [3]
    drive = open_tape_image(path, OpenOptions(write=True))
    try:
        files = summarize(drive.image.index, drive.volume.incomplete)
        assert [(f.first, f.closed, f.incomplete) for f in files] == [
            (0, True, False),
            (3, True, True),
        ]
        drive.ioctl(MtOp.MTREW, 1)
        drive.mark_file_incomplete()
        assert drive.volume.incomplete == [0, 3]
    finally:
        drive.close()


@pytest.mark.parametrize("how", ["write", "weof", "erase"])
def test_every_cut_drops_the_marks_at_or_after_it(tmp_path: Path, how: str) -> None:
    path = str(tmp_path / "t.tap")
    create_tape_image(path, VolumeInfo())
    drive = open_tape_image(path, OpenOptions(write=True))
    try:
        write_files(drive, [b"a"], [b"b"], [b"c"])  # files start at objects 0, 2 and 4
        drive.volume.incomplete = [0, 2, 4]
        drive.ioctl(MtOp.MTSEEK, 2)
        if how == "write":
            drive.write(b"new")
        elif how == "weof":
            drive.ioctl(MtOp.MTWEOF, 1)
        else:
            drive.ioctl(MtOp.MTERASE, 1)
        assert drive.volume.incomplete == [0]
    finally:
        drive.close()


def test_state_file_keeps_incomplete_and_fails_closed_on_a_malformed_list(tmp_path: Path) -> None:
    path = image(tmp_path, GOOD)
    state = StateFile(path).load()
    state.volume.incomplete = [5, 0]
    StateFile(path).save(state)
    assert StateFile(path).load().volume.incomplete == [0, 5]
    for bad in ('"0"', "[true]", "[-1]", "[1.5]", "{}"):
        doc = json.loads(Path(path + STATE_SUFFIX).read_text())
        doc["volume"]["incomplete"] = json.loads(bad)
        doc["volume"]["density"] = 3
        Path(path + STATE_SUFFIX).write_text(json.dumps(doc))
        loaded = StateFile(path).load()  # unreadable as written: protected until fixed
        assert loaded.unreadable and "incomplete" in loaded.unreadable, bad
        assert loaded.volume.write_protected, bad
    assert VolumeInfo().incomplete is not VolumeInfo().incomplete  # no shared default list
