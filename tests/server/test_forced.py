"""rmtd as an ssh forced command: SSH_CONNECTION, SSH_ORIGINAL_COMMAND, grants, set-uid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from rmtd import cli
from rmtd.access import AccessPolicy
from rmtd.audit import AuditLog
from rmtd.config import load_config, parse_config
from rmtd.forced import Asked, RefusedError, admit, classify, local_account, peer_from, screen

RMTD = str(Path(sys.executable).with_name("rmtd"))
VMT = str(Path(sys.executable).with_name("vmt"))
SSH = {"SSH_CONNECTION": "127.0.0.1 40000 127.0.0.1 22"}

CONFIG = """
root = "{root}"
[access]
reject = ["192.0.2.0/24"]
require_privileged_port = false
[[access.proxy]]
remote_host = "127.0.0.1"
remote_user = "alice"
local_user = "{local}"
devices = ["alice/*.tap"]
mode = "read-write"
[[access.proxy]]
remote_host = "*"
remote_user = "reader"
local_user = "{local}"
devices = ["alice/*.tap"]
mode = "read-only"
"""


@pytest.mark.parametrize(
    ("command", "asked"),
    [
        (None, Asked.RMT),
        ("/etc/rmt", Asked.RMT),
        ("/usr/sbin/rmt", Asked.RMT),
        ("rmt", Asked.RMT),
        ("/usr/lib/tar/rmt-tar", Asked.RMT),
        ("uname", Asked.UNAME),
        ("uname -s", Asked.UNAME),
        ("uname --kernel-name", Asked.UNAME),
        ("uname --help", Asked.OTHER),
        ("/etc/rmt /tmp/debug-output", Asked.OTHER),
        ("sh -c 'cat /etc/shadow'", Asked.OTHER),
        ("uname; id", Asked.OTHER),
        ("rm -rf /", Asked.OTHER),
        ("'unterminated", Asked.OTHER),
    ],
)
def test_what_a_client_asks_for(command: str | None, asked: Asked) -> None:
    assert classify(command)[0] is asked


def test_the_peer_comes_from_ssh_connection() -> None:
    peer = peer_from({"SSH_CONNECTION": "::1 51234 ::1 22"})
    assert (peer.address, peer.port) == ("::1", 51234)
    with pytest.raises(RefusedError, match="SSH_CONNECTION"):
        peer_from({})
    with pytest.raises(RefusedError, match="expected"):
        peer_from({"SSH_CONNECTION": "garbage"})


def policy(tmp_path: Path) -> AccessPolicy:
    config = parse_config(CONFIG.format(root=tmp_path, local=local_account()))
    assert config.access is not None
    return AccessPolicy(config.access)


def test_admit_grants_and_refuses_with_audit(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    audit = AuditLog.to(str(path))
    grant = admit(policy(tmp_path), "alice", SSH, audit)
    assert grant is not None and grant.remote_user == "alice"
    with pytest.raises(RefusedError, match="no proxy entry"):
        admit(policy(tmp_path), "mallory", SSH, audit)
    rejected = {"SSH_CONNECTION": "192.0.2.7 40000 127.0.0.1 22"}
    with pytest.raises(RefusedError, match="reject"):
        admit(policy(tmp_path), "alice", rejected, audit)
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["event"] for e in events] == ["connect", "refuse", "refuse"]
    assert events[0]["via"] == "ssh" and events[0]["peer"] == "127.0.0.1"
    assert events[1]["remote_user"] == "mallory" and "no proxy entry" in events[1]["reason"]
    assert events[2]["peer"] == "192.0.2.7"


def test_without_user_or_access_table_nothing_is_enforced(tmp_path: Path) -> None:
    assert admit(AccessPolicy.open_to_all(), None, {}, AuditLog.to(None)) is None


def test_user_without_an_access_table_is_refused(tmp_path: Path) -> None:
    # Safe by default: with no rules, --user would open every file to the key's holder.
    with pytest.raises(RefusedError, match=r"needs an \[access\] table"):
        admit(AccessPolicy.open_to_all(), "alice", SSH, AuditLog.to(None))


def test_user_without_ssh_connection_is_refused(served: tuple[Path, Path]) -> None:
    policy = AccessPolicy(load_config(str(served[1])).access)
    with pytest.raises(RefusedError, match="forced command"):
        admit(policy, "alice", {}, AuditLog.to(None))


def test_screen_refuses_other_commands_and_audits(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    audit = AuditLog.to(str(path))
    assert screen({"SSH_ORIGINAL_COMMAND": "/etc/rmt"}, audit) is None
    with pytest.raises(RefusedError, match="serves rmt only"):
        screen({"SSH_ORIGINAL_COMMAND": "cat /etc/passwd"}, audit)
    assert json.loads(path.read_text())["event"] == "refuse"


def rmtd(
    args: list[str], env: dict[str, str], stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SSH_")}
    return subprocess.run(
        [RMTD, *args], input=stdin, env={**clean, **env}, capture_output=True, check=False
    )


def test_a_uname_probe_gets_unames_answer(served: tuple[Path, Path]) -> None:
    alice = ["--user", "alice", "--config", str(served[1])]
    done = rmtd(alice, {**SSH, "SSH_ORIGINAL_COMMAND": "uname"})
    assert (done.returncode, done.stdout) == (0, os.uname().sysname.encode() + b"\n")
    done = rmtd(alice, {**SSH, "SSH_ORIGINAL_COMMAND": "uname -r"})
    assert done.stdout == os.uname().release.encode() + b"\n"


def test_another_command_is_refused_with_one_line(served: tuple[Path, Path]) -> None:
    alice = ["--user", "alice", "--config", str(served[1])]
    done = rmtd(alice, {**SSH, "SSH_ORIGINAL_COMMAND": "id"}, b"Ox.tap\n0\n")
    assert done.returncode == 1 and done.stdout == b""
    assert done.stderr.count(b"\n") == 1 and b"serves rmt only" in done.stderr


@pytest.fixture
def served(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "root"
    (root / "alice").mkdir(parents=True)
    subprocess.run([VMT, "new", str(root / "alice" / "vol.tap")], check=True)
    config = tmp_path / "rmtd.toml"
    config.write_text(CONFIG.format(root=root, local=local_account()))
    return root, config


def test_an_unknown_user_gets_a_message_and_no_session(served: tuple[Path, Path]) -> None:
    _, config = served
    done = rmtd(["--user", "mallory", "--config", str(config)], SSH, b"Oalice/vol.tap\n0\n")
    assert done.returncode == 1 and done.stdout == b""
    assert b"no proxy entry for mallory@127.0.0.1" in done.stderr


def test_the_grant_decides_each_open(served: tuple[Path, Path]) -> None:
    root, config = served
    image = root / "alice" / "vol.tap"
    before = image.read_bytes()
    writes = b"Oalice/vol.tap\n2\nW5\nhello\nC\n"
    done = rmtd(["--user", "reader", "--config", str(config)], SSH, writes)
    assert done.stdout.startswith(b"E13\nalice/vol.tap: read-only for reader@")
    assert image.read_bytes() == before
    outside = b"Obob/new.tap\n66\n"
    done = rmtd(["--user", "alice", "--config", str(config)], SSH, outside)
    assert done.stdout.startswith(b"E13\nbob/new.tap: not granted to alice@")
    assert not (root / "bob").exists()
    done = rmtd(["--user", "Alice", "--config", str(config)], SSH, writes)
    assert done.stdout == b"A0\nA5\nA0\n"  # Alice matches alice: case-insensitive by default
    assert image.read_bytes() != before


def test_rmtd_refuses_to_run_setuid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "getuid", lambda: 1000)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    result = CliRunner().invoke(cli.main, ["--root", "."], input="")
    assert result.exit_code == 2
    assert "refusing to run set-uid (real uid 1000, effective uid 0)" in result.output
    assert result.output.count("\n") == 1
