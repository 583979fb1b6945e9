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
    local_user = "alice"               # or "*": the remote user's own account, never root
    devices = ["alice/*.tap", "mua0"]  # globs over names inside root, and drive names
    mode = "read-write"                # or "read-only"

Without an ``[access]`` table every connection and every open is allowed, as before access
control existed (:meth:`AccessPolicy.open_to_all`). With one, anything not granted is refused:
a table with no entries refuses everything.

A connection is decided by :meth:`AccessPolicy.admit`, in this order:

1. ``reject``: a peer matching any entry is refused before anything else.
2. ``require_privileged_port`` (default true): through rsh, a source port of 1024 or above is
   refused, as rshd refuses it (only root can bind a port below 1024 on the client); so is a
   standard-error port outside 512..1023 (:meth:`AccessPolicy.check_stderr_port`).
3. Proxy entries: those whose ``remote_host``, ``remote_user`` and ``local_user`` all match
   are the session's rules (:class:`Grant`), in their order. The first one chooses the local
   account the session runs as, spelled as the entry spells it (never as the client did);
   later ones join the grant only when they name that same account.
4. ``hosts_equiv``, only when no proxy entry applies (so a proxy entry's limits are never
   widened by it): see :mod:`rmtd.hosts_equiv`. A listed host's user may act as the local
   user of the same name, never root, with read-write access to every device.
5. Otherwise the connection is refused: "no proxy entry for alice@host as bob".

An open is decided by :meth:`Grant.check_open`: the first of the session's entries whose device
glob matches the name and whose mode permits the open allows it; otherwise ``EACCES`` with a
message naming the entry that is read-only, or saying no entry's devices match.

Rules 1 and 2, for addresses only, also run as :meth:`AccessPolicy.screen` the moment a
connection is accepted, before the listener reads a handshake or connects back to the client.

Hosts (:mod:`rmtd.hosts`): ``"*"`` (any peer), an IP address, a network in CIDR form (v4 or
v6, parsed by :mod:`ipaddress`; host bits must be zero) or a host name, compared
case-insensitively (and without a trailing dot) with the name the caller found for the peer;
names are never resolved here. IPv4-mapped IPv6 addresses (``::ffff:192.0.2.1``), of peers
and of entries, are taken as their IPv4 form. A name is matched only when the caller has
forward-confirmed it (the rsh transport: the reverse lookup's name must resolve back to the
address, as inetutils rshd checks); never in ssh mode, where ``SSH_CONNECTION`` has only an
address, so an entry for a name admits nobody through ssh.

User names: ``"*"`` matches any user. With ``case_insensitive = true`` (the default, as the
seed's ``CASE_INSENSITIVE``) an entry written all in lower case or all in upper case matches
an incoming name case-insensitively (``alice`` and ``ALICE`` both match ``Alice``), while an
entry in mixed case (``AlIce``) matches only exactly; with ``false`` every match is exact.
``local_user = "*"`` means the local account **of the same name** as the remote user (as
hosts.equiv does): the account database (``pwd``) is asked for the remote user's exact name,
then (with ``case_insensitive``) its all-lower and all-upper case spellings, in that order; the
first that exists is the session's account, as the database spells it, and the name the client
asked for must match it under the case rule. Without such an account the entry does not apply.
It never means ``root``: giving root away takes an entry that names it.

Devices: a path's name (:func:`grant_name`) is matched per ``/``-separated segment with
:func:`fnmatch.fnmatchcase`, exactly, so ``*`` never crosses a ``/`` (``*.tap`` does not grant
``bob/x.tap``) and ``mua0`` does not grant the file ``Mua0:``. Only a configured drive
(``check_open(..., drive=True)``) matches a glob without ``/`` case-insensitively, a trailing
colon ignored on both sides (``mua0`` grants the drive ``MUA0:``). A name with a ``..``
component or a leading ``/`` is refused outright, never matched.
"""

from __future__ import annotations

import errno
import fnmatch
import pwd
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

from rmtd.hosts import HostPattern, Network, Peer
from rmtd.hosts_equiv import EquivMatch, read_hosts_equiv

__all__ = [
    "MODES",
    "PRIVILEGED_PORTS",
    "ROOT",
    "STDERR_PORTS",
    "AccessConfig",
    "AccessDenied",
    "AccessPolicy",
    "Accounts",
    "Grant",
    "HostPattern",
    "Mode",
    "Network",
    "Peer",
    "ProxyEntry",
    "device_matches",
    "grant_name",
    "same_name_account",
    "system_account",
    "user_matches",
]

Mode = Literal["read-write", "read-only"]
MODES: tuple[str, ...] = get_args(Mode)
ROOT = "root"
PRIVILEGED_PORTS = 1024
"""rshd refuses a source port at or above this (``IPPORT_RESERVED``)."""

Accounts = Callable[[str], str | None]
"""Looks a local account up by one spelling: its name as the account database has it, or None."""

STDERR_PORTS = range(512, PRIVILEGED_PORTS)
"""Where a client's stderr port must be under the port rule (``rresvport(3)``'s range)."""


class AccessDenied(Exception):  # noqa: N818 (the contract's name)
    """A refusal; ``str()`` is one line naming the rule (or the lack of one) that refused."""


def system_account(spelling: str) -> str | None:
    """The account ``spelling`` names in the system's database (``pwd``), or ``None``."""
    try:
        return pwd.getpwnam(spelling).pw_name
    except KeyError:
        return None


