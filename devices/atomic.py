"""Side files written atomically and safely: a fresh temporary file, fsync, rename.

The state and index files live beside images, in directories other users may write to. The
temporary file is created with ``O_EXCL`` under a random name (``tempfile.mkstemp``), so a
symlink planted at a predictable name cannot redirect the write elsewhere; the rename replaces
whatever is at the final name (a planted symlink included) without following it; and reads use
``O_NOFOLLOW``, so a symlink in place of a side file is never read through.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable

from devices.interface import BytesLike


def write_atomically(
    path: str,
    chunks: Iterable[BytesLike],
    mode: int = 0o644,
    owner: tuple[int, int] | None = None,
    sync_dir: bool = False,
) -> None:
    """Replace ``path`` with ``chunks`` so that readers see the old or the new file, whole.

    Args:
        path: the file to replace.
        chunks: its new content.
        mode: its permission bits.
        owner: uid and gid to give it (root only), ``None`` to leave the creator's.
        sync_dir: also fsync the directory, so that the rename itself survives a crash.

    Raises:
        OSError: from the system (ENOSPC, EACCES...); no temporary file is left behind.
    """
    folder, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder or ".")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            os.fchmod(out.fileno(), mode)
            if owner is not None:
                os.fchown(out.fileno(), *owner)
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if sync_dir:
        dir_fd = os.open(folder or ".", os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def read_no_follow(path: str) -> bytes:
    """Read the whole regular file at ``path``, refusing to follow a symlink (ELOOP).

    Raises:
        OSError: ENOENT, ELOOP for a symlink, and the system's other errors.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as src:
        return src.read()
