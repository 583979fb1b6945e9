"""What an open for writing that a crash ended leaves in the drive's state, for tests.

Before its first change, an open for writing records in ``IMAGE.rmtd`` where it begins to
write (``writing_since``), which file it writes (its identity) and a CRC-32 of the 4 KiB
before that offset (``devices.vtape``). A test that builds a torn image by hand leaves the
same mark here, computed independently from the file's bytes, so that the image layer may
recognise the torn record as ours.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

from devices.formats.index import ImageIdentity
from devices.state import StateFile


def crash_mark(path: str | Path, since: int) -> None:
    """Mark ``path`` as written from ``since`` by an open for writing that never closed."""
    data = Path(path).read_bytes()
    state = StateFile(str(path))
    saved = state.load()
    saved.writing_since = since
    saved.writing_check = zlib.crc32(data[max(0, since - 4096) : since])
    saved.identity = ImageIdentity.of_stat(os.stat(path))
    state.save(saved)
