"""From the name a client sends to an open device: spec, root, kind, qualifiers.

The session hands :class:`DeviceOpener` the ``O`` request's name and flags and gets a device
back. A name that matches a named drive of the configuration (``mua0``, ``MUA0:``) opens the
volume that drive holds, with the drive's default qualifiers applied before the client's own
(see :mod:`rmtd.drives`). Other names resolve inside the configured root: ``..`` components,
symlinks that lead out of it, names inside the server's state directory and the files kept
beside images (``*.rmtd``, ``*.rmtd-index``) are refused with EACCES before anything is opened
or created; FIFOs and sockets with ENXIO. The kind is chosen by the name: ``.tap`` is a SIMH
image served as a tape drive; ``.iso`` (or the /CD qualifier) a read-only CD-ROM; ``.aws``,
``.het`` and real drives (``/dev/nst*``, ``/dev/st*``) are reserved for later; anything else is
a plain file, served as GNU rmt serves it.

Qualifiers on tapes (after the OpenVMS RMT server): /MOUNT (the default) mounts the volume
(loading an image named by path that was left unloaded) and starts at BOT, /NOMOUNT takes the
drive as it stands; /[NO]REWIND rewinds at close or holds the position; /UNLOAD (the
default) leaves a named drive empty at close until an operator loads a volume (an image named
by path is simply closed); /NOWRITE write-protects the open; /ASSIST waits for an operator when
a named drive is empty.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import re
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devices.cdrom import CdRom
from devices.drive import VirtualTapeDrive
from devices.errors import tape_error
from devices.interface import (
    DEFAULT_MAX_FILEMARKS,
    BytesLike,
    DriveStatus,
    MtOp,
    OpenOptions,
    TapeDevice,
)
from devices.plainfile import PlainFile
from devices.stream import StreamingTape
from devices.vtape import RESERVED_SUFFIXES, SIDE_FILES, open_tape_image
from rmtd.devspec import Qualifiers, parse_device_spec

if TYPE_CHECKING:  # the CLI composes the two; drives.py imports this module
    from rmtd.config import DriveConfig
    from rmtd.drives import DriveStore, OperatorRequest

log = logging.getLogger(__name__)

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
        max_filemarks: the most filemarks one MTWEOF may write on a tape.
        state_dir: the server's own state (drives, operator requests): no client name may
            lead inside it.
    """

    root: str | None = None
    read_only: bool = False
    max_record: int = 0xFFFFFF
    max_filemarks: int = DEFAULT_MAX_FILEMARKS
    state_dir: str | None = None


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


def refuse_state_dir(path: str, state_dir: str | None, name: str) -> None:
    """Refuse a ``path`` inside the server's state directory.

    Raises:
        OSError: EACCES when ``path`` is ``state_dir`` or lies inside it.
    """
    if state_dir is None:
        return
    state = os.path.realpath(state_dir)
    real = os.path.realpath(path)
    if real == state or os.path.commonpath([real, state]) == state:
        raise tape_error(errno.EACCES, f"{name}: reserved for the server's drive state")


def refuse_side_file(path: str, name: str) -> None:
    """Refuse the files kept beside images (drive state, index): EACCES.

    Through them a client could clear a volume's write protection or corrupt its index
    without taking the image's lock. FIFOs and sockets are refused too (ENXIO): opening one
    would block the session.

    Raises:
        OSError: EACCES for a side file, ENXIO for a FIFO or socket.
    """
    if path.endswith(SIDE_FILES):
        raise tape_error(errno.EACCES, f"{name}: reserved for the server's drive state")
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # missing (may be created) or unreadable: the open says what is wrong
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        raise tape_error(errno.ENXIO, f"{name}: not a file or a device that can be served")


