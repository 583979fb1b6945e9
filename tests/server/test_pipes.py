"""The stdio transport widens the pipes it is given, and finishes short writes."""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Sequence

import pytest

from rmtd.transports.stdio import PIPE_CAPACITY, send, widen_pipes


def test_pipes_are_widened_and_other_files_left_alone() -> None:
    r, w = os.pipe()
    a, b = socket.socketpair()
    try:
        assert fcntl.fcntl(r, fcntl.F_GETPIPE_SZ) < PIPE_CAPACITY
        widen_pipes(r, a.fileno(), 999_999)  # a socket and a closed fd: no error
        assert fcntl.fcntl(r, fcntl.F_GETPIPE_SZ) >= PIPE_CAPACITY
        assert fcntl.fcntl(w, fcntl.F_GETPIPE_SZ) >= PIPE_CAPACITY  # one pipe, both ends
    finally:
        for fd in (r, w):
            os.close(fd)
        a.close()
        b.close()


def test_send_finishes_a_short_writev(monkeypatch: pytest.MonkeyPatch) -> None:
    """A writev cut short (a signal, a full socket buffer) is carried on where it stopped."""
    real_writev = os.writev
    calls: list[int] = []

    def stingy(fd: int, buffers: Sequence[bytes | bytearray | memoryview]) -> int:
        calls.append(sum(len(b) for b in buffers))
        # at most 7 bytes per call, from the first buffer only
        return real_writev(fd, [memoryview(buffers[0])[:7]])

    r, w = os.pipe()
    try:
        monkeypatch.setattr(os, "writev", stingy)
        send(w, (b"A20\n", bytearray(b"0123456789"), memoryview(b"abcdefghij")))
        os.close(w)
        data = b""
        while chunk := os.read(r, 100):
            data += chunk
    finally:
        os.close(r)
    assert data == b"A20\n0123456789abcdefghij"
    assert calls == [24, 20, 13, 10, 3]  # each call carries on where the last one stopped
