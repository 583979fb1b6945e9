"""The stdio transport: rmtd as a drop-in for ``/etc/rmt``, started by rsh or ssh.

Requests arrive on standard input, replies leave on standard output, nothing else is ever
written there. Record data moves without intermediate copies: a ``W`` payload is read with
``readv`` straight into the device's record buffer (the session drives the ``W`` sequence, this
module only supplies the read); an ``R`` whose record lies whole in a file (a tape image, a
plain file, a CD-ROM image) is answered with its status line and then ``sendfile`` from that
file, so the data never passes through Python; any other ``R`` reply goes out with one
``writev`` of the status line and a view of the data.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import stat
from collections.abc import Callable, Sequence

from devices.interface import FileExtent
from rmtd.protocol import (
    CLOSED,
    NEED_DATA,
    CommandParser,
    ProtocolError,
    ReadRequest,
    RejectedRequest,
    Request,
    WriteRequest,
)
from rmtd.session import FileDataAck, Session

log = logging.getLogger(__name__)


def send(fd: int, chunks: Sequence[bytes | bytearray | memoryview]) -> None:
    """Write every byte of ``chunks`` (byte buffers) to ``fd``: one ``writev``, more if short."""
    sent = os.writev(fd, chunks)
    if sent == sum(map(len, chunks)):  # the common case: all of it in one system call
        return
    views = [memoryview(c).cast("B") for c in chunks if len(c)]
    while views:
        while views and sent >= len(views[0]):
            sent -= len(views[0])
            views.pop(0)
        if views:
            views[0] = views[0][sent:]
            sent = os.writev(fd, views)


class ExtentCutShortError(Exception):
    """The data of an ``R`` could not all be sent after its status line went out."""


def send_extent(fd: int, header: bytes, extent: FileExtent) -> None:
    """Write ``header``, then the extent's bytes with ``sendfile`` (looping on short sends).

    Raises:
        ExtentCutShortError: the file ended early or could not be read: the client has been
            promised bytes it will not get, so the connection cannot go on.
        OSError: from writing to ``fd`` (the client went away...).
    """
    send(fd, (header,))
    offset, left = extent.offset, extent.length
    while left:
        try:
            sent = os.sendfile(fd, extent.fd, offset, left)
        except OSError as exc:
            if exc.errno in (errno.EPIPE, errno.ECONNRESET, errno.EAGAIN):
                raise  # the client's side: gone, or stalled past the send timeout
            raise ExtentCutShortError(f"reading the record failed: {exc.strerror}") from exc
        if sent == 0:
            raise ExtentCutShortError(f"the file ended {left} bytes before the record did")
        offset += sent
        left -= sent


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


LINE_FIRST_FROM = 64 << 10
"""``W`` count from which the request line is read on its own (:func:`_next_line_guess`)."""


def _next_line_guess(event: object) -> int:
    """How many bytes to read first after ``event``: a large ``W``'s line, else 0 (as many as come).

    A backup writes records of one size, so after ``W<n>`` the next request is most likely the
    same line again. Reading just that many bytes first leaves the payload in the pipe, to be
    read straight into the record buffer; reading as much as fits would copy the first 64 KiB
    of every record once more. Below ``LINE_FIRST_FROM`` the copy costs less than the second
    read. A wrong guess costs nothing but a short read: the parser takes whatever came.
    """
    if type(event) is WriteRequest and event.count >= LINE_FIRST_FROM:
        return len(b"W%d\n" % event.count)
    return 0


def answer(
    session: Session, parser: CommandParser, event: Request | RejectedRequest, rfd: int, wfd: int
) -> None:
    """Carry out one request and send its reply (``R`` data by ``sendfile`` when it can).

    Raises:
        ExtentCutShortError: an ``R``'s data could not all be sent after its status line.
    """
    if isinstance(event, ReadRequest):
        reply = session.read_zero_copy(event.count)
        if isinstance(reply, FileDataAck):
            send_extent(wfd, reply.header(), reply.extent)
        else:
            send(wfd, reply.chunks())
    elif isinstance(event, WriteRequest):
        written = session.receive_write(event, parser, lambda view: os.readv(rfd, [view]))
        if written is not None:  # None: the parser reports the truncated payload next
            send(wfd, written.chunks())
    else:
        send(wfd, session.handle(event).chunks())


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
    expected = 0  # length of the line a large W's successor would have, 0: no guess
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
                if expected:
                    buffer = buffer[:expected]
                n = wait(buffer) if wait is not None else os.readv(rfd, [buffer])
                parser.buffer_updated(n)
                if n == 0:
                    parser.receive_data(b"")
                continue
            if event is CLOSED:
                return 0
            expected = _next_line_guess(event)
            answer(session, parser, event, rfd, wfd)
    except ExtentCutShortError as exc:
        log.error("R: %s after its reply line was sent; ending the session", exc)
        return 1
    except BrokenPipeError:
        log.info("client went away")
        return 0
    except OSError as exc:
        if exc.errno in (errno.ECONNRESET, errno.EPIPE):
            return 0
        raise
    finally:
        session.close_device()
