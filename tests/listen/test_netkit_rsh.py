"""GNU tar through the netkit rsh client and ``rmtd listen`` on 127.0.0.1:514 (as root)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.listen.conftest import Start, open_config

RSH = "--rsh-command=/usr/bin/netkit-rsh"

pytestmark = pytest.mark.e2e


def tar(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["tar", RSH, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )


def test_tar_backup_and_restore_through_netkit_rsh(start: Start, tmp_path: Path) -> None:
    # netkit-rsh always reaches the "shell" service, port 514; user@host: gives "-l nobody".
    listener = start(port=514)
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.txt").write_text("hello\n" * 1000)
    (source / "b.bin").write_bytes(bytes(range(256)) * 300)
    made = tar("-cf", "nobody@127.0.0.1:vol.tap", "-C", str(source), ".", cwd=tmp_path)
    assert made.returncode == 0, made.stderr + listener.log.read_text()
    out = tmp_path / "out"
    out.mkdir()
    back = tar("-xf", "nobody@127.0.0.1:vol.tap", "-C", str(out), cwd=tmp_path)
    assert back.returncode == 0, back.stderr
    assert (out / "a.txt").read_text() == "hello\n" * 1000
    assert (out / "b.bin").read_bytes() == bytes(range(256)) * 300
    as_root = tar("-tf", "127.0.0.1:vol.tap", cwd=tmp_path)
    assert as_root.returncode != 0
    assert "no proxy entry for root@" in as_root.stderr


def test_refusals_through_netkit_rsh_say_why(start: Start, tmp_path: Path) -> None:
    config = open_config(
        tmp_path,
        """\
[access]
require_privileged_port = true
reject = ["192.0.2.0/24"]
[[access.proxy]]
remote_host = "127.0.0.1"
remote_user = "root"
local_user = "nobody"
devices = ["alice/*.tap"]
mode = "read-write"
""",
    )
    audit = tmp_path / "audit.log"
    start("--config", str(config), "--audit", str(audit), port=514)
    (tmp_path / "a.txt").write_text("a\n")
    outside = tar("-cf", "nobody@127.0.0.1:other.tap", "a.txt", cwd=tmp_path)
    assert outside.returncode != 0 and "Permission denied" in outside.stderr
    unknown = tar("-cf", "nosuchuser@127.0.0.1:alice/v.tap", "a.txt", cwd=tmp_path)
    assert unknown.returncode != 0
    assert "no proxy entry for root@" in unknown.stderr and "as nosuchuser" in unknown.stderr
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    refused = [e for e in events if e["event"] == "refuse"]
    assert any("other.tap" in str(e.get("reason")) for e in refused), refused
    assert any(e["event"] == "connect" and e["via"] == "rsh" for e in events)


def test_a_rejected_network_is_refused_through_netkit_rsh(start: Start, tmp_path: Path) -> None:
    config = open_config(tmp_path, 'root = "."\n[access]\nreject = ["127.0.0.0/8"]\n')
    audit = tmp_path / "audit.jsonl"
    listener = start("--config", str(config), "--audit", str(audit), port=514)
    (tmp_path / "a.txt").write_text("a\n")
    done = tar("-cf", "nobody@127.0.0.1:v.tap", "a.txt", cwd=tmp_path)
    assert done.returncode != 0
    # A real rcmd (privileged port, reserved stderr port) is told why, through its channel.
    assert "127.0.0.1 is rejected by access.reject '127.0.0.0/8'" in done.stderr, done.stderr
    assert "is rejected by access.reject '127.0.0.0/8'" in listener.log.read_text()
    reasons = [json.loads(line).get("reason") for line in audit.read_text().splitlines()]
    assert "127.0.0.1 is rejected by access.reject '127.0.0.0/8'" in reasons
    assert not (tmp_path / "v.tap").exists()
