"""``vmt``: an mt for virtual tape drives, and tools to make and inspect tape images.

``vmt -f DEVICE OPERATION [COUNT]`` takes mt's operations and spellings and prints ``status``
as mt-st does, so that scripts written for a real drive work on an image. The image tools
(``new``, ``ls``, ``write``, ``read``) build and inspect images for tests and CI.

Errors are one line on stderr and exit status 1; usage errors exit with 2, as mt does.
"""

from __future__ import annotations

import errno
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import IO, Any

import click

from devices.density import parse_density
from devices.drive import VirtualTapeDrive
from devices.errors import describe
from devices.interface import MAX_RECORD, MtOp, OpenOptions
from devices.state import VolumeInfo
from devices.tapemap import TapeFileSummary, summarize
from devices.vtape import create_tape_image, open_tape_image
from rmtd.mtops import OPERATIONS, MtOperation, format_status, parse_count, resolve_operation

EXIT_ERROR = 1
EXIT_USAGE = 2
DEFAULT_BLOCK = 10240
"""Record size for ``vmt write``: tar's default (20 blocks of 512 bytes)."""


class VmtGroup(click.Group):
    """The image tools as subcommands; any other word is an mt operation."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Return a subcommand, else a command for the mt operation the word names."""
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        operation = resolve_operation(cmd_name)
        if isinstance(operation, str):
            ctx.fail(operation)
        return _operation_command(operation)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Resolve as click does, keeping the full operation name for abbreviations."""
        _name, command, rest = super().resolve_command(ctx, args)
        return command.name if command else None, command, rest


@click.group(cls=VmtGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-f",
    "-t",
    "--file",
    "device",
    envvar="TAPE",
    metavar="DEVICE",
    help="The tape image (default: $TAPE).",
)
@click.pass_context
def main(ctx: click.Context, device: str | None) -> None:
    """Control a virtual tape drive as mt does, and make and inspect tape images.

    \b
    Operations (vmt -f DEVICE OPERATION [COUNT]):
      status rewind retension offline rewoffl eject weof eof fsf bsf fsr bsr
      fsfm bsfm eom eod seod tell seek setblk setdensity erase load unload
      lock unlock compression nop reset
    """  # noqa: D301 (click needs a real \b to keep the list as typed)
    ctx.obj = device


def _operation_command(operation: MtOperation) -> click.Command:
    @click.pass_context
    def run(ctx: click.Context, count: str | None) -> None:
        device = ctx.obj
        if not device:
            raise click.UsageError("no tape device: use -f DEVICE or set TAPE")
        with _errors_exit(device):
            _run_operation(device, operation, count)

    return click.Command(
        operation.name,
        callback=run,
        params=[click.Argument(["count"], required=False)],
        help=operation.help,
    )


def _run_operation(device: str, operation: MtOperation, count_text: str | None) -> None:
    count = parse_count(operation, count_text)
    options = OpenOptions(write=operation.writes, nonblock=not operation.needs_medium)
    with _open(device, options) as drive:
        if operation.op is not None:
            drive.ioctl(operation.op, count)
        elif operation.name == "tell":
            click.echo(f"At block {drive.tell()}.")
        else:
            click.echo(format_status(drive.status()), nl=False)


@contextmanager
def _errors_exit(name: str) -> Iterator[None]:
    """Turn an ``OSError`` into a one-line message and exit status 1."""
    try:
        yield
    except OSError as exc:
        click.echo(f"vmt: {_message(exc, name)}", err=True)
        sys.exit(EXIT_ERROR)


def _message(exc: OSError, name: str) -> str:
    text = describe(exc)
    return text if text.startswith(name) else f"{name}: {text}"


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
    with _errors_exit(image):
        volume = VolumeInfo(
            density=parse_density(density), capacity=size, early_warning=margin if size else 0
        )
        create_tape_image(image, volume, exist_ok=force)


@main.command("ls")
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def ls_command(image: str, as_json: bool) -> None:
    """List the tape files of an image: records, smallest and largest record, bytes."""
    with _errors_exit(image), _open(image, OpenOptions(nonblock=True)) as drive:
        files = summarize(drive.image.index)
        problem = drive.image.problem
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
    with _errors_exit(image), _open(image, OpenOptions(write=True, create=True)) as drive:
        saved_block_size = drive.drive.block_size
        drive.ioctl(MtOp.MTSETBLK, 0)
        try:
            drive.ioctl(MtOp.MTEOM, 1)
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
    type=click.File("wb"),
    default="-",
    help="Where to write the data (default: standard output).",
)
def read_command(image: str, file_number: int, output: IO[bytes]) -> None:
    """Copy the records of one tape file, concatenated, to OUTPUT."""
    with _errors_exit(image), _open(image, OpenOptions(nonblock=True)) as drive:
        files = summarize(drive.image.index)
        if file_number >= len(files):
            raise OSError(
                errno.EIO, f"{image}: no tape file {file_number} (the image holds {len(files)})"
            )
        chosen = files[file_number]
        first, last = chosen.first, chosen.end
        index = drive.image.index
        buffer = memoryview(bytearray(chosen.largest))
        for i in range(first, last):
            if index.is_bad(i):
                raise OSError(errno.EIO, f"{image}: bad data in record {i}")
            length = drive.image.read_record(i, buffer)
            output.write(buffer[:length])
        output.flush()


@contextmanager
def _open(image: str, options: OpenOptions) -> Iterator[VirtualTapeDrive]:
    drive = open_tape_image(image, options)
    try:
        yield drive
    except BaseException:
        with suppress(OSError):  # the first error is the one worth reporting
            drive.close()
        raise
    drive.close()


__all__ = ["OPERATIONS", "main"]
