"""``vmt`` image tools: ``new``, ``ls``, ``read`` and ``protect`` for tape images.

IMAGE arguments are plain paths: a directory or a missing file is an operation error (one line,
exit 1) found when the image is opened, not a usage error. ``ls``, ``read`` and ``protect`` also
take a stored volume's ``s3://`` URL (:mod:`rmtd.vmt.stored`); ``new`` refuses one.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import click

from devices.density import parse_density
from devices.interface import OpenOptions
from devices.state import VolumeInfo, default_early_warning
from devices.tapemap import TapeFileSummary, summarize
from devices.vtape import create_tape_image
from rmtd.sizes import parse_size
from rmtd.vmt.app import (
    EXIT_ERROR,
    StdoutClosedError,
    emit,
    errors_exit,
    image_kind,
    main,
    open_image,
    quiet_devices,
)
from rmtd.vmt.stored import refuse_stored, store_options


def _parse_size(text: str) -> int:
    """:func:`rmtd.sizes.parse_size`, its errors as click's for an option."""
    try:
        return parse_size(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@main.command("new")
@click.argument("image", type=click.Path())
@click.option("--capacity", metavar="SIZE", help="Physical end of the medium (e.g. 100M).")
@click.option(
    "--early-warning",
    metavar="SIZE",
    help="Early-warning zone before the end (default: 128k, or a quarter of a smaller capacity).",
)
@click.option(
    "--density",
    metavar="D",
    default="0",
    help="Density: 800, 1600, 6250 bpi, a code such as 0x42, or a name (LTO-2).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace an existing image (never a write-protected one, nor a file that is no image).",
)
def new_command(
    image: str, capacity: str | None, early_warning: str | None, density: str, force: bool
) -> None:
    """Create a blank tape image."""
    size = _parse_size(capacity) if capacity else 0
    margin = _parse_size(early_warning) if early_warning else default_early_warning(size)
    if size and margin >= size:
        raise click.BadParameter("the early-warning zone must be smaller than the capacity")
    with errors_exit(image):
        refuse_stored(image, "new", "'vmt write' or 'vmt convert' creates a stored volume")
        volume = VolumeInfo(
            density=parse_density(density), capacity=size, early_warning=margin if size else 0
        )
        create_tape_image(image, volume, exist_ok=force, kind=image_kind(image))


@main.command("ls")
@click.argument("image", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@store_options
def ls_command(image: str, as_json: bool) -> None:
    """List the tape files of an image: records, record sizes, bytes, first object number.

    Exits with 1 after listing what is readable when the image is damaged. IMAGE may be a
    stored volume, s3://bucket/prefix/volume.tap.
    """
    with (
        errors_exit(image),
        quiet_devices(),  # the damage line below says it all
        open_image(image, OpenOptions(nonblock=True)) as drive,
    ):
        files = summarize(drive.image.index, drive.volume.incomplete)
        problem = drive.image.damage
        offset = drive.image.index.end if problem else None  # where readable data stops
    if as_json:
        doc: dict[str, Any] = {
            "image": image,
            "files": [f.as_dict() for f in files],
            "problem": problem,
            "offset": offset,
        }
        emit(json.dumps(doc, indent=2))
    else:
        for summary in files:
            emit(summary.line())
        emit(_total_line(files))
    if problem:
        click.echo(f"vmt: {image}: {problem} (see vmt verify)", err=True)
        sys.exit(EXIT_ERROR)


def _total_line(files: list[TapeFileSummary]) -> str:
    records = sum(f.records for f in files)
    data = sum(f.bytes for f in files)
    return f"End of data: {len(files)} files, {records} records, {data} bytes."


@main.command("read")
@click.argument("image", type=click.Path())
@click.option(
    "--file",
    "file_number",
    type=click.IntRange(0),
    required=True,
    help="Tape file number, from 0 as mt status counts.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    help="Where to write the data (default: standard output).",
)
@store_options
def read_command(image: str, file_number: int, output: str) -> None:
    """Copy the records of one tape file, concatenated, to OUTPUT.

    IMAGE may be a stored volume, s3://bucket/prefix/volume.tap.
    """
    with errors_exit(image), open_image(image, OpenOptions(nonblock=True)) as drive:
        files = summarize(drive.image.index)
        damage = drive.image.damage
        if file_number >= len(files):
            holds = f"the image holds {len(files)}" + (f" before it is {damage}" if damage else "")
            raise OSError(errno.EIO, f"{image}: no tape file {file_number} ({holds})")
        chosen = files[file_number]
        index = drive.image.index
        buffer = memoryview(bytearray(chosen.largest))
        with ExitStack() as stack:
            with errors_exit(output):
                out = stack.enter_context(_output(output))
            for i in range(chosen.first, chosen.end):
                if index.is_bad(i):
                    raise OSError(errno.EIO, f"{image}: bad data in record {i}")
                # A read error is the image's (a stored volume's chunk gone, say), a write
                # error the output's: each names its own.
                length = drive.image.read_record(i, buffer)
                with errors_exit(output), _stdout_closed(out):
                    _write_all(out, buffer[:length])
        if damage and not chosen.closed:  # the file runs into the damage: what came is partial
            raise OSError(errno.EIO, f"{image}: tape file {file_number} is cut short: {damage}")


@contextmanager
def _output(name: str) -> Iterator[int]:
    """A file descriptor for OUTPUT, unbuffered, so that a write error shows where it happens."""
    if name == "-":
        yield sys.stdout.fileno()
        return
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        yield fd
    finally:
        os.close(fd)


@contextmanager
def _stdout_closed(fd: int) -> Iterator[None]:
    """EPIPE on standard output ends vmt silently, as SIGPIPE ends GNU cat (see ``app``)."""
    try:
        yield
    except BrokenPipeError:
        if fd == sys.stdout.fileno():
            raise StdoutClosedError from None
        raise


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data) :]


@main.command("protect")
@click.argument("image", type=click.Path())
@click.option("--off", is_flag=True, help="Clear the write protection instead.")
@store_options
def protect_command(image: str, off: bool) -> None:
    """Set the volume's write-protect tab (opens for writing then get EROFS), or clear it.

    IMAGE may be a stored volume, s3://bucket/prefix/volume.tap.
    """
    with errors_exit(image), open_image(image, OpenOptions(nonblock=True)) as drive:
        drive.volume.write_protected = not off
