"""The RMT protocol core: bytes in, requests out; replies in, bytes out.

Sans-I/O and standard library only: no sockets, files or event loops here (see
the README's Layout). Feed a `CommandParser` with the client's bytes, act on the requests
it returns, and send each reply's `chunks()`.
"""

from rmtd.protocol.commands import COMMANDS, CommandSpec, ParserConfig
from rmtd.protocol.errors import ProtocolError, RequestError, RmtError
from rmtd.protocol.fields import OPEN_FLAG_NAMES, parse_int, parse_open_flags
from rmtd.protocol.limits import DEFAULT_MAX_RECORD, MAX_RECORD_LIMIT
from rmtd.protocol.lseek import LseekOrder, ResolvedSeek, resolve_lseek
from rmtd.protocol.parser import CommandParser
from rmtd.protocol.replies import MAX_MESSAGE, Ack, ErrorReply, Reply, clean_message
from rmtd.protocol.requests import (
    CLOSED,
    NEED_DATA,
    CloseRequest,
    Event,
    ExtendedIoctlRequest,
    ExtendedStatusRequest,
    IoctlRequest,
    OpenRequest,
    ReadRequest,
    RejectedRequest,
    Request,
    SeekRequest,
    Signal,
    StatusRequest,
    VersionRequest,
    WriteRequest,
)

__all__ = [
    "CLOSED",
    "COMMANDS",
    "DEFAULT_MAX_RECORD",
    "MAX_MESSAGE",
    "MAX_RECORD_LIMIT",
    "NEED_DATA",
    "OPEN_FLAG_NAMES",
    "Ack",
    "CloseRequest",
    "CommandParser",
    "CommandSpec",
    "ErrorReply",
    "Event",
    "ExtendedIoctlRequest",
    "ExtendedStatusRequest",
    "IoctlRequest",
    "LseekOrder",
    "OpenRequest",
    "ParserConfig",
    "ProtocolError",
    "ReadRequest",
    "RejectedRequest",
    "Reply",
    "Request",
    "RequestError",
    "ResolvedSeek",
    "RmtError",
    "SeekRequest",
    "Signal",
    "StatusRequest",
    "VersionRequest",
    "WriteRequest",
    "clean_message",
    "parse_int",
    "parse_open_flags",
    "resolve_lseek",
]
