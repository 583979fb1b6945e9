"""The README's Debian steps make rmtd the host's rmt, and its undo leaves the host as it was.

Run as root (CI is): the commands are the README's own, with ``sudo`` dropped and ``/opt/rmtd``
moved into a temporary directory. ``/etc/rmt`` is a link to ``/usr/sbin/rmt``, the ``rmt``
alternative that the ``tar`` and ``dump`` packages provide (``update-alternatives(1)``).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.install.conftest import ROOT, Built, run

PREFIX = "/opt/rmtd"
LINKS = (
    "/etc/rmt",
    "/usr/sbin/rmt",
    "/etc/alternatives/rmt",
    "/usr/share/man/man8/rmt.8.gz",
    "/etc/alternatives/rmt.8.gz",
)
STATE_FILE = Path("/var/lib/dpkg/alternatives/rmt")


def readme_blocks() -> tuple[list[str], list[str]]:
    """The install section's two sh blocks: making rmtd the host's rmt, and undoing it."""
    section = (ROOT / "README.md").read_text().split("\n## Install\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)\n```", section, re.S)
    assert len(blocks) == 2
    install, undo = ([line for line in b.splitlines() if line] for b in blocks)
    assert all(line.startswith("sudo ") for line in install + undo)
    return install, undo


def alternative_state() -> dict[str, str]:
    """What update-alternatives knows of ``rmt``, and where each of its links leads."""
    state = {link: os.readlink(link) for link in LINKS if os.path.islink(link)}
    state["query"] = run("update-alternatives", "--query", "rmt").stdout
    state["file"] = STATE_FILE.read_text()
    return state


def shell(line: str, prefix: Path, cwd: Path) -> None:
    """Run one README line as root in ``cwd``, with rmtd's venv at ``prefix``."""
    command = line.removeprefix("sudo ").replace(PREFIX, str(prefix))
    run("sh", "-ec", command, cwd=cwd)


def test_readme_makes_rmtd_the_hosts_rmt_and_undoes_it(built: Built, tmp_path: Path) -> None:
    install, undo = readme_blocks()
    assert any("update-alternatives --install /usr/sbin/rmt rmt " in line for line in install)
    before = alternative_state()
    assert before["/etc/rmt"] == "/usr/sbin/rmt"
    assert before["/usr/sbin/rmt"] == "/etc/alternatives/rmt"
    assert "rmtd" not in before["query"]
    prefix = tmp_path / "opt-rmtd"
    try:
        for line in install:
            shell(line, prefix, built.wheel.parent)
        assert os.path.realpath("/etc/rmt") == str(prefix / "bin/rmtd")
        assert run("/etc/rmt", "--version").stdout.startswith("rmtd, version ")
        served = tmp_path / "served"
        served.mkdir()
        (served / "f").write_bytes(b"tape")
        # As rsh or ssh start it: /etc/rmt with the protocol on standard input.
        reply = subprocess.run(
            ["/etc/rmt", "--root", served], input=b"Of\n0\nR4\nC\n", capture_output=True, check=True
        )
        assert reply.stdout == b"A0\nA4\ntapeA0\n"
        assert os.path.realpath("/usr/share/man/man8/rmt.8.gz") == str(
            prefix / "share/man/man8/rmtd.8.gz"
        )
        # man -w follows the slave link to the page it reads.
        page = run("man", "-w", "8", "rmt").stdout.strip()
        assert page == str(prefix / "share/man/man8/rmtd.8.gz")
        assert "RMTD(8)" in run("man", "8", "rmt").stdout
    finally:
        for line in undo:
            shell(line, prefix, tmp_path)
        after = alternative_state()
    assert after == before
    assert not prefix.exists()
