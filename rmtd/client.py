r"""An RMT client: reach a tape, or any file, on another host through rsh or ssh.

The remote server is started as a child process, the way GNU rtapelib and dump do it
(PROTOCOL.md §9): ``<rsh_command> <host> [-l <user>] <rmt_command>``; requests go to the
child's standard input and replies come from its standard output, unbuffered. The wire
format is the one every server understands (PROTOCOL.md §1): GNU's open-flags form
(``66 O_RDWR|O_CREAT``), ``S`` without a newline, and ``L`` in the offset-first order of
the BSD family, dump and GNU tar <= 1.34 (GNU rmt >= 1.23 wants whence first: pass
``lseek_order="whence-first"`` to talk to it; rmtd understands both).

Replies are read defensively: a status line is at most 64 bytes (GNU rtapelib's limit),
an error text at most `MAX_ERROR_TEXT`, an ``R`` reply never carries more than was asked
for, and an optional timeout bounds every wait. ``E`` and ``F`` replies become
``OSError(errno, text)``; anything the client cannot parse becomes ``OSError(EIO,
"protocol error: ...")`` and ends the connection, because the byte stream cannot be
trusted any more.

`RemoteTape` wraps one connection with an open device and satisfies
`devices.interface.TapeDevice`, so code written for local devices can use a remote one.
"""

from __future__ import annotations

import errno
import os
import re
import select
import shlex
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Final, Literal, NoReturn, TypeAlias

from devices.interface import BytesLike, DriveStatus, GeneralStatus, MtOp
from rmtd.protocol.fields import O_ACCMODE, OPEN_FLAG_NAMES
from rmtd.status import MTGET, MTGET_SIZE

__all__ = [
    "DEFAULT_RMT_COMMAND",
    "MAX_ERROR_TEXT",
    "MAX_STATUS_LINE",
    "ClientLseekOrder",
    "RemoteName",
    "RemoteTape",
    "RmtConnection",
    "decode_mtget",
    "encode_open_flags",
    "parse_remote",
    "rsh_argv",
]

#: The remote command run when none is given (dump's and star's default; Debian links it
#: to ``/usr/sbin/rmt``).
DEFAULT_RMT_COMMAND: Final = "/etc/rmt"

#: Longest status line accepted, ``\n`` included (GNU rtapelib's limit, PROTOCOL.md §3.3).
MAX_STATUS_LINE: Final = 64

#: Longest error text accepted after an ``E``/``F`` status line, ``\n`` included.
MAX_ERROR_TEXT: Final = 4096

#: Largest ``S`` payload of an unsupported size that is skipped to stay in sync; a larger
#: one ends the connection.
MAX_STATUS_SIZE: Final = 4096

#: Order of the two ``L`` lines: offset first (BSD family, dump, GNU tar <= 1.34) or
#: whence first (GNU rmt >= 1.23, GNU tar >= 1.35).
ClientLseekOrder: TypeAlias = Literal["offset-first", "whence-first"]

_CHUNK = 65536
_INT32 = 1 << 31
_INT64 = 1 << 63
_NUMBER = re.compile(rb" *(-?[0-9]{1,19})")
_SHUTDOWN_GRACE = 1.0

# GNU rtapelib's order of the symbolic names after the access mode (PROTOCOL.md §5.1).
# O_RSYNC is an alias of O_SYNC on Linux and O_LARGEFILE is 0 in 64-bit user space, so
# neither can be told apart from the numeric value: they are not sent.
_FLAG_ORDER = ("APPEND", "CREAT", "DSYNC", "EXCL", "NOCTTY", "NONBLOCK", "SYNC", "TRUNC")
_ACCESS_NAMES = {0: "O_RDONLY", 1: "O_WRONLY", 2: "O_RDWR"}


# -- names ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RemoteName:
    """A remote file name, ``[user@]host:path``.

    Attributes:
        host: The host to run the remote server on.
        path: The file or device on that host (may be empty).
        user: The remote user, or None for the rsh/ssh default.
    """

    host: str
    path: str
    user: str | None = None

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        return f"{user}{self.host}:{self.path}"


