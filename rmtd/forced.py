"""rmtd as an ssh forced command: who the client is, and what it asked to run.

An ``authorized_keys`` line ``command="rmtd --user alice --config /etc/rmtd.toml" ssh-ed25519
...`` makes sshd run rmtd whatever the client asked for; sshd puts the client's own command in
``SSH_ORIGINAL_COMMAND`` and the connection in ``SSH_CONNECTION`` (``client_ip client_port
server_ip server_port``), as sshd(8) documents under AUTHORIZED_KEYS FILE FORMAT and
ENVIRONMENT. The key stands for the remote user (``--user``); the address comes from
``SSH_CONNECTION``; the access policy decides as it does for the rsh listener.

What clients ask for: the rmt server (GNU tar's ``--rmt-command``, default ``/etc/rmt``;
dump's ``_PATH_RMT``; cpio and mt alike) and, first, ``uname``: xfsdump's
``librmt/rmtopen.c`` runs ``RSH HOST uname`` and takes the remote system from the start of
the answer (``IRIX`` or ``Linux``) before it starts ``$RMT``. A probe gets what ``uname``
would answer; anything else is refused.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import subprocess
from collections.abc import Mapping
from enum import Enum

from rmtd.access import AccessDenied, AccessPolicy, Grant, Peer
from rmtd.audit import AuditLog

SSH_CONNECTION = "SSH_CONNECTION"
SSH_ORIGINAL_COMMAND = "SSH_ORIGINAL_COMMAND"

_RMT_NAME = re.compile(r"rmt(-[a-z]+)?\Z|rmtd\Z")
"""Names of rmt servers clients run: ``rmt``, ``rmt-tar`` (Debian's tar), ``rmt-dump``, ``rmtd``."""

_UNAME_OPTION = re.compile(
    r"-[asnrvmpio]+\Z|--(all|kernel-name|nodename|kernel-release|kernel-version|machine"
    r"|processor|hardware-platform|operating-system)\Z"
)
"""The options of ``uname`` (coreutils) that only print; ``--help``/``--version`` are not."""


class Asked(Enum):
    """What the client's original command asks for."""

    RMT = "rmt"
    UNAME = "uname"
    OTHER = "other"


class RefusedError(Exception):
    """The client is not served; ``str()`` is the one line it is shown on standard error."""


def classify(command: str | None) -> tuple[Asked, list[str]]:
    """Classify the client's command (``SSH_ORIGINAL_COMMAND``): an rmt server, uname, other.

    ``None`` (the client named no command) is an rmt session, as when rmtd is the login's
    only command. An rmt server takes no arguments: GNU rmt's only one names a debug output
    file, which a client must not choose on the server.

    Returns:
        The kind, and the command's words.
    """
    if command is None:
        return Asked.RMT, []
    try:
        words = shlex.split(command)
    except ValueError:
        return Asked.OTHER, []
    if not words:
        return Asked.RMT, words
    program = os.path.basename(words[0])
    if _RMT_NAME.match(program) and len(words) == 1:
        return Asked.RMT, words
    if program == "uname" and all(_UNAME_OPTION.match(word) for word in words[1:]):
        return Asked.UNAME, words
    return Asked.OTHER, words


def answer_uname(words: list[str]) -> int:
    """Answer a ``uname`` probe as ``uname`` itself would, on standard output.

    The words were checked by :func:`classify` (printing options only); ``uname`` is run
    without a shell from the standard directories, not from the client's ``PATH``.

    Returns:
        uname's exit status.
    """
    done = subprocess.run(
        ["uname", *words[1:]],
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
        check=False,
    )
    return done.returncode


def admit(
    policy: AccessPolicy, user: str | None, environ: Mapping[str, str], audit: AuditLog
) -> Grant | None:
    """Admit a stdio session, recording the connection or the refusal in the audit log.

    With ``--user`` (an ssh forced command), or with an ``[access]`` table, the peer comes
    from ``SSH_CONNECTION`` and the policy decides: the remote user is ``--user``, else the
    account the client logged in as (ssh without a forced command); the local user is the
    account rmtd runs as. Without either, every open is allowed, as before issue 7.

    Returns:
        The session's grant; ``None`` when nothing is enforced.

    Raises:
        RefusedError: the policy refused the connection, or there is no peer to decide on.
    """
    local = local_account()
    if user is None and not policy.enforced:
        peer = _maybe_peer(environ)
        audit.event(
            "connect",
            peer=peer.address if peer else None,
            port=peer.port if peer else None,
            remote_user=None,
            local_user=local,
            via="stdio",
        )
        return None
    remote = user if user is not None else local
    known: dict[str, str | int | None] = {"remote_user": remote, "local_user": local}
    if not policy.enforced:
        # --user names whom the access rules should judge; with no rules it would open every
        # file to that key's holder. Safe by default: refuse, as rmtd listen does.
        reason = "--user needs an [access] table in the configuration to decide what it may do"
        audit.event("refuse", reason=reason, via="ssh", **known)
        raise RefusedError(reason)
    try:
        peer = peer_from(environ)
        known.update(peer=peer.address, port=peer.port)
        grant = policy.admit(peer, remote, local, via_rsh=False)
    except (RefusedError, AccessDenied) as exc:
        audit.event("refuse", reason=str(exc), via="ssh", **known)
        raise RefusedError(str(exc)) from None
    audit.event("connect", via="ssh", **known)
    return grant


def screen(environ: Mapping[str, str], audit: AuditLog) -> int | None:
    """Look at what the client asked for: ``None`` to serve rmt, else the exit status.

    A ``uname`` probe is answered here (its status returned); any other command is refused.

    Raises:
        RefusedError: the client asked for something other than rmt or uname (audited).
    """
    command = environ.get(SSH_ORIGINAL_COMMAND)
    asked, words = classify(command)
    if asked is Asked.RMT:
        return None
    if asked is Asked.UNAME:
        return answer_uname(words)
    reason = f"{command!r}: not an rmt server command; this login serves rmt only"
    audit.event("refuse", reason=reason)
    raise RefusedError(reason)


def _maybe_peer(environ: Mapping[str, str]) -> Peer | None:
    try:
        return peer_from(environ)
    except RefusedError:
        return None


def peer_from(environ: Mapping[str, str]) -> Peer:
    """The client as ``SSH_CONNECTION`` names it.

    Raises:
        RefusedError: the variable is missing or malformed (rmtd was not started by sshd).
    """
    value = environ.get(SSH_CONNECTION)
    if value is None:
        raise RefusedError("--user needs SSH_CONNECTION: run rmtd as an ssh forced command")
    fields = value.split()
    if len(fields) != 4 or not fields[1].isdigit():
        raise RefusedError(f"SSH_CONNECTION {value!r}: expected 'client_ip client_port ...'")
    return Peer(address=fields[0], port=int(fields[1]))


def local_account() -> str:
    """The name of the account rmtd runs as (its real uid)."""
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def setuid_refusal(uid: int, euid: int) -> str | None:
    """The one-line refusal when rmtd runs set-uid (real uid differs from effective), else None.

    A set-uid rmt hands every local user the owner's files (the classic root hole, as GNU
    rmt and BSD rmt(8) installations warn); rmtd has no business being set-uid.
    """
    if uid == euid:
        return None
    return (
        f"refusing to run set-uid (real uid {uid}, effective uid {euid}): "
        "a set-uid rmt server gives every local user its owner's files"
    )
