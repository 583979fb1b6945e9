"""Named drives at run time: the volume each drive holds, and operator requests.

The configuration says which volume a drive holds at first; after that an operator changes it
(``vmt load DRIVE IMAGE``, ``vmt unload DRIVE``) and a client's ``/UNLOAD`` empties it. That
state lives in the state directory (``ServerConfig.state_path``), shared by every rmtd process
and ``vmt``:

* ``drives/NAME.json``: ``{"image": "vol001.tap" or null, "configured": ...}``, written
  atomically (a temporary file, fsync, rename). ``configured`` records the config's ``image``
  when the file was written: if the configuration names another volume since, it wins.
* ``requests/NAME.PID.XXXX.json``: one pending operator request (an ``/ASSIST`` open waiting
  for a volume), removed when the open gives up or succeeds. ``vmt requests`` lists them.
* ``lock``: an ``flock`` taken around every change of a drive's volume.

A volume's own state (position, loaded flag) stays beside the image, as for any image. Loading
or unloading takes the image's one-opener lock for a moment, so a volume in use is refused
with EBUSY; a volume out of a drive is left rewound and ready (loaded), so that it can also be
opened by path.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from devices.atomic import write_atomically
from devices.errors import tape_error
from devices.interface import MtOp, OpenOptions
from devices.kinds import DeviceKind, kind_by_name
from devices.vtape import open_tape_image
from rmtd.config import ConfigError, DriveConfig, ServerConfig
from rmtd.paths import PathPolicy

log = logging.getLogger(__name__)

DEFAULT_POLL = 0.25
"""Seconds between looks at an empty drive while an /ASSIST open waits."""


@dataclass(frozen=True, slots=True)
class OperatorRequest:
    """A pending request for an operator to load a volume.

    Attributes:
        drive: the drive's name.
        comment: the client's ``/COMMENT`` text, if any.
        pid: the rmtd process that waits.
        since: when the request was posted (seconds since the epoch).
        path: the file that holds the request.
    """

    drive: str
    comment: str | None
    pid: int
    since: float
    path: str

    def as_dict(self) -> dict[str, Any]:
        """The request as JSON-ready values."""
        return {"drive": self.drive, "comment": self.comment, "pid": self.pid, "since": self.since}


class DriveStore:
    """The named drives' run-time state, kept in the state directory.

    Args:
        config: the server configuration (its root, state directory, drives, assist timeout).
        poll_interval: seconds between looks at an empty drive while an /ASSIST open waits.

    Raises:
        ConfigError: drives are configured without a root.
    """

    def __init__(self, config: ServerConfig, poll_interval: float = DEFAULT_POLL) -> None:
        config.check_drives()
        state_dir = config.state_path
        if state_dir is None:
            raise ConfigError("state_dir: no state directory (set root or state_dir)")
        self.config = config
        self.state_dir = state_dir
        self.poll_interval = poll_interval

    @property
    def assist_timeout(self) -> float:
        """Seconds an /ASSIST open waits for an operator."""
        return self.config.assist_timeout

    # -- drives and their volumes --------------------------------------------------------------

    def find(self, name: str) -> DriveConfig | None:
        """The drive ``name`` names (any case, trailing colon or not), or ``None``."""
        return self.config.drive(name)

    def require(self, name: str) -> DriveConfig:
        """The drive ``name`` names.

        Raises:
            OSError: ENODEV when no drive has that name.
        """
        drive = self.find(name)
        if drive is None:
            known = ", ".join(d.name for d in self.config.drives) or "none"
            raise tape_error(errno.ENODEV, f"{name}: no such drive (configured: {known})")
        return drive

    @property
    def paths(self) -> PathPolicy:
        """The path policy volumes' names resolve under."""
        return PathPolicy(self.config.root, self.state_dir, frozenset(self.config.stores))

    def image_path(self, image: str) -> str:
        """The path of volume ``image`` (a name inside the root).

        Raises:
            OSError: EACCES for a name outside the root or inside the state directory.
        """
        return self.paths.resolve(image)

    def volume_name(self, image: str) -> str:
        """Turn an operator's ``image`` (inside the root, or absolute) into a name in the root.

        Raises:
            OSError: EACCES for a path outside the root or inside the state directory.
        """
        root = os.path.realpath(self.config.root or ".")
        name = image
        if self.paths.stored(image) is not None:
            return image  # a volume in an object store: never a local path
        if os.path.isabs(image):
            real = os.path.realpath(image)
            if os.path.commonpath([real, root]) != root:
                raise tape_error(errno.EACCES, f"{image}: not inside the root {root}")
            name = os.path.relpath(real, root)
        name = os.path.normpath(name)
        self.image_path(name)
        return name

    def loaded(self, drive: DriveConfig) -> str | None:
        """The volume ``drive`` holds now, or ``None`` when it is empty."""
        try:
            with open(self._entry_path(drive), encoding="utf-8") as src:
                entry = json.load(src)
        except FileNotFoundError:
            return drive.image
        except (OSError, ValueError) as exc:
            log.warning("%s: unreadable drive state (%s); using the configuration", drive.name, exc)
            return drive.image
        if not isinstance(entry, dict) or entry.get("configured") != drive.image:
            return drive.image  # the configuration changed since: it wins
        image = entry.get("image")
        return image if isinstance(image, str) and image else None

    def load(self, name: str, image: str) -> tuple[DriveConfig, str]:
        """Load volume ``image`` into drive ``name`` (``vmt load``); it is rewound.

        Returns:
            The drive and the volume's name inside the root.

        Raises:
            OSError: ENODEV for an unknown drive, ENXIO for a real drive (nothing to load:
                an operator puts a tape in it), EBUSY when the drive
                holds another volume or the volume is in another drive or in use, ENOENT for
                a missing image.
        """
        drive = self._virtual(name)
        volume = self.volume_name(image)
        path = self._path_or_none(volume) or self.image_path(volume)
        with self._locked():
            current = self.loaded(drive)
            if current is not None and self._path_or_none(current) != path:
                raise tape_error(errno.EBUSY, f"{drive.name}: holds {current}; unload it first")
            for other in self.config.drives:
                held = self.loaded(other) if other is not drive else None
                if held is not None and self._path_or_none(held) == path:
                    raise tape_error(errno.EBUSY, f"{volume}: already in drive {other.name}")
            if self.paths.stored(volume) is None:
                _make_ready(path, volume)
            self._write_entry(drive, volume)
        return drive, volume

    def unload(self, name: str) -> tuple[DriveConfig, str]:
        """Unload drive ``name`` (``vmt unload``): its volume is rewound and the drive empty.

        Returns:
            The drive and the volume it held.

        Raises:
            OSError: ENODEV for an unknown drive, ENXIO for a real drive, ENOMEDIUM for an
                empty one, EBUSY when the volume is in use.
        """
        drive = self._virtual(name)
        with self._locked():
            current = self.loaded(drive)
            if current is None:
                raise tape_error(errno.ENOMEDIUM, f"{drive.name}: no volume loaded")
            path = self._path_or_none(current)
            local = self.paths.stored(current) is None
            if local and path is not None and os.path.exists(path):
                _make_ready(path, current)
            self._write_entry(drive, None)
        return drive, current

    def release(self, drive: DriveConfig, image: str, reshelve: bool) -> None:
        """Leave ``drive`` empty after a client unloaded ``image`` (unless already changed).

        Args:
            drive: the drive.
            image: the volume the client had.
            reshelve: the volume's own state says unloaded: make it ready again.
        """
        with self._locked():
            if self.loaded(drive) == image:
                self._write_entry(drive, None)
                log.info("%s: %s unloaded; the drive is empty", drive.name, image)
        if reshelve and self.paths.stored(image) is None:
            try:
                _make_ready(self.image_path(image), image)
            except OSError as exc:
                log.warning("%s: could not make %s ready: %s", drive.name, image, exc.strerror)

    def _virtual(self, name: str) -> DriveConfig:
        drive = self.require(name)
        if drive.device is not None:
            raise tape_error(
                errno.ENXIO,
                f"{drive.name}: {drive.device} is a real drive: its tapes are loaded by hand",
            )
        return drive

    def _path_or_none(self, image: str) -> str | None:
        """Where ``image`` is: a local path, or its own name for a volume in a store."""
        try:
            if self.paths.stored(image) is not None:
                return image
            return self.image_path(image)
        except OSError:
            return None

    def _entry_path(self, drive: DriveConfig) -> str:
        return os.path.join(self.state_dir, "drives", f"{drive.name}.json")

    def _write_entry(self, drive: DriveConfig, image: str | None) -> None:
        entry = {"image": image, "configured": drive.image}
        _write_atomically(self._entry_path(drive), json.dumps(entry) + "\n")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        os.makedirs(self.state_dir, exist_ok=True)
        fd = os.open(os.path.join(self.state_dir, "lock"), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # -- operator requests -----------------------------------------------------------------

    def post_request(self, drive: str, comment: str | None) -> OperatorRequest:
        """Record that a client waits for a volume in ``drive``."""
        folder = os.path.join(self.state_dir, "requests")
        os.makedirs(folder, exist_ok=True)
        since = time.time()
        pid = os.getpid()
        path = os.path.join(folder, f"{drive}.{pid}.{time.time_ns()}.json")
        doc = {"drive": drive, "comment": comment, "pid": pid, "since": since}
        _write_atomically(path, json.dumps(doc) + "\n")
        return OperatorRequest(drive, comment, pid, since, path)

    def withdraw(self, request: OperatorRequest) -> None:
        """Remove a request (the open got its volume or gave up)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(request.path)

    def requests(self) -> list[OperatorRequest]:
        """The pending requests, oldest first; those of processes that are gone are dropped."""
        folder = os.path.join(self.state_dir, "requests")
        try:
            names = sorted(os.listdir(folder))
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            if name.endswith(".json"):
                request = _read_request(os.path.join(folder, name))
                if request is not None:
                    found.append(request)
        return sorted(found, key=lambda r: r.since)


def _read_request(path: str) -> OperatorRequest | None:
    try:
        with open(path, encoding="utf-8") as src:
            doc = json.load(src)
        drive, comment, pid, since = doc["drive"], doc["comment"], doc["pid"], doc["since"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not (isinstance(drive, str) and isinstance(pid, int) and isinstance(since, int | float)):
        return None
    if not _alive(pid):
        with contextlib.suppress(OSError):
            os.unlink(path)  # its rmtd was killed while waiting
        return None
    return OperatorRequest(drive, comment if isinstance(comment, str) else None, pid, since, path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _make_ready(path: str, name: str) -> None:
    """Rewind a volume and mark it loaded (MTLOAD), under its one-opener lock.

    Raises:
        OSError: ENOENT for a missing image, EBUSY when it is in use.
    """
    kind = kind_by_name(name)
    if kind is DeviceKind.ISO:
        if not os.path.isfile(path):
            raise tape_error(errno.ENOENT, f"{name}: no such image")
        return
    drive = open_tape_image(path, OpenOptions(nonblock=True), name, kind)
    try:
        drive.ioctl(MtOp.MTLOAD, 1)
    finally:
        drive.close()


def _write_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :mod:`devices.atomic`), making its folder."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_atomically(path, [text.encode()])
