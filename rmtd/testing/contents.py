"""What the records of a synthetic tape hold: seeded random bytes, a pattern, a file, a tar.

Each content says how many records it makes and how long each is (:meth:`Content.prepare`)
before a byte is written, so that a tape is checked whole (record lengths, bad-record indexes,
capacity) before its image is touched. Every content is deterministic: random bytes come from
``random.Random`` seeded by the caller (never ``os.urandom``), and a tar is made by the
standard library's :mod:`tarfile` with fixed times, owners and modes and names in sorted order,
so the same inputs give the same bytes on every run and every machine.

Record lengths are given as one ``size`` and a ``count`` (``count`` records of ``size``), one
``size`` and a ``total`` (records of ``size`` bytes, the last one shorter if ``total`` is not a
multiple), or a list of ``sizes``, one per record. A file's bytes and a tar are cut into records
of ``record_size``; a tar is padded with zeros to a whole record, as GNU tar pads its last
record (``tar -b 20`` writes records of 10240 bytes).
"""

from __future__ import annotations

import errno
import io
import os
import random
import stat
import tarfile
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, BinaryIO

TAR_BLOCK = 512
"""tar's block: a tar record is a whole number of them (POSIX ustar, GNU tar's ``-b``)."""
TAR_RECORD = 20 * TAR_BLOCK
"""GNU tar's default record size (``-b 20``)."""
TAR_MTIME = 0
"""The modification time of every member of a synthetic tar (1970-01-01)."""
TAR_FORMATS = {"gnu": tarfile.GNU_FORMAT, "ustar": tarfile.USTAR_FORMAT}
"""The tar formats a :class:`Tar` can write."""


class ContentError(ValueError):
    """A content described wrongly; ``key`` names the argument (and spec key) at fault."""

    def __init__(self, key: str, why: str) -> None:
        super().__init__(f"{key}: {why}")
        self.key = key
        self.why = why


class Records:
    """A content made ready to write: its record lengths, then its records' bytes.

    Close it after use (or use it as a context manager): it may hold a file open.
    """

    def __init__(
        self, sizes: Sequence[int], chunks: Iterator[bytes], source: IO[bytes] | None = None
    ) -> None:
        self.sizes = list(sizes)
        """The length of each record, in order."""
        self._chunks = chunks
        self._source = source

    def __iter__(self) -> Iterator[bytes]:
        """Each record's bytes, in order (once)."""
        return self._chunks

    def close(self) -> None:
        """Close the file the records are read from, if any."""
        if self._source is not None:
            self._source.close()

    def __enter__(self) -> Records:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Content(ABC):
    """The records of one stretch of tape."""

    @abstractmethod
    def prepare(self, seed: str) -> Records:
        """Return the record lengths and an iterator of the records' bytes.

        ``seed`` seeds the random bytes of a content that has no seed of its own.

        Raises:
            OSError: a file or directory the content reads is missing or unreadable.
            ContentError: the content cannot be cut into records (a tar member that is
                neither a file, a directory nor a symlink).
        """


def record_sizes(
    size: int | None = None,
    count: int | None = None,
    total: int | None = None,
    sizes: Sequence[int] | None = None,
) -> list[int]:
    """The record lengths ``size`` + ``count``, ``size`` + ``total``, or ``sizes`` describe.

    Raises:
        ContentError: none or more than one of the three ways, or a length below 1.
    """
    if sizes is not None:
        if size is not None or count is not None or total is not None:
            raise ContentError("sizes", "give either sizes, or size with count or total")
        if not sizes:
            raise ContentError("sizes", "must list at least one record length")
        for length in sizes:
            _positive("sizes", length)
        return list(sizes)
    if size is None:
        raise ContentError("size", "missing: give size with count or total, or sizes")
    _positive("size", size)
    if (count is None) == (total is None):
        raise ContentError("count", "give either count or total with size")
    if count is not None:
        _positive("count", count)
        return [size] * count
    assert total is not None
    _positive("total", total)
    whole, rest = divmod(total, size)
    return [size] * whole + ([rest] if rest else [])


def _positive(key: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ContentError(key, f"{value!r} is not a whole number >= 1")


@dataclass(frozen=True)
class Random(Content):
    """Random bytes from ``random.Random(seed)``: the same seed, the same bytes.

    Attributes:
        size, count, total, sizes: the record lengths (see the module).
        seed: this content's own seed; ``None``: derived from the tape's seed and the
            content's place on the tape.
    """

    size: int | None = None
    count: int | None = None
    total: int | None = None
    sizes: Sequence[int] | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        record_sizes(self.size, self.count, self.total, self.sizes)  # refuse it when built
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int)
        ):
            raise ContentError("seed", f"{self.seed!r} is not an integer")

    def prepare(self, seed: str) -> Records:
        """See :meth:`Content.prepare`."""
        lengths = record_sizes(self.size, self.count, self.total, self.sizes)
        # A string seed is hashed (SHA-512) by random.seed, the same on every platform.
        rng = random.Random(self.seed if self.seed is not None else seed)
        return Records(lengths, (rng.randbytes(n) for n in lengths))


