"""When written data is made durable: the ``sync`` setting, and write-behind.

``sync`` says which acknowledgement means "on disk" (every level also syncs at close):

* ``close`` (the default): closing the device syncs the image (and its index and state); a
  record's ``A`` means the record is in the image file, which survives a crash of rmtd, not of
  the host.
* ``filemark``: every filemark is synced before its reply, so a closed tape file survives a
  power cut (``tar`` and ``dump`` end each archive with filemarks).
* ``record``: every record is synced before its ``A`` (slow: one ``fdatasync`` per record).

Write-behind keeps the sync at close cheap on a big image: after every
:data:`WRITE_BEHIND_BYTES` written, the kernel is asked to start writing the file's dirty pages
back (``sync_file_range(2)`` with ``SYNC_FILE_RANGE_WRITE``, which does not wait), so that the
final ``fsync`` finds little left to do instead of the whole stream. Where the call does not
exist or fails, nothing is lost: the ``fsync`` at close still writes and reports everything.
"""

from __future__ import annotations

import ctypes
import enum
import logging
import os
from collections.abc import Callable

log = logging.getLogger(__name__)


class SyncLevel(enum.Enum):
    """Which replies wait for the data to be on disk (see the module's docstring)."""

    CLOSE = "close"
    FILEMARK = "filemark"
    RECORD = "record"


WRITE_BEHIND_BYTES = 1 << 20
"""Bytes written between two requests to start writeback."""

_SYNC_FILE_RANGE_WRITE = 2  # linux/fs.h: start writeback of dirty pages, do not wait
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _bind_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """``sync_file_range(2)`` from the C library (Python's ``os`` lacks it), or ``None``."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    bound: Callable[[int, int, int, int], int] = function
    return bound


_sync_file_range = _bind_sync_file_range()


class WriteBehind:
    """Starts writeback of a file every :data:`WRITE_BEHIND_BYTES` written to it.

    The range handed to the kernel ends at the last whole page before the file offset: the
    page the next record will be appended to is left alone, since a write to a page under
    writeback may have to wait for that I/O (stable pages).

    Args:
        fd: the file written, written sequentially at its file offset; ``None`` (a file with
            no OS descriptor): do nothing.
    """

    def __init__(self, fd: int | None) -> None:
        self._fd = fd if _sync_file_range is not None else None
        self._pending = 0
        self._started_to = 0  # where the last writeback request ended

    def wrote(self, count: int) -> None:
        """Count ``count`` bytes written; start writeback once enough have gathered."""
        self._pending += count
        if self._pending >= WRITE_BEHIND_BYTES and self._fd is not None:
            self._pending = 0
            self._start(self._fd)

    def _start(self, fd: int) -> None:
        assert _sync_file_range is not None
        end = os.lseek(fd, 0, os.SEEK_CUR) & ~(_PAGE - 1)
        start = self._started_to if self._started_to < end else 0
        if start == end:
            return
        if _sync_file_range(fd, start, end - start, _SYNC_FILE_RANGE_WRITE) != 0:
            code = ctypes.get_errno()
            log.debug("write-behind off for fd %d: %s", fd, os.strerror(code))
            self._fd = None  # e.g. a file system that refuses it: the close still syncs
            return
        self._started_to = end

    def forget(self) -> None:
        """The file is closed: its descriptor number must not be used again."""
        self._fd = None
