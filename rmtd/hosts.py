"""Peers and host forms: the one host-matching rule of ``[access]`` and the hosts.equiv file.

An address is always compared in its plain form: an IPv4-mapped IPv6 address
(``::ffff:192.0.2.1``, what a dual-stack listener sees for an IPv4 client, RFC 4291 section
2.5.5.2) is its IPv4 address, both for a peer (:class:`Peer` normalises its address) and for a
configured address or network (:meth:`HostPattern.parse` normalises ``::ffff:192.0.2.0/120``
to ``192.0.2.0/24``). A host name is compared case-insensitively, without a trailing dot, with
the name the caller found for the peer; names are never resolved here.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_HOST_NAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?\.?\Z")
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def plain_address(text: str) -> str:
    """``text`` in the form rules compare: an IPv4-mapped IPv6 address as IPv4, else as given.

    A scope (``fe80::1%eth0``) or anything that is not an address is returned unchanged.
    """
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return text


def plain_network(network: Network) -> Network:
    """``network`` as rules compare it: inside ``::ffff:0:0/96``, the IPv4 network it maps."""
    if (
        isinstance(network, ipaddress.IPv6Network)
        and network.prefixlen >= _MAPPED.prefixlen
        and network.subnet_of(_MAPPED)
    ):
        low = int(network.network_address) & 0xFFFFFFFF
        return ipaddress.IPv4Network((low, network.prefixlen - _MAPPED.prefixlen))
    return network


@dataclass(frozen=True, slots=True)
class Peer:
    """The other end of a connection.

    Attributes:
        address: the client's IP address, as text (``"127.0.0.1"``, ``"::1"``); an
            IPv4-mapped address is kept in its IPv4 form (see :func:`plain_address`).
        port: its source port (rsh's privileged-port rule).
        name: its host name if known and forward-confirmed (the caller does any lookup).
    """

    address: str
    port: int
    name: str | None = None

    def __post_init__(self) -> None:
        # Normalised here, so every place that builds a Peer (listener, inetd, ssh) agrees.
        object.__setattr__(self, "address", plain_address(self.address))

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
        network: the network (an address is a one-address network), IPv4-mapped ones as
            IPv4; ``None`` for a name or ``*``.
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
                network = ipaddress.ip_network(text, strict=True)
            except ValueError as exc:
                raise ValueError(f"{text!r} is not an address or network: {exc}") from None
            return cls(text, network=plain_network(network))
        if not _HOST_NAME.match(text):
            raise ValueError(f"{text!r} is not a host name, an address, a network or '*'")
        return cls(text, name=text.lower().removesuffix("."))

    @property
    def is_address(self) -> bool:
        """Whether this is an address or network (matched without the peer's name)."""
        return self.network is not None

    def matches(self, peer: Peer) -> bool:
        """Whether ``peer`` is this host (never resolving a name)."""
        if self.network is not None:
            try:
                address = ipaddress.ip_address(plain_address(peer.address))
            except ValueError:
                return False
            return address in self.network
        if self.name is not None:
            return peer.name is not None and peer.name.lower().removesuffix(".") == self.name
        return True
