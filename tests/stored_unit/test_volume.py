"""Store.open_volume over the memory store: chunks, commits, reads, writes in the middle."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from devices.interface import MtOp, OpenOptions
from devices.kinds import DeviceKind
from tests.stored_unit.memory_store import MemoryStore
from tests.stored_unit.volumes import (
    CHUNK,
    READ,
    SUFFIX,
    WRITE,
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

KINDS = [DeviceKind.SIMH, DeviceKind.AWS, DeviceKind.HET]


def chunk_keys(objects: MemoryStore) -> set[str]:
    """The chunk objects in the store."""
    return {k for k in objects.keys_under("site1/") if "/chunks/" in k}


@pytest.mark.parametrize("kind", KINDS)
def test_records_across_chunks_commit_at_the_filemark_and_read_back(
    tmp_path: Path, kind: DeviceKind
) -> None:
    objects = MemoryStore()
    store = new_store(tmp_path, objects)
    data = [*records(12), None, *records(3, 2000, tag=50)]  # records larger than a chunk too
    drive = open_volume(store, kind)
    volume = "vol1" + SUFFIX[kind]
    spool = store.spool_of(volume)
    write_all(drive, data[:12])
    assert store.manifest(volume) is None  # nothing committed yet: it is all in the spool
    assert spool.exists()
    write_all(drive, [None])
    manifest = manifest_of(store, kind)
    assert manifest.generation == 1
    assert len(manifest.index) == 13 and list(manifest.index.marks) == [12]
    assert len(manifest.chunks) >= 3  # 12 records of 300 bytes, chunks of 1000
    assert all(c.length >= CHUNK for c in manifest.chunks[:-1])
    named = {f"site1/{volume}/chunks/{c.name}" for c in manifest.chunks}
    assert named == chunk_keys(objects)
    assert not spool.exists()  # everything is in the store
    write_all(drive, data[13:])
    drive.close()  # a filemark, its commit; then nothing changed since: no third commit
    manifest = manifest_of(store, kind)
    assert manifest.generation == 2
    assert len(manifest.index) == 17 and list(manifest.index.marks) == [12, 16]
    assert manifest.index.end == manifest.size
    assert not spool.exists()

    # Another host reads it back: from the store alone (its own empty cache).
    reader = open_volume(new_store(tmp_path, objects, "host2"), kind, READ)
    assert read_from_start(reader, 17) == [*data, None]
    assert at_end(reader)
    reader.close()
    after = manifest_of(store, kind)
    # A reader saves the drive's position, as beside a local image; the chunks stay.
    assert (after.generation, after.chunks, after.drive.position) == (3, manifest.chunks, 17)


def test_a_chunk_is_a_run_of_whole_records(tmp_path: Path) -> None:
    objects = MemoryStore()
    store = new_store(tmp_path, objects)
    drive = open_volume(store)
    write_all(drive, [*records(10), None])
    drive.close()
    manifest = manifest_of(store)
    starts = set(manifest.index.offsets) | {manifest.index.end}
    for chunk in manifest.chunks:
        assert chunk.start in starts and chunk.end in starts


def test_a_missing_volume_needs_create(tmp_path: Path) -> None:
    store = new_store(tmp_path, MemoryStore())
    with pytest.raises(OSError) as refused:
        open_volume(store, options=OpenOptions(write=True))
    assert refused.value.errno == errno.ENOENT
    assert str(refused.value) == "[Errno 2] vault/vol1.tap: no such volume in the store"
    with pytest.raises(OSError) as refused:
        open_volume(store, options=OpenOptions(create=True))  # create without write: no
    assert refused.value.errno == errno.ENOENT
    assert store.objects.get("site1/vol1.tap/lease") is not None  # taken, then released
    open_volume(store).close()  # the lease was released both times


def test_a_second_open_is_refused_with_ebusy(tmp_path: Path) -> None:
    objects = MemoryStore()
    first = open_volume(new_store(tmp_path, objects))
    with pytest.raises(OSError) as refused:
        open_volume(new_store(tmp_path, objects, "host2"), options=READ)
    assert refused.value.errno == errno.EBUSY
    assert "vault/vol1.tap: in use by " in str(refused.value)
    first.close()
    open_volume(new_store(tmp_path, objects, "host2")).close()


def test_a_volume_of_another_format_is_refused(tmp_path: Path) -> None:
    objects = MemoryStore()
    store = new_store(tmp_path, objects)
    drive = open_volume(store)
    write_all(drive, [b"x" * 80, None])
    drive.close()
    with pytest.raises(OSError) as refused:
        store.open_volume("vol1.tap", READ, DeviceKind.AWS, "vault/vol1.tap")
    assert refused.value.errno == errno.EMEDIUMTYPE
    assert "the store holds it as a SIMH tape image, not" in str(refused.value)


def _volume_of(
    tmp_path: Path, objects: MemoryStore, kind: DeviceKind = DeviceKind.SIMH
) -> list[str]:
    """A volume of 12 300-byte records and a filemark; its chunk names."""
    drive = open_volume(new_store(tmp_path, objects), kind)
    write_all(drive, [*records(12), None])
    drive.close()
    return [c.name for c in manifest_of(new_store(tmp_path, objects), kind).chunks]


@pytest.mark.parametrize("kind", KINDS)
def test_writing_in_the_middle_keeps_the_chunks_before_and_uploads_only_the_tail(
    tmp_path: Path, kind: DeviceKind
) -> None:
    objects = MemoryStore()
    old = _volume_of(tmp_path, objects, kind)
    store = new_store(tmp_path, objects)
    before = manifest_of(store, kind)
    cut = before.index.offsets[7]  # after 7 records: inside the volume
    kept = [c.name for c in before.chunks if c.end <= cut]
    assert 0 < len(kept) < len(old)
    objects.calls.clear()
    drive = open_volume(store, kind)
    drive.ioctl(MtOp.MTREW, 1)
    drive.ioctl(MtOp.MTFSR, 7)
    write_all(drive, [b"new" * 100])
    drive.close()
    after = manifest_of(store, kind)
    names = [c.name for c in after.chunks]
    assert names[: len(kept)] == kept
    assert not set(names[len(kept) :]) & set(old)  # the tail is new chunks
    uploaded = sum(c.length for c in after.chunks[len(kept) :])
    assert uploaded == after.size - before.chunks[len(kept) - 1].end
    assert objects.calls["put"] == len(after.chunks) - len(kept)
    reader = open_volume(store, kind, READ)
    assert read_from_start(reader, 9) == [*records(7), b"new" * 100, None]
    assert at_end(reader)
    reader.close()


@pytest.mark.parametrize("kind", KINDS)
def test_a_cut_inside_a_chunk_copies_its_head_into_a_new_chunk(
    tmp_path: Path, kind: DeviceKind
) -> None:
    objects = MemoryStore()
    _volume_of(tmp_path, objects, kind)
    store = new_store(tmp_path, objects)
    before = manifest_of(store, kind)
    cut = before.index.offsets[5]
    inside = [c for c in before.chunks if c.start < cut < c.end]
    assert inside, "record 5 must start inside a chunk for this test"
    drive = open_volume(store, kind)
    drive.ioctl(MtOp.MTREW, 1)
    drive.ioctl(MtOp.MTFSR, 5)
    drive.ioctl(MtOp.MTWEOF, 1)  # the end of data is now record 5: a cut inside a chunk
    drive.close()
    after = manifest_of(store, kind)
    assert [c.name for c in after.chunks[:-1]] == [c.name for c in before.chunks if c.end <= cut]
    assert after.chunks[-1].name not in {c.name for c in before.chunks}
    assert (
        after.index.end == after.size == cut + (before.index.end - before.index.offsets[12])
    )  # + the filemark
    reader = open_volume(store, kind, READ)
    assert read_from_start(reader, 6) == [*records(5), None]
    assert at_end(reader)
    reader.close()


def test_erase_at_the_start_leaves_an_empty_volume(tmp_path: Path) -> None:
    objects = MemoryStore()
    _volume_of(tmp_path, objects)
    store = new_store(tmp_path, objects)
    drive = open_volume(store)
    drive.ioctl(MtOp.MTREW, 1)
    drive.ioctl(MtOp.MTERASE, 1)
    drive.close()
    after = manifest_of(store)
    assert (after.chunks, len(after.index), after.size) == ([], 0, 0)


def test_a_read_only_open_uploads_no_chunk_and_keeps_the_index(tmp_path: Path) -> None:
    objects = MemoryStore()
    _volume_of(tmp_path, objects)
    store = new_store(tmp_path, objects)
    before = manifest_of(store)
    objects.calls.clear()
    drive = open_volume(store, options=READ)
    assert read_from_start(drive, 2) == records(2)
    with pytest.raises(OSError) as refused:
        drive.write(b"x" * 10)
    assert refused.value.errno == errno.EBADF
    drive.close()
    after = manifest_of(store)
    assert after.chunks == before.chunks
    assert list(after.index.offsets) == list(before.index.offsets)
    assert after.drive.position == 2
    assert objects.calls["put"] == 0
    assert not store.spool_of("vol1.tap").exists()


def test_an_open_that_changes_nothing_commits_nothing(tmp_path: Path) -> None:
    objects = MemoryStore()
    _volume_of(tmp_path, objects)
    store = new_store(tmp_path, objects)
    manifest = objects.get("site1/vol1.tap/manifest")
    open_volume(store, options=READ).close()
    open_volume(store).close()
    assert objects.get("site1/vol1.tap/manifest") == manifest


def test_a_failed_chunk_upload_is_retried_at_the_commit(tmp_path: Path) -> None:
    objects = MemoryStore()
    store = new_store(tmp_path, objects)
    drive = open_volume(store)
    objects.fail_next("put")
    write_all(drive, [*records(6), None])
    assert opening(drive).storage.segments == []
    drive.close()
    reader = open_volume(store, options=READ)
    assert read_from_start(reader, 7) == [*records(6), None]
    reader.close()


@pytest.mark.parametrize("kind", KINDS)
def test_reading_after_a_write_in_the_middle_reads_the_new_chunks(
    tmp_path: Path, kind: DeviceKind
) -> None:
    """Chunks read before a cut and commit must not stand for the new ones at their places."""
    objects = MemoryStore()
    _volume_of(tmp_path, objects, kind)
    store = new_store(tmp_path, objects)
    drive = open_volume(store, kind)
    assert read_from_start(drive, 12) == records(12)  # every chunk opened (and prefetched)
    drive.ioctl(MtOp.MTREW, 1)
    drive.ioctl(MtOp.MTFSR, 5)
    new = records(6, tag=100)
    write_all(drive, [*new, None])  # cut inside a chunk, a new tail, committed
    assert read_from_start(drive, 12) == [*records(5), *new, None]
    assert at_end(drive)
    drive.close()


def test_a_damaged_manifest_is_eio_naming_the_volume_in_the_store(tmp_path: Path) -> None:
    objects = MemoryStore()
    _volume_of(tmp_path, objects)
    found = objects.get("site1/vol1.tap/manifest")
    assert found is not None
    objects.put("site1/vol1.tap/manifest", found[0][:-1] + bytes([found[0][-1] ^ 1]))
    with pytest.raises(OSError) as refused:
        open_volume(new_store(tmp_path, objects), options=READ)
    assert refused.value.errno == errno.EIO
    assert "s3://tapes/site1/vol1.tap: damaged manifest (its bytes are not the ones" in str(
        refused.value
    )
    with pytest.raises(OSError) as again:  # the lease was released: EIO again, not EBUSY
        open_volume(new_store(tmp_path, objects, "host2"), options=READ)
    assert again.value.errno == errno.EIO


def test_a_volume_name_with_directories(tmp_path: Path) -> None:
    objects = MemoryStore()
    store = new_store(tmp_path, objects)
    drive = store.open_volume("site/a/vol1.tap", WRITE, DeviceKind.SIMH, "vault/site/a/vol1.tap")
    write_all(drive, [*records(4), None])
    drive.close()
    assert objects.get("site1/site/a/vol1.tap/manifest") is not None
    assert all(key.startswith("site1/site/a/vol1.tap/") for key in objects.keys_under())
    assert store.manifest("vol1.tap") is None


def test_a_created_volume_closed_unwritten_is_a_blank_volume(tmp_path: Path) -> None:
    objects = MemoryStore()
    store = new_store(tmp_path, objects)
    open_volume(store).close()
    manifest = manifest_of(store)
    assert (manifest.chunks, len(manifest.index)) == ([], 0)
    reader = open_volume(store, options=READ)
    with pytest.raises(OSError) as blank:
        read_from_start(reader, 1)
    assert blank.value.errno == errno.EIO
    assert "blank tape" in str(blank.value)
    reader.close()


def test_a_long_file_is_committed_in_mid_stream(tmp_path: Path) -> None:
    objects = MemoryStore()
    store = new_store(tmp_path, objects)
    drive = open_volume(store)
    data = records(30)  # about nine chunks, no filemark
    write_all(drive, data)
    spool = store.spool_of("vol1.tap")
    manifest = manifest_of(store)  # committed without a filemark
    assert 0 < len(manifest.index) < 30
    assert manifest.drive.position == len(manifest.index)
    assert sum(os.path.getsize(path) for _, path in spool.segments()) < 30 * 308
    # What the store has is a volume a reader (after a crash here) could read.
    crash(drive, objects)
    reader = open_volume(new_store(tmp_path, objects), options=READ)
    assert read_from_start(reader, 30) == data
    reader.close()
