"""A device opened through a named drive, which empties the drive when its volume goes.

The opener (:mod:`rmtd.opener`) wraps what it opens for a named drive (``mua0``) in
:class:`NamedDriveDevice`; every device call passes through to the device inside.
"""

from __future__ import annotations

from collections.abc import Callable

from devices.drive import VirtualTapeDrive
from devices.interface import BytesLike, DriveStatus, FileExtent, TapeDevice
from rmtd.devspec import Qualifiers


class NamedDriveDevice:
    """A device opened through a named drive: leaves the drive empty when the volume goes.

    At close the drive is emptied if the open had /UNLOAD, or if the client unloaded the tape
    (MTOFFL, MTUNLOAD); every other call passes through to the device inside.

    Args:
        inner: the open device.
        tape: the tape drive under ``inner`` (``None`` for a CD-ROM).
        release: empties the named drive.
        qualifiers: the open's effective qualifiers.
    """

    def __init__(
        self,
        inner: TapeDevice,
        tape: VirtualTapeDrive | None,
        release: Callable[[], None],
        qualifiers: Qualifiers,
    ) -> None:
        self.inner = inner
        self._tape = tape
        self._release = release
        self._unload = qualifiers.unload
        self._closed = False

    def readinto(self, buffer: memoryview) -> int:
        """Read as the inner device does."""
        return self.inner.readinto(buffer)

    def read_extent(self, count: int) -> FileExtent | None:
        """Read as an extent, as the inner device does."""
        return self.inner.read_extent(count)

    def write(self, data: BytesLike) -> int:
        """Write as the inner device does."""
        return self.inner.write(data)

    def write_buffer(self, count: int) -> memoryview:
        """Lend the inner device's buffer for the next write."""
        return self.inner.write_buffer(count)

    def commit_write(self, count: int) -> int:
        """Write what was put in :meth:`write_buffer`, on the inner device."""
        return self.inner.commit_write(count)

    def ioctl(self, op: int, count: int) -> int:
        """Perform a tape operation on the inner device."""
        return self.inner.ioctl(op, count)

    def status(self) -> DriveStatus:
        """Return the inner device's status."""
        return self.inner.status()

    def tell(self) -> int:
        """Return the inner device's position."""
        return self.inner.tell()

    def seek(self, offset: int, whence: int) -> int:
        """Seek as the inner device does."""
        return self.inner.seek(offset, whence)

    def close(self) -> None:
        """Close the volume, then empty the drive if it was unloaded."""
        if self._closed:
            return
        self._closed = True
        try:
            self.inner.close()
        finally:
            unloaded = self._tape is not None and not self._tape.loaded
            if self._unload or unloaded:
                self._release()
