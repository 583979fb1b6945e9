"""Stores that are not quite S3, through boto3: no compare-and-swap, and quoted ETags refused."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devices.interface import MtOp
from devices.kinds import DeviceKind
from devices.stored.lease import Lease
from devices.stored.objects import S3Objects, StoreAddress, check_conditional_put
from devices.stored.volume import Store
from tests.stored_unit.s3_double import ENVIRON, Quirk, S3Double
from tests.stored_unit.volumes import (
    READ,
    WRITE,
    new_store,
    opening,
    read_from_start,
    records,
    write_all,
)

RMTD = str(Path(sys.executable).with_name("rmtd"))
NO_CAS = "s3://tapes/site1: the store answers a conditional PUT with 501 Not Implemented"
IGNORES = "s3://tapes/site1: the store ignores If-None-Match (a second create of one key"


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def double(request: pytest.FixtureRequest) -> Iterator[S3Double]:
    """A double with the quirk the test is parametrized with (default: plain S3)."""
    with S3Double(getattr(request, "param", Quirk.S3)) as running:
        yield running


def client(double: S3Double) -> S3Objects:
    """boto3 pointed at ``double``, as ``s3://tapes/site1``."""
    return S3Objects(StoreAddress("tapes", "site1", double.endpoint))


def store_over(tmp_path: Path, double: S3Double) -> Store:
    """A Store of ``double`` (boto3's client), its spool and cache under ``tmp_path``."""
    return new_store(tmp_path, client(double))


@pytest.mark.parametrize(
    ("double", "message"),
    [(Quirk.NO_CAS, NO_CAS), (Quirk.IGNORES_CONDITIONS, IGNORES)],
    indirect=["double"],
)
def test_a_store_without_compare_and_swap_is_refused(
    tmp_path: Path, double: S3Double, message: str
) -> None:
    with pytest.raises(OSError) as refused:
        check_conditional_put(client(double), "site1/.rmtd-probe")
    assert refused.value.errno == errno.EOPNOTSUPP
    assert message in str(refused.value)
    assert double.objects == {}  # the probe object is removed
    store = store_over(tmp_path, double)
    for call in (store.verify, store.verify):  # a refusal is not remembered as a success
        with pytest.raises(OSError) as refused:
            call()
        assert refused.value.errno == errno.EOPNOTSUPP
        assert message in str(refused.value)
    with pytest.raises(OSError) as refused:
        store.open_volume("x.tap", WRITE, DeviceKind.SIMH, "vault/x.tap")
    assert refused.value.errno == errno.EOPNOTSUPP
    assert not any(k.endswith("/lease") for k in double.objects)  # refused before the lease


def test_a_store_with_compare_and_swap_is_verified_once(tmp_path: Path, double: S3Double) -> None:
    store = store_over(tmp_path, double)
    store.verify()
    store.verify()
    assert [(r.method, r.status) for r in double.requests] == [
        ("PUT", 200),
        ("PUT", 412),
        ("DELETE", 204),
    ]


def test_a_volume_through_boto3_writes_and_reads_back(tmp_path: Path, double: S3Double) -> None:
    store = store_over(tmp_path, double)
    drive = store.open_volume("vol1.tap", WRITE, DeviceKind.SIMH, "vault/vol1.tap")
    write_all(drive, [*records(6), None, *records(2, tag=7)])
    drive.close()
    assert sum("/chunks/" in key for key in double.objects) >= 3
    reader = new_store(tmp_path, client(double), "host2")
    drive = reader.open_volume("vol1.tap", READ, DeviceKind.SIMH, "vault/vol1.tap")
    assert read_from_start(drive, 10) == [*records(6), None, *records(2, tag=7), None]
    drive.close()
    assert any(r.method == "GET" and "/chunks/" in r.key for r in double.requests)


@pytest.mark.parametrize("double", [Quirk.CEPH16], indirect=True)
def test_a_quoted_if_match_refused_is_retried_unquoted_then_never_quoted(
    tmp_path: Path, double: S3Double
) -> None:
    store = store_over(tmp_path, double)
    drive = store.open_volume("vol1.tap", WRITE, DeviceKind.SIMH, "vault/vol1.tap")
    write_all(drive, [*records(2), None])  # the manifest's first PUT: If-None-Match
    write_all(drive, [*records(2, tag=3), None])  # the second: If-Match, quoted, refused
    lease: Lease = opening(drive).lease
    lease.renew()
    lease.renew()
    drive.ioctl(MtOp.MTWEOF, 1)
    drive.close()
    matched = [r for r in double.conditional() if r.if_match]
    assert [(r.key.rsplit("/", 1)[1], r.status, str(r.if_match)[0] == '"') for r in matched] == [
        ("manifest", 400, True),
        ("manifest", 200, False),
        ("lease", 200, False),
        ("lease", 200, False),
        ("manifest", 200, False),
        ("lease", 200, False),  # the release
    ]
    reader = store.open_volume("vol1.tap", READ, DeviceKind.SIMH, "vault/vol1.tap")
    assert read_from_start(reader, 7) == [*records(2), None, *records(2, tag=3), None, None]
    reader.close()


