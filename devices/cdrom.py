"""A CD-ROM: an image file served read-only, by 2048-byte sectors, with random access.

This is what the /CD qualifier and ``.iso`` names give: the OpenVMS RCD server's view of a
CD-ROM as a read-only random-access device. Reads return whole sectors (a count that is not a
multiple of 2048 gets EINVAL, like a raw CD device), ``lseek`` moves to any sector boundary,
and the end of the image reads as 0. Tape operations fail with ENOTTY.
"""

from __future__ import annotations

import errno
import os

from devices.errors import tape_error
from devices.interface import BytesLike, DriveStatus, FileExtent
from devices.writebuffer import StagedWrites

SECTOR = 2048
"""Bytes in a CD-ROM data sector (mode 1)."""


class CdRom(StagedWrites):
    """One read-only open of a CD-ROM image.

    Args:
        path: the image file.
        name: what to call it in error messages (default ``path``).
    """

    def __init__(self, path: str, name: str | None = None) -> None:
        self.name = name or path
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:  # name the image as the client did, not where it lives
            raise tape_error(exc.errno or errno.EIO, f"{self.name}: {exc.strerror}") from None
        self._size = os.fstat(self._fd).st_size
        self._offset = 0

    def readinto(self, buffer: memoryview) -> int:
        """Read whole sectors from the current offset (0 at the end of the image)."""
        if len(buffer) % SECTOR:
            raise tape_error(
                errno.EINVAL, f"{self.name}: reads must be whole {SECTOR}-byte sectors"
            )
        got = os.preadv(self._fd, [buffer], self._offset)
        self._offset += got
        return got

    def read_extent(self, count: int) -> FileExtent | None:
        """Whole sectors from the current offset, as an extent of the image.

        ``None`` at the end of the image and for a count :meth:`readinto` refuses.
        """
        if self._fd < 0 or count % SECTOR:
            return None
        length = min(count, self._size - self._offset)
        if length <= 0:
            return None
        extent = FileExtent(self._fd, self._offset, length)
        self._offset += length
        return extent

    def write(self, data: BytesLike) -> int:
        """A CD-ROM is only ever open for reading: EBADF, as ``write(2)`` on such a descriptor."""
        raise self._read_only()

    def check_write(self, count: int) -> None:
        """Refuse every write (EBADF), so that ``write_buffer`` allocates nothing."""
        raise self._read_only()

    def _read_only(self) -> OSError:
        return tape_error(errno.EBADF, f"{self.name}: a CD-ROM is read-only")

    def ioctl(self, op: int, count: int) -> int:
        """No tape operations on a CD-ROM: ENOTTY."""
        raise tape_error(errno.ENOTTY, f"{self.name}: a CD-ROM has no tape operations")

    def status(self) -> DriveStatus:
        """No tape status on a CD-ROM: ENOTTY."""
        raise tape_error(errno.ENOTTY, f"{self.name}: a CD-ROM has no tape status")

    def tell(self) -> int:
        """The byte offset."""
        return self._offset

    def seek(self, offset: int, whence: int) -> int:
        """Move to a sector boundary (``SEEK_SET``, ``SEEK_CUR`` or ``SEEK_END``)."""
        bases = {os.SEEK_SET: 0, os.SEEK_CUR: self._offset, os.SEEK_END: self._size}
        if whence not in bases:
            raise tape_error(errno.EINVAL, f"{self.name}: bad whence {whence}")
        target = bases[whence] + offset
        if target < 0 or target % SECTOR:
            raise tape_error(errno.EINVAL, f"{self.name}: offset {target} is not a sector boundary")
        self._offset = target
        return target

    def close(self) -> None:
        """Close the image (once)."""
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)
