"""Fault injection: a tape that fails the way real tapes fail, exactly when told to.

A :class:`Faults` says what goes wrong in one open of a device; :class:`FaultyTape` wraps the
open device and makes it so. Every fault that fires is logged (logger ``devices.faults``,
WARNING) naming the device, the fault and the operation count, and raised as the
``OSError(errno, message)`` every device raises (:func:`devices.errors.tape_error`):

* ``read_error`` / ``write_error``: an errno on the Nth data read or write of the open
  (1-based; ``every`` repeats it every so many after). Nothing moves: the record is neither
  read nor written, as when a drive refuses a command before it reaches the medium.
* ``early_warning_at``: from this byte of the image on, writes alternate between success and
  ENOSPC, and status shows ``GMT_EOT`` - the rule the drive applies to a volume's capacity
  (:meth:`devices.drive.VirtualTapeDrive._reserve`, after ``drivers/scsi/st.c``, which reports
  the early-warning zone as ENOSPC on every other write). The volume's recorded capacity is
  left alone: a fault lasts one open and must never be saved beside the image.
* ``end_of_medium_at``: a record (or filemark) that would end past this byte fails with ENOSPC.
* ``delay``: seconds slept before every operation (a stuck drive).
* ``disappear_after``: after this many operations every one fails with ENOMEDIUM.

Byte offsets are offsets in the tape image, the unit of a volume's capacity; on a device that
is not a tape image (a CD-ROM, a real drive) they do not apply. Without faults nothing is
wrapped, so the path of every read and write is the device's own.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import math
import time
from dataclasses import dataclass

from devices.drive import VirtualTapeDrive
from devices.errors import tape_error
from devices.interface import BytesLike, DriveStatus, FileExtent, GeneralStatus, MtOp, TapeDevice

log = logging.getLogger(__name__)

_MARKS = frozenset({MtOp.MTWEOF, MtOp.MTWEOFI})


def errno_named(name: str) -> int:
    """The errno called ``name`` (``"EIO"``, ``"ENOSPC"``...).

    Raises:
        ValueError: no errno has that name.
    """
    code = getattr(errno, name, None) if name.isupper() else None
    if not isinstance(code, int) or errno.errorcode.get(code) is None:
        raise ValueError(f"{name!r} is not an errno name (EIO, ENOSPC, ENOMEM...)")
    return code


@dataclass(frozen=True, slots=True)
class NthError:
    """An errno on the ``at``-th read or write of an open, and every ``every`` after it.

    Attributes:
        at: the first operation that fails, 1-based.
        errno: the errno it fails with.
        every: repeat every so many operations after ``at``; 0: only once.
    """

    at: int
    errno: int = errno.EIO
    every: int = 0

    def __post_init__(self) -> None:
        if self.at < 1 or self.every < 0:
            raise ValueError(f"an error at {self.at}, every {self.every}: need at >= 1, every >= 0")
        if self.errno not in errno.errorcode:
            raise ValueError(f"{self.errno} is not an errno")

    def fires(self, n: int) -> bool:
        """Whether the ``n``-th operation (1-based) fails."""
        if n == self.at:
            return True
        return self.every > 0 and n > self.at and (n - self.at) % self.every == 0

    @property
    def errno_name(self) -> str:
        """The errno's name (``EIO``)."""
        return errno.errorcode[self.errno]


@dataclass(frozen=True, slots=True)
class Faults:
    """What goes wrong in every open of one device (see the module's description).

    Attributes:
        read_error: an errno on the Nth data read.
        write_error: an errno on the Nth data write.
        early_warning_at: image offset where early warning (GMT_EOT, alternating ENOSPC) starts.
        end_of_medium_at: image offset no record or filemark may cross (ENOSPC).
        delay: seconds slept before every operation.
        disappear_after: operations that succeed before every one fails with ENOMEDIUM.
    """

    read_error: NthError | None = None
    write_error: NthError | None = None
    early_warning_at: int | None = None
    end_of_medium_at: int | None = None
    delay: float = 0.0
    disappear_after: int | None = None

    def __post_init__(self) -> None:
        for name in ("early_warning_at", "end_of_medium_at", "disappear_after"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} {value} is negative")
        if not math.isfinite(self.delay) or self.delay < 0:
            raise ValueError(f"delay {self.delay} is not a number of seconds >= 0")

    @property
    def empty(self) -> bool:
        """Whether nothing at all goes wrong (then nothing is wrapped)."""
        return self == Faults()


