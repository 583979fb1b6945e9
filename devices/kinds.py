"""The one device model: what a name stands for, and whether the file agrees.

Every opener asks this module, and no other code decides: the RMT server for a client's path
and for a named drive's volume, the named-drive store when it loads a volume, and ``vmt`` for
its mt operations and image tools.

A kind is *claimed* by the name (:func:`kind_by_name`): ``.tap`` a SIMH tape image, ``.iso`` or
the /CD qualifier a CD-ROM, ``.aws`` and ``.het`` the Hercules tape images, ``/dev/nst0`` and
its kin a real drive (passed through to the kernel), anything else a plain file. A claim of
a tape kind is then *checked* against the bytes (:func:`check_tape_content`, called on the open
descriptor by :mod:`devices.vtape`): an existing file that is not a valid image of the kind its
name claims is never written as one. A caller that knows better (``vmt --force``) may ask for a
tape where the name says plain file; nothing else overrides the bytes.

:func:`describe_content` says what a file looks like (a tar archive, an ISO 9660 image...), so
that a refusal tells the user what they pointed at.
"""

from __future__ import annotations

import errno
import os
import re
from enum import Enum

from devices.errors import tape_error
from devices.formats.aws import AwsFormat
from devices.formats.base import TapeFormat
from devices.formats.het import HetFormat
from devices.formats.simh import SimhFormat
from devices.storage import Storage


class DeviceKind(Enum):
    """What a device name stands for. The value is how messages call it."""

    PLAIN = "a plain file"
    SIMH = "a SIMH tape image"
    ISO = "a CD-ROM image"
    AWS = "an AWS tape image"
    HET = "a HET tape image"
    REAL_DRIVE = "a tape drive"

    @property
    def is_tape_image(self) -> bool:
        """Whether this kind is a tape image served as a drive (formats implemented or not)."""
        return self in (DeviceKind.SIMH, DeviceKind.AWS, DeviceKind.HET)


_SUFFIXES = {
    ".tap": DeviceKind.SIMH,
    ".iso": DeviceKind.ISO,
    ".aws": DeviceKind.AWS,
    ".het": DeviceKind.HET,
}
_REAL_DRIVE = re.compile(r"/dev/n?st\d+[lma]?\Z")


def kind_by_name(name: str, cd: bool = False) -> DeviceKind:
    """The kind a device name claims (``cd``: the /CD qualifier was given)."""
    if cd:
        return DeviceKind.ISO
    if _REAL_DRIVE.match(name):
        return DeviceKind.REAL_DRIVE
    lower = name.lower()
    for suffix, kind in _SUFFIXES.items():
        if lower.endswith(suffix):
            return kind
    return DeviceKind.PLAIN


def claimed_kind(name: str, path: str | None = None, cd: bool = False) -> DeviceKind:
    """The kind ``name`` claims, which the file it leads to must claim too.

    ``path`` is where the name resolved to (default: ``name`` itself). A symlink
    ``z.tar -> vol.tap`` would otherwise let a plain-file open write a tape image, past its
    lock and its write protection, or a ``.tap`` link make a stranger an image.

    Raises:
        OSError: EMEDIUMTYPE when the name and the file it leads to claim different kinds.
    """
    claimed = kind_by_name(name, cd)
    target_path = path if path is not None else name
    real = os.path.realpath(target_path)
    target = kind_by_name(real, cd)
    if target is not claimed and os.path.lexists(target_path):
        raise tape_error(
            errno.EMEDIUMTYPE,
            f"{name}: leads to {os.path.basename(real)}, {target.value}, not {claimed.value}",
        )
    return claimed


def tape_format(kind: DeviceKind, name: str) -> TapeFormat:
    """The image format that serves ``kind``.

    Each call returns a new instance: AWS and HET remember the image they append to.

    Raises:
        OSError: EMEDIUMTYPE for a kind that is not a tape image at all.
    """
    if kind is DeviceKind.SIMH:
        return SimhFormat()
    if kind is DeviceKind.AWS:
        return AwsFormat()
    if kind is DeviceKind.HET:
        return HetFormat()
    raise tape_error(
        errno.EMEDIUMTYPE,
        f"{name}: {kind.value} by its name, not a tape image (*.tap, *.aws, *.het)",
    )


def image_kinds_by_format() -> dict[str, DeviceKind]:
    """Format names (``simh``, ``aws``, ``het``) to image kinds, as the formats name themselves.

    What ``vmt convert --to`` and ``vmt synth``'s ``format`` take.
    """
    return {tape_format(kind, kind.value).name: kind for kind in DeviceKind if kind.is_tape_image}


def foreign_content(storage: Storage, fmt: TapeFormat, torn_first_ok: bool = False) -> str | None:
    """Why ``storage`` is not a ``fmt`` image, saying what it looks like; ``None`` if it is one.

    An empty file is a blank tape of any format. Otherwise the format's probe looks at the
    first objects. A first record running past the end is a first write cut short only when
    the caller knows a write of ours was under way (``torn_first_ok``): otherwise a tar
    archive whose first name has three letters would pass for one.
    """
    problem = fmt.probe(storage, torn_first_ok)
    if problem is None:
        return None
    head = bytearray(_SNIFF_BYTES)
    got = storage.read_into(0, memoryview(head))
    looks = _describe(storage, bytes(head[:got]))
    what = _FORMAT_NAMES.get(fmt.name, "a tape image")
    return f"not {what} ({problem}); it looks like {looks}"


