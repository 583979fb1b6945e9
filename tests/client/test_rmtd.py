"""The client against rmtd, started through fakersh."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from devices.interface import GeneralStatus, MtOp, TapeDevice
from rmtd.client import RemoteName, RemoteTape

from .conftest import ENV, FAKERSH, TIMEOUT, Connect, rmtd_command

RDWR_CREAT = os.O_RDWR | os.O_CREAT


def connect_tape(root: Path, name: str, flags: int) -> RemoteTape:
    return RemoteTape.connect(
        RemoteName("localhost", name),
        flags,
        rsh_command=FAKERSH,
        rmt_command=rmtd_command(root),
        timeout=TIMEOUT,
        env=ENV,
        stderr=subprocess.DEVNULL,
    )


def test_tape_records_filemark_status_tell(served: Path) -> None:
    tape = connect_tape(served, "t.tap/nostream", RDWR_CREAT)
    device: TapeDevice = tape  # RemoteTape satisfies the device protocol
    with tape:
        start = device.status()
        assert (start.fileno, start.blkno) == (0, 0)
        assert GeneralStatus.BOT in start.gstat
        assert GeneralStatus.ONLINE in start.gstat
        assert start.mt_type == 0x72

        assert device.write(b"a" * 100) == 100
        assert device.write(memoryview(b"b" * 50)) == 50
        assert device.tell() == 2
        assert device.ioctl(MtOp.MTWEOF, 1) == 1
        after = device.status()
        assert (after.fileno, after.blkno) == (1, 0)
        assert GeneralStatus.EOF in after.gstat
        assert GeneralStatus.BOT not in after.gstat
        assert device.tell() == 3

        device.ioctl(MtOp.MTREW, 1)
        assert device.tell() == 0
        assert GeneralStatus.BOT in device.status().gstat
        buffer = bytearray(4096)
        assert device.readinto(memoryview(buffer)) == 100
        assert buffer[:100] == b"a" * 100
        assert tape.read(4096) == b"b" * 50
        assert device.tell() == 2
        assert tape.read(4096) == b""  # the filemark
        status = device.status()
        assert (status.fileno, status.blkno) == (1, 0)
        assert GeneralStatus.EOF in status.gstat

        # lseek on a tape answers as Linux st's noop_llseek does: 0, and the tape stays put.
        assert device.seek(4096, os.SEEK_SET) == 0
        assert device.tell() == 3
    assert tape.closed
    assert not tape.connection.alive
    assert tape.connection.returncode == 0
    assert (served / "t.tap").stat().st_size > 150


def test_read_smaller_than_record_is_enomem(served: Path) -> None:
    with connect_tape(served, "r.tap/nostream", RDWR_CREAT) as tape:
        tape.write(b"x" * 100)
        tape.write(b"y" * 10)
        tape.ioctl(MtOp.MTREW, 1)
        with pytest.raises(OSError) as caught:
            tape.read(10)
        assert caught.value.errno == errno.ENOMEM
        assert tape.connection.alive  # an E reply keeps the connection in sync
        assert tape.read(10) == b"y" * 10  # like st, the failed read skipped the record


def test_errors_before_open(connect: Connect, served: Path) -> None:
    connection = connect(rmtd_command(served))
    for call in (
        lambda: connection.read(10),
        lambda: connection.write(b"data"),
        lambda: connection.ioctl(MtOp.MTREW, 1),
        connection.status,
        lambda: connection.seek(0, os.SEEK_SET),
        connection.close,
    ):
        with pytest.raises(OSError) as caught:
            call()
        assert caught.value.errno == errno.EBADF
        assert caught.value.strerror
    assert connection.alive
    assert connection.shutdown() == 0


def test_missing_file(connect: Connect, served: Path) -> None:
    connection = connect(rmtd_command(served))
    for name in ("missing.tap", "missing.bin"):
        with pytest.raises(OSError) as caught:
            connection.open(name, os.O_RDONLY)
        assert caught.value.errno == errno.ENOENT
        assert not connection.device_open
    with pytest.raises(OSError) as caught:
        connection.open("../escape.bin", os.O_RDONLY)
    assert caught.value.errno == errno.EACCES


def test_remote_tape_open_failure_ends_connection(connect: Connect, served: Path) -> None:
    connection = connect(rmtd_command(served))
    with pytest.raises(OSError) as caught:
        RemoteTape(connection, "missing.tap")
    assert caught.value.errno == errno.ENOENT
    assert not connection.alive
    assert connection.returncode == 0


def test_bad_names_are_refused_locally(connect: Connect, served: Path) -> None:
    connection = connect(rmtd_command(served))
    for name in ("a\nb", "a\0b"):
        with pytest.raises(OSError) as caught:
            connection.open(name, os.O_RDONLY)
        assert caught.value.errno == errno.ENOENT
    with pytest.raises(OSError) as caught:
        connection.ioctl(1 << 31, 1)
    assert caught.value.errno == errno.EINVAL
    assert connection.alive


def test_plain_file_seek_tell_reopen(connect: Connect, served: Path) -> None:
    connection = connect(rmtd_command(served))
    connection.open("plain.bin", RDWR_CREAT)
    assert connection.write(b"hello world") == 11
    assert connection.write(b"") == 0  # nothing sent
    assert connection.seek(0, os.SEEK_SET) == 0
    assert connection.read(5) == b"hello"
    assert connection.seek(0, os.SEEK_CUR) == 5
    assert connection.ioctl(MtOp.MTTELL, 1) == 5  # rmtd answers MTTELL with the position
    assert connection.seek(-3, os.SEEK_END) == 8
    assert connection.read(100) == b"rld"
    assert connection.read(100) == b""
    with pytest.raises(OSError) as caught:
        connection.status()
    assert caught.value.errno == errno.ENOTTY
    connection.close()
    connection.open("plain.bin", os.O_RDONLY)  # rmtd keeps serving after C
    assert connection.read(100) == b"hello world"
    connection.close()
    assert (served / "plain.bin").read_bytes() == b"hello world"


def test_whence_first_order_with_rmtd(connect: Connect, served: Path) -> None:
    (served / "f.bin").write_bytes(b"0123456789")
    connection = connect(rmtd_command(served), lseek_order="whence-first", status_newline=True)
    connection.open("f.bin", os.O_RDONLY)
    # L0\n6\n: only the whence-first reading is valid. (rmtd reads L0\n4\n as offset 0,
    # whence 4 = SEEK_HOLE: whence-first seeks to offsets 1..4 are ambiguous for it.)
    assert connection.seek(6, os.SEEK_SET) == 6
    assert connection.read(2) == b"67"
    with pytest.raises(OSError) as caught:
        connection.status()  # "S\n": rmtd skips the newline
    assert caught.value.errno == errno.ENOTTY
    assert connection.read(100) == b"89"


def test_large_records(served: Path) -> None:
    record = bytes(range(256)) * 4096  # 1 MiB: more than a pipe holds
    with connect_tape(served, "big.tap/nostream", RDWR_CREAT) as tape:
        assert tape.write(record) == len(record)
        tape.ioctl(MtOp.MTREW, 1)
        buffer = bytearray(len(record) + 10)
        assert tape.readinto(memoryview(buffer)) == len(record)
        assert buffer[: len(record)] == record


def test_connect_with_text_name(served: Path) -> None:
    (served / "t.bin").write_bytes(b"abc")
    with RemoteTape.connect(
        "joe@localhost:t.bin",
        rsh_command=FAKERSH,
        rmt_command=rmtd_command(served),
        timeout=TIMEOUT,
        env=ENV,
        stderr=subprocess.DEVNULL,
    ) as tape:
        assert tape.connection.argv[1:4] == ["localhost", "-l", "joe"]
        assert tape.read(10) == b"abc"
        assert tape.tell() == 3
