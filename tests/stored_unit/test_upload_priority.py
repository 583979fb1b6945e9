"""Uploads yield the processor to the thread serving the client (a lower priority of their own)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from tests.stored_unit.memory_store import MemoryStore
from tests.stored_unit.volumes import new_store, open_volume, records, write_all


class _Watching(MemoryStore):
    """Remembers the nice value of the thread each chunk was uploaded from."""

    def __init__(self) -> None:
        super().__init__()
        self.nice: list[int] = []

    def put(self, key: str, data: bytes | memoryview) -> str:
        self.nice.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return super().put(key, data)


def test_chunks_upload_from_threads_at_a_lower_priority_than_the_writer(tmp_path: Path) -> None:
    objects = _Watching()
    drive = open_volume(new_store(tmp_path, objects))
    write_all(drive, [*records(40, size=4000), None])
    drive.close()
    writer = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert objects.nice, "no chunk was uploaded"
    assert all(nice == min(19, writer + 10) for nice in objects.nice)
