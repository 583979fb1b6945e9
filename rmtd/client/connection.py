"""`RmtConnection`: one RMT server started through rsh or ssh, and its requests."""

from __future__ import annotations

import errno
import os
import re
import select
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import IO, NoReturn

from devices.interface import BytesLike, DriveStatus
from rmtd.client.names import (
    DEFAULT_RMT_COMMAND,
    MAX_ERROR_TEXT,
    MAX_STATUS_LINE,
    MAX_STATUS_SIZE,
    ClientLseekOrder,
    decode_mtget,
    encode_open_flags,
    rsh_argv,
)
from rmtd.status import MTGET_SIZE

_CHUNK = 65536  # bytes asked of the pipe per read of replies
_INT32 = 1 << 31
_INT64 = 1 << 63
_NUMBER = re.compile(rb" *(-?[0-9]{1,19})")
_SHUTDOWN_GRACE = 1.0  # seconds a server gets to exit before it is killed


class RmtConnection:
    r"""One remote server process and the request/reply exchange with it.

    The server is started by the constructor. Each method sends one request and waits
    for its reply; ``E``/``F`` replies raise ``OSError`` with the server's errno (an ``F``
    also ends the connection). A reply that breaks the protocol, the end of the server's
    output or a timeout ends the connection: that call and every later one raise
    ``OSError`` (EIO, or ETIMEDOUT for the timeout).

    Args:
        host: The remote host, given to the rsh command.
        user: The remote user (``-l user``), or None.
        rsh_command: The remote shell program and its options (split with `shlex`), e.g.
            ``"ssh"``, ``"ssh -p 2222"`` or a path. Resolving ``$RSH`` is up to the caller.
        rmt_command: The command the remote shell runs, as one argument.
        lseek_order: The order of ``L``'s lines: ``"offset-first"`` for rmtd, dump's and
            the BSD servers, GNU rmt <= 1.22; ``"whence-first"`` for GNU rmt >= 1.23.
        status_newline: Send ``S\n`` instead of ``S``. GNU rmt needs the newline (it
            blocks without it); dump's and the BSD servers exit on it. rmtd takes both.
        timeout: Most seconds to wait for the server to accept request bytes or to send
            reply bytes, per wait; None waits forever.
        stderr: Where the child's standard error goes (`subprocess` conventions); None
            inherits this process's.
        env: The child's environment; None inherits this process's.

    Raises:
        OSError: The rsh command could not be started (e.g. ENOENT).
        ValueError: See `rsh_argv`.
    """

    def __init__(
        self,
        host: str,
        *,
        user: str | None = None,
        rsh_command: str = "rsh",
        rmt_command: str = DEFAULT_RMT_COMMAND,
        lseek_order: ClientLseekOrder = "offset-first",
        status_newline: bool = False,
        timeout: float | None = None,
        stderr: int | IO[bytes] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if lseek_order not in ("offset-first", "whence-first"):
            raise ValueError(f"invalid lseek order {lseek_order!r}")
        #: The argument vector the server was started with.
        self.argv: list[str] = rsh_argv(
            host, user=user, rsh_command=rsh_command, rmt_command=rmt_command
        )
        self._lseek_order = lseek_order
        self._status_request = b"S\n" if status_newline else b"S"
        self._timeout = timeout
        self._buffer = bytearray()
        self._dead: str | None = None
        self._device_open = False
        self._process = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            bufsize=0,
            env=env,
        )
        assert self._process.stdin is not None and self._process.stdout is not None  # PIPEs
        self._wfd = self._process.stdin.fileno()
        self._rfd = self._process.stdout.fileno()
        os.set_blocking(self._wfd, False)
        os.set_blocking(self._rfd, False)

    @property
    def pid(self) -> int:
        """The process id of the rsh command (or of the server, when run directly)."""
        return self._process.pid

    @property
    def alive(self) -> bool:
        """True until the connection is shut down or broken."""
        return self._dead is None

    @property
    def device_open(self) -> bool:
        """True between a successful `open` and the next `close` or failed `open`."""
        return self._device_open

    @property
    def returncode(self) -> int | None:
        """The child's exit status once it has been reaped (see `shutdown`), else None."""
        return self._process.returncode

    def open(self, name: str, flags: int) -> None:
        r"""Open `name` on the server (``O<name>\n<flags>\n``).

        The server closes the device that was open, even when this open fails.

        Args:
            name: The remote path (or device spec); encoded with `os.fsencode`.
            flags: Linux open flags, sent with `encode_open_flags`.

        Raises:
            OSError: The server's error; ENOENT for a name containing a newline or a NUL
                byte (nothing is sent), EINVAL for invalid flags.
        """
        raw = os.fsencode(name)
        if b"\n" in raw or b"\0" in raw:
            raise OSError(errno.ENOENT, f"{name!r}: a remote name cannot contain a newline or NUL")
        line = encode_open_flags(flags).encode("ascii")
        self._device_open = False
        self._non_negative(self._call([b"O%s\n%s\n" % (raw, line)]), "open")
        self._device_open = True

    def close(self) -> None:
        r"""Close the open device (``C\n``). GNU rmt then exits; other servers go on.

        Raises:
            OSError: The server's error (EBADF when nothing is open).
        """
        self._device_open = False
        self._non_negative(self._call([b"C\n"]), "close")

    def read(self, count: int) -> bytes:
        """Read one record of at most `count` bytes (``R``); see `readinto`.

        Args:
            count: The most bytes accepted.

        Returns:
            The data; empty at a filemark or at the end of a file.
        """
        buffer = bytearray(count)
        got = self.readinto(buffer)
        del buffer[got:]
        return bytes(buffer)

    def readinto(self, buffer: memoryview | bytearray) -> int:
        r"""Read one record into `buffer` (``R<len(buffer)>\n``), like ``read(2)``.

        The data go straight from the pipe into `buffer`. A reply announcing more bytes
        than asked for is a protocol error.

        Args:
            buffer: A writable, C-contiguous buffer; its size in bytes is the count.

        Returns:
            The number of bytes received (0 at a filemark or at the end of a file).

        Raises:
            OSError: The server's error (e.g. ENOMEM: the record is larger than the
                buffer, on a tape), or EIO for a protocol error.
        """
        with memoryview(buffer) as outer, outer.cast("B") as view:
            if view.readonly:
                raise TypeError("readinto needs a writable buffer")
            count = view.nbytes
            got = self._non_negative(self._call([b"R%d\n" % count]), "read")
            if got > count:
                self._fail(f"the server sent {got} bytes for a read of {count}")
            self._receive_into(view[:got])
            return got

    def write(self, data: BytesLike) -> int:
        """Write one record (``W``): the header and the data go out in one ``writev``.

        An empty write sends nothing and returns 0 (dump's server would exit on ``W0``).

        Args:
            data: The record.

        Returns:
            The number of bytes the server wrote.

        Raises:
            OSError: The server's error, or EIO for a protocol error.
        """
        with memoryview(data) as outer, outer.cast("B") as view:
            count = view.nbytes
            if not count:
                self._check_alive()
                return 0
            done = self._non_negative(self._call([b"W%d\n" % count, view]), "write")
            if done > count:
                self._fail(f"the server wrote {done} bytes of {count}")
            return done

    def ioctl(self, op: int, count: int) -> int:
        r"""Perform a tape operation (``I<op>\n<count>\n``, MTIOCTOP).

        Protocol version 0: `op` goes to the server as is, so it must be in the server's
        numbering; Linux's (`devices.interface.MtOp`) for Linux servers.

        Args:
            op: The operation code.
            count: Its count.

        Returns:
            The server's value: the count (rmtd, dump, Schily) or 0 (GNU); rmtd answers
            MTTELL (23) with the position.

        Raises:
            OSError: The server's error (ENOTTY for a file that is not a tape); EINVAL
                when `op` or `count` does not fit in 32 bits (nothing is sent).
        """
        if not (-_INT32 <= op < _INT32 and -_INT32 <= count < _INT32):
            raise OSError(errno.EINVAL, f"ioctl op {op} or count {count} out of range")
        return self._call([b"I%d\n%d\n" % (op, count)])

    def adapt_status_request(self) -> bool:
        r"""Send ``S\n`` from now on if the server is GNU's rmt, which reads whole lines.

        The others run ``S`` at once and take a ``\n`` after it for a command (BSD and
        Schily rmt.c). Every server but GNU's answers the probe ``I-1``, which also switches it to
        protocol version 1 (``I`` ops renumbered): call this before `status`, not `ioctl`.

        Returns:
            True when the server is GNU's.
        """
        try:
            self._call([b"I-1\n0\n"])
        except OSError:
            if not self.alive:
                raise
            self._status_request = b"S\n"
            return True
        self._status_request = b"S"
        return False

    def status(self) -> DriveStatus:
        """Ask for the drive status (``S``, MTIOCGET) and decode it.

        Only the 48-byte Linux x86-64 ``struct mtget`` is understood. A reply of another
        size (32-bit Linux, BSD) raises EIO naming the size; the payload is skipped, so the
        connection stays usable if it is at most `MAX_STATUS_SIZE` bytes long.

        Returns:
            The decoded status.

        Raises:
            OSError: The server's error (ENOTTY for a file that is not a tape), or EIO.
        """
        size = self._non_negative(self._call([self._status_request]), "status")
        if size != MTGET_SIZE:
            if size > MAX_STATUS_SIZE:
                self._fail(f"status of {size} bytes")
            self._receive_into(memoryview(bytearray(size)))
            raise OSError(
                errno.EIO,
                f"unsupported struct mtget of {size} bytes (expected {MTGET_SIZE}, Linux x86-64)",
            )
        data = bytearray(MTGET_SIZE)
        self._receive_into(memoryview(data))
        return decode_mtget(data)

    def seek(self, offset: int, whence: int) -> int:
        """Reposition like ``lseek(2)`` (``L``), lines in the connection's order.

        Args:
            offset: The byte offset (signed 64-bit).
            whence: ``os.SEEK_SET``, ``SEEK_CUR`` or ``SEEK_END`` (passed as a number).

        Returns:
            The resulting offset.

        Raises:
            OSError: The server's error (a tape answers 0 and stays put); EINVAL when `offset` does
                not fit in 64 bits (nothing is sent).
        """
        if not -_INT64 <= offset < _INT64:
            raise OSError(errno.EINVAL, f"seek offset {offset} out of range")
        pair = (offset, whence) if self._lseek_order == "offset-first" else (whence, offset)
        return self._non_negative(self._call([b"L%d\n%d\n" % pair]), "seek")

    def shutdown(self, timeout: float = 5.0) -> int | None:
        """End the connection: close both pipes and reap the child.

        Nothing is sent; servers close an open device when their input ends. A child
        that has not exited after `timeout` seconds is killed. Calling it again does
        nothing more.

        Args:
            timeout: Seconds to wait for the child to exit.

        Returns:
            The child's exit status (negative: killed by that signal).
        """
        if self._dead is None:
            self._dead = "the connection was shut down"
        self._device_open = False
        self._buffer.clear()
        for pipe in (self._process.stdin, self._process.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        return self._process.returncode

    def __enter__(self) -> RmtConnection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

    # -- request and reply ----------------------------------------------------------------

    def _call(self, chunks: Sequence[BytesLike]) -> int:
        """Send one request and return the value of its ``A`` reply."""
        self._check_alive()
        if self._buffer:
            self._fail(f"{len(self._buffer)} unexpected bytes from the server")
        with self._exchange():
            try:
                self._send(chunks)
            except BrokenPipeError:
                # The server is gone; its last words may say why (GNU: "E12", then exit).
                try:
                    self._reply()
                finally:
                    self._abort("the server closed the connection")
                self._fail("the server closed the connection")
            return self._reply()

    @contextmanager
    def _exchange(self) -> Iterator[None]:
        """End the connection if anything but an ``OSError`` interrupts an exchange.

        ``OSError`` is either a server's ``E`` reply (the stream is in sync) or comes from
        `_fail`/`_abort` (the connection is already dead). Anything else, such as
        ``KeyboardInterrupt``, leaves the stream at an unknown point.
        """
        try:
            yield
        except OSError:
            raise
        except BaseException:
            self._abort("interrupted in the middle of a request")
            raise

    def _reply(self) -> int:
        """Read a status line: the value of ``A``; raise for ``E``/``F``/anything else."""
        line = self._read_line(MAX_STATUS_LINE, "status line")
        kind = line[:1]
        if kind == b"A":
            return self._number(line)
        if kind in (b"E", b"F"):
            code = self._number(line)
            if code < 0:
                self._fail(f"negative errno in {line!r}")
            raw = self._read_line(MAX_ERROR_TEXT, "error message")
            text = raw.decode("utf-8", "replace").strip() or os.strerror(code or errno.EIO)
            if kind == b"F":
                self._abort(f"fatal error from the server: {text}")
            # Schily's server reports some failures as E0; an errno of 0 means nothing.
            raise OSError(code or errno.EIO, text)
        self._fail(f"unexpected reply {line[:MAX_STATUS_LINE]!r}")

    def _number(self, line: bytes) -> int:
        match = _NUMBER.fullmatch(line, 1)
        if match is None:
            self._fail(f"bad number in reply {line!r}")
        value = int(match.group(1))
        if not -_INT64 <= value < _INT64:
            self._fail(f"number out of range in reply {line!r}")
        return value

    def _non_negative(self, value: int, what: str) -> int:
        if value < 0:
            self._fail(f"negative result {value} for {what}")
        return value

    def _read_line(self, limit: int, what: str) -> bytes:
        r"""Take one line (without its ``\n``) of at most `limit` bytes with the newline."""
        scanned = 0
        while True:
            end = self._buffer.find(b"\n", scanned, limit)
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                return line
            scanned = len(self._buffer)
            if scanned >= limit:
                self._fail(f"{what} longer than {limit - 1} bytes")
            self._fill()

    def _fill(self) -> None:
        """Append what the server has sent (at least one byte) to the buffer."""
        while True:
            self._wait(self._rfd, select.POLLIN, "send a reply")
            try:
                data = os.read(self._rfd, _CHUNK)
            except BlockingIOError:
                continue
            except OSError as exc:
                self._fail(f"cannot read from the server: {exc.strerror}")
            if not data:
                self._fail("unexpected end of the connection")
            self._buffer += data
            return

    def _receive_into(self, view: memoryview) -> None:
        """Fill `view` completely: buffered bytes first, then straight from the pipe."""
        have = min(len(self._buffer), view.nbytes)
        view[:have] = self._buffer[:have]
        del self._buffer[:have]
        with self._exchange():
            while have < view.nbytes:
                self._wait(self._rfd, select.POLLIN, "send data")
                try:
                    got = os.readv(self._rfd, [view[have:]])
                except BlockingIOError:
                    continue
                except OSError as exc:
                    self._fail(f"cannot read from the server: {exc.strerror}")
                if not got:
                    self._fail(f"end of the connection after {have} of {view.nbytes} data bytes")
                have += got

    def _send(self, chunks: Sequence[BytesLike]) -> None:
        """Write every byte of `chunks` (one ``writev``, more after a partial write)."""
        views = [memoryview(chunk).cast("B") for chunk in chunks]
        views = [view for view in views if view.nbytes]
        while views:
            try:
                sent = os.writev(self._wfd, views)
            except BlockingIOError:
                self._wait(self._wfd, select.POLLOUT, "accept the request")
                continue
            except BrokenPipeError:
                raise
            except OSError as exc:
                self._fail(f"cannot write to the server: {exc.strerror}")
            while views and sent >= views[0].nbytes:
                sent -= views[0].nbytes
                views.pop(0)
            if views and sent:
                views[0] = views[0][sent:]

    def _wait(self, fd: int, events: int, what: str) -> None:
        """Wait until `fd` is ready for `events`, at most the connection's timeout."""
        poller = select.poll()
        poller.register(fd, events)
        timeout_ms = None if self._timeout is None else max(0, int(self._timeout * 1000))
        if poller.poll(timeout_ms):
            return  # ready, or an error/hangup that the next read or write reports
        self._abort(f"timed out waiting for the server to {what}")
        raise OSError(errno.ETIMEDOUT, f"the server did not {what} within {self._timeout} seconds")

    def _check_alive(self) -> None:
        if self._dead is not None:
            raise OSError(errno.EIO, f"connection closed: {self._dead}")

    def _fail(self, reason: str) -> NoReturn:
        """End the connection after a protocol violation and raise EIO."""
        self._abort(f"protocol error: {reason}")
        raise OSError(errno.EIO, f"protocol error: {reason}")

    def _abort(self, reason: str) -> None:
        """Mark the connection dead and stop the child (the stream cannot be trusted)."""
        if self._dead is None:
            self._dead = reason
        self.shutdown(_SHUTDOWN_GRACE)
