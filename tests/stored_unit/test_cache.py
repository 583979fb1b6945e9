"""The chunk cache: what it removes, and that it says so."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from devices.stored.cache import ChunkCache
from tests.stored_unit.memory_store import MemoryStore


def _read(fd: int) -> bytes:
    try:
        return os.pread(fd, 1 << 20, 0)
    finally:
        os.close(fd)


def test_a_damaged_cached_copy_is_fetched_again_and_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    objects = MemoryStore()
    objects.put("c/1", b"x" * 1000)
    cache = ChunkCache(str(tmp_path / "cache"), 1 << 20)
    assert _read(cache.fetch(objects, "c/1", 1000)) == b"x" * 1000
    Path(cache.file_of("c/1")).write_bytes(b"x" * 10)  # a copy cut short
    with caplog.at_level(logging.WARNING, logger="devices.stored.cache"):
        assert _read(cache.fetch(objects, "c/1", 1000)) == b"x" * 1000
    assert "holds 10 bytes, not 1000; removed, fetched again" in caplog.text
    assert objects.calls["download"] == 2


def test_trimming_removes_the_least_recently_used_chunks_and_nothing_else(
    tmp_path: Path,
) -> None:
    objects = MemoryStore()
    cache = ChunkCache(str(tmp_path / "cache"), 2500)
    other = tmp_path / "cache" / "notes.txt"  # not a chunk: never removed
    other.write_text("mine")
    for n in range(4):
        objects.put(f"c/{n}", bytes([n]) * 1000)
        os.close(cache.fetch(objects, f"c/{n}", 1000))
        os.utime(cache.file_of(f"c/{n}"), (n, n))  # c/0 the least recently used
    cache.trim()
    kept = [n for n in range(4) if os.path.exists(cache.file_of(f"c/{n}"))]
    assert kept == [2, 3]
    assert other.read_text() == "mine"
