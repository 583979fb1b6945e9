"""A virtual tape drive with Linux ``st`` semantics over a tape image.

Every behaviour a client can observe is decided here, after ``drivers/scsi/st.c`` and
``Documentation/scsi/st.rst``:

* variable-block mode: a write is one record; a read returns one record, and a record longer than
  the read count fails with ENOMEM and is consumed. Fixed-block mode (MTSETBLK n): writes are
  multiples of n, reads gather whole records up to the count.
* a read at a filemark returns 0 and moves past it; at the end of data a read returns 0 once if a
  filemark lies just before, then EIO (at once on a blank tape at BOT); writing anywhere makes
  that point the end of data. Damage in the image is not the end of data: reads and motions
  that reach it fail with EIO, and the image refuses writes at it.
* closing after a write writes one filemark; so do MTREW, MTOFFL, MTSEEK, MTBSF and MTBSFM when
  the last operation was a write (BSF and BSFM then also cross the new mark).
* file and block numbers are counters as ``st`` keeps them: -1 once unknown (after BSF, FSFM,
  BSR over a filemark, EOM, SEEK), adjusted only while known.
* an optional capacity: the write that crosses early warning succeeds, then ENOSPC and success
  alternate until the physical end, with GMT_EOT reported meanwhile.
"""

from __future__ import annotations

import errno
import logging
from bisect import bisect_left
from collections.abc import Callable
from enum import Enum, auto

from devices.drivestatus import Conditions, status_of
from devices.durability import SyncLevel
from devices.errors import tape_error
from devices.formats.image import TapeImage
from devices.interface import (
    BytesLike,
    DriveStatus,
    MtOp,
    OpenOptions,
)
from devices.reading import RecordReader
from devices.state import DriveState, VolumeInfo

log = logging.getLogger(__name__)

# After these operations the next close (or REW/OFFL/SEEK/BSF/BSFM) still writes a filemark,
# as st.c leaves its ST_WRITING state alone for them ("Prevent automatic WEOF and fsf").
_KEEP_WRITING = frozenset(
    {
        MtOp.MTNOP,
        MtOp.MTSETBLK,
        MtOp.MTSETDENSITY,
        MtOp.MTWSM,
        MtOp.MTSETDRVBUFFER,
        MtOp.MTSETPART,
        MtOp.MTTELL,
    }
)
_MARK_BATCH = 4096  # filemarks per write call when MTWEOF has a large count
_SEEK_MAX = 4  # SEEK_HOLE: lseek(2) refuses a larger whence with EINVAL before any driver
_MARK_BEFORE = frozenset({MtOp.MTREW, MtOp.MTOFFL, MtOp.MTSEEK, MtOp.MTBSF, MtOp.MTBSFM})
_WITHOUT_MEDIUM = frozenset(
    {MtOp.MTLOAD, MtOp.MTNOP, MtOp.MTOFFL, MtOp.MTUNLOAD, MtOp.MTLOCK, MtOp.MTUNLOCK}
)


class _Last(Enum):
    """What the previous operation was, as far as the next one cares."""

    OTHER = auto()
    WRITE = auto()


