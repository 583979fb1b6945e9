"""The client against Debian's C servers: GNU rmt (rmt-tar) and dump's BSD rmt (rmt-dump)."""

from __future__ import annotations

import errno
import os
import shlex
from pathlib import Path

import pytest

from devices.interface import MtOp
from rmtd.client import RemoteTape, RmtConnection

from .conftest import Connect, rmtd_command

RMT_TAR = "/usr/sbin/rmt-tar"
RMT_DUMP = "/usr/sbin/rmt-dump"


def in_dir(server: str, directory: Path) -> str:
    """Run `server` in `directory`: dump's server takes names of at most 62 bytes."""
    return f"cd {shlex.quote(str(directory))} && exec {server}"


def round_trip(connection: RmtConnection, path: Path) -> None:
    connection.open(path.name, os.O_RDWR | os.O_CREAT)
    assert connection.write(b"hello world") == 11
    assert connection.seek(0, os.SEEK_SET) == 0
    assert connection.read(5) == b"hello"
    assert connection.seek(0, os.SEEK_CUR) == 5
    assert connection.seek(-3, os.SEEK_END) == 8
    assert connection.read(100) == b"rld"
    assert connection.read(100) == b""
    assert connection.seek(6, os.SEEK_SET) == 6
    assert connection.write(b"WORLD") == 5
    for call in (connection.status, lambda: connection.ioctl(MtOp.MTREW, 1)):
        with pytest.raises(OSError) as caught:
            call()
        assert caught.value.errno == errno.ENOTTY  # a plain file is no tape
    assert path.read_bytes() == b"hello WORLD"


def test_gnu_rmt(connect: Connect, tmp_path: Path) -> None:
    # GNU rmt >= 1.23 reads L whence first and needs a newline after S.
    connection = connect(in_dir(RMT_TAR, tmp_path), lseek_order="whence-first", status_newline=True)
    round_trip(connection, tmp_path / "gnu.bin")
    connection.close()
    # GNU rmt exits after C: the next request finds the connection gone.
    with pytest.raises(OSError) as caught:
        connection.open("gnu.bin", os.O_RDONLY)
    assert caught.value.errno == errno.EIO
    assert not connection.alive


def test_gnu_rmt_errors(connect: Connect, tmp_path: Path) -> None:
    connection = connect(in_dir(RMT_TAR, tmp_path), lseek_order="whence-first", status_newline=True)
    with pytest.raises(OSError) as caught:
        connection.open("missing", os.O_RDONLY)
    assert caught.value.errno == errno.ENOENT
    assert connection.alive


def test_dump_rmt(connect: Connect, tmp_path: Path) -> None:
    connection = connect(in_dir(RMT_DUMP, tmp_path))
    round_trip(connection, tmp_path / "dump.bin")
    connection.close()
    # dump's server keeps serving after C.
    connection.open("dump.bin", os.O_RDONLY)
    assert connection.read(100) == b"hello WORLD"
    with pytest.raises(OSError) as caught:
        connection.open("missing", os.O_RDONLY)
    assert caught.value.errno == errno.ENOENT
    with pytest.raises(OSError) as caught:
        connection.read(10)
    assert caught.value.errno == errno.EBADF
    assert connection.shutdown() == 0


def test_remote_tape_tell_on_dump_rmt(connect: Connect, tmp_path: Path) -> None:
    (tmp_path / "f.bin").write_bytes(b"x")
    with RemoteTape(connect(in_dir(RMT_DUMP, tmp_path)), "f.bin") as tape:
        with pytest.raises(OSError) as caught:
            tape.tell()  # dump's server passes MTTELL to its kernel: not a tape
        assert caught.value.errno == errno.ENOTTY
        assert tape.read(10) == b"x"
    assert tape.connection.returncode == 0


@pytest.mark.parametrize(("server", "gnu"), [(RMT_TAR, True), (RMT_DUMP, False)])
def test_status_request_adapts_to_the_server(
    connect: Connect, tmp_path: Path, server: str, gnu: bool
) -> None:
    (tmp_path / "f").write_bytes(b"data")
    connection = connect(in_dir(server, tmp_path))
    connection.open("f", os.O_RDONLY)
    assert connection.adapt_status_request() is gnu
    with pytest.raises(OSError) as caught:  # a plain file: ENOTTY, and no hang on GNU's
        connection.status()
    assert caught.value.errno == errno.ENOTTY


def test_status_request_on_rmtd_stays_bare(connect: Connect, served: Path) -> None:
    connection = connect(rmtd_command(served))
    connection.open("v.tap", os.O_RDWR | os.O_CREAT)
    assert connection.adapt_status_request() is False
    assert connection.status().fileno == 0
