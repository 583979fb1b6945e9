"""One opener per stored volume across hosts: EBUSY naming the holder, races, expiry takeover."""

from __future__ import annotations

import errno
import random
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from devices.interface import MtOp
from devices.stored.lease import Lease, LeaseRecord
from devices.stored.objects import S3Objects, StoreAddress
from rmtd.testing.seaweed import SeaweedServer
from tests.stored.conftest import BUCKET, Hosts
from tests.stored.test_tar_stored import files_of, source_tree

pytestmark = pytest.mark.e2e

RACERS = 16


def test_a_held_volume_is_busy_for_another_host_naming_the_holder(
    hosts: Hosts, tmp_path: Path
) -> None:
    one, two = hosts["h1"], hosts["h2"]
    holder = one.pipe()
    assert holder.open("vault/vol1.tap") == (0, "0")
    assert holder.write(b"held" * 256) == (0, "1024")

    source_tree(tmp_path, "tree", seed=3)
    done = two.tar("-cf", "localhost:vault/vol1.tap", "-C", str(tmp_path), "tree", check=False)
    assert done.returncode != 0
    assert "Device or resource busy" in done.stderr
    other = two.pipe()
    code, message = other.open("vault/vol1.tap", "0 O_RDONLY")
    assert code == errno.EBUSY
    # "vault/vol1.tap: in use by HOST pid N (token) (its lease runs to ...)", cut at 72
    # characters (rmtd.protocol.replies.clean_message) where a long host name may end it.
    named = f"vault/vol1.tap: in use by {socket.gethostname()} pid {holder.pid} ("
    assert message.startswith(named) or named.startswith(message.removesuffix("...")), message
    assert other.end() == 0

    assert holder.close() == (0, "0")  # released: host 2 may open it now
    assert holder.end() == 0
    reader = two.pipe()
    assert reader.open("vault/vol1.tap", "0 O_RDONLY") == (0, "0")
    assert reader.read() == b"held" * 256
    assert reader.close() == (0, "0")
    assert reader.end() == 0


Outcome = tuple[list[Lease], list[OSError]]
"""A race's winners and refusals."""


def races(volumes: list[list[Lease]]) -> list[Outcome]:
    """Every lease's ``acquire`` at once (one barrier for all); each volume's outcome.

    The races of several volumes run together: SeaweedFS answers most of a race's losing
    PUTs only after whole seconds (it retries them inside), so ten races one after the
    other would take ten times as long.
    """
    everyone = [(n, lease) for n, leases in enumerate(volumes) for lease in leases]
    barrier = threading.Barrier(len(everyone))
    outcomes: list[Outcome] = [([], []) for _ in volumes]
    lock = threading.Lock()

    def attempt(n: int, lease: Lease) -> None:
        barrier.wait()
        try:
            lease.acquire()
        except OSError as exc:
            with lock:
                outcomes[n][1].append(exc)
        else:
            with lock:
                outcomes[n][0].append(lease)

    threads = [threading.Thread(target=attempt, args=racer) for racer in everyone]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes


@pytest.fixture
def clients(seaweed: SeaweedServer, prefix: str) -> list[S3Objects]:
    """One store client per racer (each its own boto3 client and connection pool)."""
    return [S3Objects(StoreAddress(BUCKET, prefix, seaweed.endpoint)) for _ in range(RACERS)]


def one_winner(outcome: Outcome) -> Lease:
    """Exactly one acquired; all the others got EBUSY naming it."""
    won, refused = outcome
    assert len(won) == 1, [lease.holder for lease in won]
    assert len(refused) == RACERS - 1
    for exc in refused:
        assert exc.errno == errno.EBUSY, exc
        assert f"in use by {won[0].holder} " in str(exc.strerror)
    return won[0]


def test_sixteen_openers_racing_for_one_lease_one_wins_every_time(
    clients: list[S3Objects],
) -> None:
    keys = [clients[0].address.key(f"raced{n}.tap", "lease") for n in range(10)]
    # Twenty races: ten create a lease (If-None-Match), ten take a released one (If-Match).
    for _ in range(2):
        outcomes = races([[Lease(c, key, "raced.tap") for c in clients] for key in keys])
        for outcome in outcomes:
            one_winner(outcome).release()
    for key in keys:
        found = clients[0].get(key)
        assert found is not None and LeaseRecord.decode(found[0]).released


def test_sixteen_openers_racing_for_an_expired_lease_one_takes_it_over(
    clients: list[S3Objects],
) -> None:
    keys = [clients[0].address.key(f"expired{n}.tap", "lease") for n in range(10)]
    for key in keys:  # holders that died: their leases ran out a second ago, never released
        clients[0].put(key, LeaseRecord("a dead host pid 1", time.time() - 1).encode())
    outcomes = races([[Lease(c, key, "expired.tap", seconds=30) for c in clients] for key in keys])
    for key, outcome in zip(keys, outcomes, strict=True):
        winner = one_winner(outcome)
        found = clients[0].get(key)
        assert found is not None and LeaseRecord.decode(found[0]).holder == winner.holder
        winner.release()


def test_a_host_that_stops_renewing_loses_the_volume_to_another(
    hosts: Hosts, tmp_path: Path
) -> None:
    one, two = hosts.make("h1", lease_time=2), hosts["h2"]
    stale = one.pipe()
    assert stale.open("vault/vol1.tap") == (0, "0")
    first = random.Random(1).randbytes(70_000)  # more than a chunk
    assert stale.write(first) == (0, str(len(first)))
    assert stale.ioctl(MtOp.MTWEOF) == (0, "1")  # committed: the store holds host 1's file
    assert stale.write(b"spooled only" * 100) == (0, "1200")
    stale.signal(signal.SIGSTOP)
    try:
        time.sleep(2.5)  # renewed at most 2/3 s before the stop: expired by now
        source = source_tree(tmp_path, "tree", seed=4)
        two.tar("-cf", "localhost:vault/vol1.tap", "-C", str(tmp_path), "tree")
        assert "taking over the lease" in two.log.read_text()
    finally:
        stale.signal(signal.SIGCONT)
    # Host 1 learns it lost the volume: its next filemark fails, so does its close.
    stale.write(b"after the takeover" * 10)  # acknowledged into its spool, or EIO: either
    code, message = stale.ioctl(MtOp.MTWEOF)
    assert code == errno.EIO, message
    code, message = stale.close()
    assert code == errno.EIO, message
    assert stale.end() == 0

    # The store holds host 2's volume, all of it and nothing of host 1's.
    out = tmp_path / "out"
    out.mkdir()
    three = hosts["h3"]
    three.tar("-xf", "localhost:vault/vol1.tap", "-C", str(out))
    assert files_of(out / "tree") == files_of(source)
    reader = three.pipe()
    assert reader.open("vault/vol1.tap/nostream", "0 O_RDONLY") == (0, "0")
    records = []
    while isinstance(got := reader.read(), bytes):
        records.append(got)
    assert got == (0, "0")  # tar's filemark
    assert first not in records and {len(r) for r in records} == {10240}
    assert reader.close() == (0, "0")
    assert reader.end() == 0

    # Host 1's spool, kept, is refused rather than uploaded over host 2's volume.
    assert one.spooled()
    again = one.pipe()
    code, message = again.open("vault/vol1.tap", "0 O_RDONLY")
    assert code == errno.EIO, message
    assert message.startswith("vault/vol1.tap: the local spool "), message
    assert again.end() == 0
