"""The server's TOML configuration, parsed into frozen dataclasses.

``rmtd --config FILE`` (default ``$RMTD_CONFIG``, else ``/etc/rmtd.toml`` when it exists) and
the ``vmt`` drive commands read the same file::

    root = "/srv/tapes"            # device names resolve inside it (--root wins)
    max_record = 67108864          # largest R/W count accepted (--max-record wins)
    max_filemarks = 100000         # most filemarks one MTWEOF writes (--max-filemarks wins)
    sync = "close"                 # or "filemark", "record": what waits for the disk (--sync wins)
    lseek_order = "auto"           # or "offset-first", "whence-first" (--lseek-order wins)
    assist_timeout = 600           # seconds an /ASSIST open waits for an operator
    state_dir = "/srv/tapes/.rmtd" # runtime drive state and operator requests
    defaults = "/nomount/norewind/nounload"  # qualifiers applied before a drive's and a client's
    [drives.mua0]
    image = "vol001.tap"           # the volume loaded at first, inside root; absent = empty
    qualifiers = "/nomount/norewind"   # defaults, applied before the client's own
    [drives.nst0]
    device = "/dev/nst0"           # a real drive, passed through to the kernel
    [access]                       # who may connect and open what: see rmtd.access
    reject = ["192.0.2.0/24"]
    [[access.proxy]]
    remote_host = "client.example"
    remote_user = "alice"
    local_user = "alice"
    devices = ["alice/*.tap", "mua0"]
    mode = "read-write"
    [faults."flaky.tap"]           # faults to inject: see rmtd.faults_config
    read_error = { at = 3, errno = "EIO" }
    [stores.vault]                 # names under vault/ are volumes in a store: rmtd.stores_config
    url = "s3://tapes/site1"

``state_dir`` (default ``<root>/.rmtd``) holds which volume each named drive holds now (the
config's ``image`` is only the first) and the pending operator requests; clients cannot open
names inside it. Relative ``root`` and ``state_dir`` are taken from the config file's directory.
A drive's name matches case-insensitively, with or without a trailing colon (``MUA0:``).

Anything unknown, of the wrong type or out of range is refused with a :class:`ConfigError`
naming the file, the line and the key. The line is found by
:mod:`rmtd.toml_lines`.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, get_args

from devices.durability import SyncLevel
from devices.faults import Faults
from devices.interface import DEFAULT_MAX_FILEMARKS, MAX_FILEMARKS_LIMIT
from devices.stored.volume import StoreSettings
from rmtd.access import AccessConfig
from rmtd.access_config import check_access
from rmtd.devspec import Qualifiers, parse_qualifiers
from rmtd.faults_config import check_faults
from rmtd.protocol import DEFAULT_MAX_RECORD, MAX_RECORD_LIMIT, LseekOrder
from rmtd.stores_config import check_stores
from rmtd.toml_lines import find_entry_line, find_line

DEFAULT_CONFIG = "/etc/rmtd.toml"
CONFIG_ENV = "RMTD_CONFIG"
STATE_DIR_NAME = ".rmtd"
DRIVE_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*:?\Z")
"""A drive name: a letter, ``_`` or ``$`` first (so it never reads as an mt count)."""

_TOP_KEYS = (
    "root",
    "max_record",
    "max_filemarks",
    "sync",
    "lseek_order",
    "assist_timeout",
    "state_dir",
    "defaults",
    "drives",
    "access",
    "faults",
    "stores",
)
SYNC_CHOICES = tuple(level.value for level in SyncLevel)
"""The values of ``sync`` (and ``--sync``)."""
_DRIVE_KEYS = ("image", "device", "qualifiers")


class ConfigError(Exception):
    """A configuration that cannot be used; ``str()`` is one line naming file, line and key."""


@dataclass(frozen=True, slots=True)
class DriveConfig:
    """One named drive.

    Attributes:
        name: the drive's name, lower case, without a trailing colon (``mua0``).
        image: the volume loaded before any ``vmt load``/``unload``, a name inside the root;
            ``None``: the drive starts empty.
        device: a real drive's device file (``/dev/nst0``, or a symlink to one); ``None`` for
            a virtual drive. Its ``qualifiers`` start from "do nothing" (rmtd.opener).
        qualifiers: the drive's default qualifiers, applied before the client's own.
        qualifier_text: the qualifiers as written in the configuration.
    """

    name: str
    image: str | None = None
    device: str | None = None
    qualifiers: Qualifiers = field(default_factory=Qualifiers)
    qualifier_text: str = ""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """The server's settings, from the configuration file and the command line.

    Attributes:
        root: every device name resolves inside this directory; ``None``: as GNU rmt.
        max_record: the largest ``R``/``W`` count accepted.
        max_filemarks: the most filemarks one MTWEOF may write (a larger count: ENOSPC).
        sync: which replies wait for written data to reach the disk (devices.durability).
        lseek_order: how to read ``L``'s two arguments.
        assist_timeout: seconds an ``/ASSIST`` open waits for an operator to load a volume.
        state_dir: where runtime drive state and operator requests live; ``None``: the
            default, ``<root>/.rmtd`` (see :attr:`state_path`).
        defaults: qualifiers applied before a named drive's and a client's own, for paths
            and named drives alike.
        drives: the named drives.
        access: the ``[access]`` table; ``None``: there is none (every open allowed).
        faults: faults to inject, by device key (``[faults."vol.tap"]``, rmtd.faults_config).
        stores: object stores holding volumes, by name (``[stores.vault]``, rmtd.stores_config).
        source: the file the configuration came from, for messages (``""``: none).
    """

    root: str | None = None
    max_record: int = DEFAULT_MAX_RECORD
    max_filemarks: int = DEFAULT_MAX_FILEMARKS
    sync: SyncLevel = SyncLevel.CLOSE
    lseek_order: LseekOrder = "auto"
    assist_timeout: float = 600.0
    state_dir: str | None = None
    defaults: Qualifiers = field(default_factory=Qualifiers)
    drives: tuple[DriveConfig, ...] = ()
    access: AccessConfig | None = None
    faults: Mapping[str, Faults] = field(default_factory=dict)
    stores: Mapping[str, StoreSettings] = field(default_factory=dict)
    source: str = ""

    @property
    def state_path(self) -> str | None:
        """The state directory in effect: ``state_dir``, else ``<root>/.rmtd``, else ``None``."""
        if self.state_dir is not None:
            return self.state_dir
        return os.path.join(self.root, STATE_DIR_NAME) if self.root is not None else None

    def drive(self, name: str) -> DriveConfig | None:
        """Return the drive ``name`` names (any case, trailing colon or not), or ``None``."""
        key = drive_key(name)
        return next((d for d in self.drives if d.name == key), None)

    def check_drives(self) -> None:
        """Check that named drives have somewhere to live.

        Raises:
            ConfigError: drives are configured but there is no root (images resolve in it).
        """
        if self.drives and self.root is None:
            where = f"{self.source}: " if self.source else ""
            raise ConfigError(f"{where}root: named drives need a root (set root or give --root)")


def drive_key(name: str) -> str | None:
    """Normalize a drive name (``MUA0:`` → ``mua0``); ``None`` if it cannot name a drive."""
    if not DRIVE_NAME.match(name):
        return None
    return name.removesuffix(":").lower()


def default_config_path(environ: Mapping[str, str]) -> str | None:
    """The configuration file to read when none is given: ``$RMTD_CONFIG``, else the default."""
    chosen = environ.get(CONFIG_ENV)
    if chosen:
        return chosen
    return DEFAULT_CONFIG if os.path.exists(DEFAULT_CONFIG) else None


def read_config(path: str | None, environ: Mapping[str, str]) -> ServerConfig:
    """Read the configuration named by ``--config`` (``path``), else the default file, if any.

    Returns:
        The configuration; the defaults when no file is named and the default is absent.

    Raises:
        ConfigError: as :func:`load_config`.
    """
    chosen = path or default_config_path(environ)
    return load_config(chosen) if chosen else ServerConfig()


def load_config(path: str) -> ServerConfig:
    """Read and check the configuration file at ``path``.

    Raises:
        ConfigError: the file cannot be read, is not TOML, or holds a bad setting.
    """
    text = read_toml_file(path, "the configuration")
    return parse_config(text, path, os.path.dirname(os.path.abspath(path)))


def read_toml_file(path: str, what: str) -> str:
    """The text of a TOML file a user wrote (``what`` it is, for the message).

    Raises:
        ConfigError: it cannot be read (missing, unreadable, not UTF-8).
    """
    try:
        with open(path, encoding="utf-8") as src:
            return src.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{path}: cannot read {what}: {reason}") from None


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """``text`` parsed as TOML.

    Raises:
        ConfigError: it is not TOML (the message says where, as tomllib does).
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None


