"""The oracle of the corruption properties: what a file's bytes are, judged independently.

The scan is the format's own (``SimhFormat.scan`` over bytes in memory), but whether an image
counts as served before (its state names this very inode) is read from the state file here.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from devices.formats.index import ObjectIndex
from devices.formats.simh import SimhFormat
from devices.interface import BytesLike

# -- the oracle: what the bytes are -------------------------------------------------------


class MemoryStorage:
    """Bytes as a read-only :class:`devices.storage.Storage`, for the format's scan."""

    def __init__(self, data: bytes) -> None:
        self.name = "memory"
        self._data = data

    def size(self) -> int:
        """The length of the bytes."""
        return len(self._data)

    def read_into(self, offset: int, buffer: memoryview) -> int:
        """Copy from ``offset``."""
        chunk = self._data[offset : offset + len(buffer)]
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def extent(self, offset: int, length: int) -> None:
        """Bytes in memory lie in no file."""

    def write_at(self, offset: int, data: BytesLike) -> None:
        """Never called by a scan."""
        raise AssertionError("a scan does not write")

    def truncate(self, size: int) -> None:
        """Never called by a scan."""
        raise AssertionError("a scan does not truncate")

    def sync(self) -> None:
        """Nothing to sync."""

    def sync_data(self) -> None:
        """Nothing to sync."""

    def close(self) -> None:
        """Nothing to close."""


@dataclass(frozen=True)
class Shape:
    """What the format makes of some bytes.

    Attributes:
        refused: not a SIMH image at all (the probe fails): every open is refused.
        problem: why the scan stopped short of the end, ``None`` for a clean image.
        end: the end of the valid objects (where damage begins, or where data ends).
        starts: the offsets of the valid objects.
        last_is_mark: the last valid object is a filemark.
    """

    refused: bool
    problem: str | None
    end: int
    starts: tuple[int, ...]
    last_is_mark: bool

    @property
    def damaged(self) -> bool:
        """Anything a user must be told about."""
        return self.refused or self.problem is not None


def served(image: Path) -> bool:
    """Whether ``image`` is, byte for byte, the image rmtd last closed cleanly.

    Its state names its whole identity (size, mtime, inode, ctime, device) and no write is
    pending. Such a file is a damaged image when its bytes break; any other is a stranger
    whose bytes must prove what they are.
    """
    try:
        saved = json.loads(Path(f"{image}.rmtd").read_text())
        ident, pending = saved["identity"], saved.get("writing_since")
    except (OSError, ValueError, KeyError, AttributeError):
        return False
    st = os.stat(image)
    whole = [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns, st.st_dev]
    return pending is None and ident == whole


def shape(data: bytes, known: bool = False) -> Shape:
    """Scan ``data`` as the drive does (``known``: see :func:`served`)."""
    storage = MemoryStorage(data)
    fmt = SimhFormat()
    index = ObjectIndex()
    result = fmt.scan(storage, index)
    refused = bool(data) and not known and fmt.probe(storage) is not None
    last = len(index) - 1
    return Shape(
        refused,
        result.problem,
        index.end,
        tuple(index.offsets),
        last >= 0 and index.is_filemark(last),
    )
