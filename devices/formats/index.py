"""The object index of a tape image: where every record and filemark starts.

A tape image is a sequence of *objects* (data records and filemarks). The index keeps, for object
``i``, its byte offset and its length (with filemarks and bad records encoded in the length), plus
the sorted object numbers of the filemarks, so that spacing over files is a binary search and
reading record ``i`` is one positioned read. Object numbers are also the SCSI logical positions
that MTSEEK and MTIOCPOS use.

The index is saved beside its image and trusted only while the image's identity (size, times,
inode and device of the file actually opened) is what it was when it was saved, its body is the
one saved (a CRC-32 in its header), and its first and last objects are where it says; otherwise
the image is scanned again. (Without the CRC a flipped bit in a side file would be trusted: a
record offset past the end of the image, or a length of terabytes, read as if true.)
"""

from __future__ import annotations

import logging
import os
import zlib
from array import array
from bisect import bisect_left
from dataclasses import dataclass

from construct import Const, Int64sl, Int64ul, Struct

from devices.atomic import read_no_follow, write_atomically

log = logging.getLogger(__name__)

INDEX_SUFFIX = ".rmtd-index"
"""The index of ``vol.tap`` is saved as ``vol.tap.rmtd-index``."""

FILEMARK = -1
"""Length code of a filemark. Good records store their length (>= 0); bad ones ``-2 - length``."""

_HEADER = Struct(
    "magic" / Const(b"RMTDIDX3"),
    "image_size" / Int64ul,
    "image_mtime_ns" / Int64ul,
    "image_inode" / Int64ul,
    "end" / Int64ul,
    "count" / Int64ul,
    "marks" / Int64ul,
    "image_ctime_ns" / Int64ul,
    "image_device" / Int64ul,
    "body_crc" / Int64ul,
)
_HEADER_SIZE = _HEADER.sizeof()
_ITEM = Int64sl.sizeof()


@dataclass(frozen=True, slots=True)
class ImageIdentity:
    """What identifies one version of an image file: size, mtime, inode, ctime and device.

    It is taken from the open descriptor (``fstat``), never from the name: a path can be
    renamed over at any moment, and side files must describe the file that was actually
    opened. The ctime catches a same-size rewrite within one mtime tick, or one that restored
    the mtime (``touch -r``): nothing but the kernel sets it.
    """

    size: int
    mtime_ns: int
    inode: int
    ctime_ns: int
    device: int = 0

    @classmethod
    def of_fd(cls, fd: int) -> ImageIdentity:
        """Return the identity of the file open on ``fd``."""
        return cls.of_stat(os.fstat(fd))

    @classmethod
    def of_stat(cls, st: os.stat_result) -> ImageIdentity:
        """Return the identity a ``stat`` result describes."""
        return cls(st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns, st.st_dev)


def same_file(path: str, fd: int) -> bool:
    """Whether ``path`` still names the file open on ``fd`` (not a symlink, not a replacement)."""
    try:
        named = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


class ObjectIndex:
    """Offsets and lengths of a tape image's objects, and where its filemarks are."""

    def __init__(self) -> None:
        self.offsets = array("q")
        self.lengths = array("q")
        self.marks = array("q")
        self.end = 0
        """Byte offset just past the last object: where the next object is written."""

    def __len__(self) -> int:
        return len(self.lengths)

    def add_record(self, offset: int, length: int, bad: bool = False) -> None:
        """Append a data record of ``length`` bytes starting at ``offset``."""
        self.offsets.append(offset)
        self.lengths.append(-2 - length if bad else length)

    def add_filemark(self, offset: int) -> None:
        """Append a filemark starting at ``offset``."""
        self.marks.append(len(self.lengths))
        self.offsets.append(offset)
        self.lengths.append(FILEMARK)

    def is_filemark(self, i: int) -> bool:
        """Return whether object ``i`` is a filemark."""
        return self.lengths[i] == FILEMARK

    def is_bad(self, i: int) -> bool:
        """Return whether object ``i`` is a bad-data record."""
        return self.lengths[i] < FILEMARK

    def record_length(self, i: int) -> int:
        """Return the data length of record ``i`` (good or bad)."""
        code = self.lengths[i]
        return code if code >= 0 else -2 - code

    def offset(self, i: int) -> int:
        """Return the byte offset of object ``i``, or the end offset for ``i == len``."""
        return self.offsets[i] if i < len(self.offsets) else self.end

    def marks_before(self, i: int) -> int:
        """Return how many filemarks lie before object ``i``."""
        return bisect_left(self.marks, i)

    def truncate(self, i: int) -> None:
        """Forget objects ``i`` and after; the end becomes object ``i``'s offset."""
        if i >= len(self.lengths):
            return
        self.end = self.offsets[i]
        del self.offsets[i:]
        del self.lengths[i:]
        del self.marks[bisect_left(self.marks, i) :]

    def save(self, path: str, identity: ImageIdentity) -> None:
        """Write the index to ``path`` atomically, tagged with the image's identity."""
        header = _HEADER.build(
            {
                "image_size": identity.size,
                "image_mtime_ns": identity.mtime_ns,
                "image_inode": identity.inode,
                "end": self.end,
                "count": len(self.lengths),
                "marks": len(self.marks),
                "image_ctime_ns": identity.ctime_ns,
                "image_device": identity.device,
                "body_crc": self._crc(),
            }
        )
        body = (memoryview(a).cast("B") for a in (self.offsets, self.lengths, self.marks))
        write_atomically(path, [header, *body])

    def _crc(self) -> int:
        """CRC-32 of the saved body: offsets, lengths and marks, as stored."""
        crc = 0
        for part in (self.offsets, self.lengths, self.marks):
            crc = zlib.crc32(memoryview(part).cast("B"), crc)
        return crc

    @classmethod
    def load(cls, path: str, identity: ImageIdentity) -> ObjectIndex | None:
        """Read a saved index if it exists and still describes the image; else ``None``."""
        try:
            raw = read_no_follow(path)
        except OSError:
            return None
        try:
            head = _HEADER.parse(raw[:_HEADER_SIZE])
        except Exception:  # construct raises many types for a malformed header
            log.info("%s: unreadable index, rescanning", path)
            return None
        saved = ImageIdentity(
            head.image_size,
            head.image_mtime_ns,
            head.image_inode,
            head.image_ctime_ns,
            head.image_device,
        )
        if saved != identity:
            log.info("%s: index of another version of the image, rebuilding it", path)
            return None
        count, marks = head.count, head.marks
        if len(raw) != _HEADER_SIZE + _ITEM * (2 * count + marks):
            return None
        index = cls()
        body = memoryview(raw)[_HEADER_SIZE:]
        index.offsets.frombytes(body[: _ITEM * count])
        index.lengths.frombytes(body[_ITEM * count : _ITEM * 2 * count])
        index.marks.frombytes(body[_ITEM * 2 * count :])
        index.end = head.end
        if index._crc() != head.body_crc:
            log.info("%s: its body is not the one saved (CRC), rescanning", path)
            return None
        return index
