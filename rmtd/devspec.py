"""Device specs: a device name followed by OpenVMS-style qualifiers.

A client names ``vol1.tap/nomount/norewind/nounload/density=1600`` or ``mua0:/nowrite``; the
qualifiers are taken case-insensitively from the right, after the OpenVMS RMT/RCD server
(its Table 17-2): ``/[NO]ASSIST /BLOCKSIZE=n /CD /COMMENT="text" /DENSITY=n /[NO]MOUNT
/[NO]REWIND /[NO]STREAM /[NO]UNLOAD /[NO]WRITE``.

Where the name ends: a segment that names a known qualifier is one. A segment that is not
known ends the qualifiers; it is reported as an unknown qualifier when it is plainly meant as
one (it has ``=``, or it is a bare word right after an image or drive name such as ``vol.tap`` or
``mua0:``), and is otherwise part of the path (``/dev/nst0``, ``/srv/tapes``,
``dir/file/nowrite``). Quoted text (``/comment="a/b"``) may contain slashes.

This module does no I/O.
"""

from __future__ import annotations

import dataclasses
import errno
import re
from dataclasses import dataclass

from devices.density import parse_density
from devices.interface import MAX_RECORD

NEGATABLE = ("assist", "mount", "rewind", "stream", "unload", "write")
VALUED = ("blocksize", "comment", "density")
FLAGS = ("cd",)
_WORD = re.compile(r"[A-Za-z]+(=.*)?\Z", re.S)


class DevSpecError(OSError):
    """A bad device spec: ``EINVAL`` with a message that names the qualifier."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.EINVAL, message)


@dataclass(frozen=True, slots=True)
class Qualifiers:
    """The effect of a device spec's qualifiers (the defaults are OpenVMS's).

    Attributes:
        assist: with no volume loaded, ask an operator and wait (else fail at once).
        mount: start at BOT on open and dismount at close; False accesses the drive as it
            stands, so a position survives between connections.
        rewind: rewind on close.
        stream: reads are a byte stream within a tape file; False: one record per read.
        unload: unload a named drive on close.
        write: write access allowed for this open.
        blocksize: fixed-block mode with this block size; ``None``: variable blocks.
        density: density code to record on the volume; ``None``: leave it.
        cd: the device is a CD-ROM (read-only, 2048-byte sectors).
        comment: text carried by an operator request.
    """

    assist: bool = False
    mount: bool = True
    rewind: bool = True
    stream: bool = True
    unload: bool = True
    write: bool = True
    blocksize: int | None = None
    density: int | None = None
    cd: bool = False
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """A device name and its qualifiers.

    Attributes:
        name: the device as named (a path, or a drive name such as ``mua0:``).
        qualifiers: the qualifiers, applied over the defaults given to the parser.
        given: the qualifier names the spec set explicitly, in the order written.
    """

    name: str
    qualifiers: Qualifiers
    given: tuple[str, ...] = ()


def _segments(text: str) -> list[str]:
    """Split ``text`` at slashes outside double quotes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "/" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if quoted:
        raise DevSpecError(f"unterminated quote in {text!r}")
    parts.append("".join(current))
    return parts


def _known(segment: str) -> bool:
    key = segment.split("=", 1)[0].lower()
    if key in VALUED or key in FLAGS or key in NEGATABLE:
        return True
    return key.startswith("no") and key[2:] in NEGATABLE


def _meant_as_qualifier(segment: str, left: str) -> bool:
    """Whether an unknown ``segment`` after ``left`` is a mistyped qualifier, not a path part."""
    if not _WORD.match(segment):
        return False
    last = left.rsplit("/", 1)[-1]
    image_name = "." in last and last not in (".", "..")
    return "=" in segment or left.endswith(":") or image_name


def _setting(segment: str, max_block: int) -> tuple[str, object]:
    """Turn one qualifier into (field, value)."""
    key, has_value, raw = segment.partition("=")
    key = key.lower()
    if key in NEGATABLE or (key.startswith("no") and key[2:] in NEGATABLE):
        if has_value:
            raise DevSpecError(f"qualifier /{key} takes no value")
        return (key[2:], False) if key.startswith("no") and key[2:] in NEGATABLE else (key, True)
    if key == "cd":
        if has_value:
            raise DevSpecError("qualifier /cd takes no value")
        return "cd", True
    if not has_value or not raw:
        raise DevSpecError(f"qualifier /{key} needs a value (/{key}=...)")
    if key == "comment":
        return "comment", raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == '"' else raw
    if key == "blocksize":
        try:
            size = int(raw, 0)
        except ValueError:
            size = -1
        if not 1 <= size <= max_block:
            raise DevSpecError(f"/blocksize={raw}: not a block size 1..{max_block}")
        return "blocksize", size
    try:
        return "density", parse_density(raw)
    except OSError:
        raise DevSpecError(f"/density={raw}: not 800, 1600, 6250 or a density code") from None


_CONFLICTS = (("cd", "write"), ("cd", "blocksize"))


def apply_qualifiers(
    segments: list[str], base: Qualifiers, max_block: int = MAX_RECORD
) -> tuple[Qualifiers, tuple[str, ...]]:
    """Apply qualifier ``segments`` (without slashes, in written order) over ``base``.

    Raises:
        DevSpecError: for an unknown qualifier, a bad value, or a conflicting pair.
    """
    values: dict[str, object] = {}
    for segment in segments:
        if not _known(segment):
            raise DevSpecError(f"unknown qualifier /{segment}")
        field, value = _setting(segment, max_block)
        if field in values and values[field] != value:
            raise DevSpecError(f"conflicting qualifiers for /{field} in /{'/'.join(segments)}")
        values[field] = value
    for first, second in _CONFLICTS:
        if values.get(first) is True and values.get(second) not in (None, False):
            raise DevSpecError(f"/{first} conflicts with /{second}")
    return dataclasses.replace(base, **values), tuple(values)  # type: ignore[arg-type]


def parse_qualifiers(text: str, base: Qualifiers = Qualifiers()) -> Qualifiers:
    """Parse a qualifier string such as ``/nomount/norewind`` (config defaults) over ``base``.

    Raises:
        DevSpecError: as :func:`apply_qualifiers`, or for text that does not start with ``/``.
    """
    if not text:
        return base
    if not text.startswith("/"):
        raise DevSpecError(f"qualifiers must start with '/': {text!r}")
    return apply_qualifiers(_segments(text)[1:], base)[0]


def parse_device_spec(
    text: str, base: Qualifiers = Qualifiers(), max_block: int = MAX_RECORD
) -> DeviceSpec:
    """Split ``text`` into a device name and qualifiers applied over ``base``.

    Raises:
        DevSpecError: for an unknown qualifier, a bad value, a conflicting pair, or no name.
    """
    segments = _segments(text)
    cut = len(segments)
    while cut > 1 and _known(segments[cut - 1]):
        cut -= 1
    consumed = cut < len(segments)
    if cut > 1:
        left = "/".join(segments[: cut - 1])
        if _meant_as_qualifier(segments[cut - 1], left):
            raise DevSpecError(f"unknown qualifier /{segments[cut - 1]}")
    name = "/".join(segments[:cut])
    if not name or (name.endswith("/") and consumed):
        raise DevSpecError(f"no device name in {text!r}")
    qualifiers, given = apply_qualifiers(segments[cut:], base, max_block)
    return DeviceSpec(name, qualifiers, given)
