"""The rules of ``vmt gc`` (:mod:`devices.stored.admin`) on an in-memory store.

A chunk goes only when the volume's current manifest does not name it, it is older than the
grace time, and the volume is not leased; everything else stays. The real store is in
``test_vmt_gc.py``. Leases expire by the wall clock (:mod:`devices.stored.lease`), so times here
are counted back from now (``ago``).
"""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from devices.stored.admin import collect, delete_volume, group_volumes, volumes_under
from devices.stored.lease import LeaseRecord
from devices.stored.manifest import Chunk, Manifest
from devices.stored.objects import StoreAddress
from tests.stored_unit.memory_store import MemoryStore

HOUR = 3600.0


def ago(seconds: float) -> float:
    """The wall-clock time ``seconds`` ago (negative: in the future)."""
    return time.time() - seconds


def manifest(*names: str) -> bytes:
    return Manifest("simh", 1, [Chunk(n, 10 * i, 10) for i, n in enumerate(names)]).encode()


def volume(objects: MemoryStore, key: str, named: list[str], unnamed: list[str]) -> None:
    objects.now = ago(2 * HOUR)
    objects.put(f"{key}/manifest", manifest(*named))
    for name in named + unnamed:
        objects.put(f"{key}/chunks/{name}", b"x" * 10)


def test_objects_are_grouped_by_volume_names_with_slashes_included() -> None:
    objects = MemoryStore(StoreAddress("tapes"))
    for key in (
        "p/a.tap/manifest",
        "p/a.tap/chunks/c1",
        "p/site/b.tap/lease",
        "p/site/b.tap/chunks/c2",
        "p/.rmtd-probe-1234",  # no volume's
        "p/a.tap/chunks/sub/x",  # a chunk name has no slash: no volume's either
        "q/c.tap/manifest",  # another prefix
    ):
        objects.put(key, b"1")
    found = {v.name: v for v in volumes_under(objects, "p")}
    assert sorted(found) == ["a.tap", "site/b.tap"]
    assert [c.key for c in found["a.tap"].chunks] == ["p/a.tap/chunks/c1"]
    assert found["a.tap"].manifest is not None and found["a.tap"].lease is None
    assert found["site/b.tap"].lease is not None and found["site/b.tap"].manifest is None
    # The prefix itself may be a volume (vmt gc s3://bucket/prefix/vol1.tap).
    alone = volumes_under(objects, "p/a.tap")
    assert [v.name for v in alone] == [""]
    assert alone[0].key("p/a.tap") == "p/a.tap"
    everything = [v.name for v in group_volumes(objects.list(""), "")]
    assert everything == ["p/a.tap", "p/site/b.tap", "q/c.tap"]


def test_only_old_chunks_no_manifest_names_go() -> None:
    objects = MemoryStore(StoreAddress("tapes"))
    volume(objects, "p/a.tap", ["n1", "n2"], ["old"])
    objects.now = ago(HOUR - 5)
    objects.put("p/a.tap/chunks/young", b"y" * 7)  # a writer's upload before its commit
    reports = collect(objects, "p", grace=HOUR)
    assert [(r.key, r.size) for r in reports[0].removed] == [("p/a.tap/chunks/old", 10)]
    assert reports[0].bytes == 10 and reports[0].skipped is None
    left = sorted(k for k in objects.objects if "/chunks/" in k)
    assert left == ["p/a.tap/chunks/n1", "p/a.tap/chunks/n2", "p/a.tap/chunks/young"]
    assert LeaseRecord.decode(objects.objects["p/a.tap/lease"][0]).released  # taken, given back


def test_a_live_lease_leaves_the_volume_alone() -> None:
    objects = MemoryStore(StoreAddress("tapes"))
    volume(objects, "p/a.tap", ["n1"], ["old"])
    objects.put("p/a.tap/lease", LeaseRecord("host2 pid 7", ago(-HOUR)).encode())
    before = dict(objects.objects)
    for dry_run in (True, False):
        [report] = collect(objects, "p", grace=0, dry_run=dry_run)
        assert report.removed == []
        assert report.skipped is not None and "in use by host2 pid 7" in report.skipped
        assert not report.failed
        assert objects.objects == before


def test_an_expired_lease_does_not_protect_old_orphans() -> None:
    objects = MemoryStore(StoreAddress("tapes"))
    volume(objects, "p/a.tap", ["n1"], ["old"])
    objects.put("p/a.tap/lease", LeaseRecord("crashed host", ago(HOUR)).encode())
    [report] = collect(objects, "p", grace=HOUR)
    assert [r.key for r in report.removed] == ["p/a.tap/chunks/old"]


