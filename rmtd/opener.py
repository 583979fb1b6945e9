"""From the name a client sends to an open device: spec, root, kind, qualifiers.

The session hands :class:`DeviceOpener` the ``O`` request's name and flags and gets a device
back. Names resolve inside the configured root: ``..`` components and symlinks that lead out
of it are refused with EACCES before anything is opened or created. The kind is chosen by the
name: ``.tap`` is a SIMH image served as a tape drive; ``.iso`` (or the /CD qualifier) a
read-only CD-ROM; ``.aws``, ``.het`` and real drives (``/dev/nst*``, ``/dev/st*``) are reserved
for later; anything else is a plain file, served as GNU rmt serves it.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass

from devices.cdrom import CdRom
from devices.errors import tape_error
from devices.interface import MtOp, OpenOptions, TapeDevice
from devices.plainfile import PlainFile
from devices.stream import StreamingTape
from devices.vtape import RESERVED_SUFFIXES, open_tape_image
from rmtd.devspec import Qualifiers, parse_device_spec

TAPE_SUFFIXES = (".tap",)
REAL_DRIVE = re.compile(r"/dev/n?st\d+[lma]?\Z")


@dataclass(frozen=True, slots=True)
class OpenerConfig:
    """What the opener needs from the server's configuration.

    Attributes:
        root: every name resolves inside this directory; ``None``: names as GNU rmt takes
            them (relative to the working directory).
        read_only: refuse every open for writing (EROFS).
        max_record: the largest record accepted, for ``/BLOCKSIZE``.
    """

    root: str | None = None
    read_only: bool = False
    max_record: int = 0xFFFFFF


def resolve_in_root(root: str | None, name: str) -> str:
    """Return the path ``name`` stands for inside ``root``.

    Raises:
        OSError: EACCES for ``..`` components or a path whose symlinks lead outside the root;
            ENOENT for an empty name.
    """
    if not name:
        raise tape_error(errno.ENOENT, "empty device name")
    if root is None:
        return name
    if ".." in name.split("/"):
        raise tape_error(errno.EACCES, f"{name}: '..' is not allowed")
    base = os.path.realpath(root)
    path = os.path.join(base, name.lstrip("/"))
    real = os.path.realpath(path)
    if real != base and os.path.commonpath([real, base]) != base:
        raise tape_error(errno.EACCES, f"{name}: leads outside the served directory")
    return real


class DeviceOpener:
    """Opens devices for one session under one configuration."""

    def __init__(self, config: OpenerConfig) -> None:
        self.config = config

    def open(self, name: str, flags: int) -> TapeDevice:
        """Open the device ``name`` (a device spec with qualifiers) with ``os.open`` flags.

        Raises:
            OSError: the errno the client should see (EINVAL for a bad qualifier, EACCES for
                a path outside the root, EROFS for a write open of a read-only device...).
        """
        spec = parse_device_spec(name, max_block=self.config.max_record)
        path = resolve_in_root(self.config.root, spec.name)
        writing = (flags & os.O_ACCMODE) != os.O_RDONLY
        if writing and (self.config.read_only or not spec.qualifiers.write):
            raise tape_error(errno.EROFS, f"{spec.name}: opened read-only")
        lower = spec.name.lower()
        if spec.qualifiers.cd or lower.endswith(".iso"):
            if writing:
                raise tape_error(errno.EROFS, f"{spec.name}: a CD-ROM is read-only")
            return CdRom(path)
        if lower.endswith(RESERVED_SUFFIXES):
            raise tape_error(
                errno.EMEDIUMTYPE, f"{spec.name}: this kind of image is not served yet"
            )
        if REAL_DRIVE.match(spec.name):
            raise tape_error(errno.ENXIO, f"{spec.name}: real tape drives are not served yet")
        if lower.endswith(TAPE_SUFFIXES):
            return self._open_tape(path, flags, writing, spec.qualifiers)
        return PlainFile(path, flags)

    def _open_tape(self, path: str, flags: int, writing: bool, q: Qualifiers) -> TapeDevice:
        options = OpenOptions(
            write=writing,
            create=bool(flags & os.O_CREAT),
            nonblock=bool(flags & os.O_NONBLOCK),
            rewind_on_close=q.rewind or q.mount,
            unload_on_close=False,  # an image named by path is simply closed
            write_protect=not q.write,
        )
        drive = open_tape_image(path, options)
        try:
            if q.mount:
                drive.ioctl(MtOp.MTREW, 1)
            if q.blocksize is not None:
                drive.ioctl(MtOp.MTSETBLK, q.blocksize)
            elif q.mount:
                drive.ioctl(MtOp.MTSETBLK, 0)
            if q.density is not None:
                drive.ioctl(MtOp.MTSETDENSITY, q.density)
        except BaseException:
            drive.close()
            raise
        return StreamingTape(drive) if q.stream else drive
