"""`RemoteTape`: an open remote device that satisfies `devices.interface.TapeDevice`."""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from types import TracebackType
from typing import IO

from devices.interface import BytesLike, DriveStatus, FileExtent, MtOp
from devices.writebuffer import StagedWrites
from rmtd.client.connection import RmtConnection
from rmtd.client.names import (
    DEFAULT_RMT_COMMAND,
    ClientLseekOrder,
    RemoteName,
    parse_remote,
)

# -- a remote device ----------------------------------------------------------------------


class RemoteTape(StagedWrites):
    """An open remote device, usable wherever a `devices.interface.TapeDevice` is.

    Owns its connection: `close` closes the device and ends the connection. If the open
    fails, the connection is shut down before the error propagates.

    Args:
        connection: A fresh connection (nothing open on it).
        name: The remote path or device spec.
        flags: Linux open flags.

    Raises:
        OSError: The open failed.
    """

    def __init__(self, connection: RmtConnection, name: str, flags: int = os.O_RDONLY) -> None:
        self._connection = connection
        #: The remote name that was opened.
        self.name = name
        self._closed = False
        try:
            connection.open(name, flags)
        except BaseException:
            connection.shutdown()
            raise

    @classmethod
    def connect(
        cls,
        remote: RemoteName | str,
        flags: int = os.O_RDONLY,
        *,
        rsh_command: str = "rsh",
        rmt_command: str = DEFAULT_RMT_COMMAND,
        lseek_order: ClientLseekOrder = "offset-first",
        status_newline: bool = False,
        timeout: float | None = None,
        stderr: int | IO[bytes] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> RemoteTape:
        """Start a server for `remote` and open its path.

        Args:
            remote: A `RemoteName`, or text for `parse_remote`.
            flags: Linux open flags.
            rsh_command: See `RmtConnection`.
            rmt_command: See `RmtConnection`.
            lseek_order: See `RmtConnection`.
            status_newline: See `RmtConnection`.
            timeout: See `RmtConnection`.
            stderr: See `RmtConnection`.
            env: See `RmtConnection`.

        Returns:
            The open device.

        Raises:
            ValueError: `remote` is text that does not name a remote file.
            OSError: The server could not be started or the open failed.
        """
        name = parse_remote(remote) if isinstance(remote, str) else remote
        if name is None:
            raise ValueError(f"{remote!r} is not a remote name ([user@]host:path)")
        connection = RmtConnection(
            name.host,
            user=name.user,
            rsh_command=rsh_command,
            rmt_command=rmt_command,
            lseek_order=lseek_order,
            status_newline=status_newline,
            timeout=timeout,
            stderr=stderr,
            env=env,
        )
        return cls(connection, name.path, flags)

    @property
    def connection(self) -> RmtConnection:
        """The connection this device uses."""
        return self._connection

    @property
    def closed(self) -> bool:
        """True once `close` has been called."""
        return self._closed

    def read(self, count: int) -> bytes:
        """Read one record of at most `count` bytes (see `RmtConnection.read`)."""
        return self._connection.read(count)

    def readinto(self, buffer: memoryview) -> int:
        """Read one record into `buffer`; 0 at a filemark (see `RmtConnection.readinto`)."""
        return self._connection.readinto(buffer)

    def read_extent(self, count: int) -> FileExtent | None:
        """A remote record lies in no local file: always ``None`` (use :meth:`readinto`)."""
        return None

    def write(self, data: BytesLike) -> int:
        """Write one record; returns the count written (see `RmtConnection.write`)."""
        return self._connection.write(data)

    def ioctl(self, op: int, count: int) -> int:
        """Perform an MTIOCTOP operation, Linux numbering (see `RmtConnection.ioctl`)."""
        return self._connection.ioctl(op, count)

    def status(self) -> DriveStatus:
        """Return the drive status (see `RmtConnection.status`)."""
        return self._connection.status()

    def tell(self) -> int:
        """Return the block position (MTIOCPOS) with ``I23`` (MTTELL).

        The protocol has no MTIOCPOS request. rmtd answers MTTELL with the device's
        position (the logical block on a tape, the offset in a file). Other servers pass
        op 23 to their kernel and answer what it says, usually an error (ENOTTY for a
        file); a server that only echoes the count would make this return 1.

        Returns:
            The position.

        Raises:
            OSError: The server's error, or EIO for a negative position.
        """
        position = self._connection.ioctl(MtOp.MTTELL, 1)
        if position < 0:
            raise OSError(errno.EIO, f"the server reported position {position}")
        return position

    def seek(self, offset: int, whence: int) -> int:
        """Reposition like ``lseek(2)``; a tape answers 0 and stays put (`RmtConnection.seek`)."""
        return self._connection.seek(offset, whence)

    def close(self) -> None:
        """Close the device (``C``) and end the connection; a second call does nothing.

        Raises:
            OSError: The server's error for the close (the connection ends anyway).
        """
        if self._closed:
            return
        self._closed = True
        try:
            if self._connection.alive:
                self._connection.close()
        finally:
            self._connection.shutdown()

    def __enter__(self) -> RemoteTape:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
