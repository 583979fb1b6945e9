"""Every reader of a tape image, run over arbitrary bytes under checks.

Shared by the hypothesis properties (``tests/fuzz/test_readers.py``) and the atheris harness
(``bench/fuzz/images.py``). :func:`exercise` writes some bytes as an image and runs each reader
over them: the format's probe and ``kinds.describe_*``, the scan (``open_tape_image`` read-only,
and forced as ``vmt --force`` does for bytes that are no image), drive reads with various counts
in variable and fixed-block mode, ``/STREAM`` reads, the positioning operations, ``vmt ls`` and
``vmt read``, ``health.verify``, and an open for writing closed without a write. Each must end
in data, a clean end (a 0-byte read, EIO at the end of data), or ``OSError`` with an errno that
reader may give (EIO for damage, ENOMEM for a record longer than the count, EMEDIUMTYPE for
bytes that are no image); any other exception escapes to the caller as a failure.

Every read a reader asks of the storage is checked to start inside the file and to ask for no
more than the file holds or the format's largest record (so no corrupted length makes a reader
allocate without bound), and the index a scan builds is checked to trust only records that lie
in the file. An open for writing closed without writes must leave the bytes as they were: no
journal of ours is involved here, so nothing may be cut.

A new format plugs in by adding one :class:`FuzzFormat` line to :data:`FORMATS`.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar
from unittest import mock

from devices.drive import VirtualTapeDrive
from devices.formats.base import TapeFormat
from devices.formats.index import ObjectIndex
from devices.health import verify
from devices.interface import MtOp, OpenOptions
from devices.kinds import DeviceKind, describe_content, describe_fd, foreign_content, tape_format
from devices.storage import FileStorage
from devices.stream import StreamingTape
from devices.vtape import SIDE_FILES, open_tape_image
from rmtd.vmt import main as vmt_main
from tests import chunk_codec
from tests.simh_codec import Obj, encode

T = TypeVar("T")


@dataclass(frozen=True)
class FuzzFormat:
    """One image format under test: its kind, the suffix that claims it, and a clean builder."""

    kind: DeviceKind
    suffix: str
    build: Callable[[Sequence[Obj]], bytes]

    @property
    def fmt(self) -> TapeFormat:
        """The format's implementation, as the devices pick it."""
        return tape_format(self.kind, f"image{self.suffix}")


FORMATS: tuple[FuzzFormat, ...] = (
    FuzzFormat(DeviceKind.SIMH, ".tap", encode),
    FuzzFormat(DeviceKind.AWS, ".aws", chunk_codec.encode),
    FuzzFormat(DeviceKind.HET, ".het", lambda objects: chunk_codec.encode(objects, method=1)),
)
"""The formats the fuzzing covers; add a line per new format."""


class ReaderBugError(AssertionError):
    """A reader broke a rule: a read outside the file, an unbounded buffer, a changed file..."""


@dataclass
class ReadLog:
    """What the readers asked of the storage while checked."""

    reads: int = 0
    largest: int = 0
    limit: int = 0
    """Most bytes one read may ask for: the file's size or the format's largest record."""


@contextlib.contextmanager
def checked_storage(limit: int) -> Iterator[ReadLog]:
    """Check every ``FileStorage.read_into`` while inside: within the file, bounded."""
    log = ReadLog(limit=limit)
    original = FileStorage.read_into

    def read_into(self: FileStorage, offset: int, buffer: memoryview) -> int:
        size = self.size()
        wanted = len(buffer)
        # A read must start inside the file; only a sniff of the head (offset 0) may meet an
        # empty file.
        if wanted and not (0 <= offset < size or offset == 0):
            raise ReaderBugError(f"read of {wanted} bytes at {offset}, outside [0, {size})")
        if wanted > max(log.limit, size):
            raise ReaderBugError(f"read of {wanted} bytes (file {size}, limit {log.limit})")
        log.reads += 1
        log.largest = max(log.largest, wanted)
        return original(self, offset, buffer)

    with mock.patch.object(FileStorage, "read_into", read_into):
        yield log


def attempt(what: str, allowed: frozenset[int], call: Callable[[], T]) -> T | None:
    """``call()``; an ``OSError`` with an allowed errno gives ``None``, any other one fails."""
    try:
        return call()
    except OSError as exc:
        if exc.errno in allowed:
            return None
        raise ReaderBugError(f"{what}: unexpected {exc!r}") from exc


