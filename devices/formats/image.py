"""A tape image: a format's objects in a storage, addressed by object number.

:class:`TapeImage` is what the drive works on. It loads or builds the object index, cuts off a
torn record left by a crash, and appends records and filemarks, truncating first when writing
anywhere but at the end (writing makes that point the new end of data, as on a real tape).
Each record goes to the storage as one write call: header, data and trailer together, framed in
place in a reusable buffer so that the data is not copied again.
"""

from __future__ import annotations

import errno
import logging

from devices.errors import tape_error
from devices.formats.base import ScanResult, TapeFormat
from devices.formats.index import ImageIdentity, ObjectIndex
from devices.interface import BytesLike
from devices.storage import Storage

log = logging.getLogger(__name__)

INDEX_SUFFIX = ".rmtd-index"
"""The index of ``vol.tap`` is saved as ``vol.tap.rmtd-index``."""


class TapeImage:
    """Objects of one image, readable by number and appendable at any position."""

    def __init__(self, storage: Storage, fmt: TapeFormat, index: ObjectIndex) -> None:
        self.storage = storage
        self.format = fmt
        self.index = index
        self.problem: str | None = None
        """Why the readable data ends early (corruption), or ``None``."""
        self._frame = bytearray(fmt.headroom + fmt.tailroom + 65536)
        self._dirty = False

    @classmethod
    def open(cls, storage: Storage, fmt: TapeFormat, path: str | None, writable: bool) -> TapeImage:
        """Index ``storage`` (from the saved index when still valid) and return the image.

        Args:
            storage: the image's bytes.
            fmt: its format.
            path: the image's file path, where the index is saved beside it; ``None`` for none.
            writable: the image may be modified; a torn record at the end is then cut off.
        """
        identity = ImageIdentity.of(path) if path else None
        index = ObjectIndex.load(path + INDEX_SUFFIX, identity) if path and identity else None
        result = ScanResult()
        scanned = index is None
        if index is None:
            index = ObjectIndex()
            result = fmt.scan(storage, index)
        image = cls(storage, fmt, index)
        image._dirty = scanned
        if result.problem and result.torn and writable:
            log.warning(
                "%s: %s; cutting the image to %d bytes", storage.name, result.problem, index.end
            )
            storage.truncate(index.end)
        elif result.problem:
            log.warning(
                "%s: %s; data after offset %d is unreadable",
                storage.name,
                result.problem,
                index.end,
            )
            image.problem = result.problem
        return image

    def __len__(self) -> int:
        return len(self.index)

    @property
    def end_offset(self) -> int:
        """Byte offset where the next object would be written."""
        return self.index.end

    def read_record(self, i: int, buffer: memoryview) -> int:
        """Read record ``i`` into ``buffer`` (at least the record's length)."""
        return self.format.read_record(self.storage, self.index, i, buffer)

    def record_buffer(self, length: int) -> memoryview:
        """Return where to put the data of the next record (for :meth:`append_prepared`)."""
        need = self.format.headroom + length + self.format.tailroom
        if len(self._frame) < need:
            self._frame = bytearray(need)
        start = self.format.headroom
        return memoryview(self._frame)[start : start + length]

    def record_size(self, length: int) -> int:
        """Return the bytes a record of ``length`` takes in the image."""
        return self.format.record_size(length)

    def filemark_size(self) -> int:
        """Return the bytes a filemark takes in the image."""
        return len(self.format.filemark())

    def cut(self, i: int) -> None:
        """Make object ``i`` the end of data: drop it and everything after it."""
        if i < len(self.index) or self.storage.size() != self.index.end:
            self.index.truncate(i)
            self.storage.truncate(self.index.end)
            self.problem = None
            self._dirty = True

    def append_prepared(self, length: int) -> None:
        """Append the record whose data was put in :meth:`record_buffer` ``(length)``."""
        frame = self.format.frame(self._frame, length)
        offset = self.index.end
        self.storage.write_at(offset, frame)
        self.index.add_record(offset, length)
        self.index.end = offset + len(frame)
        self._dirty = True

    def append_record(self, data: BytesLike) -> None:
        """Append one record holding ``data`` (copied once into the framing buffer)."""
        view = memoryview(data)
        self.record_buffer(len(view))[:] = view
        self.append_prepared(len(view))

    def append_filemark(self) -> None:
        """Append one filemark."""
        mark = self.format.filemark()
        offset = self.index.end
        self.storage.write_at(offset, mark)
        self.index.add_filemark(offset)
        self.index.end = offset + len(mark)
        self._dirty = True

    def append_filemarks(self, count: int) -> None:
        """Append ``count`` filemarks with a single write (MTWEOF with a count)."""
        mark = self.format.filemark()
        offset = self.index.end
        self.storage.write_at(offset, mark * count)
        for n in range(count):
            self.index.add_filemark(offset + n * len(mark))
        self.index.end = offset + count * len(mark)
        self._dirty = True

    def check_writable_length(self, length: int, name: str | None = None) -> None:
        """Refuse a record length the format cannot hold (EINVAL), naming the image ``name``."""
        if not 0 < length <= self.format.max_record:
            raise tape_error(
                errno.EINVAL,
                f"{name or self.storage.name}: record of {length} bytes is outside "
                f"1..{self.format.max_record}",
            )

    def save_index(self, path: str | None) -> None:
        """Save the index beside the image if it changed; a failure only costs a rescan."""
        if not path or not self._dirty or self.problem:
            return  # an index cannot say why the data ends early: rescan corrupt images
        try:
            self.storage.sync()
            self.index.save(path + INDEX_SUFFIX, ImageIdentity.of(path))
            self._dirty = False
        except OSError as exc:
            log.info("%s: index not saved (%s); it will be rebuilt", path, exc.strerror)
