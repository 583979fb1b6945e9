"""The SIMH magnetic-tape image format (``.tap``).

Layout (Supnik, "SIMH Magtape Representation and Handling", 2017 and the 2022 class revision):
a sequence of 32-bit little-endian control words and records. A record of ``n`` bytes is
``n`` (LE32), the data, one pad byte if ``n`` is odd, ``n`` again. ``0`` is a tape mark,
``0xFFFFFFFF`` the end-of-medium marker, ``0xFFFFFFFE`` an erase gap word, ``0xFFFEFFFF`` a half
gap. The top four bits are a class: 0 good data, 8 bad data (reading gives EIO), 1-6 and 9-E
other records that readers skip, 7 and F markers.

We write only what open-simh accepts: class-0 records of 1 to 16 MiB - 1 bytes, zero padding,
tape marks. We read tolerantly: gaps and half gaps are skipped, records of other classes and
private markers are skipped, bad records are indexed as bad.
"""

from __future__ import annotations

import struct
from typing import Any

from construct import BitsInteger, BitStruct, ByteSwapped, Nibble

from devices.formats.base import ScanResult
from devices.formats.index import FILEMARK, ObjectIndex
from devices.interface import MAX_RECORD
from devices.storage import Storage

CONTROL_WORD = ByteSwapped(BitStruct("cls" / Nibble, "value" / BitsInteger(28)))
"""A control word as class (bits 31-28) and value (bits 27-0), stored little-endian."""

TAPE_MARK = 0x00000000
END_OF_MEDIUM = 0xFFFFFFFF
ERASE_GAP = 0xFFFFFFFE
HALF_GAP = 0xFFFEFFFF
MAX_STANDARD_LENGTH = MAX_RECORD
"""Largest record length of the standard format (24 bits); also what we write at most."""

CLASS_GOOD = 0x0
CLASS_PRIVATE_MARKER = 0x7
CLASS_BAD = 0x8
CLASS_MARKERS = 0xF

_WORD = struct.Struct("<I")
_CHUNK = 1 << 20  # bytes scanned per read: large enough that small records need no extra reads


def decode_word(word: int) -> Any:
    """Split a control word into its class and value (a construct ``Container``)."""
    return CONTROL_WORD.parse(_WORD.pack(word))


def record_size(length: int) -> int:
    """Return the bytes a record of ``length`` data bytes occupies: words, data and pad."""
    return 8 + length + (length & 1)


