"""STAND-IN for the access model (issue 7): the names of the shared contract, minimal rules.

Written by the "ssh" helper so that its code and tests run before the "access" helper's real
module is merged; the lead takes the real one. It implements just enough of the issue's
rules for the ssh forced-command tests: the reject list (names, addresses, networks), proxy
entries (host, user, devices, mode) with the case rule. No hosts.equiv, no privileged port.
"""

from __future__ import annotations

import errno
import fnmatch
import ipaddress
from dataclasses import dataclass, field


class AccessDenied(Exception):  # noqa: N818 (the contract's name)
    """A refusal; str() is one line naming the rule (or the lack of one) that refused."""


@dataclass(frozen=True, slots=True)
class Peer:
    """The client at the other end.

    Attributes:
        address: its IP address, as text.
        port: its source port.
        name: its host name if known.
    """

    address: str
    port: int
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ProxyEntry:
    """One ``[[access.proxy]]`` entry (stand-in)."""

    remote_host: str = "*"
    remote_user: str = "*"
    local_user: str = "*"
    devices: tuple[str, ...] = ()
    mode: str = "read-only"


@dataclass(frozen=True, slots=True)
class AccessConfig:
    """The ``[access]`` table (stand-in)."""

    case_insensitive: bool = True
    reject: tuple[str, ...] = ()
    hosts_equiv: str = ""
    require_privileged_port: bool = True
    proxy: tuple[ProxyEntry, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Grant:
    """What one admitted session may do."""

    remote_user: str
    local_user: str
    entry: ProxyEntry | None = None

    def check_open(self, name: str, write: bool) -> None:
        """Raise OSError(EACCES, one line naming the rule) unless ``name`` may be opened so."""
        if self.entry is None:
            return
        rule = f"proxy {self.entry.remote_user}@{self.entry.remote_host}"
        if not any(fnmatch.fnmatchcase(name, glob) for glob in self.entry.devices):
            raise OSError(errno.EACCES, f"{name}: not among the devices granted by {rule}")
        if write and self.entry.mode != "read-write":
            raise OSError(errno.EACCES, f"{name}: {rule} grants read-only access")

    def describe(self) -> str:
        """The grant in one line."""
        if self.entry is None:
            return f"{self.remote_user} as {self.local_user}: open to all"
        return f"{self.remote_user} as {self.local_user}: {self.entry}"


class AccessPolicy:
    """Built from the config's [access] table; ``open_to_all()`` when there is none."""

    def __init__(self, config: AccessConfig | None) -> None:
        self._config = config

    @classmethod
    def open_to_all(cls) -> AccessPolicy:
        """Every open allowed."""
        return cls(None)

    @property
    def enforced(self) -> bool:
        """False for open_to_all."""
        return self._config is not None

    def admit(self, peer: Peer, remote_user: str, local_user: str, *, via_rsh: bool) -> Grant:
        """Decide the connection. Raises AccessDenied."""
        config = self._config
        if config is None:
            return Grant(remote_user, local_user)
        for rule in config.reject:
            if _host_matches(rule, peer):
                raise AccessDenied(f"{peer.address}: rejected by reject rule {rule!r}")
        for entry in config.proxy:
            if not _host_matches(entry.remote_host, peer):
                continue
            if not _user_matches(entry.remote_user, remote_user, config.case_insensitive):
                continue
            if entry.local_user not in ("*", local_user):
                continue
            return Grant(remote_user, local_user, entry)
        raise AccessDenied(f"{remote_user}@{peer.address}: no proxy entry grants access")


def parse_access(table: dict[str, object]) -> AccessConfig:
    """The ``[access]`` table as an :class:`AccessConfig` (stand-in: ValueError if malformed)."""
    proxies = []
    for raw in table.get("proxy", []):  # type: ignore[attr-defined]
        entry = dict(raw)
        entry["devices"] = tuple(entry.get("devices", ()))
        proxies.append(ProxyEntry(**entry))
    return AccessConfig(
        case_insensitive=bool(table.get("case_insensitive", True)),
        reject=tuple(table.get("reject", ())),  # type: ignore[arg-type]
        hosts_equiv=str(table.get("hosts_equiv", "")),
        require_privileged_port=bool(table.get("require_privileged_port", True)),
        proxy=tuple(proxies),
    )


def _host_matches(rule: str, peer: Peer) -> bool:
    if rule == "*" or rule in (peer.address, peer.name):
        return True
    try:
        return ipaddress.ip_address(peer.address) in ipaddress.ip_network(rule, strict=False)
    except ValueError:
        return False


def _user_matches(rule: str, user: str, case_insensitive: bool) -> bool:
    if rule in ("*", user):
        return True
    folded = rule in (rule.lower(), rule.upper())
    return case_insensitive and folded and user.lower() == rule.lower()
