"""A real OpenSSH server with forced commands serves GNU tar, cpio and rdump through rmtd.

The test starts ``sshd`` (Debian's openssh-server) on 127.0.0.1 and a free port with its own
configuration: no PAM, ``StrictModes no``, a host key and an ``authorized_keys`` file made for
the test, where each client key is forced to ``rmtd --user NAME --config ...``. The clients
reach it through a small script in place of rsh, which drops the host and ``-l USER`` the
clients add and runs ``ssh`` with the key of the user it plays.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rmtd.forced import local_account
from tests.golden.capture import loop_device

pytestmark = pytest.mark.e2e

RMTD = str(Path(sys.executable).with_name("rmtd"))
VMT = str(Path(sys.executable).with_name("vmt"))
SSHD = shutil.which("sshd", path="/usr/sbin:/usr/bin") or "/usr/sbin/sshd"
USERS = ("alice", "reader", "mallory")  # read-write, read-only, no proxy entry
ARCHIVE = "localhost:alice/vol.tap"

CONFIG = """
root = "{root}"
[access]
require_privileged_port = false
[[access.proxy]]
remote_host = "127.0.0.1"
remote_user = "alice"
local_user = "{local}"
devices = ["alice/*.tap"]
mode = "read-write"
[[access.proxy]]
remote_host = "127.0.0.0/8"
remote_user = "reader"
local_user = "{local}"
devices = ["alice/*.tap"]
mode = "read-only"
"""

SSHD_CONFIG = """\
ListenAddress 127.0.0.1
Port {port}
HostKey {host_key}
PidFile {pid}
AuthorizedKeysFile {authorized}
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PrintMotd no
"""

Client = Callable[..., subprocess.CompletedProcess[str]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def keygen(path: Path) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path.with_suffix(".pub").read_text().strip()


@pytest.fixture
def served(tmp_path: Path) -> Path:
    root = tmp_path / "served"
    (root / "alice").mkdir(parents=True)
    subprocess.run([VMT, "new", str(root / "alice" / "vol.tap")], check=True)
    return root


@pytest.fixture
def sshd(tmp_path: Path, served: Path) -> Iterator[dict[str, Path]]:
    """Start sshd with one forced-command key per user; yield the rsh stand-in per user."""
    work = tmp_path / "ssh"
    work.mkdir()
    config = work / "rmtd.toml"
    config.write_text(CONFIG.format(root=served, local=local_account()))
    audit = tmp_path / "audit.log"
    port = free_port()
    lines, scripts = [], {}
    for user in USERS:
        public = keygen(work / f"{user}_key")
        forced = shlex.join([RMTD, "--user", user, "--config", str(config), "--audit", str(audit)])
        lines.append(f'command="{forced}",no-pty,no-port-forwarding {public}')
        script = work / f"rsh-{user}"
        ssh = shlex.join(
            [
                "ssh", "-i", str(work / f"{user}_key"), "-p", str(port),
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "root@127.0.0.1",
            ]
        )  # fmt: skip
        # rsh's arguments: HOST [-l USER] COMMAND...; ssh takes the command.
        script.write_text(f'#!/bin/sh\nshift\n[ "$1" = "-l" ] && shift 2\nexec {ssh} "$@"\n')
        script.chmod(0o755)
        scripts[user] = script
    (work / "authorized_keys").write_text("\n".join(lines) + "\n")
    keygen(work / "host_key")
    sshd_config = work / "sshd_config"
    sshd_config.write_text(
        SSHD_CONFIG.format(
            port=port,
            host_key=work / "host_key",
            pid=work / "sshd.pid",
            authorized=work / "authorized_keys",
        )
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation dir
    log = (work / "sshd.log").open("wb")
    server = subprocess.Popen([SSHD, "-D", "-e", "-f", str(sshd_config)], stderr=log)
    try:
        wait_for(port, server)
        yield {**scripts, "audit": audit}
    finally:
        server.terminate()
        server.wait()
        log.close()


def wait_for(port: int, server: subprocess.Popen[bytes]) -> None:
    """Wait until sshd accepts connections (or has died)."""
    while server.poll() is None:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"sshd exited with status {server.returncode}")


@pytest.fixture
def client(tmp_path: Path) -> Client:
    def run(*args: str, cwd: Path = tmp_path, env: dict[str, str] | None = None,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
        return subprocess.run(
            list(args),
            cwd=cwd,
            env={**os.environ, **(env or {})},
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    return run


def tree(base: Path) -> Path:
    top = base / "src"
    top.mkdir()
    for n in range(4):
        (top / f"f{n}.txt").write_text(f"file {n}\n" * (n * 2000 + 1))
    return top


def events(audit: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in audit.read_text().splitlines()]


def test_tar_backup_and_restore_through_a_forced_command(
    sshd: dict[str, Path], client: Client, tmp_path: Path
) -> None:
    src = tree(tmp_path)
    rsh = f"--rsh-command={sshd['alice']}"
    done = client("tar", rsh, "-cf", ARCHIVE, "-C", str(src), ".")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    out.mkdir()
    done = client("tar", rsh, "-xf", ARCHIVE, "-C", str(out))
    assert done.returncode == 0, done.stderr
    for file in src.iterdir():
        assert (out / file.name).read_bytes() == file.read_bytes()
    log = events(sshd["audit"])
    connect = next(e for e in log if e["event"] == "connect")
    assert connect["via"] == "ssh" and connect["remote_user"] == "alice"
    assert connect["peer"] == "127.0.0.1"
    closes = [e for e in log if e["event"] == "close"]
    assert int(str(closes[0]["bytes_written"])) >= sum(f.stat().st_size for f in src.iterdir())
    assert int(str(closes[1]["bytes_read"])) == int(str(closes[0]["bytes_written"]))


def test_a_read_only_grant_refuses_the_write(
    sshd: dict[str, Path], client: Client, served: Path, tmp_path: Path
) -> None:
    image = served / "alice" / "vol.tap"
    before = image.read_bytes()
    done = client("tar", f"--rsh-command={sshd['reader']}", "-cf", ARCHIVE, "-C",
                  str(tree(tmp_path)), ".")  # fmt: skip
    assert done.returncode != 0
    # GNU tar shows only strerror(E13); the server's message is in the audit log.
    assert "Permission denied" in done.stderr, done.stderr
    assert image.read_bytes() == before
    refuse = next(e for e in events(sshd["audit"]) if e["event"] == "refuse")
    assert refuse["device"] == "alice/vol.tap" and refuse["mode"] == "w"
    assert "read-only for reader@127.0.0.1" in str(refuse["reason"])
    listing = client("tar", f"--rsh-command={sshd['reader']}", "-tf", ARCHIVE)
    assert listing.returncode != 0 or listing.stdout == ""  # a blank tape, but readable
    assert "read-only" not in listing.stderr


def test_an_unknown_user_is_refused_with_a_message(
    sshd: dict[str, Path], client: Client, tmp_path: Path
) -> None:
    done = client("tar", f"--rsh-command={sshd['mallory']}", "-cf", ARCHIVE, "-C",
                  str(tree(tmp_path)), ".")  # fmt: skip
    assert done.returncode != 0
    assert "no proxy entry for mallory@127.0.0.1" in done.stderr, done.stderr
    refuse = next(e for e in events(sshd["audit"]) if e["event"] == "refuse")
    assert refuse["remote_user"] == "mallory" and refuse["via"] == "ssh"


def test_a_uname_probe_and_a_stray_command(sshd: dict[str, Path], client: Client) -> None:
    probe = client(str(sshd["alice"]), "localhost", "uname")
    assert (probe.returncode, probe.stdout) == (0, os.uname().sysname + "\n")
    stray = client(str(sshd["alice"]), "localhost", "cat", "/etc/passwd")
    assert stray.returncode == 1 and stray.stdout == ""
    assert "serves rmt only" in stray.stderr


def test_cpio_out_and_in(sshd: dict[str, Path], client: Client, tmp_path: Path) -> None:
    src = tree(tmp_path)
    names = sorted(f.name for f in src.iterdir())
    rsh = f"--rsh-command={sshd['alice']}"
    stdin = "\n".join(names) + "\n"
    done = client("cpio", "-o", "-H", "newc", rsh, "-F", ARCHIVE, cwd=src, stdin=stdin)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    out.mkdir()
    done = client("cpio", "-i", rsh, "-F", ARCHIVE, cwd=out)
    assert done.returncode == 0, done.stderr
    for name in names:
        assert (out / name).read_bytes() == (src / name).read_bytes()
    refused = client("cpio", "-o", "-H", "newc", f"--rsh-command={sshd['reader']}",
                     "-F", ARCHIVE, cwd=src, stdin=stdin)  # fmt: skip
    assert refused.returncode != 0 and "Permission denied" in refused.stderr, refused.stderr


@pytest.fixture
def filesystem(tmp_path: Path) -> Iterator[str]:
    source = tmp_path / "fs-src"
    source.mkdir()
    (source / "alpha.txt").write_bytes(b"alpha\n" * 3000)
    image = tmp_path / "fs.img"
    subprocess.run(
        ["mke2fs", "-q", "-t", "ext2", "-d", str(source), str(image), "4M"],
        check=True,
        capture_output=True,
    )
    with loop_device(image) as loop:
        yield loop


def test_rdump_and_rrestore(
    sshd: dict[str, Path], client: Client, served: Path, filesystem: str
) -> None:
    image = served / "alice" / "vol.tap"
    before = image.read_bytes()
    refused = client("rdump", "-0", "-f", ARCHIVE, filesystem, env={"RSH": str(sshd["reader"])})
    assert refused.returncode != 0, refused.stdout + refused.stderr
    assert "Permission denied" in refused.stdout + refused.stderr, refused.stderr
    assert image.read_bytes() == before
    done = client("rdump", "-0", "-f", ARCHIVE, filesystem, env={"RSH": str(sshd["alice"])})
    assert done.returncode == 0, done.stderr
    listing = client("rrestore", "-t", "-f", ARCHIVE, env={"RSH": str(sshd["alice"])})
    assert listing.returncode == 0, listing.stderr
    assert "./alpha.txt" in listing.stdout
