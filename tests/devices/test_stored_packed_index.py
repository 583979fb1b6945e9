"""A commit that leaves the index as it was reuses the packed index (issue 11's fsf/eom cost).

The stored volume is served from an in-memory object store here: what is checked is which
index a new manifest carries, not the store.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from devices.interface import MtOp, OpenOptions
from devices.kinds import DeviceKind
from devices.stored.manifest import Chunk, Manifest
from devices.stored.objects import StoreAddress
from devices.stored.volume import Store, StoreSettings
from tests.stored_unit.memory_store import MemoryStore


@pytest.fixture
def store(tmp_path: Path) -> Store:
    settings = StoreSettings(
        "vault",
        StoreAddress("tapes", "site"),
        chunk_size=64 << 10,
        spool_dir=str(tmp_path / "spool"),
        cache_dir=str(tmp_path / "cache"),
        cache_size=1 << 20,
    )
    return Store(settings, MemoryStore(StoreAddress("tapes", "site")))


def _write(store: Store, files: list[list[int]], options: OpenOptions | None = None) -> None:
    drive = store.open_volume(
        "v.tap", options or OpenOptions(write=True, create=True), DeviceKind.SIMH, "vault/v.tap"
    )
    for lengths in files:
        for length in lengths:
            drive.write(bytes([length % 251]) * length)
        drive.write_filemarks(1)
    drive.close()


def _manifest(store: Store) -> Manifest:
    found = store.manifest("v.tap")
    assert found is not None
    return found[0]


def _index(manifest: Manifest) -> tuple[list[int], list[int], list[int], int]:
    index = manifest.index
    return list(index.offsets), list(index.lengths), list(index.marks), index.end


def test_a_close_after_positioning_commits_the_same_index_without_packing_it(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(store, [[100, 200, 300], [400]])
    before = _manifest(store)
    packs: list[int] = []
    compress = zlib.compress

    def counting(data: bytes, level: int = -1) -> bytes:
        packs.append(len(data))
        return compress(data, level)

    monkeypatch.setattr(zlib, "compress", counting)  # the module manifest.py packs with
    drive = store.open_volume("v.tap", OpenOptions(), DeviceKind.SIMH, "vault/v.tap")
    drive.ioctl(MtOp.MTREW, 0)
    drive.ioctl(MtOp.MTFSF, 1)
    drive.close()
    after = _manifest(store)
    assert packs == []  # the index was not packed again...
    assert after.generation == before.generation + 1  # ...but a manifest was committed
    assert after.drive != before.drive  # with the new position
    assert _index(after) == _index(before)


def test_an_index_rewritten_to_the_same_counts_and_end_is_packed_again(store: Store) -> None:
    # Two records swapped: as many objects and filemarks, the same end; only the image's
    # dirty flag tells that the index changed.
    before, after = None, None
    for options, lengths in (
        (OpenOptions(write=True, create=True), (100, 200)),
        (OpenOptions(write=True), (200, 100)),
    ):
        drive = store.open_volume("v.tap", options, DeviceKind.SIMH, "vault/v.tap")
        drive.ioctl(MtOp.MTREW, 0)
        for length in lengths:
            drive.write(bytes(length))
        drive.close()  # writes the filemark and commits: no commit in between
        before, after = after, _index(_manifest(store))
    assert before is not None and after is not None
    assert [n for n in after[1] if n >= 0] == [200, 100]
    assert (len(after[0]), after[2], after[3]) == (len(before[0]), before[2], before[3])
    assert after[0] != before[0]


def test_records_appended_after_a_positioning_commit_are_in_the_next_manifest(
    store: Store,
) -> None:
    _write(store, [[10, 20]])
    drive = store.open_volume("v.tap", OpenOptions(write=True), DeviceKind.SIMH, "vault/v.tap")
    drive.ioctl(MtOp.MTEOM, 0)
    drive.write_filemarks(0)  # MTWEOF 0: a commit with the index unchanged
    drive.write(bytes(30))
    drive.write_filemarks(1)
    drive.close()
    manifest = _manifest(store)
    records = [n for n in manifest.index.lengths if n >= 0]
    assert records == [10, 20, 30]


def test_a_decoded_manifest_encodes_to_the_same_bytes() -> None:
    manifest = Manifest("simh", chunks=[Chunk("c", 0, 24_004)])
    for k in range(1000):
        manifest.index.add_record(k * 24, 16)
    manifest.index.end = 24_000
    encoded = manifest.encode()
    decoded = Manifest.decode(encoded)
    assert decoded.packed is not None and decoded.packed == manifest.packed
    assert decoded.encode() == encoded
    decoded.index.add_filemark(24_000)  # a change the counts show: packed again, whatever
    decoded.index.end = 24_004
    again = Manifest.decode(decoded.encode())
    assert list(again.index.marks) == [1000] and again.index.end == 24_004
