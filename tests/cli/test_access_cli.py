"""``rmtd access``: edits keep the file's comments and layout, bad edits are never written,
``check`` agrees with AccessPolicy."""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from rmtd.access import AccessDenied, AccessPolicy, Peer
from rmtd.access_cli import access
from rmtd.config import load_config

SITE = """\
# Our tape server.   (odd   spacing kept)
root = "tapes"        # images live here

[drives.mua0]
image = "vol001.tap"  # first volume

# --- who may connect ---
[access]
reject = ["badhost.example"]   # keep out

[[access.proxy]]
remote_host = "client.example"   # alice's desk
remote_user = "alice"
local_user = "alice"
devices = ["alice/*.tap", "mua0"]
mode = "read-write"
# trailing comment
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "tapes").mkdir()
    path = tmp_path / "rmtd.toml"
    path.write_text(SITE)
    return path


def run(config: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(access, ["--config", str(config), *args], env=env)


ADD_BOB = (
    "add",
    "--remote-host",
    "10.0.0.0/8",
    "--remote-user",
    "bob",
    "--local-user",
    "bob",
    "--devices",
    "bob/*",
    "--devices",
    "MUA1:",
    "--mode",
    "read-only",
)


def test_add_appends_an_entry_and_keeps_every_line(site: Path) -> None:
    result = run(site, *ADD_BOB)
    assert result.exit_code == 0, result.output
    assert result.output == "added proxy entry 2: bob@10.0.0.0/8 as bob: bob/*, MUA1: read-only\n"
    text = site.read_text()
    assert text.startswith(SITE)  # every old line, byte for byte
    assert text[len(SITE) :] == (
        "\n[[access.proxy]]\n"
        'remote_host = "10.0.0.0/8"\n'
        'remote_user = "bob"\n'
        'local_user = "bob"\n'
        'devices = ["bob/*", "MUA1:"]\n'
        'mode = "read-only"\n'
    )
    access_config = load_config(str(site)).access
    assert access_config is not None and access_config.proxy[1].devices == ("bob/*", "MUA1:")


def test_reject_adds_to_the_list_in_place(site: Path) -> None:
    result = run(site, "reject", "192.0.2.0/24")
    assert (result.exit_code, result.output) == (0, "rejected 192.0.2.0/24\n")
    expected = SITE.replace('"badhost.example"]', '"badhost.example", "192.0.2.0/24"]')
    assert site.read_text() == expected
    assert run(site, "reject", "192.0.2.0/24").output == "192.0.2.0/24 is already rejected\n"
    assert site.read_text() == expected


def test_remove_by_number_and_by_fields(site: Path) -> None:
    run(site, *ADD_BOB)
    result = run(site, "remove", "1")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("removed proxy entry 1: alice@client.example as alice")
    text = site.read_text()
    assert text.startswith(
        SITE.split("[[access.proxy]]", maxsplit=1)[0]
    )  # the lines before, untouched
    assert "alice's desk" not in text and 'remote_user = "bob"' in text
    result = run(site, "remove", "--remote-user", "bob")
    assert result.output == (
        "removed proxy entry 1: bob@10.0.0.0/8 as bob: bob/*, MUA1: read-only\n"
        "no proxy entries: every connection is refused\n"
    )
    access_config = load_config(str(site)).access
    assert access_config is not None and access_config.proxy == ()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("remove", "5"), "no proxy entry numbered 5"),
        (("remove", "--remote-user", "zed"), "no proxy entry matches"),
    ],
)
def test_remove_of_nothing_fails_and_writes_nothing(
    site: Path, args: tuple[str, ...], expected: str
) -> None:
    result = run(site, *args)
    assert result.exit_code == 2 and expected in result.output
    assert site.read_text() == SITE


def test_remove_needs_a_number_or_fields(site: Path) -> None:
    assert run(site, "remove").exit_code == 2
    assert run(site, "remove", "1", "--remote-user", "alice").exit_code == 2
    assert site.read_text() == SITE


@pytest.mark.parametrize(
    "bad",
    [
        ("--remote-host", "10.0.0.1/8"),
        ("--remote-host", "a b"),
        ("--devices", "/etc/*"),
        ("--devices", "../x"),
        ("--mode", "rw"),
    ],
)
def test_bad_add_options_are_refused_and_nothing_is_written(
    site: Path, bad: tuple[str, str]
) -> None:
    args = list(ADD_BOB)
    args[args.index(bad[0]) + 1] = bad[1]
    result = run(site, *args)
    assert result.exit_code == 2
    assert site.read_text() == SITE


def test_an_edit_that_would_not_parse_is_never_written(site: Path) -> None:
    args = list(ADD_BOB)
    args[args.index("--remote-user") + 1] = "b ob"  # not a user name: the config check refuses
    result = run(site, *args)
    assert result.exit_code == 2
    assert "access.proxy.remote_user #2: 'b ob' is not a user name" in result.output
    assert site.read_text() == SITE
    assert sorted(os.listdir(site.parent)) == ["rmtd.toml", "tapes"]  # no temporary left


def test_a_broken_config_is_not_edited(site: Path) -> None:
    site.write_text("bogus = 1\n" + SITE)
    result = run(site, "reject", "x.example")
    assert result.exit_code == 2 and "line 1: bogus: unknown key" in result.output
    assert site.read_text() == "bogus = 1\n" + SITE


def test_the_file_keeps_its_mode_and_a_symlink_is_followed(site: Path) -> None:
    site.chmod(0o600)
    link = site.parent / "link.toml"
    link.symlink_to(site)
    assert run(link, "reject", "x.example").exit_code == 0
    assert link.is_symlink() and "x.example" in site.read_text()
    assert site.stat().st_mode & 0o777 == 0o600


def test_add_to_a_file_without_access_creates_the_table(tmp_path: Path) -> None:
    path = tmp_path / "rmtd.toml"
    path.write_text("# nothing yet\n")
    assert run(path, *ADD_BOB).exit_code == 0
    assert path.read_text().startswith("# nothing yet\n\n[access]\n")
    assert run(tmp_path / "new.toml", "reject", "x.example").exit_code == 0
    assert load_config(str(tmp_path / "new.toml")).access is not None


def test_show_numbers_the_entries(site: Path) -> None:
    run(site, *ADD_BOB)
    result = run(site, "show")
    assert result.exit_code == 0
    assert result.output.splitlines()[1:] == [
        "case_insensitive = true",
        "require_privileged_port = true",
        "hosts_equiv = not used",
        "reject: badhost.example",
        "  1. alice@client.example as alice: alice/*.tap, mua0 read-write",
        "  2. bob@10.0.0.0/8 as bob: bob/*, MUA1: read-only",
    ]


def test_show_without_access_and_config_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "rmtd.toml"
    path.write_text("")
    result = CliRunner().invoke(access, ["show"], env={"RMTD_CONFIG": str(path)})
    assert result.output == f"{path}: no [access] table: every open is allowed\n"


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        (
            ("alice@10.9.9.9", "alice/v.tap", "--write"),
            1,
            "refused: the connection: no proxy entry for alice@10.9.9.9 as alice",
        ),
        (
            ("Alice@client.example", "MUA0:", "--write", "--local-user", "alice"),
            0,
            "allowed: Alice@client.example as alice may open MUA0: for writing: proxy entry 1: "
            "alice@client.example as alice: alice/*.tap, mua0 read-write",
        ),
        (
            ("alice@client.example", "bob/v.tap"),
            1,
            "refused: bob/v.tap: not granted to alice@client.example as alice "
            "(no device glob of proxy entry 1 matches)",
        ),
        (
            ("alice@badhost.example", "alice/v.tap"),
            1,
            "refused: the connection: badhost.example is rejected by access.reject "
            "'badhost.example'",
        ),
        (
            ("alice@client.example", "alice/v.tap", "--port", "2000", "--address", "10.0.0.1"),
            1,
            "refused: the connection: source port 2000 of client.example (10.0.0.1) is not",
        ),
    ],
)
def test_check_prints_the_decision_and_the_rule(
    site: Path, args: tuple[str, ...], code: int, expected: str
) -> None:
    result = run(site, "check", *args)
    assert result.exit_code == code
    assert result.output.startswith(expected), result.output


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        ("alice/v.tap/norewind/density=1600", "allowed: "),
        ("/alice//./v.tap", "allowed: "),
        ("mua0:/unload", "allowed: "),
        ("Mua0:", "allowed: "),  # the configured drive, any case
        ("alice/v.tap/bogus=1", "Error"),
    ],
)
def test_check_normalises_the_device_as_the_opener_does(
    site: Path, device: str, expected: str
) -> None:
    result = run(site, "check", "alice@client.example", device, "--write")
    assert expected in result.output, result.output
    assert result.exit_code == (0 if expected.startswith("allowed") else 2)


def test_check_matches_a_file_of_drive_like_name_exactly(tmp_path: Path) -> None:
    path = tmp_path / "rmtd.toml"
    path.write_text(SITE.replace('[drives.mua0]\nimage = "vol001.tap"  # first volume\n', ""))
    (tmp_path / "tapes").mkdir()
    assert run(path, "check", "alice@client.example", "mua0").exit_code == 0
    result = run(path, "check", "alice@client.example", "MUA0:")
    assert result.exit_code == 1
    assert "MUA0:: not granted" in result.output


def test_check_names_the_entrys_local_account(tmp_path: Path) -> None:
    path = tmp_path / "rmtd.toml"
    path.write_text(
        '[access]\n[[access.proxy]]\nremote_host = "*"\nremote_user = "*"\n'
        'local_user = "NOBODY"\ndevices = ["*"]\nmode = "read-only"\n'
    )
    result = run(path, "check", "alice@10.0.0.1", "v.tap", "--local-user", "nobody")
    assert result.output.startswith("allowed: alice@10.0.0.1 as NOBODY may open"), result.output


def test_check_of_a_star_local_user_is_the_remote_users_own_account(tmp_path: Path) -> None:
    path = tmp_path / "rmtd.toml"
    path.write_text(
        '[access]\n[[access.proxy]]\nremote_host = "*"\nremote_user = "*"\n'
        'local_user = "*"\ndevices = ["*"]\nmode = "read-only"\n'
    )
    result = run(path, "check", "NOBODY@10.0.0.1", "v.tap", "--local-user", "NOBODY")
    assert result.output.startswith("allowed: NOBODY@10.0.0.1 as nobody may open"), result.output
    result = run(path, "check", "nobody@10.0.0.1", "v.tap", "--local-user", "daemon")
    assert result.output.startswith("refused: the connection: no proxy entry"), result.output
    assert result.exit_code == 1


def test_check_refuses_a_malformed_question(site: Path) -> None:
    assert run(site, "check", "alice", "x").exit_code == 2
    assert run(site, "check", "alice@h", "a/../b").exit_code == 2


users = st.sampled_from(["alice", "ALICE", "Alice", "bob", "*"])
hosts = st.sampled_from(["*", "10.0.0.0/8", "10.1.2.3", "client.example", "::1"])
globs = st.lists(st.sampled_from(["a/*", "a/*.tap", "mua0", "MUA*", "*"]), min_size=1, max_size=3)
entries = st.tuples(hosts, users, users, globs, st.sampled_from(["read-write", "read-only"]))


@settings(max_examples=60, deadline=None)
@given(
    rules=st.lists(entries, max_size=4),
    reject=st.lists(hosts.filter(lambda h: h != "*"), max_size=2),
    case_insensitive=st.booleans(),
    who=st.tuples(st.sampled_from(["alice", "Alice", "bob"]), users.filter(lambda u: u != "*")),
    host=st.sampled_from(["10.1.2.3", "10.200.0.1", "::1", "client.example", "other.example"]),
    device=st.sampled_from(["a/v.tap", "a/b", "Mua0:", "b/v.tap", "mub1"]),
    write=st.booleans(),
)
def test_check_agrees_with_the_policy(
    rules: list[tuple[str, str, str, list[str], str]],
    reject: list[str],
    case_insensitive: bool,
    who: tuple[str, str],
    host: str,
    device: str,
    write: bool,
) -> None:
    text = f"[access]\ncase_insensitive = {str(case_insensitive).lower()}\nreject = {reject!r}\n"
    for remote_host, remote_user, local_user, devices, mode in rules:
        text += (
            f"[[access.proxy]]\nremote_host = {remote_host!r}\nremote_user = {remote_user!r}\n"
            f"local_user = {local_user!r}\ndevices = {devices!r}\nmode = {mode!r}\n"
        )
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "rmtd.toml"
        path.write_text(text)
        remote, local = who
        args = ["check", f"{remote}@{host}", device, "--local-user", local]
        result = run(path, *args, *(["--write"] if write else []))
        policy = AccessPolicy(load_config(str(path)).access)
    is_name = host.endswith(".example")
    peer = Peer("" if is_name else host, 0, host if is_name else None)
    try:
        policy.admit(peer, remote, local, via_rsh=False).check_open(device, write)
    except (AccessDenied, OSError):
        assert result.exit_code == 1, result.output
        assert result.output.startswith("refused: ")
    else:
        assert result.exit_code == 0, result.output
        assert result.output.startswith("allowed: ")


COMMENTED = """\
[access]
reject = []

