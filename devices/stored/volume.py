"""Stored volumes: a tape image in an S3-compatible store, served as a local image is.

:class:`Store` is one configured store (``[stores.NAME]``: bucket and prefix, endpoint, chunk
size, spool and cache directories). :meth:`Store.open_volume` gives the same
:class:`~devices.drive.VirtualTapeDrive` a local image gets, over a
:class:`~devices.stored.storage.StoredStorage`, so st semantics, formats and positioning are
the ones already proven; what changes is where the bytes and the state live:

* the lease (:mod:`devices.stored.lease`) takes the place of the ``flock``: one opener per
  volume across every host sharing the store, EBUSY naming the holder;
* the manifest (:mod:`devices.stored.manifest`) takes the place of the state and index files,
  and is replaced only by compare-and-swap on the ETag this open read;
* a filemark (and MTWEOF 0) and the close return once the chunks and a new manifest are in the
  store; a record's ``A`` means it is in the local spool (:mod:`devices.stored.spool`).

After a crash, the next open of the volume on that host first uploads what the spool kept and
commits it (:meth:`_OpenVolume.recover`), before anything else is read or written.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import uuid
from bisect import bisect_left
from dataclasses import dataclass

from devices.drive import VirtualTapeDrive
from devices.errors import tape_error
from devices.formats.base import TapeFormat
from devices.formats.image import TapeImage
from devices.formats.index import ObjectIndex
from devices.interface import OpenOptions
from devices.kinds import DeviceKind, format_title, tape_format
from devices.state import DriveState, VolumeInfo
from devices.stored.cache import ChunkCache
from devices.stored.lease import DEFAULT_LEASE_SECONDS, Lease
from devices.stored.manifest import Chunk, Manifest, ManifestError, PackedIndex, data_digest
from devices.stored.objects import (
    ConflictError,
    ObjectStore,
    S3Objects,
    StoreAddress,
    check_conditional_put,
)
from devices.stored.spool import SpoolBase, SpoolDir, spool_path
from devices.stored.storage import StoredStorage

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """One store as the configuration describes it (``[stores.NAME]``)."""

    name: str
    address: StoreAddress
    chunk_size: int = 16 << 20
    spool_dir: str = "/var/spool/rmtd"
    cache_dir: str = "/var/cache/rmtd"
    cache_size: int = 10 << 30
    lease_seconds: float = DEFAULT_LEASE_SECONDS


class Store:
    """A store the server (or ``vmt``) serves volumes from.

    Args:
        settings: where it is and how to use it.
        objects: the client; default: boto3's, made on first use.
    """

    def __init__(self, settings: StoreSettings, objects: ObjectStore | None = None) -> None:
        self.settings = settings
        self._objects = objects
        self._cache: ChunkCache | None = None
        self._verified = False

    def verify(self) -> None:
        """Refuse a store without compare-and-swap (once per process; see objects.py).

        Raises:
            OSError: EOPNOTSUPP naming the store; the store's errors.
        """
        if not self._verified:
            check_conditional_put(self.objects, self.settings.address.key(".rmtd-probe"))
            self._verified = True

    @property
    def objects(self) -> ObjectStore:
        """The store's client."""
        if self._objects is None:
            self._objects = S3Objects(self.settings.address)
        return self._objects

    @property
    def cache(self) -> ChunkCache:
        """The local chunk cache."""
        if self._cache is None:
            self._cache = ChunkCache(self.settings.cache_dir, self.settings.cache_size)
        return self._cache

    def volume_key(self, volume: str) -> str:
        """The key prefix of ``volume``'s objects."""
        return self.settings.address.key(volume)

    def manifest(self, volume: str) -> tuple[Manifest, str] | None:
        """The volume's manifest and its ETag; ``None`` if the store has no such volume.

        Raises:
            OSError: EIO for a damaged manifest, the store's errors.
        """
        key = self.volume_key(volume)
        found = self.objects.get(f"{key}/manifest")
        if found is None:
            return None
        try:
            return Manifest.decode(found[0]), found[1]
        except ManifestError as exc:
            url = f"s3://{self.settings.address.bucket}/{key}"
            raise tape_error(errno.EIO, f"{url}: {exc}") from None

    def open_volume(
        self, volume: str, options: OpenOptions, kind: DeviceKind, label: str
    ) -> VirtualTapeDrive:
        """Open ``volume`` (a name under the store, ``vol1.tap``) as a tape drive.

        Raises:
            OSError: EBUSY when another opener holds its lease; ENOENT for a volume the store
                does not have (without ``create``); EMEDIUMTYPE when its format is not the one
                its name claims; EROFS, ENOMEDIUM as for a local image; EIO for a damaged
                manifest or a spool that cannot be recovered; the store's errors.
        """
        fmt = tape_format(kind, label)
        self.verify()
        key = self.volume_key(volume)
        lease = Lease(self.objects, f"{key}/lease", label, self.settings.lease_seconds)
        lease.acquire()
        try:
            opening = _OpenVolume(self, volume, fmt, label, lease)
            return opening.drive(options)
        except BaseException:
            lease.release()
            raise

    def spool_of(self, volume: str) -> SpoolDir:
        """The local spool directory of ``volume``."""
        address = self.settings.address
        store_id = f"{address.endpoint or 'aws'} {address.bucket}"
        key = self.volume_key(volume)
        return SpoolDir(spool_path(self.settings.spool_dir, store_id, key), f"{store_id}/{key}")


