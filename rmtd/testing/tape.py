"""A synthetic tape, described in code and written as an image of any format rmtd writes.

::

    from rmtd.testing import Data, Pattern, Random, Tape, Tar

    tape = Tape(density="6250", capacity=100 << 20, seed=42)
    tape.file(Random(size=10240, count=20))          # a tape file and its filemark
    tape.file(Tar("some/dir"))                       # a tar of a directory, 10240-byte records
    tape.file(Data("disk.img", record_size=65536), bad=[3])   # record 3 reads as bad data
    tape.records(Pattern("ab", sizes=[80, 80])).mark(2)       # records, then two filemarks
    tape.write("vol.tap")

A tape is a list of *entries*, each some records (a :class:`~rmtd.testing.contents.Content`)
followed by filemarks. Nothing is read or written until :meth:`Tape.write`, which checks the
whole tape first (record lengths the format holds, bad-data marks the format holds, bad indexes
within their content) and then writes it through the image layer, as ``vmt convert`` does:
:func:`~devices.vtape.create_tape_image` records the volume (density, capacity, early warning)
beside the image, and the image's own ``append_record``/``append_filemarks`` write the objects,
so every format and its side files come out as rmtd itself writes them. The drive's fixed block
size is saved in its state (as ``mt setblk`` would leave it); records are not cut to it.

A content without its own seed draws random bytes from ``random.Random`` seeded with the tape's
``seed`` and the entry's number, so the same tape always gives the same bytes.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from devices.density import parse_density
from devices.formats.base import TapeFormat
from devices.formats.image import TapeImage
from devices.interface import OpenOptions
from devices.kinds import DeviceKind, image_kinds_by_format, kind_by_name, tape_format
from devices.state import VolumeInfo, default_early_warning
from devices.vtape import SIDE_FILES, create_tape_image, open_tape_image
from rmtd.testing.contents import Content, Records

FORMATS: dict[str, DeviceKind] = image_kinds_by_format()
"""Format names (``simh``, ``aws``, ``het``) to image kinds (:mod:`devices.kinds` decides)."""


class SynthError(ValueError):
    """A tape that cannot be written as described.

    Attributes:
        why: what is wrong.
        entry: the 1-based number of the entry at fault, ``None`` for the tape's settings.
        key: what is wrong in it: ``"content"``, ``"bad"``, ``"marks"``, or a setting's name
            (``"capacity"``...), so that a spec can name its own key.
    """

    def __init__(self, why: str, entry: int | None = None, key: str = "content") -> None:
        super().__init__(f"entry {entry}: {why}" if entry is not None else f"{key}: {why}")
        self.why = why
        self.entry = entry
        self.key = key


@dataclass(frozen=True)
class Entry:
    """Records of one content (or none), then ``marks`` filemarks.

    Attributes:
        content: the records; ``None``: filemarks only.
        bad: 0-based indexes of the content's records to mark bad-data; ``True``: all.
        marks: filemarks after the records.
    """

    content: Content | None
    bad: frozenset[int] | bool = frozenset()
    marks: int = 0


@dataclass
class Written:
    """What :meth:`Tape.write` wrote, for a summary line."""

    files: int = 0
    records: int = 0
    bytes: int = 0
    bad: int = 0
    size: int = 0
    """Bytes of image."""

    def line(self, image: str) -> str:
        """``vol.tap: 3 tape files, 41 records, 389120 bytes``."""
        bad = f" ({self.bad} marked bad)" if self.bad else ""
        return f"{image}: {self.files} tape files, {self.records} records{bad}, {self.bytes} bytes"


@dataclass
class Tape:
    """A synthetic tape: the volume's settings and its entries; see the module.

    Attributes:
        format: ``"simh"``, ``"aws"`` or ``"het"``; ``None``: the one the image's name claims.
        density: as ``vmt new --density``: 800, 1600, 6250 (bpi), a code such as ``0x42``,
            or a name (``LTO-2``).
        capacity: the physical end of the medium in bytes of image, 0 for unlimited.
        early_warning: bytes before the end where early warning begins; ``None``: as
            ``vmt new`` (128k, or a quarter of a smaller capacity).
        block_size: the drive's fixed block size (0: variable-block mode).
        seed: seeds the random bytes of every content without a seed of its own.
    """

    format: str | None = None
    density: int | str = 0
    capacity: int = 0
    early_warning: int | None = None
    block_size: int = 0
    seed: int = 0
    entries: list[Entry] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.format is not None and self.format not in FORMATS:
            raise SynthError(f"{self.format!r} is not one of {', '.join(FORMATS)}", key="format")
        self.volume()  # refuse a bad setting when the tape is made, not when it is written
        _count("block_size", self.block_size, 0)

    def volume(self) -> VolumeInfo:
        """The volume's properties, as recorded beside the image.

        Raises:
            SynthError: an unknown density, a negative capacity, or an early-warning zone
                not smaller than the capacity.
        """
        try:
            density = parse_density(str(self.density))
        except OSError as exc:
            raise SynthError(str(exc.strerror), key="density") from None
        _count("capacity", self.capacity, 0)
        margin = self.early_warning
        if margin is None:
            margin = default_early_warning(self.capacity)
        _count("early_warning", margin, 0)
        if not self.capacity:
            if self.early_warning:
                raise SynthError("an early-warning zone needs a capacity", key="early_warning")
            margin = 0
        elif margin >= self.capacity:
            raise SynthError(
                f"{margin} is not smaller than the capacity {self.capacity}", key="early_warning"
            )
        return VolumeInfo(density=density, capacity=self.capacity, early_warning=margin)

    def records(self, content: Content, bad: Iterable[int] | bool = ()) -> Tape:
        """Append the records of ``content``, with no filemark after them.

        ``bad``: 0-based indexes of its records to write as bad-data records (``True``: all).
        """
        return self._add(Entry(content, _bad_set(bad), 0))

    def file(
        self, content: Content | None = None, bad: Iterable[int] | bool = (), marks: int = 1
    ) -> Tape:
        """Append a tape file: the records of ``content`` (none: an empty file), then a filemark.

        ``marks`` filemarks instead of one (2 ends a tape as many writers do; 0 lets the next
        entry continue the same tape file).
        """
        _count("marks", marks, 0)
        return self._add(Entry(content, _bad_set(bad), marks))

    def mark(self, count: int = 1) -> Tape:
        """Append ``count`` filemarks."""
        _count("marks", count, 1)
        return self._add(Entry(None, frozenset(), count))

    def bad(self, content: Content) -> Tape:
        """Append the records of ``content``, every one of them a bad-data record."""
        return self.records(content, bad=True)

    def _add(self, entry: Entry) -> Tape:
        self.entries.append(entry)
        return self

    def kind(self, image: str) -> DeviceKind:
        """The image kind to write at ``image``: :attr:`format`, else the one its name claims.

        Raises:
            SynthError: neither says a tape format, or they disagree.
        """
        claimed = kind_by_name(image)
        if self.format is None:
            if not claimed.is_tape_image:
                raise SynthError(
                    f"{image}: its name says {claimed.value}: name it *.tap, *.aws or *.het, "
                    "or give a format",
                    key="format",
                )
            return claimed
        kind = FORMATS[self.format]
        if claimed.is_tape_image and claimed is not kind:
            raise SynthError(
                f"{image}: its name says {claimed.value}, not {self.format}", key="format"
            )
        return kind

    def write(self, image: str, force: bool = False) -> Written:
        """Write the tape as a new image at ``image``; see the module.

        Args:
            image: the image file; it must not exist.
            force: replace an existing image (never a write-protected one, nor a file that is
                no image: :func:`~devices.vtape.create_tape_image` proves what it replaces).

        Returns:
            What was written.

        Raises:
            SynthError: the tape cannot be written as described (nothing is touched), or
                runs past its capacity (the new image is removed).
            OSError: EEXIST if ``image`` exists (without ``force``), a content's file is
                missing, and the errors of creating and writing an image.
        """
        kind = self.kind(image)
        volume = self.volume()
        fmt = tape_format(kind, image)
        with contextlib.ExitStack() as stack:
            ready = self._prepare(fmt, stack)
            if not force and os.path.lexists(image):
                raise OSError(errno.EEXIST, f"{image}: exists; not replaced without force")
            create_tape_image(image, volume, exist_ok=force, kind=kind)
            try:
                return self._fill(image, kind, ready)
            except BaseException:
                _remove(image)  # no half tape is left behind
                raise

    def _prepare(self, fmt: TapeFormat, stack: contextlib.ExitStack) -> list[_Ready]:
        """Every entry's records made ready and checked against ``fmt``."""
        ready = []
        for number, entry in enumerate(self.entries, 1):
            records = None
            if entry.content is not None:
                records = stack.enter_context(entry.content.prepare(f"{self.seed}:{number}"))
            ready.append(_check(number, entry, records, fmt))
        return ready

    def _fill(self, image: str, kind: DeviceKind, ready: list[_Ready]) -> Written:
        """Append every entry to the new image ``image``; save the block size with the state."""
        drive = open_tape_image(image, OpenOptions(write=True), kind=kind)
        written = Written()
        try:
            drive.state.block_size = self.block_size
            open_file = False  # records written since the last filemark
            for entry in ready:
                if entry.records is not None:
                    for i, data in enumerate(entry.records):
                        drive.image.append_record(data, i in entry.bad)
                        self._check_capacity(drive.image, entry.number, i)
                        written.records += 1
                        written.bytes += len(data)
                        open_file = True
                    written.bad += len(entry.bad)
                if entry.marks:
                    drive.image.append_filemarks(entry.marks)
                    self._check_capacity(drive.image, entry.number, None)
                    written.files += entry.marks
                    open_file = False
            written.files += open_file  # records after the last filemark: an unclosed file
            written.size = drive.image.end_offset
        finally:
            drive.close()
        return written

    def _check_capacity(self, image: TapeImage, number: int, record: int | None) -> None:
        """Refuse an object that ends past the capacity (the drive would have refused it)."""
        if self.capacity and image.end_offset > self.capacity:
            what = f"record {record}" if record is not None else "the filemarks"
            raise SynthError(
                f"{self.capacity} bytes are too few: {what} of entry {number} ends at byte "
                f"{image.end_offset} of the image",
                key="capacity",
            )


