"""Requests: one frozen dataclass per RMT command, as the parser produces them.

Field values are already validated for syntax and range (decimal numbers, 32- or 64-bit
ranges, open-flag names); their meaning (is a device open, is the op supported...) is
the session's business. `RejectedRequest` is the event for a well-framed request whose
arguments are invalid: all its bytes are consumed, reply its error and carry on.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar, Final, Literal, TypeAlias

from rmtd.protocol.lseek import LseekOrder, ResolvedSeek, resolve_lseek
from rmtd.protocol.replies import ErrorReply

__all__ = [
    "CLOSED",
    "NEED_DATA",
    "CloseRequest",
    "Event",
    "ExtendedIoctlRequest",
    "ExtendedStatusRequest",
    "IoctlRequest",
    "OpenRequest",
    "ReadRequest",
    "RejectedRequest",
    "Request",
    "SeekRequest",
    "Signal",
    "StatusRequest",
    "VersionRequest",
    "WriteRequest",
]

#: ``I`` op that asks for the protocol version (RMTIVERSION of dump's and Schily's rmt.c).
VERSION_PROBE_OP = -1


@dataclass(frozen=True, slots=True)
class OpenRequest:
    r"""``O<device>\n<flags>\n``: close what is open, then open `device`.

    Attributes:
        device: The path bytes exactly as sent (never contains ``\n`` or NUL).
        flags: Open flags in Linux numbering, decoded by `parse_open_flags`.
        flags_text: The flags line as sent (ASCII, undecodable bytes escaped), for logs.
    """

    COMMAND: ClassVar[str] = "O"
    device: bytes
    flags: int
    flags_text: str

    @property
    def device_name(self) -> str:
        """The device as text, decoded the way ``os.fsdecode`` does on Linux."""
        return self.device.decode("utf-8", "surrogateescape")


@dataclass(frozen=True, slots=True)
class CloseRequest:
    r"""``C[<ignored>]\n``: close the open device; the server keeps running.

    Attributes:
        text: Whatever followed the ``C`` (old BSD clients send the device name).
    """

    COMMAND: ClassVar[str] = "C"
    text: bytes = b""


@dataclass(frozen=True, slots=True)
class SeekRequest:
    r"""``L<first>\n<second>\n``: lseek, with the two lines in an unknown order.

    BSD-family clients send offset then whence; GNU tar >= 1.35 sends whence then offset
    (see `rmtd.protocol.lseek`). Call `resolve` (or `resolve_lseek`) to decide.

    Attributes:
        first: The first line as a signed 64-bit integer (a symbolic whence is mapped).
        second: The second line as a signed 64-bit integer.
        symbolic_first: The first line was ``SET``/``CUR``/``END``/``SEEK_*``, which
            only GNU order can mean.
    """

    COMMAND: ClassVar[str] = "L"
    first: int
    second: int
    symbolic_first: bool = False

    def resolve(self, order: LseekOrder = "auto", *, qfa: bool = True) -> ResolvedSeek:
        """Return the offset and whence under `order`.

        Args:
            order: ``"auto"``, ``"offset-first"`` (BSD) or ``"whence-first"`` (GNU).
            qfa: Accept dump's QFA whence values 10 and 11 (BSD order only).

        Returns:
            The offset, whence and the order that was applied.

        Raises:
            RequestError: EINVAL if no allowed reading gives a valid whence.
        """
        return resolve_lseek(
            self.first, self.second, order, symbolic_first=self.symbolic_first, qfa=qfa
        )


@dataclass(frozen=True, slots=True)
class WriteRequest:
    r"""``W<count>\n`` + `count` raw bytes: write one record.

    The parser does not buffer the payload: after this event the caller takes exactly
    `count` bytes with `CommandParser.read_payload_into` (and direct reads), see the
    parser's documentation.

    Attributes:
        count: Payload size in bytes, 0 <= count <= the parser's ``max_record``.
    """

    COMMAND: ClassVar[str] = "W"
    count: int


@dataclass(frozen=True, slots=True)
class ReadRequest:
    r"""``R<count>\n``: read one record of at most `count` bytes.

    Attributes:
        count: Most bytes the client accepts, 0 <= count <= the parser's ``max_record``.
    """

    COMMAND: ClassVar[str] = "R"
    count: int


@dataclass(frozen=True, slots=True)
class IoctlRequest:
    r"""``I<op>\n<count>\n``: MTIOCTOP.

    In protocol V0 `op` is in the client's (for GNU: Linux) numbering; after a version
    probe, in V1 numbering (see `rmtd.protocol.v1`).

    Attributes:
        op: Operation code (32-bit signed).
        count: Repeat count (32-bit signed).
    """

    COMMAND: ClassVar[str] = "I"
    op: int
    count: int

    @property
    def is_version_probe(self) -> bool:
        """True for ``I-1``: answer ``A1`` and switch the connection to V1."""
        return self.op == VERSION_PROBE_OP


@dataclass(frozen=True, slots=True)
class ExtendedIoctlRequest:
    r"""``i<op>\n<count>\n``: V1 extended MTIOCTOP (op in the V1 ``i`` numbering).

    Attributes:
        op: Extended operation code (32-bit signed).
        count: Repeat count (32-bit signed).
    """

    COMMAND: ClassVar[str] = "i"
    op: int
    count: int


@dataclass(frozen=True, slots=True)
class StatusRequest:
    r"""``S`` (no newline; a following ``\n`` is skipped): raw ``struct mtget``."""

    COMMAND: ClassVar[str] = "S"


@dataclass(frozen=True, slots=True)
class ExtendedStatusRequest:
    """``s<c>`` (no newline): one field of ``struct mtget`` as a decimal.

    Attributes:
        field: The sub-command character as sent (any byte, latin-1 decoded); the
            session answers EINVAL for letters it does not support.
    """

    COMMAND: ClassVar[str] = "s"
    field: str


@dataclass(frozen=True, slots=True)
class VersionRequest:
    r"""``V<ignored>\n`` (BSD/dump, answer 2) or ``v<ignored>\n`` (Schily, answer 1).

    Attributes:
        command: ``"V"`` or ``"v"``.
        text: Whatever followed the letter on its line.
    """

    COMMAND: ClassVar[str] = "V"
    command: Literal["V", "v"]
    text: bytes = b""

    @property
    def version(self) -> int:
        """The value the server that defines this form answers (2 for V, 1 for v)."""
        return 2 if self.command == "V" else 1


@dataclass(frozen=True, slots=True)
class RejectedRequest:
    """A complete request with invalid arguments; its bytes are all consumed.

    Attributes:
        command: The command letter.
        errno: The errno to reply with.
        message: What was wrong, for the ``E`` reply and the log.
    """

    command: str
    errno: int
    message: str

    def reply(self) -> ErrorReply:
        """Return the ``E`` reply for this request."""
        return ErrorReply(self.errno, self.message)


#: A valid request.
Request: TypeAlias = (
    OpenRequest
    | CloseRequest
    | SeekRequest
    | WriteRequest
    | ReadRequest
    | IoctlRequest
    | ExtendedIoctlRequest
    | StatusRequest
    | ExtendedStatusRequest
    | VersionRequest
)

#: What `CommandParser.next_event` returns besides its `Signal` sentinels.
Event: TypeAlias = Request | RejectedRequest


class Signal(enum.Enum):
    """Non-request results of `CommandParser.next_event`."""

    #: Feed more bytes, then call `next_event` again.
    NEED_DATA = "NEED_DATA"
    #: The client closed the connection between requests; nothing more will come.
    CLOSED = "CLOSED"


NEED_DATA: Final = Signal.NEED_DATA
CLOSED: Final = Signal.CLOSED
