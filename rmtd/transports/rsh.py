r"""One rsh session, in the process forked for it: checks, the user switch, then RMT.

After the listener has read a well-formed handshake for the rmt service it forks, and the child
does what netkit ``rshd.c`` (``doit()``) does before running the command: connect back to the
client's standard-error port from a privileged port, decide the connection (the access policy),
become the local user (``initgroups``, ``setgid``, ``setuid``, in that order, so no root group
survives), answer ``\0`` and run the command: here, the same session and opener stack as stdio
mode on the socket. A refusal anywhere before that is ``\1`` and a one-line message.

Sessions as root: only with an enforced access policy whose rule names ``root`` as the local
user. Without an ``[access]`` table every client would otherwise become root by asking.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import pwd
import signal
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

from rmtd.access import AccessDenied, AccessPolicy, Grant, Peer
from rmtd.audit import AuditLog
from rmtd.compose import build_session, settle_heap
from rmtd.config import ServerConfig
from rmtd.drives import DriveStore
from rmtd.hosts import plain_address
from rmtd.protocol.rcmd import ACCEPT, Handshake, refusal
from rmtd.transports.stdio import serve

log = logging.getLogger(__name__)

STOP_GRACE = 5.0
"""Seconds a session still waits for a stalled client once SIGTERM has come (systemd's stop
timeout is 90 s; the idle timeout, 600 s by default, would outlast it)."""


class RefusedError(Exception):
    """The session is refused; ``str()`` is the one-line message sent to the client."""


class SessionStopError(Exception):
    """SIGTERM arrived while the session waited for a request."""


class IdleTimeoutError(Exception):
    """No request came within the idle timeout."""


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """What every session of one listener shares.

    Attributes:
        config: the server configuration.
        drives: the named drives, if any.
        read_only: refuse every open for writing.
        policy: the access policy.
        idle_timeout: seconds without a request before the session closes its device and ends.
        audit: the audit log (connections, refusals, opens and closes).
        stop_grace: seconds a stalled client may still hold the session after SIGTERM.
    """

    config: ServerConfig
    drives: DriveStore | None
    read_only: bool
    policy: AccessPolicy
    idle_timeout: float
    audit: AuditLog = field(default_factory=lambda: AuditLog.to(None))
    stop_grace: float = STOP_GRACE


class Waiter:
    """Waits for the next request, ending the session on SIGTERM or after the idle timeout.

    The idle timeout is the connection's ``SO_RCVTIMEO`` (:func:`set_timeouts`): a read that
    waited that long fails with EAGAIN, so no poll is made per request. SIGTERM during a request
    only sets a flag (and calls ``on_stop``, which shortens the socket's timeouts, so a client
    stalled mid-record holds the session for a grace period, not a whole idle timeout): the
    request finishes, its reply goes out, and the session ends at the next wait. SIGTERM during
    a wait ends it at once.

    Args:
        fd: the connection, its timeouts set.
        on_stop: called once, from the handler, when SIGTERM first arrives.
    """

    def __init__(self, fd: int, on_stop: Callable[[], None] | None = None) -> None:
        self._fd = fd
        self._stop = False
        self._waiting = False
        self._on_stop = on_stop

    def on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        """The SIGTERM handler."""
        del signum, frame
        if not self._stop and self._on_stop is not None:
            self._on_stop()
        self._stop = True
        if self._waiting:
            self._waiting = False  # raise once: a second signal must not break the close
            raise SessionStopError

    def __call__(self, view: memoryview) -> int:
        """Read the next request's bytes into ``view``; the count, 0 at the end of input.

        Raises:
            SessionStopError: SIGTERM arrived.
            IdleTimeoutError: nothing arrived within the idle timeout.
        """
        self._waiting = True
        try:
            if self._stop:
                raise SessionStopError
            try:
                return os.readv(self._fd, [view])
            except BlockingIOError:
                raise IdleTimeoutError from None
        finally:
            self._waiting = False


def run_session(
    conn: socket.socket,
    handshake: Handshake,
    rest: bytes,
    stderr_channel: socket.socket | None,
    s: SessionSettings,
) -> int:
    """Check, switch user and serve one connection; the process's exit status.

    Args:
        conn: the client's connection.
        handshake: its handshake, for the rmt service.
        rest: bytes the client sent after the handshake.
        stderr_channel: the connection to the client's stderr port, if it asked for one
            (the listener made it, from a privileged port when root, as ``rresvport(3)``).
        s: the listener's settings for sessions.
    """
    address, port = conn.getpeername()[:2]
    address = plain_address(address)
    conn.setblocking(True)
    # A client that stops mid-record, or stops reading replies, must not hold a session forever.
    set_timeouts(conn, s.idle_timeout)
    send_at_once(conn)
    try:
        peer = Peer(address, port, forward_confirmed_name(address))
        grant = _admit(s.policy, peer, handshake)
        become(grant.local_user, s.policy.enforced)
    except RefusedError as exc:
        log.warning("refused %s:%d (%s): %s", address, port, handshake.client_user, exc)
        s.audit.event(
            "refuse",
            reason=str(exc),
            via="rsh",
            peer=address,
            port=port,
            remote_user=handshake.client_user,
            local_user=handshake.server_user,
        )
        with contextlib.suppress(OSError):
            conn.sendall(refusal(f"rmtd: {exc}"))
        return 1
    log.info(
        "session for %s@%s as %s (%s)", grant.remote_user, address, grant.local_user, os.getpid()
    )
    s.audit.event(
        "connect",
        via="rsh",
        peer=address,
        port=port,
        remote_user=grant.remote_user,
        local_user=grant.local_user,
    )
    conn.sendall(ACCEPT)
    try:
        return _serve(conn, rest, grant, s)
    finally:
        s.audit.event("disconnect")
        if stderr_channel is not None:
            stderr_channel.close()


def _serve(
    conn: socket.socket,
    rest: bytes,
    grant: Grant,
    s: SessionSettings,
) -> int:
    session, parser = build_session(s.config, s.drives, s.read_only, grant, s.audit)
    if rest:
        parser.receive_data(rest)
    waiter = Waiter(conn.fileno(), lambda: set_timeouts(conn, s.stop_grace))
    signal.signal(signal.SIGTERM, waiter.on_sigterm)
    settle_heap()
    try:
        return serve(session, parser, conn.fileno(), conn.fileno(), waiter)
    except SessionStopError:
        log.info("stopping: SIGTERM")
        return 0
    except IdleTimeoutError:
        log.info("no request for %g seconds: closing", s.idle_timeout)
        return 0
    except BlockingIOError:
        log.info("the client stalled (idle timeout or, after SIGTERM, the grace): closing")
        return 0


def send_at_once(conn: socket.socket) -> None:
    """Turn Nagle's algorithm off on a TCP connection (``TCP_NODELAY``); others are left alone.

    Every reply is complete when written, often in two writes (a status line, then the data
    with sendfile): Nagle's algorithm would hold the last short segment until the client's
    delayed ACK (R 64 KiB from a .tap over loopback: 8.6 MB/s with it, 1,200 without).
    """
    if conn.family in (socket.AF_INET, socket.AF_INET6):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def set_timeouts(conn: socket.socket, seconds: float) -> None:
    """Set the connection's ``SO_RCVTIMEO`` and ``SO_SNDTIMEO`` to ``seconds``.

    A read or write blocked longer fails with ``EAGAIN`` (:class:`BlockingIOError`); a call
    already blocked when they change picks the new value up when a signal restarts it (PEP 475).
    """
    timeval = struct.pack("ll", int(seconds), int(seconds % 1 * 1e6))
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)


def forward_confirmed_name(address: str) -> str | None:
    """The peer's host name, only when forward-confirmed; else ``None``.

    The reverse lookup's name must resolve back to ``address`` (as inetutils ``rshd`` checks
    before trusting a name): whoever controls the reverse zone of an address could otherwise
    name it anything, an entry's host name included.
    """
    try:
        name = socket.getnameinfo((address, 0), socket.NI_NAMEREQD)[0]
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    if any(_same_address(str(info[4][0]), address) for info in infos):
        return name
    log.warning("%s: its name %s does not resolve back to it; taken as unnamed", address, name)
    return None


def _same_address(one: str, other: str) -> bool:
    try:
        first = ipaddress.ip_address(plain_address(one.split("%", 1)[0]))
        return first == ipaddress.ip_address(plain_address(other))
    except ValueError:
        return False


def _admit(policy: AccessPolicy, peer: Peer, handshake: Handshake) -> Grant:
    try:
        return policy.admit(peer, handshake.client_user, handshake.server_user, via_rsh=True)
    except AccessDenied as exc:
        raise RefusedError(str(exc)) from None


def become(
    local_user: str, enforced: bool, lookup: Callable[[str], pwd.struct_passwd] = pwd.getpwnam
) -> None:
    """Switch to ``local_user``'s uid, gid and groups, when running as root.

    Not root, the session runs as the listener's own user (it cannot switch).

    Raises:
        RefusedError: no such user, or a session as root without a rule that names root.
    """
    if os.geteuid() != 0:
        return
    try:
        entry = lookup(local_user)
    except KeyError:
        raise RefusedError(f"no local user {local_user!r}") from None
    if entry.pw_uid == 0 and not (enforced and local_user == "root"):
        raise RefusedError('sessions as root need an [access] rule whose local_user is "root"')
    os.initgroups(entry.pw_name, entry.pw_gid)
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
