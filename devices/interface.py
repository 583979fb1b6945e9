"""What every device offers its users: operations, status values and the device protocol.

The numbers are Linux's (``/usr/include/linux/mtio.h``, x86-64): the RMT protocol in its version 0
passes Linux operation codes through unchanged, and ``struct mtget`` is reported in Linux's layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum, IntFlag, auto
from typing import Protocol

from devices.durability import SyncLevel


class MtOp(IntEnum):
    """``struct mtop.mt_op`` codes for the MTIOCTOP ioctl, Linux numbering."""

    MTRESET = 0
    MTFSF = 1
    MTBSF = 2
    MTFSR = 3
    MTBSR = 4
    MTWEOF = 5
    MTREW = 6
    MTOFFL = 7
    MTNOP = 8
    MTRETEN = 9
    MTBSFM = 10
    MTFSFM = 11
    MTEOM = 12
    MTERASE = 13
    MTRAS1 = 14
    MTRAS2 = 15
    MTRAS3 = 16
    MTSETBLK = 20
    MTSETDENSITY = 21
    MTSEEK = 22
    MTTELL = 23
    MTSETDRVBUFFER = 24
    MTFSS = 25
    MTBSS = 26
    MTWSM = 27
    MTLOCK = 28
    MTUNLOCK = 29
    MTLOAD = 30
    MTUNLOAD = 31
    MTCOMPRESSION = 32
    MTSETPART = 33
    MTMKPART = 34
    MTWEOFI = 35


class GeneralStatus(IntFlag):
    """``mt_gstat`` bits (``GMT_*``)."""

    NONE = 0
    EOF = 0x80000000
    BOT = 0x40000000
    EOT = 0x20000000
    SM = 0x10000000
    EOD = 0x08000000
    WR_PROT = 0x04000000
    ONLINE = 0x01000000
    D_6250 = 0x00800000
    D_1600 = 0x00400000
    D_800 = 0x00200000
    DR_OPEN = 0x00040000
    IM_REP_EN = 0x00010000
    CLN = 0x00008000


BytesLike = bytes | bytearray | memoryview
"""What a write accepts: any contiguous bytes (``collections.abc.Buffer`` is Python 3.12+)."""

MT_ISSCSI2 = 0x72
"""``mt_type`` of a SCSI-2 tape drive, what Linux ``st`` reports."""

MAX_RECORD = 0x00FFFFFF
"""Largest record a SIMH image (and a 6-byte SCSI READ/WRITE) can carry: 16 MiB - 1."""

UNKNOWN = -1
"""File or block number that the drive does not know, as ``st`` reports it."""

DEFAULT_MAX_FILEMARKS = 100_000
"""Most filemarks one MTWEOF may write (``OpenOptions.max_filemarks``).

Clients write one or two at a time (tar, dump, mt weof N with a small N); 100 000 marks are
400 KB of a SIMH image and about 2 MB of index, written in well under a second.
"""

MAX_FILEMARKS_LIMIT = 0xFFFFFF
"""Largest ``max_filemarks``: Linux st passes the count in the 24-bit field of one SCSI WRITE
FILEMARKS command (``st_int_ioctl``, MTWEOF), so no st drive writes more at once."""


@dataclass(frozen=True, slots=True)
class DriveStatus:
    """The fields of ``struct mtget`` as Linux ``st`` fills them.

    Attributes:
        mt_type: drive type, ``MT_ISSCSI2`` for tape drives.
        partition: current partition (``st`` reports it in ``mt_resid``).
        block_size: fixed block size, 0 for variable-block mode.
        density: density code (SCSI), 0 for the default.
        gstat: ``GMT_*`` bits.
        erreg: soft error count since the last status.
        fileno: file number, -1 when unknown.
        blkno: block number within the file, -1 when unknown.
    """

    mt_type: int
    partition: int
    block_size: int
    density: int
    gstat: GeneralStatus
    erreg: int
    fileno: int
    blkno: int

    @property
    def dsreg(self) -> int:
        """``mt_dsreg``: density code in bits 24-31, block size in bits 0-23."""
        return ((self.density & 0xFF) << 24) | (self.block_size & 0xFFFFFF)


class ObjectKind(Enum):
    """What kind of object lies at a tape's position."""

    RECORD = auto()
    BAD_RECORD = auto()
    FILEMARK = auto()
    END_OF_DATA = auto()


