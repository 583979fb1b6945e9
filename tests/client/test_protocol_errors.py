"""The client against a scripted server: broken replies end the connection, never hang."""

from __future__ import annotations

import errno
import os
import time

import pytest

from devices.interface import GeneralStatus
from rmtd.client import RemoteTape, RmtConnection

from .conftest import Connect, scripted_command
from .test_names import SHIM_MTGET

pytestmark = pytest.mark.timeout(10)


def assert_dead(connection: RmtConnection) -> None:
    assert not connection.alive
    with pytest.raises(OSError) as caught:
        connection.read(1)
    assert caught.value.errno == errno.EIO
    assert "connection closed" in str(caught.value)


def expect_eio(connection: RmtConnection, match: str) -> None:
    with pytest.raises(OSError, match=match) as caught:
        connection.open("x", os.O_RDONLY)
    assert caught.value.errno == errno.EIO
    assert_dead(connection)


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (b"X12\n", "unexpected reply"),
        (b"\n", "unexpected reply"),
        (b"Afoo\n", "bad number"),
        (b"A12x\n", "bad number"),
        (b"A\n", "bad number"),
        (b"A99999999999999999999\n", "bad number"),
        (b"A-1\n", "negative result"),
        (b"E-5\ntext\n", "negative errno"),
        (b"A" + b"1" * 70 + b"\n", "longer than 63"),
        (b"A" + b" " * 62 + b"7\n", "longer than 63"),  # 65 bytes with the newline
        (b"A0", "end of the connection"),
        (b"", "end of the connection"),
        (b"E5\n" + b"x" * 5000 + b"\n", "error message longer"),
    ],
)
def test_bad_status_line(connect: Connect, reply: bytes, match: str) -> None:
    # The script ends after its reply: the server exits (EOF right after the reply).
    expect_eio(connect(scripted_command(reply)), match)


def test_status_line_of_64_bytes_is_accepted(connect: Connect) -> None:
    connection = connect(scripted_command(b"A" + b" " * 61 + b"7\n"))
    connection.open("x", os.O_RDONLY)
    assert connection.alive


def test_eof_without_reply(connect: Connect) -> None:
    expect_eio(connect("true"), "end of the connection")


def test_read_reply_larger_than_asked(connect: Connect) -> None:
    connection = connect(scripted_command(b"A11\n" + b"z" * 11))
    with pytest.raises(OSError, match="11 bytes for a read of 10") as caught:
        connection.read(10)
    assert caught.value.errno == errno.EIO
    assert_dead(connection)


def test_read_data_cut_short(connect: Connect) -> None:
    connection = connect(scripted_command(b"A10\nabc"))
    with pytest.raises(OSError, match="after 3 of 10") as caught:
        connection.read(10)
    assert caught.value.errno == errno.EIO


def test_write_reply_larger_than_written(connect: Connect) -> None:
    connection = connect(scripted_command(b"A5\n"))
    with pytest.raises(OSError, match="wrote 5 bytes of 3") as caught:
        connection.write(b"abc")
    assert caught.value.errno == errno.EIO


def test_unexpected_bytes_after_a_reply(connect: Connect) -> None:
    connection = connect(scripted_command(b"A0\nA0\n", b"A0\n"))
    connection.open("x", os.O_RDONLY)
    with pytest.raises(OSError, match="unexpected bytes") as caught:
        connection.close()
    assert caught.value.errno == errno.EIO


def test_error_replies(connect: Connect) -> None:
    connection = connect(
        scripted_command(
            b"E2\nNo such file or directory\n",
            b"E0\nGarbage command\n",
            b"E28\n\n",
            b"A0\n",
        )
    )
    with pytest.raises(OSError) as caught:
        connection.open("x", os.O_RDONLY)
    assert caught.value.errno == errno.ENOENT
    assert caught.value.strerror == "No such file or directory"
    with pytest.raises(OSError) as caught:
        connection.open("x", os.O_RDONLY)
    assert (caught.value.errno, caught.value.strerror) == (errno.EIO, "Garbage command")
    with pytest.raises(OSError) as caught:
        connection.open("x", os.O_RDONLY)
    assert (caught.value.errno, caught.value.strerror) == (errno.ENOSPC, os.strerror(errno.ENOSPC))
    connection.open("x", os.O_RDONLY)
    assert connection.alive and connection.device_open


