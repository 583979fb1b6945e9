"""The proxy database: every rule of rmtd.access and every refusal message."""

from __future__ import annotations

import errno
import ipaddress
import logging
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rmtd.access import (
    AccessConfig,
    AccessDenied,
    AccessPolicy,
    Accounts,
    Grant,
    HostPattern,
    Peer,
    ProxyEntry,
    device_matches,
    grant_name,
    user_matches,
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


# -- open to all ---------------------------------------------------------------------------------


def test_open_to_all_allows_every_open_and_ignores_the_port_rule() -> None:
    pol = AccessPolicy.open_to_all()
    assert not pol.enforced
    grant = pol.admit(Peer("203.0.113.9", 40000), "eve", "root", via_rsh=True)
    grant.check_open("anything/at/all", write=True)
    assert grant.rule_for("mua0", write=True) == "no [access] table"
    assert "every device" in grant.describe()


def test_an_access_table_without_entries_refuses_everything() -> None:
    pol = policy()
    assert pol.enforced
    message = denial(pol, LOCAL, "alice", "alice")
    assert message == "no proxy entry for alice@client.example (127.0.0.1) as alice"


def test_a_bare_grant_allows_nothing() -> None:
    assert "no device glob of proxy entry (none)" in refusal(Grant("a", "a"), "x", False)


# -- admission -----------------------------------------------------------------------------------


def test_a_rejected_network_is_refused_before_a_matching_entry() -> None:
    pol = policy(entry(), reject=(HostPattern.parse("127.0.0.0/8"),))
    message = denial(pol, LOCAL, "alice", "alice")
    assert message == "client.example (127.0.0.1) is rejected by access.reject '127.0.0.0/8'"


def test_a_rejected_name_is_refused_and_an_unnamed_peer_is_not() -> None:
    pol = policy(entry(), reject=(HostPattern.parse("Client.Example."),))
    assert "rejected by access.reject 'Client.Example.'" in denial(pol, LOCAL, "alice", "alice")
    pol.admit(Peer("127.0.0.1", 1023), "alice", "alice", via_rsh=True)


def test_an_unprivileged_port_is_refused_through_rsh_only() -> None:
    pol = policy(entry())
    message = denial(pol, Peer("127.0.0.1", 1024), "alice", "alice")
    assert message == (
        "source port 1024 of 127.0.0.1 is not privileged (below 1024), "
        "as access.require_privileged_port demands"
    )
    pol.admit(Peer("127.0.0.1", 1024), "alice", "alice", via_rsh=False)
    pol.admit(Peer("127.0.0.1", 1023), "alice", "alice", via_rsh=True)
    relaxed = policy(entry(), require_privileged_port=False)
    relaxed.admit(Peer("127.0.0.1", 50000), "alice", "alice", via_rsh=True)


def test_an_unknown_user_is_refused_naming_who_and_as_whom() -> None:
    message = denial(policy(entry()), Peer("::1", 1), "mallory", "alice")
    assert message == "no proxy entry for mallory@::1 as alice"


def test_the_local_user_must_match_too() -> None:
    assert "as bob" in denial(policy(entry()), LOCAL, "alice", "bob")


def accounts(*names: str) -> Accounts:
    """An account database holding ``names``."""
    return lambda spelling: spelling if spelling in names else None


def star_policy(*names: str, **settings: object) -> AccessPolicy:
    config = AccessConfig(proxy=(entry(remote="*", local="*"),), **settings)  # type: ignore[arg-type]
    return AccessPolicy(config, accounts(*names))


def test_a_star_local_user_never_means_root() -> None:
    pol = star_policy("root", "eve")
    assert pol.admit(LOCAL, "eve", "eve", via_rsh=True).local_user == "eve"
    assert "as root" in denial(pol, LOCAL, "eve", "root")
    assert "as root" in denial(pol, LOCAL, "root", "root")
    assert "as root" in denial(pol, LOCAL, "ROOT", "root")
    policy(entry(local="root")).admit(LOCAL, "alice", "root", via_rsh=True)


def test_a_star_local_user_is_the_remote_users_own_account_never_another() -> None:
    pol = star_policy("eve", "operator", "alice")
    assert "no proxy entry for eve@" in denial(pol, LOCAL, "eve", "operator")
    assert "as alice" in denial(pol, LOCAL, "eve", "alice")
    assert pol.admit(LOCAL, "alice", "alice", via_rsh=True).local_user == "alice"


def test_a_star_local_user_follows_the_case_rule_in_the_account_databases_spelling() -> None:
    pol = star_policy("alice", "BOB", "Carol")
    assert pol.admit(LOCAL, "Alice", "alice", via_rsh=True).local_user == "alice"
    assert pol.admit(LOCAL, "Alice", "ALICE", via_rsh=True).local_user == "alice"
    assert pol.admit(LOCAL, "bob", "bob", via_rsh=True).local_user == "BOB"
    assert pol.admit(LOCAL, "Carol", "Carol", via_rsh=True).local_user == "Carol"
    denial(pol, LOCAL, "carol", "carol")  # mixed case: exact only, and there is no "carol"
    denial(pol, LOCAL, "Carol", "carol")
    denial(pol, LOCAL, "dave", "dave")  # no such account: the entry does not apply
    strict = star_policy("alice", **{"case_insensitive": False})
    denial(strict, LOCAL, "Alice", "alice")
    assert strict.admit(LOCAL, "alice", "alice", via_rsh=True).local_user == "alice"


def test_a_star_local_user_prefers_the_exact_then_lower_then_upper_spelling() -> None:
    both = star_policy("alice", "ALICE")
    assert both.admit(LOCAL, "alice", "ALICE", via_rsh=True).local_user == "alice"
    assert both.admit(LOCAL, "ALICE", "ALICE", via_rsh=True).local_user == "ALICE"
    assert both.admit(LOCAL, "Alice", "ALICE", via_rsh=True).local_user == "alice"
    assert star_policy("ALICE").admit(LOCAL, "Alice", "alice", via_rsh=True).local_user == "ALICE"


def test_the_grant_names_the_entrys_account_never_the_clients_spelling() -> None:
    grant = policy(entry()).admit(LOCAL, "alice", "ALICE", via_rsh=True)
    assert grant.local_user == "alice"
    assert grant.who.endswith("as alice")
    upper = policy(entry(remote="*", local="ALICE")).admit(LOCAL, "x", "Alice", via_rsh=True)
    assert upper.local_user == "ALICE"


def test_the_first_applying_entry_chooses_the_account_and_others_join_only_for_it() -> None:
    pol = AccessPolicy(
        AccessConfig(
            proxy=(
                entry(local="ALICE", devices=("first",)),
                entry(local="alice", devices=("second",)),
                entry(local="ALICE", devices=("third",)),
            )
        )
    )
    grant = pol.admit(LOCAL, "alice", "Alice", via_rsh=True)
    assert grant.local_user == "ALICE"
    assert [number for number, _ in grant.entries] == [1, 3]
    grant.check_open("third", False)
    assert "not granted" in refusal(grant, "second", False)


def test_host_forms_address_network_name_and_star() -> None:
    peer = Peer("192.0.2.7", 1, "Tape.Example")
    for host in ("*", "192.0.2.7", "192.0.2.0/24", "tape.example", "TAPE.EXAMPLE."):
        assert HostPattern.parse(host).matches(peer), host
    for host in ("192.0.2.8", "192.0.3.0/24", "other.example", "2001:db8::/32"):
        assert not HostPattern.parse(host).matches(peer), host


def test_an_ipv4_mapped_peer_matches_its_ipv4_network() -> None:
    assert HostPattern.parse("192.0.2.0/24").matches(Peer("::ffff:192.0.2.1", 1))


def test_a_name_is_never_resolved_so_an_address_entry_misses_a_name_only_peer() -> None:
    assert not HostPattern.parse("127.0.0.1").matches(Peer("", 1, "localhost"))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("192.0.2.1/24", "has host bits set"),
        ("300.1.1.1", "is not an address or network"),
        ("2001:db8::zz", "is not an address or network"),
        ("bad host", "is not a host name, an address, a network or '*'"),
        ("*.example", "is not a host name"),
        ("", "is not a host name"),
    ],
)
def test_bad_host_forms_are_refused(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)):
        HostPattern.parse(text)


