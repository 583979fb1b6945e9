r"""Replies: what the server sends back, one per request.

``A<value>\n`` (optionally followed by exactly ``value`` raw bytes for ``R`` and ``S``)
or ``E<errno>\n<message>\n``. The reply limits of the strictest clients apply: dump
(``common/dumprmt.c``) reads a status line of at most 29 bytes, star (librmt) an error text of
at most 80 bytes including the newline; GNU ``rtapelib.c`` treats a negative ``A`` as an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from rmtd.protocol.buffer import Buffer

__all__ = ["MAX_MESSAGE", "Ack", "ErrorReply", "Reply", "clean_message"]

#: Longest error text sent, in bytes (star's librmt reads lines of 80 bytes with the ``\n``).
MAX_MESSAGE = 72

_INT64 = 1 << 63


def clean_message(message: str) -> str:
    """Make `message` safe for the second line of an ``E`` reply.

    Control characters (newlines included) become spaces, runs of blanks collapse,
    non-ASCII characters become ``?`` and text longer than `MAX_MESSAGE` bytes is cut
    with ``...``. An empty result becomes ``"error"``.

    Args:
        message: Any text, e.g. ``str(exc)`` of an ``OSError``.

    Returns:
        One line of printable ASCII, at most `MAX_MESSAGE` characters.
    """
    text = "".join(c if " " <= c <= "~" else ("?" if c > "\x7f" else " ") for c in message)
    text = " ".join(text.split())
    if len(text) > MAX_MESSAGE:
        text = text[: MAX_MESSAGE - 3].rstrip() + "..."
    return text or "error"


@dataclass(frozen=True, slots=True)
class Ack:
    r"""A success reply: ``A<value>\n`` followed by `data` when there is any.

    For ``R`` and ``S`` the data length must equal `value`. The hot path (``R``) should
    not concatenate: write `header()` and `data` with one vectored write.

    Attributes:
        value: The decimal result (offset, byte count, field value...).
        data: Raw bytes sent right after the status line, or None.

    Raises:
        ValueError: If `value` does not fit in 64 signed bits or `data` is given and its
            length differs from `value`.
    """

    value: int
    data: Buffer | None = None

    def __post_init__(self) -> None:
        if not -_INT64 <= self.value < _INT64:
            raise ValueError(f"reply value {self.value} does not fit in 64 bits")
        if self.data is not None and len(self.data) != self.value:
            raise ValueError(f"reply announces {self.value} bytes but carries {len(self.data)}")

    def header(self) -> bytes:
        r"""Return the status line ``A<value>\n``."""
        return b"A%d\n" % self.value

    def chunks(self) -> tuple[Buffer, ...]:
        """Return the buffers to write, in order, for ``os.writev``/``writelines``."""
        if self.data is None or not self.data:
            return (self.header(),)
        return (self.header(), self.data)

    def to_bytes(self) -> bytes:
        """Return the whole reply as one bytes object (copies `data`; for small replies)."""
        return b"".join(self.chunks())


@dataclass(frozen=True, slots=True)
class ErrorReply:
    r"""An error reply: ``E<errno>\n<message>\n``.

    Attributes:
        errno: The (positive) errno the client copies into its own ``errno``.
        message: Free text; sent through `clean_message`, so it is always one short line.
    """

    errno: int
    message: str

    def header(self) -> bytes:
        r"""Return the status line ``E<errno>\n``."""
        return b"E%d\n" % self.errno

    def chunks(self) -> tuple[Buffer, ...]:
        """Return the buffers to write, in order (same shape as `Ack.chunks`)."""
        return (self.to_bytes(),)

    def to_bytes(self) -> bytes:
        """Return the whole reply, with the message made single-line and short."""
        return b"E%d\n%s\n" % (self.errno, clean_message(self.message).encode("ascii"))


#: Any reply the server sends.
Reply: TypeAlias = Ack | ErrorReply
