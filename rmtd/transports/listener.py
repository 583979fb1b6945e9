"""The rsh listener: accepts connections, reads handshakes, forks one process per session.

One thread, one ``selectors`` loop: every connection's handshake is read without blocking, each
with its own deadline, so a slow or silent client holds nothing but its socket. A well-formed
handshake for the rmt service forks a session (:mod:`rmtd.transports.rsh`); the listener itself
never opens a device. Connections beyond ``max_sessions`` (live sessions plus handshakes in
progress) are refused with a message at once and keep no state, so a flood costs no memory.

Before a connection counts against that cap, :meth:`rmtd.access.AccessPolicy.screen` looks at
its address and source port (the reject list's addresses, rsh's privileged-port rule), so a
rejected host can neither fill the cap nor make the listener connect anywhere; and a stderr
port is checked (:meth:`~rmtd.access.AccessPolicy.check_stderr_port`) before the listener,
as root and from a privileged port, connects back to it. Every refusal is one ``refuse`` event
in the audit log, with the peer, its port and the reason.

SIGTERM (or SIGINT): stop accepting, refuse the handshakes in progress, pass SIGTERM on to every
session (each finishes its request in flight and closes its device), wait for them, return 0.
Signals reach the loop through ``signal.set_wakeup_fd``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import selectors
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

from rmtd.access import AccessDenied, AccessPolicy
from rmtd.audit import AuditLog
from rmtd.hosts import plain_address
from rmtd.protocol.rcmd import Handshake, HandshakeError, HandshakeParser, refusal

log = logging.getLogger(__name__)

StartSession = Callable[[socket.socket, Handshake, bytes, socket.socket | None], int]
"""Runs in the forked child: serves the connection (with the handshake, the bytes after it and
the stderr channel) and returns the exit status."""

ACCEPTS_PER_WAKE = 64
"""Connections accepted per turn of the loop, so handshakes in progress are not starved."""


class ListenError(Exception):
    """The listening socket cannot be set up; ``str()`` says why in one line."""


@dataclass(frozen=True, slots=True)
class ListenerSettings:
    """Limits of one listener.

    Attributes:
        max_sessions: the most sessions and handshakes in progress at once.
        handshake_timeout: seconds a client has to send its whole handshake.
    """

    max_sessions: int = 256
    handshake_timeout: float = 30.0


@dataclass(slots=True)
class _Pending:
    sock: socket.socket
    address: str
    port: int
    deadline: float
    parser: HandshakeParser = field(default_factory=HandshakeParser)
    back: socket.socket | None = None
    back_ready: bool = False
    rejected: str | None = None
    """A rejected address, told why once its rcmd is ready to read it (see ``_accept``)."""

    @property
    def peer(self) -> str:
        return f"{self.address}:{self.port}"


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port``.

    Raises:
        ListenError: the address cannot be bound (the message says why; for a privileged
            port refused, that it needs root or CAP_NET_BIND_SERVICE).
    """
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {host}: {exc.strerror}") from None
    family, kind, proto, _, address = info[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(socket.SOMAXCONN)
    except OSError as exc:
        sock.close()
        why = exc.strerror or str(exc)
        if exc.errno == errno.EACCES and port < 1024:
            why = f"port {port} needs root or CAP_NET_BIND_SERVICE"
        raise ListenError(f"cannot listen on {host} port {port}: {why}") from None
    sock.setblocking(False)
    return sock


class Listener:
    """The accept loop.

    Args:
        sock: the listening socket (see :func:`bind`).
        settings: the limits.
        start: runs a session in the forked child.
        policy: screens each connection as it is accepted (default: open to all).
        audit: where refusals are recorded (default: nowhere).
    """

    def __init__(
        self,
        sock: socket.socket,
        settings: ListenerSettings,
        start: StartSession,
        *,
        policy: AccessPolicy | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self._sock: socket.socket | None = sock
        self._settings = settings
        self._start = start
        self._policy = policy or AccessPolicy.open_to_all()
        self._audit = audit or AuditLog.to(None)
        self._selector = selectors.DefaultSelector()
        self._pending: dict[int, _Pending] = {}
        self._children: set[int] = set()
        self._stopping = False
        self._wake_r, self._wake_w = socket.socketpair()

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> int:
        """Serve until SIGTERM and every session has ended; the exit status (0)."""
        assert self._sock is not None
        for sock in (self._wake_r, self._wake_w):
            sock.setblocking(False)
        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # only to wake the loop
        self._selector.register(self._sock, selectors.EVENT_READ, "accept")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        log.warning("listening on %s (pid %d)", _address(self._sock.getsockname()), os.getpid())
        while True:
            self._reap()
            if self._stopping and self._sock is not None:
                self._stop_accepting()
            if self._sock is None and not self._children:
                break
            for key, _ in self._selector.select(self._next_timeout()):
                if key.data == "accept":
                    self._accept()
                elif key.data == "wake":
                    self._drain_wake()
                elif key.data == "handshake":
                    self._read(key.fd)
                else:
                    self._connected_back(key.data)
            self._expire()
        log.warning("stopped")
        return 0

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        del signum, frame
        self._stopping = True

    def _next_timeout(self) -> float | None:
        if not self._pending:
            return None
        soonest = min(pending.deadline for pending in self._pending.values())
        return max(0.0, soonest - time.monotonic())

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_r.recv(4096):
                pass

    def _reap(self) -> None:
        while self._children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self._children.clear()
                return
            if pid == 0:
                return
            self._children.discard(pid)
            log.info("session %d ended (status %d)", pid, os.waitstatus_to_exitcode(status))

    def _stop_accepting(self) -> None:
        assert self._sock is not None
        log.warning("SIGTERM: no more connections; waiting for %d sessions", len(self._children))
        self._selector.unregister(self._sock)
        self._sock.close()
        self._sock = None
        for fd in list(self._pending):
            self._refuse(fd, "the server is shutting down")
        for pid in self._children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    # -- connections ---------------------------------------------------------------------------

    def _accept(self) -> None:
        assert self._sock is not None
        for _ in range(ACCEPTS_PER_WAKE):
            try:
                conn, address = self._sock.accept()
            except (BlockingIOError, ConnectionAbortedError):
                return
            conn.setblocking(False)
            host, port = plain_address(address[0]), int(address[1])
            rejected = None
            try:
                # First, and cheap: a rejected host must not count against the cap.
                self._policy.screen(host, port, via_rsh=True)
            except AccessDenied as exc:
                if not self._tell_later(host, port):
                    self._refuse_new(conn, host, port, str(exc))
                    continue
                rejected = str(exc)
            if len(self._children) + len(self._pending) >= self._settings.max_sessions:
                limit = self._settings.max_sessions
                why = f"too many sessions (the limit is {limit}); try again later"
                self._refuse_new(conn, host, port, why)
                continue
            deadline = time.monotonic() + self._settings.handshake_timeout
            self._pending[conn.fileno()] = _Pending(conn, host, port, deadline, rejected=rejected)
            self._selector.register(conn, selectors.EVENT_READ, "handshake")

    def _tell_later(self, host: str, port: int) -> bool:
        """Whether a rejected address should get its reason through rcmd's own channel.

        ``rcmd(3)`` reads the refusal only after the server has connected back to its stderr
        port; a refusal sent before that is lost ("protocol failure in circuit setup"). So a
        client from a privileged port (a real rcmd, run by root), rejected for its address
        alone, is held until it names a reserved stderr port, connected back to, and told why
        (as rshd tells a refused user). Anything else is refused at once.
        """
        try:
            self._policy.screen("0.0.0.0", port, via_rsh=True)  # the port rule alone
        except AccessDenied:
            return False
        return port < 1024 and len(self._pending) < self._settings.max_sessions

    def _refuse_new(self, conn: socket.socket, host: str, port: int, reason: str) -> None:
        log.warning("refused %s:%d: %s", host, port, reason)
        self._audit.event("refuse", reason=reason, via="rsh", peer=host, port=port)
        refuse_now(conn, reason)

    def _read(self, fd: int) -> None:
        pending = self._pending.get(fd)
        if pending is None:
            return  # refused earlier in the same turn of the loop
        try:
            data = pending.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError as exc:
            log.info("%s went away during the handshake: %s", pending.peer, exc.strerror)
            self._forget(fd).sock.close()
            return
        try:
            handshake = pending.parser.feed(data)
        except HandshakeError as exc:
            self._refuse(fd, f"bad handshake: {exc}")
            return
        if (
            pending.rejected is not None
            and pending.parser.port_done
            and not pending.parser.stderr_port
        ):
            self._refuse(fd, pending.rejected)  # no channel to wait for: say it now
            return
        if pending.parser.port_done and pending.parser.stderr_port and pending.back is None:
            try:
                self._policy.check_stderr_port(pending.parser.stderr_port)
            except AccessDenied as exc:
                self._refuse(fd, str(exc))
                return
            self._connect_back(fd, pending, pending.parser.stderr_port)
        if handshake is None or fd not in self._pending:
            return
        if pending.back is not None and not pending.back_ready:
            # rcmd sends the users only once it has accepted the channel, so it is connected
            # (its event may simply come later in this same turn).
            self._connected_back(fd)
            if fd not in self._pending:
                return
        if not handshake.is_rmt:
            self._refuse(fd, f"only the rmt service runs here, not {handshake.command[:80]!r}")
            return
        self._fork(fd, handshake, pending.parser.rest)

    def _connect_back(self, fd: int, pending: _Pending, port: int) -> None:
        """Start connecting to the client's stderr port (rcmd waits for it before the users)."""
        address = pending.sock.getpeername()[0]
        family = pending.sock.family
        back = socket.socket(family, socket.SOCK_STREAM)
        pending.back = back
        try:
            if os.geteuid() == 0:
                bind_reserved(back, family)
            back.setblocking(False)
            code = back.connect_ex((address, port))
        except OSError as exc:
            code = exc.errno or errno.EIO
        if code not in (0, errno.EINPROGRESS):
            self._refuse(fd, f"cannot connect to the stderr port {port}: {os.strerror(code)}")
            return
        self._selector.register(back, selectors.EVENT_WRITE, fd)

    def _connected_back(self, fd: int) -> None:
        pending = self._pending.get(fd)
        if pending is None or pending.back is None or pending.back_ready:
            return
        self._selector.unregister(pending.back)
        code = pending.back.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if not code:
            try:
                pending.back.getpeername()
            except OSError as exc:
                code = exc.errno or errno.ENOTCONN
        if code:
            port = pending.parser.stderr_port
            self._refuse(fd, f"cannot connect to the stderr port {port}: {os.strerror(code)}")
            return
        pending.back_ready = True
        if pending.rejected is not None:
            self._refuse(fd, pending.rejected)  # rcmd reads it after sending its users

    def _expire(self) -> None:
        now = time.monotonic()
        late = [fd for fd, pending in self._pending.items() if pending.deadline <= now]
        for fd in late:
            seconds = self._settings.handshake_timeout
            self._refuse(fd, f"no complete handshake within {seconds:g} seconds")

    def _forget(self, fd: int) -> _Pending:
        pending = self._pending.pop(fd)
        self._selector.unregister(pending.sock)
        if pending.back is not None and not pending.back_ready:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(pending.back)
        return pending

    def _refuse(self, fd: int, message: str) -> None:
        pending = self._forget(fd)
        if pending.back is not None:
            pending.back.close()
        log.warning("refused %s: %s", pending.peer, message)
        self._audit.event(
            "refuse", reason=message, via="rsh", peer=pending.address, port=pending.port
        )
        refuse_now(pending.sock, message)

    def _fork(self, fd: int, handshake: Handshake, rest: bytes) -> None:
        pending = self._forget(fd)
        pid = os.fork()
        if pid == 0:
            os._exit(self._child(pending, handshake, rest))
        self._children.add(pid)
        pending.sock.close()
        if pending.back is not None:
            pending.back.close()

    def _child(self, mine: _Pending, handshake: Handshake, rest: bytes) -> int:
        """In the forked process: drop the listener's sockets and signals, run the session."""
        try:
            signal.set_wakeup_fd(-1)
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
                signal.signal(signum, signal.SIG_DFL)
            for pending in self._pending.values():
                pending.sock.close()
                if pending.back is not None:
                    pending.back.close()
            self._selector.close()
            if self._sock is not None:
                self._sock.close()
            self._wake_r.close()
            self._wake_w.close()
            if mine.back is not None:
                mine.back.setblocking(True)
            return self._start(mine.sock, handshake, rest, mine.back)
        except BaseException:
            log.exception("session failed")
            return 1
        finally:
            logging.shutdown()


def refuse_now(conn: socket.socket, message: str) -> None:
    """Send the refusal and close, without blocking.

    What the client sent is drained first: closing with unread input would reset the
    connection, and the client could lose the message.
    """
    with contextlib.suppress(OSError):
        conn.send(refusal(f"rmtd: {message}"))
        conn.shutdown(socket.SHUT_WR)
        for _ in range(16):
            if not conn.recv(65536):
                break
    conn.close()


def bind_reserved(channel: socket.socket, family: int) -> None:
    """Bind to a free port from 1023 down to 512, as ``rresvport(3)`` does."""
    anywhere = "::" if family == socket.AF_INET6 else "0.0.0.0"
    for port in range(1023, 511, -1):
        try:
            channel.bind((anywhere, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            continue
        return
    raise OSError(errno.EAGAIN, "no privileged port free")


def _address(address: tuple[str, int] | tuple[str, int, int, int]) -> str:
    return f"{address[0]}:{address[1]}"
