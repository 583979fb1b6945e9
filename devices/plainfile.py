"""A plain file served as GNU rmt serves it: bytes and ``lseek``, no tape operations.

Clients such as ``tar -f host:/backups/a.tar`` open ordinary files through RMT. Reads and
writes are single system calls (a read returns what one ``read(2)`` returns), ``lseek`` works,
and tape operations fail with ENOTTY, which is how clients learn to fall back to ``lseek``.
Rewind is the one exception: it is ``lseek(fd, 0, SEEK_SET)``, so ``mt rewind`` on a file works.
"""

from __future__ import annotations

import errno
import os
import stat

from devices.durability import SyncLevel
from devices.errors import tape_error
from devices.interface import BytesLike, DriveStatus, FileExtent, MtOp
from devices.kinds import describe_fd
from devices.streamwrites import StreamWrites
from devices.writebuffer import StagedWrites


class PlainFile(StagedWrites):
    """One open plain file.

    Args:
        path: the file's path.
        flags: ``os.open`` flags (access mode, O_CREAT, O_TRUNC, O_APPEND, O_EXCL).
        name: what to call the file in error messages (default ``path``).
        sync: when written data is synced (:mod:`devices.durability`): at close (every level,
            when anything was written), and after every write with ``record``; a plain file
            has no filemarks.
    """

    def __init__(
        self,
        path: str,
        flags: int,
        name: str | None = None,
        sync: SyncLevel = SyncLevel.CLOSE,
    ) -> None:
        self.name = name or path
        self._sync = sync
        self._written = False
        # Only the flags that mean something for a served file; never O_NOCTTY games etc.
        allowed = os.O_ACCMODE | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_EXCL | os.O_NONBLOCK
        try:
            self._fd = os.open(path, (flags & allowed) | os.O_CLOEXEC, 0o666)
        except OSError as exc:  # name the file as the client did, not where it lives
            raise tape_error(exc.errno or errno.EIO, f"{self.name}: {exc.strerror}") from None
        if stat.S_ISDIR(os.fstat(self._fd).st_mode):  # a read-only open of one succeeds
            os.close(self._fd)
            raise tape_error(errno.EISDIR, f"{self.name}: is a directory")
        self._writable = flags & os.O_ACCMODE in (os.O_WRONLY, os.O_RDWR)
        self._stream = StreamWrites(self._fd if self._writable else None, self.name)

    def fileno(self) -> int:
        """The file descriptor."""
        return self._fd

    def readinto(self, buffer: memoryview) -> int:
        """One ``read(2)`` into ``buffer``."""
        return os.readv(self._fd, [buffer])

    def read_extent(self, count: int) -> FileExtent | None:
        """What one ``read(2)`` of a regular file would return, as an extent of it.

        The file offset moves past the extent now, as the read would have moved it. ``None``
        (use :meth:`readinto`) at or past the end of the file, for a zero count and for
        anything but a regular file.
        """
        if self._fd < 0 or not count:
            return None
        info = os.fstat(self._fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        offset = os.lseek(self._fd, 0, os.SEEK_CUR)
        length = min(count, info.st_size - offset)
        if length <= 0:
            return None
        os.lseek(self._fd, offset + length, os.SEEK_SET)
        return FileExtent(self._fd, offset, length)

    def write(self, data: BytesLike) -> int:
        """One ``write(2)`` of ``data``."""
        self.check_write(len(data))
        written = os.write(self._fd, data)
        self._written = True
        self._stream.wrote(written)
        if self._sync is SyncLevel.RECORD:
            os.fdatasync(self._fd)  # before the reply: the record is on disk
        return written

    def check_write(self, count: int) -> None:
        """Refuse writes to a file opened read-only: EBADF, as ``write(2)`` would."""
        if not self._writable:
            raise tape_error(errno.EBADF, f"{self.name}: not opened for writing")

    def ioctl(self, op: int, count: int) -> int:
        """Rewind seeks to 0; every other tape operation fails with ENOTTY."""
        if op == MtOp.MTREW:
            os.lseek(self._fd, 0, os.SEEK_SET)
            return count
        raise self._not_a_tape()

    def status(self) -> DriveStatus:
        """A plain file has no tape status: ENOTTY."""
        raise self._not_a_tape()

    def _not_a_tape(self) -> OSError:
        """ENOTTY, saying what the file is instead (a tar archive, a SIMH image...)."""
        return tape_error(
            errno.ENOTTY, f"{self.name}: not a tape: a plain file holding {describe_fd(self._fd)}"
        )

    def tell(self) -> int:
        """The file offset."""
        return os.lseek(self._fd, 0, os.SEEK_CUR)

    def seek(self, offset: int, whence: int) -> int:
        """``lseek(2)``."""
        return os.lseek(self._fd, offset, whence)

    def close(self) -> None:
        """Sync what was written, then close the file (once, even if the sync fails)."""
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            try:
                if self._written:
                    self._stream.finish()
                    os.fsync(fd)  # a closed file is on disk, as a closed tape image is
            finally:
                self._stream.forget()
                os.close(fd)