def check_tape_content(
    storage: Storage, fmt: TapeFormat, name: str, torn_first_ok: bool = False
) -> None:
    """Refuse to treat ``storage`` as a ``fmt`` image when its bytes say it is not one.

    Raises:
        OSError: EMEDIUMTYPE naming what the file looks like instead.
    """
    reason = foreign_content(storage, fmt, torn_first_ok)
    if reason is not None:
        raise tape_error(errno.EMEDIUMTYPE, f"{name}: {reason}")


def format_title(fmt: TapeFormat | str) -> str:
    """What messages call an image of ``fmt`` or of the format so named ("a SIMH tape image")."""
    name = fmt if isinstance(fmt, str) else fmt.name
    return _FORMAT_NAMES.get(name, "a tape image")


_FORMAT_NAMES = {
    "simh": DeviceKind.SIMH.value,
    "aws": DeviceKind.AWS.value,
    "het": DeviceKind.HET.value,
}
_SNIFF_BYTES = 32774  # an ISO 9660 volume descriptor's "CD001" sits at byte 32769

_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (257, b"ustar", "a tar archive"),
    (32769, b"CD001", "an ISO 9660 (CD-ROM) image"),
    (0, b"070701", "a cpio archive"),
    (0, b"070702", "a cpio archive"),
    (0, b"070707", "a cpio archive"),
    (0, b"\xc7\x71", "a cpio archive"),
    (0, b"\x71\xc7", "a cpio archive"),
    (0, b"\x1f\x8b", "a gzip file"),
    (0, b"BZh", "a bzip2 file"),
    (0, b"\xfd7zXZ\x00", "an xz file"),
    (0, b"\x28\xb5\x2f\xfd", "a zstd file"),
    (0, b"\x7fELF", "an ELF executable"),
    (0, b"xfsm", "an xfsdump media file"),
    (24, (60012).to_bytes(4, "little"), "a dump(8) archive"),
    (24, (60011).to_bytes(4, "little"), "a dump(8) archive"),
)


def recognised_format(storage: Storage) -> str | None:
    """What well-known format ``storage``'s first bytes carry (tar, cpio, gzip...), if any."""
    head = bytearray(_SNIFF_BYTES)
    got = storage.read_into(0, memoryview(head))
    return _magic(bytes(head[:got]))


def _magic(head: bytes) -> str | None:
    for offset, magic, what in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return what
    return None


def describe_bytes(head: bytes, size: int) -> str:
    """Say what a file whose first bytes are ``head`` (of ``size`` in all) looks like."""
    if size == 0:
        return "an empty file"
    known = _magic(head)
    if known is not None:
        return known
    if not head.strip(b"\0"):
        return "zeros"
    if all(32 <= b < 127 or b in b"\t\r\n" for b in head[:4096]):
        return "text"
    return "data of an unknown format"


def describe_content(path: str) -> str:
    """Say what the file at ``path`` looks like ("a tar archive", "an empty file", ...).

    Returns ``"a directory"``, ``"a missing file"`` and the like for what is not a file.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return "a missing file"
    except OSError as exc:
        return f"an unreadable file ({exc.strerror})"
    try:
        info = os.fstat(fd)
        if not os.path.isfile(path):
            return "a directory" if os.path.isdir(path) else "not a regular file"
        head = os.pread(fd, _SNIFF_BYTES, 0)
        return _describe(_FdStorage(path, fd, info.st_size), head)
    finally:
        os.close(fd)


def describe_fd(fd: int) -> str:
    """Say what the file open on ``fd`` looks like; ``"a file"`` if it cannot be read."""
    try:
        size = os.fstat(fd).st_size
        head = os.pread(fd, _SNIFF_BYTES, 0)
        return _describe(_FdStorage("", fd, size), head)
    except OSError:
        return "a file"


def _describe(storage: Storage, head: bytes) -> str:
    # The probes read the file itself, not only the head: a first record longer than the
    # head has its trailing length word beyond it (a 64 KiB record is an image all the same).
    kind = image_kind(storage)
    if kind is not None:
        return kind.value
    return describe_bytes(head, storage.size())


def image_kind(storage: Storage) -> DeviceKind | None:
    """The tape image kind ``storage``'s bytes show, if any (an empty file shows none).

    HET is AWS with compressed blocks: a file both formats accept is AWS unless AWS refuses
    it (a compressed block in its first objects), so an uncompressed HET image reads as AWS.
    """
    if not storage.size():
        return None
    for kind, fmt in (
        (DeviceKind.SIMH, SimhFormat()),
        (DeviceKind.AWS, AwsFormat()),
        (DeviceKind.HET, HetFormat()),
    ):
        if fmt.probe(storage) is None:
            return kind
    return None


class _FdStorage:
    """A file open on a descriptor as a read-only :class:`Storage`, for probing."""

    def __init__(self, name: str, fd: int, size: int) -> None:
        self.name = name
        self._fd = fd
        self._size = size

    def size(self) -> int:
        return self._size

    def read_into(self, offset: int, buffer: memoryview) -> int:
        return os.preadv(self._fd, [buffer], offset)

    def extent(self, offset: int, length: int) -> None:
        """A probe needs no extent."""

    def write_at(self, offset: int, data: object) -> None:
        raise tape_error(errno.EBADF, f"{self.name}: read-only probe")

    def truncate(self, size: int) -> None:
        raise tape_error(errno.EBADF, f"{self.name}: read-only probe")

    def sync(self) -> None:
        """Nothing to sync."""

    def sync_data(self) -> None:
        """Nothing to sync."""

    def close(self) -> None:
        """Nothing to close."""
