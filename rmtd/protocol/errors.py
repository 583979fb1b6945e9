"""Exceptions of the protocol core; each carries the errno that goes on the wire.

Two kinds, because the RMT stream can only recover from one of them:

* `RequestError` — a well-framed request with bad arguments. All its bytes have been
  consumed, so the server replies ``E<errno>`` and keeps serving, in step with the client.
* `ProtocolError` — the framing itself is broken (unknown command letter, a count no
  client could mean, end of input inside a request). The server sends one ``E`` reply
  and closes: resynchronising is impossible (GNU rmt.c also exits on "Garbage command").
"""

from __future__ import annotations

import errno as _errno

from rmtd.protocol.replies import ErrorReply

__all__ = ["ProtocolError", "RequestError", "RmtError"]


class RmtError(Exception):
    """Base of the protocol core's errors: an errno and a one-line message.

    Attributes:
        errno: The errno sent to the client (host numbering, Linux on the reference
            platform).
        message: Human-readable text for the ``E`` reply and the log.
    """

    def __init__(self, errno: int, message: str) -> None:
        super().__init__(errno, message)
        self.errno = errno
        self.message = message

    def __str__(self) -> str:
        return f"[{_errno.errorcode.get(self.errno, self.errno)}] {self.message}"

    def reply(self) -> ErrorReply:
        """Return the ``E`` reply that reports this error to the client."""
        return ErrorReply(self.errno, self.message)


class RequestError(RmtError):
    """A request whose framing was fine but whose arguments are invalid.

    The connection stays usable: reply with `reply()` and read the next request.
    """


class ProtocolError(RmtError):
    """A framing error: the byte stream cannot be parsed any further.

    Sticky: once `CommandParser.next_event` has raised it, it raises it again on every
    call. Send `reply()` once (the client may already be gone) and close the connection.
    """