@dataclass
class _Ready:
    """An entry made ready to write: its records and the set of those marked bad."""

    number: int
    records: Records | None
    bad: frozenset[int]
    marks: int


def _check(number: int, entry: Entry, records: Records | None, fmt: TapeFormat) -> _Ready:
    """Check an entry's records against the format; the indexes of its bad records."""
    sizes = records.sizes if records is not None else []
    bad = frozenset(range(len(sizes))) if entry.bad is True else entry.bad or frozenset()
    for i in sorted(bad):
        if i >= len(sizes):
            raise SynthError(
                f"bad record {i}, but the entry has {len(sizes)} records", number, "bad"
            )
    if bad and not fmt.holds_bad_records:
        raise SynthError(
            f"record {min(bad)} is marked bad, but {fmt.name} images have no bad-data mark "
            "(simh images have)",
            number,
            "bad",
        )
    for i, length in enumerate(sizes):
        if length > fmt.max_record:
            raise SynthError(
                f"record {i} holds {length} bytes, more than {fmt.name} images hold "
                f"({fmt.max_record})",
                number,
            )
    return _Ready(number, records, bad, entry.marks)


def _bad_set(bad: Iterable[int] | bool) -> frozenset[int] | bool:
    """``bad`` as given to the builders: ``True``, or a set of indexes >= 0."""
    if isinstance(bad, bool):
        return bad
    indexes = frozenset(bad)
    for i in indexes:
        _count("bad", i, 0)
    return indexes


def _count(key: str, value: int, least: int) -> None:
    """Refuse ``value`` unless it is a whole number >= ``least``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise SynthError(f"{value!r} is not a whole number >= {least}", key=key)


def _remove(image: str) -> None:
    """Remove the image this tape was writing, and its side files."""
    for suffix in ("", *SIDE_FILES):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(image + suffix)
