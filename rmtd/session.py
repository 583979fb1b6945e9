"""The session: requests in, device calls, replies out; the one place errors become ``E``.

Every handler is "try the operation, map ``OSError`` to a reply": a device raises
``OSError(errno, message)`` and the client gets ``E<errno>`` with that message. Anything else
is a bug: it is logged with its traceback and the client gets ``EIO internal error``.

``W`` and ``R`` are the hot path and have their own entry points, so that record data moves
without copies: :meth:`Session.receive_write` reads the payload straight into the buffer the
device lends, through a ``readinto`` callable the transport supplies (the session itself never
touches a file descriptor), and :meth:`Session.read` returns a view of a reused buffer.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from devices.interface import FileExtent, MtOp, TapeDevice
from rmtd.audit import AuditLog
from rmtd.protocol import (
    Ack,
    CloseRequest,
    CommandParser,
    ErrorReply,
    ExtendedIoctlRequest,
    ExtendedStatusRequest,
    IoctlRequest,
    LseekOrder,
    OpenRequest,
    ReadRequest,
    RejectedRequest,
    Reply,
    Request,
    RequestError,
    SeekRequest,
    StatusRequest,
    VersionRequest,
    WriteRequest,
)
from rmtd.protocol.fields import modifies
from rmtd.protocol.v1 import V1_EXTENDED_OPS, V1_IOCTL_OPS
from rmtd.status import MTGET_SIZE, pack_mtget, status_field

log = logging.getLogger(__name__)

Opener = Callable[[str, int], TapeDevice]
Readinto = Callable[[memoryview], int]
"""Reads from the connection into a view; returns the byte count, 0 at the end of input."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Per-connection settings.

    Attributes:
        lseek_order: how to read ``L``'s two lines (see ``rmtd.protocol.lseek``).
    """

    lseek_order: LseekOrder = "auto"


@dataclass(frozen=True, slots=True)
class FileDataAck:
    r"""An ``A<n>\n`` reply to ``R`` whose ``n`` data bytes the transport sends from a file.

    The device has already read them (its position moved); the transport writes
    :meth:`header`, then the extent's bytes with ``sendfile``, never through Python memory.

    Attributes:
        extent: where the data lies.
    """

    extent: FileExtent

    def header(self) -> bytes:
        r"""Return the status line ``A<n>\n``."""
        return b"A%d\n" % self.extent.length


ZERO_COPY_FROM = 32 << 10
"""Smallest ``R`` count served with ``sendfile`` (:meth:`Session.read_zero_copy`).

