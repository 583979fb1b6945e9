"""What a tape-image format provides to :class:`devices.formats.image.TapeImage`.

A format knows how objects are laid out in bytes: it scans an image into an
:class:`~devices.formats.index.ObjectIndex`, frames a record or a filemark for writing, and reads
a record's data back. Everything else (positions, truncation, capacity) is format-independent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from devices.formats.index import ObjectIndex
from devices.storage import Storage


@dataclass(frozen=True, slots=True)
class ScanResult:
    """How a scan ended.

    Attributes:
        problem: ``None`` for a clean image; else one line saying what stopped the scan.
        torn: the problem is an incomplete object at the physical end (a write cut short);
            it may be cut off. A corrupt object followed by more bytes is not torn.
        offset: byte offset of the first bad object (where readable data stops), ``None``
            for a clean image.
    """

    problem: str | None = None
    torn: bool = False
    offset: int | None = None


class TapeFormat(Protocol):
    """A tape-image layout."""

    name: str
    max_record: int
    """Largest record the format can hold."""
    headroom: int
    """Bytes reserved before a record's data in a framing buffer (for its header)."""
    tailroom: int
    """Bytes reserved after a record's data in a framing buffer (padding, trailer)."""
    holds_bad_records: bool
    """Whether a record can be marked bad-data (SIMH's class 8; AWS and HET have no such mark)."""

    def scan(self, storage: Storage, index: ObjectIndex) -> ScanResult:
        """Index every object from ``index.end`` (0: the start) of ``storage``; set ``index.end``.

        A non-empty ``index`` must end where an object starts (a stored volume's manifest,
        continued over the spool a crashed writer left).
        """
        ...

    def frame(
        self,
        buffer: bytearray,
        length: int,
        storage: Storage,
        index: ObjectIndex,
        bad: bool = False,
    ) -> memoryview:
        """Frame the record at ``buffer[headroom:headroom+length]``; return the bytes to write.

        The record goes at ``index.end`` of ``storage``: a format whose headers link to the
        object before (AWS and HET name the previous chunk's length) reads what it needs there.
        The bytes returned may be ``buffer`` itself or a new buffer (a record split in chunks).
        ``bad`` marks it bad-data, only in a format that :attr:`holds_bad_records`.
        """
        ...

    def record_size(self, length: int) -> int:
        """Return the bytes a record of ``length`` data bytes takes in the image."""
        ...

    def filemark(self) -> bytes:
        """Return the bytes of one filemark; every filemark takes as many."""
        ...

    def filemarks(self, count: int, storage: Storage, index: ObjectIndex) -> bytes:
        """Return the bytes of ``count`` filemarks to append at ``index.end`` of ``storage``."""
        ...

    def ends_medium(self, storage: Storage, offset: int) -> bool:
        """Whether an end-of-medium marker at ``offset`` is the last thing in ``storage``."""
        ...

    def probe(self, storage: Storage, torn_first_ok: bool = False) -> str | None:
        """Check that ``storage`` starts like an image of this format; ``None``, or the flaw.

        ``torn_first_ok``: a first record cut short by a crash of our writer counts as one.
        """
        ...

    def length_code_at(self, storage: Storage, offset: int) -> int | None:
        """The index's length code of the object at ``offset`` (see ``ObjectIndex``), if any."""
        ...

    def read_record(self, storage: Storage, index: ObjectIndex, i: int, buffer: memoryview) -> int:
        """Read record ``i``'s data into ``buffer`` (at least its length); returns the length."""
        ...

    def data_offset(self, index: ObjectIndex, i: int) -> int | None:
        """Where record ``i``'s data lies whole and as stored, or ``None`` if it does not.

        (A format that splits or compresses records answers ``None`` for those.)
        """
        ...