def parse_config(text: str, source: str = "<config>", base_dir: str = ".") -> ServerConfig:
    """Parse configuration ``text``; relative directories are taken from ``base_dir``.

    Raises:
        ConfigError: the text is not TOML, or holds an unknown key, a wrong type or a bad value.
    """
    return _Checker(text, source, base_dir).server(parse_toml(text, source))


class TomlChecker:
    """Checks parsed TOML, with what it needs to name the line of a bad key.

    The base of every checker of a TOML file users write (this configuration, ``vmt synth``
    specs): errors name the file, the line and the key the same way.

    Args:
        text: the file's text (for the line numbers).
        source: what to call the file in messages.
        base_dir: where relative paths in it start.
    """

    def __init__(self, text: str, source: str, base_dir: str) -> None:
        self.text = text
        self.source = source
        self.base_dir = base_dir

    def fail(self, path: tuple[str, ...], why: str, entry: int | None = None) -> ConfigError:
        """The error for the key at ``path`` (of array entry ``entry``, 1-based)."""
        return key_error(self.text, self.source, path, why, entry)

    def unknown(self, table: dict[str, Any], at: tuple[str, ...], known: tuple[str, ...]) -> None:
        """Refuse a key of ``table`` (at ``at``) that is not one of ``known``."""
        for key in table:
            if key not in known:
                raise self.fail((*at, key), f"unknown key (known: {', '.join(known)})")


