"""What the access-model tests share: peers, entries, policies and the refusals they give."""

from __future__ import annotations

import errno

import pytest

from rmtd.access import (
    AccessConfig,
    AccessDenied,
    AccessPolicy,
    Grant,
    HostPattern,
    Peer,
    ProxyEntry,
)

LOCAL = Peer("127.0.0.1", 1023, "client.example")


def entry(
    host: str = "*",
    remote: str = "alice",
    local: str = "alice",
    devices: tuple[str, ...] = ("alice/*.tap", "mua0"),
    mode: str = "read-write",
) -> ProxyEntry:
    assert mode in ("read-write", "read-only")
    return ProxyEntry(HostPattern.parse(host), remote, local, devices, mode)  # type: ignore[arg-type]


def policy(*entries: ProxyEntry, **settings: object) -> AccessPolicy:
    return AccessPolicy(AccessConfig(proxy=entries, **settings))  # type: ignore[arg-type]


def refusal(grant: Grant, name: str, write: bool) -> str:
    with pytest.raises(OSError) as caught:
        grant.check_open(name, write)
    assert caught.value.errno == errno.EACCES
    message = str(caught.value.strerror)
    assert "\n" not in message
    return message


def denial(pol: AccessPolicy, peer: Peer, remote: str, local: str, via_rsh: bool = True) -> str:
    with pytest.raises(AccessDenied) as caught:
        pol.admit(peer, remote, local, via_rsh=via_rsh)
    assert "\n" not in str(caught.value)
    return str(caught.value)
