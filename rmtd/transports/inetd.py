"""One rsh connection handed to rmtd on standard input, inetd style (``rmtd listen --inetd``).

systemd's ``rmtd.socket`` with ``Accept=yes`` (or inetd) accepts the connection and starts
``rmtd@.service`` with the socket as standard input. This reads the rsh handshake from it, as
the listener does for each of its connections (connecting back to the client's stderr port
when it names one), then runs the session in this process: the same checks, user switch and
RMT service as a session the listener forks (:func:`rmtd.transports.rsh.run_session`).
"""

from __future__ import annotations

import contextlib
import socket
import time

from rmtd.protocol.rcmd import HandshakeError, HandshakeParser
from rmtd.transports.listener import bind_reserved, refuse_now
from rmtd.transports.rsh import SessionSettings, run_session


def serve_connection(conn: socket.socket, settings: SessionSettings, timeout: float) -> int:
    """Read the handshake from ``conn`` within ``timeout`` seconds, then serve the session.

    Returns:
        The exit status: the session's, or 1 when the handshake is refused.
    """
    parser = HandshakeParser()
    back: socket.socket | None = None
    deadline = time.monotonic() + timeout
    try:
        while True:
            conn.settimeout(max(0.001, deadline - time.monotonic()))
            try:
                handshake = parser.feed(conn.recv(4096))
            except TimeoutError:
                return _refuse(conn, back, f"no complete handshake within {timeout:g} seconds")
            except HandshakeError as exc:
                return _refuse(conn, back, f"bad handshake: {exc}")
            if parser.port_done and parser.stderr_port and back is None:
                try:
                    back = _connect_back(conn, parser.stderr_port, deadline)
                except OSError as exc:
                    why = exc.strerror or str(exc)
                    return _refuse(conn, back, f"cannot connect to the stderr port: {why}")
            if handshake is not None:
                break
    except OSError:
        return _refuse(conn, back, "gone")
    if not handshake.is_rmt:
        return _refuse(
            conn, back, f"only the rmt service runs here, not {handshake.command[:80]!r}"
        )
    conn.settimeout(None)
    return run_session(conn, handshake, parser.rest, back, settings)


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


def _refuse(conn: socket.socket, back: socket.socket | None, message: str) -> int:
    if back is not None:
        back.close()
    refuse_now(conn, message)
    return 1