class _Scanner:
    """Walks the image forward in chunks, indexing objects; one instance per scan."""

    def __init__(self, storage: Storage, index: ObjectIndex) -> None:
        self.storage = storage
        self.index = index
        self.size = storage.size()
        self.buffer = bytearray(_CHUNK)
        self.view = memoryview(self.buffer)
        self.base = 0  # image offset of buffer[0]
        self.avail = 0  # valid bytes in buffer

    def fill(self, pos: int) -> None:
        """Refill the buffer starting at image offset ``pos``."""
        self.base = pos
        self.avail = self.storage.read_into(pos, self.view)

    def word_at(self, pos: int) -> int:
        """Read the control word at ``pos`` (which must lie within the image)."""
        rel = pos - self.base
        if rel < 0 or rel + 4 > self.avail:
            self.fill(pos)
            rel = 0
        value: int = _WORD.unpack_from(self.buffer, rel)[0]
        return value

    def run(self) -> ScanResult:
        """Index objects until the logical or physical end; report why it stopped."""
        index, size, unpack = self.index, self.size, _WORD.unpack_from
        add_offset, add_length = index.offsets.append, index.lengths.append
        buffer = self.buffer
        pos = index.end  # 0 for a new index; a stored volume's spool continues its manifest's
        result = ScanResult()
        while True:
            rel = pos - self.base
            if rel + 4 > self.avail:
                if pos + 4 > size:
                    if pos < size:
                        result = ScanResult(
                            f"partial control word at offset {pos}", torn=True, offset=pos
                        )
                    break
                self.fill(pos)
                rel = 0
            word = unpack(buffer, rel)[0]
            if 0 < word <= MAX_STANDARD_LENGTH:  # the common case: a good record, inline
                end = pos + 8 + word + (word & 1)
                trail = end - 4 - self.base
                if trail + 4 <= self.avail:
                    trailer = unpack(buffer, trail)[0]
                elif end <= size:
                    trailer = self.word_at(end - 4)
                else:
                    result = ScanResult(
                        f"record at offset {pos} runs past the end", torn=True, offset=pos
                    )
                    break
                if trailer != word:
                    result = ScanResult(f"record at offset {pos}: length words differ", offset=pos)
                    break
                add_offset(pos)
                add_length(word)
                pos = end
            elif word == TAPE_MARK:
                index.add_filemark(pos)
                pos += 4
            else:
                step = self.other(pos, word)
                if isinstance(step, ScanResult):
                    result = step
                    break
                pos = step
        index.end = pos
        return result

    def other(self, pos: int, word: int) -> int | ScanResult:
        """Handle a control word other than a good 24-bit record or a tape mark.

        Returns the next offset, or a :class:`ScanResult` when the scan must stop there.
        """
        if word == END_OF_MEDIUM:
            if pos + 4 < self.size:  # SIMH: nothing follows the end of medium
                return ScanResult(
                    f"{self.size - pos - 4} bytes after the end-of-medium marker", offset=pos
                )
            return ScanResult()
        if word == ERASE_GAP:
            return pos + 4
        if word == HALF_GAP:  # a record overwrote half of a gap word: resume 2 bytes on
            return pos + 2
        parts = decode_word(word)
        if parts.cls in (CLASS_PRIVATE_MARKER, CLASS_MARKERS):
            return pos + 4  # markers we do not know are single words; skip them
        length = parts.value
        end = pos + record_size(length)
        if end > self.size:
            # Not torn: we never write these classes, so this is damage, not our crash.
            return ScanResult(f"record at offset {pos} runs past the end", offset=pos)
        if self.word_at(end - 4) != word:
            return ScanResult(f"record at offset {pos}: length words differ", offset=pos)
        if parts.cls == CLASS_BAD:
            self.index.add_record(pos, length, bad=True)
        elif parts.cls == CLASS_GOOD:  # an extended-format length beyond 24 bits
            self.index.add_record(pos, length)
        return end  # private, reserved and description records are skipped