@pytest.mark.parametrize("double", [Quirk.CEPH16], indirect=True)
def test_a_lease_renewal_is_retried_unquoted(double: S3Double) -> None:
    objects = client(double)
    lease = Lease(objects, "site1/vol1.tap/lease", "vault/vol1.tap", 3600)
    lease.acquire()
    lease.renew()
    lease.renew()
    lease.check()
    lease.release()
    statuses = [(r.status, (r.if_match or "").startswith('"')) for r in double.conditional()]
    assert statuses == [(200, False), (400, True), (200, False), (200, False), (200, False)]


def test_a_plain_s3_store_gets_quoted_etags(double: S3Double) -> None:
    lease = Lease(client(double), "site1/vol1.tap/lease", "vault/vol1.tap", 3600)
    lease.acquire()
    lease.renew()
    lease.release()
    matched = [(r.status, r.if_match) for r in double.conditional() if r.if_match]
    assert len(matched) == 2
    assert all(status == 200 and etag.startswith('"') for status, etag in matched)


def _config(tmp_path: Path, endpoint: str, access: str = "") -> Path:
    (tmp_path / "served").mkdir(exist_ok=True)
    path = tmp_path / "rmtd.toml"
    path.write_text(
        f'root = "served"\n{access}'
        f'[stores.vault]\nurl = "s3://tapes/site1"\nendpoint = "{endpoint}"\n'
        'chunk_size = "64k"\nspool_dir = "spool"\ncache_dir = "cache"\n'
    )
    return path


ACCESS = """\
[access]
require_privileged_port = false
[[access.proxy]]
remote_host = "127.0.0.0/8"
remote_user = "*"
local_user = "nobody"
devices = ["*", "*/*"]
mode = "read-write"
"""


def _environ() -> dict[str, str]:
    return {**os.environ, **ENVIRON}


@pytest.mark.parametrize("double", [Quirk.NO_CAS], indirect=True)
def test_rmtd_listen_refuses_such_a_store_at_start(tmp_path: Path, double: S3Double) -> None:
    config = _config(tmp_path, double.endpoint, ACCESS)
    done = subprocess.run(
        [RMTD, "listen", "--config", str(config), "--port", "1"],  # never bound: refused first
        check=False,
        capture_output=True,
        text=True,
        env=_environ(),
        timeout=60,
    )
    assert done.returncode == 2
    assert f"rmtd: [stores.vault]: {NO_CAS}" in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("double", [Quirk.NO_CAS], indirect=True)
def test_an_rmt_open_of_a_volume_in_such_a_store_answers_e95(
    tmp_path: Path, double: S3Double
) -> None:
    config = _config(tmp_path, double.endpoint)
    done = subprocess.run(
        [RMTD, "--config", str(config)],
        input=b"Ovault/x.tap\n0\n",
        check=False,
        capture_output=True,
        env=_environ(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    status, message = done.stdout.split(b"\n", 1)
    assert status == b"E95"
    # An E reply's message is at most 72 characters (rmtd.protocol.replies.MAX_MESSAGE).
    assert message.startswith(b"s3://tapes/site1: the store answers a conditional PUT with 501")
    assert not (tmp_path / "spool").exists() or not os.listdir(tmp_path / "spool")


def test_a_lease_removed_from_an_s3_store_is_lost(double: S3Double) -> None:
    """Through boto3: S3's 404 to an If-Match on a missing key marks the lease lost."""
    lease = Lease(client(double), "site1/vol1.tap/lease", "vault/vol1.tap", 3600)
    lease.acquire()
    del double.objects["site1/vol1.tap/lease"]
    lease.renew()
    with pytest.raises(OSError) as lost:
        lease.check()
    assert "the lease object was removed from the store" in str(lost.value)
    lease.release()
    assert double.conditional()[-1].status == 404  # the renewal; the release wrote nothing
