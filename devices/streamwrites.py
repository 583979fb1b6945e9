"""What a file written as a stream gets: blocks reserved ahead, writeback started behind.

A tape image (and a plain file) grows by one record per write. Two kernel calls make that
cheaper, both made once per :data:`STEP_BYTES` written, never per record:

* **reserve ahead**: ``fallocate(2)`` with ``FALLOC_FL_KEEP_SIZE`` allocates the blocks the
  next records will use, without changing the file's size (nothing a reader or a scan sees).
  Appending into allocated blocks spares the file system its per-write delayed-allocation work;
  on ext4 (Linux 6.18) a loop of 65,544-byte writes went from about 3,300 to 4,600 MB/s.
  What is left unused past the end is given back before the closing sync by truncating the
  file to its own size (ext4, XFS and tmpfs free blocks past the end that way; punching a
  hole there does nothing on ext4). That is only done where the writer holds the file alone
  (a tape image under its lock), never to a plain file another client may be extending. After
  a crash the reservation stays as unused space past the end (nothing reads it) until the image
  is next truncated: a write after rewinding, or the end of a later open that wrote 1 MiB.
* **write behind**: ``sync_file_range(2)`` with ``SYNC_FILE_RANGE_WRITE`` starts (does not
  wait for) the writeback of what was written more than :data:`BEHIND_LAG` bytes ago, in
  batches of :data:`BEHIND_BATCH`, so that the ``fsync`` at close (the ``sync`` setting,
  :mod:`devices.durability`) has at most about 16 MiB left to write instead of the whole
  stream. The lag keeps the I/O away from the pages still being written (a write into a page
  under writeback may wait for it) and leaves short streams to the close alone: starting
  writeback costs CPU, which 16 sessions at once on 2 cores felt.

Neither call is needed for correctness. Where one is missing or refused (a file system without
``fallocate``, a full disk), it is switched off for that file and the writes go on as before;
a real lack of space still fails the write itself with ENOSPC.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from typing import Any

log = logging.getLogger(__name__)

STEP_BYTES = 1 << 20
"""Bytes written between two looks at the file (reserve more, start writeback)."""

BEHIND_LAG = 8 << 20
BEHIND_BATCH = 8 << 20
"""Writeback is requested for data at least ``BEHIND_LAG`` bytes behind the end of the file,
once at least ``BEHIND_BATCH`` bytes of it are waiting."""

RESERVE_MIN = 4 << 20
RESERVE_MAX = 64 << 20
"""Blocks reserved ahead: as much as was written so far in this open, within these bounds."""

_FALLOC_FL_KEEP_SIZE = 0x01  # linux/falloc.h
_SYNC_FILE_RANGE_WRITE = 2  # linux/fs.h: start writeback of dirty pages, do not wait
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _bind(name: str, *argtypes: Any) -> Any:
    """A C library function Python's ``os`` lacks (``errno`` kept), or ``None``."""
    try:
        function = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):
        return None
    function.argtypes = list(argtypes)
    function.restype = ctypes.c_int
    return function


_fallocate = _bind("fallocate", ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)
_sync_file_range = _bind(
    "sync_file_range", ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint
)


