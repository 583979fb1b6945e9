"""A stored volume's bytes as a :class:`~devices.storage.Storage`: chunks below, spool on top.

The formats and the drive read and write a stored volume exactly as a local image, through
this class. Bytes ``[0, spool_start)`` are chunk objects in the store (read through the local
chunk cache, the next chunks fetched ahead of a sequential reader); bytes from ``spool_start``
are segment files in the local spool (:mod:`devices.stored.spool`), appended one record per
``write`` call.

When the last segment reaches the chunk size (always between two writes, so between records)
it is sealed and uploaded in the background, several at a time, while the writer goes on into a
new segment. :meth:`flush` seals the last one and waits for every upload: the caller then
commits a manifest naming the chunks and calls :meth:`committed`, which lets the segments go.

Writes append at the end only (a tape is written at its end of data; writing in the middle
first cuts, as :class:`~devices.formats.image.TapeImage` does). A cut below the spool keeps the
whole chunks before the cut and copies the head of the chunk it falls in into a new segment: a
chunk is never changed, a new manifest names a prefix of the old chunks plus a new tail.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
import uuid
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from devices.errors import tape_error
from devices.interface import BytesLike, FileExtent
from devices.stored.cache import ChunkCache
from devices.stored.manifest import Chunk, data_digest
from devices.stored.objects import ObjectStore
from devices.stored.spool import SpoolBase, SpoolDir

log = logging.getLogger(__name__)

UPLOADS = 4
"""Chunks uploaded at once."""
BACKLOG = 4
"""Uploaded chunks after which a manifest is committed in mid-stream (the spool lets them go)."""
PREFETCH = 4
"""Chunks fetched ahead of a sequential reader."""
_OPEN_CHUNKS = 8
_UPLOAD_NICE = 10


def _yield_to_writer() -> None:
    """Run this upload thread at a lower CPU priority than the thread serving the client.

    On Linux a thread's nice value is its own (setpriority on its thread id). The client
    waits for each ``A``; an upload only has to be done by the next filemark. A/B on a
    2-core machine, 128 MiB streams of 256 KiB records to a store on the same cores: 819 and
    855 MB/s at the same priority, 994 and 994 MB/s niced (local .tap: 1,090 and 964).
    """
    thread = threading.get_native_id()
    with contextlib.suppress(OSError):
        nice = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, nice + _UPLOAD_NICE))


@dataclass
class _Segment:
    start: int
    fd: int
    length: int
    upload: Future[str] | None = None  # the chunk's name once uploaded

    @property
    def end(self) -> int:
        return self.start + self.length


class StoredStorage:
    """The bytes of one stored volume (see the module's docstring).

    Args:
        name: the volume as messages call it.
        objects: the store.
        chunk_key: the object key of a chunk name.
        chunks: the chunks the manifest names, in order.
        cache: the local chunk cache.
        spool: the volume's spool directory (``None``: opened read-only).
        base: what the spool extends (for a writer).
        chunk_size: when a segment is sealed and uploaded.
        check: called before every write (the lease: EIO once it is lost).

    Attributes:
        on_backlog: called before a write (the image then ends where its index does) once
            :data:`BACKLOG` chunks are uploaded and not yet named by a manifest: the volume
            commits them (:meth:`uploaded_prefix`, :meth:`committed_prefix`), so a long
            stream without filemarks does not keep everything in the spool.
    """

    def __init__(
        self,
        name: str,
        objects: ObjectStore,
        chunk_key: Callable[[str], str],
        chunks: list[Chunk],
        cache: ChunkCache,
        spool: SpoolDir | None = None,
        base: SpoolBase | None = None,
        chunk_size: int = 16 << 20,
        check: Callable[[], None] = lambda: None,
    ) -> None:
        self.name = name
        self.objects = objects
        self.chunk_key = chunk_key
        self.chunks = list(chunks)
        self._starts = [c.start for c in self.chunks]
        self.cache = cache
        self.spool = spool
        self.base = base
        self.chunk_size = chunk_size
        self.check = check
        self.writable = spool is not None
        self.segments: list[_Segment] = []
        self.spool_start = self.chunks[-1].end if self.chunks else 0
        self._size = self.spool_start
        self._uploads: ThreadPoolExecutor | None = None
        self._fetches: ThreadPoolExecutor | None = None
        # Both by chunk name, never by place in the list: after a cut and a commit the place
        # of an old chunk holds a new one, and a descriptor on the old one read stale bytes.
        self._fetching: dict[str, Future[int]] = {}
        self._open: OrderedDict[str, int] = OrderedDict()
        self.on_backlog: Callable[[], None] | None = None

    # -- the spool -------------------------------------------------------------------------

    def adopt_segments(self, found: list[tuple[int, str]]) -> None:
        """Take over segment files a crashed writer left (recovery), after the chunks.

        Raises:
            OSError: EIO when they do not follow each other from the spool's start.
        """
        assert self.spool is not None
        expected = self.spool_start
        for start, path in found:
            if start != expected:
                raise tape_error(
                    errno.EIO,
                    f"{self.name}: the spool {self.spool.path} has a gap at offset "
                    f"{expected} (next segment at {start}); kept as it is",
                )
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            length = os.fstat(fd).st_size
            self.segments.append(_Segment(start, fd, length))
            expected = start + length
        self._size = expected

    def size(self) -> int:
        """The bytes of the image: chunks and spool."""
        return self._size

    def write_at(self, offset: int, data: BytesLike) -> None:
        """Append ``data`` at the end with one ``write`` to the spool; undo a partial write."""
        if self.spool is None:
            raise tape_error(errno.EBADF, f"{self.name}: not opened for writing")
        if offset != self._size:
            raise tape_error(
                errno.EIO, f"{self.name}: write at {offset}, not at the end ({self._size})"
            )
        self.check()
        if len(self.segments) > BACKLOG and self.on_backlog is not None:
            self.on_backlog()
        segment = self._open_segment()
        view = memoryview(data)
        try:
            written = os.pwrite(segment.fd, view, segment.length)
        except OSError:
            os.ftruncate(segment.fd, segment.length)
            raise
        if written != len(view):
            os.ftruncate(segment.fd, segment.length)
            raise tape_error(errno.ENOSPC, f"{self.name}: no space left in the spool")
        segment.length += written
        self._size += written
        if segment.length >= self.chunk_size:
            self._seal(segment)

    def _open_segment(self) -> _Segment:
        if self.segments and self.segments[-1].upload is None:
            return self.segments[-1]
        assert self.spool is not None and self.base is not None
        if not self.spool.exists():
            self.spool.save_base(self.base)  # before the first byte: what the spool extends
        segment = _Segment(self._size, self.spool.open_segment(self._size), 0)
        self.segments.append(segment)
        return segment

    def _seal(self, segment: _Segment) -> None:
        """Upload ``segment`` as a new chunk in the background."""
        if self._uploads is None:
            self._uploads = ThreadPoolExecutor(
                UPLOADS, thread_name_prefix="upload", initializer=_yield_to_writer
            )
        segment.upload = self._uploads.submit(self._upload, segment.fd, segment.length)

    def _upload(self, fd: int, length: int) -> str:
        name = uuid.uuid4().hex
        self.objects.put_file(self.chunk_key(name), fd, length)  # streamed from the spool
        return name

    def flush(self) -> list[Chunk]:
        """Seal the segments, wait for every upload; the chunks a manifest should name.

        An upload that failed is tried again once here; if it fails again, its error is
        raised and the spool keeps everything for the next flush (or the next open).
        """
        if self.segments and not self.segments[-1].length:
            self._drop_segment(self.segments.pop())
        for segment in self.segments:
            failed = segment.upload is not None and segment.upload.exception() is not None
            if segment.upload is None or failed:
                self._seal(segment)
        chunks = list(self.chunks)
        for segment in self.segments:
            assert segment.upload is not None
            chunks.append(Chunk(segment.upload.result(), segment.start, segment.length))
        return chunks

    def uploaded_prefix(self) -> list[Chunk]:
        """The leading segments whose upload finished, as chunks (without waiting)."""
        done = []
        for segment in self.segments:
            upload = segment.upload
            if upload is None or not upload.done() or upload.exception() is not None:
                break
            done.append(Chunk(upload.result(), segment.start, segment.length))
        return done

    def committed_prefix(self, chunks: list[Chunk], etag: str) -> None:
        """A manifest naming ``chunks`` (a prefix of the image) is in the store as ``etag``.

        The leading segments those chunks came from leave the spool; the rest stay.
        """
        self.chunks = list(chunks)
        self._starts = [c.start for c in self.chunks]
        end = self.chunks[-1].end if self.chunks else 0
        while self.segments and self.segments[0].end <= end:
            self._drop_segment(self.segments.pop(0))
        self.spool_start = end
        if self.base is not None and self.spool is not None:
            self.base.etag, self.base.kept_chunks = etag, len(chunks)
            self.base.start, self.base.committing = end, None
            self.base.data = data_digest(self.chunks)
            self.spool.save_base(self.base)

    def committed(self, chunks: list[Chunk], etag: str) -> None:
        """A manifest naming ``chunks`` (and nothing after them) is in the store as ``etag``."""
        self.chunks = list(chunks)
        self._starts = [c.start for c in self.chunks]
        for segment in self.segments:
            self._drop_segment(segment)
        self.segments = []
        self.spool_start = self._size
        if self.base is not None:
            self.base.etag, self.base.kept_chunks = etag, len(chunks)
            self.base.start, self.base.committing = self._size, None
            self.base.data = data_digest(self.chunks)
        if self.spool is not None:
            self.spool.remove()  # everything is in the store

    def _drop_segment(self, segment: _Segment) -> None:
        os.close(segment.fd)
        if self.spool is not None:
            self.spool.remove_segment(segment.start)

    def truncate(self, size: int) -> None:
        """Cut the image to ``size`` bytes (chunks are never changed: see the docstring)."""
        if self.spool is None:
            raise tape_error(errno.EBADF, f"{self.name}: not opened for writing")
        self._wait_uploads()  # a chunk being uploaded may be cut away
        if size >= self.spool_start:
            self._cut_spool(size)
        else:
            self._cut_chunks(size)
        self._size = size

    def _wait_uploads(self) -> None:
        for segment in self.segments:
            if segment.upload is not None:
                segment.upload.exception()  # wait; a failure is seen again at the flush

    def _cut_spool(self, size: int) -> None:
        while self.segments and self.segments[-1].start >= size:
            self._drop_segment(self.segments.pop())
        if self.segments and self.segments[-1].end > size:
            last = self.segments[-1]
            os.ftruncate(last.fd, size - last.start)
            last.length = size - last.start
            last.upload = None  # its chunk (if uploaded) is named by nothing: vmt gc's

    def _cut_chunks(self, size: int) -> None:
        assert self.spool is not None and self.base is not None
        for segment in self.segments:
            self._drop_segment(segment)
        self.segments = []
        k = bisect_right(self._starts, size) - 1  # the chunk the cut falls in
        cut = self.chunks[k]
        head = b"" if size == cut.start else self._read_chunk_part(k, 0, size - cut.start)
        self.chunks = self.chunks[:k]
        self._starts = self._starts[:k]
        self.spool_start = cut.start
        self.base.kept_chunks, self.base.start = k, cut.start
        if head:
            fd = self.spool.open_segment(cut.start)
            os.pwrite(fd, head, 0)
            os.fsync(fd)
            self.segments.append(_Segment(cut.start, fd, len(head)))
        self.spool.save_base(self.base)

    def sync(self) -> None:
        """``fsync`` the spool's segments."""
        for segment in self.segments:
            if segment.upload is None:
                os.fsync(segment.fd)

    def sync_data(self) -> None:
        """``fdatasync`` the segment being written."""
        if self.segments and self.segments[-1].upload is None:
            os.fdatasync(self.segments[-1].fd)

    # -- reading -------------------------------------------------------------------------

    def read_into(self, offset: int, buffer: memoryview) -> int:
        """Fill ``buffer`` from ``offset``; returns the bytes read (fewer only at the end)."""
        total, wanted = 0, min(len(buffer), max(0, self._size - offset))
        while total < wanted:
            at = offset + total
            part = buffer[total:wanted]
            if at >= self.spool_start:
                got = self._read_spool(at, part)
            else:
                k = bisect_right(self._starts, at) - 1
                chunk = self.chunks[k]
                fd = self._chunk_fd(k)
                got = os.preadv(fd, [part[: chunk.end - at]], at - chunk.start)
            if got <= 0:
                raise tape_error(errno.EIO, f"{self.name}: short read at offset {at}")
            total += got
        return total

    def _read_spool(self, at: int, part: memoryview) -> int:
        for segment in self.segments:
            if segment.start <= at < segment.end:
                return os.preadv(segment.fd, [part[: segment.end - at]], at - segment.start)
        return 0

    def _read_chunk_part(self, k: int, start: int, length: int) -> bytes:
        return os.pread(self._chunk_fd(k), length, start)

    def extent(self, offset: int, length: int) -> FileExtent | None:
        """Where ``length`` bytes at ``offset`` lie in one local file (segment or cached chunk)."""
        if offset >= self.spool_start:
            for segment in self.segments:
                if segment.start <= offset and offset + length <= segment.end:
                    return FileExtent(segment.fd, offset - segment.start, length)
            return None
        k = bisect_right(self._starts, offset) - 1
        chunk = self.chunks[k]
        if offset + length > chunk.end:
            return None
        return FileExtent(self._chunk_fd(k), offset - chunk.start, length)

    def _chunk_fd(self, k: int) -> int:
        """A descriptor on cached chunk ``k``; the next chunks are fetched ahead."""
        chunk = self.chunks[k]
        fd = self._open.get(chunk.name)
        if fd is not None:
            self._open.move_to_end(chunk.name)
            return fd
        pending = self._fetching.pop(chunk.name, None)
        try:
            if pending is not None:
                fd = pending.result()
            else:
                fd = self.cache.fetch(self.objects, self.chunk_key(chunk.name), chunk.length)
        except FileNotFoundError:
            # A chunk the manifest names and the store does not have is damage to the volume
            # (EIO), not a missing device (ENOENT would read as "no such volume").
            raise tape_error(
                errno.EIO,
                f"{self.name}: damaged at offset {chunk.start}: chunk {chunk.name} is not in "
                "the store",
            ) from None
        self._open[chunk.name] = fd
        while len(self._open) > _OPEN_CHUNKS:
            os.close(self._open.popitem(last=False)[1])
        self._prefetch(k + 1)
        return fd

    def _prefetch(self, first: int) -> None:
        if self._fetches is None:
            self._fetches = ThreadPoolExecutor(PREFETCH, thread_name_prefix="prefetch")
        for chunk in self.chunks[first : first + PREFETCH]:
            if chunk.name in self._open or chunk.name in self._fetching:
                continue
            key = self.chunk_key(chunk.name)
            self._fetching[chunk.name] = self._fetches.submit(
                self.cache.fetch, self.objects, key, chunk.length
            )

    def close(self) -> None:
        """Release descriptors and threads (the spool stays for the next open if not empty)."""
        for pool in (self._uploads, self._fetches):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        for future in self._fetching.values():
            if future.done() and not future.cancelled() and future.exception() is None:
                os.close(future.result())
        self._fetching.clear()
        for fd in self._open.values():
            os.close(fd)
        self._open.clear()
        for segment in self.segments:
            os.close(segment.fd)
        self.segments = []
