"""Looking after a store: listing its volumes, deleting one, and collecting unused chunks.

A volume's objects are ``PREFIX/VOLUME/manifest``, ``PREFIX/VOLUME/lease`` and
``PREFIX/VOLUME/chunks/NAME`` (:mod:`devices.stored.volume`). Chunks are immutable and a new
manifest may stop naming some (a write from the middle of a tape keeps a prefix of the chunks
and adds a new tail; a writer that crashed after an upload and before its commit leaves a chunk
no manifest names): :func:`collect` removes those, and only those, under three conditions:

* the volume's current manifest does not name the chunk (a volume whose manifest cannot be
  read is left alone: nothing proves which chunks it needs);
* the chunk is older than a grace time: a writer uploads its chunks before the manifest that
  names them, so a young unnamed chunk may be named by the next commit;
* the volume is not leased: every opener, reader or writer, holds the volume's lease
  (:mod:`devices.stored.lease`), so a volume whose lease is live may be in use. Collection
  takes the lease itself while it reads the manifest and deletes, so no opener can start
  meanwhile.

:func:`delete_volume` removes a whole volume (manifest first, so that nobody reads a manifest
naming deleted chunks; then its chunks; then the lease), holding its lease throughout.
"""

from __future__ import annotations

import contextlib
import errno
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from devices.stored.lease import Lease, LeaseRecord
from devices.stored.manifest import Manifest, ManifestError
from devices.stored.objects import ObjectStore, StoredObject

DEFAULT_GRACE_SECONDS = 3600.0
"""How old an unnamed chunk must be before :func:`collect` removes it."""

_MANIFEST = "/manifest"
_LEASE = "/lease"
_CHUNKS = "/chunks/"


@dataclass
class VolumeObjects:
    """The objects of one volume a listing found."""

    name: str
    """The volume's name under the listed prefix (``""``: the prefix itself is the volume)."""
    manifest: StoredObject | None = None
    lease: StoredObject | None = None
    chunks: list[StoredObject] = field(default_factory=list)

    def key(self, prefix: str) -> str:
        """The key prefix of the volume's objects under ``prefix``."""
        return "/".join(p for p in (prefix, self.name) if p)


def volumes_under(objects: ObjectStore, prefix: str) -> list[VolumeObjects]:
    """Every volume with an object under ``prefix`` (a key prefix, no slash at its ends).

    Objects that belong to no volume (a probe of :func:`check_conditional_put`, files another
    program put there) are ignored.

    Raises:
        OSError: the store's errors (ENOENT for a bucket it does not have).
    """
    return group_volumes(objects.list(f"{prefix}/" if prefix else ""), prefix)


def group_volumes(listed: Iterable[StoredObject], prefix: str) -> list[VolumeObjects]:
    """Group a listing's objects by volume (see :func:`volumes_under`), sorted by name."""
    found: dict[str, VolumeObjects] = {}
    skip = len(prefix) + 1 if prefix else 0
    for item in listed:
        rest = "/" + item.key[skip:]  # "/vol1.tap/manifest", or "/manifest" for the prefix
        if rest.endswith(_MANIFEST):
            entry = found.setdefault(rest[1 : -len(_MANIFEST)], VolumeObjects(""))
            entry.manifest = item
        elif rest.endswith(_LEASE):
            entry = found.setdefault(rest[1 : -len(_LEASE)], VolumeObjects(""))
            entry.lease = item
        else:
            volume, sep, chunk = rest.rpartition(_CHUNKS)
            if not sep or not chunk or "/" in chunk:
                continue
            entry = found.setdefault(volume[1:], VolumeObjects(""))
            entry.chunks.append(item)
    for name, entry in found.items():
        entry.name = name
    return [found[name] for name in sorted(found)]


@dataclass(frozen=True, slots=True)
class Removal:
    """One object :func:`collect` removed (or would remove)."""

    key: str
    size: int


@dataclass
class VolumeReport:
    """What :func:`collect` did with one volume."""

    name: str
    removed: list[Removal] = field(default_factory=list)
    skipped: str | None = None
    """Why the volume was left alone (in use, damaged manifest), or ``None``."""
    failed: bool = False
    """The volume was left alone because of an error (its manifest cannot be read, the store
    refused a request)."""

    @property
    def bytes(self) -> int:
        """The bytes of the removed chunks."""
        return sum(r.size for r in self.removed)


