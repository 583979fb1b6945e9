"""No acknowledged record of a stored volume is lost when its writer is killed with SIGKILL.

An ``A`` for a ``W`` means the record is in the host's spool (``devices/stored/volume.py``).
Each trial writes a seeded mix of records and filemarks to a volume of its own over a pipe,
and kills rmtd at a seeded point: right after the N-th acknowledged request (a record or a
filemark), or inside the payload of the next record. Then the next open on the SAME host
(same spool) must upload what the spool kept and read back every acknowledged record and
filemark, in order; and a second host, whose spool is empty, must then read the same from the
store alone. As in ``tests/e2e/test_crash.py`` for local images.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from devices.interface import MtOp
from tests.stored.conftest import Host, Hosts
from tests.stored.rmt_pipe import Reply, RmtPipe

pytestmark = pytest.mark.e2e

SEED = 11
KILLS = ["record", "mark", "torn", "before mark"] * 2
SIZES = [1, 7, 512, 10240, 10241, 65535, 65536, 65537, 100_001, 200_000]
"""Record sizes: tiny, odd, block-sized, around the 64 KiB chunk, several chunks."""
MARK = None
"""A filemark in a trial's plan."""


@dataclass
class Trial:
    """One writer: the volume, what it sends, where it is killed."""

    volume: str
    plan: list[bytes | None]
    acked: int
    torn: bool
    done: list[bytes | None] = field(default_factory=list)

    @classmethod
    def make(cls, rng: random.Random, number: int, kill: str) -> Trial:
        """A seeded plan of 4..12 records and filemarks, killed at a seeded point of ``kill``:
        ``"record"`` (after a record's A), ``"mark"`` (after a filemark's A), ``"torn"``
        (inside a record's payload), ``"before mark"`` (after a record, before a filemark)."""
        while True:
            plan: list[bytes | None] = []
            for _ in range(rng.randint(4, 12)):
                if plan and plan[-1] is not MARK and rng.random() < 0.3:
                    plan.append(MARK)
                else:
                    plan.append(rng.randbytes(rng.choice(SIZES)))
            points = [n for n in range(1, len(plan)) if _fits(plan, n, kill)]
            if points:
                return cls(f"crash{number}.tap", plan, rng.choice(points), kill == "torn")

    def write(self, writer: RmtPipe) -> None:
        """Send the plan up to the kill point, checking each acknowledgement."""
        assert writer.open(f"vault/{self.volume}") == (0, "0")
        for item in self.plan[: self.acked]:
            if item is MARK:
                assert writer.ioctl(MtOp.MTWEOF) == (0, "1")
            else:
                assert writer.write(item) == (0, str(len(item)))
            self.done.append(item)
        following = self.plan[self.acked]
        if self.torn and following is not None:
            writer.send(b"W%d\n" % len(following) + following[: len(following) // 2])
            time.sleep(0.05)  # let the server take in what it can of the half payload


def _fits(plan: list[bytes | None], acked: int, kill: str) -> bool:
    last, following = plan[acked - 1], plan[acked]
    if kill == "mark":
        return last is MARK
    if kill == "before mark":
        return last is not MARK and following is MARK
    if kill == "torn":
        return following is not MARK
    return last is not MARK


def read_all(host: Host, volume: str) -> list[bytes | Reply]:
    """Every record and filemark of ``volume`` through ``host``, up to the first error."""
    reader = host.pipe()
    assert reader.open(f"vault/{volume}/nostream", "0 O_RDONLY") == (0, "0")
    got: list[bytes | Reply] = []
    while len(got) < 100:
        item = reader.read(1 << 20)
        got.append(item)
        if isinstance(item, tuple) and item != (0, "0"):
            break
    assert reader.close() == (0, "0")
    assert reader.end() == 0
    return got


def expected(trial: Trial) -> list[bytes | Reply]:
    """What reading the volume back gives, as for a local image: the acknowledged records and
    filemarks, then the end of data (EIO; after a filemark, first one more read of 0 bytes)."""
    items: list[bytes | Reply] = [(0, "0") if i is MARK else i for i in trial.done]
    if trial.done[-1] is MARK:
        items.append((0, "0"))
    return [*items, (5, f"vault/{trial.volume}: end of data")]


def test_every_acknowledged_record_survives_a_kill(hosts: Hosts) -> None:
    one, two = hosts.make("h1", lease_time=1), hosts["h2"]
    rng = random.Random(SEED)
    trials = [Trial.make(rng, n, kill) for n, kill in enumerate(KILLS)]

    def write_and_kill(trial: Trial) -> None:
        writer = one.pipe()
        trial.write(writer)
        writer.kill()

    with ThreadPoolExecutor(len(trials)) as pool:  # the trials' volumes are independent
        list(pool.map(write_and_kill, trials))
    assert one.spooled()  # the killed writers left records only the spool has
    time.sleep(1.2)  # their leases (1 s, renewed every 1/3 s) have run out

    with ThreadPoolExecutor(len(trials)) as pool:  # the same host: its spool is uploaded first
        reads = list(pool.map(lambda t: read_all(one, t.volume), trials))
    for trial, got in zip(trials, reads, strict=True):
        assert got == expected(trial), trial
    assert one.spooled() == []
    log = one.log.read_text()
    assert log.count("the local spool kept from an open that did not close") >= 1

    with ThreadPoolExecutor(len(trials)) as pool:  # another host, from the store alone
        reads = list(pool.map(lambda t: read_all(two, t.volume), trials))
    for trial, got in zip(trials, reads, strict=True):
        assert got == expected(trial), trial


def test_a_reader_on_another_host_before_recovery_loses_nothing(hosts: Hosts) -> None:
    one, two = hosts.make("h1", lease_time=1), hosts["h2"]
    first, second = b"committed" * 1000, b"spooled only" * 1000
    writer = one.pipe()
    assert writer.open("vault/vol.tap") == (0, "0")
    assert writer.write(first) == (0, str(len(first)))
    assert writer.ioctl(MtOp.MTWEOF) == (0, "1")
    assert writer.write(second) == (0, str(len(second)))
    writer.kill()
    time.sleep(1.2)  # the lease has run out

    # Host 2 reads the volume first: it sees what was committed.
    assert read_all(two, "vol.tap") == [
        first,
        (0, "0"),
        (0, "0"),
        (5, "vault/vol.tap: end of data"),
    ]
    # Then host 1's next open uploads the record only its spool has.
    assert read_all(one, "vol.tap")[:3] == [first, (0, "0"), second]
    assert read_all(two, "vol.tap")[:3] == [first, (0, "0"), second]

    # Host 2 appends after the recovered records; host 1 reads the whole from the store.
    appender = two.pipe()
    assert appender.open("vault/vol.tap", "2 O_RDWR") == (0, "0")
    assert appender.ioctl(MtOp.MTEOM)[0] == 0
    assert appender.write(b"appended") == (0, "8")
    assert appender.close() == (0, "0")  # writes the closing filemark
    assert appender.end() == 0
    assert read_all(one, "vol.tap") == [
        first, (0, "0"), second, b"appended", (0, "0"), (0, "0"),
        (5, "vault/vol.tap: end of data"),
    ]  # fmt: skip
