"""From the name a client sends to an open device: spec, path policy, kind, qualifiers.

The session hands :class:`DeviceOpener` the ``O`` request's name and flags and gets a device
back. A name that matches a named drive of the configuration (``mua0``, ``MUA0:``) opens the
volume that drive holds, with the drive's default qualifiers applied before the client's own
(see :mod:`rmtd.drives`). Other names resolve under the path policy (:mod:`rmtd.paths`). What
the name stands for is decided by :mod:`devices.kinds`, the one device model: a SIMH image
(served as a tape drive, once its bytes prove it is one), a CD-ROM (``.iso`` or /CD), a plain
file (served as GNU rmt serves it), a real tape drive (passed through to the kernel, see
:mod:`devices.realdrive`), or a kind reserved for later (AWS, HET).

A real drive is opened by path (``/dev/nst0``) only when the server has no root, as GNU rmt
opens it; under a root only as a named drive whose ``device`` the configuration gives. On a
drive the qualifiers start from "do nothing" (:mod:`rmtd.real_drive_qualifiers`) and act
through the drive's own operations (:meth:`DeviceOpener._open_real`). A name whose first
component is a configured object store's (``vault/vol1.tap``) opens a volume in that store
(:mod:`devices.stored`), as a local image is opened, qualifiers and all.

Qualifiers on tapes (after the OpenVMS RMT server): /MOUNT (the default) mounts the volume
(loading an image named by path that was left unloaded) and starts at BOT, /NOMOUNT takes the
drive as it stands; /[NO]REWIND rewinds at close or holds the position; /UNLOAD (the
default) leaves a named drive empty at close until an operator loads a volume (an image named
by path is simply closed); /NOWRITE write-protects the open; /ASSIST waits for an operator when
a named drive is empty. The configuration's ``defaults`` apply before a drive's qualifiers,
and both before the client's own.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from devices.cdrom import CdRom
from devices.drive import VirtualTapeDrive
from devices.durability import SyncLevel
from devices.errors import tape_error
from devices.faults import Faults, FaultyTape
from devices.interface import DEFAULT_MAX_FILEMARKS, MtOp, OpenOptions, TapeDevice
from devices.kinds import DeviceKind, claimed_kind, kind_by_name
from devices.plainfile import PlainFile
from devices.realdrive import DriveSettings, RealDrive
from devices.state import STATE_SUFFIX
from devices.stored.volume import Store
from devices.stream import StreamingTape
from devices.vtape import open_tape_image
from rmtd.access import grant_name
from rmtd.devspec import Qualifiers, parse_device_spec
from rmtd.named_device import NamedDriveDevice
from rmtd.paths import PathPolicy
from rmtd.protocol import DEFAULT_MAX_RECORD
from rmtd.protocol.fields import modifies
from rmtd.real_drive_qualifiers import check_drive_device, drive_qualifiers

if TYPE_CHECKING:  # the CLI composes the two
    from rmtd.access import Grant
    from rmtd.config import DriveConfig
    from rmtd.drives import DriveStore, OperatorRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OpenerConfig:
    """What the opener needs from the server's configuration.

    Attributes:
        root: every name resolves inside this directory; ``None``: names as GNU rmt takes
            them (relative to the working directory).
        read_only: refuse every open for writing (EROFS); tapes show WR_PROT.
        max_record: the largest record accepted, for ``/BLOCKSIZE``.
        max_filemarks: the most filemarks one MTWEOF may write on a tape.
        sync: which replies wait for written data to reach the disk (devices.durability).
        state_dir: the server's own state (drives, operator requests): no client name may
            lead inside it.
        defaults: qualifiers applied before a drive's and the client's own.
        faults: faults to inject, by device name as clients give it (a path inside the root,
            normalized) or by named drive (lower case, no colon); see devices.faults.
        stores: object stores holding volumes (``vault/vol1.tap``), by name.
    """

    root: str | None = None
    read_only: bool = False
    max_record: int = DEFAULT_MAX_RECORD
    max_filemarks: int = DEFAULT_MAX_FILEMARKS
    sync: SyncLevel = SyncLevel.CLOSE
    state_dir: str | None = None
    defaults: Qualifiers = field(default_factory=Qualifiers)
    faults: Mapping[str, Faults] = field(default_factory=dict)
    stores: Mapping[str, Store] = field(default_factory=dict)

    @property
    def paths(self) -> PathPolicy:
        """The path policy these settings make."""
        return PathPolicy(self.root, self.state_dir, frozenset(self.stores))


class DeviceOpener:
    """Opens devices for one session under one configuration.

    Args:
        config: the root, limits and state directory.
        drives: the named drives; ``None``: every name is a path.
        grant: what the session's client may open (``rmtd.access``); ``None``: anything.
    """

    def __init__(
        self, config: OpenerConfig, drives: DriveStore | None = None, grant: Grant | None = None
    ) -> None:
        self.config = config
        self.drives = drives
        self.grant = grant

    def open(self, name: str, flags: int, force_tape: bool = False) -> TapeDevice:
        """Open the device ``name`` as :meth:`open_device` does, with its faults, if any.

        The one place faults are injected: a device with none configured is returned as
        opened, so its reads and writes cost nothing extra.
        """
        device = self.open_device(name, flags, force_tape)
        if not self.config.faults:
            return device
        spec = parse_device_spec(name, self.config.defaults, self.config.max_record)
        drive = self.drives.find(spec.name) if self.drives is not None else None
        key = drive.name if drive is not None else os.path.normpath(spec.name)
        faults = self.config.faults.get(key)
        if faults is None or faults.empty:
            return device
        return FaultyTape(device, faults, spec.name, _tape_under(device))

    def open_device(self, name: str, flags: int, force_tape: bool = False) -> TapeDevice:
        """Open the device ``name`` (a device spec with qualifiers) with ``os.open`` flags.

        Args:
            name: the device spec, as a client sends it.
            flags: ``os.open`` flags.
            force_tape: serve a path as a SIMH tape image whatever its name and bytes say
                (``vmt --force``); never set for a client of the server.

        Raises:
            OSError: the errno the client should see (EINVAL for a bad qualifier, EACCES for
                a path outside the root, EROFS for a write open of a read-only device,
                EMEDIUMTYPE for a file that is not the image its name claims, ENOMEDIUM for an
                empty named drive...).
        """
        spec = parse_device_spec(name, self.config.defaults, self.config.max_record)
        drive = self.drives.find(spec.name) if self.drives is not None else None
        protect = False
        if self.grant is not None:
            # Before anything is resolved or created: a name outside the grant must not even
            # learn whether the file exists.
            granted = drive.name if drive is not None else grant_name(spec.name)
            self.grant.check_open(granted, modifies(flags), drive=drive is not None)
            protect = not _grants_writing(self.grant, granted, drive is not None)
        if drive is not None and self.drives is not None:
            return self._open_named(self.drives, drive, name, (flags, protect))
        stored = self._stored(spec.name)
        if stored is not None:
            q = dataclasses.replace(spec.qualifiers, write=False) if protect else spec.qualifiers
            kind = kind_by_name(spec.name, spec.qualifiers.cd)
            return self._open_volume(stored, spec.name, kind, (flags, q))
        if not force_tape and kind_by_name(spec.name, spec.qualifiers.cd) is DeviceKind.REAL_DRIVE:
            return self._open_drive_by_path(spec.name, name, (flags, protect))
        path = self.config.paths.resolve(spec.name)
        if self.grant is not None:
            # A symlink must not carry a grant to another file: the file the name leads to
            # must be granted too (relative to the root, or to the working directory).
            base = os.path.realpath(self.config.root or ".")
            real = os.path.relpath(os.path.realpath(path), base)
            if real != grant_name(spec.name):
                self.grant.check_open(real, modifies(flags))
        kind = DeviceKind.SIMH if force_tape else claimed_kind(spec.name, path, spec.qualifiers.cd)
        if kind is DeviceKind.PLAIN:
            if self._check_write(spec.name, flags, spec.qualifiers):
                _refuse_tape_as_plain(spec.name, path)
            return PlainFile(path, flags, spec.name, self.config.sync)
        # A read-only grant write-protects the volume for this open, as /NOWRITE does: then
        # nothing recorded on the volume changes either (its density, say).
        q = dataclasses.replace(spec.qualifiers, write=False) if protect else spec.qualifiers
        return self._open_volume(path, spec.name, kind, (flags, q), force_tape)

    def _stored(self, name: str) -> StoredName | None:
        """The store and volume ``name`` stands for, if it lies in a configured store."""
        found = self.config.paths.stored(name)
        if found is None:
            return None
        return StoredName(self.config.stores[found[0]], found[1])

    def _open_volume(
        self,
        path: str | StoredName,
        name: str,
        kind: DeviceKind,
        how: tuple[int, Qualifiers],
        force_tape: bool = False,
        named: bool = False,
    ) -> TapeDevice:
        """Open ``path`` as a volume of ``kind`` (an image or a CD-ROM) as ``how`` says.

        ``path`` is a local path, or a volume in an object store (tape images only).
        """
        flags, q = how
        writing = self._check_write(name, flags, q)
        if isinstance(path, StoredName) and not kind.is_tape_image:
            raise tape_error(
                errno.EMEDIUMTYPE,
                f"{name}: {kind.value} by its name; stores hold tape images (*.tap, *.aws, *.het)",
            )
        if kind is DeviceKind.ISO and not isinstance(path, StoredName):
            if writing:
                raise tape_error(errno.EROFS, f"{name}: a CD-ROM is read-only")
            return CdRom(path, name)
        if kind is DeviceKind.REAL_DRIVE:  # a name inside the root; only _open_drive* open one
            raise tape_error(errno.EACCES, f"{name}: a tape drive is not a volume")
        if kind is DeviceKind.PLAIN:
            raise tape_error(errno.EMEDIUMTYPE, f"{name}: a plain file, not a tape image")
        options = OpenOptions(
            write=writing and (flags & os.O_ACCMODE) != os.O_RDONLY,
            create=bool(flags & os.O_CREAT),
            nonblock=bool(flags & os.O_NONBLOCK),
            # A named drive's /UNLOAD is carried out by NamedDriveDevice: the volume is
            # rewound and the drive left empty, while the image stays ready for its next drive.
            rewind_on_close=q.rewind or (named and q.unload),
            unload_on_close=False,  # an image named by path is simply closed
            write_protect=not q.write or self.config.read_only,
            max_filemarks=self.config.max_filemarks,
            sync=self.config.sync,
        )
        tape = self._open_tape(path, options, q, name, (kind, not named, force_tape))
        return StreamingTape(tape) if q.stream else tape

    def _check_write(self, name: str, flags: int, q: Qualifiers) -> bool:
        """Refuse a modifying open where writing is not allowed; whether it writes.

        Modifying includes ``O_CREAT``, ``O_TRUNC`` and ``O_APPEND`` with ``O_RDONLY``: Linux
        truncates and creates whatever the access mode says.
        """
        writing = modifies(flags)
        if writing and self.config.read_only:
            raise tape_error(errno.EROFS, f"{name}: the server is read-only")
        if writing and not q.write:
            raise tape_error(errno.EROFS, f"{name}: write-protected for this open (/NOWRITE)")
        return writing

    @staticmethod
    def _open_tape(
        path: str | StoredName,
        options: OpenOptions,
        q: Qualifiers,
        name: str,
        how: tuple[DeviceKind, bool, bool],
    ) -> VirtualTapeDrive:
        """Open a tape image and set it up as the qualifiers say.

        /MOUNT on an image named by path mounts it: an image left unloaded (``mt offline``)
        is loaded again, as mounting a volume does; a named drive's volume is the operator's.
        """
        kind, by_path, force = how
        mount_by_path = q.mount and by_path
        if mount_by_path:
            options = dataclasses.replace(options, nonblock=True)
        if isinstance(path, StoredName):
            drive = path.store.open_volume(path.volume, options, kind, name)
        else:
            drive = open_tape_image(path, options, name, kind, accept_foreign=force)
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

    # -- real drives ---------------------------------------------------------------------------

    def _open_drive_by_path(self, device: str, name: str, how: tuple[int, bool]) -> TapeDevice:
        """Open the kernel tape device a client named by path (``/dev/nst0``), as GNU rmt does.

        Only a server without a root does this: under ``--root`` every name stays inside the
        root, and a drive is served only as a named drive whose ``device`` the administrator
        configured (a name such as ``/dev/nst0`` is refused rather than taken inside the root,
        where it would be a plain file).

        Raises:
            OSError: EACCES under a root; the errors of :meth:`_open_real`.
        """
        if self.config.root is not None:
            raise tape_error(
                errno.EACCES,
                f"{device}: a tape drive is served under a root only as a named drive "
                "(a [drives.NAME] entry with device = ...)",
            )
        flags, protect = how
        q = drive_qualifiers(name, "", self.config.max_record, protect)
        return self._open_real(device, device, flags, q)

    def _open_real(self, path: str, name: str, flags: int, q: Qualifiers) -> TapeDevice:
        """Open the tape drive ``path`` with the qualifiers that make sense on one.

        /MOUNT rewinds at open, /BLOCKSIZE and /DENSITY set the drive's (MTSETBLK,
        MTSETDENSITY), /REWIND and /UNLOAD rewind or unload at close (MTREW, MTOFFL), /NOWRITE
        refuses write opens. /STREAM is refused: the drive itself reads whole records (use
        /BLOCKSIZE for fixed blocks, which st reads in any multiple of the block size).

        Raises:
            OSError: EROFS for a write open of a read-only server or under /NOWRITE; EINVAL
                for /STREAM; the kernel's errno (ENOENT, EBUSY, ENOMEDIUM...).
        """
        self._check_write(name, flags, q)
        if q.stream:
            raise tape_error(
                errno.EINVAL, f"{name}: /STREAM is not available on a tape drive (try /BLOCKSIZE)"
            )
        settings = DriveSettings(
            rewind_at_open=q.mount,
            blocksize=q.blocksize,
            density=q.density,
            rewind_on_close=q.rewind,
            unload_on_close=q.unload,
            write_protect=not q.write or self.config.read_only,
        )
        return RealDrive(path, flags, name, settings)

    # -- named drives ------------------------------------------------------------------------

    def _open_named(
        self, store: DriveStore, drive: DriveConfig, name: str, how: tuple[int, bool]
    ) -> TapeDevice:
        """Open the volume a named drive holds, or its tape drive; /ASSIST waits for a volume.

        Raises:
            OSError: ENOMEDIUM for an empty drive (at once, or after ``assist_timeout`` with
                /ASSIST); the errors of opening the volume or the tape drive.
        """
        flags, protect = how
        label = f"{drive.name}:"
        device = drive.device
        if device is not None:
            rq = drive_qualifiers(name, drive.qualifier_text, self.config.max_record, protect)
            check_drive_device(label, device)
            return self._with_assist(
                store, drive, rq, lambda: self._open_real(device, drive.name, flags, rq)
            )
        q = parse_device_spec(name, drive.qualifiers, self.config.max_record).qualifiers
        if protect:  # a read-only grant: write-protected for this open, as /NOWRITE
            q = dataclasses.replace(q, write=False)
        self._check_write(label, flags, q)

        def attempt() -> TapeDevice:
            image = store.loaded(drive)
            if image is None:
                raise tape_error(errno.ENOMEDIUM, f"{label} no volume loaded")
            return self._open_held(store, drive, image, (flags, q))

        return self._with_assist(store, drive, q, attempt)

    @staticmethod
    def _with_assist(
        store: DriveStore, drive: DriveConfig, q: Qualifiers, attempt: Callable[[], TapeDevice]
    ) -> TapeDevice:
        """Call ``attempt``; with /ASSIST, while it finds no medium, ask an operator and retry.

        Raises:
            OSError: ENOMEDIUM after ``assist_timeout``; whatever ``attempt`` raises.
        """
        request = None
        deadline = 0.0
        try:
            while True:
                try:
                    return attempt()
                except OSError as exc:
                    if exc.errno != errno.ENOMEDIUM or not q.assist:
                        raise
                if request is None:
                    request = _ask_operator(store, drive, q.comment)
                    deadline = time.monotonic() + store.assist_timeout
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise tape_error(
                        errno.ENOMEDIUM,
                        f"{drive.name}: no volume loaded after waiting "
                        f"{store.assist_timeout:g} s for an operator",
                    )
                time.sleep(min(store.poll_interval, remaining))
        finally:
            if request is not None:
                store.withdraw(request)

    def _open_held(
        self, store: DriveStore, drive: DriveConfig, image: str, how: tuple[int, Qualifiers]
    ) -> TapeDevice:
        """Open the volume ``image`` that ``drive`` holds."""
        path = self._stored(image) or store.image_path(image)
        kind = kind_by_name(image, how[1].cd)
        device = self._open_volume(path, image, kind, how, named=True)
        tape = device.drive if isinstance(device, StreamingTape) else device
        held = tape if isinstance(tape, VirtualTapeDrive) else None

        def release() -> None:
            reshelve = held is not None and not held.loaded
            store.release(drive, image, reshelve=reshelve)

        return NamedDriveDevice(device, held, release, how[1])


def _tape_under(device: TapeDevice) -> VirtualTapeDrive | None:
    """The tape drive an opened device serves, through its wrappers; ``None``: not a tape."""
    while not isinstance(device, VirtualTapeDrive):
        if isinstance(device, StreamingTape):
            return device.drive
        if not isinstance(device, NamedDriveDevice):
            return None
        device = device.inner
    return device


def _grants_writing(grant: Grant, name: str, drive: bool) -> bool:
    """Whether ``grant`` would let ``name`` be opened for writing."""
    try:
        grant.check_open(name, True, drive=drive)
    except OSError:
        return False
    return True


def _refuse_tape_as_plain(name: str, path: str) -> None:
    """Refuse to write as a plain file what has been served as a tape (its state is beside it).

    Raises:
        OSError: EMEDIUMTYPE, naming the state file's evidence.
    """
    if os.path.exists(os.path.realpath(path) + STATE_SUFFIX):
        raise tape_error(
            errno.EMEDIUMTYPE,
            f"{name}: a tape image (its drive state is kept beside it): not written as a "
            "plain file; give it a tape image name (*.tap)",
        )


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


@dataclass(frozen=True, slots=True)
class StoredName:
    """A volume in an object store: the store, and the volume's name in it."""

    store: Store
    volume: str