def parse_remote(text: str) -> RemoteName | None:
    """Split a file name the way GNU rtapelib does (PROTOCOL.md §9.1).

    A name is remote iff it contains a ``:`` that is not its first character and no ``/``
    comes before the first ``:``; so ``./a:b`` and ``/x/a:b`` are local. The part before
    that colon is ``[user@]host``, split at its first ``@`` (an ``@`` after the colon
    belongs to the path, unlike GNU, which splits there too). An empty user means none.

    Args:
        text: A file name as a user typed it.

    Returns:
        The remote name, or None for a local name.

    Raises:
        ValueError: The name is remote but names no host (``user@:path``).
    """
    colon = text.find(":")
    if colon <= 0 or "/" in text[:colon]:
        return None
    prefix, path = text[:colon], text[colon + 1 :]
    user, at, host = prefix.partition("@")
    if not at:
        return RemoteName(prefix, path)
    if not host:
        raise ValueError(f"{text!r}: no host name before the ':'")
    return RemoteName(host, path, user or None)


def rsh_argv(
    host: str,
    *,
    user: str | None = None,
    rsh_command: str = "rsh",
    rmt_command: str = DEFAULT_RMT_COMMAND,
) -> list[str]:
    """Build the argument vector that starts the remote server.

    Args:
        host: The remote host.
        user: The remote user (``-l user``), or None.
        rsh_command: The remote shell program and its options, split like a shell would
            (``"ssh -p 2222"``). The caller resolves ``$RSH`` if it wants to honour it.
        rmt_command: The remote command, passed as one argument; the remote login shell
            splits it, so it may carry options (``"/usr/sbin/rmt --debug=1"``).

    Returns:
        ``rsh_command... host [-l user] rmt_command``.

    Raises:
        ValueError: An empty rsh command or host, or a host or user starting with ``-``
            (it would be taken as an option of rsh/ssh).
    """
    argv = shlex.split(rsh_command)
    if not argv:
        raise ValueError("the rsh command is empty")
    if not host or host.startswith("-"):
        raise ValueError(f"invalid host name {host!r}")
    argv.append(host)
    if user:
        if user.startswith("-"):
            raise ValueError(f"invalid user name {user!r}")
        argv += ["-l", user]
    argv.append(rmt_command)
    return argv


# -- wire encodings ------------------------------------------------------------------------


def encode_open_flags(flags: int) -> str:
    """Encode ``open(2)`` flags as GNU rtapelib sends them: number, space, names.

    The number is the full flag value; the names follow GNU's order (access mode, then
    APPEND CREAT DSYNC EXCL NOCTTY NONBLOCK SYNC TRUNC), so every server decodes them:
    GNU from either part, dump and Schily from the names. Values are Linux's.

    Args:
        flags: Linux open flags, e.g. ``os.O_RDWR | os.O_CREAT``.

    Returns:
        For example ``"66 O_RDWR|O_CREAT"`` or ``"0 O_RDONLY"``.

    Raises:
        OSError: EINVAL for a negative value or an access mode of 3.
    """
    access = _ACCESS_NAMES.get(flags & O_ACCMODE) if flags >= 0 else None
    if access is None:
        raise OSError(errno.EINVAL, f"invalid open flags {flags:#o}")
    names = [access]
    for name in _FLAG_ORDER:
        bits = OPEN_FLAG_NAMES[name]
        if flags & bits == bits:
            names.append(f"O_{name}")
    return f"{flags} {'|'.join(names)}"


def decode_mtget(data: BytesLike) -> DriveStatus:
    """Decode a Linux x86-64 ``struct mtget`` (48 bytes, the ``S`` payload).

    Args:
        data: The raw structure.

    Returns:
        The status, with ``partition`` from ``mt_resid`` and block size and density
        from ``mt_dsreg``, as Linux ``st`` fills them.

    Raises:
        OSError: EIO if `data` is not 48 bytes long.
    """
    raw = bytes(data)
    if len(raw) != MTGET_SIZE:
        raise OSError(
            errno.EIO,
            f"unsupported struct mtget of {len(raw)} bytes (expected {MTGET_SIZE}, Linux x86-64)",
        )
    fields = MTGET.parse(raw)
    dsreg = int(fields.mt_dsreg)
    return DriveStatus(
        mt_type=int(fields.mt_type),
        partition=int(fields.mt_resid),
        block_size=dsreg & 0xFFFFFF,
        density=(dsreg >> 24) & 0xFF,
        gstat=GeneralStatus(int(fields.mt_gstat) & 0xFFFFFFFF),
        erreg=int(fields.mt_erreg),
        fileno=int(fields.mt_fileno),
        blkno=int(fields.mt_blkno),
    )


# -- the connection ---------------------------------------------------------------------


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
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._wfd = self._process.stdin.fileno()
        self._rfd = self._process.stdout.fileno()
        os.set_blocking(self._wfd, False)
        os.set_blocking(self._rfd, False)

    # -- state ----------------------------------------------------------------------------

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

    # -- commands -------------------------------------------------------------------------

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
            OSError: The server's error (ESPIPE for a tape); EINVAL when `offset` does
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