def test_a_dry_run_writes_nothing() -> None:
    objects = MemoryStore(StoreAddress("tapes"))
    volume(objects, "p/a.tap", ["n1"], ["old1", "old2"])
    before = dict(objects.objects)
    [report] = collect(objects, "p", grace=0, dry_run=True)
    assert sorted(r.key for r in report.removed) == ["p/a.tap/chunks/old1", "p/a.tap/chunks/old2"]
    assert objects.objects == before and objects.deleted == []


def test_a_damaged_manifest_keeps_every_chunk() -> None:
    objects = MemoryStore(StoreAddress("tapes"))
    volume(objects, "p/a.tap", ["n1"], ["old"])
    objects.put("p/a.tap/manifest", manifest("n1")[:-3])  # cut short
    [report] = collect(objects, "p", grace=0)
    assert report.failed and report.removed == []
    assert report.skipped is not None and "its manifest cannot be read" in report.skipped
    assert "p/a.tap/chunks/old" in objects.objects


def test_orphans_of_a_volume_without_manifest_go_with_its_lease() -> None:
    objects = MemoryStore(StoreAddress("tapes"))
    objects.now = ago(2 * HOUR)
    objects.put("p/crashed.tap/chunks/c1", b"x" * 10)
    objects.put("p/crashed.tap/chunks/c2", b"x" * 5)
    objects.put("p/crashed.tap/lease", LeaseRecord("dead host", ago(HOUR)).encode())
    [report] = collect(objects, "p", grace=HOUR)
    assert report.bytes == 15
    assert [k for k in objects.objects if k.startswith("p/crashed.tap")] == []


def test_a_young_orphan_of_a_volume_without_manifest_stays() -> None:
    objects = MemoryStore(StoreAddress("tapes"))
    objects.now = ago(5)
    objects.put("p/new.tap/chunks/c1", b"x" * 10)  # a first write, not yet committed
    [report] = collect(objects, "p", grace=HOUR)
    assert report.removed == []
    assert "p/new.tap/chunks/c1" in objects.objects


def test_delete_volume_removes_manifest_first_then_chunks_then_lease() -> None:
    objects = MemoryStore(StoreAddress("tapes"))
    volume(objects, "p/a.tap", ["n1", "n2"], ["old"])
    volume(objects, "p/a.tap2", ["keep"], [])
    assert delete_volume(objects, "p/a.tap", "s3://tapes/p/a.tap") == 5
    assert objects.deleted[0] == "p/a.tap/manifest"
    assert objects.deleted[-1] == "p/a.tap/lease"
    assert sorted(objects.objects) == ["p/a.tap2/chunks/keep", "p/a.tap2/manifest"]


def test_delete_volume_refuses_a_volume_in_use() -> None:
    objects = MemoryStore(StoreAddress("tapes"))
    volume(objects, "p/a.tap", ["n1"], [])
    objects.put("p/a.tap/lease", LeaseRecord("host2 pid 7", ago(-HOUR)).encode())
    before = dict(objects.objects)
    try:
        delete_volume(objects, "p/a.tap", "s3://tapes/p/a.tap")
    except OSError as exc:
        assert "in use by host2 pid 7" in str(exc)
    else:
        raise AssertionError("deleted a volume in use")
    assert objects.objects == before


CHUNK = st.tuples(st.booleans(), st.integers(0, 3 * 3600))
"""A chunk: whether the manifest names it, and how long ago it was uploaded."""


@settings(max_examples=60)
@given(
    st.lists(st.tuples(st.lists(CHUNK, max_size=6), st.sampled_from(["none", "live", "expired"]))),
    st.integers(0, 2 * 3600),
    st.booleans(),
)
def test_no_named_chunk_is_ever_removed(
    volumes: list[tuple[list[tuple[bool, int]], str]], grace: int, dry_run: bool
) -> None:
    objects = MemoryStore(StoreAddress("tapes"))
    now = time.time()
    expected: set[str] = set()
    for v, (chunks, lease) in enumerate(volumes):
        key = f"p/v{v}.tap"
        named = []
        for c, (is_named, age) in enumerate(chunks):
            objects.now = now - age
            objects.put(f"{key}/chunks/c{c}", b"x")
            if is_named:
                named.append(f"c{c}")
            elif age >= grace and lease != "live":
                expected.add(f"{key}/chunks/c{c}")
        objects.put(f"{key}/manifest", manifest(*named))
        if lease != "none":
            objects.put(
                f"{key}/lease", LeaseRecord("h", now + (HOUR if lease == "live" else -1)).encode()
            )
    named_keys = {k for k in objects.objects if "/chunks/" in k} - expected
    reports = collect(objects, "p", grace=grace, dry_run=dry_run, now=now)
    assert {r.key for report in reports for r in report.removed} == expected
    left = {k for k in objects.objects if "/chunks/" in k}
    assert named_keys <= left
    assert left == (named_keys | expected if dry_run else named_keys)
