"""``vmt convert SRC DST``: the same tape in another image format, record for record.

Every record, filemark and bad-data mark of SRC is copied, in order, into a new image DST of the
format its name claims (``.tap`` SIMH, ``.aws``, ``.het``) or ``--to`` names. Nothing is
approximated: a record the destination format cannot hold (too long, or marked bad where the
format has no such mark) stops the conversion with a message naming the record, and a damaged
source is refused before anything is written. DST must not exist; a conversion that fails or is
interrupted removes the DST it created (and only that), so no half image is left behind.

Either side may be a stored volume, ``s3://bucket/prefix/volume.tap`` (:mod:`rmtd.vmt.stored`).
A stored DST is created under its lease, so two conversions racing for one name cannot both
write it; one that fails is removed again with :func:`devices.stored.admin.delete_volume`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import click

from devices.drive import VirtualTapeDrive
from devices.formats.image import TapeImage
from devices.formats.index import INDEX_SUFFIX
from devices.interface import OpenOptions
from devices.kinds import DeviceKind, image_kinds_by_format, kind_by_name
from devices.state import STATE_SUFFIX, VolumeInfo
from devices.stored.admin import delete_volume
from devices.stored.volume import Store
from devices.vtape import create_tape_image, open_tape_image
from rmtd.sizes import parse_size
from rmtd.vmt.app import EXIT_INTERRUPTED, errors_exit, main, open_image
from rmtd.vmt.stored import address_of, is_store_url, store_of, store_options

FORMATS = image_kinds_by_format()
"""``--to`` names (:mod:`devices.kinds` decides them)."""


@dataclass
class Copied:
    """What a conversion copied, for its summary line."""

    files: int = 0
    records: int = 0
    bytes: int = 0
    bad: int = 0

    def line(self, source: str, destination: str) -> str:
        """``b.aws: 2 tape files, 57 records, 583680 bytes from a.tap``."""
        bad = f" ({self.bad} marked bad)" if self.bad else ""
        return (
            f"{destination}: {self.files} tape files, {self.records} records{bad}, "
            f"{self.bytes} bytes from {source}"
        )


@main.command("convert")
@click.argument("source", type=click.Path())
@click.argument("destination", type=click.Path())
@click.option(
    "--to",
    "target",
    type=click.Choice(sorted(FORMATS)),
    help="The destination's format (default: the one its name claims).",
)
@click.option(
    "--chunk-size",
    metavar="SIZE",
    help="For an s3:// DESTINATION: the size of its chunk objects (default 16M).",
)
@store_options
def convert_command(
    source: str, destination: str, target: str | None, chunk_size: str | None
) -> None:
    """Copy every record and filemark of SOURCE into a new image DESTINATION.

    The destination's format is the one its name claims (.tap, .aws, .het) or --to. A record
    the format cannot hold stops the copy, naming the record; a damaged SOURCE is refused
    ('vmt verify', 'vmt repair'). A progress bar shows on a terminal; a summary line ends on
    standard error. Either side may be a stored volume, s3://bucket/prefix/volume.tap.
    """
    kind = _destination_kind(destination, target)
    chunk = _chunk_size(chunk_size)
    copied = Copied()
    with errors_exit(source), open_image(source, OpenOptions()) as drive:
        if drive.image.damage is not None:
            raise OSError(
                errno.EIO,
                f"{source}: {drive.image.damage}; nothing converted ('vmt verify', 'vmt repair')",
            )
        new = _new_stored(destination, kind, drive, chunk) if is_store_url(destination) else None
        with errors_exit(destination), new or _new_image(destination, kind, drive) as out:
            try:
                _copy(drive.image, out.image, destination, copied)
            except KeyboardInterrupt:
                raise _InterruptedError from None
    click.echo(copied.line(source, destination), err=True)


class _InterruptedError(Exception):
    """Ctrl-C during the copy (the destination is removed on the way out)."""


def _destination_kind(destination: str, target: str | None) -> DeviceKind:
    """The destination's image kind: ``--to``, else its name's; a usage error if neither."""
    claimed = kind_by_name(destination)
    if target is None:
        if not claimed.is_tape_image:
            raise click.UsageError(
                f"{destination}: its name says {claimed.value}: name it *.tap, *.aws or *.het, "
                "or give --to"
            )
        return claimed
    kind = FORMATS[target]
    if claimed.is_tape_image and claimed is not kind:
        raise click.UsageError(f"{destination}: its name says {claimed.value}, not {target}")
    return kind


@contextmanager
def _new_image(
    destination: str, kind: DeviceKind, source: VirtualTapeDrive
) -> Iterator[VirtualTapeDrive]:
    """Create DST (it must not exist) and open it for writing; remove it again on failure."""
    if os.path.lexists(destination):
        raise OSError(errno.EEXIST, f"{destination}: exists; vmt convert makes new images only")
    create_tape_image(destination, VolumeInfo(density=source.volume.density), kind=kind)
    try:
        out = open_tape_image(destination, OpenOptions(write=True), kind=kind)
        try:
            yield out
        finally:
            out.close()
    except _InterruptedError:
        _remove(destination)
        click.echo(f"vmt: {destination}: interrupted; removed", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except BaseException:
        _remove(destination)
        raise


def _chunk_size(text: str | None) -> int | None:
    """``--chunk-size`` in bytes (64k to 5G, as a store's ``chunk_size``)."""
    if text is None:
        return None
    try:
        size = parse_size(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--chunk-size") from None
    if not 64 << 10 <= size <= 5 << 30:
        raise click.BadParameter(f"{text} is out of range 64k..5G", param_hint="--chunk-size")
    return size


@contextmanager
def _new_stored(
    destination: str, kind: DeviceKind, source: VirtualTapeDrive, chunk_size: int | None
) -> Iterator[VirtualTapeDrive]:
    """Create the stored volume DST (it must not exist); remove it again on failure."""
    address, volume = address_of(destination)
    store = store_of(address, chunk_size)
    exists = OSError(errno.EEXIST, f"{destination}: exists; vmt convert makes new volumes only")
    if store.manifest(volume) is not None:
        raise exists
    out = store.open_volume(volume, OpenOptions(write=True, create=True), kind, destination)
    try:
        # Under the lease now: a volume another host created since the check above shows here.
        if store.manifest(volume) is not None:
            raise exists
    except BaseException:
        out.close()
        raise
    out.volume.density = source.volume.density
    try:
        try:
            yield out
        finally:
            out.close()
    except BaseException as exc:
        _remove_stored(destination, store, volume)
        if isinstance(exc, _InterruptedError):
            click.echo(f"vmt: {destination}: interrupted; removed", err=True)
            sys.exit(EXIT_INTERRUPTED)
        raise


def _remove_stored(destination: str, store: Store, volume: str) -> None:
    """Remove the stored volume this command created (the first error stays the one raised)."""
    try:
        delete_volume(store.objects, store.volume_key(volume), destination)
        store.spool_of(volume).remove()
    except OSError as exc:
        click.echo(f"vmt: {destination}: not removed: {exc.strerror}", err=True)


def _remove(destination: str) -> None:
    """Remove the image this command created, and its side files."""
    for path in (destination, destination + STATE_SUFFIX, destination + INDEX_SUFFIX):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _copy(src: TapeImage, dst: TapeImage, destination: str, copied: Copied) -> None:
    """Append every object of ``src`` to ``dst``, filemarks in runs, records one by one."""
    index = src.index
    buffer = bytearray()
    with _progress(destination, len(index)) as advance:
        i = 0
        while i < len(index):
            if index.is_filemark(i):
                run = _marks_from(index.lengths, i)
                dst.append_filemarks(run)
                copied.files += run
                i += run
                advance(run)
                continue
            length = index.record_length(i)
            bad = index.is_bad(i)
            _check_fits(dst, i, length, bad, destination)
            if len(buffer) < length:
                buffer = bytearray(length)
            view = memoryview(buffer)[:length]
            src.read_record(i, view)
            dst.append_record(view, bad)
            copied.records += 1
            copied.bad += bad
            copied.bytes += length
            i += 1
            advance(1)
    if len(index) and not index.is_filemark(len(index) - 1):
        copied.files += 1  # records after the last filemark: a last, unclosed file


def _marks_from(lengths: Any, i: int) -> int:
    """How many filemarks follow each other from object ``i``."""
    end = i
    while end < len(lengths) and lengths[end] == lengths[i]:
        end += 1
    return end - i


def _check_fits(dst: TapeImage, i: int, length: int, bad: bool, destination: str) -> None:
    """Refuse a record the destination format cannot hold, naming it."""
    fmt = dst.format
    if bad and not fmt.holds_bad_records:
        raise OSError(
            errno.EINVAL,
            f"{destination}: record {i} is marked bad, and a {fmt.name} image has no such mark; "
            "nothing converted",
        )
    if not 0 < length <= fmt.max_record:
        raise OSError(
            errno.EINVAL,
            f"{destination}: record {i} holds {length} bytes, a {fmt.name} image at most "
            f"{fmt.max_record}; nothing converted",
        )


@contextmanager
def _progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar over objects on standard error when it is a terminal."""
    if not sys.stderr.isatty() or not total:
        yield lambda _n: None
        return
    bar: Any = click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True)
    with bar:
        yield bar.update
