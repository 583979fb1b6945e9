"""GNU tar through the netkit rsh client and ``rmtd listen`` on 127.0.0.1:514 (as root)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.listen.conftest import Start

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