class DeviceOpener:
    """Opens devices for one session under one configuration.

    Args:
        config: the root, limits and state directory.
        drives: the named drives; ``None``: every name is a path.
    """

    def __init__(self, config: OpenerConfig, drives: DriveStore | None = None) -> None:
        self.config = config
        self.drives = drives

    def open(self, name: str, flags: int) -> TapeDevice:
        """Open the device ``name`` (a device spec with qualifiers) with ``os.open`` flags.

        Raises:
            OSError: the errno the client should see (EINVAL for a bad qualifier, EACCES for
                a path outside the root, EROFS for a write open of a read-only device,
                ENOMEDIUM for an empty named drive...).
        """
        spec = parse_device_spec(name, max_block=self.config.max_record)
        drive = self.drives.find(spec.name) if self.drives is not None else None
        if drive is not None and self.drives is not None:
            return self._open_named(self.drives, drive, name, flags)
        path = resolve_in_root(self.config.root, spec.name)
        refuse_state_dir(path, self.config.state_dir, spec.name)
        refuse_side_file(path, spec.name)
        writing = self._check_write(spec.name, flags, spec.qualifiers)
        lower = spec.name.lower()
        if spec.qualifiers.cd or lower.endswith(".iso"):
            return self._open_cd(spec.name, path, writing)
        if lower.endswith(RESERVED_SUFFIXES):
            raise tape_error(
                errno.EMEDIUMTYPE, f"{spec.name}: this kind of image is not served yet"
            )
        if REAL_DRIVE.match(spec.name):
            raise tape_error(errno.ENXIO, f"{spec.name}: real tape drives are not served yet")
        if lower.endswith(TAPE_SUFFIXES):
            options = _tape_options(flags, writing, spec.qualifiers, False, self.config)
            tape = self._open_tape(path, options, spec.qualifiers, spec.name, by_path=True)
            return _streaming(tape, spec.qualifiers)
        return PlainFile(path, flags, spec.name)

    def _check_write(self, name: str, flags: int, q: Qualifiers) -> bool:
        writing = (flags & os.O_ACCMODE) != os.O_RDONLY
        if writing and (self.config.read_only or not q.write):
            raise tape_error(errno.EROFS, f"{name}: opened read-only")
        return writing

    @staticmethod
    def _open_cd(name: str, path: str, writing: bool) -> CdRom:
        if writing:
            raise tape_error(errno.EROFS, f"{name}: a CD-ROM is read-only")
        return CdRom(path, name)

    def _open_tape(
        self, path: str, options: OpenOptions, q: Qualifiers, name: str, by_path: bool = False
    ) -> VirtualTapeDrive:
        """Open a tape image and set it up as the qualifiers say.

        /MOUNT on an image named by path mounts it: an image left unloaded (``mt offline``)
        is loaded again, as mounting a volume does; a named drive's volume is the operator's.
        """
        mount_by_path = q.mount and by_path
        if mount_by_path:
            options = dataclasses.replace(options, nonblock=True)
        drive = open_tape_image(path, options, name)
        try:
            if mount_by_path and not drive.loaded:
                drive.ioctl(MtOp.MTLOAD, 1)
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
        return drive

    # -- named drives ------------------------------------------------------------------------

    def _open_named(
        self, store: DriveStore, drive: DriveConfig, name: str, flags: int
    ) -> TapeDevice:
        """Open the volume a named drive holds; with /ASSIST, wait for an operator to load one.

        Raises:
            OSError: ENXIO for a real drive; ENOMEDIUM for an empty drive (at once, or after
                ``assist_timeout`` with /ASSIST); the errors of opening the volume.
        """
        q = parse_device_spec(name, drive.qualifiers, self.config.max_record).qualifiers
        label = f"{drive.name}:"
        writing = self._check_write(label, flags, q)
        if drive.device is not None:
            raise tape_error(
                errno.ENXIO, f"{label} {drive.device} is a real tape drive, not served yet"
            )
        request = None
        deadline = 0.0
        try:
            while True:
                image = store.loaded(drive)
                if image is not None:
                    try:
                        return self._open_volume(store, drive, image, (flags, writing), q)
                    except OSError as exc:
                        if exc.errno != errno.ENOMEDIUM or not q.assist:
                            raise
                elif not q.assist:
                    raise tape_error(errno.ENOMEDIUM, f"{label} no volume loaded")
                if request is None:
                    request = _ask_operator(store, drive, q.comment)
                    deadline = time.monotonic() + store.assist_timeout
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise tape_error(
                        errno.ENOMEDIUM,
                        f"{label} no volume loaded after waiting "
                        f"{store.assist_timeout:g} s for an operator",
                    )
                time.sleep(min(store.poll_interval, remaining))
        finally:
            if request is not None:
                store.withdraw(request)

    def _open_volume(
        self,
        store: DriveStore,
        drive: DriveConfig,
        image: str,
        access: tuple[int, bool],
        q: Qualifiers,
    ) -> TapeDevice:
        flags, writing = access
        path = store.image_path(image)
        lower = image.lower()
        if q.cd or lower.endswith(".iso"):
            cd = self._open_cd(image, path, writing)
            return NamedDriveDevice(cd, None, lambda: store.release(drive, image, False), q)
        if lower.endswith(RESERVED_SUFFIXES):
            raise tape_error(errno.EMEDIUMTYPE, f"{image}: this kind of image is not served yet")
        options = _tape_options(flags, writing, q, True, self.config)
        tape = self._open_tape(path, options, q, image)

        def release() -> None:
            store.release(drive, image, reshelve=not tape.loaded)

        return NamedDriveDevice(_streaming(tape, q), tape, release, q)


