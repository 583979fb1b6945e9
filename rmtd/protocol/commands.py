r"""The command table: framing of every RMT command as data, one row per letter.

A request is: one command letter; then ``lines`` argument lines, the first starting
right after the letter, each ending at ``\n``; then ``raw`` bytes with no newline
(``s``); then, for ``W``, a payload whose size the count line gives.

============  =======================  ===  ===========  =======================
letter        argument lines           raw  payload      request
============  =======================  ===  ===========  =======================
``O``         device, flags            0    -            `OpenRequest`
``C``         text                     0    -            `CloseRequest`
``L``         first line, second line  0    -            `SeekRequest`
``W``         count                    0    count bytes  `WriteRequest`
``R``         count                    0    -            `ReadRequest`
``I``         op, count                0    -            `IoctlRequest`
``i``         op, count                0    -            `ExtendedIoctlRequest`
``S``         -                        0    -            `StatusRequest`
``s``         -                        1    -            `ExtendedStatusRequest`
``V``, ``v``  text                     0    -            `VersionRequest`
============  =======================  ===  ===========  =======================

Any other letter is a framing error ("Garbage command"); blanks and newlines in command
position are skipped: GNU rtapelib since 2024 sends ``S\n``, the others a bare ``S``.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rmtd.protocol.errors import RequestError
from rmtd.protocol.fields import (
    INT32_MAX,
    INT32_MIN,
    INT64_MAX,
    INT64_MIN,
    parse_int,
    parse_open_flags,
    parse_whence_name,
)
from rmtd.protocol.limits import DEFAULT_MAX_RECORD, MAX_RECORD_LIMIT
from rmtd.protocol.requests import (
    CloseRequest,
    ExtendedIoctlRequest,
    ExtendedStatusRequest,
    IoctlRequest,
    OpenRequest,
    ReadRequest,
    Request,
    SeekRequest,
    StatusRequest,
    VersionRequest,
    WriteRequest,
)

__all__ = ["COMMANDS", "UNBOUNDED_COUNT", "CommandSpec", "ParserConfig"]

#: Upper bound passed to `parse_int` for a ``W`` count: the parser applies the limits.
UNBOUNDED_COUNT = 10**40


@dataclass(frozen=True, slots=True)
class ParserConfig:
    """Limits and decoding options of a `CommandParser` (see its constructor)."""

    max_line: int = 4096
    max_record: int = DEFAULT_MAX_RECORD
    max_skip: int = MAX_RECORD_LIMIT
    trust_numeric_flags: bool = False
    strict_flag_names: bool = False


#: Decodes a request's argument lines (then raw bytes) into a request.
Decoder = Callable[[Sequence[bytes], ParserConfig], Request]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    r"""One row of the command table.

    Attributes:
        letter: The command letter.
        name: What the command does, for logs.
        lines: Names of the ``\n``-terminated argument lines, in order.
        raw: Bytes that follow without a newline (1 for ``s``).
        payload: The request announces a payload of ``count`` bytes (``W``).
        decode: Builds the request; raises `RequestError` for bad arguments.
    """

    letter: str
    name: str
    lines: tuple[str, ...]
    raw: int
    payload: bool
    decode: Decoder


def _open(args: Sequence[bytes], config: ParserConfig) -> Request:
    device, flags_line = args
    if b"\0" in device:
        raise RequestError(errno.EINVAL, "device name contains a NUL byte")
    flags = parse_open_flags(
        flags_line, trust_numeric=config.trust_numeric_flags, strict=config.strict_flag_names
    )
    return OpenRequest(device, flags, flags_line.decode("ascii", "backslashreplace"))


def _seek(args: Sequence[bytes], config: ParserConfig) -> Request:
    whence = parse_whence_name(args[0])
    first = parse_int(args[0], "seek argument", INT64_MIN, INT64_MAX) if whence is None else whence
    second = parse_int(args[1], "seek argument", INT64_MIN, INT64_MAX)
    return SeekRequest(first, second, symbolic_first=whence is not None)


def _write(args: Sequence[bytes], config: ParserConfig) -> Request:
    return WriteRequest(parse_int(args[0], "byte count", 0, UNBOUNDED_COUNT, empty=0))


def _read(args: Sequence[bytes], config: ParserConfig) -> Request:
    count = parse_int(args[0], "byte count", 0, UNBOUNDED_COUNT, empty=0)
    if count > config.max_record:
        raise RequestError(
            errno.ENOMEM, f"read count {count} exceeds the limit of {config.max_record} bytes"
        )
    return ReadRequest(count)


def _ioctl_args(args: Sequence[bytes]) -> tuple[int, int]:
    op = parse_int(args[0], "operation code", INT32_MIN, INT32_MAX)
    return op, parse_int(args[1], "operation count", INT32_MIN, INT32_MAX)


def _spec(letter: str, name: str, lines: tuple[str, ...], decode: Decoder) -> CommandSpec:
    return CommandSpec(letter, name, lines, raw=0, payload=False, decode=decode)


#: The command table, keyed by the letter's byte value.
COMMANDS: dict[int, CommandSpec] = {
    ord(spec.letter): spec
    for spec in (
        _spec("O", "open", ("device", "flags"), _open),
        _spec("C", "close", ("text",), lambda a, c: CloseRequest(a[0])),
        _spec("L", "lseek", ("first line", "second line"), _seek),
        CommandSpec("W", "write", ("count",), raw=0, payload=True, decode=_write),
        _spec("R", "read", ("count",), _read),
        _spec("I", "ioctl", ("op", "count"), lambda a, c: IoctlRequest(*_ioctl_args(a))),
        _spec(
            "i",
            "extended ioctl",
            ("op", "count"),
            lambda a, c: ExtendedIoctlRequest(*_ioctl_args(a)),
        ),
        _spec("S", "status", (), lambda a, c: StatusRequest()),
        CommandSpec(
            "s",
            "status field",
            (),
            raw=1,
            payload=False,
            decode=lambda a, c: ExtendedStatusRequest(a[0].decode("latin-1")),
        ),
        _spec("V", "version (BSD)", ("text",), lambda a, c: VersionRequest("V", a[0])),
        _spec("v", "version (Schily)", ("text",), lambda a, c: VersionRequest("v", a[0])),
    )
}
