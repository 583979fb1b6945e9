"""What the stored-volume tests share: a Store over a memory store, opens, writes, reads."""

from __future__ import annotations

import errno
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from devices.drive import VirtualTapeDrive
from devices.interface import MtOp, OpenOptions
from devices.kinds import DeviceKind
from devices.stored.lease import Lease, LeaseRecord
from devices.stored.manifest import Manifest
from devices.stored.objects import ObjectStore
from devices.stored.volume import Store, StoreSettings
from tests.stored_unit.memory_store import MemoryStore

CHUNK = 1000
"""A small chunk size: a few records per chunk."""
SUFFIX = {DeviceKind.SIMH: ".tap", DeviceKind.AWS: ".aws", DeviceKind.HET: ".het"}
WRITE = OpenOptions(write=True, create=True)
READ = OpenOptions()


def new_store(
    tmp_path: Path, objects: ObjectStore, host: str = "host1", chunk_size: int = CHUNK
) -> Store:
    """A Store over ``objects`` with ``host``'s own spool and cache under ``tmp_path``."""
    settings = StoreSettings(
        name="vault",
        address=objects.address,
        chunk_size=chunk_size,
        spool_dir=str(tmp_path / host / "spool"),
        cache_dir=str(tmp_path / host / "cache"),
        cache_size=1 << 20,
        lease_seconds=3600.0,  # never renewed during a test; a crash expires it by hand
    )
    return Store(settings, objects)


def open_volume(
    store: Store, kind: DeviceKind = DeviceKind.SIMH, options: OpenOptions = WRITE
) -> VirtualTapeDrive:
    """Open ``vol1`` (with the suffix of ``kind``) as the server would."""
    volume = "vol1" + SUFFIX[kind]
    return store.open_volume(volume, options, kind, f"vault/{volume}")


def manifest_of(store: Store, kind: DeviceKind = DeviceKind.SIMH) -> Manifest:
    """The volume's manifest as it is in the store."""
    found = store.manifest("vol1" + SUFFIX[kind])
    assert found is not None
    return found[0]


def records(count: int, size: int = 300, tag: int = 0) -> list[bytes]:
    """``count`` distinct records of ``size`` bytes that do not compress (HET compresses)."""
    return [random.Random(tag + i).randbytes(size) for i in range(count)]


def write_all(drive: VirtualTapeDrive, objects: Sequence[bytes | None]) -> None:
    """Write each record, and a filemark for each ``None``."""
    for item in objects:
        if item is None:
            drive.ioctl(MtOp.MTWEOF, 1)
        else:
            assert drive.write(item) == len(item)


def read_objects(drive: VirtualTapeDrive, count: int) -> list[bytes | None]:
    """The next ``count`` objects from the drive (``None`` for a filemark)."""
    found: list[bytes | None] = []
    buffer = bytearray(1 << 16)
    for _ in range(count):
        n = drive.readinto(memoryview(buffer))
        found.append(bytes(buffer[:n]) if n else None)
    return found


def read_from_start(drive: VirtualTapeDrive, count: int) -> list[bytes | None]:
    """Rewind (a volume opens where its last user left it), then :func:`read_objects`."""
    drive.ioctl(MtOp.MTREW, 1)
    return read_objects(drive, count)


def at_end(drive: VirtualTapeDrive) -> bool:
    """Whether the next read meets the end of data (EIO; after a filemark, one 0 first)."""
    buffer = bytearray(16)
    for _ in range(2):
        try:
            if drive.readinto(memoryview(buffer)):
                return False
        except OSError as exc:
            return exc.errno == errno.EIO
    return False


def opening(drive: VirtualTapeDrive) -> Any:
    """The open behind ``drive`` (``devices.stored.volume._OpenVolume``: its lease, storage)."""
    return drive._on_close.__self__  # type: ignore[attr-defined]


def crash(drive: VirtualTapeDrive, objects: MemoryStore) -> None:
    """The writing process dies: no close, no commit; its lease runs out.

    Its descriptors close and its threads stop (a dead process keeps neither); its spool
    stays as the last ``write`` left it; its lease object stays until it expires, which is
    made to have happened by writing it expired.
    """
    open_volume_ = opening(drive)
    lease: Lease = open_volume_.lease
    lease._stop.set()
    if lease._thread is not None:
        lease._thread.join()
    if open_volume_.storage is not None:
        open_volume_.storage.close()
    expire_lease(objects, lease.key)


def expire_lease(objects: MemoryStore, key: str) -> None:
    """Make the lease at ``key`` one that expired a minute ago (its holder stalled or died)."""
    objects.put(key, LeaseRecord("a dead host pid 1", time.time() - 60).encode())
