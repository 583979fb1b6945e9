"""A writer that never closed: the next open on its host uploads its spool, or refuses it."""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from devices.interface import MtOp
from devices.kinds import DeviceKind
from devices.stored.volume import Store
from tests.stored_unit.memory_store import MemoryStore
from tests.stored_unit.volumes import (
    READ,
    SUFFIX,
    at_end,
    crash,
    manifest_of,
    new_store,
    open_volume,
    read_from_start,
    records,
    write_all,
)


def crashed_writer(tmp_path: Path, objects: MemoryStore, data: Sequence[bytes | None]) -> Store:
    """Host 1 writes ``data`` into a new volume and dies without closing; its Store."""
    store = new_store(tmp_path, objects)
    drive = open_volume(store)
    write_all(drive, data)
    crash(drive, objects)
    return store


def test_the_next_open_uploads_what_the_spool_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    objects = MemoryStore()
    data: list[bytes | None] = [*records(3), None, *records(7, tag=10)]
    store = crashed_writer(tmp_path, objects, data)
    manifest = manifest_of(store)
    assert len(manifest.index) == 4  # only the filemark's commit is in the store
    assert store.spool_of("vol1.tap").exists()
    with caplog.at_level(logging.WARNING, "devices.stored.volume"):
        drive = open_volume(new_store(tmp_path, objects), options=READ)  # the process restarted
    assert "uploading 7 objects" in caplog.text
    assert read_from_start(drive, 11) == data
    assert at_end(drive)
    drive.close()
    recovered = manifest_of(store)
    assert len(recovered.index) == 11
    assert recovered.volume.incomplete == [4]  # the file its writer never finished
    assert recovered.generation == manifest.generation + 2  # the recovery, then the reader's
    assert not store.spool_of("vol1.tap").exists()


def test_a_volume_whose_first_commit_never_happened_is_created_by_the_recovery(
    tmp_path: Path,
) -> None:
    objects = MemoryStore()
    store = crashed_writer(tmp_path, objects, records(5))
    assert store.manifest("vol1.tap") is None
    drive = open_volume(new_store(tmp_path, objects), options=READ)
    assert read_from_start(drive, 5) == records(5)
    drive.close()
    assert manifest_of(store).volume.incomplete == [0]


def test_a_torn_last_record_is_cut(tmp_path: Path) -> None:
    objects = MemoryStore()
    store = crashed_writer(tmp_path, objects, [*records(2), None, *records(2, tag=5)])
    spool = store.spool_of("vol1.tap")
    _, last = spool.segments()[-1]
    with open(last, "ab") as segment:  # the next record's write, cut short by the crash
        segment.write((300).to_bytes(4, "little") + b"half a record")
    drive = open_volume(new_store(tmp_path, objects), options=READ)
    assert read_from_start(drive, 5) == [*records(2), None, *records(2, tag=5)]
    assert at_end(drive)
    drive.close()
    manifest = manifest_of(store)
    assert manifest.index.end == manifest.size  # the torn bytes were not uploaded
    assert not spool.exists()


def test_damage_inside_the_spool_is_refused_and_kept(tmp_path: Path) -> None:
    objects = MemoryStore()
    store = crashed_writer(tmp_path, objects, records(2))
    spool = store.spool_of("vol1.tap")
    _, first = spool.segments()[0]
    with open(first, "r+b") as segment:
        segment.seek(4 + 300)  # the first record's trailing length word
        segment.write(b"\xff\xff\xff\x7f")
    with pytest.raises(OSError) as refused:
        open_volume(new_store(tmp_path, objects), options=READ)
    assert refused.value.errno == errno.EIO
    assert f"the local spool {spool.path} is damaged at offset" in str(refused.value)
    assert spool.exists()
    assert store.manifest("vol1.tap") is None


def test_a_spool_behind_another_hosts_write_is_refused_and_kept(tmp_path: Path) -> None:
    objects = MemoryStore()
    store = new_store(tmp_path, objects)
    drive = open_volume(store)
    write_all(drive, [*records(2), None])
    write_all(drive, records(3, tag=20))  # in host 1's spool only
    crash(drive, objects)
    other = open_volume(new_store(tmp_path, objects, "host2"))  # its lease expired
    other.ioctl(MtOp.MTEOM, 1)
    write_all(other, [*records(1, tag=40), None])
    other.close()
    written = objects.get("site1/vol1.tap/manifest")
    spool = store.spool_of("vol1.tap")
    kept = {path: os.path.getsize(path) for _, path in spool.segments()}
    with pytest.raises(OSError) as refused:
        open_volume(new_store(tmp_path, objects), options=READ)
    assert refused.value.errno == errno.EIO
    assert f"the local spool {spool.path} holds records written after" in str(refused.value)
    assert "kept as it is, not uploaded" in str(refused.value)
    assert {path: os.path.getsize(path) for _, path in spool.segments()} == kept
    assert objects.get("site1/vol1.tap/manifest") == written
    assert objects.get("site1/vol1.tap/lease") is not None
    # The refusal released the lease: host 2 can open the volume again.
    open_volume(new_store(tmp_path, objects, "host2"), options=READ).close()


