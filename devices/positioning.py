"""Spacing and locating on a tape image, with the file and block counters ``st`` keeps.

Positions are object numbers in the image's index (records and filemarks both count, as SCSI
logical object numbers do). Spacing over files is a binary search in the sorted filemark list,
so that ``fsf``, ``bsf`` and ``eom`` cost the same on a million-record image as on a small one.

The counters follow ``st_int_ioctl`` in ``drivers/scsi/st.c``: on success they take the values
st precomputed for the operation; when the operation stops early (a filemark met while spacing
records, BOT or end of data met while spacing) the operation fails with EIO and the counters say
what was actually crossed.
"""

from __future__ import annotations

import errno
from bisect import bisect_left

from devices.errors import tape_error
from devices.formats.image import TapeImage
from devices.interface import UNKNOWN
from devices.state import DriveState


class Positioner:
    """Moves one drive's position over its image and keeps ``st``'s counters.

    Args:
        image: the loaded volume.
        state: the drive's state; ``position``, ``fileno`` and ``blkno`` are updated in place.
        name: the image's name, for messages.
    """

    def __init__(self, image: TapeImage, state: DriveState, name: str) -> None:
        self.image = image
        self.state = state
        self.name = name

    @property
    def at_eod(self) -> bool:
        """The last motion met the end of data (``GMT_EOD``); kept with the drive's state."""
        return self.state.at_eod

    @at_eod.setter
    def at_eod(self, value: bool) -> None:
        self.state.at_eod = value

    # -- counters ------------------------------------------------------------------------

    def _step_record(self, new_position: int) -> None:
        """Move forward over one record."""
        self.state.position = new_position
        if self.state.blkno >= 0:
            self.state.blkno += 1

    def _cross_mark_forward(self, mark: int) -> None:
        """Move past filemark ``mark`` (reading it)."""
        self.state.position = mark + 1
        self._count_mark_forward()

    def _count_mark_forward(self) -> None:
        """Count one filemark crossed forward: the next file, at block 0."""
        if self.state.fileno >= 0:
            self.state.fileno += 1
        self.state.blkno = 0

    def _back_blocks(self, count: int) -> None:
        """Count ``count`` records crossed backwards; a block number would go below 0: unknown.

        That happens only when the counter was already off (FSF stopped by the end of data
        sets it to 0 wherever the file's records end); inventing block 0 would report BOT or
        EOF at a position that is neither.
        """
        if self.state.blkno >= 0:
            left = self.state.blkno - count
            self.state.blkno = left if left >= 0 else UNKNOWN

    def _add_files(self, delta: int) -> None:
        if self.state.fileno >= 0:
            self.state.fileno = max(0, self.state.fileno + delta)

    def rewind(self) -> None:
        """Go to BOT: object 0, file 0, block 0."""
        self.state.position = 0
        self.state.fileno = 0
        self.state.blkno = 0
        self.at_eod = False

    # -- MTIOCTOP handlers of the motions above (count ignored) --------------------------

    def _rewind_op(self, _count: int) -> int:
        self.rewind()
        return 0

    def _unload(self, _count: int) -> int:
        if self.state.loaded:
            self.rewind()
        self.state.loaded = False
        self.state.fileno = self.state.blkno = UNKNOWN
        return 0

    def _load(self, _count: int) -> int:
        self.state.loaded = True
        self.rewind()
        return 0

    def _end_of_media(self, _count: int) -> int:
        self.space_to_end()
        return 0

    def _fail(self, what: str) -> OSError:
        return tape_error(errno.EIO, f"{self.name}: {what}")

    def _reach_end(self, what: str) -> OSError:
        """Arrive at the last readable object: the end of data, or where damage begins.

        Damage is never taken for the end of data: the motion fails with EIO naming it, and
        GMT_EOD is not reported (st reports a medium error, not a blank check).
        """
        damage = self.image.damage
        self.state.position = len(self.image)
        if damage is not None:
            self.at_eod = False
            return self._fail(f"image {damage}; stopped there, short of the request ({what})")
        self.at_eod = True
        return self._fail(what)

    # -- files ----------------------------------------------------------------------------

    def space_files(self, count: int) -> int:
        """MTFSF: move past the ``count``-th filemark ahead; EIO at end of data."""
        if count < 0:
            return self.back_files(-count)
        if count == 0:
            return 0
        marks = self.image.index.marks
        first = bisect_left(marks, self.state.position)
        available = len(marks) - first
        if available >= count:
            self.state.position = marks[first + count - 1] + 1
            self._add_files(count)
            self.state.blkno = 0
            return count
        self._add_files(available)
        self.state.blkno = UNKNOWN  # st: the blank check leaves the block number unknown
        raise self._reach_end(f"end of data after {available} of {count} filemarks")

    def back_files(self, count: int) -> int:
        """MTBSF: move to the BOT side of the ``count``-th filemark behind; EIO at BOT."""
        if count < 0:
            return self.space_files(-count)
        if count == 0:
            return 0
        marks = self.image.index.marks
        behind = bisect_left(marks, self.state.position)
        if behind >= count:
            self.state.position = marks[behind - count]
            self._add_files(-count)
            self.state.blkno = UNKNOWN  # st cannot know how long the previous file is
            return count
        self.state.position = 0
        self._add_files(-behind)
        self.state.blkno = 0
        raise self._fail(f"beginning of tape after {behind} of {count} filemarks")

    def space_files_to_mark(self, count: int) -> int:
        """MTFSFM: FSF ``count`` then BSF 1: stand before the ``count``-th filemark ahead."""
        if count <= 0:
            return self.back_files_to_mark(-count) if count else 0
        self.space_files(count)
        self.back_files(1)
        return count

    def back_files_to_mark(self, count: int) -> int:
        """MTBSFM: BSF ``count`` then FSF 1: stand after the ``count``-th filemark behind."""
        if count <= 0:
            return self.space_files_to_mark(-count) if count else 0
        self.back_files(count)
        self.space_files(1)
        return count

    def space_to_end(self) -> None:
        """MTEOM: move to the end of data, counting the files crossed; block unknown.

        On a damaged image it stops where the damage begins and fails with EIO.
        """
        marks = self.image.index.marks
        crossed = len(marks) - bisect_left(marks, self.state.position)
        self._add_files(crossed)
        self.state.blkno = UNKNOWN
        error = self._reach_end("end of data")
        if self.image.damage is not None:
            raise error

    # -- records --------------------------------------------------------------------------

    def space_records(self, count: int) -> int:
        """MTFSR: skip ``count`` records; EIO past a filemark (crossed) or at end of data."""
        if count < 0:
            return self.back_records(-count)
        index = self.image.index
        start = self.state.position
        marks = index.marks
        next_mark = bisect_left(marks, start)
        mark = marks[next_mark] if next_mark < len(marks) else len(index)
        room = mark - start  # records before the next filemark or the end of data
        if room >= count:
            self.state.position = start + count
            if self.state.blkno >= 0:
                self.state.blkno += count
            return count
        if self.state.blkno >= 0:
            self.state.blkno += room
        if mark < len(index):
            self._cross_mark_forward(mark)
            raise self._fail(f"filemark after {room} of {count} records")
        raise self._reach_end(f"end of data after {room} of {count} records")

    def back_records(self, count: int) -> int:
        """MTBSR: go back ``count`` records; EIO at a filemark (crossed) or at BOT."""
        if count < 0:
            return self.space_records(-count)
        start = self.state.position
        marks = self.image.index.marks
        before = bisect_left(marks, start)
        mark = marks[before - 1] if before else -1
        room = start - mark - 1  # records back to the previous filemark or BOT
        if room >= count:
            self.state.position = start - count
            self._back_blocks(count)
            return count
        if mark >= 0:
            self.state.position = mark
            self._add_files(-1)
            self.state.blkno = UNKNOWN
            raise self._fail(f"filemark after {room} of {count} records backwards")
        self.state.position = 0
        self._back_blocks(room)
        raise self._fail(f"beginning of tape after {room} of {count} records backwards")

    # -- locate ---------------------------------------------------------------------------

    def seek_object(self, target: int) -> int:
        """MTSEEK: locate logical object ``target``; counters become unknown (0 at BOT)."""
        if target < 0:
            raise tape_error(errno.EINVAL, f"{self.name}: negative seek target {target}")
        end = len(self.image)
        self.state.position = min(target, end)
        if target == 0:
            self.rewind()
            return 0
        self.state.fileno = self.state.blkno = UNKNOWN
        if target > end:
            raise self._reach_end(f"object {target} is beyond the end of data ({end} objects)")
        return target
