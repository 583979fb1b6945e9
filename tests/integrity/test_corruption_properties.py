"""Corrupted images are never made worse, and their damage is always reported (hypothesis).

Each example builds a valid image (with the reference codec, or through the drive API so that
side files exist), closes it cleanly, then corrupts it: a flipped byte, an overwritten span or
length word, a truncation at any point (a torn tail *without* our crash marker), garbage
appended. Then it runs a random sequence of ``vmt`` commands and drive sessions and checks:

* bytes: after every operation the image is unchanged, or (for an operation that writes) the
  old bytes up to an object boundary followed by only what the operation wrote. On a damaged
  image that boundary lies before the damage (an overwrite there is what a tape does); on a
  clean one, appends start at the end of valid data. Nothing that only reads changes a byte.
* reports: a damaged image (what ``SimhFormat().scan`` stops on) or a file that is no SIMH
  image at all is never listed as clean: ``vmt ls`` exits 1, ``vmt -f IMG eod`` fails without
  GMT_EOD, a read that reaches the damage gets EIO, ``vmt read`` of the file that runs into
  it fails. The records before the first corrupted byte read back as they were written.
"""

from __future__ import annotations

import errno
import json
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import event, given
from hypothesis import strategies as st

from devices.formats.index import ObjectIndex
from devices.formats.simh import SimhFormat
from devices.interface import GeneralStatus, MtOp, OpenOptions
from devices.tapemap import summarize
from devices.vtape import open_tape_image
from rmtd.vmt import main
from tests.integrity.oracle import MemoryStorage, Shape, served, shape
from tests.simh_codec import Obj, decode, encode, record_size

FM = encode([None])
PAYLOAD = b"payload!" * 5 + b"odd"
"""What every write of the tests writes: one record (``vmt write`` puts it in one record)."""


# -- building and corrupting images -------------------------------------------------------


@dataclass(frozen=True)
class Corruption:
    """One way to damage an image.

    ``kind`` is flip (XOR the byte at ``at`` with ``data[0]``), span (overwrite with ``data``
    at ``at``), lead or trail (overwrite the leading word of the object ``at`` picks, or the
    trailing word of that record), truncate (cut at ``at``) or append (``data`` at the end).
    """

    kind: str
    at: int
    data: bytes

    def apply(self, image: bytes) -> tuple[bytes, int]:
        """The corrupted image, and the offset of the first byte that may differ."""
        size = len(image)
        if self.kind == "append" or not size:
            return image + self.data, size
        if self.kind == "truncate":
            return image[: self.at % size], self.at % size
        pos = self.at % size
        if self.kind in ("lead", "trail"):
            starts = shape(image).starts or (0,)
            pos = starts[self.at % len(starts)]
            length = int.from_bytes(image[pos : pos + 4], "little")
            trailer = pos + record_size(length) - 4
            if self.kind == "trail" and length and trailer + 4 <= size:
                pos = trailer
            patch = (self.data * 4)[:4]
        elif self.kind == "flip":
            patch = bytes([image[pos] ^ (self.data[0] or 0x80)])
        else:
            patch = self.data
        patched = image[:pos] + patch + image[pos + len(patch) :]
        return patched[: max(size, pos + len(patch))], pos


objects_strategy = st.lists(
    st.one_of(st.none(), st.binary(min_size=1, max_size=48)), min_size=1, max_size=7
)
corruptions = st.lists(
    st.builds(
        Corruption,
        kind=st.sampled_from(["flip", "span", "lead", "trail", "truncate", "append"]),
        at=st.integers(0, 1 << 16),
        data=st.binary(min_size=1, max_size=8),
    ),
    min_size=1,
    max_size=2,
)


def build(path: Path, objects: Sequence[Obj], via_drive: bool) -> bytes:
    """Write a clean image of ``objects`` (through the drive API: with side files)."""
    if not via_drive:
        path.write_bytes(encode(objects))
        return path.read_bytes()
    drive = open_tape_image(str(path), OpenOptions(write=True, create=True))
    try:
        for obj in objects:
            if obj is None:
                drive.ioctl(MtOp.MTWEOF, 1)
            else:
                drive.write(obj)
    finally:
        drive.close()
    return path.read_bytes()


