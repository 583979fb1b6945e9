"""Pure functions of the client: remote names, argv, open flags, struct mtget."""

from __future__ import annotations

import errno
import os

import pytest

from devices.interface import DriveStatus, GeneralStatus
from rmtd.client import (
    RemoteName,
    decode_mtget,
    encode_open_flags,
    parse_remote,
    rsh_argv,
)
from rmtd.status import pack_mtget


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("host:/dev/nst0", RemoteName("host", "/dev/nst0")),
        ("joe@host:/srv/t.tar", RemoteName("host", "/srv/t.tar", "joe")),
        ("@host:t.tar", RemoteName("host", "t.tar")),
        ("host:", RemoteName("host", "")),
        ("host:a:b", RemoteName("host", "a:b")),
        ("a@b@c:p", RemoteName("b@c", "p", "a")),
        # GNU splits at an '@' after the colon too ("host" as user, "b.tar" as host): not us.
        ("host:/srv/tmp/a@b.tar", RemoteName("host", "/srv/tmp/a@b.tar")),
        ("joe@host:/x@y", RemoteName("host", "/x@y", "joe")),
        ("plain.tar", None),
        ("", None),
        (":file", None),
        ("/x/a:b", None),
        ("./a:b", None),
        ("dir/host:file", None),
        ("/dev/nst0", None),
    ],
)
def test_parse_remote(text: str, expected: RemoteName | None) -> None:
    assert parse_remote(text) == expected


@pytest.mark.parametrize("text", ["joe@:file", "@:file"])
def test_parse_remote_without_host(text: str) -> None:
    with pytest.raises(ValueError, match="no host"):
        parse_remote(text)


def test_remote_name_str() -> None:
    assert str(RemoteName("h", "/t", "joe")) == "joe@h:/t"
    assert str(RemoteName("h", "/t")) == "h:/t"


def test_rsh_argv() -> None:
    assert rsh_argv("h") == ["rsh", "h", "/etc/rmt"]
    assert rsh_argv(
        "h", user="joe", rsh_command="ssh -p 2222", rmt_command="/usr/sbin/rmt --debug=1"
    ) == ["ssh", "-p", "2222", "h", "-l", "joe", "/usr/sbin/rmt --debug=1"]
    assert rsh_argv("h", rsh_command="'/opt/my rsh'") == ["/opt/my rsh", "h", "/etc/rmt"]


@pytest.mark.parametrize(
    ("host", "user", "rsh"),
    [("-oProxyCommand=x", None, "ssh"), ("", None, "ssh"), ("h", "-x", "ssh"), ("h", None, " ")],
)
def test_rsh_argv_refuses(host: str, user: str | None, rsh: str) -> None:
    with pytest.raises(ValueError):
        rsh_argv(host, user=user, rsh_command=rsh)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (os.O_RDONLY, "0 O_RDONLY"),
        (os.O_WRONLY, "1 O_WRONLY"),
        (os.O_WRONLY | os.O_CREAT, "65 O_WRONLY|O_CREAT"),
        (os.O_RDWR | os.O_CREAT, "66 O_RDWR|O_CREAT"),
        (os.O_WRONLY | os.O_CREAT | os.O_TRUNC, "577 O_WRONLY|O_CREAT|O_TRUNC"),
        (
            os.O_RDWR | os.O_APPEND | os.O_EXCL | os.O_NONBLOCK | os.O_NOCTTY | os.O_SYNC,
            f"{os.O_RDWR | os.O_APPEND | os.O_EXCL | os.O_NONBLOCK | os.O_NOCTTY | os.O_SYNC} "
            "O_RDWR|O_APPEND|O_DSYNC|O_EXCL|O_NOCTTY|O_NONBLOCK|O_SYNC",
        ),
        (os.O_RDONLY | os.O_DSYNC, f"{os.O_DSYNC} O_RDONLY|O_DSYNC"),
        (os.O_RDONLY | os.O_CLOEXEC, f"{os.O_CLOEXEC} O_RDONLY"),
    ],
)
def test_encode_open_flags(flags: int, expected: str) -> None:
    assert encode_open_flags(flags) == expected


@pytest.mark.parametrize("flags", [3, -1])
def test_encode_open_flags_invalid(flags: int) -> None:
    with pytest.raises(OSError) as caught:
        encode_open_flags(flags)
    assert caught.value.errno == errno.EINVAL


# A struct mtget as Linux servers send it: recognisable values in every field.
SHIM_MTGET = bytes.fromhex(
    "7200000000000000" "1100000000000000" "0028004400000000"
    "0000004100000000" "0500000000000000" "0300000007000000"
)  # fmt: skip


def test_decode_mtget() -> None:
    status = decode_mtget(SHIM_MTGET)
    assert status == DriveStatus(
        mt_type=0x72,
        partition=0x11,
        block_size=10240,
        density=0x44,
        gstat=GeneralStatus.BOT | GeneralStatus.ONLINE,
        erreg=5,
        fileno=3,
        blkno=7,
    )
    assert status.dsreg == 0x44002800
    assert pack_mtget(status) == SHIM_MTGET


def test_decode_mtget_round_trip() -> None:
    status = DriveStatus(0x72, 1, 512, 0x8C, GeneralStatus.EOF | GeneralStatus.WR_PROT, 0, 4, -1)
    assert decode_mtget(pack_mtget(status)) == status


def test_decode_mtget_wrong_size() -> None:
    with pytest.raises(OSError, match="28 bytes") as caught:
        decode_mtget(bytes(28))
    assert caught.value.errno == errno.EIO
