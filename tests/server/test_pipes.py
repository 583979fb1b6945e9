"""The stdio transport widens the pipes it is given (fewer wake-ups per large record)."""

from __future__ import annotations

import fcntl
import os
import socket

from rmtd.transports.stdio import PIPE_CAPACITY, widen_pipes


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
