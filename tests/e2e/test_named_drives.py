"""GNU tar and mt-gnu on a named drive (``localhost:mua0:``) of ``rmtd --config``."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devices.state import StateFile, VolumeInfo
from devices.vtape import create_tape_image
from tests.e2e.conftest import FAKERSH, RMTD

pytestmark = pytest.mark.e2e

VMT = [sys.executable, "-c", "from rmtd.vmt import main; main()"]


class Site:
    """A served directory, a configuration with drive mua0, and clients run against it."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.served = tmp_path / "served"
        self.served.mkdir()
        self.config = tmp_path / "rmtd.toml"
        self.config.write_text(
            f'root = {str(self.served)!r}\nassist_timeout = 60\n[drives.mua0]\nimage = "vol.tap"\n'
        )
        self.log = tmp_path / "rmtd.log"
        self.server = f"{shlex.quote(RMTD)} --config {shlex.quote(str(self.config))} -v"
        self.server += f" --log {shlex.quote(str(self.log))}"

    def env(self, server: bool) -> dict[str, str]:
        env = {**os.environ, "RSH": FAKERSH}
        env.pop("SERVER", None)
        return {**env, "SERVER": self.server} if server else env

    def tar(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = ["tar", f"--rsh-command={FAKERSH}", f"--rmt-command={self.server}", *args]
        return self.run(command, check=check)

    def run(
        self, command: list[str], check: bool = True, server: bool = False
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            command, env=self.env(server), cwd=self.tmp, capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip
        if check and done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise AssertionError(f"{command} failed: {done.stderr}\n{log}")
        return done

    def vmt(self, *args: str) -> str:
        done = self.run([*VMT, *args, "--config", str(self.config)])
        return done.stdout

    def position(self) -> tuple[int, int]:
        drive = StateFile(str(self.served / "vol.tap")).load().drive
        return drive.fileno, drive.blkno


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path)


def tree(base: Path, name: str, files: int) -> Path:
    top = base / name
    top.mkdir()
    for n in range(files):
        (top / f"{name}-{n}.txt").write_text(f"{name} file {n}\n" * (n * 400 + 1))
    return top


def test_tar_writes_and_reads_back_through_a_named_drive(site: Site) -> None:
    first = tree(site.tmp, "first", 3)
    held = "localhost:mua0:/nomount/norewind/nounload"
    site.tar("-cf", held, "-C", str(site.tmp), "first")  # O_CREAT makes the image
    assert site.position() == (1, 0)
    assert site.vmt("drives").startswith("mua0  vol.tap")
    out = site.tmp / "out"
    out.mkdir()
    site.tar("-xf", "localhost:MUA0:/nounload", "-C", str(out))  # /MOUNT: from BOT
    for n in range(3):
        name = f"first-{n}.txt"
        assert (out / "first" / name).read_text() == (first / name).read_text()
    assert site.position() == (0, 0)  # dismounted: rewound at close

    listing = site.tar("-tf", "localhost:mua0:/unload").stdout
    assert sorted(listing.split()) == ["first/"] + [f"first/first-{n}.txt" for n in range(3)]
    assert site.vmt("drives").startswith("mua0  (empty)")
    failed = site.tar("-tf", "localhost:mua0:", check=False)
    assert failed.returncode != 0 and "No medium found" in failed.stderr

    site.vmt("load", "mua0", "vol.tap")
    listing = site.tar("-tf", "localhost:mua0:").stdout  # the defaults: /UNLOAD at close
    assert "first/first-2.txt" in listing.split()
    assert site.vmt("drives").startswith("mua0  (empty)")


def test_assist_waits_for_an_operator_to_load_the_volume(site: Site) -> None:
    create_tape_image(str(site.served / "vol.tap"), VolumeInfo())
    site.vmt("unload", "mua0")
    tree(site.tmp, "data", 2)
    spec = 'localhost:mua0:/assist/comment="backup 7"/nounload'
    command = ["tar", f"--rsh-command={FAKERSH}", f"--rmt-command={site.server}"]
    command += ["-cf", spec, "-C", str(site.tmp), "data"]
    with subprocess.Popen(
        command, env=site.env(False), cwd=site.tmp, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    ) as client:  # fmt: skip
        deadline = time.monotonic() + 60
        while not (listed := site.vmt("requests")):
            assert client.poll() is None, client.communicate()
            assert time.monotonic() < deadline, "no operator request"
            time.sleep(0.05)
        assert listed.startswith('mua0: request: load a volume ("backup 7";')
        site.vmt("load", "mua0", "vol.tap")
        _out, err = client.communicate(timeout=60)
    assert client.returncode == 0, err
    assert site.vmt("requests") == ""
    assert "operator request: drive mua0" in site.log.read_text()
    assert site.position() == (0, 0)  # /MOUNT: dismounted (rewound) at close
    listing = site.run([*VMT, "ls", str(site.served / "vol.tap")]).stdout
    assert listing.splitlines()[-1].startswith("End of data: 1 files")


def test_mt_gnu_positions_a_named_drive(site: Site) -> None:
    for name in ("a", "b"):
        tree(site.tmp, name, 1)
        site.tar("-cf", "localhost:mua0:/nomount/norewind/nounload", "-C", str(site.tmp), name)
    assert site.position() == (2, 0)
    mt = ["mt-gnu", f"--rsh-command={FAKERSH}", "-f"]
    held = [*mt, "localhost:mua0:/nomount/norewind/nounload"]
    site.run([*held, "rewind"], server=True)
    assert site.position() == (0, 0)
    site.run([*held, "fsf", "1"], server=True)
    assert site.position() == (1, 0)
    site.run([*mt, "localhost:mua0:/nomount/nounload", "fsf", "1"], server=True)
    assert site.position() == (0, 0)  # /REWIND at close
    site.run([*mt, "localhost:mua0:", "offline"], server=True)
    assert site.vmt("drives").startswith("mua0  (empty)")
    failed = site.run([*mt, "localhost:mua0:", "status"], check=False, server=True)
    assert failed.returncode != 0 and "medium" in failed.stderr.lower()
