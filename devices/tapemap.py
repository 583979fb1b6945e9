"""A map of a tape image's files, like Hercules ``tapemap``: records, sizes and bytes per file.

It reads only the object index, never the data, so mapping a large image costs one scan at most.
A file is what lies before a filemark; records after the last filemark form a last file of
their own, as on a tape whose writer stopped without closing it. A file whose writer recorded
that it could not finish it (see ``VirtualTapeDrive.mark_file_incomplete``) is *incomplete*,
even though a filemark closes it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass

from devices.formats.index import ObjectIndex


@dataclass(frozen=True, slots=True)
class TapeFileSummary:
    """One tape file of an image.

    Attributes:
        number: the file number, from 0 as ``mt status`` counts files.
        first: object number of its first record (or of its filemark when it is empty).
        end: object number just past its last record (its filemark, or the end of data).
        records: how many data records it holds (bad ones included).
        bytes: data bytes in its records.
        smallest: the smallest record's length, 0 for an empty file.
        largest: the largest record's length, 0 for an empty file.
        bad: how many of its records are marked bad.
        closed: a filemark ends it.
        incomplete: its writer could not finish it (the volume's state says so).
    """

    number: int
    first: int
    end: int
    records: int
    bytes: int
    smallest: int
    largest: int
    bad: int
    closed: bool
    incomplete: bool = False

    def line(self) -> str:
        """One line of ``vmt ls`` text output."""
        text = (
            f"File {self.number}: records={self.records}, bytes={self.bytes}, "
            f"record size min={self.smallest}, max={self.largest}, first object={self.first}"
        )
        if self.bad:
            text += f", bad records={self.bad}"
        if not self.closed:
            text += " (no filemark)"
        if self.incomplete:
            text += " (incomplete)"
        return text

    def as_dict(self) -> dict[str, int | bool]:
        """The summary as a JSON-ready dictionary."""
        return asdict(self)


def summarize(index: ObjectIndex, incomplete: Collection[int] = ()) -> list[TapeFileSummary]:
    """Map ``index`` into its tape files.

    Args:
        index: the image's objects.
        incomplete: first object numbers of incomplete files (``VolumeInfo.incomplete``);
            a number that is no file's first object is ignored.
    """
    unfinished = set(incomplete)
    files: list[TapeFileSummary] = []
    start = 0
    bounds = [*index.marks, len(index)]
    for number, end in enumerate(bounds):
        closed = number < len(index.marks)
        if not closed and start == end:
            break  # nothing after the last filemark
        lengths = [index.record_length(i) for i in range(start, end)]
        bad = sum(1 for i in range(start, end) if index.is_bad(i))
        files.append(
            TapeFileSummary(
                number=number,
                first=start,
                end=end,
                records=len(lengths),
                bytes=sum(lengths),
                smallest=min(lengths, default=0),
                largest=max(lengths, default=0),
                bad=bad,
                closed=closed,
                incomplete=start in unfinished,
            )
        )
        start = end + 1
    return files
