r"""The rsh (rcmd) handshake, sans-I/O: bytes in, a :class:`Handshake` or a clean error out.

A client of ``rshd`` (``rcmd(3)``: netkit ``rsh``, BSD ``rcmd.c``) opens the connection and sends
four NUL-terminated fields, in this order:

1. the port of its standard-error channel, in ASCII decimal (an empty field or ``0``: none);
2. its own user name on the client host (the *client user*);
3. the user it asks to act as on the server (the *server user*);
4. the command to run.

The server answers one byte: ``\0`` and the command's output follows, or ``\1`` and a
one-line message ending in ``\n`` (netkit ``rshd.c``, ``error()``), then closes.

Limits (netkit ``rshd.c`` reads each field with ``getstr()`` into a fixed buffer and refuses a
longer one): the port at most 5 digits and within 1-65535; user names at most 32 bytes
(``UT_NAMESIZE``, the useradd limit; rshd's own buffers are 16), printable ASCII without
spaces; the command at most 1024 bytes (rmt commands are short; rshd allows ``ARG_MAX``). The
sizes are checked as the bytes arrive, so an endless field costs at most its limit.
"""

from __future__ import annotations

from dataclasses import dataclass

PORT_LIMIT = 5
USER_LIMIT = 32
COMMAND_LIMIT = 1024
MESSAGE_LIMIT = 512
"""The longest refusal message sent (longer ones are cut)."""

_FIELDS = (
    ("stderr port", PORT_LIMIT),
    ("client user name", USER_LIMIT),
    ("server user name", USER_LIMIT),
    ("command", COMMAND_LIMIT),
)

ACCEPT = b"\0"
"""The reply that admits the command: its output follows."""

RMT_COMMANDS = frozenset(
    {
        "rmt",
        "/etc/rmt",
        "/usr/sbin/rmt",
        "/usr/bin/rmt",
        "/sbin/rmt",
        "/bin/rmt",
        "/usr/libexec/rmt",
        "/usr/sbin/rmt-tar",
        "/usr/sbin/rmt-dump",
        "/usr/local/sbin/rmt",
        "/usr/local/libexec/rmt",
    }
)
"""The commands rmt clients send: GNU tar and cpio's ``--rmt-command`` default ``/etc/rmt``,
dump's ``RMT`` (``/etc/rmt``), and the paths Debian (``rmt-tar``, ``rmt-dump``), the BSDs and
``/usr/local`` installs give rmt. Anything else is refused: the listener runs only the rmt
service."""


class HandshakeError(Exception):
    """A malformed handshake; ``str()`` is one line saying what is wrong."""


@dataclass(frozen=True, slots=True)
class Handshake:
    """A complete rcmd handshake.

    Attributes:
        stderr_port: the port to connect back to for standard error; ``None``: no channel.
        client_user: the user on the client's host.
        server_user: the user the client asks to act as here.
        command: the command to run.
    """

    stderr_port: int | None
    client_user: str
    server_user: str
    command: str

    @property
    def is_rmt(self) -> bool:
        """Whether the command is one of :data:`RMT_COMMANDS` (surrounding blanks ignored)."""
        return self.command.strip() in RMT_COMMANDS


class HandshakeParser:
    """Reads a handshake from bytes fed in any pieces (one byte at a time is fine).

    Bytes after the command's NUL (a client that does not wait for the reply) are kept in
    :attr:`rest` for the session. ``rcmd(3)`` sends the stderr port and then waits for the server
    to connect to it before sending the rest: :attr:`port_done` and :attr:`stderr_port` say
    when and where.
    """

    def __init__(self) -> None:
        self._fields: list[bytes] = []
        self.port_done = False
        self.stderr_port: int | None = None
        self._pending = bytearray()
        self._done: Handshake | None = None
        self.rest = b""

    def feed(self, data: bytes) -> Handshake | None:
        """Take more bytes; return the handshake once its four fields are in, else ``None``.

        Raises:
            HandshakeError: a field is too long or malformed, or the input ended early
                (``data`` empty: the client closed).
        """
        if self._done is not None:
            self.rest += data
            return self._done
        if not data:
            name = _FIELDS[len(self._fields)][0]
            raise HandshakeError(f"connection closed before the end of the {name}")
        view = memoryview(data)
        while view and self._done is None:
            name, limit = _FIELDS[len(self._fields)]
            end = bytes(view[: limit + 1 - len(self._pending)]).find(b"\0")
            if end < 0:
                self._pending += view[: limit + 1 - len(self._pending)]
                if len(self._pending) > limit:
                    raise HandshakeError(f"{name} longer than {limit} bytes")
                return None
            self._pending += view[:end]
            view = view[end + 1 :]
            self._fields.append(bytes(self._pending))
            self._pending.clear()
            if len(self._fields) == 1:
                self.stderr_port = _port(self._fields[0])
                self.port_done = True
            if len(self._fields) == len(_FIELDS):
                self._done = _build(self._fields)
        self.rest = bytes(view)
        return self._done


def _build(fields: list[bytes]) -> Handshake:
    port, client, server, command = fields
    return Handshake(_port(port), _user(client, "client"), _user(server, "server"), _text(command))


def _port(raw: bytes) -> int | None:
    if not raw:
        return None
    if not raw.isdigit():
        raise HandshakeError(f"stderr port {_shown(raw)} is not a decimal number")
    port = int(raw)
    if port > 65535:
        raise HandshakeError(f"stderr port {port} is out of range (1-65535)")
    return port or None  # rshd: 0 means no standard-error channel


def _user(raw: bytes, whose: str) -> str:
    if not raw:
        raise HandshakeError(f"the {whose} user name is empty")
    if not all(0x21 <= byte <= 0x7E for byte in raw):
        raise HandshakeError(f"the {whose} user name {_shown(raw)} has characters a name cannot")
    return raw.decode("ascii")


def _text(raw: bytes) -> str:
    try:
        command = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HandshakeError(f"the command {_shown(raw)} is not UTF-8") from None
    if not command.strip():
        raise HandshakeError("the command is empty")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in command):
        raise HandshakeError(f"the command {_shown(raw)} has control characters")
    return command


def _shown(raw: bytes) -> str:
    """``raw`` for a message: escaped, and cut after 40 bytes."""
    text = repr(raw[:40])[2:-1]
    return f"'{text}...'" if len(raw) > 40 else f"'{text}'"


def refusal(message: str) -> bytes:
    r"""The reply refusing the command: ``\1``, the message on one line, ``\n``."""
    line = " ".join(message.split())[:MESSAGE_LIMIT]
    return b"\1" + line.encode("utf-8", "replace") + b"\n"
