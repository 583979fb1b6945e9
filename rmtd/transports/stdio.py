"""The stdio transport: rmtd as a drop-in for ``/etc/rmt``, started by rsh or ssh.

Requests arrive on standard input, replies leave on standard output, nothing else is ever
written there. Record data moves without intermediate copies: a ``W`` payload is read with
``readv`` straight into the device's record buffer (the session drives the ``W`` sequence, this
module only supplies the read), and an ``R`` reply goes out with one ``writev`` of the status
line and a view of the data.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import stat
from collections.abc import Callable, Sequence

from rmtd.protocol import (
    CLOSED,
    NEED_DATA,
    CommandParser,
    ProtocolError,
    WriteRequest,
)
from rmtd.session import Session

log = logging.getLogger(__name__)


def send(fd: int, chunks: Sequence[bytes | bytearray | memoryview]) -> None:
    """Write every byte of ``chunks`` to ``fd`` (one ``writev``, more on a partial write)."""
    views = [memoryview(c).cast("B") for c in chunks if len(c)]
    while views:
        sent = os.writev(fd, views)
        while views and sent >= len(views[0]):
            sent -= len(views[0])
            views.pop(0)
        if views and sent:
            views[0] = views[0][sent:]


PIPE_CAPACITY = 1 << 20
"""Pipe buffer asked for on standard input and output (``F_SETPIPE_SZ``).

A W or R message larger than the default 64 KiB pipe costs two extra wake-ups per record
(writer and reader take turns filling and draining it); 1 MiB, the default ``pipe-max-size``,
holds a whole 256 KiB record with its header. Sockets and terminals are left alone.
"""


def widen_pipes(*fds: int) -> None:
    """Ask for :data:`PIPE_CAPACITY` on each of ``fds`` that is a pipe; best effort."""
    for fd in fds:
        try:
            if not stat.S_ISFIFO(os.fstat(fd).st_mode):
                continue
            if fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ) < PIPE_CAPACITY:
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_CAPACITY)
        except OSError as exc:  # EPERM over pipe-max-size for a user, EBADF: keep the default
            log.debug("pipe capacity of fd %d left as it is: %s", fd, exc.strerror)


def serve(
    session: Session,
    parser: CommandParser,
    rfd: int = 0,
    wfd: int = 1,
    wait: Callable[[memoryview], int] | None = None,
) -> int:
    """Serve one connection on ``rfd``/``wfd`` until the client hangs up.

    Args:
        session: the connection's session.
        parser: the connection's request parser.
        rfd: where requests come from.
        wfd: where replies go.
        wait: reads the bytes of the next request into a view (default ``readv`` on ``rfd``):
            called only between requests, so a transport may time out there or stop (by
            raising) without cutting a request short; the device is closed either way.

    Returns:
        The exit status: 0 when the client closed the connection, 1 after a framing error.
    """
    widen_pipes(rfd, wfd)
    try:
        while True:
            try:
                event = parser.next_event()
            except ProtocolError as exc:
                log.warning("protocol error: %s", exc)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    send(wfd, exc.reply().chunks())  # the client may be gone already
                return 1
            if event is NEED_DATA:
                buffer = parser.get_buffer()
                n = wait(buffer) if wait is not None else os.readv(rfd, [buffer])
                parser.buffer_updated(n)
                if n == 0:
                    parser.receive_data(b"")
                continue
            if event is CLOSED:
                return 0
            if isinstance(event, WriteRequest):
                reply = session.receive_write(event, parser, lambda view: os.readv(rfd, [view]))
                if reply is None:
                    continue  # the parser reports the truncated payload next
            else:
                reply = session.handle(event)
            send(wfd, reply.chunks())
    except BrokenPipeError:
        log.info("client went away")
        return 0
    except OSError as exc:
        if exc.errno in (errno.ECONNRESET, errno.EPIPE):
            return 0
        raise
    finally:
        session.close_device()
