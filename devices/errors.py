"""The one way devices report failure: :class:`OSError` carrying a Linux errno.

Every error a device raises is an ``OSError(errno, message)``; the RMT session turns it into an
``E<errno>`` reply and ``vmt`` into a one-line message. Messages are one line and say what
failed and why, because they travel to the client verbatim.
"""

from __future__ import annotations

import errno


def tape_error(code: int, message: str) -> OSError:
    """Build the ``OSError`` a device raises.

    Args:
        code: the errno (``errno.EIO``, ``errno.ENOSPC``, ...).
        message: one line saying what failed and why.

    Returns:
        An ``OSError`` (Python picks the matching subclass, e.g. ``PermissionError``).
    """
    return OSError(code, message)


def describe(exc: OSError) -> str:
    """One-line text for an ``OSError``: its message, else the system's text for its errno."""
    text = exc.strerror or (errno.errorcode.get(exc.errno or 0, "error"))
    if exc.filename is not None and str(exc.filename) not in text:
        return f"{exc.filename}: {text}"
    return str(text)
