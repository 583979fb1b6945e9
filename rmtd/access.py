"""Who may use the server: the proxy database of the configuration's ``[access]`` table.

The OpenVMS RMT/RCD server trusts a proxy database (which remote user on which host may act as
which local user); rmtd keeps one in its TOML configuration::

    [access]
    case_insensitive = true            # user names: see "User names" below
    reject = ["badhost.example", "192.0.2.0/24"]   # names, addresses, networks
    hosts_equiv = ""                   # a hosts.equiv-style file; empty = not used
    require_privileged_port = true     # rsh's rule (connections through rsh only)
    [[access.proxy]]
    remote_host = "client.example"     # a name, an address, a network, or "*"
    remote_user = "alice"              # or "*"
    local_user = "alice"               # or "*" (never root: root must be named)
    devices = ["alice/*.tap", "mua0"]  # globs over names inside root, and drive names
    mode = "read-write"                # or "read-only"

Without an ``[access]`` table every connection and every open is allowed, as before access
control existed (:meth:`AccessPolicy.open_to_all`). With one, anything not granted is refused:
a table with no entries refuses everything.

A connection is decided by :meth:`AccessPolicy.admit`, in this order:

1. ``reject``: a peer matching any entry is refused before anything else.
2. ``require_privileged_port`` (default true): through rsh, a source port of 1024 or above is
   refused, as rshd refuses it (only root can bind a port below 1024 on the client).
3. Proxy entries: those whose ``remote_host``, ``remote_user`` and ``local_user`` all match
   are the session's rules (:class:`Grant`). Entries are kept in their order.
4. ``hosts_equiv``, only when no proxy entry applies (so a proxy entry's limits are never
   widened by it): see :mod:`rmtd.hosts_equiv`. A listed host's user may act as the local
   user of the same name, never root, with read-write access to every device.
5. Otherwise the connection is refused: "no proxy entry for alice@host as bob".

An open is decided by :meth:`Grant.check_open`: the first of the session's entries whose device
glob matches the name and whose mode permits the open allows it; otherwise ``EACCES`` with a
message naming the entry that is read-only, or saying no entry's devices match.

Hosts: ``"*"`` (any peer), an IP address, a network in CIDR form (v4 or v6, parsed by
:mod:`ipaddress`; host bits must be zero) or a host name, compared case-insensitively (and
without a trailing dot) with the name the caller found for the peer; names are never resolved
here. An IPv4-mapped IPv6 peer (``::ffff:192.0.2.1``) matches as its IPv4 address.

User names: ``"*"`` matches any user. With ``case_insensitive = true`` (the default, as the
seed's ``CASE_INSENSITIVE``) an entry written all in lower case or all in upper case matches
an incoming name case-insensitively (``alice`` and ``ALICE`` both match ``Alice``), while an
entry in mixed case (``AlIce``) matches only exactly; with ``false`` every match is exact.
``local_user = "*"`` never matches ``root``: giving root away takes an entry that names it.

Devices: each glob is matched per ``/``-separated segment with :func:`fnmatch.fnmatchcase`,
so ``*`` never crosses a ``/`` (``*.tap`` does not grant ``bob/x.tap``). A name of drive form
(``mua0``, ``MUA0:``) also matches a glob of drive form case-insensitively, a trailing colon
ignored on both sides.
"""

from __future__ import annotations

import errno
import fnmatch
import ipaddress
import re
from dataclasses import dataclass
from typing import Literal, get_args

from rmtd.hosts_equiv import EquivMatch, read_hosts_equiv

Mode = Literal["read-write", "read-only"]
MODES: tuple[str, ...] = get_args(Mode)
ROOT = "root"
PRIVILEGED_PORTS = 1024
"""rshd refuses a source port at or above this (``IPPORT_RESERVED``)."""

_DRIVE_FORM = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*:?\Z")  # as rmtd.config.DRIVE_NAME
_HOST_NAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?\Z")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class AccessDenied(Exception):  # noqa: N818 (the contract's name)
    """A refusal; ``str()`` is one line naming the rule (or the lack of one) that refused."""


@dataclass(frozen=True, slots=True)
class Peer:
    """The other end of a connection.

    Attributes:
        address: the client's IP address, as text (``"127.0.0.1"``, ``"::1"``).
        port: its source port (rsh's privileged-port rule).
        name: its host name if known (the caller does any reverse lookup).
    """

    address: str
    port: int
    name: str | None = None

    def describe(self) -> str:
        """The peer for messages: ``name (address)``, or the address alone."""
        if self.name and self.address:
            return f"{self.name} ({self.address})"
        return self.name or self.address or "an unknown host"


