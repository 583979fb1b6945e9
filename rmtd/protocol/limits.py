"""The record size limits of the protocol core, shared by the parser and the configuration.

A ``W`` or ``R`` count is a record: GNU tar sends its whole record (``-b 32768`` is 16 MiB,
one byte more than a 6-byte SCSI READ/WRITE or a SIMH image can carry), and GNU rmt and dump's
rmt serve whatever they can allocate. rmtd accepts up to ``DEFAULT_MAX_RECORD`` unless told
otherwise; a tape image's own format still refuses records it cannot hold (EINVAL).
Memory follows the requests, not the limit: the server allocates a record buffer of the
size actually asked for (``Session``'s scratch buffer, a drive's record buffer), never of
the limit.
"""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_RECORD", "MAX_RECORD_LIMIT"]

DEFAULT_MAX_RECORD = 64 << 20
"""Largest ``R``/``W`` count served by default: 64 MiB, four times tar's ``-b 32768``."""

MAX_RECORD_LIMIT = (1 << 31) - 1
"""Upper bound of the ``max_record`` setting, and the largest ``W`` payload the parser skips to
stay in step with the client (a larger count cannot be a record: the session ends)."""
