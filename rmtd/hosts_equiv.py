"""A hosts.equiv-style file, as ``[access] hosts_equiv`` names it: a documented subset.

Read afresh for each connection it is asked about (as rshd's ``ruserok(3)`` reads it), and
only when no proxy entry applies. Lines, the first whose host and user match deciding:

``host``
    the host's users may act as the local user **of the same name**.
``host user``
    that remote user may act as the local user of the same name (stricter than Linux, where
    such a line lets the user act as any non-root account: a hosts.equiv line should not
    mint impersonation; a proxy entry says so explicitly when it is meant).
``-host``
    refuses the host.
``host -user``
    refuses that user from the host.

``host`` is a host name (compared case-insensitively with the peer's forward-confirmed name,
never resolved) or an IP address or network, matched by the same rule as the ``[access]``
table's hosts (:class:`rmtd.hosts.HostPattern`, IPv4-mapped addresses as IPv4). Blank lines
and ``#`` comments are skipped. Not supported, each skipped with a
warning in the log: ``+`` alone or as the user (any host, any user: modern rshd refuses it
too), netgroups (``+@group``, ``-@group``, ``@group``), and lines of more than two fields.

A match admits with **read-write access to every device**: hosts.equiv says who may be whom,
not which tapes, so trust it only for hosts that may use every image. The local user ``root``
is never admitted through it, as ``ruserok(3)`` skips ``/etc/hosts.equiv`` for uid 0.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from rmtd.hosts import HostPattern, Peer

log = logging.getLogger(__name__)

ROOT = "root"


@dataclass(frozen=True, slots=True)
class EquivMatch:
    """The decision of a hosts.equiv file.

    Attributes:
        allowed: whether the file admits the connection.
        rule: the line that decided (``FILE line N: text``), or why nothing did.
    """

    allowed: bool
    rule: str


@dataclass(frozen=True, slots=True)
class EquivLine:
    """One usable line.

    Attributes:
        number: its 1-based line number.
        text: the line as written, stripped.
        host: the host, without ``-``.
        user: the user without ``-``; ``None``: the same user as the local one.
        deny: the line refuses (a ``-`` on the host or the user).
    """

    number: int
    text: str
    host: HostPattern
    user: str | None
    deny: bool


@dataclass(frozen=True, slots=True)
class HostsEquiv:
    """A parsed hosts.equiv-style file.

    Attributes:
        path: where it was read from.
        lines: its usable lines, in order.
    """

    path: str
    lines: tuple[EquivLine, ...]

    def match(self, peer: Peer, remote_user: str, local_user: str) -> EquivMatch:
        """Decide a connection by the first line whose host and user match."""
        if local_user == ROOT:
            return EquivMatch(False, f"{self.path} is never used for {ROOT}")
        for line in self.lines:
            if not line.host.matches(peer):
                continue
            if line.user is not None and line.user != remote_user:
                continue
            where = f"{self.path} line {line.number}: {line.text}"
            if line.deny:
                return EquivMatch(False, f"refused by {where}")
            if remote_user == local_user:
                return EquivMatch(True, where)
        return EquivMatch(False, f"no line of {self.path} admits it")


def parse_hosts_equiv(text: str, path: str) -> HostsEquiv:
    """Parse the file's ``text``; unsupported lines are skipped with a warning."""
    lines: list[EquivLine] = []
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.split("#", 1)[0].strip()
        if not stripped:
            continue
        line, problem = _line(number, stripped)
        if line is None:
            log.warning("%s line %d: %s: %s, line ignored", path, number, stripped, problem)
        else:
            lines.append(line)
    return HostsEquiv(path, tuple(lines))


def _line(number: int, text: str) -> tuple[EquivLine | None, str]:
    fields = text.split()
    if len(fields) > 2:
        return None, "more than a host and a user"
    host, user = fields[0], (fields[1] if len(fields) == 2 else None)
    if host.startswith("+") or "@" in host or (user is not None and "@" in user):
        return None, "'+' and netgroups are not supported (they would trust any host or user)"
    if user is not None and user.startswith("+"):
        return None, "a '+' user is not supported (it would trust any user)"
    deny = host.startswith("-") or (user is not None and user.startswith("-"))
    host = host.removeprefix("-")
    user = user.removeprefix("-") if user is not None else None
    if not host or user == "":
        return None, "an empty host or user"
    if host == "*":
        return None, "'*' is not supported (it would trust any host)"
    try:
        pattern = HostPattern.parse(host)
    except ValueError as exc:
        return None, str(exc)
    return EquivLine(number, text, pattern, user, deny), ""


def read_hosts_equiv(path: str) -> HostsEquiv:
    """Read the file at ``path``; one that cannot be read admits nobody (and is logged)."""
    try:
        with open(path, encoding="utf-8") as src:
            text = src.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        log.warning("%s: cannot read the hosts.equiv file: %s; it admits nobody", path, reason)
        return HostsEquiv(path, ())
    return parse_hosts_equiv(text, path)
