"""The [access] table of the configuration: a good table, each error naming key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmtd.access import AccessPolicy, HostPattern, Peer
from rmtd.config import ConfigError, load_config, parse_config
from rmtd.toml_lines import find_entry_line

GOOD = """\
root = "."
[access]
case_insensitive = false
reject = ["badhost.example", "192.0.2.0/24", "2001:db8::/32"]
hosts_equiv = "equiv"
require_privileged_port = false

[[access.proxy]]
remote_host = "client.example"   # a comment
remote_user = "alice"
local_user = "alice"
devices = ["alice/*.tap", "mua0"]
mode = "read-write"

[[access.proxy]]
remote_host = "*"
remote_user = "*"
local_user = "guest"
devices = ["public/*"]
mode = "read-only"
"""

ENTRY = """
[[access.proxy]]
remote_host = "*"
remote_user = "a"
local_user = "a"
devices = ["x"]
mode = "read-only"
"""


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "rmtd.toml", "/base")
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_good_table_parses(tmp_path: Path) -> None:
    (tmp_path / "rmtd.toml").write_text(GOOD)
    access = load_config(str(tmp_path / "rmtd.toml")).access
    assert access is not None
    assert not access.case_insensitive
    assert not access.require_privileged_port
    assert access.hosts_equiv == str(tmp_path / "equiv")
    assert [h.text for h in access.reject] == ["badhost.example", "192.0.2.0/24", "2001:db8::/32"]
    first, second = access.proxy
    assert first.remote_host == HostPattern.parse("client.example")
    assert first.devices == ("alice/*.tap", "mua0")
    assert (second.local_user, second.mode) == ("guest", "read-only")


def test_no_table_is_none_and_an_empty_table_refuses_everything() -> None:
    assert parse_config('root = "/"\n').access is None
    access = parse_config("[access]\n").access
    assert access is not None
    assert access.case_insensitive and access.require_privileged_port
    assert (access.reject, access.proxy, access.hosts_equiv) == ((), (), None)
    assert AccessPolicy(access).enforced


def test_an_empty_hosts_equiv_is_not_used() -> None:
    access = parse_config('[access]\nhosts_equiv = ""\n').access
    assert access is not None and access.hosts_equiv is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[access]\nrejects = []\n",
            "line 2: access.rejects: unknown key (known: case_insensitive",
        ),
        ("access = 3\n", "line 1: access: expected a table ([access]), got an integer (3)"),
        ("[access]\ncase_insensitive = 1\n", "line 2: access.case_insensitive: expected true or"),
        ("[access]\nrequire_privileged_port = 'yes'\n", "line 2: access.require_privileged_port"),
        ("[access]\nreject = 'a'\n", "line 2: access.reject: expected a list of strings"),
        ("[access]\nreject = [1]\n", "line 2: access.reject: expected a list of strings"),
        ("[access]\nreject = ['10.0.0.1/8']\n", "line 2: access.reject: '10.0.0.1/8' is not an"),
        ("[access]\nreject = ['a b']\n", "line 2: access.reject: 'a b' is not a host name"),
        ("[access]\nhosts_equiv = 1\n", "line 2: access.hosts_equiv: expected a string"),
        ("[access]\nproxy = 1\n", "line 2: access.proxy: expected an array of tables"),
        ("[access]\nproxy = [1]\n", "line 2: access.proxy #1: expected a table, got an integer"),
    ],
)
def test_bad_access_keys(text: str, expected: str) -> None:
    assert expected in error_of(text)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("mode", '"rw"'), "line 16: access.proxy.mode #2: 'rw' is not one of \"read-write\""),
        (("remote_host", '"10.1.1.1/8"'), "line 12: access.proxy.remote_host #2: '10.1.1.1/8'"),
        (("remote_host", '""'), "line 12: access.proxy.remote_host #2: must not be empty"),
        (("remote_user", '"al ice"'), "line 13: access.proxy.remote_user #2: 'al ice' is not a"),
        (("local_user", "7"), "line 14: access.proxy.local_user #2: expected a string, got an"),
        (
            ("devices", '"x"'),
            "line 15: access.proxy.devices #2: expected a non-empty list of globs",
        ),
        (("devices", "[]"), "line 15: access.proxy.devices #2: expected a non-empty list"),
        (("devices", "[1]"), "line 15: access.proxy.devices #2: expected a list of strings"),
        (("devices", '["/abs/*"]'), "#2: '/abs/*': must be a name inside root (no leading /)"),
        (("devices", '["a/../b"]'), "#2: 'a/../b': must not hold empty, '.' or '..' parts"),
        (("devices", '["a//b"]'), "#2: 'a//b': must not hold empty"),
        (("mode", '"read-only"\nwho = 1'), "line 17: access.proxy.who #2: unknown key (known: "),
    ],
)
def test_bad_proxy_entries_name_the_entry_and_its_line(
    change: tuple[str, str], expected: str
) -> None:
    key, value = change
    second = ENTRY.replace(f"\n{key} = ", f"\n{key} = {value}\n#", 1)
    text = "root = '/'\n[access]\n" + ENTRY + second
    assert expected in error_of(text)


def test_a_missing_key_names_the_entry_header() -> None:
    text = "[access]\n" + ENTRY + ENTRY.replace('mode = "read-only"\n', "")
    assert "line 10: access.proxy #2: missing key mode (every entry has remote_host" in error_of(
        text
    )


def test_find_entry_line_falls_back_for_an_inline_array() -> None:
    text = '[access]\nproxy = [{mode = "x"}, {a = 1}]\n'
    assert find_entry_line(text, ("access", "proxy", "mode"), 1) == 2
    assert "line 2: access.proxy #1: missing key remote_host" in error_of(text)


def test_the_config_drives_the_policy() -> None:
    access = parse_config(GOOD, "rmtd.toml", "/").access
    pol = AccessPolicy(access)
    grant = pol.admit(Peer("198.51.100.1", 5000, "client.example"), "alice", "alice", via_rsh=True)
    grant.check_open("mua0", write=True)