@contextmanager
def corrupted_image(
    objects: Sequence[Obj], via_drive: bool, damage: Sequence[Corruption]
) -> Iterator[tuple[Path, bytes, int]]:
    """A fresh directory holding ``img.tap``, corrupted; yields it, the clean bytes and the
    offset of the first corrupted byte. The directory is removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="rmtd-integrity-"))
    try:
        image = tmp / "img.tap"
        clean = build(image, objects, via_drive)
        data, first = clean, len(clean)
        for corruption in damage:
            data, at = corruption.apply(data)
            first = min(first, at)
        image.write_bytes(data)
        (tmp / "payload.bin").write_bytes(PAYLOAD)
        yield image, clean, first
    finally:
        shutil.rmtree(tmp)


def vmt(*args: str) -> Result:
    """``vmt`` in this process."""
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


# -- operations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class VmtCommand:
    """A ``vmt`` command line; ``IMG``, ``PAYLOAD`` and ``OUT`` stand for the example's files."""

    args: tuple[str, ...]

    @property
    def writes(self) -> bool:
        """Whether it opens the image for writing."""
        return self.args[0] == "write" or self.args[-1] == "weof"

    def run(self, image: Path) -> Result:
        """Run it on ``image``."""
        files = {
            "IMG": str(image),
            "PAYLOAD": str(image.with_name("payload.bin")),
            "OUT": str(image.with_name("out.bin")),
        }
        return vmt(*(files.get(a, a) for a in self.args))


@dataclass(frozen=True)
class DriveSession:
    """An open of the image through the drive API, some steps, and a close."""

    write: bool
    steps: tuple[str, ...]

    @property
    def writes(self) -> bool:
        """Whether it may change the image: opened for writing, with a writing step."""
        return self.write and any(s.endswith("_eod") for s in self.steps)

    def run(self, image: Path) -> int:
        """Run it on ``image``; returns how many records it wrote."""
        try:
            drive = open_tape_image(str(image), OpenOptions(write=self.write, nonblock=True))
        except OSError:
            return 0
        written = 0
        buffer = memoryview(bytearray(image.stat().st_size + 1))
        try:
            for step in self.steps:
                try:
                    if step == "read":
                        drive.readinto(buffer)
                    elif step == "rewind":
                        drive.ioctl(MtOp.MTREW, 1)
                    elif step == "fsf":
                        drive.ioctl(MtOp.MTFSF, 1)
                    else:  # eom, and the writes at the end of data (they space there first)
                        drive.ioctl(MtOp.MTEOM, 1)
                except OSError:
                    pass
                try:
                    if step == "weof_eod":
                        drive.ioctl(MtOp.MTWEOF, 1)
                    elif step == "write_eod":
                        drive.write(PAYLOAD)
                        written += 1
                except OSError:
                    pass
        finally:
            with suppress(OSError):  # a close may fail to write its filemark at damage
                drive.close()
        return written


Operation = VmtCommand | DriveSession

vmt_commands = st.sampled_from(
    [
        ("ls", "IMG"),
        ("ls", "--json", "IMG"),
        ("read", "IMG", "--file", "0", "-o", "OUT"),
        ("read", "IMG", "--file", "1", "-o", "OUT"),
        ("-f", "IMG", "eod"),
        ("-f", "IMG", "fsf"),
        ("-f", "IMG", "bsf"),
        ("-f", "IMG", "fsr"),
        ("-f", "IMG", "status"),
        ("-f", "IMG", "rewind"),
        ("-f", "IMG", "weof"),
        ("write", "IMG", "PAYLOAD"),
    ]
).map(VmtCommand)
drive_sessions = st.builds(
    DriveSession,
    write=st.booleans(),
    steps=st.lists(
        st.sampled_from(["read", "eom", "fsf", "rewind", "weof_eod", "write_eod"]), max_size=4
    ).map(tuple),
)
operations = st.lists(st.one_of(vmt_commands, drive_sessions), min_size=1, max_size=6)