@dataclass(frozen=True, slots=True)
class NextObject:
    """The object a read at the position would meet, as a tape drive tells it.

    Attributes:
        kind: a good record, a bad-data record, a filemark or the end of data.
        length: the record's data length (records only, 0 otherwise).
    """

    kind: ObjectKind
    length: int = 0


@dataclass(frozen=True, slots=True)
class FileExtent:
    """Bytes that lie in an open file, to be sent from there without a copy (``sendfile``).

    Attributes:
        fd: the open file (owned by the device; valid until its next call or its close).
        offset: where the bytes start in the file.
        length: how many bytes.
    """

    fd: int
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class OpenOptions:
    """How a device is opened.

    Attributes:
        write: opened for writing (``O_WRONLY``/``O_RDWR``); write-protected media refuse it.
        create: a missing image is created blank (``O_CREAT``).
        nonblock: open even with no medium loaded (``O_NONBLOCK``); I/O then fails.
        rewind_on_close: rewind when closed, like ``/dev/st0`` (``/dev/nst0`` does not).
        unload_on_close: rewind and unload when closed.
        write_protect: refuse writes for this open even if the medium allows them.
        max_filemarks: most filemarks one MTWEOF may write; a larger count fails with ENOSPC
            and writes nothing.
        sync: which replies wait for the data to reach the disk (see devices.durability).
    """

    write: bool = False
    create: bool = False
    nonblock: bool = False
    rewind_on_close: bool = False
    unload_on_close: bool = False
    write_protect: bool = False
    max_filemarks: int = DEFAULT_MAX_FILEMARKS
    sync: SyncLevel = SyncLevel.CLOSE


class TapeDevice(Protocol):
    """A device as the RMT session and ``vmt`` see it: one open of a tape, CD-ROM or file.

    Every method raises ``OSError(errno, message)`` on failure and nothing else.
    """

    def readinto(self, buffer: memoryview) -> int:
        """Read like ``read(2)`` on the device: one record on a tape; 0 at a filemark."""
        ...

    def read_extent(self, count: int) -> FileExtent | None:
        """Read like :meth:`readinto`, but say where the bytes lie instead of copying them.

        Returns the extent of a read that has happened (the position moved past it, exactly
        as :meth:`readinto` would have moved it), or ``None`` when this read cannot be given
        as one extent of a file (a filemark, an error to report, a record split in the image,
        a device with no file): then nothing happened and :meth:`readinto` must be called.
        A read that returns data through either method returns the same bytes.
        """
        ...

    def write(self, data: BytesLike) -> int:
        """Write like ``write(2)`` on the device: one record on a tape. Returns the count."""
        ...

    def write_buffer(self, count: int) -> memoryview:
        """Lend a buffer of ``count`` bytes to fill with the next write's data.

        The write is checked first, so that a write that would be refused (a read-only open,
        a count that is not a whole number of blocks...) fails here, before anything is
        allocated. Fill the view, then call :meth:`commit_write`. A tape drive lends its
        record buffer, so a ``W`` payload is read straight into place (no copy); other devices
        lend a scratch buffer (:class:`devices.writebuffer.StagedWrites`).
        """
        ...

    def commit_write(self, count: int) -> int:
        """Write the ``count`` bytes put in :meth:`write_buffer`, as :meth:`write` would."""
        ...

    def ioctl(self, op: int, count: int) -> int:
        """Perform an MTIOCTOP operation (Linux numbering); returns the resulting count."""
        ...

    def status(self) -> DriveStatus:
        """Return ``struct mtget`` as MTIOCGET would."""
        ...

    def tell(self) -> int:
        """Return the logical block position, as MTIOCPOS would."""
        ...

    def seek(self, offset: int, whence: int) -> int:
        """Reposition like ``lseek(2)``; a tape, like Linux ``st``, answers 0 and stays put."""
        ...

    def close(self) -> None:
        """Close the device: write a filemark after writing, rewind or unload as opened."""
        ...