@dataclass(frozen=True, slots=True)
class HostPattern:
    """One host form of the configuration: ``*``, an address or network, or a host name.

    Attributes:
        text: the form as written.
        network: the network (an address is a one-address network); ``None`` for a name or ``*``.
        name: the host name, lower case, without a trailing dot; ``None`` for the other forms.
    """

    text: str
    network: Network | None = None
    name: str | None = None

    @classmethod
    def parse(cls, text: str) -> HostPattern:
        """Read a host form.

        Raises:
            ValueError: ``text`` is none of the forms; the message says why.
        """
        if text == "*":
            return cls(text)
        if any(c in text for c in ":/") or text.replace(".", "").isdigit():
            try:
                return cls(text, network=ipaddress.ip_network(text, strict=True))
            except ValueError as exc:
                raise ValueError(f"{text!r} is not an address or network: {exc}") from None
        if not _HOST_NAME.match(text):
            raise ValueError(f"{text!r} is not a host name, an address, a network or '*'")
        return cls(text, name=text.lower().removesuffix("."))

    def matches(self, peer: Peer) -> bool:
        """Whether ``peer`` is this host (never resolving a name)."""
        if self.network is not None:
            return any(addr in self.network for addr in _addresses(peer.address))
        if self.name is not None:
            return peer.name is not None and peer.name.lower().removesuffix(".") == self.name
        return True


def _addresses(text: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]:
    """The peer's address, and its IPv4 form too when it is IPv4-mapped; none if unparsable."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return ()
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return (address, address.ipv4_mapped)
    return (address,)


def user_matches(entry: str, name: str, case_insensitive: bool) -> bool:
    """Whether the incoming user ``name`` matches the configured ``entry`` (see the module doc)."""
    if entry in ("*", name):
        return True
    single_case = entry in (entry.lower(), entry.upper())
    return case_insensitive and single_case and entry.casefold() == name.casefold()


def device_matches(glob: str, name: str) -> bool:
    """Whether the device ``name`` is covered by ``glob`` (see the module doc)."""
    if _DRIVE_FORM.match(name) and "/" not in glob:
        drive = name.removesuffix(":").lower()
        if fnmatch.fnmatchcase(drive, glob.removesuffix(":").lower()):
            return True
    globs, parts = glob.split("/"), name.split("/")
    return len(globs) == len(parts) and all(map(fnmatch.fnmatchcase, parts, globs))


@dataclass(frozen=True, slots=True)
class ProxyEntry:
    """One ``[[access.proxy]]`` entry.

    Attributes:
        remote_host: the hosts it applies to.
        remote_user: the remote user (or ``*``).
        local_user: the local user the session acts as (or ``*``, which never means root).
        devices: globs over names inside the root, and drive names.
        mode: ``read-write`` or ``read-only``.
    """

    remote_host: HostPattern
    remote_user: str
    local_user: str
    devices: tuple[str, ...]
    mode: Mode

    def applies(
        self, peer: Peer, remote_user: str, local_user: str, case_insensitive: bool
    ) -> bool:
        """Whether the entry speaks for this peer, remote user and local user."""
        if self.local_user == "*" and local_user == ROOT:
            return False
        return (
            self.remote_host.matches(peer)
            and user_matches(self.remote_user, remote_user, case_insensitive)
            and user_matches(self.local_user, local_user, case_insensitive)
        )

    def covers(self, name: str) -> bool:
        """Whether one of the entry's globs matches the device ``name``."""
        return any(device_matches(glob, name) for glob in self.devices)

    def describe(self) -> str:
        """The entry in one line: ``alice@client.example as alice: alice/*.tap, mua0 read-only``."""
        who = f"{self.remote_user}@{self.remote_host.text} as {self.local_user}"
        return f"{who}: {', '.join(self.devices)} {self.mode}"


