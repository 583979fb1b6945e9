"""A real S3 store (SeaweedFS) for the ``vmt`` tests on stored volumes, one per session.

Every test gets its own key prefix in the one bucket (``tapes``), so tests never see each
other's volumes, and its own spool and cache directories (``XDG_STATE_HOME``,
``XDG_CACHE_HOME``).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from devices.stored.volume import Store
from rmtd.testing.seaweed import SeaweedServer
from rmtd.vmt import main
from rmtd.vmt.stored import address_of, store_of

BUCKET = "tapes"


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """The store, with the bucket ``tapes``."""
    with SeaweedServer(tmp_path_factory.mktemp("seaweed")) as server:
        server.create_bucket(BUCKET)
        yield server


@pytest.fixture
def prefix(s3: SeaweedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """``s3://tapes/<unique>``: this test's part of the store; the environment set to reach it."""
    for name, value in s3.environ.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return f"s3://{BUCKET}/t{uuid.uuid4().hex[:12]}"


def vmt(*args: str) -> Result:
    """Run vmt in this process, as its command line does."""
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def store(url: str, endpoint: str) -> tuple[Store, str]:
    """The :class:`Store` and volume name of a volume's URL, as vmt makes them."""
    address, volume = address_of(url)
    address = dataclasses.replace(address, endpoint=endpoint)
    return store_of(address, 64 << 10), volume


def keys(s3: SeaweedServer, url: str) -> list[str]:
    """Every object key under ``url`` (a prefix or a volume), sorted."""
    address, _ = address_of(url, volume_in_url=False)
    objects = store_of(dataclasses.replace(address, prefix="", endpoint=s3.endpoint)).objects
    return sorted(o.key for o in objects.list(address.prefix + "/"))