def test_fatal_reply_ends_connection(connect: Connect) -> None:
    connection = connect(scripted_command(b"F28\nNo space left on device\n", b"A0\n"))
    with pytest.raises(OSError) as caught:
        connection.write(b"data")
    assert (caught.value.errno, caught.value.strerror) == (errno.ENOSPC, "No space left on device")
    assert_dead(connection)


def test_status_replies(connect: Connect) -> None:
    connection = connect(
        scripted_command(b"A48\n" + SHIM_MTGET, b"A24\n" + bytes(24), b"A7\n", b"A9999\n")
    )
    status = connection.status()
    assert (status.fileno, status.blkno, status.block_size) == (3, 7, 10240)
    assert status.gstat == GeneralStatus.BOT | GeneralStatus.ONLINE
    with pytest.raises(OSError, match="24 bytes") as caught:
        connection.status()  # a 32-bit or BSD struct: skipped, the connection survives
    assert caught.value.errno == errno.EIO
    assert connection.ioctl(6, 7) == 7
    with pytest.raises(OSError, match="status of 9999 bytes") as caught:
        connection.status()
    assert caught.value.errno == errno.EIO
    assert_dead(connection)


def test_ioctl_may_answer_negative(connect: Connect) -> None:
    connection = connect(scripted_command(b"A-1\n"))
    assert connection.ioctl(8, -1) == -1  # dump's server echoes the count


def test_timeout(connect: Connect) -> None:
    connection = connect(scripted_command(hang=True), timeout=0.3)  # reads requests, never answers
    started = time.monotonic()
    with pytest.raises(OSError) as caught:
        connection.status()
    assert caught.value.errno == errno.ETIMEDOUT
    assert time.monotonic() - started < 5
    assert_dead(connection)


def test_server_that_stops_reading(connect: Connect) -> None:
    # The server dies without reading a 1 MiB write; its last words are the error.
    connection = connect("printf 'E12\\nCannot allocate memory\\n'")
    with pytest.raises(OSError) as caught:
        connection.write(bytes(1 << 20))
    assert caught.value.errno == errno.ENOMEM
    assert_dead(connection)


def test_server_that_never_reads(connect: Connect) -> None:
    connection = connect("exec sleep 30", timeout=0.3)
    with pytest.raises(OSError) as caught:
        connection.write(bytes(1 << 20))
    assert caught.value.errno == errno.ETIMEDOUT
    assert connection.returncode is not None  # the child was stopped


def test_missing_rsh_command() -> None:
    with pytest.raises(FileNotFoundError):
        RmtConnection("localhost", rsh_command="/nonexistent/rsh")


def test_write_sends_header_and_data_in_one_writev(
    connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = connect(scripted_command(b"A4\n"))
    calls: list[list[bytes]] = []
    real_writev = os.writev

    def writev(fd: int, buffers: list[memoryview]) -> int:
        calls.append([bytes(buffer) for buffer in buffers])
        return real_writev(fd, buffers)

    monkeypatch.setattr("rmtd.client.connection.os.writev", writev)
    assert connection.write(b"data") == 4
    assert calls == [[b"W4\n", b"data"]]


def test_interrupted_exchange_ends_connection(
    connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = connect(scripted_command(b"A0\n", hang=True))

    def read(fd: int, size: int) -> bytes:
        raise KeyboardInterrupt

    monkeypatch.setattr("rmtd.client.connection.os.read", read)
    with pytest.raises(KeyboardInterrupt):
        connection.open("x", os.O_RDONLY)
    assert_dead(connection)


def test_connect_needs_a_remote_name() -> None:
    with pytest.raises(ValueError, match="not a remote name"):
        RemoteTape.connect("/local/file")
