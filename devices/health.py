"""Checking a tape image (SIMH, AWS, HET) and its side files, and repairing a damaged image.

:func:`verify` scans the whole image (its format's ``scan``), checks the state file
(``IMAGE.rmtd``) for the shape :class:`~devices.state.StateFile` writes, and compares a saved
index (``IMAGE.rmtd-index``) that would be trusted with a fresh scan. It changes nothing.

:func:`repair` cuts a damaged or torn image at the end of its last whole object, after copying
it whole to a backup beside it, and removes the index that no longer describes it. Damage is
information (nothing but this, or a write open meeting a torn tail, ever cuts an image), so
the backup keeps every byte dropped.

Both first check that the file looks like an image of its format at all: a tar
archive is not a tape with a damaged first record, and must never be cut as one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from devices.atomic import read_no_follow
from devices.errors import tape_error
from devices.formats.base import ScanResult, TapeFormat
from devices.formats.index import INDEX_SUFFIX, ImageIdentity, ObjectIndex
from devices.kinds import (
    DeviceKind,
    claimed_kind,
    foreign_content,
    format_title,
    tape_format,
)
from devices.state import (
    DriveState,
    SavedState,
    StateFile,
    VolumeInfo,
    lock_exclusive,
    out_of_range,
)
from devices.storage import FileStorage
from devices.tapemap import summarize
from devices.vtape import known, open_image_file, pending_write, torn_is_ours, write_protected

CLEAN, TORN, DAMAGED, NOT_AN_IMAGE = "clean", "torn", "damaged", "not-an-image"
"""The verdicts of :class:`HealthReport`."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing :func:`verify` found.

    Attributes:
        subject: the file it is about (the image or one of its side files).
        level: ``"ok"``, ``"note"`` (worth knowing, harmless), ``"stale"`` (a side file that
            will be rebuilt), ``"torn"`` (a write cut short) or ``"damage"``.
        message: one line.
        offset: byte offset in ``subject`` it concerns, if any.
    """

    subject: str
    level: str
    message: str
    offset: int | None = None


@dataclass(frozen=True, slots=True)
class HealthReport:
    """What :func:`verify` found in an image and its side files.

    Attributes:
        image: the image's name, as given.
        size: the image's size in bytes.
        verdict: ``clean``, ``torn``, ``damaged`` or ``not-an-image``.
        problem: the scan's one line about the first bad object, or why it is no image.
        offset: byte offset of the first bad object (where readable data ends), if any.
        end: byte offset where readable data ends.
        files: tape files before ``end``.
        records: data records before ``end``.
        where: which object readable data ends after ("file 1 record 3"), for messages.
        findings: every finding, one line each, in the order found.
    """

    image: str
    size: int
    verdict: str
    problem: str | None = None
    offset: int | None = None
    end: int = 0
    files: int = 0
    records: int = 0
    where: str = ""
    findings: list[Finding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """The image is whole and no side file is wrong."""
        bad = ("damage", "unfinished")
        return self.verdict == CLEAN and not any(f.level in bad for f in self.findings)

    def as_dict(self) -> dict[str, object]:
        """The report as a JSON-ready dictionary."""
        doc = asdict(self)
        doc["clean"] = self.clean
        return doc


@dataclass(frozen=True, slots=True)
class RepairReport:
    """What :func:`repair` did.

    Attributes:
        image: the image's name, as given.
        repaired: the image was cut (``False``: it was clean, nothing changed).
        offset: where it was cut.
        dropped: bytes dropped from the image (all kept in the backup).
        where: the last whole object kept ("file 1 record 3").
        backup: the backup's path, ``None`` when nothing was done.
        problem: the damage found.
    """

    image: str
    repaired: bool
    offset: int = 0
    dropped: int = 0
    where: str = ""
    backup: str | None = None
    problem: str | None = None


# -- verify --------------------------------------------------------------------------------


def verify(path: str, kind: DeviceKind | None = None) -> HealthReport:
    """Check the image at ``path`` and its side files; change nothing.

    Takes the one-opener lock for the duration, so that a writer cannot move the end of data
    under the scan.

    Args:
        path: the image.
        kind: what to check it as (``vmt --force``: SIMH); default: what its name claims.

    Raises:
        OSError: EMEDIUMTYPE for a name that is no tape image's; ENOENT, EISDIR, EINVAL (not
            a regular file), EBUSY (open elsewhere), and the system's errors reading it.
    """
    fmt = tape_format(kind or claimed_kind(path), path)
    side = os.path.realpath(path)  # the side files live beside the image itself
    with _opened(path, writable=False) as storage:
        saved, identity = StateFile(side).load(), ImageIdentity.of_fd(storage.fileno())
        reason = _stranger(storage, fmt, saved, identity)
        size = storage.size()
        if reason:
            finding = Finding(path, "damage", reason, 0)
            return HealthReport(path, size, NOT_AN_IMAGE, reason, 0, findings=[finding])
        index = ObjectIndex()
        result = fmt.scan(storage, index)
        pending = pending_write(saved, identity, storage)
    ours = result.torn and torn_is_ours(index.end, pending)
    state = StateFile(side)
    findings = [_scan_finding(path, result, index, (size, format_title(fmt)), ours)]
    if pending is not None and result.problem is None:
        text = (
            f"a write from offset {pending} never finished (a crash): its last tape file may "
            "be cut short; the next open for writing marks it incomplete"
        )
        findings.append(Finding(path, "unfinished", text, pending))
    findings += _bad_record_findings(path, index)
    findings += _state_findings(state.path, identity, len(index))
    findings += _index_findings(side + INDEX_SUFFIX, identity, index, result)
    findings += _incomplete_findings(path, state, index)
    verdict = CLEAN if result.problem is None else TORN if ours else DAMAGED
    if side != path:  # name the side files as the user named the image
        findings = [
            dataclasses.replace(f, subject=path + f.subject[len(side) :])
            if f.subject.startswith(side)
            else f
            for f in findings
        ]
    files = summarize(index)
    return HealthReport(
        image=path,
        size=size,
        verdict=verdict,
        problem=result.problem,
        offset=result.offset,
        end=index.end,
        files=len(files),
        records=sum(f.records for f in files),
        where=last_object(index),
        findings=findings,
    )


def _scan_finding(
    path: str, result: ScanResult, index: ObjectIndex, sized: tuple[int, str], ours: bool
) -> Finding:
    """The scan's finding; a record past the end is torn only when a write of ours left it.

    ``sized``: the image's size and what it is ("a SIMH tape image").
    """
    size, title = sized
    if result.problem is None:
        text = f"{title.split(' ', 1)[1]}, {size} bytes, {len(index)} objects, whole"
        if size > index.end:
            text += f"; {size - index.end} bytes after the end-of-medium marker are ignored"
        return Finding(path, "ok", text)
    return Finding(path, "torn" if ours else "damage", result.problem, result.offset)


def _stranger(
    storage: FileStorage, fmt: TapeFormat, saved: SavedState, identity: ImageIdentity
) -> str | None:
    """Why the file is no image of ``fmt``, unless it is the very image rmtd last closed."""
    if known(saved, identity):
        return None
    # A first record torn by our crash (a mark at 0) is no stranger to an explicit repair.
    return foreign_content(storage, fmt, pending_write(saved, identity, storage) == 0)


def _bad_record_findings(path: str, index: ObjectIndex) -> list[Finding]:
    bad = [i for i in range(len(index)) if index.is_bad(i)]
    if not bad:
        return []
    text = (
        f"{len(bad)} records marked bad by their writer (reading them gives EIO), "
        f"the first is object {bad[0]}"
    )
    return [Finding(path, "note", text, index.offset(bad[0]))]


def _state_findings(path: str, identity: ImageIdentity, objects: int) -> list[Finding]:
    """Check the state file for the shape ``StateFile.save`` writes."""
    try:
        data = json.loads(read_no_follow(path))
    except FileNotFoundError:
        return [Finding(path, "ok", "absent (the drive starts with defaults)")]
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else f"not JSON ({exc})"
        return [Finding(path, "damage", f"unreadable: {why}")]
    if not isinstance(data, dict):
        return [Finding(path, "damage", f"not a JSON object but {type(data).__name__}")]
    wrong = [
        f"{part}.{name}: {problem}"
        for part, cls in (("volume", VolumeInfo), ("drive", DriveState))
        for name, problem in _shape_problems(data.get(part, {}), cls)
    ]
    ident = data.get("identity")
    if ident is not None and not (
        isinstance(ident, list) and len(ident) == 5 and all(type(v) is int for v in ident)
    ):
        wrong.append("identity: not five integers")
    if wrong:
        return [Finding(path, "damage", "; ".join(wrong))]
    if ident is not None and ImageIdentity(*ident) != identity:
        text = "describes an earlier version of the image: the drive starts at BOT"
        return [Finding(path, "note", text)]
    position = data.get("drive", {}).get("position", 0)
    if position > objects:
        return [Finding(path, "damage", f"position {position} is past the end ({objects})")]
    return [Finding(path, "ok", "well formed")]


def _shape_problems(part: object, cls: type) -> Iterator[tuple[str, str]]:
    """Fields of ``part`` (a JSON object for dataclass ``cls``) whose type is wrong."""
    if not isinstance(part, dict):
        yield "", f"not a JSON object but {type(part).__name__}"
        return
    defaults = cls()
    for f in dataclasses.fields(cls):
        if f.name not in part:
            continue  # written by an older version: the default applies
        value, default = part[f.name], getattr(defaults, f.name)
        if isinstance(default, list):
            if not (isinstance(value, list) and all(type(v) is int and v >= 0 for v in value)):
                yield f.name, "not a list of object numbers"
        elif type(value) is not type(default):
            yield f.name, f"{type(value).__name__} where {type(default).__name__} belongs"
        elif out_of_range(f.name, value):
            yield f.name, f"{value} is out of range"


def _index_findings(
    path: str, identity: ImageIdentity, fresh: ObjectIndex, result: ScanResult
) -> list[Finding]:
    """Compare a saved index the drive would trust with a fresh scan."""
    if not os.path.lexists(path):
        return [Finding(path, "ok", "absent (built on the next open)")]
    saved = ObjectIndex.load(path, identity)
    if saved is None:
        return [Finding(path, "stale", "stale or unreadable: it will be rebuilt")]
    if result.problem:
        # The drive never saves an index of a damaged image; a matching one is planted.
        return [Finding(path, "damage", "an index of a damaged image (it should not exist)")]
    for what, ours, theirs in (
        ("objects", fresh.lengths, saved.lengths),
        ("offsets", fresh.offsets, saved.offsets),
        ("filemarks", fresh.marks, saved.marks),
    ):
        if ours != theirs:
            first = next(
                (i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b),
                min(len(ours), len(theirs)),
            )
            text = f"its {what} differ from the image's from entry {first}; delete it"
            return [Finding(path, "damage", text)]
    if saved.end != fresh.end:
        text = f"its end of data {saved.end} is not the image's {fresh.end}; delete it"
        return [Finding(path, "damage", text)]
    return [Finding(path, "ok", "matches the image")]


def _incomplete_findings(path: str, state: StateFile, index: ObjectIndex) -> list[Finding]:
    marked = set(state.load().volume.incomplete)
    return [
        Finding(path, "note", f"tape file {f.number} (first object {f.first}) is incomplete")
        for f in summarize(index, marked)
        if f.incomplete
    ]


def last_object(index: ObjectIndex) -> str:
    """Name the last object of ``index`` for messages: "file 1 record 3", "the filemark..."."""
    n = len(index)
    if n == 0:
        return "the beginning of the tape"
    last = n - 1
    file = index.marks_before(last)
    if index.is_filemark(last):
        return f"the filemark ending file {file}"
    first = index.marks[file - 1] + 1 if file else 0
    return f"file {file} record {last - first}"


# -- repair --------------------------------------------------------------------------------


def repair(path: str, kind: DeviceKind | None = None) -> RepairReport:
    """Cut a damaged or torn image after its last whole object, keeping a backup of it whole.

    Args:
        path: the image.
        kind: what to treat it as (``vmt --force``: SIMH); default: what its name claims.
            A file whose bytes are no image of that kind is never cut, forced or not.

    Raises:
        OSError: EROFS for a write-protected volume or an image that cannot be written,
            EMEDIUMTYPE for a name or a file that is not a tape image, EBUSY when open
            elsewhere, and the system's errors (the image is untouched unless the backup is
            complete).
    """
    fmt = tape_format(kind or claimed_kind(path), path)
    side = os.path.realpath(path)  # the side files live beside the image itself
    if StateFile(side).load().volume.write_protected:
        raise tape_error(errno.EROFS, f"{path}: volume is write-protected")
    with _opened(path, writable=True) as storage:
        fd = storage.fileno()
        saved, identity = StateFile(side).load(), ImageIdentity.of_fd(fd)
        reason = _stranger(storage, fmt, saved, identity)
        if reason:
            raise tape_error(errno.EMEDIUMTYPE, f"{path}: {reason}; not repaired")
        if write_protected(storage, side):  # the tab may be set before we took the lock
            raise tape_error(errno.EROFS, f"{path}: volume is write-protected")
        index = ObjectIndex()
        result = fmt.scan(storage, index)
        if result.problem is None:
            return RepairReport(path, repaired=False)
        size = storage.size()
        backup = _backup(fd, path)
        storage.truncate(index.end)
        storage.sync()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(side + INDEX_SUFFIX)
        _mark_cut_file(side, index)
    return RepairReport(
        path,
        repaired=True,
        offset=index.end,
        dropped=size - index.end,
        where=last_object(index),
        backup=backup,
        problem=result.problem,
    )


def _mark_cut_file(path: str, index: ObjectIndex) -> None:
    """Record the last file as incomplete when the cut took part of it; drop stale marks."""
    state_file = StateFile(path)
    state = state_file.load()
    n = len(index)
    marks = [m for m in state.volume.incomplete if m < n]
    if n and not index.is_filemark(n - 1):
        file = index.marks_before(n - 1)
        first = index.marks[file - 1] + 1 if file else 0
        marks = sorted({*marks, first})
    if state.unreadable:
        return  # kept as evidence; the repair itself is done
    # The cut settles any unfinished write: its mark must not outlive it.
    # A repaired image is a changed medium: the drive starts at BOT, with its settings.
    state.volume.incomplete = marks
    state.writing_since = None
    state.identity = None
    drive = state.drive
    state.drive = DriveState(
        loaded=drive.loaded, block_size=drive.block_size, compression=drive.compression
    )
    state_file.save(state)


def _backup(fd: int, path: str) -> str:
    """Copy the whole image to ``path.bak`` (or ``.bak.N``), never over a file; fsync it."""
    for n in range(1000):
        name = f"{path}.bak" if n == 0 else f"{path}.bak.{n}"
        try:
            out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            os.fchmod(out, stat.S_IMODE(os.fstat(fd).st_mode))  # restorable as it was
        except FileExistsError:
            continue
        try:
            _copy(fd, out)
            os.fsync(out)
        except BaseException:
            os.close(out)
            with contextlib.suppress(OSError):
                os.unlink(name)
            raise
        os.close(out)
        _sync_directory(name)
        return name
    raise tape_error(errno.EEXIST, f"{path}: {path}.bak to {path}.bak.999 all exist")


def _copy(src: int, dst: int) -> None:
    size = os.fstat(src).st_size
    offset = 0
    while offset < size:
        chunk = os.pread(src, min(1 << 20, size - offset), offset)
        if not chunk:
            raise tape_error(errno.EIO, "the image shrank while it was copied")
        view = memoryview(chunk)
        while view:
            view = view[os.write(dst, view) :]
        offset += len(chunk)


def _sync_directory(path: str) -> None:
    fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- opening -------------------------------------------------------------------------------


@contextlib.contextmanager
def _opened(path: str, writable: bool) -> Iterator[FileStorage]:
    """Open the image as the drive does (regular files only) and hold its one-opener lock."""
    storage = open_image_file(path, writable)
    try:
        lock_exclusive(storage.fileno(), path)
        yield storage
    finally:
        storage.close()
