"""The session: requests in, device calls, replies out; the one place errors become ``E``.

Every handler is "try the operation, map ``OSError`` to a reply": a device raises
``OSError(errno, message)`` and the client gets ``E<errno>`` with that message. Anything else
is a bug: it is logged with its traceback and the client gets ``EIO internal error``.

``W`` and ``R`` are the hot path and have their own entry points, so that record data moves
without copies: :meth:`Session.prepare_write` lends the buffer the transport reads the payload
into, and :meth:`Session.read` returns a view of a reused buffer for the reply.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from devices.interface import MtOp, TapeDevice
from rmtd.protocol import (
    Ack,
    CloseRequest,
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
from rmtd.protocol.v1 import V1_EXTENDED_OPS, V1_IOCTL_OPS
from rmtd.status import MTGET_SIZE, pack_mtget, status_field

log = logging.getLogger(__name__)

Opener = Callable[[str, int], TapeDevice]


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Per-connection settings.

    Attributes:
        lseek_order: how to read ``L``'s two lines (see ``rmtd.protocol.lseek``).
    """

    lseek_order: LseekOrder = "auto"


class Session:
    """One client connection's state: the open device and the protocol version."""

    def __init__(self, opener: Opener, config: SessionConfig = SessionConfig()) -> None:
        self._opener = opener
        self._config = config
        self._device: TapeDevice | None = None
        self._name = ""
        self._v1 = False
        self._buffer = bytearray(0)

    # -- the funnel ------------------------------------------------------------------------

    def handle(self, event: Request | RejectedRequest) -> Reply:
        """Carry out one request (not ``W``/``R``, see their methods) and return the reply."""
        if isinstance(event, RejectedRequest):
            return event.reply()
        return self._guard(lambda: self._dispatch(event))

    def _guard(self, action: Callable[[], Reply]) -> Reply:
        try:
            return action()
        except OSError as exc:
            code = exc.errno or errno.EIO
            return ErrorReply(code, exc.strerror or os.strerror(code))
        except RequestError as exc:
            return exc.reply()
        except Exception:
            log.exception("internal error while serving %s", self._name or "the client")
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
                raise AssertionError("W goes through prepare_write/finish_write")
        raise AssertionError(f"unhandled request {request!r}")

    # -- open, close -------------------------------------------------------------------------

    def _open(self, request: OpenRequest) -> Reply:
        self.close_device()
        name = request.device_name
        log.info("open %s (%s)", name, request.flags_text)
        self._device = self._opener(name, request.flags)
        self._name = name
        return Ack(0)

    def _close(self) -> Reply:
        if self._device is None:
            return ErrorReply(errno.EBADF, "no device is open")
        device, self._device = self._device, None
        device.close()
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
        # (PROTOCOL.md §3.1) and a negative count is a real request: MTFSF -1 is MTBSF 1.
        return Ack(max(request.count, 0))

    # -- the hot path --------------------------------------------------------------------------

    def prepare_write(self, count: int) -> memoryview | ErrorReply:
        """Lend the buffer for a ``W`` payload of ``count`` bytes, or say why it is refused.

        On an :class:`ErrorReply` the transport discards the payload and sends the reply.
        """
        if self._device is None:
            return ErrorReply(errno.EBADF, "no device is open")
        lend = getattr(self._device, "write_buffer", None)
        if lend is not None and count:
            try:
                view: memoryview = lend(count)
                return view
            except OSError as exc:
                return ErrorReply(exc.errno or errno.EIO, exc.strerror or "write refused")
        try:
            return self._scratch(count)
        except MemoryError:
            return ErrorReply(errno.ENOMEM, f"no memory for a record of {count} bytes")

    def finish_write(self, count: int, view: memoryview) -> Reply:
        """Write the ``count`` bytes the transport put in ``view`` (from :meth:`prepare_write`)."""

        def action() -> Reply:
            device = self._require_write()
            commit = getattr(device, "commit_write", None)
            if commit is not None and count:
                return Ack(commit(count))
            return Ack(device.write(view[:count]))

        return self._guard(action)

    def _require_write(self) -> TapeDevice:
        # prepare_write refused the W when nothing was open; this is the same check, kept
        # so that a transport calling out of order still gets an error, not a crash.
        return self._require()

    def read(self, count: int) -> Reply:
        """Read up to ``count`` bytes: the reply's data is a view of a reused buffer."""

        def action() -> Reply:
            device = self._require()
            view = self._scratch(count)
            got = device.readinto(view)
            return Ack(got, view[:got])

        return self._guard(action)

    def _scratch(self, count: int) -> memoryview:
        if len(self._buffer) < count:
            self._buffer = bytearray(count)
        return memoryview(self._buffer)[:count]


def _mapped(table: dict[int, int], op: int, letter: str) -> int:
    """The Linux op for a V1 wire op; EINVAL for one Linux has no equivalent of."""
    linux = table.get(op)
    if linux is None:
        raise OSError(errno.EINVAL, f"{letter}{op}: no such operation")
    return linux
