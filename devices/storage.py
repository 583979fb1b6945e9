"""Where an image's bytes live: a small interface, and its first implementation, a local file.

Formats read and write only through :class:`Storage`, so that images can later live elsewhere
(object storage) without touching the drive or the formats. The local implementation works on an
unbuffered binary file object (one ``read``/``write`` system call per call, no Python buffering),
remembers the file offset so that sequential appends cost one system call each, and never leaves
a partly written record behind: a failed write is cut back to where it started.
"""

from __future__ import annotations

import errno
import io
import logging
import os
from typing import Protocol

from devices.errors import tape_error
from devices.interface import BytesLike, FileExtent
from devices.streamwrites import StreamWrites

log = logging.getLogger(__name__)


class Storage(Protocol):
    """Positioned byte storage for one image."""

    name: str

    def size(self) -> int:
        """Return the number of bytes stored."""
        ...

    def read_into(self, offset: int, buffer: memoryview) -> int:
        """Fill ``buffer`` from ``offset``; returns the bytes read (fewer only at the end)."""
        ...

    def extent(self, offset: int, length: int) -> FileExtent | None:
        """Where ``length`` bytes at ``offset`` lie in an open file, or ``None`` if in none."""
        ...

    def write_at(self, offset: int, data: BytesLike) -> None:
        """Write all of ``data`` at ``offset`` in one call; on failure nothing is left past it."""
        ...

    def truncate(self, size: int) -> None:
        """Cut the storage to ``size`` bytes."""
        ...

    def sync(self) -> None:
        """Make what was written durable."""
        ...

    def sync_data(self) -> None:
        """Make the data written durable (not necessarily times and other metadata)."""
        ...

    def close(self) -> None:
        """Release the storage."""
        ...


class FileStorage:
    """A :class:`Storage` over a local file opened unbuffered."""

    def __init__(self, name: str, file: io.FileIO, writable: bool) -> None:
        self.name = name
        self._file = file
        self.writable = writable
        """Opened for writing."""
        self._offset = 0  # where the OS file offset stands, to skip needless seeks
        self._size = file.seek(0, os.SEEK_END)
        self._offset = self._size
        # Positioned reads (one pread per record instead of lseek + read) and extents for
        # sendfile need a real descriptor; a file object that is not the OS's own (a test's
        # fake file system) is read through seek and readinto.
        self._fd: int | None = file.fileno() if isinstance(file, io.FileIO) else None
        self._stream = StreamWrites(self._fd if writable else None, name, reserve=True)

    @classmethod
    def open(
        cls, path: str, writable: bool, create: bool = False, exclusive: bool = False
    ) -> FileStorage:
        """Open ``path`` (``exclusive``: create it, EEXIST if it exists).

        Raises:
            OSError: from the system (ENOENT, EACCES, EISDIR, EEXIST...).
        """
        mode = os.O_RDWR | (os.O_CREAT if create else 0) if writable else os.O_RDONLY
        mode |= os.O_CLOEXEC | (os.O_EXCL if exclusive else 0)
        fd = os.open(path, mode, 0o666)
        try:
            file = open(fd, "r+b" if writable else "rb", buffering=0)  # noqa: SIM115 (owned here)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, file, writable)

    def fileno(self) -> int:
        """Return the file descriptor (for locking)."""
        return self._file.fileno()

    def size(self) -> int:
        """Return the file's size as this storage last wrote or found it."""
        return self._size

    def _seek(self, offset: int) -> None:
        if offset != self._offset:
            self._file.seek(offset)
            self._offset = offset

    def read_into(self, offset: int, buffer: memoryview) -> int:
        """Fill ``buffer`` from ``offset`` (looping over short reads); returns the count."""
        if self._fd is not None:
            return self._pread_into(offset, buffer)
        self._seek(offset)
        total = 0
        wanted = len(buffer)
        try:
            while total < wanted:
                got = self._file.readinto(buffer[total:])
                if not got:
                    break
                total += got
        finally:
            self._offset = offset + total
        return total

    def _pread_into(self, offset: int, buffer: memoryview) -> int:
        """``preadv`` until ``buffer`` is full or the file ends; the file offset stays put."""
        assert self._fd is not None
        total = os.preadv(self._fd, [buffer], offset)
        wanted = len(buffer)
        while 0 < total < wanted:
            got = os.preadv(self._fd, [buffer[total:]], offset + total)
            if not got:
                break
            total += got
        return total

    def extent(self, offset: int, length: int) -> FileExtent | None:
        """The bytes at ``offset`` in this file (the caller knows they are there).

        ``None`` for a file with no descriptor of the OS's own.
        """
        if self._fd is None:
            return None
        return FileExtent(self._fd, offset, length)

    def write_at(self, offset: int, data: BytesLike) -> None:
        """Write ``data`` at ``offset`` with one ``write`` call; undo a partial write."""
        if not self.writable:
            raise tape_error(errno.EBADF, f"{self.name}: not opened for writing")
        view = memoryview(data)
        self._seek(offset)
        try:
            written = self._file.write(view)
        except OSError:
            self._undo(offset)
            raise
        if written != len(view):  # a short write: the disk filled up mid-record
            self._undo(offset)
            raise tape_error(errno.ENOSPC, f"{self.name}: no space left on device")
        self._offset = offset + written
        self._size = max(self._size, self._offset)
        self._stream.wrote(written)

    def _undo(self, offset: int) -> None:
        """Cut off whatever a failed write left past ``offset``; keep the image valid."""
        self._offset = -1  # unknown after a failure: seek again next time
        try:
            self._file.truncate(offset)
            self._size = offset
        except OSError:
            self._size = self._file.seek(0, os.SEEK_END)
            self._offset = self._size

    def truncate(self, size: int) -> None:
        """Cut the file to ``size`` bytes."""
        self._file.truncate(size)
        self._size = size

    def sync(self) -> None:
        """``fsync`` the file (blocks reserved past its end given back first)."""
        if self.writable:
            self._stream.finish()
            os.fsync(self._file.fileno())

    def sync_data(self) -> None:
        """``fdatasync`` the file."""
        if self.writable:
            os.fdatasync(self._file.fileno())

    def close(self) -> None:
        """Close the file (its descriptor number is never used again here)."""
        self._fd = None
        try:
            self._stream.finish()  # a reader or a failed open never reserved anything
        except OSError as exc:
            log.info("%s: %s", self.name, exc.strerror)
        self._stream.forget()
        self._file.close()