# -- the model of allowed changes ----------------------------------------------------------


def appended_by_vmt_write(old: Shape) -> bytes:
    """What ``vmt write IMG PAYLOAD`` appends at the end of data of a clean image."""
    close_last_file = FM if old.starts and not old.last_is_mark else b""
    return close_last_file + encode([PAYLOAD, None])


def check_change(
    op: Operation, old_bytes: bytes, new_bytes: bytes, written: int, known: bool = False
) -> None:
    """Assert that ``op`` changed the image only as the design allows."""
    if new_bytes == old_bytes:
        return
    old = shape(old_bytes, known)
    assert op.writes, f"{op} only reads, but changed the image"
    assert not old.refused, f"{op} wrote to a file that is no SIMH image"
    assert shape(new_bytes).problem is None, f"{op} left a damaged image"
    if isinstance(op, VmtCommand) and op.args[-1] == "weof":
        # At the position, wherever the drive stood: an object boundary before the damage,
        # or (on a clean image) the end of data.
        cuts = [*old.starts, *([] if old.damaged else [old.end])]
        assert any(new_bytes == old_bytes[:b] + FM for b in cuts), (
            f"weof changed the image other than at an object boundary before any damage: "
            f"{old_bytes.hex()} -> {new_bytes.hex()} ({old})"
        )
        return
    # Every other write is at the end of data: a damaged image must refuse it.
    assert not old.damaged, f"{op} changed a damaged image ({old.problem})"
    assert new_bytes[: old.end] == old_bytes[: old.end], f"{op} changed valid data"
    tail = new_bytes[old.end :]
    if isinstance(op, VmtCommand):
        assert tail == appended_by_vmt_write(old), (op, tail.hex())
        return
    appended = decode(tail)
    assert all(obj in (None, PAYLOAD) for obj in appended), appended
    assert appended.count(PAYLOAD) == written, (appended, written)


@given(
    objects=objects_strategy,
    via_drive=st.booleans(),
    damage=corruptions,
    ops=operations,
)
def test_operations_never_lose_bytes_of_a_corrupted_image(
    objects: list[Obj], via_drive: bool, damage: list[Corruption], ops: list[Operation]
) -> None:
    with corrupted_image(objects, via_drive, damage) as (image, _clean, _first):
        start = shape(image.read_bytes(), served(image))
        event("refused" if start.refused else "damaged" if start.problem else "clean")
        for op in ops:
            before = image.read_bytes()
            known = served(image)
            if isinstance(op, VmtCommand):
                result = op.run(image)
                written = 0
                changed_ok = result.exit_code == 0
            else:
                written = op.run(image)
                changed_ok = True
            after = image.read_bytes()
            if after != before:
                event(f"changed by {type(op).__name__}")
            check_change(op, before, after, written, known)
            assert after == before or changed_ok, f"{op} failed yet changed the image"


# -- damage is reported --------------------------------------------------------------------


def intact_prefix(clean: bytes, first: int) -> list[Obj]:
    """The objects of ``clean`` that lie wholly before offset ``first``."""
    objects, pos = [], 0
    for obj in decode(clean):
        pos += 4 if obj is None else record_size(len(obj))
        if pos > first:
            break
        objects.append(obj)
    return objects


BAD = b"<bad record>"


