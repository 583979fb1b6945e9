"""Remote names, the rsh command line, and the wire encodings of flags and status."""

from __future__ import annotations

import errno
import shlex
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from devices.interface import BytesLike, DriveStatus, GeneralStatus
from rmtd.protocol.fields import O_ACCMODE, OPEN_FLAG_NAMES
from rmtd.status import MTGET, MTGET_SIZE

#: The remote command run when none is given (dump's and star's default; Debian links it
#: to ``/usr/sbin/rmt``).
DEFAULT_RMT_COMMAND: Final = "/etc/rmt"

#: Longest status line accepted, ``\n`` included (GNU rtapelib.c's limit).
MAX_STATUS_LINE: Final = 64

#: Longest error text accepted after an ``E``/``F`` status line, ``\n`` included.
MAX_ERROR_TEXT: Final = 4096

#: Largest ``S`` payload of an unsupported size that is skipped to stay in sync; a larger
#: one ends the connection.
MAX_STATUS_SIZE: Final = 4096

#: Order of the two ``L`` lines: offset first (BSD family, dump, GNU tar <= 1.34) or
#: whence first (GNU rmt >= 1.23, GNU tar >= 1.35).
ClientLseekOrder: TypeAlias = Literal["offset-first", "whence-first"]


# GNU rtapelib's order of the symbolic names after the access mode (rtapelib.c).
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
    """Split a file name the way GNU rtapelib does (``_remdev`` in rmt.h, ``rmt_open__``).

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