class _OpenVolume:
    """One open of a stored volume: recovery, the drive, commits, the close."""

    def __init__(
        self, store: Store, volume: str, fmt: TapeFormat, label: str, lease: Lease
    ) -> None:
        self.store = store
        self.fmt = fmt
        self.label = label
        self.lease = lease
        self.volume = volume
        self.key = store.volume_key(volume)
        self.spool = store.spool_of(volume)
        self.etag: str | None = None
        self.manifest = Manifest(fmt.name)
        self.storage: StoredStorage | None = None
        self._loaded = (self.manifest.volume, self.manifest.drive)
        self._unanswered: str | None = None  # the token of a manifest PUT that got no answer

    def _chunk_key(self, name: str) -> str:
        return f"{self.key}/chunks/{name}"

    def _load(self) -> bool:
        found = self.store.manifest(self.volume)
        if found is None:
            return False
        self.manifest, self.etag = found
        return True

    def drive(self, options: OpenOptions) -> VirtualTapeDrive:
        """Recover the spool if a writer left one, check the volume, return the drive."""
        exists = self._load()
        if self.spool.exists():
            self.recover()
            exists = self._load()
        if not exists and not (options.create and options.write):
            raise tape_error(errno.ENOENT, f"{self.label}: no such volume in the store")
        manifest = self.manifest
        if manifest.format != self.fmt.name:
            raise tape_error(
                errno.EMEDIUMTYPE,
                f"{self.label}: the store holds it as {format_title(manifest.format)}, "
                f"not {format_title(self.fmt)}",
            )
        protected = manifest.volume.write_protected
        if options.write and (protected or options.write_protect):
            raise tape_error(errno.EROFS, f"{self.label}: volume is write-protected")
        if not manifest.drive.loaded and not options.nonblock:
            raise tape_error(errno.ENOMEDIUM, f"{self.label}: no medium loaded")
        if protected and not options.write_protect:
            options = dataclasses.replace(options, write_protect=True)
        storage = self._storage(options.write)
        image = TapeImage(storage, self.fmt, manifest.index)
        if manifest.index.end != storage.size():
            image.damage = (
                f"damaged at offset {manifest.index.end} (the chunks hold {storage.size()} "
                "bytes, more than the manifest's records)"
            )
        self._loaded = (dataclasses.replace(manifest.volume), dataclasses.replace(manifest.drive))
        drive = VirtualTapeDrive(
            image, self.label, manifest.drive, manifest.volume, options, self.close
        )
        drive.on_flush = self.commit
        storage.on_backlog = lambda: self._commit_backlog(drive)
        return drive

    def _storage(self, writable: bool) -> StoredStorage:
        settings = self.store.settings
        manifest = self.manifest
        base = SpoolBase(
            self.spool.volume,
            self.etag,
            len(manifest.chunks),
            manifest.size,
            data=data_digest(manifest.chunks),
        )
        self.storage = StoredStorage(
            self.label,
            self.store.objects,
            self._chunk_key,
            self.manifest.chunks,
            self.store.cache,
            self.spool if writable else None,
            base,
            settings.chunk_size,
            self.lease.check,
        )
        return self.storage

    def commit(self, drive: VirtualTapeDrive) -> None:
        """Put the chunks and a new manifest in the store (a filemark, MTWEOF 0, the close)."""
        # The image's dirty flag says whether the index changed since this open loaded it or
        # last committed it; unchanged, the last manifest's packed index is this one's.
        packed = None if drive.image.dirty else self.manifest.packed
        self._commit(drive.image.index, drive.volume, drive.state, packed)
        drive.image.dirty = False
        self._loaded = (dataclasses.replace(drive.volume), dataclasses.replace(drive.state))

    def _commit(
        self,
        index: ObjectIndex,
        volume: VolumeInfo,
        state: DriveState,
        packed: PackedIndex | None = None,
    ) -> None:
        storage = self.storage
        assert storage is not None
        chunks = storage.flush()
        etag = self._put_manifest(chunks, index, volume, state, packed)
        storage.committed(chunks, etag)

    def _put_manifest(
        self,
        chunks: list[Chunk],
        index: ObjectIndex,
        volume: VolumeInfo,
        state: DriveState,
        packed: PackedIndex | None = None,
    ) -> str:
        """Replace the manifest by compare-and-swap on the ETag this open holds; the new ETag.

        Raises:
            OSError: EIO when the manifest changed since (another host wrote the volume after
                this one's lease expired): the spool keeps what was written here.
        """
        storage = self.storage
        assert storage is not None
        manifest = Manifest(
            self.fmt.name,
            self.manifest.generation + 1,
            chunks,
            index,
            dataclasses.replace(volume),
            dataclasses.replace(state),
            uuid.uuid4().hex,
            packed,
        )
        if storage.base is not None and self.spool.exists():
            storage.base.committing = manifest.token
            self.spool.save_base(storage.base)
        self.lease.check()
        etag = self._replace_manifest(manifest)
        self.etag, self.manifest = etag, manifest
        return etag

    def _commit_backlog(self, drive: VirtualTapeDrive) -> None:
        """Commit the chunks uploaded so far in mid-stream: a manifest over that prefix.

        Called between two writes, when the image ends where its index does. The prefix
        ends between two objects (segments are cut between writes); the drive's position
        in that manifest is its end (where a reader would find the volume if this host
        were lost before the next commit).
        """
        storage = self.storage
        assert storage is not None
        done = storage.uploaded_prefix()
        if not done:
            return
        chunks = [*storage.chunks, *done]
        end = chunks[-1].end
        full = drive.image.index
        n = bisect_left(full.offsets, end)
        index = ObjectIndex()
        index.offsets, index.lengths = full.offsets[:n], full.lengths[:n]
        index.marks = full.marks[: bisect_left(full.marks, n)]
        index.end = end
        state = dataclasses.replace(drive.state, position=n, fileno=-1, blkno=-1, at_eod=True)
        etag = self._put_manifest(chunks, index, drive.volume, state)
        storage.committed_prefix(chunks, etag)

    def _replace_manifest(self, manifest: Manifest) -> str:
        """Replace the manifest read (or last written) by this open with ``manifest``.

        A PUT that failed without an answer may have landed all the same: the next one then
        finds the store's manifest changed. If it is that unanswered one (its token), the new
        manifest replaces it (it names every chunk the landed one did, and more).
        """
        key = f"{self.key}/manifest"
        unanswered, self._unanswered = self._unanswered, manifest.token
        try:
            etag = self.store.objects.put_if(key, manifest.encode(), self.etag)
        except ConflictError:
            landed = self.store.manifest(self.volume) if unanswered else None
            if landed is None or landed[0].token != unanswered:
                raise self._changed() from None
            manifest.generation = landed[0].generation + 1
            try:
                etag = self.store.objects.put_if(key, manifest.encode(), landed[1])
            except ConflictError:
                raise self._changed() from None
        self._unanswered = None
        return etag

    def _changed(self) -> OSError:
        return tape_error(
            errno.EIO,
            f"{self.label}: the volume's manifest changed since this open read it (another "
            f"host wrote it after this one's lease expired); what was written here stays "
            f"in the spool {self.spool.path}",
        )

    def close(self, drive: VirtualTapeDrive) -> None:
        """Commit what changed, then release the storage and the lease."""
        try:
            changed = (drive.volume, drive.state) != self._loaded
            created = self.etag is None and self.storage is not None and self.storage.writable
            if drive.image.dirty or changed or created or (self.storage and self.storage.segments):
                self.commit(drive)
        finally:
            try:
                if self.storage is not None:
                    self.storage.close()
            finally:
                self.lease.release()

    def _after_landed_commit(self, base: SpoolBase) -> SpoolBase | None:
        """The spool's last commit is in the store (its token): keep only what came after.

        A commit whose answer was lost leaves its segments in the spool, and the writer may
        have gone on writing (acknowledged records) into new segments past them. The landed
        manifest's chunks hold the first; the others extend it. Returns the base they extend,
        or ``None`` when nothing came after (the spool is removed).
        """
        landed = self.manifest.size
        segments = self.spool.segments()
        after = [(start, path) for start, path in segments if start >= landed]
        if not after:
            log.info("%s: the last commit landed; the spool is no longer needed", self.label)
            self.spool.remove()
            return None
        for start, path in segments:
            if start < landed and start + os.path.getsize(path) > landed:
                raise tape_error(
                    errno.EIO,
                    f"{self.label}: the local spool {self.spool.path} does not follow its "
                    f"last commit (a segment at {start} runs past {landed}); kept as it is",
                )
        chunks = self.manifest.chunks
        base = SpoolBase(base.volume, self.etag, len(chunks), landed, data=data_digest(chunks))
        self.spool.save_base(base)
        for start, _ in segments:
            if start < landed:
                self.spool.remove_segment(start)  # in the landed manifest's chunks
        return base

    def _same_data(self, base: SpoolBase) -> bool:
        """Whether the manifest holds the image the spool extends.

        It may have been rewritten since by another host that changed only the position or
        the labels (a read moves the position): the spool still follows it.
        """
        if base.data is None or base.data != data_digest(self.manifest.chunks):
            return False
        log.info("%s: the manifest changed since (position, labels), not the data", self.label)
        return True

    def recover(self) -> None:
        """Upload and commit what the spool kept from an open that did not close.

        Raises:
            OSError: EIO, keeping the spool as it is, when it extends a manifest the store no
                longer has (another host wrote the volume since), or cannot be read.
        """
        base = self.spool.load_base()
        if base.committing and self.manifest.token == base.committing:
            after = self._after_landed_commit(base)
            if after is None:
                return
            base = after
        if base.etag != self.etag and not self._same_data(base):
            raise tape_error(
                errno.EIO,
                f"{self.label}: the local spool {self.spool.path} holds records written after "
                "a version of the volume the store no longer has (another host wrote it "
                "since); kept as it is, not uploaded (move it away to open the volume as the "
                "store has it)",
            )
        manifest = self.manifest
        manifest.chunks = manifest.chunks[: base.kept_chunks]
        manifest.packed = None  # the index is cut and continued below
        index = manifest.index
        cut = bisect_left(index.offsets, base.start)
        index.truncate(cut)
        if index.end != base.start or manifest.size != base.start:
            raise tape_error(errno.EIO, f"{self.label}: the spool does not follow its manifest")
        storage = self._storage(True)
        storage.base = base
        storage.adopt_segments(self.spool.segments())
        before = len(index)
        result = self.fmt.scan(storage, index)
        if result.problem is not None and not result.torn:
            raise tape_error(
                errno.EIO,
                f"{self.label}: the local spool {self.spool.path} is damaged at offset "
                f"{index.end} ({result.problem}); kept as it is",
            )
        if result.problem is not None:  # the spool holds only our writes: a torn last one
            storage.truncate(index.end)
        log.warning(
            "%s: uploading %d objects (%d bytes) the local spool kept from an open that did "
            "not close",
            self.label,
            len(index) - before,
            storage.size() - base.start,
        )
        volume = manifest.volume
        first = index.marks[-1] + 1 if len(index.marks) else 0
        if first < len(index) and first not in volume.incomplete:
            volume.incomplete = sorted([*volume.incomplete, first])  # its writer never closed it
        try:
            self._commit(index, volume, manifest.drive)
        finally:
            storage.close()
            self.storage = None
