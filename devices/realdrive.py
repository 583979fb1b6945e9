"""A real tape drive (``/dev/nst0``, ``/dev/st0``...) passed through to the Linux ``st`` driver.

Nothing is emulated: every read is one ``read(2)`` (one tape record; a single-buffer
``readv``, which the kernel turns into one call of st's ``read``), every write one ``write(2)``
(one record), tape operations are the MTIOCTOP ioctl, status MTIOCGET and the position
MTIOCPOS (:mod:`devices.mtio`). The errno the kernel gives is the errno the client gets; only
the message changes, to name the device as the client named it. The driver keeps its own
rules: a close after writing writes the filemark, ``/dev/st0`` rewinds at close and
``/dev/nst0`` does not, a read with a buffer smaller than the record fails with ENOMEM in
variable-block mode (Linux ``drivers/scsi/st.c``, ``Documentation/scsi/st.rst``).

What the server adds is only what a user asked for at open (:class:`DriveSettings`: the
qualifiers that make sense on a drive), carried out with the drive's own operations.
"""

from __future__ import annotations

import errno
import fcntl
import os
from dataclasses import dataclass

from devices.errors import tape_error
from devices.interface import BytesLike, DriveStatus, FileExtent, GeneralStatus, MtOp
from devices.mtio import INT_RANGE, MTGET, MTIOCGET, MTIOCPOS, MTIOCTOP, MTOP, MTPOS, SHORT_RANGE
from devices.writebuffer import StagedWrites


@dataclass(frozen=True, slots=True)
class DriveSettings:
    """What the server does to a real drive at open and close, beyond what the kernel does.

    Attributes:
        rewind_at_open: MTREW right after the open (/MOUNT: start at the beginning of tape).
        blocksize: MTSETBLK with this size at open (/BLOCKSIZE=n); ``None``: leave the drive's.
        density: MTSETDENSITY with this code at open (/DENSITY=n); ``None``: leave it.
        rewind_on_close: MTREW before the close (/REWIND).
        unload_on_close: MTOFFL before the close (/UNLOAD): rewind and eject.
        write_protect: refuse opens for writing (/NOWRITE, a read-only server): EROFS.
    """

    rewind_at_open: bool = False
    blocksize: int | None = None
    density: int | None = None
    rewind_on_close: bool = False
    unload_on_close: bool = False
    write_protect: bool = False


def op_name(op: int) -> str:
    """``MTFSF`` for 1 and so on; the number itself for an operation Linux does not name."""
    try:
        return MtOp(op).name
    except ValueError:
        return f"tape operation {op}"


