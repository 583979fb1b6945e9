"""Reading records from a tape image with Linux ``st`` semantics (see :mod:`devices.drive`).

Variable-block mode returns one record per read; a record longer than the count fails with
ENOMEM and is consumed. Fixed-block mode (MTSETBLK n) gathers whole records up to the count. At
the end of data a read returns 0 once right after a filemark, then fails with EIO. A read that
needs no copy (one good record) can be given as an extent of the image file instead
(:meth:`RecordReader.read_extent`), for ``sendfile``.
"""

from __future__ import annotations

import errno

from devices.errors import tape_error
from devices.interface import UNKNOWN, FileExtent, NextObject, ObjectKind
from devices.positioning import Positioner


class RecordReader(Positioner):
    """The reading half of a virtual tape drive (:class:`devices.drive.VirtualTapeDrive`)."""

    def _before_read(self, count: int) -> None:
        """Check that a read may happen and note it (the drive says how)."""
        raise NotImplementedError

    def _require_medium(self) -> None:
        """Raise unless the drive is open with a medium loaded (the drive says how)."""
        raise NotImplementedError

    def readinto(self, buffer: memoryview) -> int:
        """Read one record (variable mode) or whole records up to the count (fixed mode)."""
        self._before_read(len(buffer))
        if len(buffer) == 0:
            return 0
        if self.state.position >= len(self.image):
            return self._read_at_end()
        if self.state.block_size:
            return self._read_fixed(buffer)
        return self._read_one(buffer)

    def read_extent(self, count: int) -> FileExtent | None:
        """Read one good record that fits ``count`` as an extent of the image file.

        Only the plain case, variable-block mode at a good record no longer than the count,
        is an extent; every other read (``None``) goes through :meth:`readinto`, which reports
        it. A zero count, too, is :meth:`readinto`'s.
        """
        self._require_medium()
        pos = self.state.position
        index = self.image.index
        if (
            not count
            or self.state.block_size
            or pos >= len(index)
            or index.is_filemark(pos)
            or index.is_bad(pos)
            or index.record_length(pos) > count
        ):
            return None
        extent = self.image.record_extent(pos)
        if extent is not None:
            self._before_read(count)
            self._step_record(pos + 1)
        return extent

    def next_object(self) -> NextObject:
        """What a read at the position would meet (a record and its length, a mark...)."""
        pos, index = self.state.position, self.image.index
        if pos >= len(index):
            return NextObject(ObjectKind.END_OF_DATA)
        if index.is_filemark(pos):
            return NextObject(ObjectKind.FILEMARK)
        kind = ObjectKind.BAD_RECORD if index.is_bad(pos) else ObjectKind.RECORD
        return NextObject(kind, index.record_length(pos))

    @property
    def block_size(self) -> int:
        """The fixed block size (MTSETBLK), 0 in variable-block mode."""
        return self.state.block_size

    def _read_one(self, buffer: memoryview) -> int:
        pos = self.state.position
        index = self.image.index
        if index.is_filemark(pos):
            self._cross_mark_forward(pos)
            return 0
        self._step_record(pos + 1)
        length = index.record_length(pos)
        if index.is_bad(pos):
            raise tape_error(errno.EIO, f"{self.name}: bad data in record {pos}")
        if length > len(buffer):
            raise tape_error(
                errno.ENOMEM,
                f"{self.name}: record of {length} bytes exceeds the read count {len(buffer)}",
            )
        return self.image.read_record(pos, buffer)

    def _read_fixed(self, buffer: memoryview) -> int:
        size = self.state.block_size
        if len(buffer) % size:
            raise tape_error(
                errno.EINVAL,
                f"{self.name}: read of {len(buffer)} bytes is not a multiple "
                f"of the block size {size}",
            )
        index = self.image.index
        got = 0
        while got < len(buffer):
            pos = self.state.position
            if (
                pos >= len(index)
                or index.is_filemark(pos)
                or index.is_bad(pos)
                or (got and index.record_length(pos) > len(buffer) - got)
            ):
                if got:
                    break
                return self._read_one(buffer)
            got += self._read_one(buffer[got:])
        return got

    def _read_at_end(self) -> int:
        """Read at the end of data: 0 once right after a filemark, then EIO; EIO elsewhere.

        ``read_tape`` (``drivers/scsi/st.c``) turns a BLANK CHECK into a zero-byte read only
        when ``STps->eof == ST_FM``, just past a filemark (block 0 of a file other than file
        0); the block number becomes unknown and later reads fail. Anywhere else, BOT of a
        blank tape included, the blank check is EIO at once.
        """
        after_mark = self.state.blkno == 0 and self.state.fileno != 0
        self.state.blkno = UNKNOWN
        self.at_eod = True
        if self.image.damage:
            self.at_eod = False  # damage is not the end of data
            raise tape_error(errno.EIO, f"{self.name}: {self.image.damage}")
        if after_mark:
            return 0
        where = "blank tape" if len(self.image) == 0 else "end of data"
        raise tape_error(errno.EIO, f"{self.name}: {where}")
