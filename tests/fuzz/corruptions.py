"""Ways to damage a valid image: flipped bits, extreme words, truncation, insertion, duplication.

Format-neutral: the only thing taken from the format is where its objects start (its own scan of
the clean image), so that words set to extreme values land on headers and length fields as
well as anywhere else.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from devices.formats.index import ObjectIndex
from tests.fuzz.readers import FuzzFormat
from tests.integrity.oracle import MemoryStorage

EXTREMES = (
    0x00000000,
    0x00000001,
    0x00000002,
    0x0000FFFF,
    0x00010000,
    0x00FFFFFF,
    0x01000000,
    0x0FFFFFFF,
    0x70000000,
    0x7FFFFFFF,
    0x80000000,
    0x80000001,
    0x8FFFFFFF,
    0xE0000000,
    0xF0000000,
    0xFFFEFFFF,
    0xFFFFFFFE,
    0xFFFFFFFF,
)
"""Values a corrupted word takes: lengths at and past the limits, class bits, markers."""

KINDS = ("flip", "word", "object-word", "span", "truncate", "insert", "duplicate")


@dataclass(frozen=True)
class Corruption:
    """One change to an image.

    ``kind``: flip (XOR the byte at ``at`` with ``data[0]``), word (write ``EXTREMES[value]``
    as ``width`` little-endian bytes at ``at``), object-word (the same at the start of the
    object ``at`` picks, plus ``shift`` bytes: a header field), span (overwrite with ``data``),
    truncate (cut at ``at``), insert (``data`` at ``at``), duplicate (``length`` bytes from
    ``at`` inserted again at ``shift``).
    """

    kind: str
    at: int
    data: bytes = b"\x80"
    value: int = 0
    width: int = 4
    shift: int = 0
    length: int = 1

    def apply(self, image: bytes, item: FuzzFormat) -> tuple[bytes, int]:
        """The changed image, and the offset of the first byte that may differ."""
        size = len(image)
        if self.kind == "insert" or not size:
            pos = self.at % (size + 1)
            return image[:pos] + self.data + image[pos:], pos
        pos = self.at % size
        if self.kind == "truncate":
            return image[:pos], pos
        if self.kind == "duplicate":
            chunk = image[pos : pos + self.length]
            where = self.shift % (size + 1)
            return image[:where] + chunk + image[where:], where
        if self.kind == "flip":
            patch = bytes([image[pos] ^ (self.data[0] or 0x80)])
        elif self.kind == "span":
            patch = self.data
        else:
            if self.kind == "object-word":
                starts = object_starts(image, item) or (0,)
                pos = min(size - 1, starts[self.at % len(starts)] + self.shift % 8)
            word = struct.pack("<I", EXTREMES[self.value % len(EXTREMES)])
            patch = word[:2] if self.width == 2 else word
        patched = image[:pos] + patch + image[pos + len(patch) :]
        return patched, pos


def object_starts(image: bytes, item: FuzzFormat) -> tuple[int, ...]:
    """Where the format's own scan finds objects in ``image``."""
    index = ObjectIndex()
    item.fmt.scan(MemoryStorage(image), index)
    return tuple(index.offsets)


def corrupt(image: bytes, item: FuzzFormat, changes: list[Corruption]) -> tuple[bytes, int]:
    """Apply ``changes`` in turn; return the result and the first offset any of them touched."""
    first = len(image)
    for change in changes:
        image, at = change.apply(image, item)
        first = min(first, at)
    return image, first