class RealDrive(StagedWrites):
    """One open of a kernel tape device.

    Args:
        path: the device file (``/dev/nst0``).
        flags: ``os.open`` flags; only the access mode and ``O_NONBLOCK`` (open with no tape
            loaded) are passed on.
        name: what to call the drive in error messages (default ``path``).
        settings: what to do at open and close.

    Raises:
        OSError: EROFS for a write open under ``write_protect``; the kernel's errno for a
            failed open (ENOENT, EBUSY, ENOMEDIUM, EACCES...) or a failed set-up operation.
    """

    def __init__(
        self,
        path: str,
        flags: int,
        name: str | None = None,
        settings: DriveSettings = DriveSettings(),
    ) -> None:
        self.name = name or path
        self.settings = settings
        self._fd = -1
        access = flags & os.O_ACCMODE
        self._writable = access in (os.O_WRONLY, os.O_RDWR)
        if self._writable and settings.write_protect:
            raise tape_error(errno.EROFS, f"{self.name}: write-protected for this open")
        # O_CREAT, O_TRUNC and O_APPEND mean nothing to a character device, and O_CREAT on a
        # missing /dev/nst0 would make a regular file in /dev: never passed on.
        try:
            self._fd = os.open(path, access | (flags & os.O_NONBLOCK) | os.O_CLOEXEC)
        except OSError as exc:
            raise self._named(exc, "open") from None
        try:
            self._set_up()
        except BaseException:
            os.close(self._fd)
            self._fd = -1
            raise

    def _set_up(self) -> None:
        """Carry out the settings that act at open, in the order a user would type them."""
        if self.settings.rewind_at_open:
            self.ioctl(MtOp.MTREW, 1)
        if self.settings.blocksize is not None:
            self.ioctl(MtOp.MTSETBLK, self.settings.blocksize)
        if self.settings.density is not None:
            self.ioctl(MtOp.MTSETDENSITY, self.settings.density)

    def _named(self, exc: OSError, what: str) -> OSError:
        """``exc``'s errno unchanged, with a message naming the device and what failed."""
        code = exc.errno if exc.errno is not None else errno.EIO
        text = exc.strerror or os.strerror(code)
        return tape_error(code, f"{self.name}: {what}: {text}")

    def fileno(self) -> int:
        """The file descriptor (-1 once closed)."""
        return self._fd

    def readinto(self, buffer: memoryview) -> int:
        """One read of the drive: one record, 0 at a filemark."""
        try:
            return os.readv(self._fd, [buffer])
        except OSError as exc:
            raise self._named(exc, "read") from None

    def read_extent(self, count: int) -> FileExtent | None:
        """A drive's data lies in no file: always ``None``."""
        return None

    def check_write(self, count: int) -> None:
        """Refuse writes to a drive opened read-only: EBADF, as ``write(2)`` would."""
        if not self._writable:
            raise tape_error(errno.EBADF, f"{self.name}: not opened for writing")

    def write(self, data: BytesLike) -> int:
        """One write to the drive: one record. Returns what the kernel wrote."""
        self.check_write(len(data))
        try:
            return os.write(self._fd, data)
        except OSError as exc:
            raise self._named(exc, "write") from None

    def ioctl(self, op: int, count: int) -> int:
        """MTIOCTOP with ``op`` and ``count``; returns ``count``, as GNU rmt replies.

        Raises:
            OSError: EINVAL for values ``struct mtop`` cannot hold; the kernel's errno.
        """
        if op not in SHORT_RANGE or count not in INT_RANGE:
            raise tape_error(errno.EINVAL, f"{self.name}: {op_name(op)} {count}: out of range")
        self._ioctl(MTIOCTOP, MTOP.pack(op, count), f"{op_name(op)} {count}")
        return count

    def _ioctl(self, request: int, arg: bytes | bytearray, what: str) -> None:
        """``ioctl(2)``; a bytearray ``arg`` gets what the kernel wrote into it.

        Raises:
            OSError: EBADF once closed (``fcntl.ioctl`` would raise ValueError for -1); the
                kernel's errno, with ``what`` in the message.
        """
        try:
            if self._fd < 0:
                raise OSError(errno.EBADF, os.strerror(errno.EBADF))
            fcntl.ioctl(self._fd, request, arg, True)
        except OSError as exc:
            raise self._named(exc, what) from None

    def status(self) -> DriveStatus:
        """MTIOCGET, as ``struct mtget`` came from the kernel.

        ``st`` puts the partition in ``mt_resid``, the density code and block size in
        ``mt_dsreg`` (bits 24-31 and 0-23), the soft error count in ``mt_erreg``: taken apart
        here so that :class:`DriveStatus` packs them back unchanged.
        """
        buffer = bytearray(MTGET.size)
        self._ioctl(MTIOCGET, buffer, "status")
        mt_type, resid, dsreg, gstat, erreg, fileno, blkno = MTGET.unpack(buffer)
        return DriveStatus(
            mt_type=mt_type,
            partition=resid,
            block_size=dsreg & 0xFFFFFF,
            density=(dsreg >> 24) & 0xFF,
            gstat=GeneralStatus(gstat & 0xFFFFFFFF),
            erreg=erreg,
            fileno=fileno,
            blkno=blkno,
        )

    def tell(self) -> int:
        """MTIOCPOS: the drive's logical block number."""
        buffer = bytearray(MTPOS.size)
        self._ioctl(MTIOCPOS, buffer, "position")
        (block,) = MTPOS.unpack(buffer)
        return int(block)

    def seek(self, offset: int, whence: int) -> int:
        """``lseek`` on st is ``noop_llseek`` (``st_fops`` in ``st.c``): 0, the tape stays put."""
        return 0

    def close(self) -> None:
        """Rewind or unload as the settings say, then close the drive.

        The kernel does the rest: a filemark after writing, and ``/dev/st*`` rewinds. The
        descriptor is closed even if the operation fails; the first failure is raised.
        """
        if self._fd < 0:
            return
        failure: OSError | None = None
        try:
            if self.settings.unload_on_close:
                self.ioctl(MtOp.MTOFFL, 1)
            elif self.settings.rewind_on_close:
                self.ioctl(MtOp.MTREW, 1)
        except OSError as exc:
            failure = exc
        fd, self._fd = self._fd, -1
        try:
            os.close(fd)
        except OSError as exc:
            # st writes the filemark at close (its flush): an error there is the client's.
            failure = failure or self._named(exc, "close")
        if failure is not None:
            raise failure
