"""The lease of a stored volume: one holder, EBUSY naming it, takeover only once it is free."""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from devices.stored.lease import Lease, LeaseRecord, boot_id
from devices.stored.objects import ConflictError
from tests.stored_unit.memory_store import MemoryStore

KEY = "site1/vol1.tap/lease"
LONG = 3600.0  # the renewing thread never wakes during a test: renew() is called directly


@pytest.fixture
def store() -> MemoryStore:
    """An empty in-memory store."""
    return MemoryStore()


@pytest.fixture
def leases(store: MemoryStore) -> Iterator[list[Lease]]:
    """Leases a test makes; released (their threads joined) at the end."""
    made: list[Lease] = []
    yield made
    for lease in made:
        lease.release()


def new_lease(store: MemoryStore, made: list[Lease]) -> Lease:
    """A lease of ``vault/vol1.tap`` in ``store``."""
    lease = Lease(store, KEY, "vault/vol1.tap", LONG)
    made.append(lease)
    return lease


def record(store: MemoryStore) -> LeaseRecord:
    """The lease object as it is in the store."""
    found = store.get(KEY)
    assert found is not None
    return LeaseRecord.decode(found[0])


def test_acquire_creates_the_lease_naming_this_holder(
    store: MemoryStore, leases: list[Lease]
) -> None:
    lease = new_lease(store, leases)
    lease.acquire()
    held = record(store)
    assert held.holder == lease.holder
    assert not held.released
    assert time.time() + LONG - 60 < held.expires <= time.time() + LONG


def test_a_held_lease_refuses_with_ebusy_naming_the_holder(
    store: MemoryStore, leases: list[Lease]
) -> None:
    first = new_lease(store, leases)
    first.acquire()
    with pytest.raises(OSError) as refused:
        new_lease(store, leases).acquire()
    assert refused.value.errno == errno.EBUSY
    assert f"vault/vol1.tap: in use by {first.holder}" in str(refused.value)
    assert "its lease runs to" in str(refused.value)
    assert record(store).holder == first.holder


def test_an_expired_lease_is_taken_over_with_a_warning(
    store: MemoryStore, leases: list[Lease], caplog: pytest.LogCaptureFixture
) -> None:
    store.put(KEY, LeaseRecord("crashed host pid 7", time.time() - 5).encode())
    lease = new_lease(store, leases)
    with caplog.at_level(logging.WARNING, "devices.stored.lease"):
        lease.acquire()
    assert record(store).holder == lease.holder
    assert "taking over the lease crashed host pid 7 held" in caplog.text


def test_a_released_lease_is_taken_without_a_warning(
    store: MemoryStore, leases: list[Lease], caplog: pytest.LogCaptureFixture
) -> None:
    first = new_lease(store, leases)
    first.acquire()
    first.release()
    assert record(store).released
    second = new_lease(store, leases)
    with caplog.at_level(logging.WARNING, "devices.stored.lease"):
        second.acquire()
    assert record(store).holder == second.holder
    assert not record(store).released
    assert caplog.text == ""


def test_an_unreadable_lease_counts_as_free(store: MemoryStore, leases: list[Lease]) -> None:
    store.put(KEY, b"\x00not json")
    lease = new_lease(store, leases)
    lease.acquire()
    assert record(store).holder == lease.holder
    assert LeaseRecord.decode(b'{"holder": "x"}').free(time.time())


def test_renew_extends_and_rewrites_with_new_bytes(store: MemoryStore, leases: list[Lease]) -> None:
    lease = new_lease(store, leases)
    lease.acquire()
    before = store.get(KEY)
    lease.renew()
    after = store.get(KEY)
    assert before is not None and after is not None
    assert after[1] != before[1]  # a fresh token: a stale If-Match can never succeed
    lease.check()


def test_renew_after_a_takeover_marks_the_lease_lost(
    store: MemoryStore, leases: list[Lease]
) -> None:
    first = new_lease(store, leases)
    first.acquire()
    # The first holder stalled past its expiry and a second host took the lease over.
    store.put(KEY, LeaseRecord(first.holder, time.time() - 1).encode())
    second = new_lease(store, leases)
    second.acquire()
    taken = store.get(KEY)
    first.renew()
    with pytest.raises(OSError) as lost:
        first.check()
    assert lost.value.errno == errno.EIO
    assert "vault/vol1.tap: another opener took the lease over" in str(lost.value)
    first.release()  # must not release the new holder's lease
    assert store.get(KEY) == taken
    second.check()
    assert record(store).holder == second.holder


