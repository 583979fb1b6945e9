"""The local spool of a stored volume: acknowledged bytes that are not yet in the store.

One directory per volume under ``spool_dir`` (named by a digest of the store, bucket and key),
holding:

* ``seg-<offset>`` files: consecutive runs of the image from ``base.start`` on, each to become
  one chunk object. A record is appended to the last one with one ``write`` call before its
  ``A`` (so the crash guarantee of a local image holds: a record acknowledged is in a file).
* ``base.json``: what the segments extend: the ETag of the manifest they were written after
  (``None`` for a volume the store has no manifest of yet), how many of its chunks are kept
  (fewer when a write began in the middle of the tape), the image offset where the first
  segment starts, and, while a manifest is being written, the token of that manifest: after a
  crash, a manifest in the store carrying that token proves the commit landed. ``data`` is the
  :func:`~devices.stored.manifest.data_digest` of that manifest: a manifest another host wrote
  since that changed only the position or labels (a read moves the position) still has it,
  and the spool still follows it.

The spool directory is created when a write begins and removed when everything in it is in the
store. Nothing else writes there.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
from dataclasses import asdict, dataclass

from devices.atomic import read_no_follow, write_atomically
from devices.errors import tape_error

BASE = "base.json"
SEGMENT_PREFIX = "seg-"


@dataclass
class SpoolBase:
    """What ``base.json`` says (see the module's docstring)."""

    volume: str
    etag: str | None = None
    kept_chunks: int = 0
    start: int = 0
    committing: str | None = None
    data: str | None = None


def spool_path(spool_dir: str, store_id: str, volume_key: str) -> str:
    """The spool directory of one volume (a digest: keys may hold any characters)."""
    digest = hashlib.sha256(f"{store_id}\0{volume_key}".encode()).hexdigest()[:32]
    return os.path.join(spool_dir, digest)


def segment_name(start: int) -> str:
    """The file name of the segment starting at image offset ``start``."""
    return f"{SEGMENT_PREFIX}{start:016x}"


class SpoolDir:
    """One volume's spool directory."""

    def __init__(self, path: str, volume: str) -> None:
        self.path = path
        self.volume = volume

    def exists(self) -> bool:
        """Whether the spool holds anything (a base or a segment)."""
        return os.path.isdir(self.path) and bool(os.listdir(self.path))

    def load_base(self) -> SpoolBase:
        """Read ``base.json``.

        Raises:
            OSError: EIO for a base that cannot be read (kept as it is, with the segments).
        """
        try:
            data = json.loads(read_no_follow(os.path.join(self.path, BASE)))
            base = SpoolBase(**data)
        except FileNotFoundError:
            raise tape_error(errno.EIO, self._unreadable("it has no base.json")) from None
        except (OSError, ValueError, TypeError) as exc:
            raise tape_error(errno.EIO, self._unreadable(f"base.json: {exc}")) from None
        if base.volume != self.volume:
            raise tape_error(errno.EIO, self._unreadable(f"it belongs to {base.volume}"))
        return base

    def _unreadable(self, why: str) -> str:
        return f"{self.volume}: the local spool {self.path} is not usable ({why}); kept as it is"

    def save_base(self, base: SpoolBase) -> None:
        """Write ``base.json`` atomically (the directory synced too: it must survive a crash)."""
        os.makedirs(self.path, mode=0o700, exist_ok=True)
        text = json.dumps(asdict(base)) + "\n"
        write_atomically(os.path.join(self.path, BASE), [text.encode()], 0o600, sync_dir=True)

    def segments(self) -> list[tuple[int, str]]:
        """The segment files as (image offset, path), in order."""
        found = []
        for name in os.listdir(self.path):
            if name.startswith(SEGMENT_PREFIX):
                try:
                    start = int(name[len(SEGMENT_PREFIX) :], 16)
                except ValueError:
                    continue
                found.append((start, os.path.join(self.path, name)))
        return sorted(found)

    def open_segment(self, start: int) -> int:
        """Create (or empty) the segment starting at ``start``; returns its descriptor."""
        os.makedirs(self.path, mode=0o700, exist_ok=True)
        path = os.path.join(self.path, segment_name(start))
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)

    def remove_segment(self, start: int) -> None:
        """Delete the segment starting at ``start`` (its bytes are in the store, or cut)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.path, segment_name(start)))

    def remove(self) -> None:
        """Delete the spool: everything in it is in the store."""
        if not os.path.isdir(self.path):
            return
        for name in os.listdir(self.path):
            if name == BASE or name.startswith(SEGMENT_PREFIX):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.path, name))
        with contextlib.suppress(OSError):
            os.rmdir(self.path)
