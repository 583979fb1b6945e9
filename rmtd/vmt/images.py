"""``vmt`` image tools: ``new``, ``ls``, ``write`` and ``read`` for tape images."""

from __future__ import annotations

import errno
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

import click

from devices.density import parse_density
from devices.drive import VirtualTapeDrive
from devices.interface import MAX_RECORD, MtOp, OpenOptions
from devices.state import VolumeInfo
from devices.tapemap import TapeFileSummary, summarize
from devices.vtape import create_tape_image
from rmtd.vmt.app import errors_exit, main, open_image

DEFAULT_BLOCK = 10240
"""Record size for ``vmt write``: tar's default (20 blocks of 512 bytes)."""


def _parse_size(text: str) -> int:
    """Parse ``1048576``, ``64k``, ``100M``, ``1.5G`` (powers of 1024) into bytes."""
    units = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    value = text.strip().lower().removesuffix("b").removesuffix("i")
    suffix = value[-1:] if value[-1:] in units and value[-1:] else ""
    try:
        number = float(value[: len(value) - len(suffix)])
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a size such as 4096, 64k, 100M") from None
    if number < 0:
        raise click.BadParameter(f"{text!r} is negative")
    return int(number * units[suffix])


@main.command("new")
@click.argument("image", type=click.Path(dir_okay=False))
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
@click.option("--force", is_flag=True, help="Replace an existing image.")
def new_command(
    image: str, capacity: str | None, early_warning: str | None, density: str, force: bool
) -> None:
    """Create a blank tape image."""
    size = _parse_size(capacity) if capacity else 0
    margin = _parse_size(early_warning) if early_warning else min(128 << 10, size // 4)
    if size and margin >= size:
        raise click.BadParameter("the early-warning zone must be smaller than the capacity")
    with errors_exit(image):
        volume = VolumeInfo(
            density=parse_density(density), capacity=size, early_warning=margin if size else 0
        )
        create_tape_image(image, volume, exist_ok=force)


@main.command("ls")
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def ls_command(image: str, as_json: bool) -> None:
    """List the tape files of an image: records, smallest and largest record, bytes."""
    with errors_exit(image), open_image(image, OpenOptions(nonblock=True)) as drive:
        files = summarize(drive.image.index)
        problem = drive.image.damage
    if as_json:
        doc: dict[str, Any] = {
            "image": image,
            "files": [f.as_dict() for f in files],
            "problem": problem,
        }
        click.echo(json.dumps(doc, indent=2))
        return
    for summary in files:
        click.echo(summary.line())
    click.echo(_total_line(files))
    if problem:
        click.echo(f"Unreadable after the last object: {problem}")


def _total_line(files: list[TapeFileSummary]) -> str:
    records = sum(f.records for f in files)
    data = sum(f.bytes for f in files)
    return f"End of data: {len(files)} files, {records} records, {data} bytes."


@main.command("write")
@click.argument("image", type=click.Path(dir_okay=False))
@click.argument("files", nargs=-1, required=True, type=click.File("rb"))
@click.option(
    "-b",
    "--block-size",
    type=click.IntRange(1, MAX_RECORD),
    default=DEFAULT_BLOCK,
    show_default=True,
    help="Record size; a file's last record may be shorter.",
)
def write_command(image: str, files: tuple[IO[bytes], ...], block_size: int) -> None:
    """Append each FILE to the image as one tape file (records, then a filemark)."""
    with errors_exit(image), open_image(image, OpenOptions(write=True, create=True)) as drive:
        saved_block_size = drive.drive.block_size
        drive.ioctl(MtOp.MTSETBLK, 0)
        try:
            drive.ioctl(MtOp.MTEOM, 1)
            index = drive.image.index
            if len(index) and not index.is_filemark(len(index) - 1):
                drive.ioctl(MtOp.MTWEOF, 1)  # close the last file, so ours is a file of its own
            for source in files:
                _copy_to_tape(source, drive, block_size)
                drive.ioctl(MtOp.MTWEOF, 1)
        finally:
            drive.drive.block_size = saved_block_size


def _copy_to_tape(source: IO[bytes], drive: VirtualTapeDrive, block_size: int) -> None:
    while True:
        buffer = drive.write_buffer(block_size)
        got = _read_full(source.readinto, buffer)  # type: ignore[attr-defined]
        if got:
            drive.commit_write(got)
        if got < block_size:
            return


def _read_full(readinto: Callable[[memoryview], int | None], buffer: memoryview) -> int:
    total = 0
    while total < len(buffer):
        got = readinto(buffer[total:])
        if not got:
            break
        total += got
    return total


@main.command("read")
@click.argument("image", type=click.Path(dir_okay=False))
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
def read_command(image: str, file_number: int, output: str) -> None:
    """Copy the records of one tape file, concatenated, to OUTPUT."""
    with errors_exit(image), open_image(image, OpenOptions(nonblock=True)) as drive:
        files = summarize(drive.image.index)
        if file_number >= len(files):
            raise OSError(
                errno.EIO, f"{image}: no tape file {file_number} (the image holds {len(files)})"
            )
        chosen = files[file_number]
        index = drive.image.index
        buffer = memoryview(bytearray(chosen.largest))
        with errors_exit(output), _output(output) as out:
            for i in range(chosen.first, chosen.end):
                if index.is_bad(i):
                    raise OSError(errno.EIO, f"{image}: bad data in record {i}")
                length = drive.image.read_record(i, buffer)
                _write_all(out, buffer[:length])


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


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data) :]


@main.command("protect")
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("--off", is_flag=True, help="Clear the write protection instead.")
def protect_command(image: str, off: bool) -> None:
    """Set the volume's write-protect tab (opens for writing then get EROFS), or clear it."""
    with errors_exit(image), open_image(image, OpenOptions(nonblock=True)) as drive:
        drive.volume.write_protected = not off
