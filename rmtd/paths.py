"""Path policy: which files a client's name may reach, decided in one place.

A name whose first component is a configured object store's (``vault/vol1.tap``) is a
volume in that store (:meth:`PathPolicy.stored`). Every other name a client or an operator
gives resolves inside the served root: ``..`` components
and symlinks leading out of it are refused, as are the server's own state directory and the
files kept beside images (state and index: through them a client could clear a volume's write
protection or corrupt its index without taking the image's lock). FIFOs and sockets are
refused too: opening one would block the session.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass

from devices.errors import tape_error
from devices.vtape import SIDE_FILES


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


@dataclass(frozen=True, slots=True)
class PathPolicy:
    """Where names resolve and what they may not reach.

    Attributes:
        root: every name resolves inside this directory; ``None``: names as GNU rmt takes
            them (relative to the working directory), as ``vmt`` on a local image does.
        state_dir: the server's own state (drives, operator requests): no name may lead
            inside it.
    """

    root: str | None = None
    state_dir: str | None = None
    stores: frozenset[str] = frozenset()
    """Names of the configured object stores: ``vault/vol1.tap`` is a volume in ``vault``."""

    def stored(self, name: str) -> tuple[str, str] | None:
        """The store and the volume ``name`` stands for, or ``None`` for a name not in one.

        A name in a store is its name, a slash and the volume's name (``vault/vol1.tap``,
        ``vault/site/vol1.tap``); it never reaches the local file system.

        Raises:
            OSError: EACCES for a volume name with an empty, ``.`` or ``..`` component.
        """
        first, slash, volume = name.partition("/")
        if not slash or first not in self.stores:
            return None
        if any(part in ("", ".", "..") for part in volume.split("/")):
            raise tape_error(errno.EACCES, f"{name}: not a volume name in store {first}")
        return first, volume

    def resolve(self, name: str) -> str:
        """The path ``name`` stands for, after every check of this policy.

        Raises:
            OSError: EACCES outside the root, inside the state directory or for a side file;
                ENXIO for a FIFO or socket; ENOENT for an empty name.
        """
        path = resolve_in_root(self.root, name)
        self.refuse_state_dir(path, name)
        refuse_side_file(path, name)
        return path

    def refuse_state_dir(self, path: str, name: str) -> None:
        """Refuse a ``path`` inside the server's state directory (EACCES)."""
        if self.state_dir is None:
            return
        state = os.path.realpath(self.state_dir)
        real = os.path.realpath(path)
        if real == state or os.path.commonpath([real, state]) == state:
            raise tape_error(errno.EACCES, f"{name}: reserved for the server's drive state")


def refuse_side_file(path: str, name: str) -> None:
    """Refuse the files kept beside images (EACCES), and FIFOs and sockets (ENXIO)."""
    if path.endswith(SIDE_FILES):
        raise tape_error(errno.EACCES, f"{name}: reserved for the server's drive state")
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # missing (may be created) or unreadable: the open says what is wrong
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        raise tape_error(errno.ENXIO, f"{name}: not a file or a device that can be served")
