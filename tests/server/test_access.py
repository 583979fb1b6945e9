"""The proxy database: every rule of rmtd.access and every refusal message."""

from __future__ import annotations

import ipaddress
import re

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
    device_matches,
    grant_name,
    user_matches,
)
from tests.server.access_helpers import LOCAL, denial, entry, policy, refusal

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