# -- a remote device ----------------------------------------------------------------------


class RemoteTape:
    """An open remote device, usable wherever a `devices.interface.TapeDevice` is.

    Owns its connection: `close` closes the device and ends the connection. If the open
    fails, the connection is shut down before the error propagates.

    Args:
        connection: A fresh connection (nothing open on it).
        name: The remote path or device spec.
        flags: Linux open flags.

    Raises:
        OSError: The open failed.
    """

    def __init__(self, connection: RmtConnection, name: str, flags: int = os.O_RDONLY) -> None:
        self._connection = connection
        #: The remote name that was opened.
        self.name = name
        self._closed = False
        try:
            connection.open(name, flags)
        except BaseException:
            connection.shutdown()
            raise

    @classmethod
    def connect(
        cls,
        remote: RemoteName | str,
        flags: int = os.O_RDONLY,
        *,
        rsh_command: str = "rsh",
        rmt_command: str = DEFAULT_RMT_COMMAND,
        lseek_order: ClientLseekOrder = "offset-first",
        status_newline: bool = False,
        timeout: float | None = None,
        stderr: int | IO[bytes] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> RemoteTape:
        """Start a server for `remote` and open its path.

        Args:
            remote: A `RemoteName`, or text for `parse_remote`.
            flags: Linux open flags.
            rsh_command: See `RmtConnection`.
            rmt_command: See `RmtConnection`.
            lseek_order: See `RmtConnection`.
            status_newline: See `RmtConnection`.
            timeout: See `RmtConnection`.
            stderr: See `RmtConnection`.
            env: See `RmtConnection`.

        Returns:
            The open device.

        Raises:
            ValueError: `remote` is text that does not name a remote file.
            OSError: The server could not be started or the open failed.
        """
        name = parse_remote(remote) if isinstance(remote, str) else remote
        if name is None:
            raise ValueError(f"{remote!r} is not a remote name ([user@]host:path)")
        connection = RmtConnection(
            name.host,
            user=name.user,
            rsh_command=rsh_command,
            rmt_command=rmt_command,
            lseek_order=lseek_order,
            status_newline=status_newline,
            timeout=timeout,
            stderr=stderr,
            env=env,
        )
        return cls(connection, name.path, flags)

    @property
    def connection(self) -> RmtConnection:
        """The connection this device uses."""
        return self._connection

    @property
    def closed(self) -> bool:
        """True once `close` has been called."""
        return self._closed

    def read(self, count: int) -> bytes:
        """Read one record of at most `count` bytes (see `RmtConnection.read`)."""
        return self._connection.read(count)

    def readinto(self, buffer: memoryview) -> int:
        """Read one record into `buffer`; 0 at a filemark (see `RmtConnection.readinto`)."""
        return self._connection.readinto(buffer)

    def write(self, data: BytesLike) -> int:
        """Write one record; returns the count written (see `RmtConnection.write`)."""
        return self._connection.write(data)

    def ioctl(self, op: int, count: int) -> int:
        """Perform an MTIOCTOP operation, Linux numbering (see `RmtConnection.ioctl`)."""
        return self._connection.ioctl(op, count)

    def status(self) -> DriveStatus:
        """Return the drive status (see `RmtConnection.status`)."""
        return self._connection.status()

    def tell(self) -> int:
        """Return the block position (MTIOCPOS) with ``I23`` (MTTELL).

        The protocol has no MTIOCPOS request. rmtd answers MTTELL with the device's
        position (the logical block on a tape, the offset in a file). Other servers pass
        op 23 to their kernel and answer what it says, usually an error (ENOTTY for a
        file); a server that only echoes the count would make this return 1.

        Returns:
            The position.

        Raises:
            OSError: The server's error, or EIO for a negative position.
        """
        position = self._connection.ioctl(MtOp.MTTELL, 1)
        if position < 0:
            raise OSError(errno.EIO, f"the server reported position {position}")
        return position

    def seek(self, offset: int, whence: int) -> int:
        """Reposition like ``lseek(2)``; tapes refuse with ESPIPE (see `RmtConnection.seek`)."""
        return self._connection.seek(offset, whence)

    def close(self) -> None:
        """Close the device (``C``) and end the connection; a second call does nothing.

        Raises:
            OSError: The server's error for the close (the connection ends anyway).
        """
        if self._closed:
            return
        self._closed = True
        try:
            if self._connection.alive:
                self._connection.close()
        finally:
            self._connection.shutdown()

    def __enter__(self) -> RemoteTape:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