# alice: her desk
[[access.proxy]]
remote_host = "a.example"
remote_user = "alice"
local_user = "alice"
devices = ["alice/*"]
mode = "read-write"

# bob: the night shift
# (two lines)
[[access.proxy]]
remote_host = "b.example"
remote_user = "bob"
local_user = "bob"
devices = ["bob/*"]
mode = "read-write"

# carol: audits
[[access.proxy]]
remote_host = "c.example"
remote_user = "carol"
local_user = "carol"
devices = ["carol/*"]
mode = "read-only"
# end of entries
"""


def section(text: str, name: str) -> str:
    """The entry for ``name`` with the comment lines directly above it."""
    lines = text.split("[[access.proxy]]\n")
    for before, entry in itertools.pairwise(lines):
        if f'remote_user = "{name}"' in entry:
            comments = [line for line in before.split("\n\n")[-1].splitlines() if line]
            return "\n".join(comments)
    raise AssertionError(f"no entry for {name}")


@pytest.mark.parametrize(
    ("removed", "kept"),
    [("1", ("bob", "carol")), ("2", ("alice", "carol")), ("3", ("alice", "bob"))],
)
def test_remove_takes_the_comments_above_the_entry_and_keeps_the_others(
    tmp_path: Path, removed: str, kept: tuple[str, str]
) -> None:
    path = tmp_path / "rmtd.toml"
    path.write_text(COMMENTED)
    assert run(path, "remove", removed).exit_code == 0
    text = path.read_text()
    expected = {
        "alice": "# alice: her desk",
        "bob": "# bob: the night shift\n# (two lines)",
        "carol": "# carol: audits",
    }
    for name in kept:
        assert section(text, name) == expected[name], text
    gone = ({"alice", "bob", "carol"} - set(kept)).pop()
    assert expected[gone].splitlines()[0] not in text
    assert text.startswith("[access]\nreject = []\n\n")


def test_removing_entries_one_after_another_keeps_each_ones_comments(tmp_path: Path) -> None:
    path = tmp_path / "rmtd.toml"
    path.write_text(COMMENTED)
    assert run(path, "remove", "2").exit_code == 0
    assert run(path, "remove", "1").exit_code == 0
    text = path.read_text()
    assert section(text, "carol") == "# carol: audits"
    assert "alice" not in text and "bob" not in text
    assert run(path, "remove", "--remote-user", "carol").exit_code == 0
    assert "# carol" not in path.read_text()