def test_release_does_not_touch_a_lease_taken_over_unknown_to_the_holder(
    store: MemoryStore, leases: list[Lease], caplog: pytest.LogCaptureFixture
) -> None:
    first = new_lease(store, leases)
    first.acquire()
    store.put(KEY, LeaseRecord("other host pid 9", time.time() + LONG).encode())
    taken = store.get(KEY)
    with caplog.at_level(logging.WARNING, "devices.stored.lease"):
        first.release()
    assert store.get(KEY) == taken
    assert "taken over before it was released" in caplog.text


def test_a_store_error_at_release_leaves_the_lease_to_expire(
    store: MemoryStore, leases: list[Lease], caplog: pytest.LogCaptureFixture
) -> None:
    lease = new_lease(store, leases)
    lease.acquire()
    store.fail_next("put_if")
    with caplog.at_level(logging.WARNING, "devices.stored.lease"):
        lease.release()
    assert not record(store).released
    assert "lease not released" in caplog.text


class _AlwaysRaced(MemoryStore):
    """Another opener's PUT lands between every read and every conditional PUT."""

    def put_if(self, key: str, data: bytes, etag: str | None) -> str:
        self.calls["put_if"] += 1
        self.put(key, LeaseRecord("racer pid 1", time.time() + LONG).encode())
        raise ConflictError(key)


def test_a_lost_race_every_time_ends_in_ebusy_naming_the_winner(leases: list[Lease]) -> None:
    store = _AlwaysRaced()
    with pytest.raises(OSError) as refused:
        new_lease(store, leases).acquire()
    assert refused.value.errno == errno.EBUSY
    assert "in use by racer pid 1" in str(refused.value)
    assert store.calls["put_if"] == 1  # after the first race, the racer's lease is live


def test_the_renewing_thread_renews(store: MemoryStore) -> None:
    lease = Lease(store, KEY, "vault/vol1.tap", 0.03)
    lease.acquire()
    try:
        first = store.get(KEY)
        deadline = time.monotonic() + 10
        while store.get(KEY) == first and time.monotonic() < deadline:
            time.sleep(0.01)
        assert store.get(KEY) != first
    finally:
        lease.release()
    assert record(store).released


def test_a_lease_removed_from_the_store_is_lost(
    store: MemoryStore, leases: list[Lease], caplog: pytest.LogCaptureFixture
) -> None:
    """S3 answers If-Match on a missing key 404: another opener may have created it since."""
    lease = new_lease(store, leases)
    lease.acquire()
    store.delete(KEY)  # by hand, or a lifecycle rule: another opener could now create it
    with caplog.at_level(logging.WARNING, "devices.stored.lease"):
        lease.renew()
    with pytest.raises(OSError) as lost:
        lease.check()
    assert lost.value.errno == errno.EIO
    assert "vault/vol1.tap: the lease object was removed from the store" in str(lost.value)
    assert "lease lost" in caplog.text
    lease.release()
    assert store.get(KEY) is None  # nothing written by the lost holder


def test_a_lease_of_a_dead_process_of_this_host_is_free_at_once(
    store: MemoryStore, leases: list[Lease], caplog: pytest.LogCaptureFixture
) -> None:
    gone = _a_dead_pid()
    held = LeaseRecord(
        "host pid gone", time.time() + LONG, host=socket.gethostname(), pid=gone, boot=boot_id()
    )
    store.put(KEY, held.encode())
    lease = new_lease(store, leases)
    with caplog.at_level(logging.WARNING, "devices.stored.lease"):
        lease.acquire()
    assert record(store).holder == lease.holder
    assert "its process is gone" in caplog.text


def test_a_live_or_foreign_holder_is_not_dead() -> None:
    me = LeaseRecord("me", 0.0, host=socket.gethostname(), pid=os.getpid(), boot=boot_id())
    assert not me.holder_is_dead()
    other = LeaseRecord("them", 0.0, host="another-host.example", pid=_a_dead_pid(), boot="x")
    assert not other.holder_is_dead()  # another host's process: only its expiry frees it
    rebooted = dataclasses.replace(me, boot="an earlier boot")
    assert rebooted.holder_is_dead()


def _a_dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid
