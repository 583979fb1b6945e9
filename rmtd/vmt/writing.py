"""``vmt write``: append files to an image, one tape file each, and say what was written.

A tape file the command could not finish (Ctrl-C, no space left at early warning or at the
physical end, a read error on the source) is closed by a filemark as the drive closes any file
at close, and recorded as incomplete in the volume's state, so that ``vmt ls`` marks it.

Ctrl-C is held off while a record goes to the image: Python raises ``KeyboardInterrupt``
between bytecodes, and one arriving after the record's bytes reached the file but before the
index counted it would leave bytes the drive does not know of, which its closing filemark
would then overwrite in part. Anywhere else (typically a blocked read of the source) it stops
the copy at once. The command then exits with 130, as the shell reports a program stopped by
SIGINT.
"""

from __future__ import annotations

import errno
import io
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import IO, Any

import click

from devices.drive import VirtualTapeDrive
from devices.interface import MAX_RECORD, MtOp, OpenOptions
from rmtd.vmt.app import EXIT_INTERRUPTED, errors_exit, main, open_image
from rmtd.vmt.stored import store_options

DEFAULT_BLOCK = 10240
"""Record size for ``vmt write``: tar's default (20 blocks of 512 bytes)."""


@dataclass
class WriteTotals:
    """What one ``vmt write`` wrote, for its summary line."""

    files: list[int]
    records: int = 0
    bytes: int = 0
    unfinished: str = ""
    """What was left unfinished, for the message of a failed or interrupted write."""

    def line(self, image: str) -> str:
        """The summary: ``vol.tap: wrote 2 tape files (3, 4), 57 records, 583680 bytes``."""
        numbers = ", ".join(str(n) for n in self.files)
        return (
            f"{image}: wrote {_count(len(self.files), 'tape file')} ({numbers}), "
            f"{_count(self.records, 'record')}, {_count(self.bytes, 'byte')}"
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class _Interrupts:
    """SIGINT as ``KeyboardInterrupt``, except within :meth:`held` (raised when it ends)."""

    def __init__(self) -> None:
        self._holding = False
        self._pending = False
        self._ignoring = False

    def handler(self, _signum: int, _frame: FrameType | None) -> None:
        """The SIGINT handler."""
        if self._ignoring:
            return
        if self._holding:
            self._pending = True
            return
        raise KeyboardInterrupt

    def ignore(self) -> None:
        """Ignore further SIGINTs: the drive must close (filemark, state) once stopping."""
        self._ignoring = True

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold SIGINT off for the body; raise ``KeyboardInterrupt`` after it if one came."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
        if self._pending:
            raise KeyboardInterrupt


@contextmanager
def _sigint(interrupts: _Interrupts) -> Iterator[None]:
    """Install ``interrupts``' handler for the body (main thread only, as signals require)."""
    previous = signal.signal(signal.SIGINT, interrupts.handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@main.command("write")
@click.argument("image", type=click.Path())
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option(
    "-b",
    "--block-size",
    type=click.IntRange(1, MAX_RECORD),
    default=DEFAULT_BLOCK,
    show_default=True,
    help="Record size; a file's last record may be shorter.",
)
@store_options
def write_command(image: str, files: tuple[str, ...], block_size: int) -> None:
    """Append each FILE (- for standard input) to the image as one tape file.

    Each becomes records of the block size, then a filemark. A progress bar shows on a
    terminal; a summary line ends on standard error. A file that cannot be finished is left
    marked incomplete (see vmt ls); Ctrl-C exits with 130. IMAGE may be a stored volume,
    s3://bucket/prefix/volume.tap (created if the store has none).
    """
    interrupts = _Interrupts()
    totals = WriteTotals(files=[])
    with ExitStack() as stack:
        sources = [_open_source(name, stack) for name in files]
        try:
            with _sigint(interrupts):
                _write_all(image, sources, block_size, interrupts, totals)
        except KeyboardInterrupt:
            what = f": {totals.unfinished}" if totals.unfinished else ""
            click.echo(f"vmt: {image}: interrupted{what}", err=True)
            sys.exit(EXIT_INTERRUPTED)
    click.echo(totals.line(image), err=True)


def _open_source(name: str, stack: ExitStack[bool | None]) -> tuple[str, IO[bytes]]:
    """Open every source before the image, so that a missing one writes nothing."""
    if name == "-":
        return "standard input", _standard_input(stack)
    with errors_exit(name):
        if os.path.isdir(name):
            raise IsADirectoryError(errno.EISDIR, f"{name}: is a directory")
        return name, stack.enter_context(open(name, "rb", buffering=0))


def _standard_input(stack: ExitStack[bool | None]) -> IO[bytes]:
    """Standard input unbuffered: no read-ahead beyond the record being filled."""
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return sys.stdin.buffer  # not a file descriptor (a test harness's stream)
    return stack.enter_context(open(fd, "rb", buffering=0, closefd=False))


def _write_all(
    image: str,
    sources: list[tuple[str, IO[bytes]]],
    block_size: int,
    interrupts: _Interrupts,
    totals: WriteTotals,
) -> None:
    with errors_exit(image), open_image(image, OpenOptions(write=True, create=True)) as drive:
        saved_block_size = drive.state.block_size
        drive.ioctl(MtOp.MTSETBLK, 0)
        try:
            drive.ioctl(MtOp.MTEOM, 1)
            index = drive.image.index
            if len(index) and not index.is_filemark(len(index) - 1):
                drive.ioctl(MtOp.MTWEOF, 1)  # close the last file, so ours is a file of its own
            for name, source in sources:
                totals.files.append(len(drive.image.index.marks))
                _copy_file(drive, name, source, block_size, interrupts, totals)
            interrupts.ignore()  # all written: let the drive close and save its state
        finally:
            drive.state.block_size = saved_block_size


def _copy_file(
    drive: VirtualTapeDrive,
    name: str,
    source: IO[bytes],
    block_size: int,
    interrupts: _Interrupts,
    totals: WriteTotals,
) -> None:
    """Copy one source as records and a filemark; on failure, mark the tape file incomplete."""
    written = 0
    closed = False
    try:
        with _progress(name, source) as advance:
            while True:
                buffer = drive.write_buffer(block_size)
                got = _read_full(name, source, buffer)
                if got:
                    with interrupts.held():  # counted before a held-off Ctrl-C is raised
                        drive.commit_write(got)
                        written += 1
                        totals.records += 1
                        totals.bytes += got
                    advance(got)
                if got < block_size:
                    break
        with interrupts.held():
            drive.ioctl(MtOp.MTWEOF, 1)
            closed = True
    except KeyboardInterrupt:
        interrupts.ignore()
        if not closed:  # a Ctrl-C held off during the filemark: the file is whole
            _abandon(drive, written, totals)
        raise
    except OSError as exc:
        interrupts.ignore()
        _abandon(drive, written, totals)
        raise OSError(exc.errno, f"{exc.strerror}; {totals.unfinished}") from None


def _abandon(drive: VirtualTapeDrive, written: int, totals: WriteTotals) -> None:
    """Mark the unfinished tape file incomplete if it holds records; note what was left."""
    number = totals.files[-1]
    if written:
        drive.mark_file_incomplete()
        totals.unfinished = f"tape file {number} is incomplete ({written} records written)"
    else:
        totals.files.pop()
        totals.unfinished = f"tape file {number} was not started"


def _read_full(name: str, source: IO[bytes], buffer: memoryview) -> int:
    """Fill ``buffer`` from ``source`` (short only at its end); errors name the source."""
    total = 0
    try:
        while total < len(buffer):
            got = source.readinto(buffer[total:])  # type: ignore[attr-defined]
            if not got:
                break
            total += got
    except OSError as exc:
        raise OSError(exc.errno, f"{name}: {exc.strerror}") from None
    return total


@contextmanager
def _progress(name: str, source: IO[bytes]) -> Iterator[Callable[[int], None]]:
    """A progress bar on standard error when it is a terminal; else nothing is drawn."""
    if not sys.stderr.isatty():
        yield lambda _n: None
        return
    try:
        length: int | None = os.fstat(source.fileno()).st_size or None
    except (OSError, ValueError):
        length = None
    # click types the bar by the items of an iterable; this one counts bytes, with no items
    bar: Any = click.progressbar(
        length=length, label=name, file=sys.stderr, show_pos=True, update_min_steps=8
    )
    with bar:
        yield bar.update
