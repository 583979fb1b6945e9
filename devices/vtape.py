"""Opening and creating tape images: storage, lock, saved state and index put together.

:func:`open_tape_image` is what ``vmt`` and the RMT server call to get a
:class:`~devices.drive.VirtualTapeDrive`. It takes the one-opener lock, proves that the file is
an image of the kind its name claims (:mod:`devices.kinds`), restores the drive's state from the
previous open (position, loaded state, block size, density), loads or rebuilds the object index,
and arranges for the state and index to be saved when the drive is closed.

Side files describe the file that was opened, never whatever the path names later: identity
comes from the descriptor (``fstat``), and at close they are written only while the path still
names that file; otherwise they are dropped with a log line (someone renamed another file over
the image while it was open, and its own side files must not be spoiled).

Before the first change of an open for writing, the state file records where it begins to
write (``writing_since``); a clean close clears it. So after a crash the next open for writing
knows that a record running past the end is its own torn write and may cut it, and a record
running past the end of an image that no writer of ours left unfinished is reported as damage.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import os
import stat
import zlib

from devices.drive import VirtualTapeDrive
from devices.errors import tape_error
from devices.formats.base import TapeFormat
from devices.formats.image import TapeImage
from devices.formats.index import INDEX_SUFFIX, ImageIdentity, ObjectIndex, same_file
from devices.interface import OpenOptions
from devices.kinds import (
    DeviceKind,
    claimed_kind,
    foreign_content,
    recognised_format,
    tape_format,
)
from devices.state import (
    STATE_SUFFIX,
    DriveState,
    SavedState,
    StateFile,
    VolumeInfo,
    lock_exclusive,
)
from devices.storage import FileStorage, Storage

log = logging.getLogger(__name__)

SIDE_FILES = (STATE_SUFFIX, INDEX_SUFFIX)
"""Suffixes of the files kept beside an image."""


def create_tape_image(
    path: str, volume: VolumeInfo, exist_ok: bool = False, kind: DeviceKind | None = None
) -> None:
    """Create a blank image at ``path`` and record ``volume`` (density, capacity) beside it.

    With ``exist_ok`` an existing image is replaced, but only once it is proven to be a tape
    image (an empty file, or one whose bytes the format recognises) that is not
    write-protected: nothing else is ever wiped.

    Args:
        path: the image file.
        volume: the new volume's properties.
        exist_ok: replace an existing image.
        kind: the image kind; default: the one the name claims.

    Raises:
        OSError: EEXIST if the image exists and ``exist_ok`` is false; EMEDIUMTYPE for a name
            or a file that is not a tape image; EROFS for a write-protected volume; EBUSY when
            it is open; the system's errors.
    """
    fmt = tape_format(kind or claimed_kind(path), path)
    path = os.path.realpath(path)  # the side files live beside the image itself
    existed = os.path.exists(path)
    if exist_ok:  # a directory, FIFO or read-only file is refused as any opener refuses it
        storage = open_image_file(path, write=True, create=True)
    else:
        storage = FileStorage.open(path, writable=True, create=True, exclusive=True)
    try:
        lock_exclusive(storage.fileno(), path)
        saved = StateFile(path).load()
        if storage.size() and not known(saved, ImageIdentity.of_fd(storage.fileno())):
            reason = foreign_content(storage, fmt)
            if reason is not None:
                raise tape_error(errno.EMEDIUMTYPE, f"{path}: {reason}; not replaced")
        if existed:  # even a blank volume keeps its protect tab
            if write_protected(storage, path, saved):
                raise tape_error(errno.EROFS, f"{path}: volume is write-protected; not replaced")
            log.info("%s: replacing an image of %d bytes", path, storage.size())
        storage.truncate(0)
        storage.sync()
        identity = ImageIdentity.of_fd(storage.fileno())
        StateFile(path).save(SavedState(volume=volume, drive=DriveState(), identity=identity))
    finally:
        storage.close()
    _remove_quietly(path + INDEX_SUFFIX)


def open_tape_image(
    path: str,
    options: OpenOptions,
    name: str | None = None,
    kind: DeviceKind | None = None,
    accept_foreign: bool = False,
) -> VirtualTapeDrive:
    """Open the image at ``path`` as a virtual tape drive.

    Args:
        path: the image file.
        options: how to open it (write access, create, rewind or unload on close...).
        name: what to call the image in error messages (the name the client gave, so that
            messages do not reveal where the server keeps its files); default ``path``.
        kind: the image kind (see :mod:`devices.kinds`); default: the one the name claims.
        accept_foreign: serve the file as a tape even if its bytes are not an image of that
            kind (``vmt --force``); otherwise such a file is refused.

    Returns:
        The open drive; close it to write the closing filemark and save its state.

    Raises:
        OSError: ENOENT for a missing image (without ``create``), EMEDIUMTYPE for a file that
            is not a tape image, EBUSY when another opener has it, EROFS for a write open of a
            write-protected volume or a read-only file, ENOMEDIUM when no volume is loaded
            (unless ``nonblock``), and the system's errors.
    """
    label = name or path
    real = os.path.realpath(path)
    try:
        fmt = tape_format(kind or claimed_kind(path), path)
        storage = open_image_file(path, options.write, options.create)
    except OSError as exc:
        raise _relabel(exc, path, label) from None
    try:
        lock_exclusive(storage.fileno(), path)
        # Side files live beside the image itself, not beside a symlink to it.
        opening = _ImageOpen(real, fmt, storage, options)
        if not opening.known:
            reason = foreign_content(storage, fmt)
            if reason is not None and not accept_foreign:
                raise tape_error(errno.EMEDIUMTYPE, f"{path}: {reason}")
            opening.foreign = reason is not None
        drive = opening.drive()
    except OSError as exc:
        storage.close()
        raise _relabel(_relabel(exc, real, label), path, label) from None
    except BaseException:
        storage.close()
        raise
    drive.name = label
    return drive


def _relabel(exc: OSError, path: str, label: str) -> OSError:
    """The same error, with the image called ``label`` instead of ``path`` in its message."""
    if label == path or not exc.strerror or path not in exc.strerror:
        return exc
    return OSError(exc.errno, exc.strerror.replace(path, label))


def open_image_file(path: str, write: bool, create: bool = False) -> FileStorage:
    """Open an image file as every opener must: a regular file, read-write only to write.

    A read-only open never modifies the image, not even to cut a torn tail: that waits for
    the next open for writing. A read-only file refuses a write open (EROFS).

    Raises:
        OSError: ENOENT (unless ``create``), EISDIR, EINVAL for what is not a regular file,
            EROFS, and the system's errors.
    """
    exists = os.path.exists(path)
    if not exists and not create:
        raise tape_error(errno.ENOENT, f"{path}: no such tape image")
    if exists and os.path.isdir(path):
        raise tape_error(errno.EISDIR, f"{path}: is a directory")
    if exists and not os.path.isfile(path):  # a FIFO would block, a device has no side files
        raise tape_error(errno.EINVAL, f"{path}: not a regular file")
    if not (write or not exists):
        return FileStorage.open(path, writable=False)
    try:
        storage = FileStorage.open(path, writable=True, create=create)
    except PermissionError:
        if exists:
            raise tape_error(errno.EROFS, f"{path}: image is read-only") from None
        raise
    if exists and _file_protected(storage, path):
        storage.close()
        raise tape_error(errno.EROFS, f"{path}: image is read-only")
    return storage


def write_protected(storage: FileStorage, path: str, saved: SavedState | None = None) -> bool:
    """Whether the volume at ``path`` (open as ``storage``) is write-protected.

    The one rule: the protect tab in its state file (``vmt protect``; ``saved`` if already
    read), or a read-only file.
    """
    state = saved if saved is not None else StateFile(path).load()
    return state.volume.write_protected or _file_protected(storage, path)


def _file_protected(storage: FileStorage, path: str) -> bool:
    """Whether the image file itself is read-only: its write-protect tab.

    No write permission bit (root could write it anyway, but a read-only file is what every
    user means by a protected volume), or no write access for this process.
    """
    mode = os.fstat(storage.fileno()).st_mode
    return not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(path, os.W_OK)


class _ImageOpen:
    """One open of an image: builds the drive, records writes in progress, saves at close."""

    def __init__(
        self, path: str, fmt: TapeFormat, storage: FileStorage, options: OpenOptions
    ) -> None:
        self.path = path
        self.fmt = fmt
        self.storage = storage
        self.options = options
        self.state_file = StateFile(path)
        self.saved = self.state_file.load()
        self._volume_as_loaded = dataclasses.replace(self.saved.volume)  # the drive edits its own
        self.identity = ImageIdentity.of_fd(storage.fileno())
        self.foreign = False
        """Served under ``accept_foreign`` though its bytes are no image: no side files."""
        self._journaled = False

    def drive(self) -> VirtualTapeDrive:
        """Check the volume, load the image and return the drive over it."""
        saved, options = self.saved, self.options
        if saved.identity is not None and not _same_inode(saved.identity, self.identity):
            saved.volume.incomplete = []  # another file: the marks were about the one before
        if saved.identity is not None and saved.identity != self.identity:
            # Someone else changed the image: a new medium, so the drive starts at BOT.
            log.info("%s: image changed since the last open; starting at BOT", self.path)
            saved.drive = DriveState(
                loaded=saved.drive.loaded,
                block_size=saved.drive.block_size,
                compression=saved.drive.compression,
            )
        protected = write_protected(self.storage, self.path, saved)
        if saved.unreadable and not options.write:
            log.warning(
                "%s: its drive state is unreadable (%s); the volume counts as write-protected "
                "until %s is fixed or removed",
                self.path,
                saved.unreadable,
                self.state_file.path,
            )
        if options.write and saved.unreadable:
            raise tape_error(
                errno.EROFS,
                f"{self.path}: its drive state is unreadable ({saved.unreadable}), so its "
                f"write protection is unknown; fix or remove {self.state_file.path}",
            )
        if options.write and (protected or options.write_protect):
            raise tape_error(errno.EROFS, f"{self.path}: volume is write-protected")
        if not saved.drive.loaded and not options.nonblock:
            raise tape_error(errno.ENOMEDIUM, f"{self.path}: no medium loaded")
        index = ObjectIndex.load(self.path + INDEX_SUFFIX, self.identity)
        image = TapeImage.open(
            self.storage, self.fmt, index, self.storage.writable, self.torn_from, torn_is_ours
        )
        if saved.drive.position > len(image):
            saved.drive = DriveState(loaded=saved.drive.loaded, block_size=saved.drive.block_size)
        if protected and not options.write_protect:
            options = dataclasses.replace(options, write_protect=True)
        drive = VirtualTapeDrive(image, self.path, saved.drive, saved.volume, options, self.close)
        image.set_first_write_hook(lambda offset: self.journal(drive, offset))
        if self.storage.writable and self.torn_from is not None:
            drive.mark_last_file_incomplete()  # its writer died before closing it
        return drive

    @property
    def known(self) -> bool:
        """Whether this file is, byte for byte, the image rmtd last closed (see :func:`known`)."""
        return known(self.saved, self.identity)

    @property
    def torn_from(self) -> int | None:
        """Where an unfinished write of ours to this file began (see :func:`pending_write`)."""
        return pending_write(self.saved, self.identity, self.storage)

    def journal(self, drive: VirtualTapeDrive, offset: int) -> None:
        """Record, before the image changes at ``offset``, that a write is in progress."""
        if self.foreign:
            return  # a forced stranger gets no side files, so nothing may cut it later
        since = self.saved.writing_since
        self.saved.writing_since = offset if since is None else min(since, offset)
        self.saved.identity = ImageIdentity.of_fd(self.storage.fileno())
        self.saved.writing_check = _fingerprint(self.storage, self.saved.writing_since)
        self._journaled = True
        if same_file(self.path, self.storage.fileno()):
            self.state_file.save(
                dataclasses.replace(self.saved, volume=drive.volume, drive=drive.state)
            )

    def close(self, drive: VirtualTapeDrive) -> None:
        """Save the index and the drive's state beside the image, if it is still there."""
        try:
            self._save(drive)
        finally:
            self.storage.close()

    def _drop_own_journal(self) -> None:
        """Remove the state file beside the path if it is still our journal (our file's)."""
        current = self.state_file.load().identity
        if current is not None and _same_inode(current, self.identity):
            _remove_quietly(self.state_file.path)

    def _save(self, drive: VirtualTapeDrive) -> None:
        fd = self.storage.fileno()
        if self.foreign:
            log.info("%s: not an image; no drive state or index kept beside it", self.path)
            return
        if self.saved.unreadable:
            if drive.volume != self._volume_as_loaded:
                raise tape_error(
                    errno.EROFS,
                    f"{self.path}: volume settings not saved: its drive state is unreadable "
                    f"({self.saved.unreadable}); fix or remove {self.state_file.path}",
                )
            return  # the unreadable state file is evidence: never overwritten by a reader
        if not same_file(self.path, fd):
            log.warning(
                "%s: the name now leads to another file; the state and index of the image "
                "that was open are dropped",
                self.path,
            )
            if self._journaled:
                self._drop_own_journal()
            return
        if self.storage.writable:
            self.storage.sync()
        identity = ImageIdentity.of_fd(fd)
        image = drive.image
        if image.dirty and image.damage is None:
            try:
                image.index.save(self.path + INDEX_SUFFIX, identity)
                image.dirty = False
            except OSError as exc:
                log.info("%s: index not saved (%s); it will be rebuilt", self.path, exc.strerror)
        # A read-only open keeps the mark of an unfinished write: only a writer may cut.
        state = SavedState(drive.volume, drive.state, identity)
        if not self.storage.writable and self.saved.writing_since is not None:
            state = dataclasses.replace(
                self.saved, volume=drive.volume, drive=drive.state, identity=self.saved.identity
            )
        try:
            self.state_file.save(state)
        except OSError as exc:
            if self.options.write:
                raise
            # A read-only open of an image on a read-only share must still close cleanly.
            log.warning("%s: drive state not saved (%s)", self.path, exc.strerror)