class FaultyTape:
    """An open device whose operations fail as ``faults`` says (a :class:`TapeDevice`).

    Args:
        inner: the open device.
        faults: what goes wrong.
        name: the device as the client named it, for messages and the log.
        tape: the tape drive under ``inner``, for byte offsets; ``None``: offsets do not apply.
    """

    def __init__(
        self, inner: TapeDevice, faults: Faults, name: str, tape: VirtualTapeDrive | None
    ) -> None:
        self.inner = inner
        self.faults = faults
        self.name = name
        self._tape = tape
        self.operations = 0
        self.reads = 0
        self.writes = 0
        self._refuse_next_write = False  # early-warning alternation, as the drive's

    # -- the faults ------------------------------------------------------------------------

    def _fire(self, code: int, fault: str, what: str) -> OSError:
        log.warning(
            "%s: injected fault %s (%s) on %s, operation %d",
            self.name,
            fault,
            errno.errorcode[code],
            what,
            self.operations,
        )
        return tape_error(
            code, f"{self.name}: injected {fault} fault ({errno.errorcode[code]}) on {what}"
        )

    def _operation(self, what: str) -> None:
        """Count an operation; sleep first if stuck, fail if the medium has gone."""
        if self.faults.delay:
            if not self.operations:  # once per open: a line per operation would drown the log
                log.warning(
                    "%s: injected fault delay (%g s) before every operation, from operation 1",
                    self.name,
                    self.faults.delay,
                )
            time.sleep(self.faults.delay)
        self.operations += 1
        gone = self.faults.disappear_after
        if gone is not None and self.operations > gone:
            raise self._fire(errno.ENOMEDIUM, "disappear_after", what)

    def _read(self) -> None:
        self._operation(f"read {self.reads + 1}")
        self.reads += 1
        fault = self.faults.read_error
        if fault is not None and fault.fires(self.reads):
            raise self._fire(fault.errno, "read_error", f"read {self.reads}")

    def _write(self, count: int) -> None:
        self._operation(f"write {self.writes + 1}")
        self.writes += 1
        fault = self.faults.write_error
        if fault is not None and fault.fires(self.writes):
            raise self._fire(fault.errno, "write_error", f"write {self.writes}")
        if count:
            self._check_room(self._records_size(count), f"write {self.writes}")

    def _records_size(self, count: int) -> int:
        """Bytes of image the records of a ``count``-byte write take (0 with no tape)."""
        tape = self._tape
        if tape is None:
            return 0
        size = tape.block_size or count
        return tape.image.record_size(size) * (count // size)

    def _check_room(self, length: int, what: str, warning: bool = True) -> None:
        """Refuse what would cross the end of medium, or the write early warning refuses.

        Filemarks (``warning=False``) meet only the end of medium, as on the drive, whose
        ``write_filemarks`` checks the capacity and not the early-warning alternation.
        """
        tape = self._tape
        if tape is None or not tape.loaded:
            return  # no medium: the drive says so (ENOMEDIUM)
        start = tape.image.index.offset(tape.state.position)
        end = self.faults.end_of_medium_at
        if end is not None and start + length > end:
            raise self._fire(errno.ENOSPC, "end_of_medium_at", f"{what} (end of medium at {end})")
        warn = self.faults.early_warning_at
        if warning and warn is not None and self._refuse_next_write and start >= warn:
            self._refuse_next_write = False
            raise self._fire(errno.ENOSPC, "early_warning_at", f"{what} (early warning at {warn})")

    def _written(self) -> None:
        """After a successful write: past early warning, the next write is refused."""
        warn = self.faults.early_warning_at
        if warn is not None and self._tape is not None and self._tape.image.end_offset >= warn:
            self._refuse_next_write = True

    def _read_may_skip_readinto(self) -> bool:
        """Whether the next read may be served as an extent: no fault can touch it."""
        faults = self.faults
        if faults.delay:
            return False  # a stuck drive is slow whichever way the bytes go
        if faults.disappear_after is not None and self.operations >= faults.disappear_after:
            return False
        return faults.read_error is None or not faults.read_error.fires(self.reads + 1)

    # -- the device ------------------------------------------------------------------------

    def readinto(self, buffer: memoryview) -> int:
        """Read as the inner device does, unless a fault is due."""
        self._read()
        return self.inner.readinto(buffer)

    def read_extent(self, count: int) -> FileExtent | None:
        """An extent as the inner device gives it; ``None`` when a fault is due or could be."""
        if not self._read_may_skip_readinto():
            return None  # readinto counts the read and raises what is due
        extent = self.inner.read_extent(count)
        if extent is not None:
            self.operations += 1
            self.reads += 1
        return extent

    def write(self, data: BytesLike) -> int:
        """Write as the inner device does, unless a fault is due."""
        self._write(len(memoryview(data)))
        written = self.inner.write(data)
        self._written()
        return written

    def write_buffer(self, count: int) -> memoryview:
        """Lend the inner device's buffer, unless the write is to fail."""
        self._write(count)
        return self.inner.write_buffer(count)

    def commit_write(self, count: int) -> int:
        """Write what was put in the buffer (the write counted when it was lent)."""
        written = self.inner.commit_write(count)
        self._written()
        return written

    def ioctl(self, op: int, count: int) -> int:
        """A tape operation; filemarks, too, stop at the end of medium."""
        self._operation(f"tape operation {op}")
        if op in _MARKS and count > 0 and self._tape is not None:
            size = self._tape.image.filemark_size() * count
            self._check_room(size, f"{count} filemark(s)", warning=False)
        return self.inner.ioctl(op, count)

    def status(self) -> DriveStatus:
        """The inner device's status; GMT_EOT past the early-warning offset."""
        self._operation("status")
        status = self.inner.status()
        warn, tape = self.faults.early_warning_at, self._tape
        if (
            warn is not None
            and tape is not None
            and tape.loaded
            and tape.image.index.offset(tape.state.position) >= warn
        ):
            return dataclasses.replace(status, gstat=status.gstat | GeneralStatus.EOT)
        return status

    def tell(self) -> int:
        """The inner device's position."""
        self._operation("tell")
        return self.inner.tell()

    def seek(self, offset: int, whence: int) -> int:
        """Seek as the inner device does."""
        self._operation("seek")
        return self.inner.seek(offset, whence)

    def close(self) -> None:
        """Close the inner device: never faulted, so its state is always saved."""
        self.inner.close()
