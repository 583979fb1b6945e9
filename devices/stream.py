"""Byte-stream reads over a tape drive (the /STREAM qualifier).

A client that reads with any count gets the bytes of the current tape file as a stream: a read
returns up to its count, gathering whole records and keeping the unread tail of a record for the
next read, and never crosses a filemark (the read that meets one returns 0, as on the drive).
Writes, tape operations and status go straight to the drive; a tape operation that may move
the tape drops a kept tail (MTNOP, which ``mt status`` sends, and the other still ones keep it).

Records that fit are read straight into the caller's buffer, so the common case (tar reading
10240-byte records with a 10240-byte count) costs no copy.
"""

from __future__ import annotations

from devices.drive import VirtualTapeDrive
from devices.interface import BytesLike, DriveStatus, FileExtent, MtOp, ObjectKind

_STILL = frozenset(
    {MtOp.MTNOP, MtOp.MTSETDENSITY, MtOp.MTCOMPRESSION, MtOp.MTLOCK, MtOp.MTUNLOCK, MtOp.MTTELL}
)
"""Operations that leave the tape where it is (``mt status`` sends MTNOP first)."""


class StreamingTape:
    """A :class:`~devices.drive.VirtualTapeDrive` whose reads are a byte stream per file."""

    def __init__(self, drive: VirtualTapeDrive) -> None:
        self.drive = drive
        self._tail = bytearray()
        self._tail_start = 0

    def readinto(self, buffer: memoryview) -> int:
        """Fill ``buffer`` from the current tape file; 0 at a filemark or the end of data."""
        wanted = len(buffer)
        got = self._take_tail(buffer)
        while got < wanted:
            ahead = self.drive.next_object()
            if ahead.kind is not ObjectKind.RECORD:
                if got:
                    break  # return what we have; the mark (or error) comes next time
                # No data comes back from a filemark, the end of data or a bad record; in
                # fixed-block mode the drive still wants a whole block's room.
                block = self.drive.block_size
                return self.drive.readinto(memoryview(bytearray(block)) if block else buffer)
            length = ahead.length
            if length <= wanted - got:
                # Exactly one record's room: in fixed-block mode the drive wants whole blocks.
                got += self.drive.readinto(buffer[got : got + length])
                continue
            self._tail = bytearray(length)
            self.drive.readinto(memoryview(self._tail))
            self._tail_start = 0
            got += self._take_tail(buffer[got:])
        return got

    def read_extent(self, count: int) -> FileExtent | None:
        """A read that is exactly the next record, with no kept tail, as an extent of the image.

        Any other read (a tail to return first, records to gather or split) is ``None``: it
        goes through :meth:`readinto`.
        """
        if len(self._tail) or self.drive.block_size:
            return None
        ahead = self.drive.next_object()
        if ahead.kind is not ObjectKind.RECORD or ahead.length != count:
            return None
        return self.drive.read_extent(count)

    def _take_tail(self, buffer: memoryview) -> int:
        left = len(self._tail) - self._tail_start
        if not left or not len(buffer):
            return 0
        count = min(left, len(buffer))
        start = self._tail_start
        buffer[:count] = memoryview(self._tail)[start : start + count]
        self._tail_start += count
        if self._tail_start == len(self._tail):
            self._tail = bytearray()
            self._tail_start = 0
        return count

    def write(self, data: BytesLike) -> int:
        """Write one record (or blocks in fixed mode), as the drive does."""
        self._drop_tail()
        return self.drive.write(data)

    def write_buffer(self, count: int) -> memoryview:
        """Lend the drive's record buffer for a one-record write (see the drive's method)."""
        self._drop_tail()
        return self.drive.write_buffer(count)

    def commit_write(self, count: int) -> int:
        """Write the record put in :meth:`write_buffer`."""
        return self.drive.commit_write(count)

    def ioctl(self, op: int, count: int) -> int:
        """Perform a tape operation; one that may move the tape drops a kept record tail."""
        if op not in _STILL:
            self._drop_tail()
        return self.drive.ioctl(op, count)

    def status(self) -> DriveStatus:
        """The drive's status."""
        return self.drive.status()

    def tell(self) -> int:
        """The drive's logical position."""
        return self.drive.tell()

    def seek(self, offset: int, whence: int) -> int:
        """``lseek`` as the drive answers it: 0, nothing moves, so a kept record tail stays."""
        return self.drive.seek(offset, whence)

    def close(self) -> None:
        """Close the drive."""
        self._drop_tail()
        self.drive.close()

    def _drop_tail(self) -> None:
        self._tail = bytearray()
        self._tail_start = 0