# -- user names ----------------------------------------------------------------------------------


def test_the_case_rule() -> None:
    assert user_matches("alice", "Alice", True)
    assert user_matches("ALICE", "Alice", True)
    assert user_matches("ALICE", "alice", True)
    assert not user_matches("AlIce", "Alice", True)
    assert user_matches("AlIce", "AlIce", True)
    assert not user_matches("alice", "Alice", False)
    assert user_matches("*", "anyone", False)


def test_mixed_case_with_case_insensitive_false_is_refused_with_a_message() -> None:
    pol = policy(entry(), case_insensitive=False)
    assert denial(pol, LOCAL, "Alice", "alice").startswith("no proxy entry for Alice@")
    pol.admit(LOCAL, "alice", "alice", via_rsh=True)


def test_case_insensitive_by_default() -> None:
    grant = policy(entry(remote="ALICE")).admit(LOCAL, "Alice", "ALICE", via_rsh=True)
    assert (grant.remote_user, grant.local_user) == ("Alice", "alice")


names = st.text(st.sampled_from("aAbBzZ0_-ßİ"), min_size=1, max_size=6)


@given(entry_name=names, name=names, insensitive=st.booleans())
def test_the_case_rule_property(entry_name: str, name: str, insensitive: bool) -> None:
    single_case = entry_name in (entry_name.lower(), entry_name.upper())
    expected = entry_name == name or (
        insensitive and single_case and entry_name.casefold() == name.casefold()
    )
    assert user_matches(entry_name, name, insensitive) == expected
    if insensitive and single_case:
        assert user_matches(entry_name, name.swapcase(), True) == (
            entry_name.casefold() == name.swapcase().casefold()
        )