@dataclass(frozen=True, slots=True)
class AccessConfig:
    """The ``[access]`` table.

    Attributes:
        case_insensitive: the user-name rule (see the module doc).
        reject: hosts refused before anything else.
        hosts_equiv: a hosts.equiv-style file's path; ``None``: not used.
        require_privileged_port: through rsh, refuse a source port of 1024 or above.
        proxy: the proxy entries, in order.
    """

    case_insensitive: bool = True
    reject: tuple[HostPattern, ...] = ()
    hosts_equiv: str | None = None
    require_privileged_port: bool = True
    proxy: tuple[ProxyEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class Grant:
    """What one admitted session may do.

    Attributes:
        remote_user: the remote user, as the client sent it.
        local_user: the local user the session acts as.
        host: the peer, for messages.
        entries: the proxy entries that apply, with their 1-based numbers.
        unrestricted: why every open is allowed (``"no [access] table"``, a hosts.equiv line);
            ``None``: only what ``entries`` grant (none: nothing).
    """

    remote_user: str
    local_user: str
    host: str = ""
    entries: tuple[tuple[int, ProxyEntry], ...] = ()
    unrestricted: str | None = None

    @property
    def who(self) -> str:
        """``alice@host as bob``, for messages."""
        return f"{self.remote_user}@{self.host or '?'} as {self.local_user}"

    def rule_for(self, name: str, write: bool) -> str:
        """The rule that allows opening ``name`` (for writing when ``write``).

        Returns:
            The rule, in one line, for the audit log and ``rmtd access check``.

        Raises:
            OSError: ``EACCES``, one line naming the read-only entry or saying none matches.
        """
        if self.unrestricted is not None:
            return self.unrestricted
        read_only: tuple[int, ProxyEntry] | None = None
        for number, entry in self.entries:
            if not entry.covers(name):
                continue
            if not write or entry.mode == "read-write":
                return f"proxy entry {number}: {entry.describe()}"
            read_only = read_only or (number, entry)
        if read_only is not None:
            number, entry = read_only
            why = f"read-only for {self.who} by proxy entry {number} ({entry.describe()})"
            raise OSError(errno.EACCES, f"{name}: {why}")
        numbers = ", ".join(str(number) for number, _ in self.entries)
        which = f"entries {numbers}" if len(self.entries) > 1 else f"entry {numbers or '(none)'}"
        why = f"not granted to {self.who} (no device glob of proxy {which} matches)"
        raise OSError(errno.EACCES, f"{name}: {why}")

    def check_open(self, name: str, write: bool) -> None:
        """Refuse the open unless ``name`` may be opened so.

        Args:
            name: the device name as the client sent it without qualifiers (a path inside the
                root, ``alice/vol1.tap``, or a drive name, ``mua0``), already normalised by
                the caller (no leading ``/``, no ``..``).
            write: the open is for writing.

        Raises:
            OSError: ``EACCES``, one line naming the rule that refused.
        """
        self.rule_for(name, write)

    def describe(self) -> str:
        """The grant in one line, for the audit log and ``rmtd access check``."""
        if self.unrestricted is not None:
            return f"{self.who}: every device, read-write ({self.unrestricted})"
        rules = "; ".join(f"proxy entry {n}: {e.describe()}" for n, e in self.entries)
        return f"{self.who}: {rules or 'nothing'}"


class AccessPolicy:
    """Decides connections from the configuration's ``[access]`` table.

    Args:
        config: the table; build :meth:`open_to_all` when the configuration has none.
    """

    def __init__(self, config: AccessConfig | None) -> None:
        self._config = config

    @classmethod
    def open_to_all(cls) -> AccessPolicy:
        """The policy without an ``[access]`` table: every open allowed, no port rule."""
        return cls(None)

    @property
    def enforced(self) -> bool:
        """Whether an ``[access]`` table is in force (``False`` for :meth:`open_to_all`)."""
        return self._config is not None

    @property
    def config(self) -> AccessConfig | None:
        """The ``[access]`` table in force, if any."""
        return self._config

    def admit(self, peer: Peer, remote_user: str, local_user: str, *, via_rsh: bool) -> Grant:
        """Decide the connection (the order is in the module doc).

        Args:
            peer: the client's address, source port and name.
            remote_user: the user on the client (rsh's first user field, ssh's ``--user``).
            local_user: the user the session acts as.
            via_rsh: the connection came through the rsh protocol (the port rule applies).

        Returns:
            What the session may do.

        Raises:
            AccessDenied: the peer is rejected, its port is not privileged, or nothing admits
                it; the message names the rule.
        """
        host = peer.describe()
        config = self._config
        if config is None:
            return Grant(remote_user, local_user, host, unrestricted="no [access] table")
        for pattern in config.reject:
            if pattern.matches(peer):
                raise AccessDenied(f"{host} is rejected by access.reject {pattern.text!r}")
        if via_rsh and config.require_privileged_port and peer.port >= PRIVILEGED_PORTS:
            raise AccessDenied(
                f"source port {peer.port} of {host} is not privileged (below "
                f"{PRIVILEGED_PORTS}), as access.require_privileged_port demands"
            )
        entries = tuple(
            (number, entry)
            for number, entry in enumerate(config.proxy, 1)
            if entry.applies(peer, remote_user, local_user, config.case_insensitive)
        )
        if entries:
            return Grant(remote_user, local_user, host, entries)
        equiv = self._equiv(peer, remote_user, local_user)
        if equiv is not None and equiv.allowed:
            return Grant(remote_user, local_user, host, unrestricted=equiv.rule)
        why = f"no proxy entry for {remote_user}@{host} as {local_user}"
        if equiv is not None:
            why += f" ({equiv.rule})"
        raise AccessDenied(why)

    def _equiv(self, peer: Peer, remote_user: str, local_user: str) -> EquivMatch | None:
        config = self._config
        if config is None or config.hosts_equiv is None:
            return None
        return read_hosts_equiv(config.hosts_equiv).match(
            peer.address, peer.name, remote_user, local_user
        )