class SimhFormat:
    """The SIMH ``.tap`` layout (standard format, padded records)."""

    name = "simh"
    max_record = MAX_STANDARD_LENGTH
    holds_bad_records = True
    headroom = 4
    tailroom = 5

    def scan(self, storage: Storage, index: ObjectIndex) -> ScanResult:
        """Index every object from ``index.end``, stopping at EOM, the physical end or damage."""
        return _Scanner(storage, index).run()

    def frame(
        self,
        buffer: bytearray,
        length: int,
        storage: Storage,
        index: ObjectIndex,
        bad: bool = False,
    ) -> memoryview:
        """Add the leading word, pad byte and trailing word around ``buffer[4:4+length]``.

        A bad-data record's words carry class 8 (reading it gives EIO, as from a bad block).
        """
        word = length | (CLASS_BAD << 28) if bad else length
        _WORD.pack_into(buffer, 0, word)
        end = 4 + length
        if length & 1:
            buffer[end] = 0
            end += 1
        _WORD.pack_into(buffer, end, word)
        return memoryview(buffer)[: end + 4]

    def record_size(self, length: int) -> int:
        """Return the bytes a record of ``length`` takes: two words, data and pad."""
        return record_size(length)

    def filemark(self) -> bytes:
        """Return a tape mark."""
        return _WORD.pack(TAPE_MARK)

    def filemarks(self, count: int, storage: Storage, index: ObjectIndex) -> bytes:
        """Return ``count`` tape marks (they do not depend on what precedes them)."""
        return _WORD.pack(TAPE_MARK) * count

    def length_code_at(self, storage: Storage, offset: int) -> int | None:
        """The length code of the object at ``offset``: a record's length, or a filemark's."""
        word = bytearray(4)
        if storage.read_into(offset, memoryview(word)) != 4:
            return None
        value: int = _WORD.unpack(word)[0]
        if value == TAPE_MARK:
            return FILEMARK
        parts = decode_word(value)
        if parts.cls == CLASS_GOOD:
            return int(parts.value)
        if parts.cls == CLASS_BAD:
            return -2 - int(parts.value)
        return None

    def ends_medium(self, storage: Storage, offset: int) -> bool:
        """Whether the end-of-medium word at ``offset`` is the file's last four bytes."""
        word = bytearray(4)
        if offset + 4 != storage.size() or storage.read_into(offset, memoryview(word)) != 4:
            return False
        return bool(_WORD.unpack(word)[0] == END_OF_MEDIUM)

    def probe(self, storage: Storage, torn_first_ok: bool = False) -> str | None:
        """Check that ``storage`` starts like a SIMH image (see :func:`probe`)."""
        return probe(storage, torn_first_ok)

    def read_record(self, storage: Storage, index: ObjectIndex, i: int, buffer: memoryview) -> int:
        """Read record ``i``'s data (it follows the leading word) into ``buffer``."""
        length = index.record_length(i)
        got = storage.read_into(index.offsets[i] + 4, buffer[:length])
        if got != length:
            raise OSError(5, f"{storage.name}: record {i} is cut short")
        return length

    def data_offset(self, index: ObjectIndex, i: int) -> int | None:
        """A record's data follows its leading length word, whole."""
        return index.offsets[i] + 4


_PROBE_WINDOW = 1 << 16
"""How far :func:`probe` looks: far enough that other files fail, not so far that it costs."""


def probe(storage: Storage, torn_first_ok: bool = False) -> str | None:
    """Check that ``storage`` starts like a SIMH image; ``None`` if so, else what is wrong.

    The objects in the first 64 KiB are walked. The file is an image if they are all well
    formed (records whose two length words agree, tape marks, gaps, markers), or if a well
    formed data record comes before the first bad object (an image damaged further on: the
    image layer reports that damage). A file that fails before any good record (garbage, or
    zeros then garbage, as a disk image starts) is not an image. An empty file is a blank
    tape; a good record running past the end first thing is a first write cut short (torn)
    when ``torn_first_ok`` says a write of ours was under way, and garbage otherwise.
    """
    size = storage.size()
    word = bytearray(4)
    view = memoryview(word)
    pos = 0
    seen_record = False
    while pos < min(size, _PROBE_WINDOW):
        if pos + 4 > size or storage.read_into(pos, view) != 4:
            problem = f"partial control word at offset {pos}"
            break
        value = _WORD.unpack(word)[0]
        if value == END_OF_MEDIUM:
            return None
        if value in (TAPE_MARK, ERASE_GAP, HALF_GAP):
            pos += 2 if value == HALF_GAP else 4
            continue
        parts = decode_word(value)
        if parts.cls in (CLASS_PRIVATE_MARKER, CLASS_MARKERS):
            pos += 4
            continue
        end = pos + record_size(parts.value)
        if end > size:
            if pos == 0 and parts.cls == CLASS_GOOD and torn_first_ok:
                return None  # our torn first write: the image layer cuts it
            problem = f"record at offset {pos} runs past the end"
            break
        if storage.read_into(end - 4, view) != 4 or _WORD.unpack(word)[0] != value:
            problem = f"record at offset {pos}: length words differ"
            break
        seen_record = seen_record or parts.cls in (CLASS_GOOD, CLASS_BAD)
        pos = end
    else:
        if seen_record or pos >= size:
            return None
        problem = f"no data record in the first {_PROBE_WINDOW} bytes"  # zeros, as disks start
    return None if seen_record else problem