def known(saved: SavedState, identity: ImageIdentity) -> bool:
    """Whether a file is, byte for byte, the image rmtd last closed cleanly.

    Its state names its full identity (size, times, inode, device) and no write is pending.
    Such a file was proven an image when it was written: if its bytes no longer look like
    one, it is a damaged image (reported where a read reaches the damage), not a stranger.
    Any other change since (a copy over it in place, an edit) makes it a stranger again,
    whose bytes must prove what they are.
    """
    return saved.writing_since is None and saved.identity == identity


def pending_write(saved: SavedState, identity: ImageIdentity, storage: Storage) -> int | None:
    """Where an unfinished write of ours to this very file began, or ``None``.

    The state's mark counts only while it names this file (inode and device) and the bytes
    before the mark are still those the writer saw (a CRC-32 of the 4 KiB before it), and,
    for a write that began at the very start, only while nothing recognises the bytes as
    another format. A write from the start has no bytes before it to prove anything, so
    :func:`torn_is_ours` asks more of a torn record there.
    """
    since = saved.writing_since
    if since is None or saved.identity is None or not _same_inode(saved.identity, identity):
        return None
    if since > storage.size():  # the bytes it saw are not there: no write of ours began there
        return None
    if _fingerprint(storage, since) != saved.writing_check:
        return None
    if since == 0 and recognised_format(storage) is not None:
        return None
    return since


def torn_is_ours(torn_at: int, since: int | None) -> bool:
    """Whether a record torn at ``torn_at`` is a crash's torn write (``since``: the mark).

    It lies at or after where the unfinished write began, and, when that write began at
    the very start, after at least one whole object: a file copied over a blank tape (or
    given its freed inode) whose first bytes read as an overlong record is no write of ours.
    Such a first record is cut only by an explicit ``vmt repair``, which keeps a backup.
    """
    return since is not None and torn_at >= since and (since > 0 or torn_at > 0)


def _fingerprint(storage: Storage, offset: int) -> int:
    """CRC-32 of the (up to) 4 KiB before ``offset``: what a writer starting there saw."""
    start = max(0, offset - _FINGERPRINT)
    head = bytearray(offset - start)
    got = storage.read_into(start, memoryview(head))
    return zlib.crc32(head[:got])


_FINGERPRINT = 4096


def _same_inode(a: ImageIdentity, b: ImageIdentity) -> bool:
    return (a.inode, a.device) == (b.inode, b.device)


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