def _ask_operator(store: DriveStore, drive: DriveConfig, comment: str | None) -> OperatorRequest:
    """Post an operator request for a volume in ``drive`` and say so in the log."""
    request = store.post_request(drive.name, comment)
    log.warning(
        "operator request: drive %s needs a volume (%s); waiting up to %g s for "
        "'vmt load %s IMAGE'",
        drive.name,
        f'comment "{comment}"' if comment else "no comment",
        store.assist_timeout,
        drive.name,
    )
    return request


def _tape_options(
    flags: int, writing: bool, q: Qualifiers, named: bool, config: OpenerConfig
) -> OpenOptions:
    """How to open a tape image for these qualifiers.

    A named drive's /UNLOAD is carried out by :class:`NamedDriveDevice`: the volume is
    rewound and the drive left empty, while the image stays ready for its next drive.
    """
    return OpenOptions(
        write=writing,
        create=bool(flags & os.O_CREAT),
        nonblock=bool(flags & os.O_NONBLOCK),
        rewind_on_close=q.rewind or (named and q.unload),
        unload_on_close=False,  # an image named by path is simply closed
        write_protect=not q.write,
        max_filemarks=config.max_filemarks,
    )


def _streaming(tape: VirtualTapeDrive, q: Qualifiers) -> TapeDevice:
    return StreamingTape(tape) if q.stream else tape


class NamedDriveDevice:
    """A device opened through a named drive: leaves the drive empty when the volume goes.

    At close the drive is emptied if the open had /UNLOAD, or if the client unloaded the tape
    (MTOFFL, MTUNLOAD); the write-buffer calls of the hot path pass through.

    Args:
        inner: the open device.
        tape: the tape drive under ``inner`` (``None`` for a CD-ROM).
        release: empties the named drive.
        qualifiers: the open's effective qualifiers.
    """

    def __init__(
        self,
        inner: TapeDevice,
        tape: VirtualTapeDrive | None,
        release: Callable[[], None],
        qualifiers: Qualifiers,
    ) -> None:
        self.inner = inner
        self._tape = tape
        self._release = release
        self._unload = qualifiers.unload
        self._closed = False

    def __getattr__(self, name: str) -> Any:
        """Pass the optional hot-path methods (``write_buffer``, ``commit_write``) through."""
        return getattr(self.inner, name)

    def readinto(self, buffer: memoryview) -> int:
        """Read as the inner device does."""
        return self.inner.readinto(buffer)

    def write(self, data: BytesLike) -> int:
        """Write as the inner device does."""
        return self.inner.write(data)

    def ioctl(self, op: int, count: int) -> int:
        """Perform a tape operation on the inner device."""
        return self.inner.ioctl(op, count)

    def status(self) -> DriveStatus:
        """Return the inner device's status."""
        return self.inner.status()

    def tell(self) -> int:
        """Return the inner device's position."""
        return self.inner.tell()

    def seek(self, offset: int, whence: int) -> int:
        """Seek as the inner device does."""
        return self.inner.seek(offset, whence)

    def close(self) -> None:
        """Close the volume, then empty the drive if it was unloaded."""
        if self._closed:
            return
        self._closed = True
        try:
            self.inner.close()
        finally:
            unloaded = self._tape is not None and not self._tape.loaded
            if self._unload or unloaded:
                self._release()