@dataclass(frozen=True)
class Pattern(Content):
    """A pattern repeated without end, cut into records (``b"ab"``: ``abab...``).

    Attributes:
        pattern: the bytes to repeat (a string is encoded as UTF-8).
        size, count, total, sizes: the record lengths (see the module).
    """

    pattern: bytes | str = b"\0"
    size: int | None = None
    count: int | None = None
    total: int | None = None
    sizes: Sequence[int] | None = None

    def __post_init__(self) -> None:
        if not self.raw:
            raise ContentError("pattern", "must not be empty")
        record_sizes(self.size, self.count, self.total, self.sizes)

    @property
    def raw(self) -> bytes:
        """The pattern as bytes."""
        return self.pattern.encode() if isinstance(self.pattern, str) else bytes(self.pattern)

    def prepare(self, seed: str) -> Records:
        """See :meth:`Content.prepare`."""
        lengths = record_sizes(self.size, self.count, self.total, self.sizes)
        return Records(lengths, self._chunks(lengths))

    def _chunks(self, lengths: list[int]) -> Iterator[bytes]:
        raw = self.raw
        at = 0  # where in the pattern the next record begins: one stream, cut into records
        for n in lengths:
            repeated = raw[at:] + raw * ((n + len(raw)) // len(raw))
            yield repeated[:n]
            at = (at + n) % len(raw)


@dataclass(frozen=True)
class Data(Content):
    """A file's bytes (or given bytes) cut into records of ``record_size``, the last shorter.

    Attributes:
        source: the file's path, or the bytes themselves.
        record_size: the length of every record but the last.
    """

    source: str | os.PathLike[str] | bytes
    record_size: int = TAR_RECORD

    def __post_init__(self) -> None:
        _positive("record_size", self.record_size)

    def prepare(self, seed: str) -> Records:
        """See :meth:`Content.prepare`."""
        if isinstance(self.source, bytes):
            return _cut(io.BytesIO(self.source), len(self.source), self.record_size)
        src = open(self.source, "rb")  # noqa: SIM115 - Records closes it
        return _cut(src, os.fstat(src.fileno()).st_size, self.record_size)


@dataclass(frozen=True)
class Tar(Content):
    """A tar of a directory made with :mod:`tarfile`, cut into records of ``record_size``.

    The members are the directory itself (named by its base name) and everything under it,
    depth first in sorted order, with modification time :data:`TAR_MTIME`, owner and group
    0 (``root``), and mode 0755 for directories and executables, 0644 for other files (0777
    for symlinks, as Linux makes them):
    nothing of the machine or the moment the tar was made shows in its bytes.

    Attributes:
        directory: the directory to archive.
        record_size: bytes per record, a multiple of 512 (default 10240, ``tar -b 20``).
        format: ``"gnu"`` or ``"ustar"``.
    """

    directory: str | os.PathLike[str]
    record_size: int = TAR_RECORD
    format: str = "gnu"

    def __post_init__(self) -> None:
        _positive("record_size", self.record_size)
        if self.record_size % TAR_BLOCK:
            raise ContentError("record_size", f"{self.record_size} is not a multiple of 512")
        if self.format not in TAR_FORMATS:
            raise ContentError("format", f"{self.format!r} is not one of {', '.join(TAR_FORMATS)}")

    def prepare(self, seed: str) -> Records:
        """See :meth:`Content.prepare`."""
        top = os.fspath(self.directory)
        if not os.path.isdir(top):
            code = errno.ENOTDIR if os.path.exists(top) else errno.ENOENT
            raise OSError(
                code, f"{top}: {'not a' if code == errno.ENOTDIR else 'no such'} directory"
            )
        out = tempfile.SpooledTemporaryFile(max_size=64 << 20)  # noqa: SIM115 - as Data's
        try:
            with tarfile.open(fileobj=out, mode="w", format=TAR_FORMATS[self.format]) as tar:
                _add_tree(tar, top, os.path.basename(os.path.normpath(top)))
            # tarfile pads to 10240 bytes whatever the record size; GNU tar -b N pads to a
            # whole record of N blocks: keep the archive and its two zero blocks, pad as GNU.
            size = tar.offset
            out.seek(size)
            out.truncate()
            out.write(bytes(-size % self.record_size))
            out.seek(0)
        except BaseException:
            out.close()
            raise
        return _cut(out, size + -size % self.record_size, self.record_size)


def _add_tree(tar: tarfile.TarFile, path: str, name: str) -> None:
    """Add ``path`` as ``name``, then (for a directory) its entries in sorted order."""
    info = tar.gettarinfo(path, name)
    info.mtime = TAR_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    executable = info.isdir() or info.mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    info.mode = 0o777 if info.issym() else 0o755 if executable else 0o644
    if info.isreg():
        with open(path, "rb") as member:
            tar.addfile(info, member)
    elif info.isdir() or info.issym() or info.islnk():
        tar.addfile(info)
    else:
        raise ContentError("tar", f"{path}: neither a file, a directory nor a symlink")
    if info.isdir():
        for entry in sorted(os.listdir(path)):
            _add_tree(tar, os.path.join(path, entry), f"{name}/{entry}")


def _cut(src: BinaryIO | IO[bytes], size: int, record_size: int) -> Records:
    """Records of ``record_size`` (the last shorter) read from ``src``, closed after the last."""
    whole, rest = divmod(size, record_size)
    lengths = [record_size] * whole + ([rest] if rest else [])

    def chunks() -> Iterator[bytes]:
        for n in lengths:
            data = src.read(n)
            if len(data) != n:  # the file shrank while we read it
                name = getattr(src, "name", "data")
                raise OSError(errno.EIO, f"{name}: ended before its {size} bytes")
            yield data

    return Records(lengths, chunks(), src)
