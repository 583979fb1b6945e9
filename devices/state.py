"""What lasts between opens of a drive, and who may open it.

The RMT server runs one process per connection, and ``vmt`` one per command, so a drive's
position, loaded state, block size and the volume's density must survive the process. They are
kept in a small JSON file beside the image (``vol.tap.rmtd``), written atomically (a temporary
file, fsync, rename), together with the image's identity: if the image was changed by someone
else, the saved position no longer means anything and the drive starts at BOT, like a drive that
sees a new medium.

Only one opener at a time: an exclusive, non-blocking ``flock`` on the image; a second opener
gets EBUSY, as a second ``open`` of ``/dev/nst0`` does.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from devices.atomic import read_no_follow, write_atomically
from devices.errors import tape_error
from devices.formats.index import ImageIdentity
from devices.interface import MAX_RECORD

log = logging.getLogger(__name__)

STATE_SUFFIX = ".rmtd"
"""The state of ``vol.tap`` is kept in ``vol.tap.rmtd``."""


@dataclass
class VolumeInfo:
    """Properties of the medium, recorded with the image.

    Attributes:
        density: SCSI density code (1 = 800 bpi, 2 = 1600, 3 = 6250; 0 = default).
        capacity: physical end of the medium in bytes of image, 0 for unlimited.
        early_warning: bytes before ``capacity`` where early warning (EOT) begins.
        write_protected: the write-protect tab is set.
        incomplete: object numbers of the first records of tape files whose writer could not
            finish them (interrupted, out of space, a source read error), sorted; ``vmt ls``
            marks those files.
    """

    density: int = 0
    capacity: int = 0
    early_warning: int = 0
    write_protected: bool = False
    incomplete: list[int] = field(default_factory=list)


DEFAULT_EARLY_WARNING = 128 << 10
"""The early-warning zone a volume with a capacity gets when none is given."""


def default_early_warning(capacity: int) -> int:
    """The early-warning zone of a volume of ``capacity`` bytes: 128k, or a quarter of less."""
    return min(DEFAULT_EARLY_WARNING, capacity // 4)


@dataclass
class DriveState:
    """Where the drive stands, as ``st`` would remember it between opens.

    Attributes:
        position: logical object number (records and filemarks both count).
        fileno: file number, -1 when unknown.
        blkno: block number within the file, -1 when unknown.
        loaded: a medium is loaded (False after MTOFFL/MTUNLOAD until MTLOAD).
        block_size: fixed block size, 0 for variable-block mode.
        compression: the compression setting (recorded, no effect on data).
        at_eod: the last motion met the end of data (``GMT_EOD``), as st remembers it.
    """

    position: int = 0
    fileno: int = 0
    blkno: int = 0
    loaded: bool = True
    block_size: int = 0
    compression: bool = False
    at_eod: bool = False


@dataclass
class SavedState:
    """Everything saved beside an image."""

    volume: VolumeInfo = field(default_factory=VolumeInfo)
    drive: DriveState = field(default_factory=DriveState)
    identity: ImageIdentity | None = None
    writing_since: int | None = None
    """Set while an open for writing may have left a record half written: the lowest byte
    offset it wrote at. A record torn at or after it was ours, cut short by a crash."""
    writing_check: int = 0
    """CRC-32 of the 4 KiB before ``writing_since`` when it was set (see ``vtape``)."""
    unreadable: str | None = None
    """Why the state file could not be read as written, if so. Its write protection is then
    unknown, so the volume counts as protected (fail closed) and the file is kept as it is."""


_INT32_MAX = (1 << 31) - 1
_RANGES = {
    "position": (0, 1 << 62),
    "fileno": (-1, _INT32_MAX),  # struct mtget's mt_fileno and mt_blkno are ints; -1 unknown
    "blkno": (-1, _INT32_MAX),
    "block_size": (0, MAX_RECORD),  # what MTSETBLK accepts at most
    "density": (0, 0xFF),  # a density code is 8 bits (mt_dsreg)
    "capacity": (0, 1 << 62),
    "early_warning": (0, 1 << 62),
}
"""The values a number in the state can hold; one outside was never written by us."""


def out_of_range(name: str, value: object) -> bool:
    """Whether the state field ``name`` holds a number no drive could have saved."""
    bounds = _RANGES.get(name)
    if bounds is None or not isinstance(value, int) or isinstance(value, bool):
        return False
    return not bounds[0] <= value <= bounds[1]


def from_dict(cls: Any, data: object, wrong: list[str]) -> Any:
    """Build dataclass ``cls`` from ``data``, ignoring unknown keys; wrong types are noted.

    A field of the wrong type, or a number out of its range (a negative position, a block
    size of terabytes: damage, which readers must not trust), takes its default and its name
    is appended to ``wrong``.

    A list field (the default is a list) keeps only a list of non-negative ints, sorted and
    without duplicates; anything else in its place gives the default (an empty list).
    """
    if not isinstance(data, dict):
        if data is not None:
            wrong.append(cls.__name__)
        return cls()
    defaults = cls()
    values = {}
    for f in dataclasses.fields(cls):
        default = getattr(defaults, f.name)
        value = data.get(f.name, default)
        if isinstance(default, list):
            if _is_object_list(value):
                values[f.name] = sorted(set(value))
            else:
                wrong.append(f.name)
        elif type(value) is not type(default) or out_of_range(f.name, value):
            wrong.append(f.name)
        else:
            values[f.name] = value
    return cls(**values)


def _is_object_list(value: object) -> bool:
    """Whether ``value`` is a JSON list of object numbers (ints >= 0, not booleans)."""
    return isinstance(value, list) and all(type(v) is int and v >= 0 for v in value)


class StateFile:
    """The saved state of one image, read and written as a whole."""

    def __init__(self, image_path: str) -> None:
        self.path = image_path + STATE_SUFFIX

    def load(self) -> SavedState:
        """Read the saved state; a missing file gives the defaults.

        A file that cannot be read as written (not JSON, a field of the wrong type) gives the
        defaults with ``unreadable`` set and the volume write-protected: its protect tab is
        unknown, so nothing may write the volume until someone looks (fail closed).
        """
        try:
            data = json.loads(read_no_follow(self.path))
        except FileNotFoundError:
            return SavedState()
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # a symlink planted in its place is not ours
                log.warning("%s: a symlink, not a drive state; ignored and replaced", self.path)
                return SavedState()
            return self._unreadable(f"not readable ({exc.strerror})")
        except ValueError as exc:
            return self._unreadable(f"not readable as JSON ({exc})")
        if not isinstance(data, dict):
            return self._unreadable("not a JSON object")
        wrong: list[str] = []
        volume = from_dict(VolumeInfo, data.get("volume"), wrong)
        drive = from_dict(DriveState, data.get("drive"), wrong)
        if wrong:
            return self._unreadable(f"wrong types for {', '.join(wrong)}")
        ident = data.get("identity")
        identity = None
        if isinstance(ident, list) and len(ident) == 5 and all(type(v) is int for v in ident):
            identity = ImageIdentity(*ident)
        since = data.get("writing_since")
        return SavedState(
            volume=volume,
            drive=drive,
            identity=identity,
            writing_since=since if type(since) is int and since >= 0 else None,
            writing_check=check if type(check := data.get("writing_check")) is int else 0,
        )

    def _unreadable(self, why: str) -> SavedState:
        log.info("%s: %s", self.path, why)  # the opener says what follows from it
        return SavedState(volume=VolumeInfo(write_protected=True), unreadable=why)

    def save(self, state: SavedState) -> None:
        """Write the state atomically: a temporary file, fsync, then rename over the old one."""
        data = {
            "volume": dataclasses.asdict(state.volume),
            "drive": dataclasses.asdict(state.drive),
            "identity": dataclasses.astuple(state.identity) if state.identity else None,
            "writing_since": state.writing_since,
            "writing_check": state.writing_check,
        }
        text = json.dumps(data, indent=1) + "\n"
        write_atomically(self.path, [text.encode()])


def lock_exclusive(fd: int, name: str) -> None:
    """Take the one-opener lock on an open image; EBUSY if another opener holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise tape_error(errno.EBUSY, f"{name}: in use by another opener") from None