def collect(
    objects: ObjectStore,
    prefix: str,
    grace: float = DEFAULT_GRACE_SECONDS,
    dry_run: bool = False,
    now: float | None = None,
    volumes: list[VolumeObjects] | None = None,
) -> list[VolumeReport]:
    """Remove the chunks no manifest names, for every volume under ``prefix``.

    See the module's docstring for what is removed. A dry run only reads: it checks the lease
    without taking it, and removes nothing. ``volumes``: what :func:`volumes_under` found, if
    the caller listed already.

    Raises:
        OSError: the store's errors for the listing (ENOENT for no such bucket); errors on one
            volume are reported in its :class:`VolumeReport` and the others go on.
    """
    reports = []
    for volume in volumes_under(objects, prefix) if volumes is None else volumes:
        when = time.time() if now is None else now
        try:
            reports.append(_collect_volume(objects, prefix, volume, grace, dry_run, when))
        except OSError as exc:
            reason = f"{exc.strerror or exc}; left alone"
            reports.append(VolumeReport(volume.name, skipped=reason, failed=True))
    return reports


def _collect_volume(
    objects: ObjectStore,
    prefix: str,
    volume: VolumeObjects,
    grace: float,
    dry_run: bool,
    now: float,
) -> VolumeReport:
    report = VolumeReport(volume.name)
    key = volume.key(prefix)
    old = [c for c in volume.chunks if now - c.modified >= grace]
    if dry_run:
        held = _live_lease(objects, f"{key}{_LEASE}", now)
        if held is not None:
            report.skipped = f"in use by {held.holder}; left alone"
            return report
        return _sweep(objects, key, old, report, remove=False)
    name = f"s3://{objects.address.bucket}/{key}"
    lease = Lease(objects, f"{key}{_LEASE}", name, 60.0)
    try:
        lease.acquire()
    except OSError as exc:
        if exc.errno != errno.EBUSY:
            raise
        report.skipped = f"{str(exc.strerror).removeprefix(f'{name}: ')}; left alone"
        return report
    try:
        _sweep(objects, key, old, report, remove=True)
    finally:
        lease.release()
    if volume.manifest is None and len(report.removed) == len(volume.chunks):
        # Nothing is left of a volume that never had a manifest: its lease goes too.
        _delete_if_no_manifest(objects, key)
    return report


def _live_lease(objects: ObjectStore, key: str, now: float) -> LeaseRecord | None:
    found = objects.get(key)
    if found is None:
        return None
    record = LeaseRecord.decode(found[0])
    return None if record.free(now) else record


def _sweep(
    objects: ObjectStore, key: str, old: list[StoredObject], report: VolumeReport, remove: bool
) -> VolumeReport:
    """Remove (or list) the ``old`` chunks the current manifest does not name."""
    found = objects.get(f"{key}{_MANIFEST}")  # read now: under the lease, it cannot change
    named: set[str] = set()
    if found is not None:
        try:
            named = {c.name for c in Manifest.decode(found[0]).chunks}
        except ManifestError as exc:
            report.skipped = f"its manifest cannot be read ({exc}); left alone"
            report.failed = True
            return report
    for chunk in old:
        if chunk.key.rpartition("/")[2] in named:
            continue
        if remove:
            objects.delete(chunk.key)
        report.removed.append(Removal(chunk.key, chunk.size))
    return report


def _delete_if_no_manifest(objects: ObjectStore, key: str) -> None:
    with contextlib.suppress(OSError):
        if objects.get(f"{key}{_MANIFEST}") is None:
            lease = objects.get(f"{key}{_LEASE}")
            if lease is not None and LeaseRecord.decode(lease[0]).free(time.time()):
                objects.delete(f"{key}{_LEASE}")


def delete_volume(objects: ObjectStore, key: str, name: str) -> int:
    """Remove the volume whose objects are under ``key``: manifest, chunks, lease.

    The lease is held while the manifest and the chunks go (another opener gets EBUSY), then
    released and removed. Returns how many objects were removed.

    Raises:
        OSError: EBUSY naming the holder when the volume is in use (nothing is removed); the
            store's errors.
    """
    lease = Lease(objects, f"{key}{_LEASE}", name, 60.0)
    lease.acquire()
    removed = 0
    try:
        if objects.get(f"{key}{_MANIFEST}") is not None:
            objects.delete(f"{key}{_MANIFEST}")  # first: no manifest names a missing chunk
            removed += 1
        for chunk in list(objects.list(f"{key}{_CHUNKS}")):
            objects.delete(chunk.key)
            removed += 1
    finally:
        lease.release()
    objects.delete(f"{key}{_LEASE}")
    return removed + 1
