"""Decoding of argument lines: decimal numbers, open flags, symbolic whence.

Numbers follow a rule every client satisfies: optional surrounding blanks, an
optional sign and decimal digits; anything else (hex, trailing junk, overflow) is an
EINVAL `RequestError`. Open flags are decoded to Linux values (see `decode_open_flags`).
"""

from __future__ import annotations

import errno
import re

from rmtd.protocol.errors import RequestError

__all__ = [
    "INT32_MAX",
    "INT32_MIN",
    "INT64_MAX",
    "INT64_MIN",
    "OPEN_FLAG_NAMES",
    "O_ACCMODE",
    "WHENCE_NAMES",
    "modifies",
    "parse_int",
    "parse_open_flags",
    "parse_whence_name",
]

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

# Longest digit string looked at: 64-bit values have 19 digits; allow leading zeros.
_MAX_DIGITS = 40
_NUMBER = re.compile(rb"[ \t\r]*([+-]?[0-9]{1,%d})[ \t\r]*" % _MAX_DIGITS)

# Linux open(2) flag values (asm-generic/fcntl.h, used by x86-64). O_LARGEFILE is 0 in
# 64-bit user space; TEXT, BINARY and PRIV do not exist on Linux (librmt/dump send them
# only where defined) and decode to 0.
O_ACCMODE = 0o3
_O_NONBLOCK = 0o4000
_O_SYNC = 0o4010000  # __O_SYNC | O_DSYNC; O_RSYNC and O_FSYNC are aliases on Linux

#: Flag names accepted in the symbolic part, without the ``O_`` prefix (GNU, dump and
#: librmt spellings).
OPEN_FLAG_NAMES: dict[str, int] = {
    "RDONLY": 0o0,
    "WRONLY": 0o1,
    "RDWR": 0o2,
    "CREAT": 0o100,
    "EXCL": 0o200,
    "NOCTTY": 0o400,
    "TRUNC": 0o1000,
    "APPEND": 0o2000,
    "NONBLOCK": _O_NONBLOCK,
    "NDELAY": _O_NONBLOCK,
    "DSYNC": 0o10000,
    "ASYNC": 0o20000,
    "SYNC": _O_SYNC,
    "FSYNC": _O_SYNC,
    "RSYNC": _O_SYNC,
    "LARGEFILE": 0,
    "TEXT": 0,
    "BINARY": 0,
    "PRIV": 0,
}

#: Symbolic whence values GNU rmt accepts in its whence line (GNU rmt.c).
WHENCE_NAMES: dict[str, int] = {
    "SET": 0,
    "CUR": 1,
    "END": 2,
    "SEEK_SET": 0,
    "SEEK_CUR": 1,
    "SEEK_END": 2,
}

_FLAG_SEPARATORS = re.compile(r"[|\s]+")
_DECIMAL = re.compile(r"[+-]?[0-9]+")


def parse_int(raw: bytes, what: str, low: int, high: int, *, empty: int | None = None) -> int:
    r"""Parse a decimal argument line.

    Args:
        raw: The line without its ``\n``.
        what: What the number is, for the error message ("byte count", "seek offset").
        low: Smallest accepted value.
        high: Largest accepted value.
        empty: Value of a blank line, or None to reject it (every server reads an empty
            ``R``/``W`` count as 0).

    Returns:
        The value.

    Raises:
        RequestError: EINVAL if `raw` is not a decimal number or is out of range.
    """
    if empty is not None and not raw.strip(b" \t\r"):
        return empty
    match = _NUMBER.fullmatch(raw)
    if match is None:
        raise RequestError(errno.EINVAL, f"invalid {what} {_show(raw)}")
    value = int(match.group(1))
    if not low <= value <= high:
        raise RequestError(errno.EINVAL, f"{what} {value} out of range")
    return value


def parse_whence_name(raw: bytes) -> int | None:
    """Return the value of a symbolic whence (``SET``, ``SEEK_CUR``...), else None."""
    return WHENCE_NAMES.get(raw.strip(b" \t\r").decode("ascii", "replace"))


def modifies(flags: int) -> bool:
    """Whether an open with (Linux) ``flags`` may change the file.

    A write access mode, or ``O_CREAT``, ``O_TRUNC`` or ``O_APPEND``, which Linux honours
    even with ``O_RDONLY``: access rules and read-only modes must count them as writing.
    """
    if flags & O_ACCMODE:
        return True
    bits = OPEN_FLAG_NAMES
    return bool(flags & (bits["CREAT"] | bits["TRUNC"] | bits["APPEND"]))


def parse_open_flags(raw: bytes, *, trust_numeric: bool = False, strict: bool = False) -> int:
    r"""Decode the flags line of ``O`` to Linux open flags.

    Forms: ``65 O_WRONLY|O_CREAT`` (GNU: full value, then names), ``1 O_WRONLY|O_CREAT``
    (dump, star: access mode, then names), ``O_RDWR|O_CREAT``, ``RDWR|CREAT`` (GNU bare
    names), ``0 64|2`` and a bare number. Names and numbers are separated by ``|`` and/or
    blanks; names are case-sensitive, with or without ``O_``.

    When at least one known name is present, the result is the names ORed with the
    numbers after the leading one (the leading number is only the client's own view,
    GNU rtapelib.c). Otherwise the numbers are ORed and, unless `trust_numeric`, masked
    to the access mode: dump and Schily do so and foreign clients' bits differ.

    Args:
        raw: The flags line without its ``\n``.
        trust_numeric: Keep every bit of a purely numeric line (GNU rmt behaviour).
        strict: Reject unknown names (GNU) instead of ignoring them (dump, Schily).

    Returns:
        Flags in Linux numbering. An empty or nameless-garbage line gives O_RDONLY.

    Raises:
        RequestError: EINVAL for a negative or out-of-range number, or an unknown name
            when `strict`.
    """
    tokens = [t for t in _FLAG_SEPARATORS.split(raw.decode("ascii", "replace")) if t]
    numbers: list[int] = []
    names: list[int] = []
    for token in tokens:
        if _DECIMAL.fullmatch(token):
            value = int(token) if len(token) <= _MAX_DIGITS else -1
            if not 0 <= value <= INT32_MAX:
                raise RequestError(errno.EINVAL, f"invalid open flags {_show(raw)}")
            numbers.append(value)
        elif (bit := OPEN_FLAG_NAMES.get(token.removeprefix("O_"))) is not None:
            names.append(bit)
        elif strict:
            raise RequestError(errno.EINVAL, f"unknown open flag {_show(token.encode())}")
    flags = 0
    if names:
        leading = 1 if tokens and _DECIMAL.fullmatch(tokens[0]) else 0
        for value in names + numbers[leading:]:
            flags |= value
        return flags
    for value in numbers:
        flags |= value
    return flags if trust_numeric else flags & O_ACCMODE


def _show(raw: bytes, limit: int = 24) -> str:
    """Quote an argument for an error message, shortened."""
    text = repr(raw[:limit])[1:]
    return text + ("..." if len(raw) > limit else "")
