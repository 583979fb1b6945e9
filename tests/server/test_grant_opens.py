"""Opens under a grant: what counts as writing, and symlinks that would carry a grant."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from rmtd.access import AccessPolicy, Grant, Peer
from rmtd.config import parse_config
from rmtd.opener import DeviceOpener, OpenerConfig

CONFIG = """
[access]
require_privileged_port = false
[[access.proxy]]
remote_host = "*"
remote_user = "reader"
local_user = "{local}"
devices = ["alice/*"]
mode = "read-only"
"""

MODIFYING = [
    os.O_RDONLY | os.O_TRUNC,
    os.O_RDONLY | os.O_CREAT,
    os.O_RDONLY | os.O_APPEND,
    os.O_WRONLY,
    os.O_RDWR,
]


def grant(local: str = "root") -> Grant:
    config = parse_config(CONFIG.format(local=local))
    assert config.access is not None
    return AccessPolicy(config.access).admit(
        Peer("127.0.0.1", 40000), "reader", local, via_rsh=False
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    top = tmp_path / "root"
    (top / "alice").mkdir(parents=True)
    (top / "bob").mkdir()
    (top / "alice" / "plain.dat").write_bytes(b"precious\n")
    (top / "bob" / "secret.dat").write_bytes(b"bob's\n")
    return top


def errno_of(opener: DeviceOpener, name: str, flags: int) -> int:
    with pytest.raises(OSError) as failed:
        opener.open(name, flags).close()
    return failed.value.errno or 0


@pytest.mark.parametrize("flags", MODIFYING)
def test_a_read_only_grant_refuses_every_modifying_open(root: Path, flags: int) -> None:
    opener = DeviceOpener(OpenerConfig(root=str(root)), None, grant())
    assert errno_of(opener, "alice/plain.dat", flags) == errno.EACCES
    assert errno_of(opener, "alice/new.dat", flags) == errno.EACCES
    assert (root / "alice" / "plain.dat").read_bytes() == b"precious\n"
    assert not (root / "alice" / "new.dat").exists()
    opener.open("alice/plain.dat", os.O_RDONLY).close()  # reading is granted


@pytest.mark.parametrize("flags", MODIFYING)
def test_a_read_only_server_refuses_every_modifying_open(root: Path, flags: int) -> None:
    opener = DeviceOpener(OpenerConfig(root=str(root), read_only=True))
    assert errno_of(opener, "alice/plain.dat", flags) == errno.EROFS
    assert errno_of(opener, "alice/new.tap", flags) == errno.EROFS
    assert (root / "alice" / "plain.dat").read_bytes() == b"precious\n"
    assert not (root / "alice" / "new.tap").exists()


def test_a_symlink_inside_the_root_carries_no_grant(root: Path) -> None:
    (root / "alice" / "link.dat").symlink_to("../bob/secret.dat")
    opener = DeviceOpener(OpenerConfig(root=str(root)), None, grant())
    assert errno_of(opener, "alice/link.dat", os.O_RDONLY) == errno.EACCES
    (root / "alice" / "same.dat").symlink_to("plain.dat")  # inside the grant: fine
    opener.open("alice/same.dat", os.O_RDONLY).close()


def test_a_read_only_grant_write_protects_the_volume(root: Path) -> None:
    from devices.interface import GeneralStatus, MtOp
    from devices.state import StateFile, VolumeInfo
    from devices.vtape import create_tape_image

    image = root / "alice" / "vol.tap"
    create_tape_image(str(image), VolumeInfo(density=1))
    opener = DeviceOpener(OpenerConfig(root=str(root)), None, grant())
    device = opener.open("alice/vol.tap", os.O_RDONLY)
    assert device.status().gstat & GeneralStatus.WR_PROT
    with pytest.raises(OSError) as failed:
        device.ioctl(MtOp.MTSETDENSITY, 2)
    assert failed.value.errno == errno.EROFS
    device.close()
    assert StateFile(str(image)).load().volume.density == 1
