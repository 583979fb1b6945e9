"""``vmt -f [user@]host:DEVICE``: mt operations on a remote drive over RMT."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from rmtd.vmt import main

FAKERSH = str(Path(__file__).parent.parent / "e2e" / "fakersh")
RMTD = str(Path(sys.executable).with_name("rmtd"))


@pytest.fixture
def served(tmp_path: Path) -> Path:
    root = tmp_path / "served"
    root.mkdir()
    (tmp_path / "a.txt").write_bytes(b"first file\n")
    (tmp_path / "b.txt").write_bytes(b"second file\n" * 2000)
    image = str(root / "vol.tap")
    runner = CliRunner()
    assert runner.invoke(main, ["write", image, str(tmp_path / "a.txt"), str(tmp_path / "b.txt")])
    return root


def remote(served: Path, device: str, *args: str) -> Result:
    env = {k: v for k, v in os.environ.items() if k != "SERVER"}
    env["RSH"] = FAKERSH
    rmt = f"{shlex.quote(RMTD)} --root {shlex.quote(str(served))}"
    return CliRunner().invoke(
        main, ["--rmt-command", rmt, "-f", device, *args], env=env, catch_exceptions=False
    )


def test_remote_positioning_and_status(served: Path) -> None:
    device = "localhost:vol.tap/nomount/norewind"
    assert remote(served, device, "rewind").exit_code == 0
    assert remote(served, device, "fsf", "1").exit_code == 0
    status = remote(served, device, "status")
    assert status.exit_code == 0
    assert "File number=1, block number=0, partition=0." in status.output
    assert " EOF ONLINE IM_REP_EN" in status.output
    assert remote(served, device, "tell").output == "At block 2.\n"
    assert remote(served, "joe@localhost:vol.tap/nomount/norewind", "eod").exit_code == 0
    assert "File number=2, block number=-1" in remote(served, device, "status").output


def test_remote_weof_writes_on_the_server(served: Path) -> None:
    device = "localhost:vol.tap/nomount/norewind"
    remote(served, device, "eod")
    assert remote(served, device, "weof", "2").exit_code == 0
    listing = CliRunner().invoke(main, ["ls", str(served / "vol.tap")]).output
    assert "File 3: records=0" in listing


def test_remote_errors_are_one_line_exit_1(served: Path) -> None:
    escaped = remote(served, "localhost:../outside.tap", "status")
    assert escaped.exit_code == 1
    assert escaped.output.count("\n") == 1 and "localhost:../outside.tap" in escaped.output
    at_bot = remote(served, "localhost:vol.tap", "bsf")
    assert at_bot.exit_code == 1
    unknown = remote(served, "localhost:vol.tap/frob", "status")
    assert unknown.exit_code == 1 and "/frob" in unknown.output