READ_ERRORS = frozenset({errno.EIO, errno.ENOMEM})
MOTION_ERRORS = frozenset({errno.EIO})
OPEN_ERRORS = frozenset({errno.EMEDIUMTYPE, errno.EIO})
COUNTS = (65536, 1, 10240, 7, 512, 3)
"""Read counts drive reads cycle through: larger and smaller than the records."""
MOTIONS: tuple[tuple[int, int], ...] = (
    (MtOp.MTFSF, 1),
    (MtOp.MTBSF, 1),
    (MtOp.MTFSR, 1),
    (MtOp.MTBSR, 2),
    (MtOp.MTFSFM, 1),
    (MtOp.MTBSFM, 1),
    (MtOp.MTEOM, 0),
    (MtOp.MTBSR, 1),
    (MtOp.MTSEEK, 1),
    (MtOp.MTSEEK, 3),
    (MtOp.MTSEEK, 1000),
    (MtOp.MTREW, 0),
    (MtOp.MTFSF, 3),
    (MtOp.MTTELL, 0),
)
"""A default sequence of tape motions (op, count)."""


def check_index(index: ObjectIndex, fmt: TapeFormat, size: int) -> None:
    """The objects a scan trusts lie in the file and hold no more than the format allows."""
    if not 0 <= index.end <= size:
        raise ReaderBugError(f"index end {index.end} outside the file of {size} bytes")
    for i in range(len(index)):
        offset = index.offsets[i]
        if not 0 <= offset < size:
            raise ReaderBugError(f"object {i} at {offset}, outside the file of {size} bytes")
        if index.is_filemark(i):
            continue
        length = index.record_length(i)
        if length > fmt.max_record:
            raise ReaderBugError(f"record {i} of {length} bytes trusted (max {fmt.max_record})")
        data = fmt.data_offset(index, i)
        if data is not None and data + length > size:
            raise ReaderBugError(f"record {i} of {length} bytes at {data} runs past {size}")


def read_until_end(read: Callable[[memoryview], int], counts: Sequence[int], steps: int) -> int:
    """Read with ``counts`` in turn until two ends or errors in a row; return the bytes read."""
    total = ends = 0
    for step in range(steps):
        count = counts[step % len(counts)]
        got = attempt("read", READ_ERRORS, partial(read, memoryview(bytearray(count))))
        if got is not None and not 0 <= got <= count:
            raise ReaderBugError(f"a read of {count} returned {got}")
        if not got:
            ends += 1
            if ends >= 2:
                break
            continue
        ends = 0
        total += got
    return total


def exercise_drive(drive: VirtualTapeDrive, motions: Sequence[tuple[int, int]]) -> None:
    """Drive reads (variable and fixed-block), ``/STREAM`` reads and motions on one open."""
    steps = 2 * len(drive.image) + 8
    if drive.block_size:  # restored from the state: whole blocks only, then variable mode
        # /STREAM in fixed-block mode asks the drive for a record's length, which is EINVAL
        # when that is no multiple of the block size: a refusal, not a crash.
        errors = READ_ERRORS | {errno.EINVAL}
        block = memoryview(bytearray(drive.block_size))
        attempt("fixed-block read", errors, partial(drive.readinto, block))
        attempt("fixed-block stream read", errors, partial(StreamingTape(drive).readinto, block))
        drive.ioctl(MtOp.MTSETBLK, 0)
    read_until_end(drive.readinto, COUNTS, steps)
    for op, count in motions:
        attempt(f"op {op} {count}", MOTION_ERRORS, partial(drive.ioctl, op, count))
        drive.status()
        attempt("read", READ_ERRORS, lambda: drive.readinto(memoryview(bytearray(10240))))
        attempt("read extent", READ_ERRORS, lambda: drive.read_extent(10240))
    drive.ioctl(MtOp.MTREW, 0)
    drive.ioctl(MtOp.MTSETBLK, 512)
    read_until_end(drive.readinto, (512, 1024, 10240), steps)
    drive.ioctl(MtOp.MTREW, 0)
    drive.ioctl(MtOp.MTSETBLK, 0)
    stream = StreamingTape(drive)
    for _ in range(3):  # three tape files' worth of stream, each ended by a 0
        read_until_end(stream.readinto, (1000, 3, 10240, 1), 4 * steps)
        attempt("stream extent", READ_ERRORS, lambda: stream.read_extent(10240))


def open_and_read(path: Path, item: FuzzFormat, motions: Sequence[tuple[int, int]]) -> None:
    """Open read-only (forced when the bytes are no image) and run every drive reader."""
    fmt, size = item.fmt, path.stat().st_size
    for forced in (False, True):
        drive = attempt(
            "open",
            OPEN_ERRORS,
            partial(
                open_tape_image, str(path), OpenOptions(), kind=item.kind, accept_foreign=forced
            ),
        )
        if drive is None:
            if forced:
                raise ReaderBugError("a forced read-only open failed")
            continue
        try:
            check_index(drive.image.index, fmt, size)
            exercise_drive(drive, motions)
        finally:
            drive.close()
        if not forced:
            return