class VirtualTapeDrive(RecordReader):
    """One open of a virtual tape drive over a :class:`TapeImage`.

    Args:
        image: the loaded volume.
        name: the image's name, for messages.
        state: the drive's state (position, counters, block size), updated in place.
        volume: the medium's properties (density, capacity, write protection).
        options: how the drive was opened.
        on_close: called once after the final close work, to save state and release locks.
    """

    def __init__(
        self,
        image: TapeImage,
        name: str,
        state: DriveState,
        volume: VolumeInfo,
        options: OpenOptions,
        on_close: Callable[[VirtualTapeDrive], None],
    ) -> None:
        super().__init__(image, state, name)
        self.volume = volume
        self.options = options
        self._on_close = on_close
        self._last = _Last.OTHER
        self._refuse_next_write = False  # early-warning alternation
        self._closed = False
        self.on_flush: Callable[[VirtualTapeDrive], None] | None = None
        """Called after filemarks are written and at MTWEOF 0, before the reply (a stored
        volume puts its chunks and manifest in the store there)."""
        self._lent: tuple[int, int] | None = None  # (count, record size) write_buffer checked
        self._ops: dict[int, Callable[[int], int]] = {
            MtOp.MTRESET: self._rewind_op,
            MtOp.MTFSF: self.space_files,
            MtOp.MTBSF: self.back_files,
            MtOp.MTFSR: self.space_records,
            MtOp.MTBSR: self.back_records,
            MtOp.MTWEOF: self.write_filemarks,
            MtOp.MTWEOFI: self.write_filemarks,
            MtOp.MTWSM: self._write_setmarks,
            MtOp.MTREW: self._rewind_op,
            MtOp.MTOFFL: self._unload,
            MtOp.MTUNLOAD: self._unload,
            MtOp.MTNOP: _nothing,
            MtOp.MTRETEN: self._rewind_op,
            MtOp.MTBSFM: self.back_files_to_mark,
            MtOp.MTFSFM: self.space_files_to_mark,
            MtOp.MTEOM: self._end_of_media,
            MtOp.MTERASE: self._erase,
            MtOp.MTSETBLK: self._set_block_size,
            MtOp.MTSETDENSITY: self._set_density,
            MtOp.MTSEEK: self.seek_object,
            MtOp.MTTELL: lambda _count: self.state.position,
            MtOp.MTLOAD: self._load,
            MtOp.MTLOCK: _nothing,
            MtOp.MTUNLOCK: _nothing,
            MtOp.MTCOMPRESSION: self._set_compression,
            MtOp.MTSETDRVBUFFER: _nothing,
        }

    def _before_read(self, count: int) -> None:
        """A read voids a lent write buffer's check; one of 1 byte or more ends a run of writes."""
        self._lent = None
        self._require_medium()
        if count:
            self._last = _Last.OTHER

    # -- writing ---------------------------------------------------------------------------

    def write(self, data: BytesLike) -> int:
        """Write one record (variable mode) or ``len/block size`` records (fixed mode)."""
        view = memoryview(data)
        count = len(view)
        size = self._check_write(count)
        if count == 0:
            return 0
        for start in range(0, count, size):
            self._reserve(size)
            self.image.append_record(view[start : start + size])
            self._after_record()
        return count

    def write_buffer(self, count: int) -> memoryview:
        """Return where to put the data of a one-record write, to avoid copying it.

        Fill the returned view, then call :meth:`commit_write` with the same count.

        Raises:
            OSError: as :meth:`write` would for this count (EBADF, EACCES, EINVAL...),
                before any buffer is allocated.
        """
        self._lent = (count, self._check_write(count))
        return self.image.record_buffer(count)

    def commit_write(self, count: int) -> int:
        """Write the record put in :meth:`write_buffer`; same rules and errors as :meth:`write`.

        The checks made when lending the buffer stand (only the payload is read in between).
        """
        lent, self._lent = self._lent, None
        size = lent[1] if lent is not None and lent[0] == count else self._check_write(count)
        if count == 0:
            return 0
        if size != count:
            data = bytes(self.image.record_buffer(count))  # fixed mode, several blocks
            return self.write(data)
        self._reserve(count)
        self.image.append_prepared(count)
        self._after_record()
        return count

    def _check_write(self, count: int) -> int:
        """Validate a write of ``count`` bytes; return the record size to cut it into."""
        self._require_medium()
        if not self.options.write:
            raise tape_error(errno.EBADF, f"{self.name}: not opened for writing")
        if self.write_protected:
            raise tape_error(errno.EACCES, f"{self.name}: volume is write-protected")
        size = self.state.block_size or count
        if count and self.state.block_size and count % size:
            raise tape_error(
                errno.EINVAL,
                f"{self.name}: write of {count} bytes is not a multiple of the block size {size}",
            )
        if count:
            self.image.check_writable_length(size, self.name)
        return size

    def _reserve(self, length: int) -> None:
        """Apply the capacity rules to a record at the position, then cut the tape there.

        A refused write changes nothing: the data after the position survives it.
        """
        cap = self.volume.capacity
        if cap:
            end = self.image.index.offset(self.state.position)  # where the record would start
            if end + self.image.record_size(length) > cap:
                raise tape_error(errno.ENOSPC, f"{self.name}: physical end of medium")
            if self._refuse_next_write and end >= self._early_warning_point():
                self._refuse_next_write = False
                raise tape_error(errno.ENOSPC, f"{self.name}: end of medium (early warning)")
        self._cut(self.state.position)

    def _after_record(self) -> None:
        if self.options.sync is SyncLevel.RECORD:
            self.image.storage.sync_data()  # before the reply: the record is on disk
        self.at_eod = False
        self._last = _Last.WRITE
        self.state.position = len(self.image)
        if self.state.blkno >= 0:
            self.state.blkno += 1
        if self.volume.capacity and self.image.end_offset >= self._early_warning_point():
            self._refuse_next_write = True

    def _early_warning_point(self) -> int:
        return max(0, self.volume.capacity - self.volume.early_warning)

    def write_filemarks(self, count: int) -> int:
        """MTWEOF: write ``count`` filemarks at the position (0 only flushes), in batches.

        A count above ``options.max_filemarks`` fails with ENOSPC, writing nothing; past the
        capacity, ENOSPC after the marks that fit. Counters as ``st_int_ioctl``'s MTWEOF.
        """
        self._require_writable_op("write filemarks")
        if count < 0:
            raise tape_error(errno.EINVAL, f"{self.name}: negative filemark count {count}")
        limit = self.options.max_filemarks
        if count > limit:
            raise tape_error(
                errno.ENOSPC,
                f"{self.name}: {count} filemarks exceed the limit of {limit} per operation",
            )
        if count == 0:
            # st: "MTWEOF 0 flushes the drive's buffer": the written data goes to the medium.
            self.image.storage.sync_data()
            if self.on_flush is not None:
                self.on_flush(self)
            return 0
        self._cut(self.state.position)
        fit = self._filemarks_that_fit(count)
        for start in range(0, fit, _MARK_BATCH):
            self.image.append_filemarks(min(_MARK_BATCH, fit - start))
        if fit and self.options.sync is not SyncLevel.CLOSE:
            self.image.storage.sync_data()  # before the reply: the tape file is on disk
        if fit:
            self.state.position = len(self.image)
            self._add_files(fit)
            self.state.blkno = 0
            if self.on_flush is not None:
                self.on_flush(self)  # a stored volume: the tape file is in the store
        if fit < count:
            raise tape_error(errno.ENOSPC, f"{self.name}: physical end of medium")
        return count

    def _filemarks_that_fit(self, count: int) -> int:
        if not self.volume.capacity:
            return count
        room = max(0, self.volume.capacity - self.image.end_offset)
        return min(count, room // self.image.filemark_size())

    def _write_setmarks(self, _count: int) -> int:
        """MTWSM: EIO, as st reports a drive without setmarks (SIMH images have none).

        ``st_int_ioctl``: EACCES if write-protected, else WRITE FILEMARKS with WSmk, refused.
        """
        self._require_writable_op("write setmarks")
        raise tape_error(errno.EIO, f"{self.name}: setmarks are not supported")

    def _require_writable_op(self, what: str) -> None:
        self._require_medium()
        if not self.options.write:
            raise tape_error(errno.EACCES, f"{self.name}: cannot {what}: opened read-only")
        if self.write_protected:
            raise tape_error(errno.EACCES, f"{self.name}: cannot {what}: write-protected")

    @property
    def write_protected(self) -> bool:
        """Whether the volume, or this open, is write-protected."""
        return self.volume.write_protected or self.options.write_protect

    # -- ioctl ---------------------------------------------------------------------------

    def ioctl(self, op: int, count: int) -> int:
        """Perform MTIOCTOP ``op`` with ``count``; returns ``count`` (MTTELL: the position).

        The count returned is the one asked for, even when a filemark written first makes BSF
        and BSFM cross one mark more (``st`` adjusts only its own copy of the count).
        """
        requested = count
        self._lent = None  # a lent buffer not committed before another operation is void
        handler = self._ops.get(op)
        if handler is None:
            raise tape_error(errno.ENOSYS, f"{self.name}: tape operation {op} is not supported")
        if op not in _WITHOUT_MEDIUM:
            self._require_medium()
        if self._last is _Last.WRITE and op in _MARK_BEFORE and self.loaded:
            self.write_filemarks(1)  # st finishes the file before moving away from it
            if op in (MtOp.MTBSF, MtOp.MTBSFM):
                count += 1
        if op not in _KEEP_WRITING:
            self._last = _Last.OTHER
            self.at_eod = False
        result = handler(count)
        return result if op == MtOp.MTTELL else requested

    def _erase(self, _count: int) -> int:
        self._require_writable_op("erase")
        self._cut(self.state.position)
        return 0

    def _cut(self, position: int) -> None:
        """Make ``position`` the end of data, forgetting incomplete-file marks from there on.

        Every cut goes through here, so that a mark never outlives the file it marked.
        """
        self.image.cut(position, self.name)
        marks = self.volume.incomplete
        if marks and marks[-1] >= position:
            self.volume.incomplete = [m for m in marks if m < position]

    def mark_last_file_incomplete(self) -> None:
        """Mark the last tape file incomplete unless a filemark closes it (its writer died)."""
        index = self.image.index
        if len(index) and not index.is_filemark(len(index) - 1):
            self.mark_file_incomplete(len(index))

    def mark_file_incomplete(self, position: int | None = None) -> None:
        """Record that the tape file at ``position`` (default: the drive's) is unfinished.

        Its first object is the one after the last filemark before the position (or object 0);
        ``vmt ls`` then lists the file as incomplete. Marks are kept in the volume's state.
        """
        marks = self.image.index.marks
        before = bisect_left(marks, self.state.position if position is None else position)
        first = marks[before - 1] + 1 if before else 0
        if first not in self.volume.incomplete:
            self.volume.incomplete = sorted([*self.volume.incomplete, first])

    def _set_block_size(self, count: int) -> int:
        if not 0 <= count <= self.image.format.max_record:
            raise tape_error(errno.EINVAL, f"{self.name}: block size {count} is out of range")
        self.state.block_size = count
        return count

    def _set_density(self, count: int) -> int:
        if not 0 <= count <= 0xFF:
            raise tape_error(errno.EINVAL, f"{self.name}: density code {count} is out of range")
        if self.write_protected and count != self.volume.density:
            # The density is recorded on the volume (VolumeInfo), so setting it writes.
            raise tape_error(errno.EROFS, f"{self.name}: volume is write-protected")
        self.volume.density = count
        return count

    def _set_compression(self, count: int) -> int:
        if count not in (0, 1):
            raise tape_error(errno.EINVAL, f"{self.name}: compression must be 0 or 1")
        self.state.compression = bool(count)
        return count

    # -- status, close ---------------------------------------------------------------------

    def status(self) -> DriveStatus:
        """Return ``struct mtget`` as ``st`` fills it."""
        cap = self.volume.capacity
        warned = bool(cap) and (
            self.image.index.offset(self.state.position) >= self._early_warning_point()
        )
        return status_of(self.state, self.volume, Conditions(self.write_protected, warned))

    def tell(self) -> int:
        """Return the logical object number (MTIOCPOS)."""
        self._require_medium()
        return self.state.position

    def seek(self, offset: int, whence: int) -> int:
        """``lseek`` as Linux ``st`` answers it: 0, and nothing moves (tar -W relies on it).

        ``st_open`` (``drivers/scsi/st.c``) permits lseek for tar's sake; ``st_fops`` has
        ``noop_llseek``, which returns ``f_pos``, and st never advances ``f_pos``.
        """
        self._require_medium()
        if not 0 <= whence <= _SEEK_MAX:
            raise tape_error(errno.EINVAL, f"{self.name}: invalid lseek whence {whence}")
        return 0

    def close(self) -> None:
        """Finish the file if the last operation was a write, rewind/unload as opened, save."""
        if self._closed:
            return
        try:
            if self.loaded and self._last is _Last.WRITE:
                self._last = _Last.OTHER  # one attempt only, even if it fails
                self.write_filemarks(1)
            if self.loaded and self.options.unload_on_close:
                self._unload(0)
            elif self.loaded and self.options.rewind_on_close:
                self.rewind()
        finally:
            self._closed = True
            self._on_close(self)

    @property
    def loaded(self) -> bool:
        """Whether a medium is loaded."""
        return self.state.loaded

    def _require_medium(self) -> None:
        if self._closed:
            raise tape_error(errno.EBADF, f"{self.name}: device is closed")
        if not self.state.loaded:
            raise tape_error(errno.ENOMEDIUM, f"{self.name}: no medium loaded")


def _nothing(_count: int) -> int:
    return 0
