"""An in-memory :class:`~devices.stored.objects.ObjectStore` with a clock, for unit tests."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from devices.stored.objects import ConflictError, StoreAddress, StoredObject


class MemoryObjects:
    """Objects in a dict; ``now`` is the modification time given to what is put."""

    def __init__(self, bucket: str = "tapes") -> None:
        self.address = StoreAddress(bucket)
        self.objects: dict[str, tuple[bytes, str, float]] = {}
        self.now = 0.0
        self.deleted: list[str] = []

    def _store(self, key: str, data: bytes | memoryview) -> str:
        raw = bytes(data)
        etag = f'"{hashlib.md5(raw).hexdigest()}"'
        self.objects[key] = (raw, etag, self.now)
        return etag

    def get(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and ETag."""
        found = self.objects.get(key)
        return None if found is None else (found[0], found[1])

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """Bytes of an object."""
        return self.objects[key][0][start : start + length]

    def put(self, key: str, data: bytes | memoryview) -> str:
        """Store an object."""
        return self._store(key, data)

    def put_if(self, key: str, data: bytes, etag: str | None) -> str:
        """Compare-and-swap, as S3's conditional PUT."""
        current = self.objects.get(key)
        if (current is None) != (etag is None) or (current and current[1] != etag):
            raise ConflictError(key)
        return self._store(key, data)

    def delete(self, key: str) -> None:
        """Remove an object."""
        self.objects.pop(key, None)
        self.deleted.append(key)

    def list(self, prefix: str) -> Iterator[StoredObject]:
        """The objects under ``prefix``, by key."""
        for key in sorted(self.objects):
            if key.startswith(prefix):
                data, _, modified = self.objects[key]
                yield StoredObject(key, len(data), modified)