def probe_and_describe(path: Path, item: FuzzFormat) -> None:
    """The format's probe, ``foreign_content`` and ``describe_*`` on the bytes.

    Bytes the probe accepts as an image are described as one, whatever their first record.
    """
    storage = FileStorage.open(str(path), writable=False)
    try:
        accepted = storage.size() > 0 and item.fmt.probe(storage) is None
        foreign_content(storage, item.fmt)
        foreign_content(storage, item.fmt, torn_first_ok=True)
        described = [describe_fd(storage.fileno()), describe_content(str(path))]
    finally:
        storage.close()
    # A HET image whose first blocks are stored raw is an AWS image too, byte for byte:
    # describe_* names the plainer format then (kinds.image_kind).
    names = {item.kind.value} | ({DeviceKind.AWS.value} if item.kind is DeviceKind.HET else set())
    if accepted and not set(described) <= names:
        raise ReaderBugError(f"an image the probe accepts is described as {described}")


_SINK = io.StringIO()
"""Where vmt's output goes: one stream for all runs (click caches a wrapper per stream)."""


def run_vmt(args: list[str]) -> int:
    """Run ``vmt ARGS`` in this process, its output discarded; return its exit status.

    (Not click's ``CliRunner``: every invocation of it leaves some memory behind, which a
    fuzzer running for hours would take for a leak of the readers.)
    """
    _SINK.seek(0)
    _SINK.truncate()
    with contextlib.redirect_stdout(_SINK), contextlib.redirect_stderr(_SINK):
        try:
            vmt_main.main(args, prog_name="vmt")
        except SystemExit as exc:  # vmt always ends so
            return exc.code if isinstance(exc.code, int) else 1
    raise ReaderBugError(f"vmt {' '.join(args)} returned without an exit status")


def vmt_tools(path: Path) -> None:
    """``vmt ls`` (text, JSON, forced) and ``vmt read --file 0``: exit 0 or 1, never a crash."""
    out = str(path.with_name("out.bin"))
    for args in (
        ["ls", str(path)],
        ["ls", "--json", str(path)],
        ["--force", "ls", str(path)],
        ["read", str(path), "--file", "0", "-o", out],
    ):
        status = run_vmt(args)
        if status not in (0, 1):
            raise ReaderBugError(f"vmt {' '.join(args)}: exit status {status}")


def check_verify(path: Path, item: FuzzFormat) -> None:
    """``health.verify`` reports; an image whose scan stops short is never called clean."""
    report = verify(str(path), item.kind)
    index = ObjectIndex()
    storage = FileStorage.open(str(path), writable=False)
    try:
        problem = item.fmt.scan(storage, index).problem
    finally:
        storage.close()
    if problem is not None and report.clean:
        raise ReaderBugError(f"verify calls an image clean whose scan says {problem!r}")


def write_open_keeps(path: Path, item: FuzzFormat) -> None:
    """An open for writing closed without a write changes no byte (forced or not)."""
    before = path.read_bytes()
    for forced in (False, True):
        drive = attempt(
            "write open",
            OPEN_ERRORS,
            partial(
                open_tape_image,
                str(path),
                OpenOptions(write=True),
                kind=item.kind,
                accept_foreign=forced,
            ),
        )
        if drive is not None:
            drive.close()
        after = path.read_bytes()
        if after != before:
            raise ReaderBugError(
                f"a write open and close changed the image: {len(before)} -> {len(after)} bytes"
            )


def remove_side_files(path: Path) -> None:
    """Forget what earlier opens saved beside the image."""
    for suffix in SIDE_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


@dataclass
class Exercise:
    """What one :func:`exercise` saw."""

    size: int
    log: ReadLog = field(default_factory=ReadLog)


def exercise(
    data: bytes,
    item: FuzzFormat,
    directory: Path,
    motions: Sequence[tuple[int, int]] = MOTIONS,
) -> Exercise:
    """Run every reader over ``data`` as an image of ``item`` in ``directory``.

    Raises:
        ReaderBugError: a reader broke a rule (see the module's docstring).
        Exception: whatever a reader raised that it must not.
    """
    path = directory / f"image{item.suffix}"
    path.write_bytes(data)
    remove_side_files(path)
    limit = max(len(data), item.fmt.max_record)
    with checked_storage(limit) as log:
        probe_and_describe(path, item)
        open_and_read(path, item, motions)  # leaves side files: the next opens load them
        vmt_tools(path)
        check_verify(path, item)
        remove_side_files(path)
        write_open_keeps(path, item)
        write_open_keeps(path, item)  # again, now trusting the state the first one saved
    return Exercise(len(data), log)


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """A fresh directory, removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="rmtd-fuzz-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)
