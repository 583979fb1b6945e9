"""Chunks read back from the store, kept on local disk and bounded in size.

Chunk objects never change once written (a new chunk always gets a new name), so a cached copy
is valid for as long as it exists: no invalidation, and any number of rmtd processes on a host
may share one cache directory. A chunk is downloaded into a temporary file and renamed into
place whole, so a reader never sees part of one. When the directory grows past its bound, the
least recently used chunks (by modification time, refreshed on use) are deleted; a process
reading one keeps its open descriptor.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import threading
import time

from devices.stored.objects import ObjectStore

log = logging.getLogger(__name__)

_PREFIX = "chunk-"


class ChunkCache:
    """A directory of cached chunks for one store.

    Args:
        path: the cache directory (created if missing).
        limit: the most bytes it may hold; 0 keeps nothing after use.
    """

    def __init__(self, path: str, limit: int) -> None:
        self.path = path
        self.limit = limit
        self._added = 0
        self._lock = threading.Lock()
        os.makedirs(path, mode=0o700, exist_ok=True)

    def file_of(self, key: str) -> str:
        """Where the chunk ``key`` is cached (a digest of its key: one name per object)."""
        return os.path.join(self.path, _PREFIX + hashlib.sha256(key.encode()).hexdigest()[:40])

    def open(self, key: str, length: int) -> int | None:
        """A descriptor on the cached chunk ``key`` if it is cached whole, else ``None``."""
        path = self.file_of(key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        size = os.fstat(fd).st_size
        if size != length:  # a damaged copy: fetched again (the store's chunk is the truth)
            os.close(fd)
            log.warning(
                "%s: cached copy of %s holds %d bytes, not %d; removed, fetched again",
                path,
                key,
                size,
                length,
            )
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used
        return fd

    def fetch(self, objects: ObjectStore, key: str, length: int) -> int:
        """Download the chunk ``key`` (``length`` bytes) into the cache; its descriptor.

        Raises:
            OSError: the store's errors (EIO for a chunk shorter or longer than the manifest
                says), the local file system's.
        """
        fd = self.open(key, length)
        if fd is not None:
            return fd
        tmp_fd, tmp = tempfile.mkstemp(prefix=".fetch-", dir=self.path)
        try:
            objects.download(key, length, tmp_fd)  # streamed: never a whole chunk in memory
            os.rename(tmp, self.file_of(key))
        except BaseException:
            os.close(tmp_fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self._grew(length)
        return tmp_fd

    def _grew(self, length: int) -> None:
        with self._lock:
            self._added += length
            if self._added < max(self.limit // 8, 1):
                return
            self._added = 0
        self.trim()

    def trim(self) -> None:
        """Delete the least recently used chunks until the cache is within its bound."""
        entries = []
        with os.scandir(self.path) as found:
            for entry in found:
                if entry.name.startswith(_PREFIX):
                    with contextlib.suppress(FileNotFoundError):
                        info = entry.stat()
                        entries.append((info.st_mtime, info.st_size, entry.path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.limit:
                break
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            total -= size
        log.debug("%s: cache trimmed to %d bytes at %s", self.path, total, time.ctime())