def same_name_account(remote_user: str, case_insensitive: bool, accounts: Accounts) -> str | None:
    """The local account of the same name as ``remote_user``, as ``local_user = "*"`` means.

    The exact spelling is tried first, then (with ``case_insensitive``) the all-lower and the
    all-upper case ones, the forms the case rule lets a name match; the account database's own
    spelling is returned, never the client's.
    """
    spellings = [remote_user]
    if case_insensitive:
        spellings += [remote_user.lower(), remote_user.upper()]
    for spelling in dict.fromkeys(spellings):
        account = accounts(spelling)
        if account is not None:
            return account
    return None


def grant_name(spec_name: str) -> str:
    """The name a grant checks for the device name ``spec_name`` (qualifiers already removed).

    The opener and ``rmtd access check`` both use it, so the check says what an open would do:
    no leading ``/`` (every name is inside the root), no ``.`` or empty segments. A ``..`` is
    kept, not folded away as :func:`os.path.normpath` would (``a/../b`` is not ``b`` when ``a``
    is a symbolic link), so that :meth:`Grant.check_open` refuses it.
    """
    return "/".join(part for part in spec_name.split("/") if part not in ("", "."))


def user_matches(entry: str, name: str, case_insensitive: bool) -> bool:
    """Whether the incoming user ``name`` matches the configured ``entry`` (see the module doc)."""
    if entry in ("*", name):
        return True
    single_case = entry in (entry.lower(), entry.upper())
    return case_insensitive and single_case and entry.casefold() == name.casefold()


def device_matches(glob: str, name: str, drive: bool = False) -> bool:
    """Whether the device ``name`` is covered by ``glob`` (see the module doc).

    Args:
        glob: one of an entry's device globs.
        name: the device name, as :func:`grant_name` gives it, or a configured drive's name.
        drive: ``name`` is a configured drive: matched case-insensitively, a trailing colon
            ignored on both sides (``mua0`` covers ``MUA0:``); a path never is.
    """
    if drive:
        if "/" in glob:
            return False
        return fnmatch.fnmatchcase(name.removesuffix(":").lower(), glob.removesuffix(":").lower())
    globs, parts = glob.split("/"), name.split("/")
    return len(globs) == len(parts) and all(map(fnmatch.fnmatchcase, parts, globs))


