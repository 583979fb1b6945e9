"""A store without compare-and-swap is refused, before anything is written to it."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from devices.stored.objects import S3Objects, StoreAddress
from tests.stored.conftest import BUCKET, Hosts
from tests.stored.refusing_proxy import RefusingProxy
from tests.stored.test_tar_stored import source_tree

pytestmark = pytest.mark.e2e


def test_a_store_answering_conditional_puts_with_501_is_refused(
    hosts: Hosts, tmp_path: Path, objects: S3Objects
) -> None:
    with RefusingProxy(hosts.s3.endpoint) as proxy:
        host = hosts.make("h1", endpoint=proxy.endpoint)
        # The proxy passes plain requests through: the test's own client works through it.
        through = S3Objects(StoreAddress(BUCKET, host.prefix, proxy.endpoint))
        through.put(objects.address.key("plain"), b"plain put\n")
        assert objects.get(objects.address.key("plain")) is not None

        source_tree(tmp_path, "tree", seed=8)
        done = host.tar("-cf", "localhost:vault/vol1.tap", "-C", str(tmp_path), "tree", check=False)
        assert done.returncode != 0
        assert "Operation not supported" in done.stderr
        pipe = host.pipe()
        code, message = pipe.open("vault/vol1.tap")
        assert code == errno.EOPNOTSUPP
        assert message.startswith(f"s3://tapes/{host.prefix}: the store answers "), message
        assert pipe.end() == 0
    # Nothing of the volume reached the store (the probe cleaned up after itself).
    assert [o.key for o in objects.list(objects.address.key(""))] == [objects.address.key("plain")]
