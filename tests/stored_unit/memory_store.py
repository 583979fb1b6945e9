"""An in-memory :class:`~devices.stored.objects.ObjectStore`: a dict, S3's rules, no network.

ETags are quoted MD5 digests of the bytes, as S3 gives for a single-part PUT; ``put_if``
follows S3's conditional writes: ``If-None-Match: *`` fails when the key exists, ``If-Match``
when its ETag is not the current one (both a 412, raised as :class:`ConflictError`); an
``If-Match`` on a missing key is S3's 404 (ENOENT). Calls are
counted, and a test may make the next calls of one kind fail (``fail_next``).
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator

from devices.errors import tape_error
from devices.stored.objects import ConflictError, StoreAddress, StoredObject


def etag_of(data: bytes | memoryview) -> str:
    """The ETag S3 gives a single-part upload of ``data``: its quoted MD5."""
    return f'"{hashlib.md5(bytes(data)).hexdigest()}"'


class MemoryStore:
    """A dict of key -> (bytes, ETag) behind the ``ObjectStore`` calls (thread-safe)."""

    def __init__(self, address: StoreAddress | None = None) -> None:
        self.address = address or StoreAddress("tapes", "site1")
        self.objects: dict[str, tuple[bytes, str, float]] = {}
        self.calls: Counter[str] = Counter()
        self.failing: dict[str, int] = {}
        """Call name -> how many of the next such calls fail with EIO."""
        self.now: float | None = None
        """The modification time given to what is put; ``None``: the clock's."""
        self.deleted: list[str] = []
        """The keys deleted, in order."""
        self._lock = threading.Lock()

    def fail_next(self, call: str, times: int = 1) -> None:
        """Make the next ``times`` calls of ``call`` ("put", "put_if"...) fail with EIO."""
        self.failing[call] = times

    def _enter(self, call: str, key: str) -> None:
        self.calls[call] += 1
        if self.failing.get(call, 0) > 0:
            self.failing[call] -= 1
            raise tape_error(errno.EIO, f"{self.address.bucket}/{key}: {call} failed (test)")

    def keys_under(self, prefix: str = "") -> list[str]:
        """The keys under ``prefix``, sorted."""
        with self._lock:
            return sorted(k for k in self.objects if k.startswith(prefix))

    def get(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and ETag, or ``None``."""
        with self._lock:
            self._enter("get", key)
            found = self.objects.get(key)
        return None if found is None else (found[0], found[1])

    def put(self, key: str, data: bytes | memoryview) -> str:
        """Store ``data`` unconditionally."""
        with self._lock:
            self._enter("put", key)
            return self._store(key, bytes(data))

    def put_file(self, key: str, fd: int, length: int) -> str:
        """Store ``length`` bytes of ``fd`` (read whole: this store is memory)."""
        return self.put(key, os.pread(fd, length, 0))

    def download(self, key: str, length: int, fd: int) -> None:
        """Write the object to ``fd``; EIO unless it is ``length`` bytes, ENOENT if missing."""
        with self._lock:
            self._enter("download", key)
            found = self.objects.get(key)
        if found is None:
            raise tape_error(errno.ENOENT, f"{self.address.bucket}/{key}: not in the store")
        if len(found[0]) != length:
            raise tape_error(errno.EIO, f"{self.address.bucket}/{key}: not {length} bytes")
        os.write(fd, found[0])

    def put_if(self, key: str, data: bytes, etag: str | None) -> str:
        """S3's conditional PUT: 412 (ConflictError) unless the condition holds."""
        with self._lock:
            self._enter("put_if", key)
            found = self.objects.get(key)
            if etag is None and found is not None:
                raise ConflictError(key)
            if etag is not None and found is None:
                # S3 answers If-Match on a missing key 404 NoSuchKey, which S3Objects reports
                # as ENOENT (not a lost race).
                raise tape_error(errno.ENOENT, f"{self.address.bucket}/{key}: not in the store")
            if etag is not None and found is not None and found[1] != etag:
                raise ConflictError(key)
            return self._store(key, bytes(data))

    def _store(self, key: str, data: bytes) -> str:
        tag = etag_of(data)
        self.objects[key] = (data, tag, time.time() if self.now is None else self.now)
        return tag

    def delete(self, key: str) -> None:
        """Remove ``key`` (no error if it is gone)."""
        with self._lock:
            self._enter("delete", key)
            self.objects.pop(key, None)
            self.deleted.append(key)

    def list(self, prefix: str) -> Iterator[StoredObject]:
        """Every object under ``prefix``, in key order."""
        with self._lock:
            self.calls["list"] += 1
            found = sorted((k, v) for k, v in self.objects.items() if k.startswith(prefix))
        for key, (data, _, modified) in found:
            yield StoredObject(key, len(data), modified)
