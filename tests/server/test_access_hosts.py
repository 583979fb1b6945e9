"""The access model, continued: hosts.equiv, the screen before the handshake, IPv4-mapped peers."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

import pytest

from rmtd.access import (
    AccessDenied,
    AccessPolicy,
    HostPattern,
    Peer,
    ProxyEntry,
)
from tests.server.access_helpers import LOCAL, denial, entry, policy, refusal

# -- hosts.equiv ---------------------------------------------------------------------------------


def equiv_policy(tmp_path: Path, text: str, *entries: ProxyEntry) -> AccessPolicy:
    path = tmp_path / "hosts.equiv"
    path.write_text(text)
    return policy(*entries, hosts_equiv=str(path))


def test_hosts_equiv_admits_the_same_user_read_write_everywhere(tmp_path: Path) -> None:
    pol = equiv_policy(tmp_path, "# trusted\nclient.example\n")
    grant = pol.admit(LOCAL, "carol", "carol", via_rsh=True)
    grant.check_open("any/thing", write=True)
    assert grant.rule_for("x", True) == f"{tmp_path}/hosts.equiv line 2: client.example"
    message = denial(pol, LOCAL, "carol", "dave")
    assert message.endswith(f"as dave (no line of {tmp_path}/hosts.equiv admits it)")


def test_hosts_equiv_never_admits_root(tmp_path: Path) -> None:
    message = denial(equiv_policy(tmp_path, "127.0.0.1\n"), LOCAL, "root", "root")
    assert message.endswith(f"({tmp_path}/hosts.equiv is never used for root)")


def test_hosts_equiv_minus_forms_refuse_and_the_first_line_decides(tmp_path: Path) -> None:
    pol = equiv_policy(tmp_path, "client.example -carol\n-127.0.0.1\nclient.example\n")
    assert "refused by" in denial(pol, LOCAL, "carol", "carol")
    assert "line 2: -127.0.0.1" in denial(pol, LOCAL, "dave", "dave")


def test_hosts_equiv_with_a_user_admits_only_that_user_as_themself(tmp_path: Path) -> None:
    pol = equiv_policy(tmp_path, "client.example carol\n")
    pol.admit(LOCAL, "carol", "carol", via_rsh=True)
    denial(pol, LOCAL, "carol", "dave")
    denial(pol, LOCAL, "dave", "dave")


def test_a_proxy_entry_wins_over_hosts_equiv(tmp_path: Path) -> None:
    pol = equiv_policy(tmp_path, "client.example\n", entry(mode="read-only"))
    grant = pol.admit(LOCAL, "alice", "alice", via_rsh=True)
    assert "read-only" in refusal(grant, "alice/v.tap", write=True)


@pytest.mark.parametrize("line", ["+", "+ carol", "client.example +", "+@trusted", "@g", "a b c"])
def test_unsupported_hosts_equiv_lines_are_skipped_with_a_warning(
    tmp_path: Path, line: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="rmtd.hosts_equiv"):
        message = denial(equiv_policy(tmp_path, f"{line}\n"), LOCAL, "carol", "carol")
    assert "no line of" in message
    assert f"line 1: {line}" in caplog.text and "line ignored" in caplog.text


def test_an_unreadable_hosts_equiv_admits_nobody(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pol = policy(hosts_equiv=str(tmp_path / "missing"))
    with caplog.at_level(logging.WARNING, logger="rmtd.hosts_equiv"):
        denial(pol, LOCAL, "carol", "carol")
    assert "cannot read the hosts.equiv file" in caplog.text


# -- the screen: before the handshake -------------------------------------------------------------


def screening(pol: AccessPolicy, address: str, port: int, via_rsh: bool = True) -> str | None:
    try:
        pol.screen(address, port, via_rsh=via_rsh)
    except AccessDenied as exc:
        assert "\n" not in str(exc)
        return str(exc)
    return None


def test_the_screen_applies_rejected_addresses_and_networks_but_not_names() -> None:
    reject = tuple(HostPattern.parse(h) for h in ("192.0.2.0/24", "10.1.1.1", "client.example"))
    pol = policy(entry(), reject=reject)
    assert screening(pol, "192.0.2.9", 700) == (
        "192.0.2.9 is rejected by access.reject '192.0.2.0/24'"
    )
    assert screening(pol, "::ffff:10.1.1.1", 700) == (
        "10.1.1.1 is rejected by access.reject '10.1.1.1'"
    )
    assert screening(pol, "127.0.0.1", 700) is None  # its name is admit's business
    assert screening(policy(entry(), reject=(HostPattern.parse("*"),)), "127.0.0.1", 7)


def test_the_screen_applies_the_port_rule_through_rsh_only() -> None:
    pol = policy(entry())
    assert screening(pol, "127.0.0.1", 1023) is None
    assert "source port 1024 of ::1 is not privileged" in str(screening(pol, "::1", 1024))
    assert screening(pol, "127.0.0.1", 40000, via_rsh=False) is None
    assert screening(policy(entry(), require_privileged_port=False), "127.0.0.1", 40000) is None
    assert screening(AccessPolicy.open_to_all(), "192.0.2.1", 40000) is None


@pytest.mark.parametrize("port", [1, 511, 1024, 65535])
def test_an_unreserved_stderr_port_is_refused_under_the_port_rule(port: int) -> None:
    with pytest.raises(AccessDenied, match=f"stderr port {port} is not reserved"):
        policy(entry()).check_stderr_port(port)
    policy(entry(), require_privileged_port=False).check_stderr_port(port)
    AccessPolicy.open_to_all().check_stderr_port(port)


@pytest.mark.parametrize("port", [512, 1023])
def test_a_reserved_stderr_port_passes(port: int) -> None:
    policy(entry()).check_stderr_port(port)


# -- IPv4-mapped addresses -------------------------------------------------------------------------


def test_a_peer_keeps_an_ipv4_mapped_address_as_ipv4() -> None:
    assert Peer("::ffff:127.0.0.1", 1).address == "127.0.0.1"
    assert Peer("::FFFF:7f00:1", 1).describe() == "127.0.0.1"
    assert Peer("::1", 1).address == "::1"
    assert Peer("2001:db8::1", 1).address == "2001:db8::1"


@pytest.mark.parametrize(
    ("text", "network"),
    [
        ("::ffff:192.0.2.7", "192.0.2.7/32"),
        ("::ffff:192.0.2.0/120", "192.0.2.0/24"),
        ("::ffff:0:0/96", "0.0.0.0/0"),
        ("::/0", "::/0"),
    ],
)
def test_an_ipv4_mapped_entry_is_its_ipv4_network(text: str, network: str) -> None:
    pattern = HostPattern.parse(text)
    assert pattern.network == ipaddress.ip_network(network)
    assert pattern.text == text


def test_an_ipv4_mapped_entry_matches_an_ipv4_peer_and_is_rejected_by_the_screen() -> None:
    assert HostPattern.parse("::ffff:192.0.2.0/120").matches(Peer("192.0.2.9", 1))
    pol = policy(entry(host="::ffff:127.0.0.1"), reject=(HostPattern.parse("::ffff:10.0.0.0/104"),))
    assert pol.admit(Peer("127.0.0.1", 1), "alice", "alice", via_rsh=True).entries
    assert (
        screening(pol, "10.2.3.4", 1)
        == "10.2.3.4 is rejected by access.reject '::ffff:10.0.0.0/104'"
    )


def test_hosts_equiv_matches_hosts_by_the_same_rule_as_access(tmp_path: Path) -> None:
    pol = equiv_policy(tmp_path, "::ffff:127.0.0.1\n10.0.0.0/8\nTAPE.example.\n")
    pol.admit(Peer("::ffff:127.0.0.1", 1), "carol", "carol", via_rsh=True)
    pol.admit(Peer("127.0.0.1", 1), "carol", "carol", via_rsh=True)
    pol.admit(Peer("10.9.8.7", 1), "carol", "carol", via_rsh=True)
    pol.admit(Peer("192.0.2.1", 1, "tape.EXAMPLE"), "carol", "carol", via_rsh=True)
    denial(pol, Peer("192.0.2.1", 1), "carol", "carol")


def test_hosts_equiv_skips_a_star_or_malformed_host(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        pol = equiv_policy(tmp_path, "*\n10.0.0.1/8\n")
        denial(pol, LOCAL, "carol", "carol")
    assert "'*' is not supported" in caplog.text
    assert "has host bits set" in caplog.text