class _LostAnswer(MemoryStore):
    """A store whose answer to the next manifest PUT is lost (the PUT itself lands)."""

    lose = False

    def put_if(self, key: str, data: bytes, etag: str | None) -> str:
        tag = super().put_if(key, data, etag)
        if self.lose and key.endswith("/manifest"):
            self.lose = False
            raise OSError(errno.EIO, f"{key}: connection reset (test)")
        return tag


def test_a_commit_that_landed_before_the_crash_is_recognized(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    objects = _LostAnswer()
    store = new_store(tmp_path, objects)
    drive = open_volume(store)
    write_all(drive, records(4))
    objects.lose = True
    with pytest.raises(OSError):
        drive.ioctl(MtOp.MTWEOF, 1)  # the manifest landed, its answer did not: then a crash
    crash(drive, objects)
    spool = store.spool_of("vol1.tap")
    assert spool.exists() and spool.load_base().committing == manifest_of(store).token
    objects.calls.clear()
    with caplog.at_level(logging.INFO, "devices.stored.volume"):
        reader = open_volume(new_store(tmp_path, objects), options=READ)
    assert "the last commit landed; the spool is no longer needed" in caplog.text
    assert objects.calls["put"] == 0  # nothing uploaded twice
    assert not spool.exists()
    assert read_from_start(reader, 5) == [*records(4), None]
    reader.close()


def test_a_commit_that_did_not_land_is_redone_by_the_recovery(tmp_path: Path) -> None:
    objects = MemoryStore()
    store = new_store(tmp_path, objects)
    drive = open_volume(store)
    write_all(drive, [*records(2), None, *records(3, tag=9)])
    objects.fail_next("put_if")  # the manifest PUT fails before reaching the store
    with pytest.raises(OSError):
        drive.ioctl(MtOp.MTWEOF, 1)
    crash(drive, objects)
    assert store.spool_of("vol1.tap").load_base().committing is not None
    reader = open_volume(new_store(tmp_path, objects), options=READ)
    assert read_from_start(reader, 7) == [*records(2), None, *records(3, tag=9), None]
    reader.close()
    assert not store.spool_of("vol1.tap").exists()


def test_records_written_after_a_commit_whose_answer_was_lost_are_not_dropped(
    tmp_path: Path,
) -> None:
    """The commit landed, its answer did not; the client wrote on, then the host crashed."""
    objects = _LostAnswer()
    store = new_store(tmp_path, objects)
    drive = open_volume(store)
    write_all(drive, records(4))
    objects.lose = True
    with pytest.raises(OSError):
        drive.ioctl(MtOp.MTWEOF, 1)
    later = records(3, tag=30)
    write_all(drive, later)  # acknowledged: in the spool
    crash(drive, objects)
    reader = open_volume(new_store(tmp_path, objects), options=READ)
    assert read_from_start(reader, 8) == [*records(4), None, *later]
    assert at_end(reader)
    reader.close()
    assert not store.spool_of("vol1.tap").exists()


def test_the_next_commit_builds_on_a_commit_whose_answer_was_lost(tmp_path: Path) -> None:
    objects = _LostAnswer()
    store = new_store(tmp_path, objects)
    drive = open_volume(store)
    write_all(drive, records(4))
    objects.lose = True
    with pytest.raises(OSError):
        drive.ioctl(MtOp.MTWEOF, 1)
    later = records(3, tag=30)
    write_all(drive, [*later, None])  # this commit finds its own last one in the store
    drive.close()
    assert manifest_of(store).generation == 2
    reader = open_volume(new_store(tmp_path, objects), options=READ)
    assert read_from_start(reader, 9) == [*records(4), None, *later, None]
    reader.close()
    assert not store.spool_of("vol1.tap").exists()


@pytest.mark.parametrize(
    ("kind", "torn"),
    [(DeviceKind.AWS, b"\x2c\x01\x00"), (DeviceKind.HET, b"\x2c\x01\x00\x00")],
)
def test_a_torn_last_block_header_is_cut_in_hercules_images(
    tmp_path: Path, kind: DeviceKind, torn: bytes
) -> None:
    objects = MemoryStore()
    store = new_store(tmp_path, objects)
    drive = open_volume(store, kind)
    data: list[bytes | None] = [*records(2), None, *records(2, tag=5)]
    write_all(drive, data)
    crash(drive, objects)
    _, last = store.spool_of("vol1" + SUFFIX[kind]).segments()[-1]
    with open(last, "ab") as segment:  # a block header cut short by the crash
        segment.write(torn)
    reader = open_volume(new_store(tmp_path, objects), kind, READ)
    assert read_from_start(reader, 5) == data
    assert at_end(reader)
    reader.close()
    manifest = manifest_of(store, kind)
    assert manifest.index.end == manifest.size