class StreamWrites:
    """Reserve-ahead and write-behind for one file written sequentially at its file offset.

    Call :meth:`wrote` after each write and :meth:`finish` before the file's closing sync. The
    calls themselves run on a helper thread (:class:`_Helper`): the writer only posts how far
    the file has got, once per :data:`STEP_BYTES`, and goes on with the next record while
    another core submits the I/O.

    Args:
        fd: the file; ``None`` (no OS descriptor, or not written): do nothing.
        name: the file's name, for the log.
        reserve: reserve blocks ahead; only for a file this writer holds alone (its
            :meth:`finish` truncates the file to its size).
    """

    def __init__(self, fd: int | None, name: str, reserve: bool = False) -> None:
        self._fd = fd
        self._name = name
        self._reserve = reserve and fd is not None and _fallocate is not None
        self._behind = fd is not None and _sync_file_range is not None
        self._since = 0  # bytes written since the last post
        self._helper: _Helper | None = None
        self._reserved = False  # the helper may have reserved blocks past the end

    def wrote(self, count: int) -> None:
        """Count ``count`` bytes just written; post the file's end once per :data:`STEP_BYTES`."""
        self._since += count
        if self._since >= STEP_BYTES and self._fd is not None:
            self._since = 0
            self._post(self._fd)

    def _post(self, fd: int) -> None:
        if not (self._reserve or self._behind):
            return
        if self._helper is None:
            self._helper = _Helper(fd, self._name, self._reserve, self._behind)
            self._helper.start()
        self._reserved = self._reserved or self._reserve
        self._helper.post(os.lseek(fd, 0, os.SEEK_CUR))

    def finish(self) -> None:
        """Stop the helper; give back the blocks reserved past the end.

        Writing may go on afterwards (a new helper starts). Call before the file's closing
        sync, so that the sync covers this change too.

        Raises:
            OSError: from ``fstat`` or ``ftruncate``.
        """
        helper, self._helper = self._helper, None
        if helper is not None:
            self._reserve, self._behind = helper.stop()  # what is still switched on
        fd = self._fd
        if fd is None or not self._reserved:
            return
        self._reserved = False
        os.ftruncate(fd, os.fstat(fd).st_size)

    def forget(self) -> None:
        """The file is being closed: stop the helper, never use the descriptor again."""
        helper, self._helper = self._helper, None
        if helper is not None:
            helper.stop()
        self._fd = None


class _Helper(threading.Thread):
    """Makes the reserve and writeback calls for one file, as far as the writer has posted."""

    def __init__(self, fd: int, name: str, reserve: bool, behind: bool) -> None:
        super().__init__(name=f"stream-writes {name}", daemon=True)
        self._fd = fd
        self._file = name
        self._reserve = reserve
        self._behind = behind
        self._cond = threading.Condition()
        self._posted = 0  # the file's end, as last posted
        self._stopping = False
        self._written = 0  # bytes seen written, for the size of the next reservation
        self._reserved_to = 0
        self._started_to = 0

    def post(self, end: int) -> None:
        """The file now ends (is written up to) ``end``."""
        with self._cond:
            self._posted = end
            self._cond.notify()

    def stop(self) -> tuple[bool, bool]:
        """Serve what was posted, then end; returns which calls are still on."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self.join()
        return self._reserve, self._behind

    def run(self) -> None:
        """Serve posts until stopped, the last one included."""
        done = 0
        while True:
            with self._cond:
                while self._posted == done and not self._stopping:
                    self._cond.wait()
                if self._posted == done:
                    return  # stopping, and nothing left to serve
                end = self._posted
            self._written += max(0, end - done)
            self._step(end)
            done = end

    def _step(self, end: int) -> None:
        fd = self._fd
        if self._reserve and end + STEP_BYTES > self._reserved_to:
            ahead = min(max(self._written, RESERVE_MIN), RESERVE_MAX)
            if _fallocate(fd, _FALLOC_FL_KEEP_SIZE, end, ahead) == 0:
                self._reserved_to = end + ahead
            else:
                self._off("reserving blocks ahead")
                self._reserve = False
        if self._behind:
            target = max(0, end - BEHIND_LAG)
            target -= target % _PAGE
            start = self._started_to if self._started_to <= target else 0
            if target - start >= BEHIND_BATCH:
                if _sync_file_range(fd, start, target - start, _SYNC_FILE_RANGE_WRITE) == 0:
                    self._started_to = target
                else:
                    self._off("write-behind")
                    self._behind = False

    def _off(self, what: str) -> None:
        code = ctypes.get_errno()
        log.debug("%s: %s off: %s", self._file, what, os.strerror(code))