The status line and ``sendfile``'s data reach the client in two writes, so a client waiting on
a pipe wakes twice per record; below this size copying the record through a buffer and sending
line and data in one ``writev`` is cheaper (``python -m bench``, R 10 KiB: 0.38 of the better C
server with ``sendfile``, 0.8 without). Above it the copy costs more than the wake-up.
"""


class Session:
    """One client connection's state: the open device and the protocol version.

    Args:
        opener: opens a device for an ``O`` request.
        config: the per-connection settings.
        audit: where each open and close is recorded (with the open's byte and record
            counts); ``None``: nowhere.
    """

    def __init__(
        self,
        opener: Opener,
        config: SessionConfig = SessionConfig(),
        audit: AuditLog | None = None,
    ) -> None:
        self._opener = opener
        self._config = config
        self._audit = audit if audit is not None else AuditLog(None)
        self._device: TapeDevice | None = None
        self._name = ""
        self._v1 = False
        self._buffer = bytearray(0)
        # Per open, for the audit's close event: plain integer adds on the hot path.
        self.bytes_read = self.bytes_written = 0
        self.records_read = self.records_written = 0

    # -- the funnel ------------------------------------------------------------------------

    def handle(self, event: Request | RejectedRequest) -> Reply:
        """Carry out one request (not ``W``/``R``, see their methods) and return the reply."""
        if isinstance(event, RejectedRequest):
            return event.reply()
        return self._guard(lambda: self._dispatch(event))

    def _guard(self, action: Callable[[], T]) -> T | ErrorReply:
        try:
            return action()
        except Exception as exc:
            return self._failure(exc)

    def _failure(self, exc: Exception) -> ErrorReply:
        """The reply for an exception raised while serving a request."""
        if isinstance(exc, MemoryError):
            return ErrorReply(errno.ENOMEM, "not enough memory for the request")
        if isinstance(exc, OSError):
            code = exc.errno or errno.EIO
            message = exc.strerror or os.strerror(code)
            # The reply carries the message cut to what clients show; the log keeps it whole.
            log.info("E%d %s", code, message)
            return ErrorReply(code, message)
        if isinstance(exc, RequestError):
            return exc.reply()
        log.error("internal error while serving %s", self._name or "the client", exc_info=exc)
        return ErrorReply(errno.EIO, "internal error")

    def _dispatch(self, request: Request) -> Reply:
        match request:
            case OpenRequest():
                return self._open(request)
            case CloseRequest():
                return self._close()
            case IoctlRequest():
                return self._ioctl(request)
            case ExtendedIoctlRequest():
                op = _mapped(V1_EXTENDED_OPS, request.op, "i")
                return Ack(self._require().ioctl(op, request.count))
            case StatusRequest():
                data = pack_mtget(self._require().status())
                return Ack(MTGET_SIZE, data)
            case ExtendedStatusRequest():
                return Ack(status_field(self._require().status(), request.field))
            case SeekRequest():
                seek = request.resolve(self._config.lseek_order)
                log.info(
                    "lseek %d %d read as offset %d, whence %d (%s)",
                    request.first,
                    request.second,
                    seek.offset,
                    seek.whence,
                    seek.order,
                )
                return Ack(self._require().seek(seek.offset, seek.whence))
            case VersionRequest():
                return Ack(request.version)
            case ReadRequest():
                return self.read(request.count)
            case WriteRequest():
                raise AssertionError("W goes through receive_write")
        raise AssertionError(f"unhandled request {request!r}")

    # -- open, close -------------------------------------------------------------------------

    def _open(self, request: OpenRequest) -> Reply:
        self.close_device()
        name = request.device_name
        log.info("open %s (%s)", name, request.flags_text)
        mode = "w" if modifies(request.flags) else "r"
        try:
            self._device = self._opener(name, request.flags)
        except OSError as exc:
            if exc.errno in _REFUSALS:
                reason = exc.strerror or os.strerror(exc.errno or errno.EIO)
                self._audit.event("refuse", device=name, mode=mode, reason=reason)
            raise
        self._name = name
        self.bytes_read = self.bytes_written = 0
        self.records_read = self.records_written = 0
        self._audit.event("open", device=name, mode=mode)
        return Ack(0)

    def _close(self) -> Reply:
        if self._device is None:
            return ErrorReply(errno.EBADF, "no device is open")
        device, self._device = self._device, None
        try:
            device.close()
        finally:
            self._audit_close()
        return Ack(0)

    def close_device(self) -> None:
        """Close the open device, if any, logging a failure (end of session, or a new ``O``)."""
        if self._device is None:
            return
        device, self._device = self._device, None
        try:
            device.close()
        except OSError as exc:
            log.warning("%s: closing failed: %s", self._name, exc.strerror)
        finally:
            self._audit_close()

    def _audit_close(self) -> None:
        self._audit.event(
            "close",
            device=self._name,
            bytes_read=self.bytes_read,
            bytes_written=self.bytes_written,
            records_read=self.records_read,
            records_written=self.records_written,
        )

    def _require(self) -> TapeDevice:
        if self._device is None:
            raise OSError(errno.EBADF, "no device is open")
        return self._device

    # -- ioctl -------------------------------------------------------------------------------

    def _ioctl(self, request: IoctlRequest) -> Reply:
        if request.is_version_probe:
            self._v1 = True  # sticky for the connection, as dump's and Schily's servers
            return Ack(1)
        op = _mapped(V1_IOCTL_OPS, request.op, "I") if self._v1 else request.op
        device = self._require()
        if op == MtOp.MTTELL:
            return Ack(device.tell())
        device.ioctl(op, request.count)
        # BSD servers echo the count, but GNU clients take a negative A for a failure
        # (rtapelib.c, get_status) and a negative count is a real request: MTFSF -1 is MTBSF 1.
        return Ack(max(request.count, 0))

    # -- the hot path --------------------------------------------------------------------------

    def receive_write(
        self, request: WriteRequest, parser: CommandParser, readinto: Readinto
    ) -> Reply | None:
        """Serve a ``W``: take its payload into the device's buffer and write it.

        The device lends the buffer for the record (:meth:`TapeDevice.write_buffer`), after
        checking that the write would be accepted; the payload bytes the parser already holds
        go in first, the rest is read by ``readinto`` straight into place, then the record is
        committed. A refused ``W`` has its payload discarded by the parser, so the stream stays
        in step with the client either way.

        Args:
            request: the ``W`` request, just returned by ``parser``.
            parser: the connection's parser: told what was consumed, or to discard.
            readinto: reads from the connection into the view, returning the byte count
                (0 at the end of input), e.g. ``lambda view: os.readv(fd, [view])``.

        Returns:
            The reply; ``None`` if the input ended inside the payload (the parser then
            reports the truncation as a protocol error on its next event).
        """
        count = request.count
        try:
            device = self._require()
            lent = device.write_buffer(count)
        except Exception as exc:
            parser.discard_payload()
            return self._failure(exc)
        got = parser.read_payload_into(lent)
        while got < count:
            n = readinto(lent[got:])
            if n == 0:
                parser.receive_data(b"")
                return None
            parser.payload_received(n)
            got += n
        try:
            written = device.commit_write(count)
        except Exception as exc:
            return self._failure(exc)
        self.bytes_written += written
        self.records_written += 1
        return Ack(written)

    def read(self, count: int) -> Reply:
        """Read up to ``count`` bytes: the reply's data is a view of a reused buffer."""
        try:
            view = self._scratch(count)
            got = self._require().readinto(view)
        except Exception as exc:
            return self._failure(exc)
        if got:  # 0 is a filemark or the end of data, not a record
            self.bytes_read += got
            self.records_read += 1
        return Ack(got, view[:got])

    def read_zero_copy(self, count: int) -> Reply | FileDataAck:
        """Read up to ``count`` bytes, leaving them in the device's file when it can.

        A read of at least :data:`ZERO_COPY_FROM` bytes that the device can give as an extent
        of a file (one record of a tape image, the next bytes of a plain file) becomes a
        :class:`FileDataAck`, for the transport to send with ``sendfile``; any other read is
        :meth:`read`'s, with the same replies and errors.
        """
        device = self._device
        if device is None:
            return ErrorReply(errno.EBADF, "no device is open")
        if count < ZERO_COPY_FROM:
            return self.read(count)
        try:
            extent = device.read_extent(count)
        except Exception as exc:
            return self._failure(exc)
        if extent is None:
            return self.read(count)
        self.bytes_read += extent.length
        self.records_read += 1
        return FileDataAck(extent)

    def _scratch(self, count: int) -> memoryview:
        if len(self._buffer) < count:
            self._buffer = bytearray(count)
        return memoryview(self._buffer)[:count]


_REFUSALS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
"""Open failures that are refusals (by the grant, the path policy, write protection)."""


def _mapped(table: dict[int, int], op: int, letter: str) -> int:
    """The Linux op for a V1 wire op; EINVAL for one Linux has no equivalent of."""
    linux = table.get(op)
    if linux is None:
        raise OSError(errno.EINVAL, f"{letter}{op}: no such operation")
    return linux
