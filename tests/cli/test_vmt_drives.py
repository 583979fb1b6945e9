"""``vmt drives``, ``vmt load DRIVE IMAGE``, ``vmt unload DRIVE``, ``vmt requests``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from devices.state import StateFile, VolumeInfo
from devices.vtape import create_tape_image
from rmtd.config import load_config
from rmtd.drives import DriveStore
from rmtd.vmt import main

CONFIG = """\
root = "tapes"
[drives.mua0]
image = "vol001.tap"
qualifiers = "/nomount/norewind"
[drives."MUB0:"]
[drives.nst0]
device = "/dev/nst0"
"""


def vmt(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "tapes").mkdir()
    for name in ("vol001.tap", "vol002.tap"):
        create_tape_image(str(tmp_path / "tapes" / name), VolumeInfo())
    (tmp_path / "rmtd.toml").write_text(CONFIG)
    return tmp_path


def cfg(site: Path) -> list[str]:
    return ["--config", str(site / "rmtd.toml")]


def test_drives_lists_volume_qualifiers_and_requests(site: Path) -> None:
    result = vmt("drives", *cfg(site))
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "mua0  vol001.tap              /nomount/norewind",
        "mub0  (empty)                 -",
        "nst0  /dev/nst0 (real drive)  -",
    ]
    store = DriveStore(load_config(str(site / "rmtd.toml")))
    request = store.post_request("mub0", "backup set 7")
    listed = vmt("drives", *cfg(site)).output.splitlines()
    assert re.fullmatch(
        r'mub0  \(empty\) +-  +request: load a volume \("backup set 7"; pid \d+, waiting \d+ s\)',
        listed[1],
    ), listed[1]
    doc = json.loads(vmt("drives", "--json", *cfg(site)).output)
    assert [(d["drive"], d["image"], d["device"]) for d in doc] == [
        ("mua0", "vol001.tap", None),
        ("mub0", None, None),
        ("nst0", None, "/dev/nst0"),
    ]
    assert doc[1]["request"]["comment"] == "backup set 7"
    store.withdraw(request)


def test_load_and_unload_change_the_drive(site: Path) -> None:
    result = vmt("load", *cfg(site), "MUB0:", "vol002.tap")
    assert (result.exit_code, result.output) == (0, "mub0: loaded vol002.tap\n")
    assert "mub0  vol002.tap" in vmt("drives", *cfg(site)).output
    result = vmt("unload", "mub0", env={"RMTD_CONFIG": str(site / "rmtd.toml")})
    assert (result.exit_code, result.output) == (0, "mub0: unloaded vol002.tap\n")
    assert "mub0  (empty)" in vmt("drives", *cfg(site)).output
    assert StateFile(str(site / "tapes" / "vol002.tap")).load().drive.loaded


def test_drive_command_errors_are_one_line_and_exit_1(site: Path) -> None:
    cases = [
        (("load", *cfg(site), "mua0", "vol002.tap"), "vmt: mua0: holds vol001.tap"),
        (("load", *cfg(site), "mub0", "vol001.tap"), "vmt: vol001.tap: already in drive mua0"),
        (("load", *cfg(site), "mux9", "vol002.tap"), "vmt: mux9: no such drive"),
        (("load", *cfg(site), "nst0", "vol002.tap"), "vmt: nst0: /dev/nst0 is a real drive"),
        (("unload", *cfg(site), "mub0"), "vmt: mub0: no volume loaded"),
    ]
    for args, start in cases:
        result = vmt(*args)
        assert result.exit_code == 1, args
        assert result.stdout == "" and result.stderr.count("\n") == 1, args
        assert result.stderr.startswith(start), result.stderr
    (site / "bad.toml").write_text('root = "tapes"\n[drives.mua0]\nimage = 3\n')
    result = vmt("drives", "--config", str(site / "bad.toml"))
    assert result.exit_code == 1
    assert result.stderr == (
        f"vmt: {site / 'bad.toml'}, line 3: drives.mua0.image: "
        "expected a string, got an integer (3)\n"
    )
    (site / "none.toml").write_text('root = "tapes"\n')
    result = vmt("requests", "--config", str(site / "none.toml"))
    assert result.exit_code == 1 and "no named drives" in result.stderr


def test_usage_errors_exit_2(site: Path) -> None:
    for args in (
        ("load", "mua0"),  # no IMAGE
        ("load", "a", "b", "c"),
        ("unload", "mua0", "x"),
        ("load", *cfg(site), "mua0"),
        ("drives",),  # no configuration at all
    ):
        assert vmt(*args, env={"RMTD_CONFIG": "", "TAPE": ""}).exit_code == 2, args


def test_requests_lists_pending_requests(site: Path) -> None:
    assert vmt("requests", *cfg(site)).output == ""
    store = DriveStore(load_config(str(site / "rmtd.toml")))
    first = store.post_request("mub0", None)
    second = store.post_request("mua0", "vol/2")
    lines = vmt("requests", *cfg(site)).output.splitlines()
    assert [line.split(":")[0] for line in lines] == ["mub0", "mua0"]  # oldest first
    assert "(no comment;" in lines[0] and '("vol/2";' in lines[1]
    doc = json.loads(vmt("requests", "--json", *cfg(site)).output)
    assert [(d["drive"], d["comment"]) for d in doc] == [("mub0", None), ("mua0", "vol/2")]
    store.withdraw(first)
    store.withdraw(second)
    assert json.loads(vmt("requests", "--json", *cfg(site)).output) == []


def test_mt_load_and_unload_on_a_device_still_work(site: Path) -> None:
    tape = str(site / "tapes" / "vol002.tap")
    assert vmt("-f", tape, "unload").exit_code == 0
    assert "DR_OPEN" in vmt("-f", tape, "status").output
    assert vmt("-f", tape, "load").exit_code == 0
    assert "ONLINE" in vmt("-f", tape, "status").output
    assert vmt("-f", tape, "unload", "1").exit_code == 0
    assert "DR_OPEN" in vmt("-f", tape, "status").output
    assert vmt("-f", tape, "load", "1").exit_code == 0
    assert vmt("-f", tape, "loa").exit_code == 0  # an abbreviation is still mt's
    assert vmt("load").exit_code == 2  # mt's load without a device
    # With TAPE set, a drive name still means the drive command.
    env = {"TAPE": tape, "RMTD_CONFIG": str(site / "rmtd.toml")}
    result = vmt("unload", "mua0", env=env)
    assert (result.exit_code, result.output) == (0, "mua0: unloaded vol001.tap\n")
    assert "ONLINE" in vmt("status", env=env).output
