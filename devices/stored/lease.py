"""One opener per stored volume across hosts: a lease object taken by compare-and-swap.

``VOLUME/lease`` names its holder (host, process, a random token) and when it expires. Taking
it is a conditional PUT: ``If-None-Match: *`` when there is none, ``If-Match`` on the ETag read
when the one there was released or has expired; of any number of hosts racing, the store lets
exactly one PUT through. Every write of the lease carries a fresh token, so no two writes have
the same bytes (an ETag is a digest of the bytes: a rewrite with equal bytes would let a stale
``If-Match`` succeed).

The holder renews it from a background thread while the volume is open (every third of its
time), and releases it at close by writing it as released (again conditionally: a lease taken
over by another host after it expired is not touched). A holder whose renewal finds the lease
taken over has lost it: the next write or commit fails with EIO instead of overwriting the new
holder's manifest (the manifest's own compare-and-swap would refuse it anyway).

The expiry is the holder's wall clock plus the lease time: hosts sharing a store must keep
their clocks within a fraction of the lease time (NTP), as the README says.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass

from devices.errors import tape_error
from devices.stored.objects import ConflictError, ObjectStore

log = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """What a lease object says."""

    holder: str
    expires: float
    released: bool = False
    host: str = ""
    pid: int = 0
    boot: str = ""
    """The holder's host, process and boot (``/proc/sys/kernel/random/boot_id``)."""

    def encode(self) -> bytes:
        """The lease object's bytes, with a fresh token (see the module's docstring)."""
        return (
            json.dumps(
                {
                    "holder": self.holder,
                    "expires": self.expires,
                    "released": self.released,
                    "host": self.host,
                    "pid": self.pid,
                    "boot": self.boot,
                    "token": uuid.uuid4().hex,
                }
            ).encode()
            + b"\n"
        )

    @classmethod
    def decode(cls, data: bytes) -> LeaseRecord:
        """Read a lease; one that cannot be read counts as expired long ago (anyone may take it)."""
        try:
            head = json.loads(data)
            return cls(
                str(head["holder"]),
                float(head["expires"]),
                bool(head["released"]),
                str(head.get("host", "")),
                int(head.get("pid", 0)),
                str(head.get("boot", "")),
            )
        except (ValueError, KeyError, TypeError):
            return cls("an unreadable lease", 0.0, released=True)

    def free(self, now: float) -> bool:
        """Whether another opener may take it at ``now``.

        Released, expired, or held by a process of this host that is gone (killed, or the
        host rebooted since): the next open on the host that crashed need not wait for the
        lease to expire to recover its spool.
        """
        return self.released or self.expires <= now or self.holder_is_dead()

    def holder_is_dead(self) -> bool:
        """Whether the holder was a process of this host that no longer runs."""
        if not self.host or self.host != socket.gethostname() or self.pid <= 0:
            return False
        if self.boot != boot_id():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # alive, another user's
        return False


def boot_id() -> str:
    """This boot of this host (Linux), so a lease of a process before a reboot is seen dead."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as source:
            return source.read().strip()
    except OSError:
        return ""


def holder_name() -> str:
    """This process as a lease names it: ``host pid N``."""
    return f"{socket.gethostname()} pid {os.getpid()}"


class Lease:
    """The lease of one volume, held by this process from :meth:`acquire` to :meth:`release`.

    Args:
        objects: the store.
        key: the lease object's key.
        name: the volume as messages call it.
        seconds: how long a lease lasts unless renewed.
    """

    def __init__(
        self, objects: ObjectStore, key: str, name: str, seconds: float = DEFAULT_LEASE_SECONDS
    ) -> None:
        self.objects = objects
        self.key = key
        self.name = name
        self.seconds = seconds
        self.holder = f"{holder_name()} ({uuid.uuid4().hex[:8]})"
        self._etag: str | None = None
        self._lost: str | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        """Take the lease, or fail naming who holds it.

        Raises:
            OSError: EBUSY when another opener holds it; the store's errors (EOPNOTSUPP for a
                store without conditional writes).
        """
        for _ in range(3):  # a lease that changes between our read and our PUT: look again
            current = self.objects.get(self.key)
            record = self._record(time.time() + self.seconds)
            try:
                if current is None:
                    self._etag = self.objects.put_if(self.key, record.encode(), None)
                else:
                    held = LeaseRecord.decode(current[0])
                    if not held.free(time.time()):
                        raise _busy(self.name, held)
                    if not held.released:
                        log.warning(
                            "%s: taking over the lease %s held (%s)",
                            self.name,
                            held.holder,
                            "its process is gone"
                            if held.holder_is_dead()
                            else f"expired {_when(held.expires)}",
                        )
                    self._etag = self.objects.put_if(self.key, record.encode(), current[1])
            except ConflictError:
                continue
            self._start_renewing()
            return
        latest = self.objects.get(self.key)
        holder = LeaseRecord.decode(latest[0]) if latest else LeaseRecord("another opener", 0)
        raise _busy(self.name, holder)

    def _record(self, expires: float) -> LeaseRecord:
        return LeaseRecord(
            self.holder, expires, host=socket.gethostname(), pid=os.getpid(), boot=boot_id()
        )

    def _start_renewing(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew_loop, name="lease", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                self.renew()
            except OSError as exc:  # the store is unreachable: try again next period
                log.warning("%s: lease not renewed (%s)", self.name, exc.strerror)

    def renew(self) -> None:
        """Extend the lease (called by the renewing thread; a test may call it directly)."""
        with self._lock:
            if self._etag is None or self._lost is not None:
                return
            record = self._record(time.time() + self.seconds)
            try:
                self._etag = self.objects.put_if(self.key, record.encode(), self._etag)
            except ConflictError:
                self._lost = "another opener took the lease over after it expired"
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise
                # S3 answers If-Match on a missing key 404: with the object gone, another
                # opener may create it with If-None-Match and write; the renewal must not
                # go on failing quietly as if the store were merely unreachable.
                self._lost = "the lease object was removed from the store"
            if self._lost is not None:
                log.error("%s: lease lost: %s", self.name, self._lost)

    def check(self) -> None:
        """Refuse to go on once the lease was lost (EIO): another host may be writing."""
        if self._lost is not None:
            raise tape_error(errno.EIO, f"{self.name}: {self._lost}; nothing more is written")

    def release(self) -> None:
        """Stop renewing and mark the lease released (if it is still ours)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            if self._etag is None or self._lost is not None:
                return
            record = dataclasses.replace(self._record(0.0), released=True)
            try:
                self.objects.put_if(self.key, record.encode(), self._etag)
            except ConflictError:
                log.warning("%s: lease was taken over before it was released", self.name)
            except OSError as exc:
                log.warning("%s: lease not released (%s); it expires", self.name, exc.strerror)
            self._etag = None


def _busy(name: str, held: LeaseRecord) -> OSError:
    return tape_error(
        errno.EBUSY, f"{name}: in use by {held.holder} (its lease runs to {_when(held.expires)})"
    )


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))
