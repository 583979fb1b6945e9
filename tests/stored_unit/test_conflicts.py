"""Two writers of one volume: a lost lease and a changed manifest stop the late one with EIO."""

from __future__ import annotations

import errno
import time
from pathlib import Path

import pytest

from devices.interface import MtOp
from devices.stored.lease import LeaseRecord
from devices.stored.manifest import Chunk
from tests.stored_unit.memory_store import MemoryStore
from tests.stored_unit.volumes import (
    READ,
    at_end,
    crash,
    manifest_of,
    new_store,
    open_volume,
    opening,
    read_from_start,
    records,
    write_all,
)

LEASE = "site1/vol1.tap/lease"
MANIFEST = "site1/vol1.tap/manifest"


def test_a_writer_whose_lease_was_taken_over_writes_nothing_more(tmp_path: Path) -> None:
    objects = MemoryStore()
    store = new_store(tmp_path, objects)
    drive = open_volume(store)
    write_all(drive, [*records(2), None, *records(1, tag=9)])  # the last only in the spool
    # Host 1 stalled past its lease; host 2 took it over (and holds it).
    objects.put(LEASE, LeaseRecord("host1 stalled", time.time() - 1).encode())
    other = open_volume(new_store(tmp_path, objects, "host2"), options=READ)
    opening(drive).lease.renew()
    with pytest.raises(OSError) as refused:
        drive.write(b"late" * 100)
    assert refused.value.errno == errno.EIO
    assert "another opener took the lease over" in str(refused.value)
    manifest = objects.get(MANIFEST)
    with pytest.raises(OSError) as refused:
        drive.close()  # its close commits nothing either
    assert refused.value.errno == errno.EIO
    assert objects.get(MANIFEST) == manifest
    assert store.spool_of("vol1.tap").exists()  # what it had acknowledged is kept
    lease = objects.get(LEASE)
    assert lease is not None
    assert LeaseRecord.decode(lease[0]).holder == opening(other).lease.holder
    assert read_from_start(other, 3) == [*records(2), None]
    other.close()


def test_a_manifest_changed_since_the_open_is_not_overwritten(tmp_path: Path) -> None:
    objects = MemoryStore()
    store = new_store(tmp_path, objects)
    drive = open_volume(store)
    write_all(drive, [*records(2), None, *records(2, tag=4)])
    # Another writer (past an expired lease) committed meanwhile.
    theirs = manifest_of(store)
    theirs.generation += 1
    theirs.token = "theirs"
    theirs.chunks.append(Chunk("theirs", theirs.size, 10))  # their data, not ours
    objects.put(MANIFEST, theirs.encode())
    with pytest.raises(OSError) as refused:
        drive.ioctl(MtOp.MTWEOF, 1)
    assert refused.value.errno == errno.EIO
    spool = store.spool_of("vol1.tap")
    assert "the volume's manifest changed since this open read it" in str(refused.value)
    assert f"stays in the spool {spool.path}" in str(refused.value)
    assert manifest_of(store).token == "theirs"
    crash(drive, objects)
    assert spool.exists()
    with pytest.raises(OSError) as refused:  # and the next open does not upload it either
        open_volume(new_store(tmp_path, objects), options=READ)
    assert refused.value.errno == errno.EIO
    assert manifest_of(store).token == "theirs"


def test_a_crash_after_a_write_in_the_middle_recovers_the_cut_volume(tmp_path: Path) -> None:
    objects = MemoryStore()
    store = new_store(tmp_path, objects)
    drive = open_volume(store)
    write_all(drive, [*records(12), None])
    drive.close()
    drive = open_volume(store)
    drive.ioctl(MtOp.MTREW, 1)
    drive.ioctl(MtOp.MTFSR, 5)
    new = records(4, tag=60)
    write_all(drive, new)
    crash(drive, objects)
    assert len(manifest_of(store).index) == 13  # the store still has the old volume
    reader = open_volume(new_store(tmp_path, objects), options=READ)
    assert read_from_start(reader, 9) == [*records(5), *new]
    assert at_end(reader)
    reader.close()
    assert manifest_of(store).volume.incomplete == [0]