@dataclass(frozen=True, slots=True)
class ProxyEntry:
    """One ``[[access.proxy]]`` entry.

    Attributes:
        remote_host: the hosts it applies to.
        remote_user: the remote user (or ``*``).
        local_user: the local user the session acts as (or ``*``: the local account of the
            same name as the remote user, never root).
        devices: globs over names inside the root, and drive names.
        mode: ``read-write`` or ``read-only``.
    """

    remote_host: HostPattern
    remote_user: str
    local_user: str
    devices: tuple[str, ...]
    mode: Mode

    def account(
        self, remote_user: str, local_user: str, case_insensitive: bool, accounts: Accounts
    ) -> str | None:
        """The local account this entry lets ``remote_user`` act as, asking for ``local_user``.

        Returns:
            The entry's own ``local_user`` spelling, or for ``*`` the account database's
            spelling of the remote user's name; ``None`` when the entry does not apply to
            these users (the host is :meth:`applies`'s business).
        """
        if not user_matches(self.remote_user, remote_user, case_insensitive):
            return None
        account: str | None = self.local_user
        if self.local_user == "*":
            account = same_name_account(remote_user, case_insensitive, accounts)
            if account is None or account == ROOT:
                return None
        assert account is not None
        return account if user_matches(account, local_user, case_insensitive) else None

    def covers(self, name: str, drive: bool = False) -> bool:
        """Whether one of the entry's globs matches the device ``name``."""
        return any(device_matches(glob, name, drive) for glob in self.devices)

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
        local_user: the local account the session acts as: the entry's own spelling (or, for
            ``*``, the account database's), never the client's.
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

    def rule_for(self, name: str, write: bool, *, drive: bool = False) -> str:
        """The rule that allows opening ``name`` (for writing when ``write``).

        Args:
            name: the device name (see :meth:`check_open`).
            write: the open is for writing.
            drive: ``name`` is a configured drive (see :func:`device_matches`).

        Returns:
            The rule, in one line, for the audit log and ``rmtd access check``.

        Raises:
            OSError: ``EACCES``, one line naming the read-only entry or saying none matches.
        """
        if name.startswith("/") or ".." in name.split("/"):
            # Never matched against a glob: "*/x" must not cover "../x" (the root is the limit).
            raise OSError(errno.EACCES, f"{name}: a name with '..' or a leading '/' is refused")
        if self.unrestricted is not None:
            return self.unrestricted
        read_only: tuple[int, ProxyEntry] | None = None
        for number, entry in self.entries:
            if not entry.covers(name, drive):
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

    def check_open(self, name: str, write: bool, *, drive: bool = False) -> None:
        """Refuse the open unless ``name`` may be opened so.

        Args:
            name: the device name as :func:`grant_name` gives it (a path inside the root,
                ``alice/vol1.tap``), or a configured drive's name (``mua0``) with ``drive``.
                A name with a ``..`` component or a leading ``/`` is always refused.
            write: the open is for writing.
            drive: ``name`` is a configured drive: the drive form matches (case and a
                trailing colon ignored); a path matches its globs exactly.

        Raises:
            OSError: ``EACCES``, one line naming the rule that refused.
        """
        self.rule_for(name, write, drive=drive)

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
        accounts: looks local accounts up, for ``local_user = "*"`` (default: ``pwd``).
    """

    def __init__(self, config: AccessConfig | None, accounts: Accounts = system_account) -> None:
        self._config = config
        self._accounts = accounts

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

    def screen(self, address: str, port: int, *, via_rsh: bool) -> None:
        """The cheap first look at a connection, before anything is read or connected back.

        Applies ``reject``'s addresses and networks (names need a lookup, so
        :meth:`admit` applies them) and, through rsh, the privileged-port rule.

        Raises:
            AccessDenied: the message names the rule.
        """
        config = self._config
        if config is None:
            return
        peer = Peer(address, port)
        _check_reject(config, peer, names=False)
        _check_port(config, peer, via_rsh)

    def check_stderr_port(self, port: int) -> None:
        """Under the privileged-port rule, refuse a stderr port outside 512..1023.

        inetutils ``rshd`` refuses it ("2nd port not reserved"): a client that could not bind
        a reserved port is not root, and the server must not connect back, as root and from a
        privileged port, to whatever port a user names.

        Raises:
            AccessDenied: the message names the rule.
        """
        config = self._config
        if config is None or not config.require_privileged_port or port in STDERR_PORTS:
            return
        raise AccessDenied(
            f"stderr port {port} is not reserved ({STDERR_PORTS.start} to "
            f"{STDERR_PORTS.stop - 1}), as access.require_privileged_port demands"
        )

    def admit(self, peer: Peer, remote_user: str, local_user: str, *, via_rsh: bool) -> Grant:
        """Decide the connection (the order is in the module doc).

        Args:
            peer: the client's address, source port and (forward-confirmed) name.
            remote_user: the user on the client (rsh's first user field, ssh's ``--user``).
            local_user: the user the client asks to act as.
            via_rsh: the connection came through the rsh protocol (the port rule applies).

        Returns:
            What the session may do, as which local account.

        Raises:
            AccessDenied: the peer is rejected, its port is not privileged, or nothing admits
                it; the message names the rule.
        """
        host = peer.describe()
        config = self._config
        if config is None:
            return Grant(remote_user, local_user, host, unrestricted="no [access] table")
        _check_reject(config, peer, names=True)
        _check_port(config, peer, via_rsh)
        account: str | None = None
        entries: list[tuple[int, ProxyEntry]] = []
        for number, entry in enumerate(config.proxy, 1):
            if not entry.remote_host.matches(peer):
                continue
            found = entry.account(remote_user, local_user, config.case_insensitive, self._accounts)
            # The first entry that applies chooses the account; later ones add to the grant
            # only for that same account (a session runs as one user).
            if found is not None and account in (None, found):
                account = found
                entries.append((number, entry))
        if account is not None:
            return Grant(remote_user, account, host, tuple(entries))
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
        return read_hosts_equiv(config.hosts_equiv).match(peer, remote_user, local_user)


def _check_reject(config: AccessConfig, peer: Peer, *, names: bool) -> None:
    for pattern in config.reject:
        if (names or pattern.name is None) and pattern.matches(peer):
            raise AccessDenied(f"{peer.describe()} is rejected by access.reject {pattern.text!r}")


def _check_port(config: AccessConfig, peer: Peer, via_rsh: bool) -> None:
    if via_rsh and config.require_privileged_port and peer.port >= PRIVILEGED_PORTS:
        raise AccessDenied(
            f"source port {peer.port} of {peer.describe()} is not privileged (below "
            f"{PRIVILEGED_PORTS}), as access.require_privileged_port demands"
        )
