"""One rsh connection handed to rmtd on standard input, inetd style (``rmtd listen --inetd``).

systemd's ``rmtd.socket`` with ``Accept=yes`` (or inetd) accepts the connection and starts
``rmtd@.service`` with the socket as standard input. This reads the rsh handshake from it, as
the listener does for each of its connections (connecting back to the client's stderr port
when it names one), then runs the session in this process: the same checks, user switch and
RMT service as a session the listener forks (:func:`rmtd.transports.rsh.run_session`).

As in the listener, the peer is screened first (:meth:`rmtd.access.AccessPolicy.screen`), a
stderr port is checked before it is connected to, and every refusal is a ``refuse`` event in
the audit log with the peer, its port and the reason.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time

from rmtd.access import AccessDenied
from rmtd.hosts import plain_address
from rmtd.protocol.rcmd import HandshakeError, HandshakeParser
from rmtd.transports.listener import bind_reserved, refuse_now
from rmtd.transports.rsh import SessionSettings, run_session

log = logging.getLogger(__name__)


def serve_connection(conn: socket.socket, settings: SessionSettings, timeout: float) -> int:
    """Read the handshake from ``conn`` within ``timeout`` seconds, then serve the session.

    Refusals are recorded in ``settings.audit``.

    Returns:
        The exit status: the session's, or 1 when the connection is refused.
    """
    try:
        address, port = conn.getpeername()[:2]
    except OSError:
        conn.close()
        return 1
    refuse = _Refuser(conn, settings, plain_address(address), port)
    try:
        settings.policy.screen(refuse.address, port, via_rsh=True)
    except AccessDenied as exc:
        return refuse(str(exc))
    parser = HandshakeParser()
    deadline = time.monotonic() + timeout
    try:
        while True:
            conn.settimeout(max(0.001, deadline - time.monotonic()))
            try:
                handshake = parser.feed(conn.recv(4096))
            except TimeoutError:
                return refuse(f"no complete handshake within {timeout:g} seconds")
            except HandshakeError as exc:
                return refuse(f"bad handshake: {exc}")
            if parser.port_done and parser.stderr_port and refuse.back is None:
                try:
                    settings.policy.check_stderr_port(parser.stderr_port)
                except AccessDenied as exc:
                    return refuse(str(exc))
                try:
                    refuse.back = _connect_back(conn, parser.stderr_port, deadline)
                except OSError as exc:
                    why = exc.strerror or str(exc)
                    return refuse(f"cannot connect to the stderr port {parser.stderr_port}: {why}")
            if handshake is not None:
                break
    except OSError:
        return refuse("gone", audit=False)
    if not handshake.is_rmt:
        return refuse(f"only the rmt service runs here, not {handshake.command[:80]!r}")
    conn.settimeout(None)
    return run_session(conn, handshake, parser.rest, refuse.back, settings)


class _Refuser:
    """Refuses the connection (closing the stderr channel, if any) and records why."""

    def __init__(
        self, conn: socket.socket, settings: SessionSettings, address: str, port: int
    ) -> None:
        self.conn = conn
        self.settings = settings
        self.address = address
        self.port = port
        self.back: socket.socket | None = None

    def __call__(self, message: str, audit: bool = True) -> int:
        if self.back is not None:
            self.back.close()
        if audit:
            log.warning("refused %s:%d: %s", self.address, self.port, message)
            self.settings.audit.event(
                "refuse", reason=message, via="rsh", peer=self.address, port=self.port
            )
        refuse_now(self.conn, message)
        return 1


def _connect_back(conn: socket.socket, port: int, deadline: float) -> socket.socket:
    """Connect to the client's stderr port, from a privileged port when root (rresvport)."""
    family = conn.family
    back = socket.socket(family, socket.SOCK_STREAM)
    try:
        with contextlib.suppress(PermissionError):
            bind_reserved(back, family)
        back.settimeout(max(0.001, deadline - time.monotonic()))
        back.connect((conn.getpeername()[0], port))
        back.settimeout(None)
    except BaseException:
        back.close()
        raise
    return back
