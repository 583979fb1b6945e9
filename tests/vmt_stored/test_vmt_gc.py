"""``vmt gc`` against a real store (SeaweedFS): what no manifest names goes, nothing else.

A volume rewritten from the middle keeps a prefix of its chunks and gets a new tail: the old
tail's chunks are named by no manifest, and are what ``vmt gc`` removes once they are older
than ``--grace``. Every chunk the manifest names stays, and the volume reads back whole.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from devices.interface import MtOp, OpenOptions
from devices.kinds import DeviceKind
from devices.stored.objects import StoreAddress
from devices.stored.volume import Store, StoreSettings
from rmtd.testing.seaweed import SeaweedServer
from tests.simh_codec import TAPE_MARK, record
from tests.stored_unit.memory_store import MemoryStore
from tests.vmt_stored.conftest import keys, store, vmt

RECORDS = [bytes([n]) * 40000 for n in range(6)]


def rewritten_volume(s3: SeaweedServer, url: str, tmp_path: Path) -> set[str]:
    """A volume of 64k chunks whose second file was written over; its unnamed chunk keys."""
    source = tmp_path / "a.tap"
    source.write_bytes(
        b"".join(record(r) for r in RECORDS[:2])
        + TAPE_MARK
        + b"".join(record(r) for r in RECORDS[2:])
        + TAPE_MARK
    )
    done = vmt("convert", str(source), url, "--endpoint", s3.endpoint, "--chunk-size", "64k")
    assert done.exit_code == 0, done.output
    stored, volume = store(url, s3.endpoint)
    drive = stored.open_volume(volume, OpenOptions(write=True), DeviceKind.SIMH, url)
    try:
        drive.ioctl(MtOp.MTFSF, 1)
        drive.write(b"new second file")
        drive.write_filemarks(1)
    finally:
        drive.close()
    found = stored.manifest(volume)
    assert found is not None
    named = {f"{stored.volume_key(volume)}/chunks/{c.name}" for c in found[0].chunks}
    chunks = {k for k in keys(s3, url) if "/chunks/" in k}
    assert named < chunks  # the cut left chunks no manifest names
    return chunks - named


def test_gc_removes_only_old_chunks_no_manifest_names(
    s3: SeaweedServer, prefix: str, tmp_path: Path
) -> None:
    url = f"{prefix}/site/vol1.tap"
    unnamed = rewritten_volume(s3, url, tmp_path)
    before = keys(s3, prefix)
    bucket = prefix.split("/")[2]

    done = vmt("gc", prefix, "--endpoint", s3.endpoint)  # default grace: an hour; all young
    assert done.exit_code == 0, done.output
    assert done.stdout == f"{prefix}: removed 0 chunks, 0 bytes, in 1 volumes\n"
    assert keys(s3, prefix) == before

    done = vmt("gc", prefix, "--endpoint", s3.endpoint, "--grace", "0", "--dry-run")
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert {line.split()[2] for line in lines[:-1]} == {f"s3://{bucket}/{k}" for k in unnamed}
    assert lines[-1].startswith(f"{prefix}: would remove {len(unnamed)} chunks, ")
    assert keys(s3, prefix) == before

    done = vmt("gc", prefix, "--endpoint", s3.endpoint, "--grace", "0")
    assert done.exit_code == 0, done.output
    assert f"{prefix}: removed {len(unnamed)} chunks, " in done.stdout
    assert set(keys(s3, prefix)) == set(before) - unnamed

    out = tmp_path / "file0"
    done = vmt("read", url, "--file", "0", "-o", str(out), "--endpoint", s3.endpoint)
    assert done.exit_code == 0, done.output
    assert out.read_bytes() == RECORDS[0] + RECORDS[1]
    done = vmt("read", url, "--file", "1", "-o", str(out), "--endpoint", s3.endpoint)
    assert out.read_bytes() == b"new second file"
    assert vmt("gc", prefix, "--endpoint", s3.endpoint, "--grace", "0").stdout.startswith(
        f"{prefix}: removed 0 chunks"
    )


def test_gc_leaves_a_volume_in_use_alone(s3: SeaweedServer, prefix: str, tmp_path: Path) -> None:
    url = f"{prefix}/vol1.tap"
    rewritten_volume(s3, url, tmp_path)
    before = keys(s3, prefix)
    stored, volume = store(url, s3.endpoint)
    drive = stored.open_volume(volume, OpenOptions(), DeviceKind.SIMH, "vault/vol1.tap")
    try:
        done = vmt("gc", prefix, "--endpoint", s3.endpoint, "--grace", "0")
    finally:
        drive.close()
    assert done.exit_code == 0
    assert done.stderr.startswith(f"vmt: {url}: in use by ")
    assert done.stderr.endswith("; left alone\n")
    assert done.stdout == f"{prefix}: removed 0 chunks, 0 bytes, in 1 volumes\n"
    assert keys(s3, prefix) == before


def test_gc_of_one_volume_and_of_a_first_write_that_never_committed(
    s3: SeaweedServer, prefix: str, tmp_path: Path
) -> None:
    url = f"{prefix}/vol1.tap"
    unnamed = rewritten_volume(s3, url, tmp_path)
    stored, _ = store(f"{prefix}/crashed.tap", s3.endpoint)
    crashed = stored.volume_key("crashed.tap")
    stored.objects.put(f"{crashed}/chunks/0123abcd", b"x" * 1000)
    stored.objects.put(f"{crashed}/chunks/4567cdef", b"y" * 24)
    done = vmt("gc", f"{prefix}/crashed.tap", "--endpoint", s3.endpoint, "--grace", "0")
    assert done.exit_code == 0, done.output
    assert done.stdout.endswith(
        f"{prefix}/crashed.tap: removed 2 chunks, 1024 bytes, in 1 volumes\n"
    )
    assert keys(s3, f"{prefix}/crashed.tap") == []  # its lease too
    assert unnamed <= set(keys(s3, url))  # another volume: untouched
    done = vmt("gc", url, "--endpoint", s3.endpoint, "--grace", "0")
    assert done.exit_code == 0, done.output
    assert f"removed {len(unnamed)} chunks" in done.stdout


def test_gc_keeps_every_chunk_of_a_damaged_manifest(
    s3: SeaweedServer, prefix: str, tmp_path: Path
) -> None:
    url = f"{prefix}/vol1.tap"
    rewritten_volume(s3, url, tmp_path)
    stored, volume = store(url, s3.endpoint)
    found = stored.manifest(volume)
    assert found is not None
    damaged = found[0].encode()[:-5]
    stored.objects.put(f"{stored.volume_key(volume)}/manifest", damaged)
    before = keys(s3, prefix)
    done = vmt("gc", prefix, "--endpoint", s3.endpoint, "--grace", "0")
    assert done.exit_code == 1
    assert f"vmt: {url}: its manifest cannot be read" in done.output
    assert keys(s3, prefix) == before


def run(*args: str) -> subprocess.CompletedProcess[str]:
    vmt_bin = os.path.join(os.path.dirname(sys.executable), "vmt")
    return subprocess.run(
        [vmt_bin, *args], check=False, capture_output=True, text=True, timeout=120
    )


def test_gc_errors_are_one_line(s3: SeaweedServer, prefix: str) -> None:
    bucket = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    done = run("gc", f"s3://{bucket}/site", "--endpoint", s3.endpoint)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"vmt: s3://{bucket}/site: s3://{bucket}: no such bucket\n"
    done = run("gc", "tapes/site", "--endpoint", s3.endpoint)
    assert done.returncode == 1
    assert done.stderr == "vmt: tapes/site: not an s3:// URL\n"
    done = run("gc", prefix, "--grace", "-1")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


class _IgnoresConditions(MemoryStore):
    """A store that accepts every conditional PUT (no compare-and-swap)."""

    def put_if(self, key: str, data: bytes, etag: str | None) -> str:
        return self.put(key, data)


def test_gc_refuses_a_store_without_compare_and_swap(monkeypatch: pytest.MonkeyPatch) -> None:
    objects = _IgnoresConditions()
    objects.put("p/a.tap/chunks/orphan", b"x")

    def without_cas(address: StoreAddress, chunk_size: int | None = None) -> Store:
        return Store(StoreSettings("test", address), objects)

    monkeypatch.setattr("rmtd.vmt.gc.store_of", without_cas)
    done = vmt("gc", "s3://tapes/p", "--grace", "0")
    assert done.exit_code == 1
    assert "the store ignores If-None-Match" in done.output
    assert done.output.count("\n") == 1
    assert "p/a.tap/chunks/orphan" in objects.objects