class _Checker(TomlChecker):
    """Checks the server's configuration."""

    def server(self, data: dict[str, Any]) -> ServerConfig:
        self.unknown(data, (), _TOP_KEYS)
        root = self.directory(data, "root", must_exist=True)
        max_record = self.integer(data, "max_record", DEFAULT_MAX_RECORD, MAX_RECORD_LIMIT)
        order = data.get("lseek_order", "auto")
        if order not in get_args(LseekOrder):
            choices = ", ".join(f'"{c}"' for c in get_args(LseekOrder))
            raise self.fail(("lseek_order",), f"{order!r} is not one of {choices}")
        defaults = self.qualifiers(data, ("defaults",), Qualifiers(), max_record)
        sync = data.get("sync", SyncLevel.CLOSE.value)
        if sync not in SYNC_CHOICES:
            choices = ", ".join(f'"{c}"' for c in SYNC_CHOICES)
            raise self.fail(("sync",), f"{sync!r} is not one of {choices}")
        return ServerConfig(
            root=root,
            max_record=max_record,
            max_filemarks=self.integer(
                data, "max_filemarks", DEFAULT_MAX_FILEMARKS, MAX_FILEMARKS_LIMIT
            ),
            sync=SyncLevel(sync),
            lseek_order=order,
            assist_timeout=self.seconds(data, "assist_timeout", 600.0),
            state_dir=self.directory(data, "state_dir", must_exist=False),
            defaults=defaults,
            drives=(drives := self.drives(data.get("drives", {}), (defaults, max_record))),
            access=check_access(data["access"], self.fail, self.base_dir)
            if "access" in data
            else None,
            faults=check_faults(data.get("faults", {}), self.fail, _drive_in(drives)),
            stores=check_stores(data.get("stores", {}), self.fail, self.base_dir),
            source=self.source,
        )

    def qualifiers(
        self, table: dict[str, Any], at: tuple[str, ...], base: Qualifiers, max_record: int
    ) -> Qualifiers:
        text = self.string(table, at) or ""
        try:
            qualifiers = parse_qualifiers(text, base)
        except OSError as exc:
            raise self.fail(at, str(exc.strerror)) from None
        if qualifiers.blocksize is not None and qualifiers.blocksize > max_record:
            raise self.fail(at, f"/blocksize exceeds max_record {max_record}")
        return qualifiers

    def string(self, table: dict[str, Any], at: tuple[str, ...]) -> str | None:
        value = table.get(at[-1])
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(at, f"expected a string, got {_kind(value)}")
        if not value:
            raise self.fail(at, "must not be empty")
        return value

    def directory(self, data: dict[str, Any], key: str, must_exist: bool) -> str | None:
        value = self.string(data, (key,))
        if value is None:
            return None
        path = os.path.normpath(os.path.join(self.base_dir, os.path.expanduser(value)))
        if must_exist and not os.path.isdir(path):
            raise self.fail((key,), f"{value}: not an existing directory")
        return path

    def integer(self, data: dict[str, Any], key: str, default: int, top: int) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail((key,), f"expected an integer, got {_kind(value)}")
        if not 1 <= value <= top:
            raise self.fail((key,), f"{value} is out of range 1..{top}")
        return value

    def seconds(self, data: dict[str, Any], key: str, default: float) -> float:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail((key,), f"expected a number of seconds, got {_kind(value)}")
        if not math.isfinite(value) or value < 0:
            raise self.fail((key,), f"{value} is not a number of seconds >= 0")
        return float(value)

    def drives(self, table: object, limits: tuple[Qualifiers, int]) -> tuple[DriveConfig, ...]:
        if not isinstance(table, dict):
            raise self.fail(("drives",), f"expected a table of drives, got {_kind(table)}")
        drives: dict[str, DriveConfig] = {}
        for name, entry in table.items():
            drive = self.drive(name, entry, limits)
            if drive.name in drives:
                raise self.fail(("drives", name), f"drive {drive.name} is named twice")
            drives[drive.name] = drive
        return tuple(drives.values())

    def drive(self, name: str, entry: object, limits: tuple[Qualifiers, int]) -> DriveConfig:
        at = ("drives", name)
        key = drive_key(name)
        if key is None:
            raise self.fail(at, "not a drive name (a letter, _ or $, then letters, digits, _$-)")
        if not isinstance(entry, dict):
            raise self.fail(at, f"expected a table ([drives.{name}]), got {_kind(entry)}")
        self.unknown(entry, at, _DRIVE_KEYS)
        image = self.string(entry, (*at, "image"))
        device = self.string(entry, (*at, "device"))
        if image is not None and device is not None:
            raise self.fail((*at, "device"), "a drive has either an image or a device, not both")
        if image is not None and (os.path.isabs(image) or ".." in image.split("/")):
            raise self.fail((*at, "image"), f"{image}: must be a name inside root")
        defaults, max_record = limits
        qualifiers = self.qualifiers(entry, (*at, "qualifiers"), defaults, max_record)
        text = self.string(entry, (*at, "qualifiers")) or ""
        return DriveConfig(key, image, device, qualifiers, text)


def key_error(
    text: str, source: str, path: tuple[str, ...], why: str, entry: int | None = None
) -> ConfigError:
    """The error for key ``path`` of the TOML ``text`` read from ``source``: file, line, key.

    ``entry``: the key is in the ``entry``-th (1-based) table of an array of tables.
    """
    if entry is None:
        line, name = find_line(text, path), ".".join(path)
    else:
        line, name = find_entry_line(text, path, entry), f"{'.'.join(path)} #{entry}"
    where = f"{source}, line {line}" if line else source
    return ConfigError(f"{where}: {name}: {why}")


def _drive_in(drives: tuple[DriveConfig, ...]) -> Callable[[str], str | None]:
    """Which of ``drives`` a name means (its key), else ``None``."""
    names = {d.name for d in drives}

    def find(name: str) -> str | None:
        key = drive_key(name)
        return key if key in names else None

    return find


def _kind(value: object) -> str:
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    if isinstance(value, dict | list):
        return "a table" if isinstance(value, dict) else "a list"
    return f"{kinds.get(type(value), type(value).__name__)} ({value!r})"