# -- hosts: the property -------------------------------------------------------------------------

v4_networks = st.builds(
    lambda a, p: ipaddress.ip_network(f"{ipaddress.IPv4Address(a)}/{p}", strict=False),
    st.integers(0, 2**32 - 1),
    st.integers(0, 32),
)
v6_networks = st.builds(
    lambda a, p: ipaddress.ip_network(f"{ipaddress.IPv6Address(a)}/{p}", strict=False),
    st.integers(0, 2**128 - 1),
    st.integers(0, 128),
)
addresses = st.one_of(
    st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address),
    st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address),
)


def as_ipv4(
    network: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """An IPv4-mapped network (``::ffff:a.b.c.d/96+n``) as the IPv4 network ``a.b.c.d/n``."""
    mapped = getattr(network.network_address, "ipv4_mapped", None)
    if mapped is None or network.prefixlen < 96:
        return network
    return ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")


@given(address=addresses, networks=st.lists(st.one_of(v4_networks, v6_networks), max_size=8))
def test_an_address_matches_exactly_the_networks_that_contain_it(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> None:
    peer = Peer(str(address), 1)
    plain = getattr(address, "ipv4_mapped", None) or address
    for network in networks:
        expected = plain in as_ipv4(network)
        assert HostPattern.parse(str(network)).matches(peer) == expected
        first = network.network_address
        assert HostPattern.parse(str(first)).matches(peer) == (
            plain == (getattr(first, "ipv4_mapped", None) or first)
        )
    reject = tuple(HostPattern.parse(str(n)) for n in networks)
    pol = AccessPolicy(
        AccessConfig(proxy=(entry(remote="*", local="*"),), reject=reject), accounts("u")
    )
    refused = any(p.matches(peer) for p in reject)
    try:
        pol.admit(peer, "u", "u", via_rsh=False)
    except AccessDenied as exc:
        assert refused and "is rejected by access.reject" in str(exc)
    else:
        assert not refused


@given(
    name=st.from_regex(r"[a-z][a-z0-9]{0,7}(\.[a-z0-9]{1,8}){0,2}", fullmatch=True),
    upper=st.booleans(),
)
def test_a_name_matches_case_insensitively_and_never_another(name: str, upper: bool) -> None:
    pattern = HostPattern.parse(name.upper() if upper else name)
    assert pattern.matches(Peer("", 1, name.swapcase()))
    assert pattern.matches(Peer("", 1, name + "."))
    assert not pattern.matches(Peer("", 1, name + "x"))
    assert not pattern.matches(Peer("", 1, None))


# -- opens ---------------------------------------------------------------------------------------


def test_device_globs_do_not_cross_slashes_and_drives_ignore_case_and_colon() -> None:
    assert device_matches("alice/*.tap", "alice/vol1.tap")
    assert not device_matches("alice/*.tap", "alice/sub/vol1.tap")
    assert not device_matches("*.tap", "bob/vol1.tap")
    assert not device_matches("alice/*.tap", "Alice/vol1.tap")
    assert device_matches("mua0", "MUA0:", drive=True)
    assert device_matches("MUA*:", "mua1", drive=True)
    assert not device_matches("mua0", "mua1", drive=True)
    assert not device_matches("*/mua0", "mua0", drive=True)


def test_a_drive_grant_does_not_grant_files_of_drive_like_names() -> None:
    grant = policy(entry(devices=("mua0",))).admit(LOCAL, "alice", "alice", via_rsh=True)
    grant.check_open("MUA0:", True, drive=True)
    grant.check_open("mua0", True, drive=True)
    grant.check_open("mua0", True)  # the file ./mua0: the glob, exactly
    for name in ("Mua0:", "MUA0", "mua0:"):
        assert "not granted" in refusal(grant, name, True), name
    assert not device_matches("mua0", "Mua0:")
    assert not device_matches("MUA*", "mua1")


@pytest.mark.parametrize("name", ["../alice/v.tap", "alice/../alice/v.tap", "/alice/v.tap", ".."])
def test_a_name_with_dot_dot_or_a_leading_slash_is_refused_outright(name: str) -> None:
    for grant in (
        policy(entry(devices=("*", "*/*", "*/*/*"))).admit(LOCAL, "alice", "alice", via_rsh=True),
        AccessPolicy.open_to_all().admit(LOCAL, "alice", "alice", via_rsh=True),
    ):
        message = refusal(grant, name, False)
        assert message == f"{name}: a name with '..' or a leading '/' is refused"


@pytest.mark.parametrize(
    ("spec_name", "name"),
    [
        ("/alice/v.tap", "alice/v.tap"),
        ("//alice//./v.tap", "alice/v.tap"),
        ("./v.tap", "v.tap"),
        ("a/../b", "a/../b"),
        ("/../etc/passwd", "../etc/passwd"),
    ],
)
def test_grant_name_drops_slashes_and_dots_and_keeps_dot_dot(spec_name: str, name: str) -> None:
    assert grant_name(spec_name) == name


def test_an_open_is_allowed_by_the_first_entry_whose_glob_and_mode_permit() -> None:
    pol = policy(
        entry(devices=("alice/*",), mode="read-only"),
        entry(host="127.0.0.0/8", devices=("alice/*.tap",)),
    )
    grant = pol.admit(LOCAL, "alice", "alice", via_rsh=True)
    assert grant.rule_for("alice/v.tap", False).startswith("proxy entry 1:")
    assert grant.rule_for("alice/v.tap", True) == (
        "proxy entry 2: alice@127.0.0.0/8 as alice: alice/*.tap read-write"
    )


def test_a_write_to_a_read_only_grant_names_the_entry() -> None:
    grant = policy(entry(mode="read-only")).admit(LOCAL, "alice", "alice", via_rsh=True)
    grant.check_open("alice/v.tap", write=False)
    assert refusal(grant, "alice/v.tap", write=True) == (
        "alice/v.tap: read-only for alice@client.example (127.0.0.1) as alice by proxy entry 1 "
        "(alice@* as alice: alice/*.tap, mua0 read-only)"
    )


def test_a_device_outside_the_grant_names_the_entries_that_apply() -> None:
    pol = policy(entry(remote="bob"), entry(), entry(devices=("x",)))
    grant = pol.admit(LOCAL, "alice", "alice", via_rsh=True)
    assert refusal(grant, "bob/v.tap", write=False) == (
        "bob/v.tap: not granted to alice@client.example (127.0.0.1) as alice "
        "(no device glob of proxy entries 2, 3 matches)"
    )
    assert "proxy entry 2: alice@* as alice" in grant.describe()


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