def read_through(image: Path, damaged: bool) -> list[Obj]:
    """Read the image from BOT through a read-only drive; check how the reads end."""
    drive = open_tape_image(str(image), OpenOptions(nonblock=True))
    got: list[Obj] = []
    buffer = memoryview(bytearray(image.stat().st_size + 1))
    try:
        drive.ioctl(MtOp.MTREW, 1)
        while drive.tell() < len(drive.image):
            try:
                n = drive.readinto(buffer)
            except OSError as exc:  # a record of the bad-data class: consumed, EIO
                assert exc.errno == errno.EIO and "bad data" in str(exc), exc
                got.append(BAD)
                continue
            got.append(bytes(buffer[:n]) if n else None)
        for _ in range(2):  # the end, twice: damage is never taken for the end of data
            try:
                n = drive.readinto(buffer)
            except OSError as exc:
                assert exc.errno == errno.EIO, exc
                assert ("damaged" in str(exc)) == damaged, exc
            else:
                assert not damaged and n == 0, "a read at the damage returned data or 0"
            eod = bool(drive.status().gstat & GeneralStatus.EOD)
            assert eod != damaged, f"GMT_EOD is {eod} on a {'damaged' if damaged else 'clean'}"
        drive.ioctl(MtOp.MTREW, 1)
        with pytest.raises(OSError) as spaced:
            drive.ioctl(MtOp.MTFSF, len(drive.image) + 1)
        assert spaced.value.errno == errno.EIO
        assert bool(drive.status().gstat & GeneralStatus.EOD) != damaged
    finally:
        drive.close()
    return got


def check_files_read(image: Path, data: bytes, damaged: bool) -> None:
    """``vmt read --file N``: a file that runs into the damage fails; the others read whole."""
    index = ObjectIndex()
    SimhFormat().scan(MemoryStorage(data), index)
    out = image.with_name("out.bin")
    for tape_file in summarize(index):
        result = vmt("read", str(image), "--file", str(tape_file.number), "-o", str(out))
        reaches_damage = damaged and not tape_file.closed
        if reaches_damage or tape_file.bad:
            assert result.exit_code == 1, f"file {tape_file.number}: {result.output}"
            continue
        assert result.exit_code == 0, result.output
        records = range(tape_file.first, tape_file.end)
        expected = b"".join(data[index.offsets[i] + 4 :][: index.record_length(i)] for i in records)
        assert out.read_bytes() == expected


@given(objects=objects_strategy, via_drive=st.booleans(), damage=corruptions)
def test_damage_is_always_reported(
    objects: list[Obj], via_drive: bool, damage: list[Corruption]
) -> None:
    with corrupted_image(objects, via_drive, damage) as (image, clean, first):
        data = image.read_bytes()
        found = shape(data, served(image))
        event("refused" if found.refused else "damaged" if found.problem else "clean")
        listing = vmt("ls", str(image))
        as_json = vmt("ls", "--json", str(image))
        eod = vmt("-f", str(image), "eod")
        if not found.damaged:
            assert (listing.exit_code, as_json.exit_code, eod.exit_code) == (0, 0, 0)
            assert json.loads(as_json.stdout)["problem"] is None
        else:
            assert listing.exit_code == 1, f"ls exits 0 on damage: {found}\n{listing.output}"
            assert as_json.exit_code == 1, f"ls --json exits 0 on damage: {found}"
            assert eod.exit_code == 1, f"eod succeeds on damage: {found}"
        if found.refused:
            # Changed since rmtd closed it, the file is a stranger whose bytes must prove what
            # they are: refused as no image at all, and nothing is written.
            for result in (listing, as_json, eod):
                assert "not a SIMH tape image" in result.output, result.output
            assert image.read_bytes() == data
            return
        if found.problem:
            assert f"offset {found.end}" in listing.output, listing.output
            assert f"offset {found.end}" in eod.output, eod.output
            assert json.loads(as_json.stdout)["problem"], as_json.stdout
        status = vmt("-f", str(image), "status")
        assert status.exit_code == 0, status.output
        assert ("EOD" in status.output.split()) != found.damaged, status.output
        got = read_through(image, found.damaged)
        prefix = intact_prefix(clean, first)
        assert got[: len(prefix)] == prefix
        check_files_read(image, data, found.damaged)
        assert image.read_bytes() == data, "a read-only operation changed the image"
