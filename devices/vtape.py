"""Opening and creating tape images: storage, lock, saved state and index put together.

:func:`open_tape_image` is what ``vmt`` and the RMT server call to get a
:class:`~devices.drive.VirtualTapeDrive`. It takes the one-opener lock, restores the drive's
state from the previous open (position, loaded state, block size, density), loads or rebuilds
the object index, and arranges for the state and index to be saved when the drive is closed.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os

from devices.drive import VirtualTapeDrive
from devices.errors import tape_error
from devices.formats.base import TapeFormat
from devices.formats.image import INDEX_SUFFIX, TapeImage
from devices.formats.index import ImageIdentity
from devices.formats.simh import SimhFormat
from devices.interface import OpenOptions
from devices.state import (
    STATE_SUFFIX,
    DriveState,
    SavedState,
    StateFile,
    VolumeInfo,
    lock_exclusive,
)
from devices.storage import FileStorage

log = logging.getLogger(__name__)

RESERVED_SUFFIXES = (".aws", ".het", ".iso")
"""Image kinds named by suffix whose formats are not served yet."""

SIDE_FILES = (STATE_SUFFIX, INDEX_SUFFIX)
"""Suffixes of the files kept beside an image."""


def format_for(path: str) -> TapeFormat:
    """Choose the image format by file name: SIMH for ``.tap`` and any unreserved name.

    Raises:
        OSError: EMEDIUMTYPE for a reserved suffix whose format is not implemented.
    """
    lower = path.lower()
    for suffix in RESERVED_SUFFIXES:
        if lower.endswith(suffix):
            raise tape_error(errno.EMEDIUMTYPE, f"{path}: {suffix} images are not supported yet")
    return SimhFormat()


def create_tape_image(path: str, volume: VolumeInfo, exist_ok: bool = False) -> None:
    """Create a blank image at ``path`` and record ``volume`` (density, capacity) beside it.

    Raises:
        OSError: EEXIST if the image exists and ``exist_ok`` is false; the system's errors.
    """
    format_for(path)
    flags = os.O_WRONLY | os.O_CREAT | (0 if exist_ok else os.O_EXCL)
    fd = os.open(path, flags, 0o666)
    try:
        lock_exclusive(fd, path)
        os.ftruncate(fd, 0)
        os.fsync(fd)
        StateFile(path).save(
            SavedState(volume=volume, drive=DriveState(), identity=ImageIdentity.of(path))
        )
    finally:
        os.close(fd)
    _remove_quietly(path + INDEX_SUFFIX)


def open_tape_image(path: str, options: OpenOptions, name: str | None = None) -> VirtualTapeDrive:
    """Open the image at ``path`` as a virtual tape drive.

    Args:
        path: the image file.
        options: how to open it (write access, create, rewind or unload on close...).
        name: what to call the image in error messages (the name the client gave, so that
            messages do not reveal where the server keeps its files); default ``path``.

    Returns:
        The open drive; close it to write the closing filemark and save its state.

    Raises:
        OSError: ENOENT for a missing image (without ``create``), EBUSY when another opener
            has it, EROFS for a write open of a write-protected volume, ENOMEDIUM when no
            volume is loaded (unless ``nonblock``), and the system's errors.
    """
    label = name or path
    try:
        fmt = format_for(path)
        storage = _open_storage(path, options)
    except OSError as exc:
        raise _relabel(exc, path, label) from None
    try:
        lock_exclusive(storage.fileno(), path)
        drive = _open_locked(path, fmt, storage, options)
    except OSError as exc:
        storage.close()
        raise _relabel(exc, path, label) from None
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


def _open_storage(path: str, options: OpenOptions) -> FileStorage:
    """Open the image file: read-write only for a write open (or to create it).

    A read-only open never modifies the image, not even to cut a torn tail: that waits for
    the next open for writing.
    """
    exists = os.path.exists(path)
    if not exists and not options.create:
        raise tape_error(errno.ENOENT, f"{path}: no such tape image")
    if exists and os.path.isdir(path):
        raise tape_error(errno.EISDIR, f"{path}: is a directory")
    if exists and not os.path.isfile(path):  # a FIFO would block, a device has no side files
        raise tape_error(errno.EINVAL, f"{path}: not a regular file")
    if not (options.write or not exists):
        return FileStorage.open(path, writable=False)
    if exists and not os.access(path, os.W_OK):
        raise tape_error(errno.EROFS, f"{path}: image is read-only")
    try:
        return FileStorage.open(path, writable=True, create=options.create)
    except PermissionError:
        if exists:
            raise tape_error(errno.EROFS, f"{path}: image is read-only") from None
        raise


def _open_locked(
    path: str, fmt: TapeFormat, storage: FileStorage, options: OpenOptions
) -> VirtualTapeDrive:
    state_file = StateFile(path)
    saved = state_file.load()
    identity = ImageIdentity.of(path)
    if saved.identity is not None and saved.identity != identity:
        # Someone else changed the image: a new medium, so the drive starts at BOT.
        log.info("%s: image changed since the last open; starting at BOT", path)
        saved.drive = DriveState(
            loaded=saved.drive.loaded,
            block_size=saved.drive.block_size,
            compression=saved.drive.compression,
        )
    if options.write and saved.volume.write_protected:
        raise tape_error(errno.EROFS, f"{path}: volume is write-protected")
    if not saved.drive.loaded and not options.nonblock:
        raise tape_error(errno.ENOMEDIUM, f"{path}: no medium loaded")
    repairable = storage.writable and not saved.volume.write_protected
    image = TapeImage.open(storage, fmt, path, writable=repairable)
    if saved.drive.position > len(image):
        saved.drive = DriveState(loaded=saved.drive.loaded, block_size=saved.drive.block_size)

    def finish(drive: VirtualTapeDrive) -> None:
        try:
            image.save_index(path)
            state = SavedState(drive.volume, drive.drive, ImageIdentity.of(path))
            try:
                state_file.save(state)
            except OSError as exc:
                if options.write:
                    raise
                # A read-only open of an image on a read-only share must still close cleanly.
                log.warning("%s: drive state not saved (%s)", path, exc.strerror)
        finally:
            storage.close()

    return VirtualTapeDrive(image, path, saved.drive, saved.volume, options, finish)


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
