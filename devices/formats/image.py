"""A tape image: a format's objects in a storage, addressed by object number.

:class:`TapeImage` is what the drive works on. It builds the object index (or takes a saved one that
still matches the bytes), and appends records and filemarks, truncating first when writing
anywhere but at the end (writing makes that point the new end of data, as on a real tape).

Damage is information, never something to tidy away: a scan that stops on bytes it cannot read
leaves ``damage`` set, and a write at that point is refused (EIO) so that nothing after it is
lost. The one thing cut without being asked is a record torn by a crash of our own writer: a
record running past the end of the file, at or after the offset where an open for writing that
never closed began to write (``torn_from``, kept in the drive's state file), and only on an open
for writing. Everything else waits for an explicit ``vmt repair``.
Each record goes to the storage as one write call: header, data and trailer together, framed in
place in a reusable buffer so that the data is not copied again.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable

from devices.errors import tape_error
from devices.formats.base import ScanResult, TapeFormat
from devices.formats.index import ObjectIndex
from devices.interface import BytesLike, FileExtent
from devices.storage import Storage

log = logging.getLogger(__name__)


class TapeImage:
    """Objects of one image, readable by number and appendable at any position.

    Args:
        storage: the image's bytes.
        fmt: its format.
        index: its objects.
        on_first_write: called with the byte offset before the first change at or below it
            (the drive's state records it, so that a crash's torn record can be told from
            damage on the next open).
    """

    def __init__(
        self,
        storage: Storage,
        fmt: TapeFormat,
        index: ObjectIndex,
        on_first_write: Callable[[int], None] | None = None,
    ) -> None:
        self.storage = storage
        self.format = fmt
        self.index = index
        self.damage: str | None = None
        """Why the readable data ends before the file does (damage), or ``None``."""
        self.dirty = False
        """The index changed since it was loaded or saved."""
        self._frame = bytearray(fmt.headroom + fmt.tailroom + 65536)
        self._on_first_write = on_first_write
        self._written_from = storage.size() + 1  # lowest offset reported to on_first_write

    @classmethod
    def open(
        cls,
        storage: Storage,
        fmt: TapeFormat,
        saved: ObjectIndex | None = None,
        writable: bool = False,
        torn_from: int | None = None,
        is_ours: Callable[[int, int | None], bool] = lambda at, since: False,
    ) -> TapeImage:
        """Index ``storage`` (``saved`` if it still matches the bytes) and return the image.

        Args:
            storage: the image's bytes.
            fmt: its format.
            saved: the index saved beside the image by an earlier open, if its identity matched.
            writable: the image is opened for writing: a torn record of ours may be cut.
            torn_from: the offset from which an unfinished open for writing wrote, if any.
            is_ours: decides whether a record torn at an offset is that write's (the caller
                knows what proves it); by default nothing is.
        """
        index = saved if saved is not None and _plausible(saved, storage, fmt) else None
        result = ScanResult()
        if index is None:
            index = ObjectIndex()
            result = fmt.scan(storage, index)
        image = cls(storage, fmt, index)
        image.dirty = saved is None or index is not saved
        if result.problem is None:
            return image
        ours = result.torn and is_ours(index.end, torn_from)
        if ours and writable:
            log.warning(
                "%s: %s (a write of ours cut short); cutting the image to %d bytes",
                storage.name,
                result.problem,
                index.end,
            )
            storage.truncate(index.end)
            return image
        image.damage = f"damaged at offset {index.end} ({result.problem})"
        if result.torn and not ours:
            image.damage += " (not a write of ours cut short: 'vmt repair' cuts it)"
        log.info("%s: %s", storage.name, image.damage)  # reported where a client reaches it
        return image

    def __len__(self) -> int:
        return len(self.index)

    @property
    def end_offset(self) -> int:
        """Byte offset where the next object would be written."""
        return self.index.end

    def set_first_write_hook(self, hook: Callable[[int], None]) -> None:
        """Call ``hook(offset)`` before the image is first changed at or below ``offset``."""
        self._on_first_write = hook

    def read_record(self, i: int, buffer: memoryview) -> int:
        """Read record ``i`` into ``buffer`` (at least the record's length)."""
        return self.format.read_record(self.storage, self.index, i, buffer)

    def record_extent(self, i: int) -> FileExtent | None:
        """Where record ``i``'s data lies in the image file, if whole and as stored."""
        offset = self.format.data_offset(self.index, i)
        if offset is None:
            return None
        return self.storage.extent(offset, self.index.record_length(i))

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

    def check_write_at(self, i: int, name: str) -> None:
        """Refuse to write at object ``i`` when that is where the image is damaged (EIO).

        Writing before the damage is an ordinary overwrite, as on a tape; writing at it would
        cut off whatever lies beyond, which may be data worth recovering.
        """
        if self.damage is not None and i >= len(self.index):
            raise tape_error(
                errno.EIO,
                f"{name}: cannot write at object {i}: the image is {self.damage}; "
                "nothing after it is touched ('vmt verify', 'vmt repair')",
            )

    def cut(self, i: int, name: str | None = None) -> None:
        """Make object ``i`` the end of data: drop it and everything after it.

        Raises:
            OSError: EIO when ``i`` is where the image is damaged (see :meth:`check_write_at`).
        """
        self.check_write_at(i, name or self.storage.name)
        if i < len(self.index) or self.storage.size() != self.index.end:
            end = self.index.offset(i)
            self._before_change(end)
            self.index.truncate(i)
            self.storage.truncate(end)
            self.index.end = end
            self.damage = None
            self.dirty = True

    def _before_change(self, offset: int) -> None:
        if offset < self._written_from:
            if self._on_first_write is not None:
                self._on_first_write(offset)
            self._written_from = offset

    def append_prepared(self, length: int, bad: bool = False) -> None:
        """Append the record whose data was put in :meth:`record_buffer` ``(length)``.

        ``bad`` marks it bad-data (``vmt convert`` keeps such marks; a drive never writes one).
        """
        frame = self.format.frame(self._frame, length, self.storage, self.index, bad)
        offset = self.index.end
        if offset < self._written_from:
            self._before_change(offset)
        self.storage.write_at(offset, frame)
        self.index.add_record(offset, length, bad=bad)
        self.index.end = offset + len(frame)
        self.dirty = True

    def append_record(self, data: BytesLike, bad: bool = False) -> None:
        """Append one record holding ``data`` (copied once into the framing buffer)."""
        view = memoryview(data)
        self.record_buffer(len(view))[:] = view
        self.append_prepared(len(view), bad)

    def append_filemarks(self, count: int) -> None:
        """Append ``count`` filemarks in one write."""
        marks = self.format.filemarks(count, self.storage, self.index)
        size = len(marks) // count if count else 0
        offset = self.index.end
        if offset < self._written_from:
            self._before_change(offset)
        self.storage.write_at(offset, marks)
        for k in range(count):
            self.index.add_filemark(offset + k * size)
        self.index.end = offset + len(marks)
        self.dirty = True

    def append_filemark(self) -> None:
        """Append one filemark."""
        self.append_filemarks(1)

    def check_writable_length(self, length: int, name: str | None = None) -> None:
        """Refuse a record length the format cannot hold (EINVAL), naming the image ``name``."""
        if not 0 < length <= self.format.max_record:
            raise tape_error(
                errno.EINVAL,
                f"{name or self.storage.name}: record of {length} bytes is outside "
                f"1..{self.format.max_record}",
            )


def _plausible(index: ObjectIndex, storage: Storage, fmt: TapeFormat) -> bool:
    """Whether a saved index agrees with the bytes where it is cheap to look.

    Its identity already matched; this catches an index copied beside another image (or
    edited): its end must be within the file and its first and last objects where it says.
    """
    size = storage.size()
    # The data must end where the index says: at the end of the file, or before one
    # end-of-medium marker. An index that stops short would let a write cut what follows.
    if index.end != size and not (index.end < size and fmt.ends_medium(storage, index.end)):
        return False
    ends = (0, len(index) - 1) if len(index) else ()
    return all(fmt.length_code_at(storage, index.offsets[i]) == index.lengths[i] for i in ends)
